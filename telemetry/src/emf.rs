//! CloudWatch Embedded Metric Format: rendering records within the spec's limits, and a
//! structural validator of the spec for tests and for readers of EMF logs.
//!
//! Spec: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::collections::BTreeMap;

use serde_json::Value;

use crate::catalogue::{Kind, Metric};

/// At most this many metrics per directive.
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// At most this many dimensions per dimension set.
pub const MAX_DIMENSIONS: usize = 30;
/// At most this many values in one metric's array.
pub const MAX_VALUES: usize = 100;

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Values recorded for one metric under one set of extra dimension values.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Counter increments, summed.
    Sum(u64),
    /// Every observation, in order.
    Observations(Vec<f64>),
}

/// One metric with the values recorded for it and its extra dimension values (e.g.
/// `StartType=warm`).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub metric: &'static Metric,
    pub labels: Vec<(String, String)>,
    pub values: Values,
}

impl Entry {
    pub fn new(metric: &'static Metric, labels: Vec<(String, String)>) -> Self {
        let values = match metric.kind {
            Kind::Counter => Values::Sum(0),
            Kind::Distribution => Values::Observations(Vec::new()),
        };
        Self {
            metric,
            labels,
            values,
        }
    }

    /// An entry with `values` already recorded, under extra dimensions `labels`.
    pub fn with_values(metric: &'static Metric, labels: &[(&str, &str)], values: Values) -> Self {
        Self {
            metric,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            values,
        }
    }

    fn conflicts_with(&self, root: &BTreeMap<String, String>) -> bool {
        self.labels
            .iter()
            .any(|(k, v)| root.get(k).is_some_and(|existing| existing != v))
    }
}

/// What every record of a service carries: namespace and base dimension values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub namespace: String,
    pub service: crate::catalogue::Service,
    /// Value of the service's scope dimension (`Endpoint` or `Model`).
    pub scope: String,
}

/// Renders `entries` as EMF JSON lines: as few records as the limits allow, each carrying
/// `properties` (e.g. `trace_id`, `request_id`). Entries whose extra dimension values conflict
/// go to separate records; arrays longer than [`MAX_VALUES`] are split across records, so no
/// value is ever dropped.
pub fn render(
    identity: &Identity,
    timestamp_ms: u64,
    entries: &[Entry],
    properties: &BTreeMap<String, Value>,
) -> Vec<String> {
    // Split long observation lists first: each chunk is its own entry.
    let mut pieces: Vec<Entry> = Vec::new();
    for entry in entries {
        match &entry.values {
            Values::Observations(values) if values.is_empty() => {}
            Values::Observations(values) if values.iter().any(|v| !v.is_finite()) => {
                // NaN and infinities have no JSON form, and CloudWatch would drop the record.
                let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
                for chunk in finite.chunks(MAX_VALUES) {
                    pieces.push(Entry {
                        values: Values::Observations(chunk.to_vec()),
                        ..entry.clone()
                    });
                }
            }
            Values::Observations(values) => {
                for chunk in values.chunks(MAX_VALUES) {
                    pieces.push(Entry {
                        values: Values::Observations(chunk.to_vec()),
                        ..entry.clone()
                    });
                }
            }
            Values::Sum(_) => pieces.push(entry.clone()),
        }
    }
    // Greedy packing: a piece joins the first record where its metric is new and its
    // dimension values agree.
    let mut records: Vec<(BTreeMap<String, String>, Vec<Entry>)> = Vec::new();
    for piece in pieces {
        let slot = records.iter_mut().find(|(root, members)| {
            !piece.conflicts_with(root)
                && members.len() < MAX_METRICS_PER_DIRECTIVE
                && !members.iter().any(|m| m.metric.name == piece.metric.name)
        });
        match slot {
            Some((root, members)) => {
                root.extend(piece.labels.iter().cloned());
                members.push(piece);
            }
            None => {
                let root = piece.labels.iter().cloned().collect();
                records.push((root, vec![piece]));
            }
        }
    }
    records
        .into_iter()
        .map(|(root, members)| render_record(identity, timestamp_ms, &root, &members, properties))
        .collect()
}

/// Writes JSON objects straight into a string: a record is rendered once per request on the
/// request path, so it skips building a `serde_json::Value` tree first.
struct ObjectWriter {
    out: String,
    empty: bool,
}

impl ObjectWriter {
    fn new() -> Self {
        let mut out = String::with_capacity(768);
        out.push('{');
        Self { out, empty: true }
    }

    fn key(&mut self, name: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_json_string(&mut self.out, name);
        self.out.push(':');
        &mut self.out
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

fn push_json_string(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite number as JSON: Rust's shortest round-trip form, with `.0` on whole numbers so
/// that readers see a float, as `serde_json` writes it.
fn push_number(out: &mut String, value: f64) {
    use std::fmt::Write as _;
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{value:.1}");
    } else {
        let _ = write!(out, "{value}");
    }
}

fn render_record(
    identity: &Identity,
    timestamp_ms: u64,
    labels: &BTreeMap<String, String>,
    members: &[Entry],
    properties: &BTreeMap<String, Value>,
) -> String {
    use std::fmt::Write as _;
    let [service_dim, scope_dim] = identity.service.base_dimensions();
    // Dimensions and metric values own their keys; a property may not shadow them.
    let taken = |key: &str| {
        key == "_aws"
            || key == service_dim
            || key == scope_dim
            || labels.contains_key(key)
            || members.iter().any(|m| m.metric.name == key)
    };
    let mut record = ObjectWriter::new();
    for (key, value) in properties.iter().filter(|(key, _)| !taken(key)) {
        let out = record.key(key);
        match value {
            Value::String(text) => push_json_string(out, text),
            other => out.push_str(&other.to_string()),
        }
    }
    push_json_string(record.key(service_dim), identity.service.name());
    push_json_string(record.key(scope_dim), &identity.scope);
    for (key, value) in labels {
        push_json_string(record.key(key), value);
    }
    // One directive per distinct list of dimension sets.
    let mut directives: Vec<(Vec<Vec<&'static str>>, Vec<&Entry>)> = Vec::new();
    for entry in members {
        let sets: Vec<Vec<&'static str>> = entry
            .metric
            .dimension_sets()
            .into_iter()
            .filter(|set| {
                set.iter().all(|dim| {
                    *dim == service_dim
                        || *dim == scope_dim
                        || entry.labels.iter().any(|(k, _)| k == dim)
                })
            })
            .collect();
        match directives.iter_mut().find(|(s, _)| *s == sets) {
            Some((_, metrics)) => metrics.push(entry),
            None => directives.push((sets, vec![entry])),
        }
        let out = record.key(entry.metric.name);
        match &entry.values {
            Values::Sum(sum) => {
                let _ = write!(out, "{sum}");
            }
            Values::Observations(values) if values.len() == 1 => push_number(out, values[0]),
            Values::Observations(values) => {
                out.push('[');
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_number(out, *value);
                }
                out.push(']');
            }
        }
    }
    let out = record.key("_aws");
    let _ = write!(
        out,
        "{{\"Timestamp\":{timestamp_ms},\"CloudWatchMetrics\":["
    );
    for (i, (sets, metrics)) in directives.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"Namespace\":");
        push_json_string(out, &identity.namespace);
        out.push_str(",\"Dimensions\":[");
        for (j, set) in sets.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('[');
            for (k, dim) in set.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_json_string(out, dim);
            }
            out.push(']');
        }
        out.push_str("],\"Metrics\":[");
        for (j, entry) in metrics.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"Name\":");
            push_json_string(out, entry.metric.name);
            out.push_str(",\"Unit\":");
            push_json_string(out, entry.metric.unit.as_str());
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    record.finish()
}

/// Checks `record` against the EMF specification; every violation is reported.
pub fn validate(record: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(root) = record.as_object() else {
        return Err(vec!["record is not a JSON object".into()]);
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return Err(vec!["no `_aws` object".into()]);
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        _ => problems.push("`_aws.Timestamp` is not a non-negative integer (ms)".into()),
    }
    let directives = match aws.get("CloudWatchMetrics").and_then(Value::as_array) {
        Some(d) if !d.is_empty() => d,
        _ => {
            problems.push("`_aws.CloudWatchMetrics` is not a non-empty array".into());
            return Err(problems);
        }
    };
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{i}]");
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(ns) if !ns.is_empty() && ns.len() <= 255 && !ns.starts_with(':') => {}
            _ => problems.push(format!("{at}.Namespace missing or invalid")),
        }
        match directive.get("Dimensions").and_then(Value::as_array) {
            None => problems.push(format!("{at}.Dimensions is not an array")),
            Some(sets) => {
                for (j, set) in sets.iter().enumerate() {
                    let Some(keys) = set.as_array() else {
                        problems.push(format!("{at}.Dimensions[{j}] is not an array"));
                        continue;
                    };
                    if keys.len() > MAX_DIMENSIONS {
                        problems.push(format!("{at}.Dimensions[{j}] has over 30 dimensions"));
                    }
                    for key in keys {
                        match key.as_str() {
                            Some(k) => match root.get(k) {
                                Some(Value::String(v)) if !v.is_empty() => {}
                                _ => problems.push(format!(
                                    "{at}: dimension {k} has no non-empty string value at the root"
                                )),
                            },
                            None => {
                                problems.push(format!("{at}.Dimensions[{j}] holds a non-string"))
                            }
                        }
                    }
                }
            }
        }
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            problems.push(format!("{at}.Metrics is not an array"));
            continue;
        };
        if metrics.len() > MAX_METRICS_PER_DIRECTIVE {
            problems.push(format!("{at}.Metrics has over 100 metrics"));
        }
        for (j, metric) in metrics.iter().enumerate() {
            let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                problems.push(format!("{at}.Metrics[{j}].Name missing"));
                continue;
            };
            if name.is_empty() || name.len() > 255 {
                problems.push(format!("{at}.Metrics[{j}].Name has an invalid length"));
            }
            if let Some(unit) = metric.get("Unit")
                && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
            {
                problems.push(format!("{name}: unit {unit} is not a CloudWatch unit"));
            }
            if let Some(resolution) = metric.get("StorageResolution")
                && !matches!(resolution.as_u64(), Some(1 | 60))
            {
                problems.push(format!("{name}: StorageResolution must be 1 or 60"));
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values)) => {
                    if values.is_empty() || values.len() > MAX_VALUES {
                        problems.push(format!("{name}: array of {} values", values.len()));
                    }
                    if !values.iter().all(Value::is_number) {
                        problems.push(format!("{name}: array holds a non-number"));
                    }
                }
                _ => problems.push(format!("{name}: no numeric value at the root")),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// True for lines that are EMF records (rather than log lines).
pub fn is_record(line: &str) -> bool {
    line.starts_with('{') && line.contains("\"_aws\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{self, Service};
    use serde_json::json;

    fn identity() -> Identity {
        Identity {
            namespace: "Test".into(),
            service: Service::Proxy,
            scope: "ep".into(),
        }
    }

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn one_request_renders_one_valid_record_with_properties() {
        let mut requests = Entry::new(&catalogue::REQUESTS, vec![]);
        requests.values = Values::Sum(1);
        let mut latency = Entry::new(
            &catalogue::LATENCY,
            vec![("StartType".into(), "warm".into())],
        );
        latency.values = Values::Observations(vec![12.5]);
        let properties = BTreeMap::from([("trace_id".to_owned(), json!("1-abc"))]);
        let lines = render(&identity(), 7, &[requests, latency], &properties);
        assert_eq!(lines.len(), 1);
        let record = parse(&lines[0]);
        validate(&record).unwrap();
        assert_eq!(record["Requests"], 1);
        assert_eq!(record["Latency"], 12.5);
        assert_eq!(record["StartType"], "warm");
        assert_eq!(record["trace_id"], "1-abc");
        assert_eq!(record["Service"], "proxy");
        assert_eq!(record["Endpoint"], "ep");
        let directives = record["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        let latency_sets = directives
            .iter()
            .find(|d| d["Metrics"][0]["Name"] == "Latency")
            .unwrap();
        assert_eq!(
            latency_sets["Dimensions"],
            json!([
                ["Service", "Endpoint"],
                ["Service", "Endpoint", "StartType"]
            ])
        );
    }

    #[test]
    fn more_than_100_values_are_split_across_records_not_dropped() {
        let mut latency = Entry::new(&catalogue::UPSTREAM_LATENCY, vec![]);
        latency.values = Values::Observations((0..250).map(f64::from).collect());
        let lines = render(&identity(), 7, &[latency], &BTreeMap::new());
        assert_eq!(lines.len(), 3);
        let mut all = Vec::new();
        for line in &lines {
            let record = parse(line);
            validate(&record).unwrap();
            let values = record["UpstreamLatency"].as_array().unwrap();
            assert!(values.len() <= MAX_VALUES);
            all.extend(values.iter().map(|v| v.as_f64().unwrap()));
        }
        assert_eq!(all, (0..250).map(f64::from).collect::<Vec<_>>());
    }

    #[test]
    fn conflicting_dimension_values_go_to_separate_records() {
        let mut warm = Entry::new(
            &catalogue::LATENCY,
            vec![("StartType".into(), "warm".into())],
        );
        warm.values = Values::Observations(vec![1.0]);
        let mut cold = Entry::new(
            &catalogue::LATENCY,
            vec![("StartType".into(), "cold".into())],
        );
        cold.values = Values::Observations(vec![2.0]);
        let lines = render(&identity(), 7, &[warm, cold], &BTreeMap::new());
        assert_eq!(lines.len(), 2);
        assert_eq!(parse(&lines[1])["StartType"], "cold");
    }

    #[test]
    fn properties_are_escaped_and_never_shadow_dimensions_or_metrics() {
        let requests = Entry::with_values(&catalogue::REQUESTS, &[], Values::Sum(1));
        let latency = Entry::with_values(
            &catalogue::LATENCY,
            &[],
            Values::Observations(vec![0.1, f64::NAN, 1e-7, 12.0]),
        );
        let properties = BTreeMap::from([
            (
                "error".to_owned(),
                json!("a \"quoted\" \\ line\nbreak\u{1}"),
            ),
            ("attempts".to_owned(), json!(2)),
            ("Service".to_owned(), json!("spoofed")),
            ("Requests".to_owned(), json!("spoofed")),
        ]);
        let lines = render(&identity(), 7, &[requests, latency], &properties);
        assert_eq!(lines.len(), 1);
        let record = parse(&lines[0]);
        validate(&record).unwrap();
        assert_eq!(record["error"], "a \"quoted\" \\ line\nbreak\u{1}");
        assert_eq!(record["attempts"], 2);
        assert_eq!(record["Service"], "proxy");
        assert_eq!(record["Requests"], 1);
        // NaN has no JSON form: left out, the other values kept exactly.
        assert_eq!(record["Latency"], json!([0.1, 1e-7, 12.0]));
    }

    #[test]
    fn the_validator_catches_spec_violations() {
        let missing_dimension = json!({
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["Service"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}
            ]},
            "M": 1
        });
        let problems = validate(&missing_dimension).unwrap_err();
        assert!(problems[0].contains("Service"), "{problems:?}");
        let bad_unit = json!({
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "M", "Unit": "ms"}]}
            ]},
            "M": vec![1.0; 101]
        });
        assert_eq!(validate(&bad_unit).unwrap_err().len(), 2);
        assert!(validate(&json!({"_aws": {"Timestamp": -1}})).is_err());
    }
}
