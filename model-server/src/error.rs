//! The one error type of the HTTP API, with a stable JSON shape:
//! `{"error":{"code":"...","message":"..."}}`.

use api::{ErrorBody, RequestError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use telemetry::request::Failure;

use crate::imaging::ImageError;

/// Every way a request can fail. The `code` strings are part of the API contract; the
/// refusals of the request itself are the ones the proxy gives too ([`RequestError`]).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("{0}")]
    InvalidImage(String),
    #[error("{0}")]
    ImageTooLarge(String),
    #[error("the server is at its limit of {limit} requests in flight; retry shortly")]
    Overloaded { limit: usize },
    #[error("the model is still loading")]
    ModelLoading,
    #[error("the model failed to load{}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    ModelUnavailable(Option<String>),
    #[error("no route for {0}")]
    NotFound(String),
    /// Details are logged, never sent to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Request(refused) => refused.code(),
            Self::InvalidImage(_) => "invalid_image",
            Self::ImageTooLarge(_) => "image_too_large",
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
            Self::Request(refused) => refused.status(),
            Self::InvalidImage(_) => StatusCode::BAD_REQUEST,
            Self::ImageTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Overloaded { .. } | Self::ModelLoading | Self::ModelUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ImageError> for ApiError {
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::Unrecognized | ImageError::Unsupported(_) => {
                RequestError::UnsupportedMediaType(err.to_string()).into()
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
    /// The error body, and the [`Failure`] in the extensions for the telemetry layer, which
    /// logs it: an internal error's details go there, never to the client.
    fn into_response(self) -> Response {
        let failure = Failure {
            code: self.code().to_owned(),
            class: self.error_class(),
            message: self.to_string(),
            detail: match &self {
                Self::Internal(detail) => Some(detail.clone()),
                _ => None,
            },
        };
        let body = ErrorBody::new(&failure.code, failure.message.clone(), None);
        let mut response = body.into_response_with(self.status());
        response.extensions_mut().insert(failure);
        response
    }
}
