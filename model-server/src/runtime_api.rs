//! A local stand-in for the SageMaker Runtime `InvokeEndpoint` API
//! (`POST /endpoints/{name}/invocations`), enabled with `--sagemaker-runtime-api NAME`.
//!
//! It lets the proxy run its real `aws-sdk-sagemakerruntime` code path against this container on
//! a laptop or in tests: the container's own answer is wrapped the way SageMaker wraps it.
//! - 2xx: the container's body and content type, plus `x-Amzn-Invoked-Production-Variant`.
//! - Container overloaded (503 `overloaded`): `ThrottlingException`, HTTP 429.
//! - Container not ready (503 `model_loading` / `model_unavailable`): `ModelNotReadyException`,
//!   HTTP 429.
//! - Any other container 4xx/5xx: `ModelError`, HTTP 424, with `OriginalStatusCode`,
//!   `OriginalMessage` (the container's body) and `LogStreamArn`.
//! - Unknown endpoint name: `ValidationError`, HTTP 400.
//!
//! Errors use the restJson1 shape the SDK parses: the `x-amzn-ErrorType` header names the error
//! and the JSON body carries `message` and the error's members.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// Account id used in local ARNs and messages.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// Region used in local ARNs.
pub const LOCAL_REGION: &str = "local";
/// The variant name SageMaker reports for single-variant endpoints.
pub const VARIANT: &str = "AllTraffic";

const ERROR_TYPE: &str = "x-amzn-errortype";
const REQUEST_ID: &str = "x-amzn-requestid";
const INVOKED_VARIANT: &str = "x-amzn-invoked-production-variant";

/// Largest container answer wrapped into a `ModelError` (container answers are small JSON).
const MAX_WRAPPED_BODY: usize = 64 * 1024;

fn request_id() -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = format!(
        "local-{:08x}-{:012x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("local"))
}

fn aws_error(status: StatusCode, error_type: &'static str, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(ERROR_TYPE, HeaderValue::from_static(error_type));
    headers.insert(REQUEST_ID, request_id());
    response
}

fn log_stream_arn(endpoint: &str) -> String {
    format!(
        "arn:aws:logs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
    )
}

/// `POST /endpoints/{name}/invocations`.
pub async fn invoke_endpoint(
    Path(name): Path<String>,
    State(state): State<AppState>,
    request: Request,
) -> Response {
    if state.runtime_api_endpoint() != Some(name.as_str()) {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            json!({ "message": format!("Endpoint {name} of account {LOCAL_ACCOUNT} not found.") }),
        );
    }
    let container = crate::observed_invocation(state, request).await;
    wrap(container, &name).await
}

/// Wraps the container's answer as SageMaker Runtime would.
async fn wrap(container: Response, endpoint: &str) -> Response {
    let status = container.status();
    if status.is_success() {
        let mut response = container;
        response
            .headers_mut()
            .insert(INVOKED_VARIANT, HeaderValue::from_static(VARIANT));
        response.headers_mut().insert(REQUEST_ID, request_id());
        return response;
    }
    let original = axum::body::to_bytes(container.into_body(), MAX_WRAPPED_BODY)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = serde_json::from_str::<serde_json::Value>(&original)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
    match (status, code.as_deref()) {
        (StatusCode::SERVICE_UNAVAILABLE, Some("overloaded")) => aws_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            json!({ "message": "Rate exceeded" }),
        ),
        (StatusCode::SERVICE_UNAVAILABLE, Some("model_loading" | "model_unavailable")) => {
            aws_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ModelNotReadyException",
                json!({ "message": format!("Model for endpoint {endpoint} is not ready.") }),
            )
        }
        _ => {
            let kind = if status.is_client_error() {
                "client"
            } else {
                "server"
            };
            let arn = log_stream_arn(endpoint);
            let message = format!(
                "Received {kind} error ({}) from primary with message \"{original}\". See \
                 the CloudWatch log stream {arn} in account {LOCAL_ACCOUNT} for more information.",
                status.as_u16()
            );
            let mut response = aws_error(
                StatusCode::FAILED_DEPENDENCY,
                "ModelError",
                json!({
                    "message": message,
                    "OriginalStatusCode": status.as_u16(),
                    "OriginalMessage": original,
                    "LogStreamArn": arn,
                }),
            );
            response
                .headers_mut()
                .insert(INVOKED_VARIANT, HeaderValue::from_static(VARIANT));
            response
        }
    }
}
