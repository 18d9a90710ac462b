//! The public API of the service: `POST /predict` validates the image, invokes the SageMaker
//! endpoint through the AWS SDK and answers the top-k classes with timings, request id and
//! X-Ray trace id. The same router runs under Lambda (API Gateway HTTP API) and locally.

pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod lambda;
pub mod request;
pub mod upstream;

use std::path::Path;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api::content::BodyKind;
use api::response::{ColdStart, Invocation, Predict, PredictTimings};
use axum::Json;
use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use telemetry::request::RequestIds;
use telemetry::{catalogue, metrics};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;

pub use config::Config;
pub use error::ProxyError;

/// The X-Ray trace header, on requests and responses.
pub const TRACE_HEADER: &str = telemetry::trace::TRACE_HEADER;

/// Shared, cheap-to-clone state: the SDK client is built once per process.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: aws_sdk_sagemakerruntime::Client,
    endpoint_name: String,
    max_image_bytes: usize,
    body_timeout: Duration,
    allowed_origins: Vec<String>,
    /// True until the first `/predict` this process handles.
    cold: AtomicBool,
    /// Dimensions of this process's EMF records.
    identity: Arc<telemetry::Identity>,
    /// Process start to ready to serve (see [`AppState::mark_ready`]).
    init_duration: OnceLock<Duration>,
}

impl AppState {
    pub fn new(client: aws_sdk_sagemakerruntime::Client, config: &Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                endpoint_name: config.endpoint_name.clone(),
                max_image_bytes: config.max_image_bytes,
                body_timeout: Duration::from_secs(config.body_timeout_seconds),
                allowed_origins: config.origins(),
                cold: AtomicBool::new(true),
                identity: Arc::new(
                    config
                        .telemetry
                        .identity(telemetry::Service::Proxy, &config.endpoint_name),
                ),
                init_duration: OnceLock::new(),
            }),
        }
    }

    /// Records that the process, started at `process_start`, is ready to serve: the
    /// `InitDuration` its first request reports.
    pub fn mark_ready(&self, process_start: Instant) {
        let _ = self.inner.init_duration.set(process_start.elapsed());
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, HeaderName::from_static(TRACE_HEADER)])
        .expose_headers([HeaderName::from_static(TRACE_HEADER), header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

fn api(state: &AppState) -> Router<AppState> {
    let observe = telemetry::request::Observe::new(
        state.inner.identity.clone(),
        ("POST", "/predict", "POST /predict"),
        &catalogue::REQUESTS,
        telemetry::request::OutcomeCounters::PerClass {
            server: &catalogue::SERVER_ERRORS,
            client: &catalogue::CLIENT_ERRORS,
            throttle: &catalogue::THROTTLES,
        },
        identify,
    );
    Router::new()
        .route("/predict", post(predict).layer(observe))
        .route("/health", get(health))
        .method_not_allowed_fallback(not_found)
}

/// `POST /predict`, `GET /health`, CORS on every response; JSON 404 elsewhere.
pub fn app(state: AppState) -> Router {
    let cors = cors(&state.inner.allowed_origins);
    api(&state)
        .fallback(not_found)
        .with_state(state)
        .layer(cors)
}

/// The page's Content-Security-Policy when the proxy serves it (CloudFront sends the same one in
/// AWS): scripts, styles and API calls only from this origin, previews from `blob:` URLs.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// [`app`] plus the web page from `static_dir` at `/` (local mode), when the directory exists,
/// with the security headers CloudFront adds in AWS.
pub fn app_with_static(state: AppState, static_dir: &Path) -> Router {
    if !static_dir.is_dir() {
        tracing::info!(dir = %static_dir.display(), "no web page directory; serving the API only");
        return app(state);
    }
    let cors = cors(&state.inner.allowed_origins);
    let page_headers = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    let mut router = api(&state)
        .fallback_service(tower_http::services::ServeDir::new(static_dir))
        .with_state(state)
        .layer(cors);
    for (name, value) in page_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
}

/// A JSON 404 with the request's id (Lambda's invocation id under Lambda), like every answer.
async fn not_found(request: Request) -> Response {
    let id = request_id(request.extensions());
    let path = request.uri().path();
    tracing::info!(path, request_id = %id, "no route");
    ProxyError::NotFound(path.to_owned()).into_response_with_id(&id)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The request id: Lambda's invocation id under Lambda, a fresh UUID locally.
fn request_id(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<lambda_http::Context>()
        .map(|context| context.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The request's id, and the trace it continues: the `X-Amzn-Trace-Id` header, else (under
/// Lambda) the invocation's own trace, which `lambda_http` normally copies into that header
/// already.
fn identify(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
) -> (String, telemetry::TraceContext) {
    let from_header = telemetry::trace::parent_from_headers(headers);
    let parent = if telemetry::trace::has_parent(&from_header) {
        from_header
    } else {
        let lambda = extensions
            .get::<lambda_http::Context>()
            .and_then(|context| context.xray_trace_id.clone());
        telemetry::trace::parent_from_xray(lambda.as_deref())
    };
    (request_id(extensions), parent)
}

/// What one `/predict` did, for its metrics and span.
#[derive(Debug, Default)]
struct Observed {
    payload_bytes: Option<usize>,
    upstream: Option<Duration>,
    /// This request was the first this proxy process handled.
    proxy_cold: bool,
    model_cold: bool,
}

/// `POST /predict`, inside [`telemetry::request::Observe`] (span, EMF record, outcome).
async fn predict(
    State(state): State<AppState>,
    Extension(ids): Extension<RequestIds>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let mut observed = Observed {
        // Cold means the first request this process handles, valid or not (a cold Lambda
        // invocation is cold whatever it carries).
        proxy_cold: state.inner.cold.swap(false, Ordering::Relaxed),
        ..Observed::default()
    };
    let outcome = handle_predict(&state, request, &ids, &mut observed).await;
    let response = match outcome {
        Ok(body) => {
            let mut body = body;
            body.timings.total_ms = metrics::millis(started.elapsed());
            record_answer(&body);
            Json(body).into_response()
        }
        Err(error) => error.into_response_with_id(&ids.request_id),
    };
    let span = tracing::Span::current();
    telemetry::trace::record_cold_start(&span, observed.proxy_cold);
    telemetry::trace::record_endpoint(&span, &state.inner.endpoint_name);
    record_metrics(&state, &observed, started.elapsed());
    response
}

/// The model and the timings of a served request, on its span (X-Ray annotations and
/// metadata).
fn record_answer(body: &Predict) {
    let span = tracing::Span::current();
    telemetry::trace::record_model(&span, &body.model.name, &body.model.version);
    let timings = &body.timings;
    telemetry::trace::record_timings(
        &span,
        &telemetry::trace::StageTimings {
            upstream_ms: Some(timings.upstream_ms),
            decode_ms: Some(timings.decode_ms),
            preprocess_ms: Some(timings.preprocess_ms),
            inference_ms: Some(timings.inference_ms),
            total_ms: Some(timings.total_ms),
        },
    );
}

/// The latencies, sizes and cold starts of one `/predict` (the outcome counters are the
/// layer's).
fn record_metrics(state: &AppState, observed: &Observed, elapsed: Duration) {
    let start_type = if observed.proxy_cold || observed.model_cold {
        catalogue::START_COLD
    } else {
        catalogue::START_WARM
    };
    metrics::observe_with(
        &catalogue::LATENCY,
        catalogue::DIM_START_TYPE,
        start_type,
        metrics::millis(elapsed),
    );
    if start_type == catalogue::START_COLD {
        let init = observed
            .proxy_cold
            .then(|| state.inner.init_duration.get().copied())
            .flatten()
            .unwrap_or_default();
        metrics::observe(
            &catalogue::COLD_START_LATENCY,
            metrics::millis(init + elapsed),
        );
    }
    if let Some(upstream) = observed.upstream {
        metrics::observe(&catalogue::UPSTREAM_LATENCY, metrics::millis(upstream));
    }
    if let Some(bytes) = observed.payload_bytes {
        #[allow(clippy::cast_precision_loss)]
        metrics::observe(&catalogue::PAYLOAD_BYTES, bytes as f64);
    }
    if observed.proxy_cold {
        metrics::count(&catalogue::COLD_START, 1);
        if let Some(init) = state.inner.init_duration.get() {
            metrics::observe(&catalogue::INIT_DURATION, metrics::millis(*init));
        }
    }
}

async fn handle_predict(
    state: &AppState,
    request: Request,
    ids: &RequestIds,
    observed: &mut Observed,
) -> Result<Predict, ProxyError> {
    let inner = &state.inner;
    let (parts, body) = request.into_parts();
    let kind = match api::content::body_kind(&parts.headers) {
        Ok(kind) => kind,
        Err(refused) => {
            // Drained, so a local client reads the 415 rather than a reset in mid-upload.
            let bound = api::body::max_http_body(BodyKind::Json, inner.max_image_bytes);
            api::body::discard(body, bound, inner.body_timeout).await;
            return Err(refused.into());
        }
    };
    let bytes =
        api::body::read_request(body, kind, inner.max_image_bytes, inner.body_timeout).await?;
    observed.payload_bytes = Some(bytes.len());
    let prediction = tracing::info_span!("validate")
        .in_scope(|| request::validate(kind, parts.uri.query(), bytes, inner.max_image_bytes))?;
    let call = tracing::info_span!(
        "SageMaker.InvokeEndpoint",
        otel.kind = "client",
        rpc.system = "aws-api",
        rpc.service = "SageMaker Runtime",
        rpc.method = "InvokeEndpoint",
        aws.sagemaker.endpoint_name = %inner.endpoint_name,
        error.r#type = tracing::field::Empty,
        error.class = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let attributes = telemetry::trace::custom_attributes_with_trace(
        &api::request::top_k_custom_attribute(prediction.top_k),
        &call,
    );
    let upstream_started = Instant::now();
    let answer = upstream::invoke(
        &inner.client,
        &inner.endpoint_name,
        prediction.kind.mime(),
        &attributes,
        prediction.image,
    )
    .instrument(call.clone())
    .await;
    let upstream_elapsed = upstream_started.elapsed();
    observed.upstream = Some(upstream_elapsed);
    let answer = answer.inspect_err(|e| {
        telemetry::trace::record_error(&call, e.code(), e.error_class());
        call.record("otel.status_code", "ERROR");
    })?;
    let model: Invocation = serde_json::from_slice(answer.as_ref())
        .map_err(|e| ProxyError::ModelError(format!("unreadable model answer: {e}")))?;
    observed.model_cold = model.cold_start;
    let upstream_ms = metrics::millis(upstream_elapsed);
    tracing::debug!(upstream_ms, "prediction served");
    Ok(Predict {
        predictions: model.predictions,
        model: model.model,
        timings: PredictTimings {
            // Set by the caller just before answering.
            total_ms: 0.0,
            upstream_ms,
            decode_ms: model.timings.decode_ms,
            preprocess_ms: model.timings.preprocess_ms,
            inference_ms: model.timings.inference_ms,
        },
        cold_start: ColdStart {
            proxy: observed.proxy_cold,
            model: model.cold_start,
        },
        request_id: ids.request_id.clone(),
        trace_id: ids.trace_id.clone(),
    })
}
