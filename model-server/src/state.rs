//! The server's shared state: its limits, the model once loaded, the permits that bound the
//! requests in flight and the bodies arriving, and the tracker of recent concurrency.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::imaging::Normalizer;
use crate::model::{Classifier, ModelError};

/// Request limits enforced before and during decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest image, in bytes (after base64 decoding for JSON bodies).
    pub max_image_bytes: usize,
    /// Largest image, in pixels, read from the header before decoding.
    pub max_pixels: u64,
    /// Requests decoding or running inference at the same time; beyond this, 503.
    pub max_in_flight: usize,
    /// Bodies being received at the same time; beyond this, 503.
    pub max_uploads: usize,
    /// Longest time a client may take to send its body; beyond this, 408.
    pub body_timeout: Duration,
}

#[derive(Debug)]
pub(crate) struct LoadedModel {
    pub(crate) classifier: Classifier,
    pub(crate) normalizer: Normalizer,
}

#[derive(Debug)]
pub(crate) struct Shared {
    /// Empty while loading; then the model or the reason it failed, for the process lifetime.
    pub(crate) model: OnceLock<Result<Arc<LoadedModel>, String>>,
    pub(crate) limits: Limits,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) uploads: Arc<Semaphore>,
    /// Detects recent concurrency (see [`Shared::alone`]).
    pub(crate) concurrency: ConcurrencyTracker,
    /// True until the first prediction has been served.
    pub(crate) cold: AtomicBool,
}

/// How long requests must have come one at a time before a lone request may use the all-cores
/// session. Under steady concurrent load there are still instants with one request in flight;
/// giving those all cores would slow the others down, so recent overlap rules it out.
const SOLO_QUIET_PERIOD: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub(crate) struct ConcurrencyTracker {
    epoch: Instant,
    /// Milliseconds since `epoch` when two requests were last in flight together
    /// ([`NEVER`] before the first overlap).
    last_overlap_ms: AtomicU64,
}

const NEVER: u64 = u64::MAX;

impl ConcurrencyTracker {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_overlap_ms: AtomicU64::new(NEVER),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Called with a permit held: records an overlap when other requests hold permits too.
    pub(crate) fn admitted(&self, others_in_flight: usize) {
        if others_in_flight > 0 {
            self.last_overlap_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    fn quiet(&self) -> bool {
        let last = self.last_overlap_ms.load(Ordering::Relaxed);
        last == NEVER
            || self.now_ms().saturating_sub(last)
                >= u64::try_from(SOLO_QUIET_PERIOD.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Shared {
    /// Requests holding a permit besides the caller's.
    pub(crate) fn others_in_flight(&self) -> usize {
        self.limits
            .max_in_flight
            .saturating_sub(self.in_flight.available_permits() + 1)
    }

    /// True when the caller is the only request in flight and none overlapped recently.
    pub(crate) fn alone(&self) -> bool {
        self.others_in_flight() == 0 && self.concurrency.quiet()
    }
}

/// Shared state of the server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) shared: Arc<Shared>,
    /// Dimensions of this server's EMF records.
    pub(crate) identity: Arc<telemetry::Identity>,
    /// Endpoint name served by the local SageMaker Runtime stand-in, when enabled.
    pub(crate) runtime_api_endpoint: Option<Arc<str>>,
}

impl AppState {
    /// A server whose model is not loaded yet: `/ping` answers 503 until
    /// [`AppState::finish_loading`] is called.
    pub fn new(limits: Limits) -> Self {
        let limits = Limits {
            max_in_flight: limits.max_in_flight.max(1),
            max_uploads: limits.max_uploads.max(1),
            ..limits
        };
        Self {
            shared: Arc::new(Shared {
                model: OnceLock::new(),
                in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
                uploads: Arc::new(Semaphore::new(limits.max_uploads)),
                concurrency: ConcurrencyTracker::new(),
                limits,
                cold: AtomicBool::new(true),
            }),
            runtime_api_endpoint: None,
            identity: Arc::new(
                telemetry::Config::default().identity(telemetry::Service::ModelServer, "model"),
            ),
        }
    }

    /// Sets the dimensions of this server's EMF records.
    pub fn with_metrics_identity(mut self, identity: telemetry::Identity) -> Self {
        self.identity = Arc::new(identity);
        self
    }

    /// Also serve `POST /endpoints/{endpoint}/invocations` like SageMaker Runtime does (local
    /// runs and tests only; see [`runtime_api`]).
    pub fn with_runtime_api(mut self, endpoint: &str) -> Self {
        self.runtime_api_endpoint = Some(endpoint.into());
        self
    }

    pub fn runtime_api_endpoint(&self) -> Option<&str> {
        self.runtime_api_endpoint.as_deref()
    }

    /// Records the outcome of loading; only the first call has an effect.
    pub fn finish_loading(&self, outcome: Result<Classifier, ModelError>) {
        let outcome = outcome
            .map(|classifier| {
                let spec = &classifier.preprocess;
                let normalizer = Normalizer::new(spec.mean, spec.std);
                Arc::new(LoadedModel {
                    classifier,
                    normalizer,
                })
            })
            .map_err(|e| e.to_string());
        match &outcome {
            Ok(model) => tracing::info!(
                model.name = %model.classifier.info.name,
                model.version = %model.classifier.info.version,
                classes = model.classifier.num_classes(),
                "model ready"
            ),
            Err(reason) => tracing::error!(%reason, "model failed to load; /ping answers 503"),
        }
        let _ = self.shared.model.set(outcome);
    }

    /// Builds the sessions the model left for later (see
    /// [`Classifier::add_remaining_sessions`]); a failure leaves the server running on fewer.
    pub fn add_remaining_sessions(&self, environment: &ort::environment::Environment) {
        let Ok(model) = self.model() else { return };
        match model.classifier.add_remaining_sessions(environment) {
            Ok(added) => tracing::info!(added, "session pool complete"),
            Err(e) => tracing::warn!(error = %e, "extra sessions failed; serving with fewer"),
        }
    }

    /// The model, or why there is none. Only `/ping` (for operators and SageMaker's health
    /// checks) says why loading failed; invocations get the code without the details.
    pub(crate) fn model(&self) -> Result<Arc<LoadedModel>, ApiError> {
        match self.shared.model.get() {
            None => Err(ApiError::ModelLoading),
            Some(Ok(model)) => Ok(model.clone()),
            Some(Err(_)) => Err(ApiError::ModelUnavailable(None)),
        }
    }

    pub(crate) fn model_with_reason(&self) -> Result<Arc<LoadedModel>, ApiError> {
        match self.shared.model.get() {
            Some(Err(reason)) => Err(ApiError::ModelUnavailable(Some(reason.clone()))),
            _ => self.model(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_request_counts_as_alone_only_after_a_quiet_period() {
        let tracker = ConcurrencyTracker::new();
        assert!(tracker.quiet(), "no overlap yet");
        tracker.admitted(0);
        assert!(tracker.quiet(), "one request at a time is not an overlap");
        tracker.admitted(1);
        assert!(!tracker.quiet(), "just overlapped");
        // An overlap at epoch, with the epoch a quiet period ago.
        let epoch_shift = SOLO_QUIET_PERIOD + Duration::from_millis(5);
        let shifted = ConcurrencyTracker {
            epoch: Instant::now()
                .checked_sub(epoch_shift)
                .unwrap_or_else(Instant::now),
            last_overlap_ms: AtomicU64::new(0),
        };
        assert!(shifted.quiet());
    }

    #[test]
    fn others_in_flight_counts_permits_held_besides_the_callers() {
        let state = AppState::new(Limits {
            max_image_bytes: 1,
            max_pixels: 1,
            max_in_flight: 3,
            max_uploads: 3,
            body_timeout: Duration::from_secs(1),
        });
        let shared = &state.shared;
        let mine = shared.in_flight.clone().try_acquire_owned().unwrap();
        assert_eq!(shared.others_in_flight(), 0);
        assert!(shared.alone());
        let other = shared.in_flight.clone().try_acquire_owned().unwrap();
        assert_eq!(shared.others_in_flight(), 1);
        assert!(!shared.alone());
        drop((mine, other));
    }
}
