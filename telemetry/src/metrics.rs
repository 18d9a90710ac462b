//! EMF, one record per request.
//!
//! Why our own recorder rather than `metrics_cloudwatch_embedded` 0.10 (the first candidate):
//! it keeps properties process-wide and aggregates whatever was recorded between flushes, so a
//! record cannot carry the `trace_id` and `request_id` of one request when requests run
//! concurrently (the model server and the local proxy serve many at once); and past 100
//! unflushed values of a histogram it drops the value with a log line. Here each request runs
//! in a [`scoped`] block: everything recorded inside it (from the same task) becomes that
//! request's EMF record, rendered by [`crate::emf::render`] within the spec's limits (long
//! arrays split, never dropped) and written by the non-blocking [`crate::sink`]. Metrics
//! recorded outside a scope (e.g. `ModelLoadTime`) are emitted at once as their own record
//! with the process identity.
//!
//! Values are recorded against the catalogue entry itself ([`count`], [`observe`]): no
//! `metrics` facade, whose by-name API would make every value look its entry up again.
//!
//! AWS Labs' `metrique` (0.1.x, the second candidate) was assessed from its documentation and
//! features: it also writes one record per unit of work, but its metric names and units come
//! from derive attributes on per-request structs, where ours must come from the shared
//! catalogue that `slo`, the dashboards and the alarms read, and it is pre-1.0; a recorder of
//! about 150 lines was the smaller dependency.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::catalogue::Metric;
use crate::emf::{self, Entry, Identity, Values};

tokio::task_local! {
    static SCOPE: RefCell<Scope>;
}

static PROCESS_IDENTITY: OnceLock<Identity> = OnceLock::new();

/// The metrics of one request, emitted as one EMF record when the scope ends, also when the
/// request's future is dropped half-way (e.g. a client disconnect): then the record holds what
/// was recorded so far, which is why services count the request as soon as it starts.
#[derive(Debug)]
struct Scope {
    identity: Arc<Identity>,
    entries: Vec<Entry>,
    properties: BTreeMap<String, Value>,
    emitted: bool,
}

impl Scope {
    fn add(&mut self, metric: &'static Metric, labels: Vec<(String, String)>, value: Recorded) {
        // By name: a `const` entry has no single address.
        let index = match self
            .entries
            .iter()
            .position(|e| e.metric.name == metric.name && e.labels == labels)
        {
            Some(index) => index,
            None => {
                self.entries.push(Entry::new(metric, labels));
                self.entries.len() - 1
            }
        };
        apply(&mut self.entries[index].values, value);
    }

    fn emit(&mut self) {
        if self.emitted {
            return;
        }
        self.emitted = true;
        write(&self.identity, &self.entries, &self.properties);
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.emit();
    }
}

#[derive(Debug, Clone, Copy)]
enum Recorded {
    Increment(u64),
    Observation(f64),
}

fn apply(values: &mut Values, value: Recorded) {
    match (values, value) {
        (Values::Sum(sum), Recorded::Increment(v)) => *sum = sum.saturating_add(v),
        (Values::Observations(list), Recorded::Observation(v)) => list.push(v),
        (Values::Observations(list), Recorded::Increment(v)) => {
            #[allow(clippy::cast_precision_loss)]
            list.push(v as f64);
        }
        (Values::Sum(sum), Recorded::Observation(v)) => {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let v = v.max(0.0) as u64;
            *sum = sum.saturating_add(v);
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn write(identity: &Identity, entries: &[Entry], properties: &BTreeMap<String, Value>) {
    if entries.is_empty() {
        return;
    }
    for line in emf::render(identity, now_ms(), entries, properties) {
        crate::sink::send_line(line.into_bytes());
    }
}

/// Runs `future` as one request: metrics recorded inside it form one EMF record with
/// `properties` (at least `trace_id` and `request_id`) and `identity`'s dimensions.
pub async fn scoped<F: Future>(
    identity: Arc<Identity>,
    properties: impl IntoIterator<Item = (&'static str, String)>,
    future: F,
) -> F::Output {
    if !enabled() {
        return future.await;
    }
    let scope = Scope {
        identity,
        entries: Vec::new(),
        properties: properties
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect(),
        emitted: false,
    };
    SCOPE.scope(RefCell::new(scope), future).await
}

/// Adds a plain property (not a dimension) to the current request's record, e.g. the error
/// code; outside a scope it does nothing.
pub fn set_property(name: &str, value: impl Into<Value>) {
    let value = value.into();
    let _ = SCOPE.try_with(|scope| {
        scope.borrow_mut().properties.insert(name.to_owned(), value);
    });
}

/// True once [`install`] ran: recording goes somewhere.
pub fn enabled() -> bool {
    PROCESS_IDENTITY.get().is_some()
}

/// Turns recording on; `identity` is used for metrics recorded outside a request scope.
/// Later calls do nothing.
pub fn install(identity: Identity) {
    let _ = PROCESS_IDENTITY.set(identity);
}

/// Adds `value` to counter `metric` (`0` still emits the metric: rates need the zeros).
pub fn count(metric: &'static Metric, value: u64) {
    record(metric, Vec::new(), Recorded::Increment(value));
}

/// [`count`] with one extra dimension (one of the metric's `extra_dimensions`).
pub fn count_with(metric: &'static Metric, dimension: &'static str, dim_value: &str, value: u64) {
    let labels = vec![(dimension.to_owned(), dim_value.to_owned())];
    record(metric, labels, Recorded::Increment(value));
}

/// Records one observation of distribution `metric`.
pub fn observe(metric: &'static Metric, value: f64) {
    record(metric, Vec::new(), Recorded::Observation(value));
}

/// [`observe`] with one extra dimension.
pub fn observe_with(metric: &'static Metric, dimension: &'static str, dim_value: &str, value: f64) {
    let labels = vec![(dimension.to_owned(), dim_value.to_owned())];
    record(metric, labels, Recorded::Observation(value));
}

/// Into the current request's record, else at once as a record of its own with the process
/// identity (nothing before [`install`]). A metric of another service's catalogue is refused:
/// dashboards and alarms read each metric under its own service's dimensions.
fn record(metric: &'static Metric, labels: Vec<(String, String)>, value: Recorded) {
    let mut labels = Some(labels);
    let in_scope = SCOPE.try_with(|scope| {
        let mut scope = scope.borrow_mut();
        if emitted_by(metric, &scope.identity) {
            scope.add(metric, labels.take().unwrap_or_default(), value);
        }
    });
    if in_scope.is_err()
        && let Some(process) = PROCESS_IDENTITY.get()
        && emitted_by(metric, process)
    {
        let mut entry = Entry::new(metric, labels.take().unwrap_or_default());
        apply(&mut entry.values, value);
        write(process, &[entry], &BTreeMap::new());
    }
}

fn emitted_by(metric: &Metric, identity: &Identity) -> bool {
    let ours = metric.service == identity.service;
    if !ours {
        tracing::warn!(
            metric = metric.name,
            service = identity.service.name(),
            "metric of another service's catalogue; not emitted"
        );
    }
    ours
}

/// Milliseconds with microsecond resolution, the unit of every latency metric.
pub fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{self, Service};

    fn proxy_scope() -> Scope {
        Scope {
            identity: Arc::new(Identity {
                namespace: "T".into(),
                service: Service::Proxy,
                scope: "e".into(),
            }),
            entries: Vec::new(),
            properties: BTreeMap::new(),
            // Not written anywhere by these tests.
            emitted: true,
        }
    }

    #[test]
    fn a_scope_records_its_own_services_metrics_only() {
        let names = SCOPE.sync_scope(RefCell::new(proxy_scope()), || {
            count(&catalogue::REQUESTS, 1);
            count(&catalogue::INVOCATIONS, 1);
            count_with(&catalogue::REQUESTS, "StartType", "cold", 0);
            SCOPE.with(|scope| {
                let scope = scope.borrow();
                let names: Vec<_> = scope.entries.iter().map(|e| e.metric.name).collect();
                names
            })
        });
        assert_eq!(names, ["Requests", "Requests"]);
    }

    #[test]
    fn scopes_collect_counters_and_observations_per_metric_and_labels() {
        let mut scope = proxy_scope();
        scope.add(&catalogue::REQUESTS, vec![], Recorded::Increment(1));
        scope.add(&catalogue::REQUESTS, vec![], Recorded::Increment(2));
        scope.add(&catalogue::LATENCY, vec![], Recorded::Observation(1.5));
        scope.add(&catalogue::LATENCY, vec![], Recorded::Observation(2.5));
        let warm = vec![("StartType".to_owned(), "warm".to_owned())];
        scope.add(&catalogue::LATENCY, warm, Recorded::Observation(3.0));
        assert_eq!(scope.entries.len(), 3);
        assert_eq!(scope.entries[0].values, Values::Sum(3));
        assert_eq!(
            scope.entries[1].values,
            Values::Observations(vec![1.5, 2.5])
        );
    }

    #[test]
    fn millis_keep_microseconds() {
        assert_eq!(millis(std::time::Duration::from_micros(1234)), 1.234);
    }
}
