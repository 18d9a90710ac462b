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

/// The value a spec gives a dimension that Terraform assigns at deploy time (an HTTP API's id):
/// `slo generate` must bind it (`--terraform-dimension NAME`), and `slo report` needs it given
/// (`--dimension NAME=VALUE`), or the SLO has no data.
pub const FROM_TERRAFORM: &str = "from-terraform";

/// The annotation naming the proxy-level SLO that an edge SLO is compared with in the report.
pub const PROXY_VIEW: &str = "proxyView";

impl Query {
    /// The first dimension whose value only Terraform knows ([`FROM_TERRAFORM`]).
    pub fn unassigned(&self) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(_, v)| v == FROM_TERRAFORM)
            .map(|(k, _)| k.as_str())
    }

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

impl Measure {
    /// Every metric the indicator reads.
    pub fn queries(&self) -> Vec<&Query> {
        match self {
            Self::Ratio { good, bad, total } => {
                good.iter().chain(bad.iter()).chain([total]).collect()
            }
            Self::Threshold { metric, .. } => vec![metric],
        }
    }
}

/// The time window of an SLO.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    Rolling(Span),
    /// Calendar windows of `period` following each other from `start`, in its time zone:
    /// months have their real lengths and days across a DST change 23 or 25 hours.
    Calendar {
        period: CalendarPeriod,
        start: jiff::Zoned,
    },
}

/// `count` calendar `unit`s, as OpenSLO writes calendar durations: `1d`, `1w`, `1M`, `1Q`, `1Y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarPeriod {
    pub count: i64,
    pub unit: CalendarUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUnit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl CalendarPeriod {
    /// Parses `<n><unit>`, unit `d`, `w`, `M`, `Q` or `Y`; `n` ≥ 1.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (count, unit) = duration::split_count(text, "d, w, M, Q, Y")?;
        if !(1..=10_000).contains(&count) {
            return Err(format!("{text:?} must be between 1 and 10000 units"));
        }
        let unit = match unit {
            "d" => CalendarUnit::Day,
            "w" => CalendarUnit::Week,
            "M" => CalendarUnit::Month,
            "Q" => CalendarUnit::Quarter,
            "Y" => CalendarUnit::Year,
            _ => {
                return Err(format!(
                    "{text:?}: a calendar window's unit is d, w, M, Q or Y"
                ));
            }
        };
        Ok(Self { count, unit })
    }

    /// `times` periods as a calendar span (days stay days across DST changes); `None` past
    /// what a span can hold.
    fn span(self, times: i64) -> Option<jiff::Span> {
        let n = self.count.checked_mul(times)?;
        let span = jiff::Span::new();
        match self.unit {
            CalendarUnit::Day => span.try_days(n),
            CalendarUnit::Week => span.try_weeks(n),
            CalendarUnit::Month => span.try_months(n),
            CalendarUnit::Quarter => span.try_months(n.checked_mul(3)?),
            CalendarUnit::Year => span.try_years(n),
        }
        .ok()
    }

    /// The mean length of one period in milliseconds (a month is a twelfth of 365.2425 days).
    fn mean_millis(self) -> i64 {
        let day = 86_400_000.0;
        let days = match self.unit {
            CalendarUnit::Day => 1.0,
            CalendarUnit::Week => 7.0,
            CalendarUnit::Month => 365.2425 / 12.0,
            CalendarUnit::Quarter => 365.2425 / 4.0,
            CalendarUnit::Year => 365.2425,
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let millis = (self.count as f64 * days * day) as i64;
        millis.max(1)
    }

    /// The length the alert thresholds are scaled to: a month counts as 30 days, a quarter
    /// as 91 and a year as 365 (a day is always 24 hours here).
    pub fn nominal(self) -> Span {
        let days = match self.unit {
            CalendarUnit::Day => 1,
            CalendarUnit::Week => 7,
            CalendarUnit::Month => 30,
            CalendarUnit::Quarter => 91,
            CalendarUnit::Year => 365,
        };
        Span(self.count * days * 86_400)
    }
}

impl std::fmt::Display for CalendarPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            CalendarUnit::Day => "d",
            CalendarUnit::Week => "w",
            CalendarUnit::Month => "M",
            CalendarUnit::Quarter => "Q",
            CalendarUnit::Year => "Y",
        };
        write!(f, "{}{unit}", self.count)
    }
}

impl Window {
    /// The window's length; for calendar windows the nominal one (see
    /// [`CalendarPeriod::nominal`]), as a given window's real length depends on when it is.
    pub fn length(&self) -> Span {
        match self {
            Self::Rolling(span) => *span,
            Self::Calendar { period, .. } => period.nominal(),
        }
    }

    /// The calendar window `[start, end)` (epoch ms) holding `at_ms`; before the first window
    /// starts, the first window.
    pub fn calendar_bounds(period: CalendarPeriod, start: &jiff::Zoned, at_ms: i64) -> (i64, i64) {
        let ms = |z: &jiff::Zoned| z.timestamp().as_millisecond();
        let start_ms = ms(start);
        let boundary = |n: i64| period.span(n).and_then(|span| start.checked_add(span).ok());
        // The last boundary at or before `at`, by bisection (boundaries only grow with n;
        // those past what jiff can represent count as after `at`). Boundary n lies within a
        // few days of n mean lengths from the start, so the estimate bounds the search.
        let after = |n: i64| boundary(n).is_none_or(|b| ms(&b) > at_ms);
        let estimate = (at_ms.saturating_sub(start_ms) / period.mean_millis()).max(0);
        let (mut n, mut beyond) = (0, estimate.saturating_add(2));
        while !after(beyond) {
            beyond = beyond.saturating_mul(2);
        }
        while beyond - n > 1 {
            let mid = n + (beyond - n) / 2;
            if after(mid) {
                beyond = mid;
            } else {
                n = mid;
            }
        }
        let window_start = boundary(n).map_or(start_ms, |b| ms(&b));
        let window_end = boundary(n + 1).map_or(i64::MAX, |b| ms(&b));
        (window_start, window_end)
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
    /// The SLO this one is compared with in the report (annotation [`PROXY_VIEW`]): the proxy's
    /// view of what this SLO measures at the edge.
    pub proxy_view: Option<String>,
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
    /// The file or folder could not be read at all (an error, not an invalid spec).
    pub unreadable: bool,
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

/// Gives the dimensions named in `values` those values in every query of `slos` (what
/// `slo report --dimension NAME=VALUE` does: an API id Terraform assigned). A name no query
/// uses is an error, so a typo does not go unnoticed.
pub fn supply_dimensions(
    slos: &mut [Slo],
    values: &BTreeMap<String, String>,
) -> Result<(), String> {
    for (name, value) in values {
        let mut used = false;
        for slo in slos.iter_mut() {
            let queries: Vec<&mut Query> = match &mut slo.indicator {
                Measure::Ratio { good, bad, total } => good
                    .as_mut()
                    .into_iter()
                    .chain(bad.as_mut())
                    .chain([total])
                    .collect(),
                Measure::Threshold { metric, .. } => vec![metric],
            };
            for query in queries {
                for (key, current) in &mut query.dimensions {
                    if key == name {
                        current.clone_from(value);
                        used = true;
                    }
                }
            }
        }
        if !used {
            return Err(format!(
                "--dimension {name}: no SLO reads a dimension {name} (names are case-sensitive)"
            ));
        }
    }
    Ok(())
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
                    unreadable: true,
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
                        // Bytes that are not UTF-8 are a broken spec, not a missing one.
                        unreadable: e.kind() != std::io::ErrorKind::InvalidData,
                        field: "-".into(),
                        message: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            // YAML first (syntax errors carry line and column), then each document on its
            // own, so one malformed document neither hides the others' problems nor its
            // own field.
            match serde_saphyr::from_multiple::<serde_json::Value>(&text) {
                Ok(documents) => {
                    for (index, value) in documents.into_iter().enumerate() {
                        match serde_path_to_error::deserialize::<_, Document>(&value) {
                            Ok(document) => match check(&file, index, document) {
                                Ok(slo) => slos.push(slo),
                                Err(mut found) => problems.append(&mut found),
                            },
                            Err(e) => {
                                let name = value
                                    .pointer("/metadata/name")
                                    .and_then(serde_json::Value::as_str)
                                    .filter(|n| !n.is_empty())
                                    .map_or_else(
                                        || format!("document {}", index + 1),
                                        str::to_owned,
                                    );
                                problems.push(Problem {
                                    file: file.clone(),
                                    unreadable: false,
                                    field: format!("{name}: {}", e.path()),
                                    message: e.into_inner().to_string(),
                                });
                            }
                        }
                    }
                }
                Err(e) => problems.push(Problem {
                    file: file.clone(),
                    unreadable: false,
                    field: "-".into(),
                    message: format!("not YAML: {e}"),
                }),
            }
        }
    }
    // The services publish to one namespace (METRICS_NAMESPACE), and the report's cold-start
    // section reads it from the specs: they must agree.
    let project_namespace = |slo: &Slo| {
        slo.indicator
            .queries()
            .into_iter()
            .map(|q| q.namespace.clone())
            .find(|ns| !ns.starts_with("AWS/"))
    };
    // The namespace most SLOs read is taken as the services'; the others are flagged.
    let mut counts = BTreeMap::<String, usize>::new();
    for namespace in slos.iter().filter_map(project_namespace) {
        *counts.entry(namespace).or_default() += 1;
    }
    if let Some((common, _)) = counts.iter().max_by_key(|(_, n)| **n) {
        for slo in &slos {
            for query in slo.indicator.queries() {
                if !query.namespace.starts_with("AWS/") && query.namespace != *common {
                    problems.push(Problem {
                        file: slo.file.clone(),
                        unreadable: false,
                        field: format!("{}: {} namespace", slo.name, query.metric),
                        message: format!(
                            "{:?}: every SLO must read the one namespace the services publish to ({common:?} in most)",
                            query.namespace
                        ),
                    });
                }
            }
        }
    }
    // An edge SLO and its proxy view are compared over the same window. A view that is not
    // loaded is not compared (a report on some spec files only); the project's specs are
    // checked whole by a test.
    for slo in &slos {
        let Some(view) = &slo.proxy_view else {
            continue;
        };
        let field = format!("{}: metadata.annotations.{PROXY_VIEW}", slo.name);
        let problem = |message: String| Problem {
            file: slo.file.clone(),
            unreadable: false,
            field: field.clone(),
            message,
        };
        match slos.iter().find(|other| other.name == *view) {
            None => {}
            Some(other) if other.name == slo.name => {
                problems.push(problem("an SLO cannot be its own proxy view".into()));
            }
            Some(other) if other.window != slo.window => problems.push(problem(format!(
                "{view} has another time window: the report compares the two over the same one"
            ))),
            Some(other)
                if std::mem::discriminant(&other.indicator)
                    != std::mem::discriminant(&slo.indicator) =>
            {
                problems.push(problem(format!(
                    "{view} measures another kind of indicator (ratio vs threshold)"
                )));
            }
            Some(_) => {}
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for slo in &slos {
        if !names.insert(slo.name.clone()) {
            problems.push(Problem {
                unreadable: false,
                file: slo.file.clone(),
                field: format!("{}: metadata.name", slo.name),
                message: "another SLO has the same name".into(),
            });
        }
    }
    if slos.is_empty() && problems.is_empty() {
        problems.push(Problem {
            unreadable: false,
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
            unreadable: false,
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

/// Whether a project metric is a counter or a distribution (`None` for AWS metrics).
fn kind_of(query: &Query) -> Option<catalogue::Kind> {
    let service = query
        .dimensions
        .iter()
        .find(|(n, _)| n == catalogue::DIM_SERVICE)
        .map(|(_, v)| v.as_str());
    catalogue::ALL
        .iter()
        .find(|m| m.name == query.metric && Some(m.service.name()) == service)
        .map(|m| m.kind)
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
                let stat_field =
                    format!("spec.indicator.spec.ratioMetric.{field}.metricSource.spec.stat");
                match (query.as_ref().and_then(kind_of), query.as_ref().map(|q| q.stat)) {
                    (Some(catalogue::Kind::Distribution), Some(Stat::Sum)) => c.problem(
                        &stat_field,
                        "the Sum of a distribution adds up its values, not events: use SampleCount or TC(:x)",
                    ),
                    (Some(catalogue::Kind::Counter), Some(stat)) if stat != Stat::Sum => c.problem(
                        &stat_field,
                        "a counter's events are its Sum (one record may carry several)",
                    ),
                    _ => {}
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
                    if kind_of(&metric) == Some(catalogue::Kind::Counter) {
                        c.problem(
                            "spec.indicator.spec.thresholdMetric.metricSource.spec.metricName",
                            format!(
                                "{} is a counter; a threshold needs a distribution (latencies, durations)",
                                metric.metric
                            ),
                        );
                    }
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
        proxy_view: document.metadata.annotations.get(PROXY_VIEW).cloned(),
    })
}

fn window(c: &mut Checker<'_>, window: &TimeWindow) -> Option<Window> {
    match (&window.calendar, window.is_rolling) {
        (None, true) => {
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
            Some(Window::Rolling(length))
        }
        (Some(calendar), false) => {
            let period = CalendarPeriod::parse(&window.duration)
                .map_err(|e| c.problem("spec.timeWindow[0].duration", e))
                .ok();
            let zone = jiff::tz::TimeZone::get(&calendar.time_zone)
                .map_err(|e| {
                    c.problem(
                        "spec.timeWindow[0].calendar.timeZone",
                        format!("{:?}: {e}", calendar.time_zone),
                    );
                })
                .ok()?;
            let start = calendar
                .start_time
                .parse::<jiff::civil::DateTime>()
                .map_err(|e| e.to_string())
                .and_then(|dt| dt.to_zoned(zone).map_err(|e| e.to_string()));
            match start {
                Ok(start) => Some(Window::Calendar {
                    period: period?,
                    start,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `YYYY-MM-DD HH:MM:SS` in `zone` (shared with the report's tests).
    pub(crate) fn zoned(text: &str, zone: &str) -> jiff::Zoned {
        text.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
            .unwrap()
    }

    fn ms(text: &str, zone: &str) -> i64 {
        zoned(text, zone).timestamp().as_millisecond()
    }

    fn bounds(period: &str, start: &str, zone: &str, at: &str) -> (i64, i64) {
        let period = CalendarPeriod::parse(period).unwrap();
        Window::calendar_bounds(period, &zoned(start, zone), ms(at, zone))
    }

    #[test]
    fn calendar_months_have_their_real_lengths_in_their_time_zone() {
        let paris = "Europe/Paris";
        // March in Paris: 31 days less the hour DST takes on the 29th.
        let (start, end) = bounds("1M", "2026-01-01 00:00:00", paris, "2026-03-15 12:00:00");
        assert_eq!(start, ms("2026-03-01 00:00:00", paris));
        assert_eq!(end, ms("2026-04-01 00:00:00", paris));
        assert_eq!((end - start) / 3_600_000, 31 * 24 - 1);
        // February, and the very first instant of a month belongs to it.
        let (start, end) = bounds("1M", "2026-01-01 00:00:00", paris, "2026-02-01 00:00:00");
        assert_eq!(
            (start, end),
            (
                ms("2026-02-01 00:00:00", paris),
                ms("2026-03-01 00:00:00", paris)
            )
        );
        // Quarters and years count from the start too, many of them on.
        let (start, end) = bounds("1Q", "2020-01-01 00:00:00", paris, "2026-08-20 00:00:00");
        assert_eq!(
            (start, end),
            (
                ms("2026-07-01 00:00:00", paris),
                ms("2026-10-01 00:00:00", paris)
            )
        );
        let (start, _) = bounds("1Y", "2000-01-01 00:00:00", "UTC", "2026-12-31 23:59:59");
        assert_eq!(start, ms("2026-01-01 00:00:00", "UTC"));
    }

    #[test]
    fn calendar_weeks_and_days_follow_local_midnight_across_dst() {
        let ny = "America/New_York";
        // Weeks from a Monday; the one holding the DST change (Sunday 1 November 2026) is
        // 169 hours long.
        let (start, end) = bounds("1w", "2026-01-05 00:00:00", ny, "2026-10-28 09:00:00");
        assert_eq!(start, ms("2026-10-26 00:00:00", ny));
        assert_eq!(end, ms("2026-11-02 00:00:00", ny));
        assert_eq!(end - start, 169 * 3_600_000);
        // Day windows stay on local midnight, also the 23-hour day in March.
        let (start, end) = bounds("1d", "2026-01-01 00:00:00", ny, "2026-03-08 20:00:00");
        assert_eq!(
            (start, end),
            (ms("2026-03-08 00:00:00", ny), ms("2026-03-09 00:00:00", ny))
        );
        assert_eq!(end - start, 23 * 3_600_000);
        // Before the first window starts: the first window.
        let (start, _) = bounds("1d", "2026-01-01 00:00:00", ny, "2025-12-01 00:00:00");
        assert_eq!(start, ms("2026-01-01 00:00:00", ny));
    }

    #[test]
    fn calendar_bounds_hold_at_the_ends_of_time() {
        let period = CalendarPeriod::parse("1d").unwrap();
        let start = zoned("2000-01-01 00:00:00", "UTC");
        for at in [i64::MIN, -1, 0, i64::MAX] {
            let (window_start, window_end) = Window::calendar_bounds(period, &start, at);
            assert!(window_start < window_end, "{at}");
        }
        // Past jiff's last representable day the last window stays open.
        let (_, end) = Window::calendar_bounds(period, &start, i64::MAX);
        assert_eq!(end, i64::MAX);
    }

    fn project_specs() -> Vec<Slo> {
        load(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")]).unwrap()
    }

    #[test]
    fn every_edge_slo_of_the_project_has_its_proxy_view() {
        let slos = project_specs();
        let views: Vec<(&str, &str)> = slos
            .iter()
            .filter_map(|s| s.proxy_view.as_deref().map(|v| (s.name.as_str(), v)))
            .collect();
        assert_eq!(
            views,
            [
                ("edge-availability", "proxy-availability"),
                ("edge-latency", "proxy-latency")
            ]
        );
        for (edge, view) in views {
            assert!(slos.iter().any(|s| s.name == view), "{edge}: {view}");
            let slo = slos.iter().find(|s| s.name == edge).unwrap();
            for query in slo.indicator.queries() {
                assert_eq!(query.namespace, catalogue::API_GATEWAY_NAMESPACE);
                assert_eq!(query.unassigned(), Some(catalogue::DIM_API_ID));
            }
        }
    }

    #[test]
    fn a_proxy_view_over_another_window_is_refused() {
        let dir = std::env::temp_dir().join(format!("slo-spec-view-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let availability = std::fs::read_to_string(specs.join("availability.yaml"))
            .unwrap()
            .replace("duration: 28d", "duration: 7d");
        std::fs::write(dir.join("availability.yaml"), availability).unwrap();
        std::fs::copy(specs.join("edge.yaml"), dir.join("edge.yaml")).unwrap();
        let problems = load(std::slice::from_ref(&dir)).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            problems.iter().any(
                |p| p.field == "edge-availability: metadata.annotations.proxyView"
                    && p.message.contains("another time window")
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn supplied_dimensions_replace_the_value_terraform_assigns() {
        let mut slos = project_specs();
        let values = BTreeMap::from([("ApiId".to_owned(), "a1b2c3d4e5".to_owned())]);
        supply_dimensions(&mut slos, &values).unwrap();
        let edge = slos.iter().find(|s| s.name == "edge-availability").unwrap();
        for query in edge.indicator.queries() {
            assert_eq!(query.unassigned(), None);
            assert!(
                query
                    .dimensions
                    .contains(&("ApiId".into(), "a1b2c3d4e5".into()))
            );
        }
        let typo = BTreeMap::from([("ApiID".to_owned(), "x".to_owned())]);
        assert!(
            supply_dimensions(&mut slos, &typo)
                .unwrap_err()
                .contains("ApiID")
        );
    }

    #[test]
    fn calendar_durations_parse_and_print_back() {
        for text in ["1d", "1w", "1M", "2Q", "1Y"] {
            assert_eq!(CalendarPeriod::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            CalendarPeriod::parse("1M").unwrap().nominal(),
            Span(30 * 86_400)
        );
        assert!(
            CalendarPeriod::parse("1h")
                .unwrap_err()
                .contains("d, w, M, Q or Y")
        );
        assert!(
            CalendarPeriod::parse("0M")
                .unwrap_err()
                .contains("between 1")
        );
        assert!(
            CalendarPeriod::parse("M")
                .unwrap_err()
                .contains("whole number")
        );
    }
}
