//! The proxy's error type and its stable JSON shape:
//! `{"error":{"code":"...","message":"...","request_id":"..."}}`.

use api::{ErrorBody, RequestError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use telemetry::request::Failure;

/// Every way `/predict` can fail. The codes are part of the public API (README table).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Refused by the request contract the model server applies too.
    #[error(transparent)]
    Request(#[from] RequestError),
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
            Self::Request(refused) => refused.code(),
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
            Self::Request(refused) => refused.status(),
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

    /// The response, with the request id in the body and the [`Failure`] in its extensions
    /// for the telemetry layer, which logs it.
    pub fn into_response_with_id(self, request_id: &str) -> Response {
        let failure = Failure {
            code: self.code().to_owned(),
            class: self.error_class(),
            message: self.to_string(),
            detail: self.detail().map(str::to_owned),
        };
        let body = ErrorBody::new(&failure.code, failure.message.clone(), Some(request_id));
        let mut response = body.into_response_with(self.status());
        response.extensions_mut().insert(failure);
        response
    }
}

impl IntoResponse for ProxyError {
    /// With the id of the request being served (see [`telemetry::request::current`]).
    fn into_response(self) -> Response {
        let request_id = telemetry::request::current().map(|ids| ids.request_id);
        self.into_response_with_id(request_id.as_deref().unwrap_or_default())
    }
}
