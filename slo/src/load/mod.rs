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

mod alerting;
mod metrics;
mod objectives;

use objectives::cross_checks;

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
}

#[cfg(test)]
mod tests;
