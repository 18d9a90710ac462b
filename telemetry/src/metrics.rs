//! EMF through the `metrics` facade, one record per request.
//!
//! Why our own recorder rather than `metrics_cloudwatch_embedded` 0.10 (the first candidate):
//! it keeps properties process-wide and aggregates whatever was recorded between flushes, so a
//! record cannot carry the `trace_id` and `request_id` of one request when requests run
//! concurrently (the model server and the local proxy serve many at once); and past 100
//! unflushed values of a histogram it drops the value with a log line. Here each request runs
//! in a [`scoped`] block: everything recorded inside it (through the facade, from the same
//! task) becomes that request's EMF record, rendered by [`crate::emf::render`] within the
//! spec's limits (long arrays split, never dropped) and written by the non-blocking
//! [`crate::sink`]. Metrics recorded outside a scope (e.g. `ModelLoadTime`) are emitted at once
//! as their own record with the process identity.
//!
//! AWS Labs' `metrique` (0.1.x, the second candidate) was assessed from its documentation and
//! features: it also writes one record per unit of work, but its metric names and units come
//! from derive attributes on per-request structs, where ours must come from the shared
//! catalogue that `slo`, the dashboards and the alarms read, and it is pre-1.0; a recorder of
//! about 200 lines over the `metrics` facade was the smaller dependency.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString};
use serde_json::Value;

use crate::catalogue::{self, Metric};
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
        let index = match self
            .entries
            .iter()
            .position(|e| std::ptr::eq(e.metric, metric) && e.labels == labels)
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
    Absolute(u64),
    Observation(f64),
}

fn apply(values: &mut Values, value: Recorded) {
    match (values, value) {
        (Values::Sum(sum), Recorded::Increment(v)) => *sum = sum.saturating_add(v),
        (Values::Sum(sum), Recorded::Absolute(v)) => *sum = v,
        (Values::Observations(list), Recorded::Observation(v)) => list.push(v),
        (Values::Observations(list), Recorded::Increment(v) | Recorded::Absolute(v)) => {
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

/// Installs the EMF recorder as the global `metrics` recorder; `identity` is used for metrics
/// recorded outside a request scope. Later calls do nothing.
pub fn install(identity: Identity) {
    if PROCESS_IDENTITY.set(identity).is_ok() {
        // Fails only when another recorder is installed already; then ours stays unused.
        let _ = metrics::set_global_recorder(EmfRecorder);
    }
}

/// Adds `value` to counter `metric` (`0` still emits the metric: rates need the zeros).
pub fn count(metric: &'static Metric, value: u64) {
    metrics::counter!(metric.name).increment(value);
}

/// [`count`] with one extra dimension (one of the metric's `extra_dimensions`).
pub fn count_with(metric: &'static Metric, dimension: &'static str, dim_value: &str, value: u64) {
    metrics::counter!(metric.name, dimension => dim_value.to_owned()).increment(value);
}

/// Records one observation of distribution `metric`.
pub fn observe(metric: &'static Metric, value: f64) {
    metrics::histogram!(metric.name).record(value);
}

/// [`observe`] with one extra dimension.
pub fn observe_with(metric: &'static Metric, dimension: &'static str, dim_value: &str, value: f64) {
    metrics::histogram!(metric.name, dimension => dim_value.to_owned()).record(value);
}

/// Milliseconds with microsecond resolution, the unit of every latency metric.
pub fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

#[derive(Debug)]
struct EmfRecorder;

/// The handle behind every counter and histogram: it finds the current request's scope at
/// the time of the call.
#[derive(Debug)]
struct Handle {
    name: KeyName,
    labels: Vec<(String, String)>,
}

impl Handle {
    fn record(&self, value: Recorded) {
        let in_scope = SCOPE.try_with(|scope| {
            let mut scope = scope.borrow_mut();
            match catalogue::find(scope.identity.service, self.name.as_str()) {
                Some(metric) => scope.add(metric, self.labels.clone(), value),
                None => uncatalogued(self.name.as_str()),
            }
        });
        if in_scope.is_err() {
            self.record_alone(value);
        }
    }

    fn record_alone(&self, value: Recorded) {
        let Some(identity) = PROCESS_IDENTITY.get() else {
            return;
        };
        let Some(metric) = catalogue::find(identity.service, self.name.as_str()) else {
            return uncatalogued(self.name.as_str());
        };
        let mut entry = Entry::new(metric, self.labels.clone());
        apply(&mut entry.values, value);
        write(identity, &[entry], &BTreeMap::new());
    }
}

fn uncatalogued(name: &str) {
    tracing::warn!(
        metric = name,
        "metric not in the telemetry catalogue; not emitted"
    );
}

impl metrics::CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.record(Recorded::Increment(value));
    }

    fn absolute(&self, value: u64) {
        self.record(Recorded::Absolute(value));
    }
}

impl metrics::HistogramFn for Handle {
    fn record(&self, value: f64) {
        Self::record(self, Recorded::Observation(value));
    }
}

fn handle(key: &Key) -> Arc<Handle> {
    Arc::new(Handle {
        name: key.name_shared(),
        labels: key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect(),
    })
}

impl metrics::Recorder for EmfRecorder {
    // Units and descriptions come from the catalogue, not from describe_* calls.
    fn describe_counter(&self, _: KeyName, _: Option<metrics::Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<metrics::Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<metrics::Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(handle(key))
    }

    // The catalogue has counters and distributions only: a gauge would name no catalogue
    // entry, so it records nothing.
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(handle(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Service;

    #[test]
    fn scopes_collect_counters_and_observations_per_metric_and_labels() {
        let mut scope = Scope {
            identity: Arc::new(Identity {
                namespace: "T".into(),
                service: Service::Proxy,
                scope: "e".into(),
            }),
            entries: Vec::new(),
            properties: BTreeMap::new(),
            // Not written anywhere by this test.
            emitted: true,
        };
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
