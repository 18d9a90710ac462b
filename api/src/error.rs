//! The refusals both services share, and the error body every error answer carries:
//! `{"error":{"code":"...","message":"..."}}` (plus `"request_id"` at the proxy).

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Seconds a client should wait before retrying a 503; every 503 carries it.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Why a request was refused before any work on the image: the same codes, statuses and
/// messages at the proxy and at the model server. The codes are part of the API contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
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
    BodyTimeout(Duration),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// `limit` is the image's limit, also when a JSON body's base64 was over its larger one.
    #[error("the image is over the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
}

impl RequestError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyBody => "empty_body",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidBase64(_) => "invalid_base64",
            Self::InvalidParameter(_) => "invalid_parameter",
            Self::UnreadableBody(_) => "unreadable_body",
            Self::BodyTimeout(_) => "body_timeout",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
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
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    /// Empty when an answer being read gives none.
    #[serde(default)]
    pub message: String,
    /// The proxy's request id (Lambda's invocation id under Lambda); absent at the model
    /// server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &str, message: String, request_id: Option<&str>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                request_id: request_id.map(str::to_owned),
            },
        }
    }

    /// The JSON answer with `status`; a 503 also says when to retry.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = (status, Json(self)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_has_the_stable_shape_with_request_id_only_when_given() {
        let plain = ErrorBody::new("empty_body", "m".into(), None);
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"error":{"code":"empty_body","message":"m"}}"#
        );
        let with_id = ErrorBody::new("busy", "m".into(), Some("abc"));
        assert_eq!(
            serde_json::to_string(&with_id).unwrap(),
            r#"{"error":{"code":"busy","message":"m","request_id":"abc"}}"#
        );
        let read: ErrorBody = serde_json::from_str(r#"{"error":{"code":"c","message":"m"}}"#)
            .expect("a body without request_id reads");
        assert_eq!(read, ErrorBody::new("c", "m".into(), None));
    }

    #[test]
    fn only_a_503_carries_retry_after() {
        let busy = ErrorBody::new("busy", "m".into(), None)
            .into_response_with(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
        let refused = ErrorBody::new("empty_body", "m".into(), None)
            .into_response_with(StatusCode::BAD_REQUEST);
        assert!(!refused.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn every_refusal_is_a_4xx_with_its_own_code() {
        let all = [
            RequestError::EmptyBody,
            RequestError::InvalidJson(String::new()),
            RequestError::InvalidBase64(String::new()),
            RequestError::InvalidParameter(String::new()),
            RequestError::UnreadableBody(String::new()),
            RequestError::BodyTimeout(Duration::from_secs(1)),
            RequestError::UnsupportedMediaType(String::new()),
            RequestError::PayloadTooLarge { limit: 1 },
        ];
        let mut codes: Vec<_> = all.iter().map(RequestError::code).collect();
        assert!(all.iter().all(|e| e.status().is_client_error()));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
