//! `GET /ping` and `POST /invocations`: admission, body, decoding, preprocessing and inference
//! off the async runtime, and the answer, inside the telemetry layer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use api::body;
use api::content::BodyKind;
use api::response::{Invocation, ModelTimings, Ping, Prediction};
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::handler::Handler as _;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use telemetry::metrics::millis;
use telemetry::request::RequestIds;
use telemetry::{catalogue, metrics};
use tower::{Layer as _, ServiceExt as _};

use crate::error::ApiError;
use crate::imaging;
use crate::state::{AppState, LoadedModel, Shared};

/// `GET /ping`: 200 once the model is warm; a refusal is logged here, outside the layer that
/// logs invocations' failures.
pub(crate) async fn ping(State(state): State<AppState>) -> Result<Json<Ping>, ApiError> {
    let model = state.model_with_reason().inspect_err(|refused| {
        tracing::info!(error.code = refused.code(), error.message = %refused, "ping refused");
    })?;
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
pub(crate) fn observe(state: &AppState) -> telemetry::request::Observe {
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
pub(crate) async fn invocation(
    State(state): State<AppState>,
    Extension(ids): Extension<RequestIds>,
    request: Request,
) -> Response {
    let started = Instant::now();
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
        trace_id: ids.trace_id,
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
