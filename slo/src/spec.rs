//! SLO specs: OpenSLO v1 documents (`apiVersion: openslo/v1`, `kind: SLO`) whose metrics are
//! CloudWatch references, checked against the telemetry catalogue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use telemetry::catalogue;

use crate::duration::{self, Span};

/// One SLO document as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: SloSpec,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Free text; the project's specs give the reason for each target under `rationale`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SloSpec {
    #[serde(default)]
    pub description: Option<String>,
    pub service: String,
    pub indicator: Indicator,
    pub time_window: Vec<TimeWindow>,
    pub budgeting_method: BudgetingMethod,
    pub objectives: Vec<Objective>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Indicator {
    pub metadata: Metadata,
    pub spec: IndicatorSpec,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndicatorSpec {
    #[serde(default)]
    pub ratio_metric: Option<RatioMetric>,
    #[serde(default)]
    pub threshold_metric: Option<MetricRef>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RatioMetric {
    #[serde(default = "yes")]
    pub counter: bool,
    #[serde(default)]
    pub good: Option<MetricRef>,
    #[serde(default)]
    pub bad: Option<MetricRef>,
    pub total: MetricRef,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricRef {
    pub metric_source: MetricSource,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub spec: CloudWatchMetric,
}

/// OpenSLO's CloudWatch metric source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchMetric {
    #[serde(default)]
    pub region: Option<String>,
    pub namespace: String,
    pub metric_name: String,
    pub stat: String,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeWindow {
    pub duration: String,
    #[serde(default)]
    pub is_rolling: bool,
    #[serde(default)]
    pub calendar: Option<Calendar>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calendar {
    /// `YYYY-MM-DD HH:MM:SS`, local to `time_zone`: when the first window starts.
    pub start_time: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum BudgetingMethod {
    Occurrences,
    Timeslices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Lt => value < threshold,
            Self::Lte => value <= threshold,
            Self::Gt => value > threshold,
            Self::Gte => value >= threshold,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Objective {
    #[serde(default)]
    pub display_name: Option<String>,
    pub target: f64,
    #[serde(default)]
    pub op: Option<Op>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub time_slice_target: Option<f64>,
    #[serde(default)]
    pub time_slice_window: Option<String>,
}

/// A statistic of a CloudWatch query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Sum,
    SampleCount,
    Average,
    Minimum,
    Maximum,
    /// `pNN`: a percentile, 0–100.
    Percentile(f64),
    /// `TC(:x)`: how many values are ≤ x.
    CountAtMost(f64),
    /// `PR(:x)`: the percentage of values ≤ x.
    PercentAtMost(f64),
}

impl Stat {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bound = |inner: &str| -> Result<f64, String> {
            let upper = inner.strip_prefix(':').ok_or_else(|| {
                format!("{text}: only an upper bound is supported, as in TC(:300)")
            })?;
            upper
                .parse::<f64>()
                .map_err(|_| format!("{text}: {upper:?} is not a number"))
        };
        match text {
            "Sum" => Ok(Self::Sum),
            "SampleCount" => Ok(Self::SampleCount),
            "Average" => Ok(Self::Average),
            "Minimum" => Ok(Self::Minimum),
            "Maximum" => Ok(Self::Maximum),
            _ => {
                if let Some(p) = text.strip_prefix('p') {
                    let p: f64 = p
                        .parse()
                        .map_err(|_| format!("{text}: not a percentile like p99"))?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err(format!("{text}: a percentile is between p0 and p100"));
                    }
                    return Ok(Self::Percentile(p));
                }
                if let Some(inner) = text.strip_prefix("TC(").and_then(|t| t.strip_suffix(')')) {
                    return bound(inner).map(Self::CountAtMost);
                }
                if let Some(inner) = text.strip_prefix("PR(").and_then(|t| t.strip_suffix(')')) {
                    return bound(inner).map(Self::PercentAtMost);
                }
                Err(format!(
                    "{text}: statistic must be Sum, SampleCount, Average, Minimum, Maximum, pNN, TC(:x) or PR(:x)"
                ))
            }
        }
    }

    /// The CloudWatch spelling.
    pub fn cloudwatch(self) -> String {
        match self {
            Self::Sum => "Sum".into(),
            Self::SampleCount => "SampleCount".into(),
            Self::Average => "Average".into(),
            Self::Minimum => "Minimum".into(),
            Self::Maximum => "Maximum".into(),
            Self::Percentile(p) => format!("p{p}"),
            Self::CountAtMost(x) => format!("TC(:{x})"),
            Self::PercentAtMost(x) => format!("PR(:{x})"),
        }
    }
}

/// A checked metric query: namespace, name, dimensions (sorted by name) and statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: Stat,
}

impl Query {
    /// The same metric with another statistic.
    pub fn with_stat(&self, stat: Stat) -> Self {
        Self {
            stat,
            ..self.clone()
        }
    }
}

/// How the SLI is measured, once checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Good (or total − bad) events over total events, both counted by `Sum` (or a per-period
    /// count statistic such as `TC(:x)`).
    Ratio {
        good: Option<Query>,
        bad: Option<Query>,
        total: Query,
    },
    /// Occurrences: the values of a distribution meeting `op value` are good events, every
    /// value is an event. Timeslices: a slice is good when the statistic meets `op value`.
    Threshold { metric: Query, op: Op, value: f64 },
}

/// The time window of an SLO.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    Rolling(Span),
    /// Calendar windows of `length` starting at `start` (epoch ms) and repeating, in a zone.
    Calendar {
        length: Span,
        start_ms: i64,
        time_zone: String,
    },
}

impl Window {
    pub fn length(&self) -> Span {
        match self {
            Self::Rolling(span) | Self::Calendar { length: span, .. } => *span,
        }
    }
}

/// A checked SLO, ready to be evaluated.
#[derive(Debug, Clone)]
pub struct Slo {
    pub name: String,
    pub display_name: String,
    pub rationale: Option<String>,
    pub file: PathBuf,
    pub indicator: Measure,
    pub window: Window,
    pub budgeting: BudgetingMethod,
    pub target: f64,
    /// Timeslices only: slice length and the slice's own target (ratio indicators).
    pub time_slice: Option<(Span, Option<f64>)>,
}

impl Slo {
    /// The error budget as a fraction: 1 − target.
    pub fn budget(&self) -> f64 {
        1.0 - self.target
    }
}

/// One problem found in a spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// Document name (or index) and field path, e.g. `proxy-availability: spec.objectives[0].target`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.field,
            self.message
        )
    }
}

/// Spec files: `path` itself, or the `.yaml`/`.yml` files of a directory, sorted.
pub fn spec_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Loads and checks every SLO under `paths`; all problems are reported, not just the first.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Slo>, Vec<Problem>> {
    let mut slos = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let files = match spec_files(path) {
            Ok(files) => files,
            Err(e) => {
                problems.push(Problem {
                    file: path.clone(),
                    field: "-".into(),
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(Problem {
                        file: file.clone(),
                        field: "-".into(),
                        message: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            match serde_saphyr::from_multiple::<Document>(&text) {
                Ok(documents) => {
                    for (index, document) in documents.into_iter().enumerate() {
                        match check(&file, index, document) {
                            Ok(slo) => slos.push(slo),
                            Err(mut found) => problems.append(&mut found),
                        }
                    }
                }
                Err(e) => problems.push(Problem {
                    file: file.clone(),
                    field: "-".into(),
                    message: format!("not a valid SLO document: {e}"),
                }),
            }
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for slo in &slos {
        if !names.insert(slo.name.clone()) {
            problems.push(Problem {
                file: slo.file.clone(),
                field: format!("{}: metadata.name", slo.name),
                message: "another SLO has the same name".into(),
            });
        }
    }
    if slos.is_empty() && problems.is_empty() {
        problems.push(Problem {
            file: paths.first().cloned().unwrap_or_default(),
            field: "-".into(),
            message: "no SLO documents found".into(),
        });
    }
    if problems.is_empty() {
        Ok(slos)
    } else {
        Err(problems)
    }
}

struct Checker<'a> {
    file: &'a Path,
    doc: String,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            field: format!("{}: {field}", self.doc),
            message: message.into(),
        });
    }

    /// Checks a metric reference against the catalogue and returns the query.
    fn metric(&mut self, field: &str, reference: &MetricRef) -> Option<Query> {
        let source = &reference.metric_source;
        if source.kind != "CloudWatch" {
            self.problem(
                &format!("{field}.metricSource.type"),
                format!(
                    "{:?}: only CloudWatch metric sources are supported",
                    source.kind
                ),
            );
            return None;
        }
        let cw = &source.spec;
        let stat = match Stat::parse(&cw.stat) {
            Ok(stat) => stat,
            Err(e) => {
                self.problem(&format!("{field}.metricSource.spec.stat"), e);
                return None;
            }
        };
        let mut dimensions: Vec<(String, String)> = cw
            .dimensions
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect();
        dimensions.sort();
        let names: Vec<&str> = dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let spec_at = format!("{field}.metricSource.spec");
        if cw.namespace.starts_with("AWS/") {
            match catalogue::AWS_METRICS
                .iter()
                .find(|m| m.namespace == cw.namespace && m.name == cw.metric_name)
            {
                None => self.problem(
                    &format!("{spec_at}.metricName"),
                    format!(
                        "{}/{} is not an AWS metric the catalogue knows",
                        cw.namespace, cw.metric_name
                    ),
                ),
                Some(known) => {
                    let mut expected: Vec<&str> = known.dimensions.to_vec();
                    expected.sort_unstable();
                    if names != expected {
                        self.problem(
                            &format!("{spec_at}.dimensions"),
                            format!(
                                "{} is published with dimensions {expected:?}, not {names:?}",
                                cw.metric_name
                            ),
                        );
                    }
                }
            }
        } else {
            let candidates: Vec<&catalogue::Metric> = catalogue::ALL
                .iter()
                .filter(|m| m.name == cw.metric_name)
                .collect();
            if candidates.is_empty() {
                self.problem(
                    &format!("{spec_at}.metricName"),
                    format!("{:?} is not in the telemetry catalogue", cw.metric_name),
                );
                return None;
            }
            let service = dimensions
                .iter()
                .find(|(n, _)| n == catalogue::DIM_SERVICE)
                .map(|(_, v)| v.as_str());
            let metric = candidates
                .iter()
                .find(|m| Some(m.service.name()) == service);
            let Some(metric) = metric else {
                self.problem(
                    &format!("{spec_at}.dimensions"),
                    format!(
                        "{} needs a Service dimension naming its emitter ({})",
                        cw.metric_name,
                        candidates
                            .iter()
                            .map(|m| m.service.name())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                );
                return None;
            };
            let published = metric.dimension_sets().into_iter().any(|set| {
                let mut set: Vec<&str> = set.clone();
                set.sort_unstable();
                set == names
            });
            if !published {
                self.problem(
                    &format!("{spec_at}.dimensions"),
                    format!(
                        "{} is published under dimension sets {:?}, not {names:?}",
                        cw.metric_name,
                        metric.dimension_sets()
                    ),
                );
            }
        }
        Some(Query {
            namespace: cw.namespace.clone(),
            metric: cw.metric_name.clone(),
            dimensions,
            stat,
        })
    }
}

fn check(file: &Path, index: usize, document: Document) -> Result<Slo, Vec<Problem>> {
    let doc = if document.metadata.name.is_empty() {
        format!("document {}", index + 1)
    } else {
        document.metadata.name.clone()
    };
    let mut c = Checker {
        file,
        doc,
        problems: Vec::new(),
    };
    if document.api_version != "openslo/v1" {
        c.problem(
            "apiVersion",
            format!("{:?}: expected openslo/v1", document.api_version),
        );
    }
    if document.kind != "SLO" {
        c.problem("kind", format!("{:?}: expected SLO", document.kind));
    }
    let name_ok = !document.metadata.name.is_empty()
        && document
            .metadata
            .name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !name_ok {
        c.problem(
            "metadata.name",
            "must be non-empty lowercase letters, digits and dashes (it names alarms)",
        );
    }
    let spec = &document.spec;

    let window = match spec.time_window.as_slice() {
        [one] => window(&mut c, one),
        _ => {
            c.problem("spec.timeWindow", "exactly one time window is supported");
            None
        }
    };

    let objective = match spec.objectives.as_slice() {
        [one] => Some(one),
        _ => {
            c.problem("spec.objectives", "exactly one objective is supported");
            None
        }
    };
    if let Some(objective) = objective
        && !(objective.target > 0.0 && objective.target < 1.0)
    {
        c.problem(
            "spec.objectives[0].target",
            format!("{}: must be between 0 and 1 (exclusive)", objective.target),
        );
    }

    let indicator_spec = &spec.indicator.spec;
    let indicator = match (
        &indicator_spec.ratio_metric,
        &indicator_spec.threshold_metric,
    ) {
        (Some(ratio), None) => {
            if !ratio.counter {
                c.problem(
                    "spec.indicator.spec.ratioMetric.counter",
                    "only counters (events summed over time) are supported",
                );
            }
            let total = c.metric("spec.indicator.spec.ratioMetric.total", &ratio.total);
            let good = ratio
                .good
                .as_ref()
                .and_then(|g| c.metric("spec.indicator.spec.ratioMetric.good", g));
            let bad = ratio
                .bad
                .as_ref()
                .and_then(|b| c.metric("spec.indicator.spec.ratioMetric.bad", b));
            if ratio.good.is_some() == ratio.bad.is_some() {
                c.problem(
                    "spec.indicator.spec.ratioMetric",
                    "give exactly one of good and bad",
                );
            }
            for (field, query) in [("good", &good), ("bad", &bad), ("total", &total)] {
                if let Some(query) = query
                    && matches!(
                        query.stat,
                        Stat::Average
                            | Stat::Minimum
                            | Stat::Maximum
                            | Stat::Percentile(_)
                            | Stat::PercentAtMost(_)
                    )
                {
                    c.problem(
                        &format!("spec.indicator.spec.ratioMetric.{field}.metricSource.spec.stat"),
                        "events must be counted: use Sum, SampleCount or TC(:x)",
                    );
                }
            }
            total.map(|total| Measure::Ratio { good, bad, total })
        }
        (None, Some(threshold)) => {
            let metric = c.metric("spec.indicator.spec.thresholdMetric", threshold);
            let (op, value) = objective.map_or((None, None), |o| (o.op, o.value));
            if op.is_none() || value.is_none() {
                c.problem(
                    "spec.objectives[0]",
                    "a thresholdMetric needs op and value in its objective",
                );
            }
            match (metric, op, value) {
                (Some(metric), Some(op), Some(value)) => {
                    if spec.budgeting_method == BudgetingMethod::Occurrences && op != Op::Lte {
                        c.problem(
                            "spec.objectives[0].op",
                            "with Occurrences, good events are the values <= value (CloudWatch's TC(:value)); use op: lte",
                        );
                    }
                    Some(Measure::Threshold { metric, op, value })
                }
                _ => None,
            }
        }
        _ => {
            c.problem(
                "spec.indicator.spec",
                "give exactly one of ratioMetric and thresholdMetric",
            );
            None
        }
    };

    let time_slice = match (spec.budgeting_method, objective) {
        (BudgetingMethod::Timeslices, Some(objective)) => {
            match objective.time_slice_window.as_deref().map(duration::parse) {
                Some(Ok(span)) if span.seconds() % 60 == 0 => {
                    if matches!(indicator, Some(Measure::Ratio { .. }))
                        && !objective
                            .time_slice_target
                            .is_some_and(|t| t > 0.0 && t <= 1.0)
                    {
                        c.problem(
                            "spec.objectives[0].timeSliceTarget",
                            "a ratio indicator with Timeslices needs a timeSliceTarget in (0, 1]",
                        );
                    }
                    Some((span, objective.time_slice_target))
                }
                Some(Ok(_)) => {
                    c.problem(
                        "spec.objectives[0].timeSliceWindow",
                        "must be a whole number of minutes (CloudWatch periods)",
                    );
                    None
                }
                Some(Err(e)) => {
                    c.problem("spec.objectives[0].timeSliceWindow", e);
                    None
                }
                None => {
                    c.problem(
                        "spec.objectives[0].timeSliceWindow",
                        "Timeslices budgeting needs a timeSliceWindow",
                    );
                    None
                }
            }
        }
        _ => None,
    };

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let (Some(indicator), Some(window), Some(objective)) = (indicator, window, objective) else {
        return Err(c.problems);
    };
    Ok(Slo {
        name: document.metadata.name.clone(),
        display_name: document
            .metadata
            .display_name
            .clone()
            .unwrap_or_else(|| document.metadata.name.clone()),
        rationale: document.metadata.annotations.get("rationale").cloned(),
        file: file.to_path_buf(),
        indicator,
        window,
        budgeting: spec.budgeting_method,
        target: objective.target,
        time_slice,
    })
}

fn window(c: &mut Checker<'_>, window: &TimeWindow) -> Option<Window> {
    let length = match duration::parse(&window.duration) {
        Ok(span) => span,
        Err(e) => {
            c.problem("spec.timeWindow[0].duration", e);
            return None;
        }
    };
    if length.seconds() % 60 != 0 {
        c.problem(
            "spec.timeWindow[0].duration",
            "must be a whole number of minutes",
        );
        return None;
    }
    match (&window.calendar, window.is_rolling) {
        (None, true) => Some(Window::Rolling(length)),
        (Some(calendar), false) => {
            let zone = match jiff::tz::TimeZone::get(&calendar.time_zone) {
                Ok(zone) => zone,
                Err(e) => {
                    c.problem(
                        "spec.timeWindow[0].calendar.timeZone",
                        format!("{:?}: {e}", calendar.time_zone),
                    );
                    return None;
                }
            };
            let start = calendar
                .start_time
                .parse::<jiff::civil::DateTime>()
                .map_err(|e| e.to_string())
                .and_then(|dt| dt.to_zoned(zone).map_err(|e| e.to_string()));
            match start {
                Ok(zoned) => Some(Window::Calendar {
                    length,
                    start_ms: zoned.timestamp().as_millisecond(),
                    time_zone: calendar.time_zone.clone(),
                }),
                Err(e) => {
                    c.problem(
                        "spec.timeWindow[0].calendar.startTime",
                        format!(
                            "{:?}: {e} (expected YYYY-MM-DD HH:MM:SS)",
                            calendar.start_time
                        ),
                    );
                    None
                }
            }
        }
        (None, false) => {
            c.problem(
                "spec.timeWindow[0]",
                "set isRolling: true, or give a calendar (startTime, timeZone)",
            );
            None
        }
        (Some(_), true) => {
            c.problem("spec.timeWindow[0]", "a calendar window cannot be rolling");
            None
        }
    }
}
