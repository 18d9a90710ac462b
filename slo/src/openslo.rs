//! OpenSLO v1 documents as written, every kind of the specification (the `OpenSLO/OpenSLO`
//! README): `SLO`, `SLI`, `DataSource`, `Service`, `AlertPolicy`, `AlertCondition` and
//! `AlertNotificationTarget`. Files hold one or more YAML documents (`---`), each a document or
//! a YAML list of documents. This module only reads their shape; [`crate::rules`] checks the
//! specification's rules and [`crate::load`] resolves references into checked SLOs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::spec::{Op, Problem};

pub const API_VERSION: &str = "openslo/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Slo,
    Sli,
    DataSource,
    Service,
    AlertPolicy,
    AlertCondition,
    AlertNotificationTarget,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Slo,
        Kind::Sli,
        Kind::DataSource,
        Kind::Service,
        Kind::AlertPolicy,
        Kind::AlertCondition,
        Kind::AlertNotificationTarget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slo => "SLO",
            Kind::Sli => "SLI",
            Kind::DataSource => "DataSource",
            Kind::Service => "Service",
            Kind::AlertPolicy => "AlertPolicy",
            Kind::AlertCondition => "AlertCondition",
            Kind::AlertNotificationTarget => "AlertNotificationTarget",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, Label>,
    /// Implementation metadata; this tool reads `rationale`, `proxyView` and the
    /// [`crate::policy::ANNOTATION_PREFIX`] ones.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A label's value: one string or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Value")]
pub struct Label(pub Vec<String>);

impl TryFrom<Value> for Label {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match &value {
            Value::String(s) => Ok(Label(vec![s.clone()])),
            Value::Array(items) => items
                .iter()
                .map(text)
                .collect::<Option<Vec<_>>>()
                .map(Label)
                .ok_or_else(|| "a label's list holds strings only".to_owned()),
            _ => Err(format!(
                "{value}: a label is a string or a list of strings (quote true, 1, ...)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum BudgetingMethod {
    Occurrences,
    Timeslices,
    RatioTimeslices,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SloSpec {
    #[serde(default)]
    pub description: Option<String>,
    pub service: String,
    #[serde(default)]
    pub indicator: Option<InlineSli>,
    #[serde(default)]
    pub indicator_ref: Option<String>,
    #[serde(default)]
    pub time_window: Vec<TimeWindow>,
    pub budgeting_method: BudgetingMethod,
    pub objectives: Vec<Objective>,
    /// Inline `AlertPolicy` documents or `{alertPolicyRef: name}`; read by [`policy_items`].
    #[serde(default)]
    pub alert_policies: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineSli {
    #[serde(default)]
    pub metadata: Metadata,
    pub spec: SliSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SliSpec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub threshold_metric: Option<MetricSpec>,
    #[serde(default)]
    pub ratio_metric: Option<RatioMetric>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawType {
    Success,
    Failure,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RatioMetric {
    #[serde(default)]
    pub counter: Option<bool>,
    #[serde(default)]
    pub good: Option<MetricSpec>,
    #[serde(default)]
    pub bad: Option<MetricSpec>,
    #[serde(default)]
    pub total: Option<MetricSpec>,
    #[serde(default)]
    pub raw_type: Option<RawType>,
    #[serde(default)]
    pub raw: Option<MetricSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    pub metric_source: MetricSource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSource {
    #[serde(default)]
    pub metric_source_ref: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Free-form per source type; CloudWatch's is [`CloudWatchMetric`] or, with an
    /// `expression`, [`CloudWatchMath`].
    pub spec: Value,
}

/// A CloudWatch metric source's `spec`: one metric and statistic.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchMetric {
    #[serde(default)]
    pub region: Option<String>,
    /// The account that owns the metric (CloudWatch cross-account observability).
    #[serde(default)]
    pub account_id: Option<String>,
    pub namespace: String,
    pub metric_name: String,
    pub stat: String,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

/// A CloudWatch metric source's `spec` with an `expression`: CloudWatch metric math over
/// `metrics`, each named by its `id` in the expression.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchMath {
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    pub expression: String,
    pub metrics: Vec<MathMetric>,
}

/// One metric of a metric-math expression.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MathMetric {
    pub id: String,
    pub namespace: String,
    pub metric_name: String,
    pub stat: String,
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeWindow {
    pub duration: String,
    #[serde(default)]
    pub is_rolling: Option<bool>,
    #[serde(default)]
    pub calendar: Option<Calendar>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calendar {
    /// `YYYY-MM-DD HH:MM:SS`, local to `time_zone`: when the first window starts.
    pub start_time: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Objective {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub op: Option<Op>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    pub target_percent: Option<f64>,
    #[serde(default)]
    pub time_slice_target: Option<f64>,
    /// A duration shorthand, or a number of minutes.
    #[serde(default)]
    pub time_slice_window: Option<Value>,
    /// Composite SLOs: each objective's own indicator.
    #[serde(default)]
    pub indicator: Option<InlineSli>,
    #[serde(default)]
    pub indicator_ref: Option<String>,
    #[serde(default)]
    pub composite_weight: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSourceSpec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Anything; for CloudWatch see [`crate::spec::Connection`]. Never printed.
    #[serde(default)]
    pub connection_details: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertPolicySpec {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub alert_when_no_data: bool,
    #[serde(default)]
    pub alert_when_resolved: bool,
    #[serde(default)]
    pub alert_when_breaching: bool,
    /// Inline `AlertCondition`s or `{conditionRef: name}` (the specification allows one;
    /// required, which the loader says in its own words).
    #[serde(default)]
    pub conditions: Vec<Value>,
    /// Inline `AlertNotificationTarget`s or `{targetRef: name}` (required).
    #[serde(default)]
    pub notification_targets: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertConditionSpec {
    #[serde(default)]
    pub description: Option<String>,
    pub severity: String,
    pub condition: ConditionType,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConditionType {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub op: Option<Op>,
    pub threshold: f64,
    pub lookback_window: String,
    #[serde(default)]
    pub alert_after: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertNotificationTargetSpec {
    #[serde(default)]
    pub description: Option<String>,
    pub target: String,
}

/// A document's `spec`, by kind.
#[derive(Debug, Clone)]
pub enum Body {
    Slo(Box<SloSpec>),
    Sli(Box<SliSpec>),
    DataSource(DataSourceSpec),
    Service(ServiceSpec),
    AlertPolicy(AlertPolicySpec),
    AlertCondition(AlertConditionSpec),
    AlertNotificationTarget(AlertNotificationTargetSpec),
}

/// One document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: PathBuf,
    /// `metadata.name`, or `document N` (1-based, in the file) when it has none.
    pub label: String,
    pub kind: Kind,
    pub metadata: Metadata,
    pub body: Body,
}

/// Problems found in one file, before the documents are checked on their own.
fn problem(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        unreadable: false,
        field: field.into(),
        message: message.into(),
    }
}

/// Deserializes `value` into `T`, naming the failing field under `prefix` (`spec`, or the
/// path of an inline document).
pub fn typed<T: serde::de::DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        (field, e.into_inner().to_string())
    })
}

/// What one file holds.
#[derive(Debug, Default)]
pub struct Parsed {
    pub documents: Vec<Document>,
    pub problems: Vec<Problem>,
    /// Kind and name of the documents refused for their shape, so that references to them
    /// are not reported again as missing.
    pub rejected: Vec<(Kind, String)>,
}

/// Reads the documents of one file's text: YAML documents, each a document or a list of them.
pub fn parse_file(file: &Path, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let values = match serde_saphyr::from_multiple::<Value>(text) {
        Ok(values) => values,
        Err(e) => {
            parsed
                .problems
                .push(problem(file, "-", format!("not YAML: {e}")));
            return parsed;
        }
    };
    let flattened = values.into_iter().flat_map(|value| match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    });
    for (index, value) in flattened.enumerate() {
        match parse_document(file, index, &value) {
            Ok(document) => parsed.documents.push(document),
            Err(mut found) => {
                parsed.problems.append(&mut found);
                let kind = value
                    .get("kind")
                    .and_then(Value::as_str)
                    .and_then(Kind::parse);
                let name = value.pointer("/metadata/name").and_then(Value::as_str);
                if let (Some(kind), Some(name)) = (kind, name) {
                    parsed.rejected.push((kind, name.to_owned()));
                }
            }
        }
    }
    parsed
}

/// The label problems about a document carry: its name, or its position.
pub fn label_of(value: &Value, index: usize) -> String {
    value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map_or_else(|| format!("document {}", index + 1), str::to_owned)
}

fn parse_document(file: &Path, index: usize, value: &Value) -> Result<Document, Vec<Problem>> {
    let label = label_of(value, index);
    let at = |field: &str, message: String| problem(file, format!("{label}: {field}"), message);
    let Some(object) = value.as_object() else {
        return Err(vec![at(
            "-",
            "a document is a mapping with apiVersion, kind, metadata and spec".into(),
        )]);
    };
    let mut problems = Vec::new();
    match object.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(other) => problems.push(at("apiVersion", format!("{other}: expected {API_VERSION}"))),
        None => problems.push(at("apiVersion", format!("required ({API_VERSION})"))),
    }
    let kinds = Kind::ALL.map(Kind::as_str).join(", ");
    let kind = match object.get("kind") {
        Some(Value::String(k)) => match Kind::parse(k) {
            Some(kind) => Some(kind),
            None => {
                problems.push(at("kind", format!("{k:?}: expected one of {kinds}")));
                None
            }
        },
        Some(other) => {
            problems.push(at("kind", format!("{other}: expected one of {kinds}")));
            None
        }
        None => {
            problems.push(at("kind", format!("required, one of {kinds}")));
            None
        }
    };
    for key in object.keys() {
        if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "spec") {
            problems.push(at(
                key,
                "unknown field, expected apiVersion, kind, metadata or spec".into(),
            ));
        }
    }
    let metadata = match object.get("metadata") {
        None => {
            problems.push(at("metadata", "required (metadata.name)".into()));
            None
        }
        Some(m) => match typed::<Metadata>(m, "metadata") {
            Ok(m) => Some(m),
            Err((field, message)) => {
                problems.push(at(&field, message));
                None
            }
        },
    };
    let spec = object.get("spec");
    let body = match (kind, spec) {
        (Some(_), None) => {
            problems.push(at("spec", "required".into()));
            None
        }
        (Some(kind), Some(spec)) => match body(kind, spec, "spec") {
            Ok(body) => Some(body),
            Err((field, message)) => {
                problems.push(at(&field, message));
                None
            }
        },
        (None, _) => None,
    };
    match (kind, metadata, body) {
        (Some(kind), Some(metadata), Some(body)) if problems.is_empty() => Ok(Document {
            file: file.to_path_buf(),
            label,
            kind,
            metadata,
            body,
        }),
        _ => Err(problems),
    }
}

/// The `spec` of a document of `kind`, fields named under `prefix`.
pub fn body(kind: Kind, spec: &Value, prefix: &str) -> Result<Body, (String, String)> {
    Ok(match kind {
        Kind::Slo => Body::Slo(Box::new(typed(spec, prefix)?)),
        Kind::Sli => Body::Sli(Box::new(typed(spec, prefix)?)),
        Kind::DataSource => Body::DataSource(typed(spec, prefix)?),
        Kind::Service => Body::Service(typed(spec, prefix)?),
        Kind::AlertPolicy => Body::AlertPolicy(typed(spec, prefix)?),
        Kind::AlertCondition => Body::AlertCondition(typed(spec, prefix)?),
        Kind::AlertNotificationTarget => Body::AlertNotificationTarget(typed(spec, prefix)?),
    })
}

/// An item of a list that holds inline documents of one kind or references to them
/// (`alertPolicies`, `conditions`, `notificationTargets`).
#[derive(Debug, Clone)]
pub enum Item<T> {
    Ref(String),
    Inline { metadata: Metadata, spec: T },
}

/// Reads the item at `field` (e.g. `spec.alertPolicies[0]`): `{ref_key: name}` or an inline
/// document of `kind` (`kind`, `metadata`, `spec`; `apiVersion` optional).
pub fn item<T: serde::de::DeserializeOwned>(
    value: &Value,
    field: &str,
    ref_key: &str,
    kind: Kind,
) -> Result<Item<T>, (String, String)> {
    let Some(object) = value.as_object() else {
        return Err((
            field.to_owned(),
            format!("expected {{{ref_key}: name}} or an inline {kind}"),
        ));
    };
    if let Some(reference) = object.get(ref_key) {
        if object.len() > 1 {
            return Err((
                field.to_owned(),
                format!("{ref_key} refers to a {kind}: give it alone, or define the {kind} inline"),
            ));
        }
        return match reference {
            Value::String(name) => Ok(Item::Ref(name.clone())),
            other => Err((
                format!("{field}.{ref_key}"),
                format!("{other}: the name of a {kind}"),
            )),
        };
    }
    match object.get("kind") {
        Some(Value::String(k)) if k == kind.as_str() => {}
        Some(other) => {
            return Err((
                format!("{field}.kind"),
                format!("{other}: an inline item here is a {kind}"),
            ));
        }
        None => {
            return Err((
                field.to_owned(),
                format!("give {ref_key}, or an inline {kind} with kind: {kind}, metadata and spec"),
            ));
        }
    }
    for key in object.keys() {
        if !matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "spec") {
            return Err((
                format!("{field}.{key}"),
                "unknown field, expected kind, metadata or spec".to_owned(),
            ));
        }
    }
    if let Some(version) = object.get("apiVersion")
        && version.as_str() != Some(API_VERSION)
    {
        return Err((
            format!("{field}.apiVersion"),
            format!("{version}: expected {API_VERSION}"),
        ));
    }
    let metadata = match object.get("metadata") {
        Some(m) => typed::<Metadata>(m, &format!("{field}.metadata"))?,
        None => {
            return Err((
                format!("{field}.metadata"),
                "required (metadata.name)".into(),
            ));
        }
    };
    let spec = object
        .get("spec")
        .ok_or_else(|| (format!("{field}.spec"), "required".to_owned()))?;
    Ok(Item::Inline {
        metadata,
        spec: typed(spec, &format!("{field}.spec"))?,
    })
}
