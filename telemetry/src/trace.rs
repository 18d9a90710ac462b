//! X-Ray traces through OpenTelemetry: X-Ray ids, the X-Ray propagator on HTTP headers and on
//! SageMaker's `CustomAttributes`, and the trace id in X-Ray's `1-8hex-24hex` form.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_aws::trace::{MissingSampledBehavior, XrayIdGenerator, XrayPropagator};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, Sampler, SdkTracerProvider, TracerProviderBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::catalogue::ErrorClass;

/// The X-Ray trace header (requests, responses, and inside `CustomAttributes`).
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// The tracer provider's builder: X-Ray ids, parent-based sampling (X-Ray's `Sampled` flag
/// decides for continued traces, so an unsampled Lambda invocation records nothing), the
/// service's resource. The caller adds the exporter or processor.
pub fn provider_builder(service_name: &str) -> TracerProviderBuilder {
    let mut resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .with_attribute(KeyValue::new("cloud.provider", "aws"));
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        // cloud.region, faas.name, faas.version, faas.max_memory, ... for X-Ray's Lambda view.
        resource = resource.with_detector(Box::new(
            opentelemetry_aws::detector::LambdaResourceDetector,
        ));
    }
    SdkTracerProvider::builder()
        .with_id_generator(XrayIds::default())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource.build())
}

thread_local! {
    /// The trace id the next root span built on this thread must use (see [`start`]).
    static NEXT_TRACE_ID: std::cell::Cell<Option<TraceId>> = const { std::cell::Cell::new(None) };
}

/// X-Ray ids, except that a root span can be given a trace id already chosen upstream.
#[derive(Debug, Default)]
struct XrayIds {
    xray: XrayIdGenerator,
}

impl IdGenerator for XrayIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .take()
            .unwrap_or_else(|| self.xray.new_trace_id())
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        self.xray.new_span_id()
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct OneHeader<'a>(Option<&'a str>);

impl Extractor for OneHeader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key.eq_ignore_ascii_case(TRACE_HEADER) {
            self.0
        } else {
            None
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACE_HEADER]
    }
}

#[derive(Default)]
struct OneHeaderOut(Option<String>);

impl Injector for OneHeaderOut {
    fn set(&mut self, key: &str, value: String) {
        if key.eq_ignore_ascii_case(TRACE_HEADER) {
            self.0 = Some(value);
        }
    }
}

/// The X-Ray propagator; a header without `Sampled` counts as sampled (the default, "deferred",
/// would make the parent-based sampler drop every span of the request).
fn propagator() -> XrayPropagator {
    XrayPropagator::default().with_missing_sampled_behavior(MissingSampledBehavior::Sampled)
}

/// X-Ray's `Sampled=?` (the decision is left to us) as the propagator encodes it.
const DEFERRED: u8 = 0x02;

/// A deferred sampling decision becomes "sampled": we record every request we are asked to
/// decide about, like the root spans we start ourselves.
fn decide_deferred(context: Context) -> Context {
    let span_context = context.span().span_context().clone();
    if span_context.is_sampled() || span_context.trace_flags().to_u8() & DEFERRED == 0 {
        return context;
    }
    Context::new().with_remote_span_context(SpanContext::new(
        span_context.trace_id(),
        span_context.span_id(),
        TraceFlags::SAMPLED,
        true,
        span_context.trace_state().clone(),
    ))
}

/// The remote parent in an `X-Amzn-Trace-Id` value (`Root=1-...;Parent=...;Sampled=1`); an
/// empty context when absent or malformed (a value without `Parent` starts a new trace).
pub fn parent_from_xray(value: Option<&str>) -> Context {
    decide_deferred(propagator().extract(&OneHeader(value)))
}

/// True when `context` holds a (remote) parent span to continue.
pub fn has_parent(context: &Context) -> bool {
    context.has_active_span()
}

/// The remote parent in the `X-Amzn-Trace-Id` request header.
pub fn parent_from_headers(headers: &http::HeaderMap) -> Context {
    decide_deferred(propagator().extract(&HeaderExtractor(headers)))
}

/// `X-Amzn-Trace-Id` value continuing `span`'s trace with it as parent.
pub fn xray_header(span: &tracing::Span) -> Option<String> {
    let mut out = OneHeaderOut::default();
    propagator().inject_context(&span.context(), &mut out);
    out.0
}

/// Key of the trace entry in SageMaker `CustomAttributes` (`key=value` pairs separated by
/// `,`). The value is an X-Ray header, which itself uses `;` and `=`.
pub const CUSTOM_ATTRIBUTES_TRACE_KEY: &str = "X-Amzn-Trace-Id";

/// `attributes` plus the trace context of `span`, for `InvokeEndpoint`'s `CustomAttributes`.
pub fn custom_attributes_with_trace(attributes: &str, span: &tracing::Span) -> String {
    match xray_header(span) {
        Some(header) if attributes.is_empty() => {
            format!("{CUSTOM_ATTRIBUTES_TRACE_KEY}={header}")
        }
        Some(header) => format!("{attributes},{CUSTOM_ATTRIBUTES_TRACE_KEY}={header}"),
        None => attributes.to_owned(),
    }
}

/// The remote parent carried in SageMaker custom attributes, if any.
pub fn parent_from_custom_attributes(attributes: &str) -> Context {
    let value = attributes.split(',').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(CUSTOM_ATTRIBUTES_TRACE_KEY)
            .then_some(value.trim())
    });
    parent_from_xray(value)
}

/// A trace id in X-Ray form: `1-` + 8 hex digits (epoch seconds) + `-` + 24 hex digits.
pub fn xray_trace_id(id: TraceId) -> String {
    let hex = format!("{id:032x}");
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

/// True for `1-8hex-24hex`.
pub fn is_xray_trace_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    matches!(parts.as_slice(), ["1", time, random]
        if time.len() == 8 && random.len() == 24
            && time.chars().chain(random.chars()).all(|c| c.is_ascii_hexdigit()))
}

/// Makes `parent` the parent of `span` and returns the request's trace id in X-Ray form: the
/// span's own (continued or new) when tracing is on, else the parent's, else a new X-Ray id.
/// A parent with a trace id but no parent id (`Root=...` alone, as API Gateway sends it) makes
/// `span` a root span of that trace.
pub fn start(span: &tracing::Span, parent: Context) -> String {
    let parent_context = parent.span().span_context().clone();
    let parent_trace = parent_context.trace_id();
    if parent_context.is_valid() {
        // Only fails when the span already started; ours are fresh.
        let _ = span.set_parent(parent);
    } else if parent_trace != TraceId::INVALID {
        NEXT_TRACE_ID.set(Some(parent_trace));
    }
    // Builds the OpenTelemetry span now, on this thread, so it takes NEXT_TRACE_ID.
    let own = span.context().span().span_context().clone();
    NEXT_TRACE_ID.set(None);
    let id = if own.is_valid() {
        own.trace_id()
    } else if parent_trace != TraceId::INVALID {
        parent_trace
    } else {
        XrayIdGenerator::default().new_trace_id()
    };
    xray_trace_id(id)
}

/// The server span of one HTTP request, named like `POST /predict`, with the OpenTelemetry HTTP
/// attributes and the correlation fields the log lines copy; it continues `parent`. Returns the
/// span and the request's trace id in X-Ray form (see [`start`]). The empty fields are filled
/// by the `record_*` functions below; X-Ray's segment takes its annotations and metadata
/// from them (see [`crate::xray::document`]).
pub fn server_span(
    method: &'static str,
    route: &'static str,
    name: &'static str,
    request_id: &str,
    parent: Context,
) -> (tracing::Span, String) {
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = route,
        http.response.status_code = tracing::field::Empty,
        http.response.body.size = tracing::field::Empty,
        error.r#type = tracing::field::Empty,
        error.class = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        faas.coldstart = tracing::field::Empty,
        model.name = tracing::field::Empty,
        model.version = tracing::field::Empty,
        aws.sagemaker.endpoint_name = tracing::field::Empty,
        timings.upstream_ms = tracing::field::Empty,
        timings.decode_ms = tracing::field::Empty,
        timings.preprocess_ms = tracing::field::Empty,
        timings.inference_ms = tracing::field::Empty,
        timings.total_ms = tracing::field::Empty,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    let trace_id = start(&span, parent);
    span.record("trace_id", trace_id.as_str());
    (span, trace_id)
}

/// Records the answer on a server span: its status, the size of its body when known, and
/// status ERROR for a 5xx only (a 4xx is the client's error, not the server span's, per the
/// semantic conventions).
pub fn record_response(span: &tracing::Span, status: http::StatusCode, body_size: Option<u64>) {
    span.record("http.response.status_code", status.as_u16());
    if let Some(size) = body_size {
        span.record("http.response.body.size", size);
    }
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// Records the error code of a failed request or call (`error.type`) and its class
/// (`error.class`: client, throttle or server), which X-Ray shows as error, throttle or fault.
pub fn record_error(span: &tracing::Span, code: &str, class: ErrorClass) {
    span.record("error.type", code);
    span.record("error.class", class.name());
}

/// Records whether this request was the process's first (`faas.coldstart`).
pub fn record_cold_start(span: &tracing::Span, cold: bool) {
    span.record("faas.coldstart", cold);
}

/// Records the model that served (or would have served) the request.
pub fn record_model(span: &tracing::Span, name: &str, version: &str) {
    span.record("model.name", name);
    span.record("model.version", version);
}

/// Records the SageMaker endpoint a request is for.
pub fn record_endpoint(span: &tracing::Span, endpoint: &str) {
    span.record("aws.sagemaker.endpoint_name", endpoint);
}

/// Milliseconds spent in the stages of a request, each recorded when known.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimings {
    pub upstream_ms: Option<f64>,
    pub decode_ms: Option<f64>,
    pub preprocess_ms: Option<f64>,
    pub inference_ms: Option<f64>,
    pub total_ms: Option<f64>,
}

/// Records `timings` as `timings.*` fields of a server span.
pub fn record_timings(span: &tracing::Span, timings: &StageTimings) {
    for (field, value) in [
        ("timings.upstream_ms", timings.upstream_ms),
        ("timings.decode_ms", timings.decode_ms),
        ("timings.preprocess_ms", timings.preprocess_ms),
        ("timings.inference_ms", timings.inference_ms),
        ("timings.total_ms", timings.total_ms),
    ] {
        if let Some(value) = value {
            span.record(field, value);
        }
    }
}

/// The `X-Amzn-Trace-Id` response header naming the request's trace.
pub fn response_header(trace_id: &str) -> Option<http::HeaderValue> {
    http::HeaderValue::from_str(&format!("Root={trace_id}")).ok()
}

/// `span`'s OpenTelemetry span context (invalid when tracing is off).
pub fn span_context(span: &tracing::Span) -> SpanContext {
    span.context().span().span_context().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_headers_round_trip_through_custom_attributes() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let parent = parent_from_custom_attributes(&format!("top_k=3,X-Amzn-Trace-Id={header}"));
        let context = parent.span().span_context().clone();
        assert!(context.is_valid() && context.is_remote() && context.is_sampled());
        assert_eq!(
            xray_trace_id(context.trace_id()),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(format!("{:016x}", context.span_id()), "53995c3f42cd8ad8");
    }

    #[test]
    fn headers_without_or_with_a_deferred_decision_are_sampled_and_sampled_0_is_kept() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8";
        for value in [header.to_owned(), format!("{header};Sampled=?")] {
            let parent = parent_from_xray(Some(&value));
            let context = parent.span().span_context().clone();
            assert!(context.is_valid() && context.is_sampled(), "{value}");
        }
        let declined = parent_from_xray(Some(&format!("{header};Sampled=0")));
        assert!(!declined.span().span_context().is_sampled());
    }

    #[test]
    fn missing_or_malformed_headers_give_no_parent() {
        assert!(!parent_from_xray(None).has_active_span());
        assert!(!parent_from_xray(Some("Root=garbage;Sampled=1")).has_active_span());
        assert!(!parent_from_custom_attributes("top_k=5").has_active_span());
    }

    #[test]
    fn trace_ids_follow_the_xray_format() {
        let id = xray_trace_id(XrayIdGenerator::default().new_trace_id());
        assert!(is_xray_trace_id(&id), "{id}");
        assert!(!is_xray_trace_id("1-5759e988-bd862e3fe1be46a99427279"));
        assert!(!is_xray_trace_id("2-5759e988-bd862e3fe1be46a994272793"));
    }

    #[test]
    fn a_root_only_header_keeps_its_trace_id_without_a_parent() {
        let parent = parent_from_xray(Some("Root=1-5759e988-bd862e3fe1be46a994272793"));
        assert!(!parent.span().span_context().is_valid());
        let span = tracing::Span::none();
        assert_eq!(start(&span, parent), "1-5759e988-bd862e3fe1be46a994272793");
    }

    #[test]
    fn without_tracing_the_parent_trace_id_is_kept() {
        let parent = parent_from_xray(Some(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        ));
        // No subscriber in this test: the span is disabled and has no context of its own.
        let span = tracing::Span::none();
        assert_eq!(start(&span, parent), "1-5759e988-bd862e3fe1be46a994272793");
        assert!(is_xray_trace_id(&start(&span, Context::new())));
    }
}
