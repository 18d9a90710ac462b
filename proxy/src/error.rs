//! The proxy's error type and its stable JSON shape:
//! `{"error":{"code":"...","message":"...","request_id":"..."}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Every way `/predict` can fail. The codes are part of the public API (README table).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the request body is empty; send an image or a JSON object with image_base64")]
    EmptyBody,
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    #[error("invalid base64 in image_base64: {0}")]
    InvalidBase64(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("the request body could not be read: {0}")]
    UnreadableBody(String),
    #[error("the request body did not arrive within {} s", .0.as_secs())]
    BodyTimeout(std::time::Duration),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the image is over the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A 4xx from the model server, passed on with its status, code and message: the client's
    /// fault, not ours.
    #[error("{message}")]
    Rejected {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// The model server failed (5xx) or answered something unreadable.
    #[error("the model failed to process the image")]
    ModelError(String),
    /// SageMaker throttled us or the model is not ready: retry soon.
    #[error("the service is busy; retry shortly")]
    Busy(String),
    #[error("the model did not answer in time")]
    UpstreamTimeout(String),
    #[error("the model is unreachable")]
    UpstreamUnavailable(String),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("internal error")]
    Internal(String),
}

impl ProxyError {
    pub fn code(&self) -> &str {
        match self {
            Self::EmptyBody => "empty_body",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidBase64(_) => "invalid_base64",
            Self::InvalidParameter(_) => "invalid_parameter",
            Self::UnreadableBody(_) => "unreadable_body",
            Self::BodyTimeout(_) => "body_timeout",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Rejected { code, .. } => code,
            Self::ModelError(_) => "model_error",
            Self::Busy(_) => "busy",
            Self::UpstreamTimeout(_) => "upstream_timeout",
            Self::UpstreamUnavailable(_) => "upstream_unavailable",
            Self::NotFound(_) => "not_found",
            Self::Internal(_) => "internal",
        }
    }

    /// How X-Ray marks the request (error, throttle or fault), like the outcome metrics: a
    /// `busy` is a throttle, any other 4xx the client's error, the rest the server's.
    pub fn error_class(&self) -> telemetry::catalogue::ErrorClass {
        use telemetry::catalogue::ErrorClass;
        match self {
            Self::Busy(_) => ErrorClass::Throttle,
            _ if self.status().is_client_error() => ErrorClass::Client,
            _ => ErrorClass::Server,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::EmptyBody
            | Self::InvalidJson(_)
            | Self::InvalidBase64(_)
            | Self::InvalidParameter(_)
            | Self::UnreadableBody(_) => StatusCode::BAD_REQUEST,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Rejected { status, .. } => *status,
            Self::ModelError(_) | Self::UpstreamUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What is logged but never sent: upstream details of server-side failures.
    fn detail(&self) -> Option<&str> {
        match self {
            Self::ModelError(d)
            | Self::Busy(d)
            | Self::UpstreamTimeout(d)
            | Self::UpstreamUnavailable(d)
            | Self::Internal(d) => Some(d),
            _ => None,
        }
    }

    /// The response, with the request id in the body.
    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let status = self.status();
        match self.detail() {
            // Busy is expected under load: a warning, not an error.
            Some(detail) if matches!(self, Self::Busy(_)) => {
                tracing::warn!(error.code = self.code(), %detail, request_id, "upstream busy");
            }
            Some(detail) => {
                tracing::error!(error.code = self.code(), %detail, request_id, "request failed");
            }
            None => {
                tracing::info!(error.code = self.code(), error.message = %self, request_id, "request refused");
            }
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                request_id,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl IntoResponse for ProxyError {
    /// Errors raised outside a request's context (e.g. unknown routes) carry no request id.
    fn into_response(self) -> Response {
        self.into_response_with_id("")
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    request_id: &'a str,
}
