//! `slo validate --catalogue FILE`: checks every metric the SLOs read against a metric
//! catalogue (this project's `telemetry/catalogue.json`): the metric exists, is read under a
//! dimension set it is published with, and is counted the way its kind allows. A lint for a
//! team's own specs, not a rule of OpenSLO.

use std::path::Path;

use serde::Deserialize;

use crate::spec::{Problem, Query, Stat};

/// The metrics of one indicator, where they are written.
#[derive(Debug, Clone)]
pub struct Indicator {
    /// The document (its name, or position) holding the indicator.
    pub label: String,
    /// File and field path of each query.
    pub fields: Vec<(std::path::PathBuf, String)>,
    pub queries: Vec<Query>,
    /// A thresholdMetric (a distribution compared with a value), not a ratio.
    pub threshold: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Catalogue {
    /// The namespace the services publish to.
    pub default_namespace: String,
    pub services: Vec<Service>,
    pub metrics: Vec<Metric>,
    pub aws_metrics: Vec<AwsMetric>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub service: String,
    /// The value of the `Service` dimension.
    pub dimension_value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Counter,
    Distribution,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metric {
    pub name: String,
    pub kind: Kind,
    pub service: String,
    pub dimension_sets: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AwsMetric {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<String>,
}

/// The dimension naming the emitting service.
const SERVICE: &str = "Service";

impl Catalogue {
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a catalogue: {e}", path.display()))
    }

    /// The catalogued metric `query` reads, found by name and `Service` dimension.
    fn metric(&self, query: &Query) -> Option<&Metric> {
        let service = dimension(query, SERVICE)?;
        self.metrics.iter().find(|m| {
            m.name == query.metric
                && self
                    .services
                    .iter()
                    .any(|s| s.service == m.service && s.dimension_value == service)
        })
    }
}

fn dimension<'q>(query: &'q Query, name: &str) -> Option<&'q str> {
    query
        .dimensions
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn sorted(names: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// Every problem the catalogue finds in `indicators`.
pub fn check(indicators: &[Indicator], catalogue: &Catalogue) -> Vec<Problem> {
    let mut problems = Vec::new();
    for indicator in indicators {
        for (query, (file, spec_at)) in indicator.queries.iter().zip(&indicator.fields) {
            let mut problem = |field: &str, message: String| {
                problems.push(Problem {
                    file: file.clone(),
                    unreadable: false,
                    field: format!("{}: {spec_at}{field}", indicator.label),
                    message,
                });
            };
            let names: Vec<&str> = query.dimensions.iter().map(|(n, _)| n.as_str()).collect();
            if query.namespace.starts_with("AWS/") {
                match catalogue
                    .aws_metrics
                    .iter()
                    .find(|m| m.namespace == query.namespace && m.name == query.metric)
                {
                    None => problem(
                        ".metricName",
                        format!(
                            "{}/{} is not an AWS metric the catalogue knows",
                            query.namespace, query.metric
                        ),
                    ),
                    Some(known) if sorted(&known.dimensions) != names => problem(
                        ".dimensions",
                        format!(
                            "{} is published with dimensions {:?}, not {names:?}",
                            query.metric,
                            sorted(&known.dimensions)
                        ),
                    ),
                    Some(_) => {}
                }
                continue;
            }
            if query.namespace != catalogue.default_namespace {
                problem(
                    ".namespace",
                    format!(
                        "{:?}: every SLO must read the one namespace the services publish to ({:?})",
                        query.namespace, catalogue.default_namespace
                    ),
                );
                continue;
            }
            let candidates: Vec<&Metric> = catalogue
                .metrics
                .iter()
                .filter(|m| m.name == query.metric)
                .collect();
            if candidates.is_empty() {
                problem(
                    ".metricName",
                    format!("{:?} is not in the telemetry catalogue", query.metric),
                );
                continue;
            }
            let Some(metric) = catalogue.metric(query) else {
                let emitters: Vec<&str> = candidates.iter().map(|m| m.service.as_str()).collect();
                problem(
                    ".dimensions",
                    format!(
                        "{} needs a Service dimension naming its emitter ({})",
                        query.metric,
                        emitters.join(" or ")
                    ),
                );
                continue;
            };
            if !metric.dimension_sets.iter().any(|set| sorted(set) == names) {
                problem(
                    ".dimensions",
                    format!(
                        "{} is published under dimension sets {:?}, not {names:?}",
                        query.metric, metric.dimension_sets
                    ),
                );
            }
            let threshold = indicator.threshold;
            match (metric.kind, query.stat) {
                (Kind::Counter, _) if threshold => problem(
                    ".metricName",
                    format!(
                        "{} is a counter; a threshold needs a distribution (latencies, durations)",
                        query.metric
                    ),
                ),
                (Kind::Distribution, Stat::Sum) if !threshold => problem(
                    ".stat",
                    "the Sum of a distribution adds up its values, not events: use SampleCount or TC(:x)".into(),
                ),
                (Kind::Counter, stat) if stat != Stat::Sum => problem(
                    ".stat",
                    "a counter's events are its Sum (one record may carry several)".into(),
                ),
                _ => {}
            }
        }
    }
    problems
}
