//! The SageMaker Runtime call, through the real AWS SDK, and how its failures map to
//! [`ProxyError`]s.

use std::time::Duration;

use api::ErrorBody;
use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::interceptors::InterceptorContext;
use aws_sdk_sagemakerruntime::config::retry::{ClassifyRetry, RetryAction, RetryConfig};
use aws_sdk_sagemakerruntime::config::timeout::TimeoutConfig;
use aws_sdk_sagemakerruntime::config::{BehaviorVersion, Builder};
use aws_sdk_sagemakerruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use axum::http::StatusCode;
use bytes::Bytes;

use crate::error::ProxyError;

/// Timeouts and retries of the SageMaker call.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamPolicy {
    pub connect_timeout: Duration,
    /// Deadline for one attempt.
    pub attempt_timeout: Duration,
    /// Deadline for the whole call, retries included; keep it below the Lambda timeout.
    pub operation_timeout: Duration,
    /// Attempts in total (1 = no retry). The SDK's standard policy retries connection errors,
    /// timeouts and HTTP 500/502/504, never a `ModelError` (424) or a model that is not
    /// ready; throttling and `ServiceUnavailable` are not retried either (see
    /// [`NoRetryWhenBusy`]).
    pub max_attempts: u32,
}

/// The standard AWS configuration chain: environment, profile, Lambda execution role.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Builds the SageMaker Runtime client (once per process) with explicit timeouts and a bounded
/// retry policy; `endpoint_url` overrides where it sends requests.
pub fn client(
    shared: &aws_config::SdkConfig,
    endpoint_url: Option<&str>,
    policy: UpstreamPolicy,
) -> Client {
    let mut builder = Builder::from(shared)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(policy.connect_timeout)
                .operation_attempt_timeout(policy.attempt_timeout)
                .operation_timeout(policy.operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(policy.max_attempts.max(1)))
        .retry_classifier(NoRetryWhenBusy);
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    Client::from_conf(builder.build())
}

/// Forbids retrying the answers that mean "busy" (`503 busy` to the client):
/// `ThrottlingException` and `ServiceUnavailable`, which the SDK's standard policy retries
/// after a backoff of up to a second, and `ModelNotReadyException`, which it does not retry
/// today. Under overload a retry holds the (billed) Lambda, adds load to an endpoint that is
/// already refusing, and turns a quick 503 into a slow one; the client gets `Retry-After` at
/// once instead, and the page honours it.
#[derive(Debug)]
struct NoRetryWhenBusy;

impl ClassifyRetry for NoRetryWhenBusy {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let code = match ctx.output_or_error() {
            Some(Err(error)) => error
                .as_operation_error()
                .and_then(|e| e.downcast_ref::<InvokeEndpointError>())
                .and_then(ProvideErrorMetadata::code),
            _ => None,
        };
        match code {
            Some("ThrottlingException" | "ServiceUnavailable" | "ModelNotReadyException") => {
                RetryAction::RetryForbidden
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "NoRetryWhenBusy"
    }
}

/// `InvokeEndpoint` with the image bytes, its content type and the custom attributes; returns
/// the model server's answer.
pub async fn invoke(
    client: &Client,
    endpoint: &str,
    content_type: &str,
    custom_attributes: &str,
    image: Bytes,
) -> Result<Blob, ProxyError> {
    let output = client
        .invoke_endpoint()
        .endpoint_name(endpoint)
        .content_type(content_type)
        .accept("application/json")
        .custom_attributes(custom_attributes)
        .body(Blob::new(image))
        .send()
        .await
        .map_err(classify)?;
    Ok(output.body.unwrap_or_else(|| Blob::new(Vec::new())))
}

/// Maps an SDK failure to what the client is told. Details stay in the error for the logs.
pub fn classify(error: SdkError<InvokeEndpointError>) -> ProxyError {
    let detail = format!("{error:?}");
    match &error {
        SdkError::TimeoutError(_) => ProxyError::UpstreamTimeout(detail),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            ProxyError::UpstreamTimeout(detail)
        }
        // Refused or dropped connections, broken responses: SageMaker could not be reached.
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ProxyError::UpstreamUnavailable(detail)
        }
        SdkError::ServiceError(service) => match service.err() {
            InvokeEndpointError::ModelError(model) => from_model_error(
                model.original_status_code(),
                model.original_message(),
                &detail,
            ),
            InvokeEndpointError::ModelNotReadyException(_)
            | InvokeEndpointError::ServiceUnavailable(_) => ProxyError::Busy(detail),
            other if other.code() == Some("ThrottlingException") => ProxyError::Busy(detail),
            InvokeEndpointError::InternalFailure(_)
            | InvokeEndpointError::InternalDependencyException(_) => {
                ProxyError::UpstreamUnavailable(detail)
            }
            // ValidationError (e.g. an unknown endpoint) and the rest: our misconfiguration.
            _ => ProxyError::Internal(detail),
        },
        _ => ProxyError::Internal(detail),
    }
}

/// A container 4xx is the client's fault and keeps its status and code; a container that says
/// it is overloaded (429/503) means "retry soon"; any other 5xx is ours.
fn from_model_error(status: Option<i32>, original: Option<&str>, detail: &str) -> ProxyError {
    let status = status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    match status {
        Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
            ProxyError::Busy(format!("the container is overloaded: {detail}"))
        }
        Some(status) if status.is_client_error() => {
            let refusal = original.and_then(|text| serde_json::from_str::<ErrorBody>(text).ok());
            let (code, message) = refusal.map_or_else(
                || ("invalid_request".to_owned(), String::new()),
                |body| (body.error.code, body.error.message),
            );
            let message = if message.is_empty() {
                "the model refused the request".to_owned()
            } else {
                message
            };
            ProxyError::Rejected {
                status,
                code,
                message,
            }
        }
        _ => ProxyError::ModelError(detail.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_4xx_keeps_its_status_and_code() {
        let original = r#"{"error":{"code":"invalid_image","message":"truncated"}}"#;
        match from_model_error(Some(400), Some(original), "d") {
            ProxyError::Rejected {
                status,
                code,
                message,
            } => {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert_eq!(code, "invalid_image");
                assert_eq!(message, "truncated");
            }
            other => panic!("{other:?}"),
        }
        let unparsable = from_model_error(Some(413), Some("<html>"), "d");
        assert_eq!(unparsable.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(unparsable.code(), "invalid_request");
        let no_message = from_model_error(Some(400), Some(r#"{"error":{"code":"x"}}"#), "d");
        assert_eq!(no_message.code(), "x");
        assert_eq!(no_message.to_string(), "the model refused the request");
    }

    #[test]
    fn a_container_5xx_is_a_model_error_unless_it_says_it_is_overloaded() {
        assert_eq!(from_model_error(Some(500), None, "d").code(), "model_error");
        assert_eq!(from_model_error(None, None, "d").code(), "model_error");
        assert_eq!(
            from_model_error(Some(502), None, "d").status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(from_model_error(Some(503), None, "d").code(), "busy");
        assert_eq!(from_model_error(Some(429), None, "d").code(), "busy");
    }
}
