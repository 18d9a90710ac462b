//! SageMaker-compatible inference container for ONNX image classifiers.
//!
//! `GET /ping` answers 200 once the model is loaded and warmed up; `POST /invocations` takes an
//! image (raw bytes or base64 JSON) and answers the top-k classes with timings. See the README
//! for the full contract.

pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod imaging;
pub mod model;
pub mod runtime_api;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::handler::Handler as _;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use telemetry::metrics::millis;
use telemetry::{catalogue, metrics};
use tokio::sync::Semaphore;
use tower::{Layer as _, ServiceExt as _};

use api::body;
use api::content::BodyKind;
use api::response::{Invocation, ModelTimings, Ping, Prediction};

pub use config::Config;
pub use error::ApiError;
use imaging::Normalizer;
use model::{Classifier, ModelError};

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
struct LoadedModel {
    classifier: Classifier,
    normalizer: Normalizer,
}

#[derive(Debug)]
struct Shared {
    /// Empty while loading; then the model or the reason it failed, for the process lifetime.
    model: OnceLock<Result<Arc<LoadedModel>, String>>,
    limits: Limits,
    in_flight: Arc<Semaphore>,
    uploads: Arc<Semaphore>,
    /// Detects recent concurrency (see [`Shared::alone`]).
    concurrency: ConcurrencyTracker,
    /// True until the first prediction has been served.
    cold: AtomicBool,
}

/// How long requests must have come one at a time before a lone request may use the all-cores
/// session. Under steady concurrent load there are still instants with one request in flight;
/// giving those all cores would slow the others down, so recent overlap rules it out.
const SOLO_QUIET_PERIOD: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct ConcurrencyTracker {
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
    fn admitted(&self, others_in_flight: usize) {
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
    fn others_in_flight(&self) -> usize {
        self.limits
            .max_in_flight
            .saturating_sub(self.in_flight.available_permits() + 1)
    }

    /// True when the caller is the only request in flight and none overlapped recently.
    fn alone(&self) -> bool {
        self.others_in_flight() == 0 && self.concurrency.quiet()
    }
}

/// Shared state of the server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
    /// Dimensions of this server's EMF records.
    identity: Arc<telemetry::Identity>,
    /// Endpoint name served by the local SageMaker Runtime stand-in, when enabled.
    runtime_api_endpoint: Option<Arc<str>>,
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
    fn model(&self) -> Result<Arc<LoadedModel>, ApiError> {
        match self.shared.model.get() {
            None => Err(ApiError::ModelLoading),
            Some(Ok(model)) => Ok(model.clone()),
            Some(Err(_)) => Err(ApiError::ModelUnavailable(None)),
        }
    }

    fn model_with_reason(&self) -> Result<Arc<LoadedModel>, ApiError> {
        match self.shared.model.get() {
            Some(Err(reason)) => Err(ApiError::ModelUnavailable(Some(reason.clone()))),
            _ => self.model(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.shared.limits
    }
}

/// The HTTP API: `/ping` and `/invocations` (plus the SageMaker Runtime stand-in when enabled),
/// JSON errors for everything else.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/ping", get(ping))
        .route("/invocations", post(invocation).layer(observe(&state)));
    if state.runtime_api_endpoint().is_some() {
        router = router.route(
            "/endpoints/{name}/invocations",
            post(runtime_api::invoke_endpoint),
        );
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

async fn ping(State(state): State<AppState>) -> Result<Json<Ping>, ApiError> {
    let model = state.model_with_reason()?;
    Ok(Json(Ping {
        status: "ok".to_owned(),
        model: model.classifier.info.clone(),
    }))
}

/// What one run of the model produced, before the response is built.
struct Classified {
    predictions: Vec<Prediction>,
    /// Width x height as stored in the file.
    pixels: u64,
    decode: Duration,
    preprocess: Duration,
    inference: Duration,
}

thread_local! {
    // Resizer keeps scratch buffers; one per blocking thread avoids reallocating them.
    static RESIZER: std::cell::RefCell<fast_image_resize::Resizer> =
        std::cell::RefCell::new(fast_image_resize::Resizer::new());
}

fn run_model(
    model: &LoadedModel,
    image: &[u8],
    top_k: usize,
    shared: &Shared,
) -> Result<Classified, ApiError> {
    let limits = &shared.limits;
    let spec = &model.classifier.preprocess;
    let started = Instant::now();
    let decoded = tracing::info_span!("decode", image.bytes = image.len())
        .in_scope(|| imaging::decode(image, limits.max_pixels, spec.resize_shorter))?;
    let decoded_at = Instant::now();
    let tensor = tracing::info_span!("preprocess").in_scope(|| {
        RESIZER.with_borrow_mut(|resizer| {
            imaging::preprocess(&decoded, spec, &model.normalizer, resizer)
        })
    })?;
    let preprocessed_at = Instant::now();
    let probabilities = tracing::info_span!("inference", model.name = %model.classifier.info.name)
        .in_scope(|| model.classifier.probabilities(&tensor, shared.alone()))
        .map_err(|e| ApiError::Internal(format!("inference failed: {e}")))?;
    let inferred_at = Instant::now();
    Ok(Classified {
        predictions: model.classifier.top_k(&probabilities, top_k),
        pixels: u64::from(decoded.stored_width) * u64::from(decoded.stored_height),
        decode: decoded_at - started,
        preprocess: preprocessed_at - decoded_at,
        inference: inferred_at - preprocessed_at,
    })
}

/// A served invocation, before its answer is built.
struct Invoked {
    model: Arc<LoadedModel>,
    classified: Classified,
    cold_start: bool,
}

/// The telemetry of `POST /invocations` (see [`telemetry::request`]): the span continues the
/// trace the caller passed in the custom attributes (or `X-Amzn-Trace-Id`); one EMF record.
fn observe(state: &AppState) -> telemetry::request::Observe {
    telemetry::request::Observe::new(
        state.identity.clone(),
        ("POST", "/invocations", "POST /invocations"),
        &catalogue::INVOCATIONS,
        telemetry::request::OutcomeCounters::ClassDimension(&catalogue::INVOCATION_ERRORS),
        identify,
    )
}

/// `POST /invocations` as the SageMaker Runtime stand-in calls it: the same service as the
/// route.
pub(crate) async fn observed_invocation(state: AppState, request: Request) -> Response {
    let service = observe(&state).layer(invocation.with_state(state));
    let Ok(response) = service.oneshot(request).await;
    response
}

/// `POST /invocations`, inside [`observe`].
async fn invocation(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let trace_id = request
        .extensions()
        .get::<telemetry::request::RequestIds>()
        .map(|ids| ids.trace_id.clone())
        .unwrap_or_default();
    let span = tracing::Span::current();
    if let Ok(model) = state.model() {
        let info = &model.classifier.info;
        telemetry::trace::record_model(&span, &info.name, &info.version);
    }
    let (parts, body) = request.into_parts();
    let invoked = match invocations(state, parts.headers, body).await {
        Ok(invoked) => invoked,
        Err(error) => return error.into_response(),
    };
    let classified = &invoked.classified;
    metrics::observe(&catalogue::DECODE_LATENCY, millis(classified.decode));
    metrics::observe(
        &catalogue::PREPROCESS_LATENCY,
        millis(classified.preprocess),
    );
    metrics::observe(&catalogue::INFERENCE_LATENCY, millis(classified.inference));
    #[allow(clippy::cast_precision_loss)]
    metrics::observe(&catalogue::IMAGE_PIXELS, classified.pixels as f64);
    if invoked.cold_start {
        metrics::count(&catalogue::MODEL_COLD_START, 1);
    }
    let timings = ModelTimings {
        decode_ms: millis(classified.decode),
        preprocess_ms: millis(classified.preprocess),
        inference_ms: millis(classified.inference),
        total_ms: millis(started.elapsed()),
    };
    telemetry::trace::record_cold_start(&span, invoked.cold_start);
    telemetry::trace::record_timings(
        &span,
        &telemetry::trace::StageTimings {
            upstream_ms: None,
            decode_ms: Some(timings.decode_ms),
            preprocess_ms: Some(timings.preprocess_ms),
            inference_ms: Some(timings.inference_ms),
            total_ms: Some(timings.total_ms),
        },
    );
    tracing::debug!(
        top1 = classified.predictions.first().map(|p| p.index),
        total_ms = timings.total_ms,
        cold_start = invoked.cold_start,
        "invocation served"
    );
    Json(Invocation {
        predictions: invoked.classified.predictions,
        model: invoked.model.classifier.info.clone(),
        timings,
        cold_start: invoked.cold_start,
        trace_id,
    })
    .into_response()
}

/// SageMaker's request id header, when a caller (or the stand-in) sets one.
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// The caller's trace: from the custom attributes (how the proxy passes it through SageMaker),
/// else from an `X-Amzn-Trace-Id` header.
fn identify(headers: &HeaderMap, _: &axum::http::Extensions) -> (String, telemetry::TraceContext) {
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    (request_id, parent_trace(headers))
}

fn parent_trace(headers: &HeaderMap) -> telemetry::TraceContext {
    let from_attributes = headers
        .get(api::request::CUSTOM_ATTRIBUTES_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(telemetry::trace::parent_from_custom_attributes);
    match from_attributes {
        Some(parent) if telemetry::trace::has_parent(&parent) => parent,
        _ => telemetry::trace::parent_from_headers(headers),
    }
}

async fn invocations(state: AppState, headers: HeaderMap, body: Body) -> Result<Invoked, ApiError> {
    let limits = state.limits();
    let kind = match api::content::body_kind(&headers) {
        Ok(kind) => kind,
        Err(refused) => {
            // Drained, so the client reads the 415 rather than a reset in mid-upload.
            let bound = body::max_http_body(BodyKind::Json, limits.max_image_bytes);
            body::discard(body, bound, limits.body_timeout).await;
            return Err(refused.into());
        }
    };
    // Bodies are buffered whole, so the number being received at once is bounded too.
    let Ok(upload) = state.shared.uploads.clone().try_acquire_owned() else {
        // Read and drop the body (never buffered) so the client gets the answer rather than a
        // connection reset in the middle of its upload.
        let bound = body::max_http_body(kind, limits.max_image_bytes);
        body::discard(body, bound, limits.body_timeout).await;
        return Err(ApiError::Overloaded {
            limit: limits.max_in_flight,
        });
    };
    let body = body::read_request(body, kind, limits.max_image_bytes, limits.body_timeout).await?;
    drop(upload);
    // Checked after the body arrived, so clients get this answer rather than a reset upload.
    let model = state.model()?;

    // Refuse at once rather than queue: a bounded number of requests decode or infer at a time.
    let permit = state
        .shared
        .in_flight
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Overloaded {
            limit: limits.max_in_flight,
        })?;
    let shared = state.shared.clone();
    shared.concurrency.admitted(shared.others_in_flight());
    let worker_model = model.clone();
    let request_span = tracing::Span::current();
    let classified = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _in_request = request_span.enter();
        // Parsing (base64 of up to 8 MiB) is CPU work too, so it runs here, off the runtime.
        let request = api::request::parse(kind, body, limits.max_image_bytes, || {
            api::request::top_k_from_custom_attributes(&headers)
        })?;
        let top_k = request
            .top_k
            .unwrap_or(worker_model.classifier.top_k_default)
            .min(worker_model.classifier.num_classes());
        run_model(&worker_model, &request.image, top_k, &shared)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("inference task failed: {e}")))??;

    let cold_start = state.shared.cold.swap(false, Ordering::Relaxed);
    Ok(Invoked {
        model,
        classified,
        cold_start,
    })
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
