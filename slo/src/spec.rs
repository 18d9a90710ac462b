//! The checked model of SLOs: what an OpenSLO SLO means once its references are resolved and
//! its rules checked ([`crate::load`]): metric queries, the indicator, the window, the
//! objective and its alert policies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::calendar::{CalendarPeriod, CalendarUnit};
use crate::duration::Span;
pub use crate::load::load;
pub use crate::openslo::{BudgetingMethod, RawType};
use crate::policy::Policy;

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

/// A checked metric query: namespace, name, dimensions (sorted by name) and statistic; or a
/// metric-math expression over such queries ([`Math`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// With `math`, the first metric's namespace.
    pub namespace: String,
    /// With `math`, the expression.
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    /// With `math`, `Sum`: the expression's value per period is counted like a sum.
    pub stat: Stat,
    pub math: Option<Box<Math>>,
}

/// A CloudWatch metric-math expression (a source's `expression`) over metric queries (its
/// `metrics`, each with the id the expression knows it by). Only counts of events are
/// expressions ([`crate::expression`] evaluates them for EMF logs).
#[derive(Debug, Clone, PartialEq)]
pub struct Math {
    pub expression: String,
    pub metrics: Vec<(String, Query)>,
    /// The expression as `slo` evaluates it outside CloudWatch, or what of it only CloudWatch
    /// evaluates (parsed once, here).
    pub local: Result<crate::expression::Expr, String>,
}

impl Math {
    pub fn new(expression: String, metrics: Vec<(String, Query)>) -> Self {
        let local = crate::expression::parse(&expression);
        Self {
            expression,
            metrics,
            local,
        }
    }
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
        self.leaves().into_iter().find_map(|query| {
            query
                .dimensions
                .iter()
                .find(|(_, v)| v == FROM_TERRAFORM)
                .map(|(k, _)| k.as_str())
        })
    }

    /// The metrics this query reads: itself, or an expression's metrics.
    pub fn leaves(&self) -> Vec<&Query> {
        match &self.math {
            Some(math) => math.metrics.iter().map(|(_, q)| q).collect(),
            None => vec![self],
        }
    }

    /// [`Query::leaves`], to change.
    pub fn leaves_mut(&mut self) -> Vec<&mut Query> {
        if self.math.is_none() {
            return vec![self];
        }
        match &mut self.math {
            Some(math) => math.metrics.iter_mut().map(|(_, q)| q).collect(),
            None => Vec::new(),
        }
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
    /// A ratio stored as a metric (OpenSLO `raw`): of successes or of failures. Each period
    /// with data weighs the same (its `Average`), as there are no events to count.
    Raw { metric: Query, kind: RawType },
    /// A composite SLO (OpenSLO objectives with their own indicators): the components' events
    /// combined per period, each bad event weighed by its component's weight and budget (see
    /// [`crate::math`]). Components are never composite themselves.
    Composite(Vec<Component>),
}

/// One objective of a composite SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// The objective's display name as a name (or its position, from 1).
    pub name: String,
    pub display_name: String,
    pub indicator: Measure,
    pub target: f64,
    /// Timeslices over a ratio: the share of good events that makes a slice good.
    pub slice_target: Option<f64>,
    /// `compositeWeight`, scaled so that the components' weights average 1: weights only
    /// matter relative to each other, and so weighted event counts stay near real ones.
    pub weight: f64,
}

impl Component {
    pub fn budget(&self) -> f64 {
        1.0 - self.target
    }
}

impl Measure {
    /// Every metric the indicator reads.
    pub fn queries(&self) -> Vec<&Query> {
        match self {
            Self::Ratio { good, bad, total } => {
                good.iter().chain(bad.iter()).chain([total]).collect()
            }
            Self::Threshold { metric, .. } | Self::Raw { metric, .. } => vec![metric],
            Self::Composite(components) => components
                .iter()
                .flat_map(|c| c.indicator.queries())
                .collect(),
        }
    }

    /// Every metric the indicator reads, to change (in [`Measure::queries`] order).
    pub fn queries_mut(&mut self) -> Vec<&mut Query> {
        match self {
            Self::Ratio { good, bad, total } => good
                .as_mut()
                .into_iter()
                .chain(bad.as_mut())
                .chain([total])
                .collect(),
            Self::Threshold { metric, .. } | Self::Raw { metric, .. } => vec![metric],
            Self::Composite(components) => components
                .iter_mut()
                .flat_map(|c| c.indicator.queries_mut())
                .collect(),
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

impl Window {
    /// The window's length; for calendar windows the nominal one (see
    /// [`CalendarPeriod::nominal`]), as a given window's real length depends on when it is.
    pub fn length(&self) -> Span {
        match self {
            Self::Rolling(span) => *span,
            Self::Calendar { period, .. } => period.nominal(),
        }
    }
}

/// CloudWatch connection details from a `DataSource` (`connectionDetails`) or a metric
/// source's own `region` / `accountId`. Never printed: `Debug` names only what is set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub region: Option<String>,
    pub account_id: Option<String>,
    /// A role to assume for reading the metrics.
    pub role_arn: Option<String>,
}

impl Connection {
    /// A metric source's own `region` and `accountId`, which win over its DataSource's.
    pub fn narrow(&mut self, region: Option<&String>, account_id: Option<&String>) {
        if let Some(region) = region {
            self.region = Some(region.clone());
        }
        if let Some(account) = account_id {
            self.account_id = Some(account.clone());
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| v.as_ref().map(|_| "<set>");
        f.debug_struct("Connection")
            .field("region", &set(&self.region))
            .field("account_id", &set(&self.account_id))
            .field("role_arn", &set(&self.role_arn))
            .finish()
    }
}

/// A checked SLO (one objective of an OpenSLO SLO), ready to be evaluated.
#[derive(Debug, Clone)]
pub struct Slo {
    /// The SLO's name; with several objectives, the SLO's name and the objective's.
    pub name: String,
    pub display_name: String,
    pub rationale: Option<String>,
    pub file: PathBuf,
    pub indicator: Measure,
    pub connection: Connection,
    /// The alert policies, resolved (the default ones when the SLO names none).
    pub policies: Vec<Policy>,
    pub window: Window,
    pub budgeting: BudgetingMethod,
    pub target: f64,
    /// Timeslices and RatioTimeslices: slice length and, with Timeslices, the slice's own
    /// target (ratio indicators).
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

    /// The components of a composite SLO, each as an SLO of its own over the same window and
    /// budgeting (named `<slo>/<component>`, without alert policies: only the composite
    /// alerts); nothing for other SLOs.
    pub fn components(&self) -> Vec<(Slo, f64)> {
        let Measure::Composite(components) = &self.indicator else {
            return Vec::new();
        };
        components
            .iter()
            .map(|c| {
                let slo = Slo {
                    name: format!("{}/{}", self.name, c.name),
                    display_name: format!("{}: {}", self.display_name, c.display_name),
                    indicator: c.indicator.clone(),
                    policies: Vec::new(),
                    target: c.target,
                    time_slice: self.time_slice.map(|(slice, _)| (slice, c.slice_target)),
                    proxy_view: None,
                    ..self.clone()
                };
                (slo, c.weight)
            })
            .collect()
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
            for query in slo
                .indicator
                .queries_mut()
                .into_iter()
                .flat_map(Query::leaves_mut)
            {
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

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry::catalogue;

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
}
