//! The telemetry around each request, the same for both services, as one tower layer
//! ([`Observe`]): it opens the server span (continuing the caller's trace) and the EMF scope,
//! counts the request first (so one abandoned half-way still counts), and when the answer
//! comes back classifies it from the [`Failure`] the service's error left in the response's
//! extensions (as axum's error-handling example does): the span's error marks, the record's
//! `error_code`, the outcome counters and one log line. Handlers find the request's ids in the
//! request's extensions ([`RequestIds`]); error bodies built anywhere inside find them with
//! [`current`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, HeaderMap, Request, Response};
use http_body::Body;
use tracing::Instrument;

use crate::catalogue::{self, ErrorClass, Metric};
use crate::emf::Identity;
use crate::{TraceContext, metrics, trace};

/// What a failed request says about itself. A service's error type inserts it into the
/// extensions of the response it renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub class: ErrorClass,
    /// What the client was told.
    pub message: String,
    /// What only the logs get (server-side failures).
    pub detail: Option<String>,
}

/// The ids of the request being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIds {
    pub request_id: String,
    /// X-Ray form, `1-xxxxxxxx-...`.
    pub trace_id: String,
}

tokio::task_local! {
    static CURRENT: RequestIds;
}

/// The ids of the request this task serves, inside an [`Observe`]d service.
pub fn current() -> Option<RequestIds> {
    CURRENT.try_with(Clone::clone).ok()
}

/// How a service counts its outcomes (the catalogue names the metrics).
#[derive(Debug, Clone, Copy)]
pub enum OutcomeCounters {
    /// One counter per class, each 0 or 1 on every request, so that the three never count the
    /// same request twice (the proxy's `ServerErrors`, `ClientErrors`, `Throttles`).
    PerClass {
        server: &'static Metric,
        client: &'static Metric,
        throttle: &'static Metric,
    },
    /// One counter: 0 for a success, 1 with the class as its `ErrorClass` dimension for a
    /// failure (the model server's `InvocationErrors`).
    ClassDimension(&'static Metric),
}

/// Where a service finds a request's id and the trace it continues.
pub type Identify = fn(&HeaderMap, &Extensions) -> (String, TraceContext);

/// The layer; see the module.
#[derive(Debug, Clone)]
pub struct Observe {
    identity: Arc<Identity>,
    method: &'static str,
    route: &'static str,
    span_name: &'static str,
    requests: &'static Metric,
    outcomes: OutcomeCounters,
    identify: Identify,
}

impl Observe {
    /// `span_name` is the span's (X-Ray segment's) name, e.g. `POST /predict`; `requests` is
    /// counted once per request, first.
    pub fn new(
        identity: Arc<Identity>,
        (method, route, span_name): (&'static str, &'static str, &'static str),
        requests: &'static Metric,
        outcomes: OutcomeCounters,
        identify: Identify,
    ) -> Self {
        Self {
            identity,
            method,
            route,
            span_name,
            requests,
            outcomes,
            identify,
        }
    }

    fn account(&self, span: &tracing::Span, status: http::StatusCode, failure: Option<&Failure>) {
        // Every error response of the services carries its Failure; an answer that does not
        // (a framework rejection, say) is classified by its status: a 503 (busy, overloaded)
        // is a throttle, another 5xx the server's fault, a 4xx the client's.
        let class = failure.map(|f| f.class).or_else(|| {
            if status == http::StatusCode::SERVICE_UNAVAILABLE {
                Some(ErrorClass::Throttle)
            } else if status.is_server_error() {
                Some(ErrorClass::Server)
            } else if status.is_client_error() {
                Some(ErrorClass::Client)
            } else {
                None
            }
        });
        match self.outcomes {
            OutcomeCounters::PerClass {
                server,
                client,
                throttle,
            } => {
                metrics::count(server, u64::from(class == Some(ErrorClass::Server)));
                metrics::count(client, u64::from(class == Some(ErrorClass::Client)));
                metrics::count(throttle, u64::from(class == Some(ErrorClass::Throttle)));
            }
            OutcomeCounters::ClassDimension(errors) => match class {
                None => metrics::count(errors, 0),
                Some(class) => {
                    metrics::count_with(errors, catalogue::DIM_ERROR_CLASS, class.name(), 1);
                }
            },
        }
        let Some(failure) = failure else {
            if let Some(class) = class {
                let code = format!("http_{}", status.as_u16());
                trace::record_error(span, &code, class);
                metrics::set_property("error_code", code.as_str());
                tracing::warn!(error.code = code, "request failed without an error of ours");
            }
            return;
        };
        trace::record_error(span, &failure.code, failure.class);
        metrics::set_property("error_code", failure.code.as_str());
        let code = failure.code.as_str();
        let detail = failure.detail.as_deref().unwrap_or_default();
        match failure.class {
            ErrorClass::Client => {
                tracing::info!(error.code = code, error.message = %failure.message, "request refused");
            }
            // Expected under load: a warning, not an error.
            ErrorClass::Throttle => {
                tracing::warn!(error.code = code, error.message = %failure.message, detail, "request throttled");
            }
            ErrorClass::Server => {
                tracing::error!(error.code = code, error.message = %failure.message, detail, "request failed");
            }
        }
    }
}

impl<S> tower::Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            config: Arc::new(self.clone()),
        }
    }
}

/// A service inside [`Observe`].
#[derive(Debug, Clone)]
pub struct Observed<S> {
    inner: S,
    config: Arc<Observe>,
}

impl<S, B, R> tower::Service<Request<B>> for Observed<S>
where
    S: tower::Service<Request<B>, Response = Response<R>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
    R: Body + Send + 'static,
{
    type Response = Response<R>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready serves this request; its clone the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        let (request_id, parent) = (config.identify)(request.headers(), request.extensions());
        let (span, trace_id) = trace::server_span(
            config.method,
            config.route,
            config.span_name,
            &request_id,
            parent,
        );
        let ids = RequestIds {
            request_id,
            trace_id,
        };
        request.extensions_mut().insert(ids.clone());
        let properties = [
            ("trace_id", ids.trace_id.clone()),
            ("request_id", ids.request_id.clone()),
        ];
        let trace_header = trace::response_header(&ids.trace_id);
        let identity = config.identity.clone();
        let handled = async move {
            metrics::count(config.requests, 1);
            let Ok(mut response) = inner.call(request).await;
            let span = tracing::Span::current();
            let failure = response.extensions().get::<Failure>();
            config.account(&span, response.status(), failure);
            if let Some(value) = trace_header {
                response.headers_mut().insert(trace::TRACE_HEADER, value);
            }
            trace::record_response(
                &span,
                response.status(),
                response.body().size_hint().exact(),
            );
            Ok(response)
        };
        Box::pin(metrics::scoped(
            identity,
            properties,
            CURRENT.scope(ids, handled.instrument(span)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer as _, ServiceExt as _};

    fn identify(headers: &HeaderMap, _: &Extensions) -> (String, TraceContext) {
        let id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        (id.to_owned(), trace::parent_from_headers(headers))
    }

    fn observe() -> Observe {
        let identity = Identity {
            namespace: "T".into(),
            service: catalogue::Service::ModelServer,
            scope: "m".into(),
        };
        Observe::new(
            Arc::new(identity),
            ("POST", "/invocations", "POST /invocations"),
            &catalogue::INVOCATIONS,
            OutcomeCounters::ClassDimension(&catalogue::INVOCATION_ERRORS),
            identify,
        )
    }

    #[tokio::test]
    async fn handlers_and_error_bodies_see_the_ids_and_the_answer_names_the_trace() {
        let trace = "1-5759e988-bd862e3fe1be46a994272793";
        let inner = tower::service_fn(|request: Request<String>| async move {
            let ids = request.extensions().get::<RequestIds>().cloned();
            let seen = (ids, current());
            Ok::<_, Infallible>(Response::new(format!("{seen:?}")))
        });
        let request = Request::builder()
            .header("x-request-id", "r-1")
            .header(trace::TRACE_HEADER, format!("Root={trace};Sampled=1"))
            .body(String::new())
            .unwrap();
        let response = observe().layer(inner).oneshot(request).await.unwrap();
        let expected = RequestIds {
            request_id: "r-1".into(),
            trace_id: trace.into(),
        };
        assert_eq!(
            response.body(),
            &format!("{:?}", (Some(expected.clone()), Some(expected)))
        );
        assert_eq!(
            response.headers()[trace::TRACE_HEADER],
            format!("Root={trace}").as_str()
        );
        assert_eq!(current(), None, "outside the service there is no request");
    }
}
