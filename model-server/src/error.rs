//! The one error type of the HTTP API, with a stable JSON shape:
//! `{"error":{"code":"...","message":"..."}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::imaging::ImageError;

/// Every way a request can fail. The `code` strings are part of the API contract.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is empty; send an image or a JSON object with image_base64")]
    EmptyBody,
    #[error("the request body is over the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body could not be read: {0}")]
    UnreadableBody(String),
    #[error("{0}")]
    InvalidImage(String),
    #[error("{0}")]
    ImageTooLarge(String),
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    #[error("invalid base64 in image_base64: {0}")]
    InvalidBase64(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("the server is at its limit of {limit} requests in flight; retry shortly")]
    Overloaded { limit: usize },
    #[error("the model is still loading")]
    ModelLoading,
    #[error("the model failed to load{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    ModelUnavailable(Option<String>),
    #[error("the request body did not arrive within {} s", .0.as_secs())]
    BodyTimeout(std::time::Duration),
    #[error("no route for {0}")]
    NotFound(String),
    /// Details are logged, never sent to the client.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "1";

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyBody => "empty_body",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::UnreadableBody(_) => "unreadable_body",
            Self::BodyTimeout(_) => "body_timeout",
            Self::InvalidImage(_) => "invalid_image",
            Self::ImageTooLarge(_) => "image_too_large",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidBase64(_) => "invalid_base64",
            Self::InvalidParameter(_) => "invalid_parameter",
            Self::Overloaded { .. } => "overloaded",
            Self::ModelLoading => "model_loading",
            Self::ModelUnavailable(_) => "model_unavailable",
            Self::NotFound(_) => "not_found",
            Self::Internal(_) => "internal",
        }
    }

    /// The `ErrorClass` dimension of `InvocationErrors`: capacity refusals are throttles, a
    /// model that failed to load is the server's fault like any 5xx, the rest is the client's.
    pub fn error_class(&self) -> telemetry::catalogue::ErrorClass {
        use telemetry::catalogue::ErrorClass;
        match self {
            Self::Overloaded { .. } | Self::ModelLoading => ErrorClass::Throttle,
            Self::ModelUnavailable(_) | Self::Internal(_) => ErrorClass::Server,
            _ => ErrorClass::Client,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::EmptyBody
            | Self::UnreadableBody(_)
            | Self::InvalidImage(_)
            | Self::InvalidJson(_)
            | Self::InvalidBase64(_)
            | Self::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } | Self::ImageTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Overloaded { .. } | Self::ModelLoading | Self::ModelUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ImageError> for ApiError {
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::Unrecognized | ImageError::Unsupported(_) => {
                Self::UnsupportedMediaType(err.to_string())
            }
            ImageError::TooManyPixels { .. } | ImageError::OverDecoderLimit(_) => {
                Self::ImageTooLarge(err.to_string())
            }
            ImageError::Invalid { .. } => Self::InvalidImage(err.to_string()),
            ImageError::Resize(_) => Self::Internal(err.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(error.code = self.code(), detail = %detail, "request failed");
                self.to_string()
            }
            other => {
                tracing::info!(error.code = other.code(), error.message = %other, "request refused");
                other.to_string()
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
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
