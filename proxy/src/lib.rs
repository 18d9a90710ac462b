//! The public API of the service: `POST /predict` validates the image, invokes the SageMaker
//! endpoint through the AWS SDK and answers the top-k classes with timings, request id and
//! X-Ray trace id. The same router runs under Lambda (API Gateway HTTP API) and locally.

pub mod config;
pub mod error;
pub mod request;
pub mod upstream;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::Config;
pub use error::ProxyError;

/// The X-Ray trace header, on requests and responses.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

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
    allowed_origins: Vec<String>,
    /// True until the first `/predict` this process handles.
    cold: AtomicBool,
}

impl AppState {
    pub fn new(client: aws_sdk_sagemakerruntime::Client, config: &Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                endpoint_name: config.endpoint_name.clone(),
                max_image_bytes: config.max_image_bytes,
                allowed_origins: config.origins(),
                cold: AtomicBool::new(true),
            }),
        }
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
        .max_age(std::time::Duration::from_secs(600))
}

fn api() -> Router<AppState> {
    Router::new()
        .route("/predict", post(predict))
        .route("/health", get(health))
        .method_not_allowed_fallback(not_found)
}

/// `POST /predict`, `GET /health`, CORS on every response; JSON 404 elsewhere.
pub fn app(state: AppState) -> Router {
    let cors = cors(&state.inner.allowed_origins);
    api().fallback(not_found).with_state(state).layer(cors)
}

/// [`app`] plus the web page from `static_dir` at `/` (local mode), when the directory exists.
pub fn app_with_static(state: AppState, static_dir: &Path) -> Router {
    if !static_dir.is_dir() {
        tracing::info!(dir = %static_dir.display(), "no web page directory; serving the API only");
        return app(state);
    }
    let cors = cors(&state.inner.allowed_origins);
    api()
        .fallback_service(tower_http::services::ServeDir::new(static_dir))
        .with_state(state)
        .layer(cors)
}

async fn not_found(uri: Uri) -> ProxyError {
    ProxyError::NotFound(uri.path().to_owned())
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The model server's answer (see model-server's README).
#[derive(Deserialize)]
struct ModelAnswer {
    predictions: Vec<serde_json::Value>,
    model: serde_json::Value,
    timings: ModelTimings,
    cold_start: bool,
}

#[derive(Deserialize)]
struct ModelTimings {
    decode_ms: f64,
    preprocess_ms: f64,
    inference_ms: f64,
}

#[derive(Serialize)]
struct Timings {
    total_ms: f64,
    upstream_ms: f64,
    decode_ms: f64,
    preprocess_ms: f64,
    inference_ms: f64,
}

#[derive(Serialize)]
struct ColdStart {
    proxy: bool,
    model: bool,
}

#[derive(Serialize)]
struct PredictBody {
    predictions: Vec<serde_json::Value>,
    model: serde_json::Value,
    timings: Timings,
    cold_start: ColdStart,
    request_id: String,
    trace_id: String,
}

fn millis(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// The request id: Lambda's invocation id under Lambda, a fresh UUID locally.
fn request_id(request: &Request) -> String {
    request
        .extensions()
        .get::<lambda_http::Context>()
        .map(|context| context.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The X-Ray root trace id (`1-8hex-24hex`) of this request, or a new one. Under Lambda,
/// `lambda_http` has already replaced `X-Amzn-Trace-Id` with the invocation's own trace (which
/// API Gateway started or continued); the context is the fallback when the header is absent.
fn trace_id(request: &Request) -> String {
    let header = request
        .headers()
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let lambda = request
        .extensions()
        .get::<lambda_http::Context>()
        .and_then(|context| context.xray_trace_id.clone());
    header
        .iter()
        .chain(lambda.iter())
        .find_map(|value| root_of(value))
        .unwrap_or_else(new_trace_id)
}

/// `Root=1-...;Parent=...;Sampled=1` → `1-...`, if well formed.
pub fn root_of(header: &str) -> Option<String> {
    header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))
        .filter(|root| is_trace_id(root))
        .map(str::to_owned)
}

/// `1-` + 8 hex digits (epoch seconds) + `-` + 24 hex digits.
pub fn is_trace_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    matches!(parts.as_slice(), ["1", time, random]
        if time.len() == 8 && random.len() == 24
            && time.chars().chain(random.chars()).all(|c| c.is_ascii_hexdigit()))
}

/// A new X-Ray trace id: epoch seconds and 96 random bits.
pub fn new_trace_id() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("1-{:08x}-{}", seconds & 0xFFFF_FFFF, &random[..24])
}

async fn predict(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = request_id(&request);
    let trace_id = trace_id(&request);
    let mut response = match handle_predict(&state, request, &request_id, &trace_id, started).await
    {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response_with_id(&request_id),
    };
    if let Ok(value) = HeaderValue::from_str(&format!("Root={trace_id}")) {
        response.headers_mut().insert(TRACE_HEADER, value);
    }
    response
}

async fn handle_predict(
    state: &AppState,
    request: Request,
    request_id: &str,
    trace_id: &str,
    started: Instant,
) -> Result<PredictBody, ProxyError> {
    let inner = &state.inner;
    let (parts, body) = request.into_parts();
    let limit = inner
        .max_image_bytes
        .div_ceil(3)
        .saturating_mul(4)
        .saturating_add(64 * 1024);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over_limit = std::error::Error::source(&e)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            ProxyError::PayloadTooLarge {
                limit: inner.max_image_bytes,
            }
        } else {
            ProxyError::UnreadableBody(e.to_string())
        }
    })?;
    let prediction = request::validate(
        &parts.headers,
        parts.uri.query(),
        bytes,
        inner.max_image_bytes,
    )?;
    // Cold means the first prediction this process sends upstream (invalid requests do not count).
    let cold_proxy = inner.cold.swap(false, Ordering::Relaxed);
    let attributes = custom_attributes(prediction.top_k, trace_id);
    let upstream_started = Instant::now();
    let answer = upstream::invoke(
        &inner.client,
        &inner.endpoint_name,
        prediction.kind.mime(),
        &attributes,
        prediction.image,
    )
    .await?;
    let upstream_ms = millis(upstream_started);
    let model: ModelAnswer = serde_json::from_slice(answer.as_ref())
        .map_err(|e| ProxyError::ModelError(format!("unreadable model answer: {e}")))?;
    tracing::debug!(request_id, trace_id, upstream_ms, "prediction served");
    Ok(PredictBody {
        predictions: model.predictions,
        model: model.model,
        timings: Timings {
            total_ms: millis(started),
            upstream_ms,
            decode_ms: model.timings.decode_ms,
            preprocess_ms: model.timings.preprocess_ms,
            inference_ms: model.timings.inference_ms,
        },
        cold_start: ColdStart {
            proxy: cold_proxy,
            model: model.cold_start,
        },
        request_id: request_id.to_owned(),
        trace_id: trace_id.to_owned(),
    })
}

/// What the container receives as `X-Amzn-SageMaker-Custom-Attributes`.
fn custom_attributes(top_k: u32, trace_id: &str) -> String {
    format!("top_k={top_k},trace_id={trace_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_follow_the_xray_format() {
        let id = new_trace_id();
        assert!(is_trace_id(&id), "{id}");
        assert_eq!(
            root_of("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
                .as_deref(),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(root_of("Root=garbage;Sampled=1"), None);
        assert!(!is_trace_id("1-5759e988-bd862e3fe1be46a99427279"));
    }
}
