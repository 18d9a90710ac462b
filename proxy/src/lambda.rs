//! Running under AWS Lambda: the router behind `lambda_http`'s adapter, with telemetry flushed
//! after each invocation's response has been posted (so the flush never delays the answer) and
//! before the runtime asks for the next event (after which Lambda may freeze the process).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lambda_http::lambda_runtime::{self, LambdaInvocation, Runtime, layers::TracingLayer};
use telemetry::Telemetry;

type BoxError = lambda_runtime::Error;

/// Serves `router` on the Lambda Runtime API until the process is stopped.
pub async fn run(router: axum::Router, telemetry: Telemetry) -> Result<(), BoxError> {
    // Layers run outermost-last: the flush wraps the service that posts the response.
    Runtime::new(lambda_http::Adapter::from(router))
        .layer(TracingLayer::new())
        .layer(FlushAfterInvocation { telemetry })
        .run()
        .await
}

/// Flushes EMF records, logs and spans once an invocation is answered.
#[derive(Debug, Clone)]
pub struct FlushAfterInvocation {
    telemetry: Telemetry,
}

impl<S> tower::Layer<S> for FlushAfterInvocation {
    type Service = FlushService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FlushService {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

#[derive(Debug)]
pub struct FlushService<S> {
    inner: S,
    telemetry: Telemetry,
}

impl<S> tower::Service<LambdaInvocation> for FlushService<S>
where
    S: tower::Service<LambdaInvocation, Response = (), Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let answered = self.inner.call(invocation);
        let telemetry = self.telemetry.clone();
        Box::pin(async move {
            let outcome = answered.await;
            // Flushing blocks (span export over HTTP), so it runs off the async threads.
            let _ = tokio::task::spawn_blocking(move || telemetry.flush()).await;
            outcome
        })
    }
}
