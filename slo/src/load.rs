//! Loading OpenSLO files into checked SLOs: every document of every file is read
//! ([`crate::openslo`]), checked against the specification's rules ([`crate::rules`]), and
//! its references (`indicatorRef`, `metricSourceRef`, `alertPolicyRef`, `conditionRef`,
//! `targetRef`, `spec.service`) resolved across all the files given. Every problem is
//! reported with its file, document and field path, not just the first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::calendar::{CalendarPeriod, CalendarUnit};
use crate::duration::Span;
use crate::lint::Catalogue;
use crate::openslo::{
    self, AlertConditionSpec, AlertNotificationTargetSpec, AlertPolicySpec, Body, BudgetingMethod,
    CloudWatchMetric, DataSourceSpec, Document, InlineSli, Item, Kind, Metadata, MetricSpec,
    Objective, SliSpec, SloSpec, TimeWindow,
};
use crate::policy::{self, ANNOTATION_PREFIX, Condition, Policy, Severity, Target};
use crate::rules;
use crate::spec::{
    Component, Connection, Measure, Op, PROXY_VIEW, Problem, Query, Slo, Stat, Window, spec_files,
};

/// The type name of CloudWatch metric sources.
pub const CLOUDWATCH: &str = "CloudWatch";

/// What loading may also check.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    /// Lint every metric against this catalogue (`slo validate --catalogue`).
    pub catalogue: Option<&'a Catalogue>,
    /// Files whose documents replace those of the same kind and name (`slo backtest
    /// --policies`: a proposed policy, tried without editing the specs).
    pub overrides: &'a [PathBuf],
}

/// A valid SLO that `slo report` and `generate` do not evaluate, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unevaluated {
    pub slo: String,
    pub file: PathBuf,
    pub reason: String,
}

/// Everything the files hold, checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub slos: Vec<Slo>,
    pub unevaluated: Vec<Unevaluated>,
    /// Documents read per kind (the built-in default policies not counted).
    pub documents: BTreeMap<Kind, usize>,
}

/// Loads and checks every document under `paths`.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Slo>, Vec<Problem>> {
    load_with(paths, Options::default()).map(|loaded| loaded.slos)
}

/// The documents of every file under `paths`, the problems reading them, and the kind and name
/// of the documents refused for their shape.
fn read_all(paths: &[PathBuf]) -> (Vec<Document>, Vec<Problem>, Vec<(Kind, String)>) {
    let mut problems = Vec::new();
    let mut documents = Vec::new();
    let mut rejected = Vec::new();
    for path in paths {
        let files = match spec_files(path) {
            Ok(files) => files,
            Err(e) => {
                problems.push(unreadable(path, &e, true));
                continue;
            }
        };
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let mut parsed = openslo::parse_file(&file, &text);
                    documents.append(&mut parsed.documents);
                    problems.append(&mut parsed.problems);
                    rejected.append(&mut parsed.rejected);
                }
                // Bytes that are not UTF-8 are a broken spec, not a missing one.
                Err(e) => problems.push(unreadable(
                    &file,
                    &e,
                    e.kind() != std::io::ErrorKind::InvalidData,
                )),
            }
        }
    }
    (documents, problems, rejected)
}

/// Loads and checks every document under `paths`, with the checks `options` add.
pub fn load_with(paths: &[PathBuf], options: Options<'_>) -> Result<Loaded, Vec<Problem>> {
    let (mut documents, mut problems, mut rejected) = read_all(paths);
    let (replacements, mut wrong, mut also_rejected) = read_all(options.overrides);
    problems.append(&mut wrong);
    rejected.append(&mut also_rejected);
    documents.retain(|d| {
        !replacements
            .iter()
            .any(|r| r.kind == d.kind && r.metadata.name == d.metadata.name)
    });
    documents.extend(replacements);
    let mut counts = BTreeMap::new();
    for document in &documents {
        *counts.entry(document.kind).or_insert(0) += 1;
    }
    // The built-in policies, unless the files replace them (same kind and name).
    let openslo::Parsed {
        documents: defaults,
        problems: default_problems,
        ..
    } = openslo::parse_file(Path::new(policy::DEFAULT_FILE), policy::DEFAULT_DOCUMENTS);
    debug_assert!(default_problems.is_empty(), "{default_problems:?}");
    let builtin_policy_names: Vec<String> = defaults
        .iter()
        .filter(|d| d.kind == Kind::AlertPolicy)
        .map(|d| d.metadata.name.clone())
        .collect();
    let builtin: Vec<Document> = defaults
        .into_iter()
        .filter(|d| {
            !documents
                .iter()
                .any(|u| u.kind == d.kind && u.metadata.name == d.metadata.name)
        })
        .collect();
    documents.extend(builtin);

    let mut resolver = Resolver {
        index: HashMap::new(),
        rejected: rejected.into_iter().collect(),
        problems,
        conditions: HashMap::new(),
        targets: HashMap::new(),
        policies: HashMap::new(),
        sources: HashMap::new(),
        slis: HashMap::new(),
        services: BTreeSet::new(),
        indicators: Vec::new(),
    };
    for document in &documents {
        general_rules(&mut resolver.problems, document);
    }
    for document in &documents {
        let key = (document.kind, document.metadata.name.clone());
        if let Some(&first) = resolver.index.get(&key) {
            resolver.problems.push(at(
                document,
                "metadata.name",
                format!(
                    "another {} is named {:?} ({})",
                    document.kind,
                    document.metadata.name,
                    first.file.display()
                ),
            ));
        } else {
            resolver.index.insert(key, document);
        }
    }
    let mut slos = Vec::new();
    let mut unevaluated = Vec::new();
    // Standalone documents first, each checked once; SLOs then use what resolved.
    for kind in [
        Kind::Service,
        Kind::AlertCondition,
        Kind::AlertNotificationTarget,
        Kind::AlertPolicy,
        Kind::DataSource,
        Kind::Sli,
        Kind::Slo,
    ] {
        for document in documents.iter().filter(|d| d.kind == kind) {
            resolver.standalone(document, &builtin_policy_names, &mut slos, &mut unevaluated);
        }
    }
    let mut problems = resolver.problems;
    cross_checks(&slos, &mut problems);
    if let Some(catalogue) = options.catalogue {
        problems.extend(crate::lint::check(&resolver.indicators, catalogue));
    }
    if counts.get(&Kind::Slo).copied().unwrap_or(0) == 0 && problems.is_empty() {
        problems.push(Problem {
            unreadable: false,
            file: paths.first().cloned().unwrap_or_default(),
            field: "-".into(),
            message: "no SLO documents found".into(),
        });
    }
    if problems.is_empty() {
        Ok(Loaded {
            slos,
            unevaluated,
            documents: counts,
        })
    } else {
        Err(problems)
    }
}

fn unreadable(path: &Path, error: &std::io::Error, unreadable: bool) -> Problem {
    Problem {
        file: path.to_path_buf(),
        unreadable,
        field: "-".into(),
        message: format!("cannot read: {error}"),
    }
}

fn at(document: &Document, field: &str, message: impl Into<String>) -> Problem {
    Problem {
        file: document.file.clone(),
        unreadable: false,
        field: format!("{}: {field}", document.label),
        message: message.into(),
    }
}

/// Names, labels, annotations and descriptions, for a document's metadata at `prefix`.
fn metadata_rules(out: &mut Vec<Problem>, document: &Document, metadata: &Metadata, prefix: &str) {
    if let Err(e) = rules::name(&metadata.name) {
        out.push(at(document, &format!("{prefix}.name"), e));
    }
    for key in metadata.labels.keys() {
        if let Err(e) = rules::label_key(key) {
            out.push(at(document, &format!("{prefix}.labels"), e));
        }
    }
    for key in metadata.annotations.keys() {
        if let Err(e) = rules::annotation_key(key) {
            out.push(at(document, &format!("{prefix}.annotations"), e));
        }
    }
}

fn description_rule(
    out: &mut Vec<Problem>,
    document: &Document,
    text: Option<&String>,
    field: &str,
) {
    if let Some(text) = text
        && let Err(e) = rules::description(text)
    {
        out.push(at(document, field, e));
    }
}

fn general_rules(out: &mut Vec<Problem>, document: &Document) {
    metadata_rules(out, document, &document.metadata, "metadata");
    let description = match &document.body {
        Body::Slo(spec) => spec.description.as_ref(),
        Body::Sli(spec) => spec.description.as_ref(),
        Body::DataSource(spec) => spec.description.as_ref(),
        Body::Service(spec) => spec.description.as_ref(),
        Body::AlertPolicy(spec) => spec.description.as_ref(),
        Body::AlertCondition(spec) => spec.description.as_ref(),
        Body::AlertNotificationTarget(spec) => spec.description.as_ref(),
    };
    description_rule(out, document, description, "spec.description");
}

/// What an SLI reads, before an objective gives a threshold its `op` and `value`.
#[derive(Debug, Clone)]
enum Indicator {
    Ratio {
        good: Option<Query>,
        bad: Option<Query>,
        total: Query,
    },
    Threshold(Query),
    Raw(Query, openslo::RawType),
}

#[derive(Debug, Clone)]
struct ResolvedSli {
    indicator: Indicator,
    connection: Connection,
}

/// Why an SLI cannot be used: it is invalid (already reported), or valid but not evaluated.
#[derive(Debug, Clone)]
enum Unusable {
    Invalid,
    NotEvaluated(String),
}

type Key = (Kind, String);

/// An objective with what was read of it: target, time slice and slice target (`None` where
/// invalid, already reported).
type CheckedObjective<'o> = (&'o Objective, Option<f64>, Option<Span>, Option<f64>);

struct Resolver<'d> {
    index: HashMap<Key, &'d Document>,
    /// Documents refused for their shape (already reported): a reference to one is not
    /// reported again as missing.
    rejected: BTreeSet<Key>,
    problems: Vec<Problem>,
    conditions: HashMap<String, Option<Condition>>,
    targets: HashMap<String, Option<Target>>,
    policies: HashMap<String, Option<Policy>>,
    sources: HashMap<String, Option<(String, Connection)>>,
    slis: HashMap<String, Result<ResolvedSli, Unusable>>,
    services: BTreeSet<String>,
    /// Every indicator resolved, for the catalogue lint (also those of SLOs with other
    /// problems, so all are reported at once).
    indicators: Vec<crate::lint::Indicator>,
}

impl<'d> Resolver<'d> {
    fn push(&mut self, document: &Document, field: &str, message: impl Into<String>) {
        self.problems.push(at(document, field, message));
    }

    /// Looks up `name` of `kind` for a reference at `field` of `document`; a name that
    /// exists only as another kind says which.
    fn lookup(
        &mut self,
        document: &Document,
        field: &str,
        kind: Kind,
        name: &str,
    ) -> Option<&'d Document> {
        if let Some(found) = self.index.get(&(kind, name.to_owned())) {
            return Some(found);
        }
        if self.rejected.contains(&(kind, name.to_owned())) {
            return None;
        }
        let other = Kind::ALL
            .into_iter()
            .find_map(|k| self.index.get(&(k, name.to_owned())).copied());
        let message = match other {
            Some(other) => format!(
                "{name:?} is a {} ({}), not a {kind}",
                other.kind,
                other.file.display()
            ),
            None => format!("{name:?}: no {kind} of that name in the files given"),
        };
        self.push(document, field, message);
        None
    }

    fn standalone(
        &mut self,
        document: &'d Document,
        builtin_policies: &[String],
        slos: &mut Vec<Slo>,
        unevaluated: &mut Vec<Unevaluated>,
    ) {
        let name = document.metadata.name.clone();
        match &document.body {
            Body::Service(_) => {
                self.services.insert(name);
            }
            Body::AlertCondition(spec) => {
                let condition =
                    self.condition(document, &document.metadata, spec, "spec", "metadata");
                self.conditions.insert(name, condition);
            }
            Body::AlertNotificationTarget(spec) => {
                let target = self.target(document, &document.metadata, spec, "spec");
                self.targets.insert(name, target);
            }
            Body::AlertPolicy(spec) => {
                let policy = self.policy(document, &document.metadata, spec, "spec");
                self.policies.insert(name, policy);
            }
            Body::DataSource(spec) => {
                let source = self.data_source(document, spec);
                self.sources.insert(name, source);
            }
            Body::Sli(spec) => {
                let sli = self.sli(document, spec, "spec");
                self.slis.insert(name, sli);
            }
            Body::Slo(spec) => self.slo(document, spec, builtin_policies, slos, unevaluated),
        }
    }

    /// One item of a list of references to `kind` documents (`{ref_key: name}`) or inline
    /// ones: a reference gives what `resolved` holds for the name (nothing for a document
    /// already refused); an inline document has its metadata and description checked, then
    /// `inline` makes it (from its metadata, spec and the item's field path).
    #[allow(clippy::too_many_arguments)]
    fn item<S: serde::de::DeserializeOwned, T>(
        &mut self,
        document: &Document,
        value: &Value,
        field: &str,
        (ref_key, kind): (&str, Kind),
        resolved: impl Fn(&Self, &str) -> Option<T>,
        description: impl Fn(&S) -> Option<&String>,
        inline: impl FnOnce(&mut Self, &Metadata, &S, &str) -> Option<T>,
    ) -> Option<T> {
        match openslo::item::<S>(value, field, ref_key, kind) {
            Err((field, message)) => {
                self.push(document, &field, message);
                None
            }
            Ok(Item::Ref(name)) => {
                self.lookup(document, &format!("{field}.{ref_key}"), kind, &name)?;
                resolved(self, &name)
            }
            Ok(Item::Inline { metadata, spec }) => {
                metadata_rules(
                    &mut self.problems,
                    document,
                    &metadata,
                    &format!("{field}.metadata"),
                );
                description_rule(
                    &mut self.problems,
                    document,
                    description(&spec),
                    &format!("{field}.spec.description"),
                );
                inline(self, &metadata, &spec, field)
            }
        }
    }

    fn condition(
        &mut self,
        document: &Document,
        metadata: &Metadata,
        spec: &AlertConditionSpec,
        prefix: &str,
        metadata_prefix: &str,
    ) -> Option<Condition> {
        let before = self.problems.len();
        let severity = Severity::parse(&spec.severity)
            .map_err(|e| self.push(document, &format!("{prefix}.severity"), e))
            .ok();
        let c = &spec.condition;
        let field = |name: &str| format!("{prefix}.condition.{name}");
        if let Some(kind) = &c.kind
            && kind != "burnrate"
        {
            self.push(
                document,
                &field("kind"),
                format!("{kind:?}: the specification's one kind is burnrate"),
            );
        }
        if !(c.threshold.is_finite() && c.threshold > 0.0) {
            self.push(
                document,
                &field("threshold"),
                format!("{}: a burn rate above 0", c.threshold),
            );
        }
        let lookback = rules::fixed_duration(&c.lookback_window)
            .map_err(|e| self.push(document, &field("lookbackWindow"), e))
            .ok();
        let alert_after = match c.alert_after.as_deref() {
            None => Some(Span(0)),
            // The specification's default, 0m, is the one duration that is not positive.
            Some("0m" | "0h" | "0d" | "0w") => Some(Span(0)),
            Some(text) => rules::fixed_duration(text)
                .map_err(|e| self.push(document, &field("alertAfter"), e))
                .ok(),
        };
        let annotation = |key: &str| {
            metadata
                .annotations
                .get(&format!("{ANNOTATION_PREFIX}{key}"))
        };
        let annotations_at = format!("{metadata_prefix}.annotations.{ANNOTATION_PREFIX}");
        for key in metadata.annotations.keys() {
            if let Some(rest) = key.strip_prefix(ANNOTATION_PREFIX)
                && !matches!(rest, "shortWindow" | "thresholdWindow" | "minEvents")
            {
                self.push(
                    document,
                    &format!("{metadata_prefix}.annotations.{key}"),
                    "unknown: this tool reads shortWindow, thresholdWindow and minEvents",
                );
            }
        }
        let short = match (annotation("shortWindow"), lookback) {
            (Some(text), Some(lookback)) => match rules::fixed_duration(text) {
                Ok(short) if short <= lookback => Some(short),
                Ok(_) => {
                    self.push(
                        document,
                        &format!("{annotations_at}shortWindow"),
                        format!("{text}: at most the lookbackWindow"),
                    );
                    None
                }
                Err(e) => {
                    self.push(document, &format!("{annotations_at}shortWindow"), e);
                    None
                }
            },
            // A twelfth of the lookback, in whole minutes (CloudWatch's finest period).
            (None, Some(lookback)) => Some(Span(((lookback.seconds() / 12 + 59) / 60).max(1) * 60)),
            (_, None) => None,
        };
        let threshold_window = match annotation("thresholdWindow") {
            None => Some(None),
            Some(text) => rules::fixed_duration(text)
                .map(Some)
                .map_err(|e| self.push(document, &format!("{annotations_at}thresholdWindow"), e))
                .ok(),
        };
        let min_events = match annotation("minEvents") {
            None => Some(10.0),
            Some(text) => match text.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => Some(n),
                _ => {
                    self.push(
                        document,
                        &format!("{annotations_at}minEvents"),
                        format!("{text:?}: a number of events, 0 or more"),
                    );
                    None
                }
            },
        };
        if self.problems.len() > before {
            return None;
        }
        Some(Condition {
            name: metadata.name.clone(),
            severity: severity?,
            op: c.op.unwrap_or(Op::Gt),
            threshold: c.threshold,
            threshold_window: threshold_window?,
            lookback: lookback?,
            short: short?,
            alert_after: alert_after?,
            min_events: min_events?,
        })
    }

    fn target(
        &mut self,
        document: &Document,
        metadata: &Metadata,
        spec: &AlertNotificationTargetSpec,
        prefix: &str,
    ) -> Option<Target> {
        if spec.target.trim().is_empty() {
            self.push(
                document,
                &format!("{prefix}.target"),
                "required: where notifications go",
            );
            return None;
        }
        Some(Target {
            name: metadata.name.clone(),
            target: spec.target.clone(),
        })
    }

    fn policy(
        &mut self,
        document: &Document,
        metadata: &Metadata,
        spec: &AlertPolicySpec,
        prefix: &str,
    ) -> Option<Policy> {
        let before = self.problems.len();
        let mut condition = None;
        match spec.conditions.as_slice() {
            [one] => {
                condition = self.item(
                    document,
                    one,
                    &format!("{prefix}.conditions[0]"),
                    ("conditionRef", Kind::AlertCondition),
                    |this, name| this.conditions.get(name).cloned().flatten(),
                    |spec: &AlertConditionSpec| spec.description.as_ref(),
                    |this, metadata, spec, field| {
                        this.condition(
                            document,
                            metadata,
                            spec,
                            &format!("{field}.spec"),
                            &format!("{field}.metadata"),
                        )
                    },
                );
            }
            [] => self.push(document, &format!("{prefix}.conditions"), "required: one AlertCondition"),
            _ => self.push(
                document,
                &format!("{prefix}.conditions"),
                format!(
                    "{} conditions: the specification allows one per policy; give each its own policy (policies of one severity alert together)",
                    spec.conditions.len()
                ),
            ),
        }
        let mut targets = Vec::new();
        if spec.notification_targets.is_empty() {
            self.push(
                document,
                &format!("{prefix}.notificationTargets"),
                "required: at least one AlertNotificationTarget",
            );
        }
        for (i, value) in spec.notification_targets.iter().enumerate() {
            let target = self.item(
                document,
                value,
                &format!("{prefix}.notificationTargets[{i}]"),
                ("targetRef", Kind::AlertNotificationTarget),
                |this, name| this.targets.get(name).cloned().flatten(),
                |spec: &AlertNotificationTargetSpec| spec.description.as_ref(),
                |this, metadata, spec, field| {
                    this.target(document, metadata, spec, &format!("{field}.spec"))
                },
            );
            targets.extend(target);
        }
        if self.problems.len() > before {
            return None;
        }
        Some(Policy {
            name: metadata.name.clone(),
            condition: condition?,
            targets,
            when_breaching: spec.alert_when_breaching,
            when_resolved: spec.alert_when_resolved,
            when_no_data: spec.alert_when_no_data,
        })
    }

    fn data_source(
        &mut self,
        document: &Document,
        spec: &DataSourceSpec,
    ) -> Option<(String, Connection)> {
        if spec.kind.trim().is_empty() {
            self.push(
                document,
                "spec.type",
                "required: the source's type, e.g. CloudWatch",
            );
            return None;
        }
        if spec.kind != CLOUDWATCH {
            return Some((spec.kind.clone(), Connection::default()));
        }
        let details = match &spec.connection_details {
            Value::Null => serde_json::Map::new(),
            Value::Object(map) => map.clone(),
            _ => {
                self.push(
                    document,
                    "spec.connectionDetails",
                    "a mapping (region, accountId, roleArn)",
                );
                return None;
            }
        };
        let mut connection = Connection::default();
        let mut ok = true;
        for (key, value) in &details {
            let field = format!("spec.connectionDetails.{key}");
            let Some(text) = value.as_str().filter(|t| !t.is_empty()) else {
                self.push(document, &field, "a non-empty string");
                ok = false;
                continue;
            };
            match key.as_str() {
                "region" => connection.region = Some(text.to_owned()),
                "accountId" => connection.account_id = Some(text.to_owned()),
                "roleArn" => connection.role_arn = Some(text.to_owned()),
                "accessKeyID" | "secretAccessKey" => {
                    // Never echo the value.
                    self.push(
                        document,
                        &field,
                        "keys do not belong in spec files: slo reads credentials from the AWS environment (profile, SSO, instance role); give roleArn to read through another account's role",
                    );
                    ok = false;
                }
                _ => {
                    self.push(
                        document,
                        &field,
                        "unknown: a CloudWatch source takes region, accountId and roleArn",
                    );
                    ok = false;
                }
            }
        }
        ok.then(|| (spec.kind.clone(), connection))
    }

    /// A metric source at `field` (e.g. `spec.ratioMetric.good`): its type, from the
    /// source itself or the `DataSource` it refers to, and the CloudWatch query.
    fn metric(
        &mut self,
        document: &Document,
        field: &str,
        metric: &MetricSpec,
        connection: &mut Connection,
    ) -> Result<Query, Unusable> {
        let source = &metric.metric_source;
        let at = format!("{field}.metricSource");
        let referenced = match &source.metric_source_ref {
            Some(name) => {
                let Some(_) = self.lookup(
                    document,
                    &format!("{at}.metricSourceRef"),
                    Kind::DataSource,
                    name,
                ) else {
                    return Err(Unusable::Invalid);
                };
                match self.sources.get(name).cloned().flatten() {
                    Some(found) => Some(found),
                    None => return Err(Unusable::Invalid),
                }
            }
            None => None,
        };
        let kind = match (&source.kind, &referenced) {
            (Some(kind), Some((source_kind, _))) if kind != source_kind => {
                self.push(
                    document,
                    &format!("{at}.type"),
                    format!(
                        "{kind:?}, but the DataSource {:?} is {source_kind:?}",
                        source.metric_source_ref.as_deref().unwrap_or_default()
                    ),
                );
                return Err(Unusable::Invalid);
            }
            (Some(kind), _) => kind.clone(),
            (None, Some((source_kind, _))) => source_kind.clone(),
            (None, None) => {
                self.push(
                    document,
                    &format!("{at}.type"),
                    "required without a metricSourceRef (e.g. CloudWatch)",
                );
                return Err(Unusable::Invalid);
            }
        };
        if kind != CLOUDWATCH {
            return Err(Unusable::NotEvaluated(format!(
                "reads a {kind} source: slo evaluates CloudWatch sources only"
            )));
        }
        if let Some((_, from_source)) = referenced {
            *connection = from_source;
        }
        let spec_at = format!("{at}.spec");
        if source.spec.get("expression").is_some() {
            return self.math(document, &spec_at, &source.spec, connection);
        }
        let cw: CloudWatchMetric = match openslo::typed(&source.spec, &spec_at) {
            Ok(cw) => cw,
            Err((field, message)) => {
                self.push(document, &field, message);
                return Err(Unusable::Invalid);
            }
        };
        if let Some(region) = &cw.region {
            connection.region = Some(region.clone());
        }
        if let Some(account) = &cw.account_id {
            connection.account_id = Some(account.clone());
        }
        self.cloudwatch_query(
            document,
            &spec_at,
            cw.namespace,
            cw.metric_name,
            &cw.stat,
            &cw.dimensions,
        )
    }

    /// Whether `query` is a plain metric, as raw ratios and thresholds need (an expression is
    /// for counts: its value per period is summed like one); reports it otherwise.
    fn counts_only(&mut self, document: &Document, query: &Query, field: &str) -> bool {
        if query.math.is_some() {
            self.push(
                document,
                &format!("{field}.metricSource.spec.expression"),
                "metric math is for counted events (ratioMetric good, bad or total)",
            );
        }
        query.math.is_none()
    }

    /// One CloudWatch metric and statistic, checked; `spec_at` is where it is written.
    fn cloudwatch_query(
        &mut self,
        document: &Document,
        spec_at: &str,
        namespace: String,
        metric: String,
        stat: &str,
        dimensions: &[openslo::Dimension],
    ) -> Result<Query, Unusable> {
        let stat = match Stat::parse(stat) {
            Ok(stat) => stat,
            Err(e) => {
                self.push(document, &format!("{spec_at}.stat"), e);
                return Err(Unusable::Invalid);
            }
        };
        if namespace.is_empty() || metric.is_empty() {
            self.push(document, spec_at, "namespace and metricName are required");
            return Err(Unusable::Invalid);
        }
        let mut dimensions: Vec<(String, String)> = dimensions
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect();
        dimensions.sort();
        if dimensions.windows(2).any(|w| w[0].0 == w[1].0) {
            self.push(
                document,
                &format!("{spec_at}.dimensions"),
                "a dimension is named twice",
            );
            return Err(Unusable::Invalid);
        }
        Ok(Query {
            namespace,
            metric,
            dimensions,
            stat,
            math: None,
        })
    }

    /// A metric-math source: its ids CloudWatch's (a lowercase letter, then letters, digits
    /// and `_`), unique, each read by the expression, which reads no other.
    fn math(
        &mut self,
        document: &Document,
        spec_at: &str,
        spec: &Value,
        connection: &mut Connection,
    ) -> Result<Query, Unusable> {
        let math: openslo::CloudWatchMath = match openslo::typed(spec, spec_at) {
            Ok(math) => math,
            Err((field, message)) => {
                self.push(document, &field, message);
                return Err(Unusable::Invalid);
            }
        };
        if let Some(region) = &math.region {
            connection.region = Some(region.clone());
        }
        if let Some(account) = &math.account_id {
            connection.account_id = Some(account.clone());
        }
        let before = self.problems.len();
        if math.metrics.is_empty() {
            self.push(
                document,
                &format!("{spec_at}.metrics"),
                "required: the metrics the expression reads",
            );
        }
        let read = match crate::expression::ids(&math.expression) {
            Ok(ids) => ids,
            Err(e) => {
                self.push(document, &format!("{spec_at}.expression"), e);
                return Err(Unusable::Invalid);
            }
        };
        let mut metrics = Vec::new();
        for (i, metric) in math.metrics.into_iter().enumerate() {
            let at = format!("{spec_at}.metrics[{i}]");
            let mut chars = metric.id.chars();
            if !(chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                self.push(
                    document,
                    &format!("{at}.id"),
                    format!(
                        "{:?}: CloudWatch ids start with a lowercase letter, then letters, digits or _",
                        metric.id
                    ),
                );
            } else if metrics.iter().any(|(id, _)| *id == metric.id) {
                self.push(
                    document,
                    &format!("{at}.id"),
                    format!("{:?} is the id of another metric", metric.id),
                );
            } else if !read.contains(&metric.id) {
                self.push(
                    document,
                    &format!("{at}.id"),
                    format!("{:?}: the expression does not read it", metric.id),
                );
            }
            if let Ok(query) = self.cloudwatch_query(
                document,
                &at,
                metric.namespace,
                metric.metric_name,
                &metric.stat,
                &metric.dimensions,
            ) {
                metrics.push((metric.id, query));
            }
        }
        for id in &read {
            if !metrics.iter().any(|(known, _)| known == id) {
                self.push(
                    document,
                    &format!("{spec_at}.expression"),
                    format!("reads {id:?}, which no metric is"),
                );
            }
        }
        if self.problems.len() > before {
            return Err(Unusable::Invalid);
        }
        Ok(Query {
            namespace: metrics[0].1.namespace.clone(),
            metric: math.expression.clone(),
            dimensions: Vec::new(),
            stat: Stat::Sum,
            math: Some(Box::new(crate::spec::Math {
                expression: math.expression,
                metrics,
            })),
        })
    }

    fn sli(
        &mut self,
        document: &Document,
        spec: &SliSpec,
        prefix: &str,
    ) -> Result<ResolvedSli, Unusable> {
        let before = self.problems.len();
        let mut connection = Connection::default();
        let mut fields = Vec::new();
        let mut not_evaluated = None;
        let mut read = |this: &mut Self,
                        name: &str,
                        metric: &MetricSpec,
                        fields: &mut Vec<(PathBuf, String)>| {
            let field = format!("{prefix}.{name}");
            match this.metric(document, &field, metric, &mut connection) {
                Ok(query) => {
                    let at = format!("{field}.metricSource.spec");
                    match &query.math {
                        // Each of an expression's metrics is linted where it is written.
                        Some(math) => fields.extend(
                            (0..math.metrics.len())
                                .map(|i| (document.file.clone(), format!("{at}.metrics[{i}]"))),
                        ),
                        None => fields.push((document.file.clone(), at)),
                    }
                    Some(query)
                }
                Err(Unusable::NotEvaluated(reason)) => {
                    not_evaluated.get_or_insert(reason);
                    None
                }
                Err(Unusable::Invalid) => None,
            }
        };
        let indicator = match (&spec.ratio_metric, &spec.threshold_metric) {
            (Some(ratio), None) => {
                let r = |name: &str| format!("ratioMetric.{name}");
                match (&ratio.raw, &ratio.raw_type) {
                    (Some(raw), Some(kind)) => {
                        if ratio.good.is_some() || ratio.bad.is_some() || ratio.total.is_some() {
                            self.push(
                                document,
                                &format!("{prefix}.ratioMetric.raw"),
                                "a raw ratio cannot be given with good, bad or total",
                            );
                        }
                        read(self, &r("raw"), raw, &mut fields)
                            .filter(|q| {
                                self.counts_only(document, q, &format!("{prefix}.ratioMetric.raw"))
                            })
                            .map(|q| Indicator::Raw(q, *kind))
                    }
                    (Some(_), None) => {
                        self.push(
                            document,
                            &format!("{prefix}.ratioMetric.rawType"),
                            "required with raw: success or failure",
                        );
                        None
                    }
                    (None, Some(_)) => {
                        self.push(
                            document,
                            &format!("{prefix}.ratioMetric.rawType"),
                            "only with raw (good or bad already say which ratio it is)",
                        );
                        None
                    }
                    (None, None) => {
                        if ratio.good.is_some() == ratio.bad.is_some() {
                            self.push(
                                document,
                                &format!("{prefix}.ratioMetric"),
                                "give exactly one of good and bad, beside total",
                            );
                        }
                        let Some(total_spec) = &ratio.total else {
                            self.push(
                                document,
                                &format!("{prefix}.ratioMetric.total"),
                                "required with good or bad (or give raw and rawType)",
                            );
                            return Err(Unusable::Invalid);
                        };
                        let good = ratio
                            .good
                            .as_ref()
                            .and_then(|g| read(self, &r("good"), g, &mut fields));
                        let bad = ratio
                            .bad
                            .as_ref()
                            .and_then(|b| read(self, &r("bad"), b, &mut fields));
                        let total = read(self, &r("total"), total_spec, &mut fields);
                        for (name, query) in [("good", &good), ("bad", &bad), ("total", &total)] {
                            let Some(query) = query else { continue };
                            let spec_at = format!("{prefix}.ratioMetric.{name}.metricSource.spec");
                            for (i, leaf) in query.leaves().into_iter().enumerate() {
                                if !matches!(
                                    leaf.stat,
                                    Stat::Sum | Stat::SampleCount | Stat::CountAtMost(_)
                                ) {
                                    let at = match query.math {
                                        Some(_) => format!("{spec_at}.metrics[{i}].stat"),
                                        None => format!("{spec_at}.stat"),
                                    };
                                    self.push(
                                        document,
                                        &at,
                                        "events must be counted: use Sum, SampleCount or TC(:x)",
                                    );
                                }
                            }
                        }
                        total.map(|total| Indicator::Ratio { good, bad, total })
                    }
                }
            }
            (None, Some(threshold)) => read(self, "thresholdMetric", threshold, &mut fields)
                .filter(|q| self.counts_only(document, q, &format!("{prefix}.thresholdMetric")))
                .map(Indicator::Threshold),
            _ => {
                self.push(
                    document,
                    prefix,
                    "give exactly one of ratioMetric and thresholdMetric",
                );
                None
            }
        };
        if self.problems.len() > before {
            return Err(Unusable::Invalid);
        }
        if let Some(reason) = not_evaluated {
            return Err(Unusable::NotEvaluated(reason));
        }
        if let Some(indicator) = &indicator {
            let (queries, threshold) = match indicator {
                Indicator::Ratio { good, bad, total } => (
                    good.iter()
                        .chain(bad)
                        .chain([total])
                        .flat_map(Query::leaves)
                        .cloned()
                        .collect(),
                    false,
                ),
                Indicator::Threshold(q) => (vec![q.clone()], true),
                Indicator::Raw(q, _) => (vec![q.clone()], false),
            };
            self.indicators.push(crate::lint::Indicator {
                label: document.label.clone(),
                fields,
                queries,
                threshold,
            });
        }
        indicator
            .map(|indicator| ResolvedSli {
                indicator,
                connection,
            })
            .ok_or(Unusable::Invalid)
    }

    fn window(&mut self, document: &Document, windows: &[TimeWindow]) -> Option<Window> {
        let [window] = windows else {
            self.push(
                document,
                "spec.timeWindow",
                "exactly one time window (rolling or calendar)",
            );
            return None;
        };
        let at = "spec.timeWindow[0]";
        match (&window.calendar, window.is_rolling) {
            (None, Some(true)) => match rules::fixed_duration(&window.duration) {
                Ok(span) => Some(Window::Rolling(span)),
                Err(e) => {
                    self.push(document, &format!("{at}.duration"), e);
                    None
                }
            },
            (Some(calendar), None | Some(false)) => {
                let period = match CalendarPeriod::parse(&window.duration) {
                    Ok(p)
                        if matches!(
                            p.unit,
                            CalendarUnit::Day
                                | CalendarUnit::Week
                                | CalendarUnit::Month
                                | CalendarUnit::Quarter
                                | CalendarUnit::Year
                        ) =>
                    {
                        Some(p)
                    }
                    Ok(_) => None,
                    Err(e) => {
                        self.push(document, &format!("{at}.duration"), format!("{e} (a calendar window is whole days, weeks, months, quarters or years)"));
                        None
                    }
                };
                let zone = match jiff::tz::TimeZone::get(&calendar.time_zone) {
                    Ok(zone) => Some(zone),
                    Err(e) => {
                        self.push(
                            document,
                            &format!("{at}.calendar.timeZone"),
                            format!("{:?}: {e} (an IANA time zone name)", calendar.time_zone),
                        );
                        None
                    }
                };
                let start = zone.and_then(|zone| {
                    match calendar
                        .start_time
                        .parse::<jiff::civil::DateTime>()
                        .map_err(|e| e.to_string())
                        .and_then(|dt| dt.to_zoned(zone).map_err(|e| e.to_string()))
                    {
                        Ok(start) => Some(start),
                        Err(e) => {
                            self.push(
                                document,
                                &format!("{at}.calendar.startTime"),
                                format!(
                                    "{:?}: {e} (expected YYYY-MM-DD HH:MM:SS)",
                                    calendar.start_time
                                ),
                            );
                            None
                        }
                    }
                });
                Some(Window::Calendar {
                    period: period?,
                    start: start?,
                })
            }
            (None, None | Some(false)) => {
                self.push(
                    document,
                    at,
                    "set isRolling: true, or give a calendar (startTime, timeZone)",
                );
                None
            }
            (Some(_), Some(true)) => {
                self.push(
                    document,
                    &format!("{at}.isRolling"),
                    "a calendar window cannot be rolling",
                );
                None
            }
        }
    }

    fn slo(
        &mut self,
        document: &Document,
        spec: &SloSpec,
        builtin_policies: &[String],
        slos: &mut Vec<Slo>,
        unevaluated: &mut Vec<Unevaluated>,
    ) {
        let before = self.problems.len();
        if spec.service.trim().is_empty() {
            self.push(
                document,
                "spec.service",
                "required: the service this SLO belongs to",
            );
        } else if !self.services.is_empty() && !self.services.contains(&spec.service) {
            let known: Vec<&str> = self.services.iter().map(String::as_str).collect();
            self.push(
                document,
                "spec.service",
                format!(
                    "{:?}: no Service of that name in the files given (they define {})",
                    spec.service,
                    known.join(", ")
                ),
            );
        }
        let composite = spec
            .objectives
            .iter()
            .any(|o| o.indicator.is_some() || o.indicator_ref.is_some());
        let sli = match (&spec.indicator, &spec.indicator_ref, composite) {
            (Some(inline), None, false) => {
                let meta_at = "spec.indicator.metadata";
                if !inline.metadata.name.is_empty() || !inline.metadata.labels.is_empty() {
                    metadata_rules(&mut self.problems, document, &inline.metadata, meta_at);
                }
                description_rule(
                    &mut self.problems,
                    document,
                    inline.spec.description.as_ref(),
                    "spec.indicator.spec.description",
                );
                Some(self.sli(document, &inline.spec, "spec.indicator.spec"))
            }
            (None, Some(name), false) => self
                .lookup(document, "spec.indicatorRef", Kind::Sli, name)
                .map(|_| {
                    self.slis
                        .get(name)
                        .cloned()
                        .unwrap_or(Err(Unusable::Invalid))
                }),
            (Some(_), Some(_), _) => {
                self.push(
                    document,
                    "spec.indicatorRef",
                    "give indicator or indicatorRef, not both",
                );
                None
            }
            (None, None, false) => {
                self.push(document, "spec", "indicator or indicatorRef is required");
                None
            }
            (_, _, true) => None,
        };
        // A composite's indicators, objective by objective.
        let mut component_slis: Vec<Result<ResolvedSli, Unusable>> = Vec::new();
        if composite {
            if spec.indicator.is_some() || spec.indicator_ref.is_some() {
                self.push(
                    document,
                    "spec",
                    "a composite SLO gives each objective its indicator, not spec.indicator or spec.indicatorRef",
                );
            }
            for (i, objective) in spec.objectives.iter().enumerate() {
                let at = format!("spec.objectives[{i}]");
                let resolved = match (&objective.indicator, &objective.indicator_ref) {
                    (Some(inline), None) => {
                        description_rule(
                            &mut self.problems,
                            document,
                            inline.spec.description.as_ref(),
                            &format!("{at}.indicator.spec.description"),
                        );
                        self.sli(document, &inline.spec, &format!("{at}.indicator.spec"))
                    }
                    (None, Some(name)) => self
                        .lookup(document, &format!("{at}.indicatorRef"), Kind::Sli, name)
                        .and_then(|_| self.slis.get(name).cloned())
                        .unwrap_or(Err(Unusable::Invalid)),
                    _ => {
                        self.push(
                            document,
                            &at,
                            "in a composite SLO every objective gives exactly one of indicator and indicatorRef",
                        );
                        Err(Unusable::Invalid)
                    }
                };
                component_slis.push(resolved);
                if let Some(weight) = objective.composite_weight
                    && !(weight.is_finite() && weight > 0.0)
                {
                    self.push(
                        document,
                        &format!("{at}.compositeWeight"),
                        format!("{weight}: a weight above 0"),
                    );
                }
            }
        }
        let window = self.window(document, &spec.time_window);
        // From the document itself, so an SLI that is not evaluated is still checked whole.
        let threshold_of = |inline: Option<&InlineSli>, name: Option<&String>| match (inline, name)
        {
            (Some(inline), _) => inline.spec.threshold_metric.is_some(),
            (None, Some(name)) => self.index.get(&(Kind::Sli, name.clone())).is_some_and(
                |d| matches!(&d.body, Body::Sli(sli) if sli.threshold_metric.is_some()),
            ),
            (None, None) => false,
        };
        let is_threshold = threshold_of(spec.indicator.as_ref(), spec.indicator_ref.as_ref());
        let thresholds: Vec<bool> = spec
            .objectives
            .iter()
            .map(|o| {
                if composite {
                    threshold_of(o.indicator.as_ref(), o.indicator_ref.as_ref())
                } else {
                    is_threshold
                }
            })
            .collect();
        if spec.objectives.is_empty() {
            self.push(
                document,
                "spec.objectives",
                "required: at least one objective",
            );
        }
        if is_threshold && spec.objectives.len() > 1 {
            self.push(
                document,
                "spec.objectives",
                "a thresholdMetric takes exactly one objective",
            );
        }
        let mut objectives = Vec::new();
        for (i, objective) in spec.objectives.iter().enumerate() {
            let at = format!("spec.objectives[{i}]");
            let target = match (objective.target, objective.target_percent) {
                (Some(t), None) if (0.0..1.0).contains(&t) => Some(t),
                (Some(t), None) => {
                    self.push(
                        document,
                        &format!("{at}.target"),
                        format!("{t}: must be in [0, 1)"),
                    );
                    None
                }
                (None, Some(p)) if (0.0..100.0).contains(&p) => Some(p / 100.0),
                (None, Some(p)) => {
                    self.push(
                        document,
                        &format!("{at}.targetPercent"),
                        format!("{p}: must be in [0, 100)"),
                    );
                    None
                }
                (Some(_), Some(_)) => {
                    self.push(document, &at, "give target or targetPercent, not both");
                    None
                }
                (None, None) => {
                    self.push(
                        document,
                        &format!("{at}.target"),
                        "required (or targetPercent)",
                    );
                    None
                }
            };
            let is_threshold = thresholds[i];
            if !is_threshold && (objective.op.is_some() || objective.value.is_some()) {
                self.push(
                    document,
                    &at,
                    "op and value are for thresholdMetric indicators only",
                );
            }
            if is_threshold && (objective.op.is_none() || objective.value.is_none()) {
                self.push(
                    document,
                    &at,
                    "a thresholdMetric needs op and value in its objective",
                );
            }
            let slice = match (spec.budgeting_method, &objective.time_slice_window) {
                (BudgetingMethod::Occurrences, Some(_)) => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceWindow"),
                        "only with Timeslices or RatioTimeslices budgeting",
                    );
                    None
                }
                (BudgetingMethod::Occurrences, None) => None,
                (_, None) => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceWindow"),
                        format!(
                            "{:?} budgeting needs a timeSliceWindow",
                            spec.budgeting_method
                        ),
                    );
                    None
                }
                (_, Some(value)) => {
                    let parsed = match value {
                        // A bare number counts minutes.
                        Value::Number(n) => n
                            .as_i64()
                            .filter(|&m| m >= 1)
                            .and_then(|m| m.checked_mul(60))
                            .map(Span)
                            .ok_or_else(|| format!("{n}: a whole number of minutes, at least 1")),
                        Value::String(text) => rules::fixed_duration(text),
                        other => Err(format!(
                            "{other}: a duration (e.g. 5m) or a number of minutes"
                        )),
                    };
                    match parsed {
                        Ok(span) if span.seconds() % 60 == 0 => Some(span),
                        Ok(_) => {
                            self.push(
                                document,
                                &format!("{at}.timeSliceWindow"),
                                "must be a whole number of minutes (CloudWatch periods)",
                            );
                            None
                        }
                        Err(e) => {
                            self.push(document, &format!("{at}.timeSliceWindow"), e);
                            None
                        }
                    }
                }
            };
            let slice_target = match (spec.budgeting_method, objective.time_slice_target) {
                (BudgetingMethod::Timeslices, Some(t)) if t > 0.0 && t <= 1.0 => Some(t),
                (BudgetingMethod::Timeslices, Some(t)) => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceTarget"),
                        format!("{t}: must be in (0, 1]"),
                    );
                    None
                }
                (BudgetingMethod::Timeslices, None) if !is_threshold => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceTarget"),
                        "a ratio indicator with Timeslices needs a timeSliceTarget in (0, 1]",
                    );
                    None
                }
                (_, Some(_)) if spec.budgeting_method != BudgetingMethod::Timeslices => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceTarget"),
                        "only with Timeslices budgeting",
                    );
                    None
                }
                _ => None,
            };
            objectives.push((objective, target, slice, slice_target));
        }
        let mut policies = Vec::new();
        if spec.alert_policies.is_empty() {
            for name in builtin_policies {
                if let Some(Some(policy)) = self.policies.get(name) {
                    policies.push(policy.clone());
                }
            }
        }
        for (i, value) in spec.alert_policies.iter().enumerate() {
            let policy = self.item(
                document,
                value,
                &format!("spec.alertPolicies[{i}]"),
                ("alertPolicyRef", Kind::AlertPolicy),
                |this, name| this.policies.get(name).cloned().flatten(),
                |spec: &AlertPolicySpec| spec.description.as_ref(),
                |this, metadata, spec, field| {
                    this.policy(document, metadata, spec, &format!("{field}.spec"))
                },
            );
            policies.extend(policy);
        }
        let name = document.metadata.name.clone();
        let not_evaluated = |reason: String, unevaluated: &mut Vec<Unevaluated>| {
            unevaluated.push(Unevaluated {
                slo: name.clone(),
                file: document.file.clone(),
                reason,
            });
        };
        if composite {
            if self.problems.len() > before {
                return;
            }
            let mut resolved = Vec::new();
            for sli in component_slis {
                match sli {
                    Ok(sli) => resolved.push(sli),
                    Err(Unusable::NotEvaluated(reason)) => {
                        return not_evaluated(reason, unevaluated);
                    }
                    Err(Unusable::Invalid) => return,
                }
            }
            let Some(window) = window else { return };
            self.composite(
                document,
                spec,
                &objectives,
                &resolved,
                window,
                policies,
                slos,
            );
            return;
        }
        let sli = match sli {
            Some(Ok(sli)) => sli,
            Some(Err(Unusable::NotEvaluated(reason))) => {
                if self.problems.len() == before {
                    not_evaluated(reason, unevaluated);
                }
                return;
            }
            _ => return,
        };
        let Some(window) = window else { return };
        self.budgeting_rules(
            document,
            &sli.indicator,
            objectives.first().and_then(|o| o.0.op),
            spec.budgeting_method,
            "spec.objectives[0]",
        );
        if self.problems.len() > before {
            return;
        }
        let several = objectives.len() > 1;
        let mut names = BTreeSet::new();
        for (i, (objective, target, slice, slice_target)) in objectives.into_iter().enumerate() {
            let Some(target) = target else { return };
            let measure = measure(&sli.indicator, objective);
            let objective_name = if several {
                format!("{name}-{}", objective_slug(objective, i))
            } else {
                name.clone()
            };
            if !names.insert(objective_name.clone()) {
                self.push(
                    document,
                    &format!("spec.objectives[{i}].displayName"),
                    format!("two objectives make the name {objective_name:?}"),
                );
                continue;
            }
            let display = document
                .metadata
                .display_name
                .clone()
                .unwrap_or_else(|| name.clone());
            slos.push(Slo {
                name: objective_name,
                display_name: match (several, &objective.display_name) {
                    (true, Some(o)) => format!("{display}: {o}"),
                    _ => display,
                },
                rationale: document.metadata.annotations.get("rationale").cloned(),
                file: document.file.clone(),
                indicator: measure,
                connection: sli.connection.clone(),
                policies: policies.clone(),
                window: window.clone(),
                budgeting: spec.budgeting_method,
                target,
                time_slice: slice.map(|s| (s, slice_target)),
                proxy_view: document.metadata.annotations.get(PROXY_VIEW).cloned(),
            });
        }
    }
    /// Rules between an objective's indicator and the budgeting method.
    fn budgeting_rules(
        &mut self,
        document: &Document,
        indicator: &Indicator,
        op: Option<Op>,
        budgeting: BudgetingMethod,
        objective_at: &str,
    ) {
        if let Indicator::Threshold(_) = indicator
            && budgeting == BudgetingMethod::Occurrences
            && op.is_some_and(|op| op != Op::Lte)
        {
            self.push(
                document,
                &format!("{objective_at}.op"),
                "with Occurrences, good events are the values <= value (CloudWatch's TC(:value)); use op: lte",
            );
        }
        if let Indicator::Raw(..) = indicator
            && budgeting == BudgetingMethod::Occurrences
        {
            self.push(
                document,
                "spec.budgetingMethod",
                "a raw ratio has no events to count: use RatioTimeslices (the mean of the ratio per slice) or Timeslices",
            );
        }
    }

    /// A composite SLO (objectives with their own indicators, already resolved in
    /// `slis`) as one SLO whose components are its objectives.
    #[allow(clippy::too_many_arguments)]
    fn composite(
        &mut self,
        document: &Document,
        spec: &SloSpec,
        objectives: &[CheckedObjective<'_>],
        slis: &[ResolvedSli],
        window: Window,
        policies: Vec<Policy>,
        slos: &mut Vec<Slo>,
    ) {
        let before = self.problems.len();
        let mut names = BTreeSet::new();
        let mut components = Vec::new();
        let first_slice = objectives.first().and_then(|o| o.2);
        for (i, ((objective, target, slice, slice_target), sli)) in
            objectives.iter().zip(slis).enumerate()
        {
            let at = format!("spec.objectives[{i}]");
            self.budgeting_rules(
                document,
                &sli.indicator,
                objective.op,
                spec.budgeting_method,
                &at,
            );
            if sli.connection != slis[0].connection {
                self.push(
                    document,
                    &at,
                    "its indicator reads CloudWatch through another connection (region, role or account) than objective 0's: a composite is read through one",
                );
            }
            if *slice != first_slice {
                self.push(
                    document,
                    &format!("{at}.timeSliceWindow"),
                    "the objectives of a composite SLO are sliced alike: give each the same timeSliceWindow",
                );
            }
            let name = objective_slug(objective, i);
            if !names.insert(name.clone()) {
                self.push(
                    document,
                    &format!("{at}.displayName"),
                    format!("two objectives make the component name {name:?}"),
                );
            }
            let Some(target) = *target else { continue };
            components.push(Component {
                display_name: objective
                    .display_name
                    .clone()
                    .unwrap_or_else(|| name.clone()),
                name,
                indicator: measure(&sli.indicator, objective),
                target,
                slice_target: *slice_target,
                weight: objective.composite_weight.unwrap_or(1.0),
            });
        }
        if self.problems.len() > before || components.len() != objectives.len() {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let mean_weight =
            components.iter().map(|c| c.weight).sum::<f64>() / components.len() as f64;
        for component in &mut components {
            component.weight /= mean_weight;
        }
        #[allow(clippy::cast_precision_loss)]
        let target =
            components.iter().map(|c| c.weight * c.target).sum::<f64>() / components.len() as f64;
        let name = document.metadata.name.clone();
        slos.push(Slo {
            display_name: document
                .metadata
                .display_name
                .clone()
                .unwrap_or_else(|| name.clone()),
            name,
            rationale: document.metadata.annotations.get("rationale").cloned(),
            file: document.file.clone(),
            indicator: Measure::Composite(components),
            connection: slis[0].connection.clone(),
            policies,
            window,
            budgeting: spec.budgeting_method,
            target,
            time_slice: first_slice.map(|slice| (slice, None)),
            proxy_view: document.metadata.annotations.get(PROXY_VIEW).cloned(),
        });
    }
}

/// What an indicator measures for one objective (its `op` and `value` for a threshold).
fn measure(indicator: &Indicator, objective: &Objective) -> Measure {
    match indicator {
        Indicator::Ratio { good, bad, total } => Measure::Ratio {
            good: good.clone(),
            bad: bad.clone(),
            total: total.clone(),
        },
        Indicator::Threshold(metric) => Measure::Threshold {
            metric: metric.clone(),
            op: objective.op.unwrap_or(Op::Lte),
            value: objective.value.unwrap_or_default(),
        },
        Indicator::Raw(metric, kind) => Measure::Raw {
            metric: metric.clone(),
            kind: *kind,
        },
    }
}

/// An objective's name among its SLO's: its display name's slug, else its position from 1.
fn objective_slug(objective: &Objective, i: usize) -> String {
    objective
        .display_name
        .as_deref()
        .map(slug)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| (i + 1).to_string())
}

/// An objective's display name as a name suffix: lowercase alphanumerics and single dashes.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Checks between SLOs: edge SLOs and their proxy views, names unique once objectives are
/// expanded, policies whose alarm names would collide.
fn cross_checks(slos: &[Slo], problems: &mut Vec<Problem>) {
    // An edge SLO and its proxy view are compared over the same window. A view that is not
    // loaded is not compared (a report on some spec files only); the project's specs are
    // checked whole by a test.
    for slo in slos {
        let Some(view) = &slo.proxy_view else {
            continue;
        };
        let problem = |message: String| Problem {
            file: slo.file.clone(),
            unreadable: false,
            field: format!("{}: metadata.annotations.{PROXY_VIEW}", slo.name),
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
    let mut names = BTreeMap::<&str, &Slo>::new();
    for slo in slos {
        if let Some(first) = names.insert(&slo.name, slo) {
            problems.push(Problem {
                unreadable: false,
                file: slo.file.clone(),
                field: format!("{}: metadata.name", slo.name),
                message: format!("another SLO has the same name ({})", first.file.display()),
            });
        }
    }
    for slo in slos {
        let mut lookbacks = BTreeMap::new();
        for policy in &slo.policies {
            let c = &policy.condition;
            for span in BTreeSet::from([c.lookback, c.short]) {
                if let Some(other) = lookbacks.insert((c.severity, span), &policy.name) {
                    problems.push(Problem {
                        unreadable: false,
                        file: slo.file.clone(),
                        field: format!("{}: spec.alertPolicies", slo.name),
                        message: format!(
                            "policies {other} and {} both look back {span} at {} severity: their alarms would have one name; give one another window",
                            policy.name, c.severity
                        ),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (name, text) into a fresh directory and loads it.
    fn load_files(files: &[(&str, &str)]) -> Result<Loaded, Vec<Problem>> {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("slo-load-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let loaded = load_with(std::slice::from_ref(&dir), Options::default());
        let _ = std::fs::remove_dir_all(&dir);
        loaded
    }

    /// Documents of every kind, written from the specification's text: references across
    /// two files, a YAML list of documents, inline and referenced policies, conditions and
    /// targets, several objectives, a calendar window, RatioTimeslices over a raw ratio, a
    /// Prometheus source and a composite SLO.
    const SERVICE_AND_SOURCES: &str = "\
apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
  displayName: Checkout
spec:
  description: Takes the money.
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: cloudwatch-prod
spec:
  type: CloudWatch
  connectionDetails:
    region: eu-west-1
    accountId: \"123456789012\"
    roleArn: arn:aws:iam::123456789012:role/slo-reader
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prometheus
spec:
  type: Prometheus
  connectionDetails:
    url: http://prometheus:9090
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
  labels:
    team: payments
    tags: [money, user-facing]
spec:
  description: Checkout requests without a server error.
  ratioMetric:
    counter: true
    bad:
      metricSource:
        metricSourceRef: cloudwatch-prod
        spec:
          namespace: Shop
          metricName: Errors
          stat: Sum
          dimensions:
            - name: Service
              value: checkout
    total:
      metricSource:
        metricSourceRef: cloudwatch-prod
        type: CloudWatch
        spec:
          namespace: Shop
          metricName: Requests
          stat: Sum
          dimensions:
            - name: Service
              value: checkout
";

    const ALERTING: &str = "\
- apiVersion: openslo/v1
  kind: AlertNotificationTarget
  metadata:
    name: on-call
  spec:
    description: The payments on-call rota.
    target: arn:aws:sns:eu-west-1:123456789012:payments-on-call
- apiVersion: openslo/v1
  kind: AlertCondition
  metadata:
    name: slow-burn
    annotations:
      openslo-cloudwatch/minEvents: \"50\"
  spec:
    description: Twice the sustainable rate for a day.
    severity: ticket
    condition:
      kind: burnrate
      op: gte
      threshold: 2
      lookbackWindow: 1d
      alertAfter: 0m
- apiVersion: openslo/v1
  kind: AlertPolicy
  metadata:
    name: fast-burn
  spec:
    alertWhenBreaching: true
    alertWhenResolved: false
    conditions:
      - kind: AlertCondition
        metadata:
          name: fast-burn-condition
          annotations:
            openslo-cloudwatch/thresholdWindow: 30d
        spec:
          severity: page
          condition:
            kind: burnrate
            threshold: 14.4
            lookbackWindow: 1h
            alertAfter: 0m
    notificationTargets:
      - targetRef: on-call
";

    const SLOS: &str = "\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
spec:
  service: checkout
  indicatorRef: checkout-errors
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Most requests
      target: 0.99
    - displayName: Nearly all requests
      targetPercent: 99.9
  alertPolicies:
    - alertPolicyRef: fast-burn
    - kind: AlertPolicy
      metadata:
        name: slow-burn-policy
      spec:
        alertWhenBreaching: true
        alertWhenResolved: true
        alertWhenNoData: true
        conditions:
          - conditionRef: slow-burn
        notificationTargets:
          - kind: AlertNotificationTarget
            metadata:
              name: ticket-queue
            spec:
              target: ${aws_sns_topic.tickets.arn}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-latency
spec:
  service: checkout
  indicator:
    metadata:
      name: checkout-latency
    spec:
      thresholdMetric:
        metricSource:
          type: CloudWatch
          spec:
            region: us-east-1
            namespace: Shop
            metricName: Latency
            stat: p99
  timeWindow:
    - duration: 1M
      calendar:
        startTime: 2026-01-01 00:00:00
        timeZone: Europe/Paris
  budgetingMethod: Timeslices
  objectives:
    - op: lte
      value: 300
      target: 0.95
      timeSliceWindow: 5
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: stored-ratio
spec:
  service: checkout
  indicator:
    spec:
      ratioMetric:
        rawType: failure
        raw:
          metricSource:
            type: CloudWatch
            spec: { namespace: Shop, metricName: FailureRatio, stat: Average }
  timeWindow:
    - duration: 2w
      isRolling: true
  budgetingMethod: RatioTimeslices
  objectives:
    - target: 0.99
      timeSliceWindow: 1m
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: from-prometheus
spec:
  service: checkout
  indicator:
    spec:
      thresholdMetric:
        metricSource:
          metricSourceRef: prometheus
          spec:
            query: histogram_quantile(0.99, rate(latency_bucket[5m]))
  timeWindow:
    - duration: 7d
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - op: lt
      value: 0.3
      target: 0.99
      timeSliceWindow: 1m
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-composite
spec:
  service: checkout
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: availability
      target: 0.99
      indicatorRef: checkout-errors
      compositeWeight: 2
    - displayName: also availability
      target: 0.9
      indicatorRef: checkout-errors
";

    fn valid() -> Loaded {
        load_files(&[
            ("a-sources.yaml", SERVICE_AND_SOURCES),
            ("b-alerting.yml", ALERTING),
            ("c-slos.yaml", SLOS),
        ])
        .unwrap()
    }

    #[test]
    fn every_kind_of_the_specification_reads_and_references_resolve_across_files() {
        let loaded = valid();
        let names: Vec<&str> = loaded.slos.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "checkout-availability-most-requests",
                "checkout-availability-nearly-all-requests",
                "checkout-latency",
                "stored-ratio",
                "checkout-composite"
            ]
        );
        for kind in Kind::ALL {
            assert!(
                loaded.documents.get(&kind).is_some_and(|n| *n >= 1),
                "{kind}"
            );
        }
        let unevaluated: Vec<(&str, &str)> = loaded
            .unevaluated
            .iter()
            .map(|u| (u.slo.as_str(), u.reason.as_str()))
            .collect();
        assert_eq!(unevaluated.len(), 1, "{unevaluated:?}");
        assert!(unevaluated[0].0 == "from-prometheus" && unevaluated[0].1.contains("Prometheus"));

        let [most, nearly, latency, stored, composite] = loaded.slos.as_slice() else {
            unreachable!()
        };
        // A composite: one SLO whose components are its objectives, weights averaging 1.
        let Measure::Composite(components) = &composite.indicator else {
            panic!("{composite:?}")
        };
        let parts: Vec<(&str, f64, f64)> = components
            .iter()
            .map(|c| (c.name.as_str(), c.weight, c.target))
            .collect();
        assert_eq!(
            parts,
            [
                ("availability", 4.0 / 3.0, 0.99),
                ("also-availability", 2.0 / 3.0, 0.9)
            ]
        );
        assert!((composite.target - (4.0 / 3.0 * 0.99 + 2.0 / 3.0 * 0.9) / 2.0).abs() < 1e-12);
        assert_eq!(composite.connection, most.connection);
        assert_eq!(composite.policies.len(), 4);
        // Each objective is its own SLO with its own target; targetPercent is a percentage.
        assert_eq!(most.target, 0.99);
        assert!((nearly.target - 0.999).abs() < 1e-12);
        assert_eq!(most.display_name, "Checkout availability: Most requests");
        // The DataSource's connection, never printed.
        assert_eq!(most.connection.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            most.connection.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/slo-reader")
        );
        assert!(!format!("{most:?}").contains("slo-reader"));
        // The referenced policy and the inline one with its referenced condition.
        let policies: Vec<(&str, Severity, f64, Option<Span>, f64)> = most
            .policies
            .iter()
            .map(|p| {
                let c = &p.condition;
                (
                    p.name.as_str(),
                    c.severity,
                    c.threshold,
                    c.threshold_window,
                    c.min_events,
                )
            })
            .collect();
        assert_eq!(
            policies,
            [
                (
                    "fast-burn",
                    Severity::Page,
                    14.4,
                    Some(Span(30 * 86_400)),
                    10.0
                ),
                ("slow-burn-policy", Severity::Ticket, 2.0, None, 50.0),
            ]
        );
        let slow = &most.policies[1];
        assert_eq!(
            (slow.condition.op, slow.condition.short),
            (Op::Gte, Span(7_200))
        );
        assert!(slow.when_no_data && slow.when_resolved);
        assert_eq!(slow.targets[0].target, "${aws_sns_topic.tickets.arn}");
        assert_eq!(most.policies[0].targets[0].name, "on-call");
        // No alertPolicies: the four default ones.
        let defaults: Vec<&str> = latency.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            defaults,
            [
                "default-page-1h",
                "default-page-6h",
                "default-ticket-1d",
                "default-ticket-3d"
            ]
        );
        assert_eq!(latency.connection.region.as_deref(), Some("us-east-1"));
        assert!(matches!(latency.window, Window::Calendar { .. }));
        // A bare timeSliceWindow counts minutes.
        assert_eq!(latency.time_slice, Some((Span(300), None)));
        assert!(matches!(
            stored.indicator,
            Measure::Raw {
                kind: openslo::RawType::Failure,
                ..
            }
        ));
        assert_eq!(stored.budgeting, BudgetingMethod::RatioTimeslices);
    }

    /// Loads the valid documents with `from` replaced by `to` in the file `file`, and
    /// returns the problems, which must name `field`.
    fn refused(file: &str, from: &str, to: &str) -> Vec<Problem> {
        let mut files = [
            ("a-sources.yaml", SERVICE_AND_SOURCES.to_owned()),
            ("b-alerting.yml", ALERTING.to_owned()),
            ("c-slos.yaml", SLOS.to_owned()),
        ];
        let target = files.iter_mut().find(|(name, _)| *name == file).unwrap();
        assert!(target.1.contains(from), "{from}");
        target.1 = target.1.replacen(from, to, 1);
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        load_files(&files).unwrap_err()
    }

    #[track_caller]
    fn names(problems: &[Problem], field: &str, message: &str) {
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.message.contains(message) && !p.unreadable),
            "no problem at {field:?} saying {message:?} in {problems:#?}"
        );
    }

    #[test]
    fn the_specifications_general_rules_are_refused_with_the_field_named() {
        let slos = "c-slos.yaml";
        names(
            &refused(
                slos,
                "apiVersion: openslo/v1\nkind: SLO",
                "apiVersion: openslo/v2\nkind: SLO",
            ),
            "checkout-availability: apiVersion",
            "expected openslo/v1",
        );
        names(
            &refused(slos, "kind: SLO", "kind: Slo"),
            "checkout-availability: kind",
            "expected one of SLO, SLI, DataSource",
        );
        names(
            &refused(
                slos,
                "name: checkout-latency\nspec",
                "name: Checkout_Latency\nspec",
            ),
            "Checkout_Latency: metadata.name",
            "RFC 1123",
        );
        let long = "x".repeat(64);
        names(
            &refused(slos, "name: stored-ratio", &format!("name: {long}")),
            &format!("{long}: metadata.name"),
            "at most 63",
        );
        names(
            &refused("a-sources.yaml", "team: payments", "-team: payments"),
            "checkout-errors: metadata.labels",
            "starts and ends",
        );
        names(
            &refused(
                "b-alerting.yml",
                "openslo-cloudwatch/minEvents",
                "Bad_Prefix.com/minEvents",
            ),
            "slow-burn: metadata.annotations",
            "DNS subdomain",
        );
        names(
            &refused(
                "a-sources.yaml",
                "description: Takes the money.",
                &format!("description: {}", "x".repeat(1051)),
            ),
            "checkout: spec.description",
            "at most 1050",
        );
        names(
            &refused(
                slos,
                "    - displayName: Most requests\n      target: 0.99",
                "    - displayName: Most requests\n      target: 0.99\n      targetPercent: 99",
            ),
            "checkout-availability: spec.objectives[0]",
            "not both",
        );
        names(
            &refused(slos, "targetPercent: 99.9", "targetPercent: 100"),
            "checkout-availability: spec.objectives[1].targetPercent",
            "[0, 100)",
        );
        names(
            &refused(
                slos,
                "startTime: 2026-01-01 00:00:00",
                "startTime: 2026-13-01 00:00:00",
            ),
            "checkout-latency: spec.timeWindow[0].calendar.startTime",
            "YYYY-MM-DD HH:MM:SS",
        );
        names(
            &refused(slos, "timeZone: Europe/Paris", "timeZone: Europe/Pariss"),
            "checkout-latency: spec.timeWindow[0].calendar.timeZone",
            "IANA",
        );
        names(
            &refused(
                slos,
                "    - duration: 2w\n      isRolling: true",
                "    - duration: 2W\n      isRolling: true",
            ),
            "stored-ratio: spec.timeWindow[0].duration",
            "case-sensitive",
        );
        names(
            &refused(
                slos,
                "    - duration: 4w\n      isRolling: true",
                "    - duration: 1M\n      isRolling: true",
            ),
            "checkout-availability: spec.timeWindow[0].duration",
            "no fixed length",
        );
    }

    #[test]
    fn required_and_mutually_exclusive_fields_are_refused_with_the_field_named() {
        let alerting = "b-alerting.yml";
        names(
            &refused(alerting, "    severity: ticket\n", ""),
            "slow-burn: spec",
            "missing field `severity`",
        );
        names(
            &refused(alerting, "lookbackWindow: 1d", "lookbackWindow: 1H"),
            "slow-burn: spec.condition.lookbackWindow",
            "case-sensitive",
        );
        names(
            &refused(
                alerting,
                "      kind: burnrate\n      op: gte",
                "      kind: budget\n      op: gte",
            ),
            "slow-burn: spec.condition.kind",
            "burnrate",
        );
        names(
            &refused(alerting, "severity: ticket", "severity: sev1"),
            "slow-burn: spec.severity",
            "page",
        );
        names(
            &refused(
                alerting,
                "openslo-cloudwatch/minEvents: \"50\"",
                "openslo-cloudwatch/minEvent: \"50\"",
            ),
            "slow-burn: metadata.annotations.openslo-cloudwatch/minEvent",
            "shortWindow, thresholdWindow and minEvents",
        );
        names(
            &refused(
                alerting,
                "    notificationTargets:\n      - targetRef: on-call\n",
                "",
            ),
            "fast-burn: spec.notificationTargets",
            "required",
        );
        let slos = "c-slos.yaml";
        names(
            &refused(
                slos,
                "          - conditionRef: slow-burn\n",
                "          - conditionRef: slow-burn\n          - conditionRef: slow-burn\n",
            ),
            "checkout-availability: spec.alertPolicies[1].spec.conditions",
            "allows one per policy",
        );
        names(
            &refused(slos, "      value: 300\n", ""),
            "checkout-latency: spec.objectives[0]",
            "needs op and value",
        );
        names(
            &refused(
                slos,
                "    - displayName: Most requests\n      target: 0.99",
                "    - displayName: Most requests\n      target: 0.99\n      op: gt",
            ),
            "checkout-availability: spec.objectives[0]",
            "thresholdMetric indicators only",
        );
        names(
            &refused(
                slos,
                "      targetPercent: 99.9",
                "      targetPercent: 99.9\n      timeSliceTarget: 0.9",
            ),
            "checkout-availability: spec.objectives[1].timeSliceTarget",
            "only with Timeslices",
        );
        names(
            &refused(slos, "      timeSliceWindow: 5\n", ""),
            "checkout-latency: spec.objectives[0].timeSliceWindow",
            "needs a timeSliceWindow",
        );
        names(
            &refused(slos, "        rawType: failure\n", ""),
            "stored-ratio: spec.indicator.spec.ratioMetric.rawType",
            "required with raw",
        );
        names(
            &refused(
                "a-sources.yaml",
                "    total:\n      metricSource:\n        metricSourceRef: cloudwatch-prod\n        type: CloudWatch",
                "    good:\n      metricSource:\n        metricSourceRef: cloudwatch-prod\n        type: CloudWatch",
            ),
            "checkout-errors: spec.ratioMetric",
            "exactly one of good and bad",
        );
        names(
            &refused(
                slos,
                "  indicatorRef: checkout-errors\n  timeWindow:\n    - duration: 4w",
                "  timeWindow:\n    - duration: 4w",
            ),
            "checkout-availability: spec",
            "indicator or indicatorRef is required",
        );
        // Keys in a spec file are refused without their value appearing anywhere.
        let problems = refused(
            "a-sources.yaml",
            "    roleArn: arn:aws:iam::123456789012:role/slo-reader",
            "    secretAccessKey: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
        );
        names(
            &problems,
            "cloudwatch-prod: spec.connectionDetails.secretAccessKey",
            "do not belong in spec files",
        );
        assert!(!format!("{problems:?}").contains("EXAMPLEKEY"));
    }

    #[test]
    fn a_missing_duplicate_or_wrong_kind_reference_names_both_ends() {
        let slos = "c-slos.yaml";
        names(
            &refused(
                slos,
                "indicatorRef: checkout-errors\n  timeWindow:\n    - duration: 4w",
                "indicatorRef: checkout-errorz\n  timeWindow:\n    - duration: 4w",
            ),
            "checkout-availability: spec.indicatorRef",
            "\"checkout-errorz\": no SLI of that name",
        );
        names(
            &refused(
                slos,
                "indicatorRef: checkout-errors\n  timeWindow:\n    - duration: 4w",
                "indicatorRef: prometheus\n  timeWindow:\n    - duration: 4w",
            ),
            "checkout-availability: spec.indicatorRef",
            "\"prometheus\" is a DataSource (",
        );
        names(
            &refused(slos, "alertPolicyRef: fast-burn", "alertPolicyRef: on-call"),
            "checkout-availability: spec.alertPolicies[0].alertPolicyRef",
            "is a AlertNotificationTarget",
        );
        names(
            &refused(
                slos,
                "conditionRef: slow-burn",
                "conditionRef: slow-burning",
            ),
            "checkout-availability: spec.alertPolicies[1].spec.conditions[0].conditionRef",
            "no AlertCondition of that name",
        );
        names(
            &refused("b-alerting.yml", "targetRef: on-call", "targetRef: on-cal"),
            "fast-burn: spec.notificationTargets[0].targetRef",
            "no AlertNotificationTarget of that name",
        );
        names(
            &refused(
                "a-sources.yaml",
                "metricSourceRef: cloudwatch-prod\n        spec:",
                "metricSourceRef: cloudwatch-dev\n        spec:",
            ),
            "checkout-errors: spec.ratioMetric.bad.metricSource.metricSourceRef",
            "no DataSource of that name",
        );
        names(
            &refused(
                "a-sources.yaml",
                "        metricSourceRef: cloudwatch-prod\n        type: CloudWatch",
                "        metricSourceRef: cloudwatch-prod\n        type: Datadog",
            ),
            "checkout-errors: spec.ratioMetric.total.metricSource.type",
            "but the DataSource \"cloudwatch-prod\" is \"CloudWatch\"",
        );
        names(
            &refused(
                slos,
                "  service: checkout\n  indicatorRef",
                "  service: checkout-v2\n  indicatorRef",
            ),
            "checkout-availability: spec.service",
            "no Service of that name in the files given (they define checkout)",
        );
        // A second SLI of the same name, in another file.
        let mut files = vec![
            ("a-sources.yaml", SERVICE_AND_SOURCES.to_owned()),
            ("b-alerting.yml", ALERTING.to_owned()),
            ("c-slos.yaml", SLOS.to_owned()),
        ];
        let sli = SERVICE_AND_SOURCES
            .split("---\n")
            .nth(3)
            .unwrap()
            .to_owned();
        files.push(("d-copy.yaml", sli));
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let problems = load_files(&files).unwrap_err();
        let duplicate = problems
            .iter()
            .find(|p| p.field == "checkout-errors: metadata.name")
            .unwrap();
        assert!(duplicate.file.ends_with("d-copy.yaml"), "{duplicate:?}");
        assert!(
            duplicate
                .message
                .contains("another SLI is named \"checkout-errors\" (")
                && duplicate.message.contains("a-sources.yaml"),
            "{duplicate:?}"
        );
    }

    #[test]
    fn a_composite_slos_indicators_are_checked_and_a_refused_document_is_reported_once() {
        names(
            &refused(
                "c-slos.yaml",
                "      indicatorRef: checkout-errors\n      compositeWeight: 2",
                "      indicatorRef: checkout-errorz\n      compositeWeight: 2",
            ),
            "checkout-composite: spec.objectives[0].indicatorRef",
            "no SLI of that name",
        );
        // A policy refused for its shape is not also reported missing where it is referenced.
        let problems = refused(
            "b-alerting.yml",
            "    alertWhenResolved: false\n",
            "    alertWhenResolvd: false\n",
        );
        names(
            &problems,
            "fast-burn: spec.alertWhenResolvd",
            "unknown field",
        );
        assert_eq!(problems.len(), 1, "{problems:#?}");
    }

    #[test]
    fn a_composite_is_refused_where_its_objectives_cannot_be_weighed_together() {
        let slos = "c-slos.yaml";
        let first = "      indicatorRef: checkout-errors\n      compositeWeight: 2";
        names(
            &refused(
                slos,
                first,
                &format!("{first}\n      op: lte\n      value: 1"),
            ),
            "checkout-composite: spec.objectives[0]",
            "op and value are for thresholdMetric indicators only",
        );
        names(
            &refused(
                slos,
                "displayName: also availability",
                "displayName: Availability",
            ),
            "checkout-composite: spec.objectives[1].displayName",
            "two objectives make the component name \"availability\"",
        );
        names(
            &refused(slos, "compositeWeight: 2", "compositeWeight: 0"),
            "checkout-composite: spec.objectives[0].compositeWeight",
            "a weight above 0",
        );
        // The second objective's inline indicator reads the default connection, the first
        // the DataSource's account.
        let other_account = "      indicator:
        spec:
          ratioMetric:
            counter: true
            bad:
              metricSource:
                type: CloudWatch
                spec: {namespace: Shop, metricName: Errors, stat: Sum}
            total:
              metricSource:
                type: CloudWatch
                spec: {namespace: Shop, metricName: Requests, stat: Sum}";
        let second = "      target: 0.9\n      indicatorRef: checkout-errors";
        names(
            &refused(slos, second, &format!("      target: 0.9\n{other_account}")),
            "checkout-composite: spec.objectives[1]",
            "another connection",
        );
        let objectives = "  budgetingMethod: Occurrences
  objectives:
    - displayName: availability
      target: 0.99
      indicatorRef: checkout-errors
      compositeWeight: 2
    - displayName: also availability
      target: 0.9
      indicatorRef: checkout-errors
";
        let sliced = objectives.replace("Occurrences", "Timeslices").replace(
            "compositeWeight: 2\n",
            "compositeWeight: 2\n      timeSliceWindow: 1m\n      timeSliceTarget: 0.9\n",
        ) + "      timeSliceWindow: 5m\n      timeSliceTarget: 0.9\n";
        names(
            &refused(slos, objectives, &sliced),
            "checkout-composite: spec.objectives[1].timeSliceWindow",
            "sliced alike",
        );
    }

    #[test]
    fn a_count_given_as_metric_math_reads_exactly_the_metrics_it_names() {
        let bad = "        spec:
          namespace: Shop
          metricName: Errors
          stat: Sum
          dimensions:
            - name: Service
              value: checkout
";
        let math = |expression: &str, ids: [&str; 2], stat: &str| {
            format!(
                "        spec:
          expression: {expression}
          metrics:
            - {{id: {}, namespace: Shop, metricName: Errors, stat: Sum}}
            - {{id: {}, namespace: Shop, metricName: Throttles, stat: {stat}}}
",
                ids[0], ids[1]
            )
        };
        let sources = [
            (
                "a-sources.yaml",
                SERVICE_AND_SOURCES.replacen(
                    bad,
                    &math(
                        "errors - FILL(throttles, 0)",
                        ["errors", "throttles"],
                        "Sum",
                    ),
                    1,
                ),
            ),
            ("b-alerting.yml", ALERTING.to_owned()),
            ("c-slos.yaml", SLOS.to_owned()),
        ];
        let files: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let loaded = load_files(&files).unwrap();
        let most = &loaded.slos[0];
        let Measure::Ratio {
            bad: Some(bad_query),
            ..
        } = &most.indicator
        else {
            panic!("{most:?}")
        };
        let expression = bad_query.math.as_ref().unwrap();
        assert_eq!(expression.expression, "errors - FILL(throttles, 0)");
        assert_eq!(expression.metrics[1].1.metric, "Throttles");
        // Still the DataSource's connection.
        assert_eq!(most.connection.region.as_deref(), Some("eu-west-1"));

        let at = "checkout-errors: spec.ratioMetric.bad.metricSource.spec";
        let refused = |replacement: String| refused("a-sources.yaml", bad, &replacement);
        names(
            &refused(math("errors - throtles", ["errors", "throttles"], "Sum")),
            &format!("{at}.expression"),
            "reads \"throtles\", which no metric is",
        );
        names(
            &refused(math("errors - throtles", ["errors", "throttles"], "Sum")),
            &format!("{at}.metrics[1].id"),
            "the expression does not read it",
        );
        names(
            &refused(math("errors - errors", ["errors", "errors"], "Sum")),
            &format!("{at}.metrics[1].id"),
            "the id of another metric",
        );
        names(
            &refused(math("Errors - t", ["Errors", "t"], "Sum")),
            &format!("{at}.metrics[0].id"),
            "start with a lowercase letter",
        );
        names(
            &refused(math("errors - throttles", ["errors", "throttles"], "p99")),
            &format!("{at}.metrics[1].stat"),
            "events must be counted",
        );
        names(
            &refused(
                math("errors - throttles", ["errors", "throttles"], "Sum")
                    .replace("          metrics:", "          metrcs:"),
            ),
            &format!("{at}.metrcs"),
            "unknown field `metrcs`, expected one of `region`, `accountId`, `expression`, `metrics`",
        );
    }

    #[test]
    fn a_document_replaces_the_built_in_default_policy_of_the_same_name() {
        let replaced = policy::DEFAULT_DOCUMENTS
            .split("\n---\n")
            .find(|doc| doc.contains("name: default-page-1h"))
            .unwrap()
            .replace("threshold: 14.4", "threshold: 20");
        let loaded = load_files(&[
            ("a-sources.yaml", SERVICE_AND_SOURCES),
            ("b-alerting.yml", ALERTING),
            ("c-slos.yaml", SLOS),
            ("d-policy.yaml", &replaced),
        ])
        .unwrap();
        let latency = loaded
            .slos
            .iter()
            .find(|s| s.name == "checkout-latency")
            .unwrap();
        assert_eq!(latency.policies[0].name, "default-page-1h");
        assert_eq!(latency.policies[0].condition.threshold, 20.0);
        assert_eq!(latency.policies.len(), 4);
    }

    #[test]
    fn objective_names_become_name_suffixes() {
        assert_eq!(slug("Fast answers (p99 < 1 s)"), "fast-answers-p99-1-s");
        assert_eq!(slug("--"), "");
    }
}
