//! Finished spans as X-Ray segment documents (the JSON that the daemon and `PutTraceSegments`
//! take), in our conventions:
//!
//! - a server span is the service's segment, named by the catalogue's service name; under
//!   Lambda, whose own segment is the function's, it is a subsegment of that one instead;
//! - every other span is a subsegment sent on its own (`"type": "subsegment"`) with its parent's
//!   id; a client span calling AWS is in the `aws` namespace, with the operation;
//! - `http` carries the method, the URL path, the status and the response's content length;
//! - `error` for a 4xx or a client error, `throttle` (with `error`, as X-Ray's SDKs do for a
//!   429) for a refusal for capacity (429, 503 `busy`), `fault` for the rest of the 5xx and
//!   failed spans; from the span's `error.class` when it has one, else from its status code;
//! - annotations (indexed, for filter expressions) from a fixed set of attributes
//!   ([`ANNOTATIONS`]); the `timings.*` attributes as metadata in the `timings` namespace, the
//!   other attributes in `attributes`.
//!
//! Why not `opentelemetry-aws`'s `XrayExporter` translator: it sets `error`/`fault` only for
//! spans whose status is ERROR, which the semantic conventions forbid on a server span that
//! answered 4xx; it has no way to mark a 503 `busy` as a throttle; it takes the content length
//! from message events rather than `http.response.body.size`; and a server span is always a
//! segment, which under Lambda would appear beside the function's segment rather than in it.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::Value as OtelValue;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Map, Value, json};

use crate::catalogue::{ErrorClass, Service};

/// Largest segment document X-Ray accepts, over UDP and in `PutTraceSegments` alike (its
/// segment document reference: "A segment document can be up to 64 kB").
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Span attributes that become annotations, and the annotation keys (X-Ray allows letters,
/// digits and `_` only).
pub const ANNOTATIONS: &[(&str, &str)] = &[
    ("model.name", "model_name"),
    ("model.version", "model_version"),
    ("aws.sagemaker.endpoint_name", "endpoint"),
    ("error.type", "error_code"),
    ("faas.coldstart", "cold_start"),
    ("request_id", "request_id"),
];

/// Attributes whose prefix puts them into the `timings` metadata namespace.
const TIMINGS_PREFIX: &str = "timings.";

/// Attributes the document carries elsewhere, or that only repeat what X-Ray shows anyway.
const CONSUMED: &[&str] = &[
    "http.request.method",
    "http.route",
    "url.path",
    "http.response.status_code",
    "http.response.body.size",
    "error.class",
    "rpc.system",
    "rpc.method",
    // The correlation field of the log lines: the document's own trace_id.
    "trace_id",
    // tracing-opentelemetry's additions (source location, thread, level, busy/idle time).
    "level",
    "target",
    "busy_ns",
    "idle_ns",
];
const CONSUMED_PREFIXES: &[&str] = &["code.", "thread."];

/// Longest annotation string value X-Ray indexes.
const MAX_ANNOTATION_CHARS: usize = 1000;
/// Longest segment name.
const MAX_NAME_CHARS: usize = 200;

/// Where this process's spans sit in X-Ray's tree.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The service, whose catalogue name ([`Service::name`]) names its segment.
    pub service: Service,
    /// Lambda owns the function's segment: the server span becomes its subsegment.
    pub under_lambda: bool,
}

/// The segment document of `span` as JSON text of at most `max_bytes` (at most
/// [`MAX_DOCUMENT_BYTES`]), or `None` when it cannot be sent (invalid ids, or too large even
/// without its metadata).
pub fn render(span: &SpanData, layout: &Layout, max_bytes: usize) -> Option<String> {
    let max_bytes = max_bytes.min(MAX_DOCUMENT_BYTES);
    let mut document = document(span, layout)?;
    let text = serde_json::to_string(&document).ok()?;
    if text.len() <= max_bytes {
        return Some(text);
    }
    // Metadata is the only unbounded part; the segment is still worth having without it.
    document.remove("metadata");
    let text = serde_json::to_string(&document).ok()?;
    (text.len() <= max_bytes).then_some(text)
}

fn seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The span's attribute `key`, if set.
fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn integer(value: &OtelValue) -> Option<i64> {
    match value {
        OtelValue::I64(i) => Some(*i),
        OtelValue::F64(f) if f.fract() == 0.0 =>
        {
            #[allow(clippy::cast_possible_truncation)]
            Some(*f as i64)
        }
        OtelValue::String(s) => s.as_str().parse().ok(),
        _ => None,
    }
}

fn json_value(value: &OtelValue) -> Value {
    match value {
        OtelValue::Bool(b) => Value::Bool(*b),
        OtelValue::I64(i) => Value::from(*i),
        OtelValue::F64(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        OtelValue::String(s) => Value::String(s.as_str().to_owned()),
        other => Value::String(other.to_string()),
    }
}

/// An annotation value: strings (truncated to what X-Ray indexes), numbers and booleans.
fn annotation_value(value: &OtelValue) -> Option<Value> {
    match value {
        OtelValue::String(s) => Some(Value::String(
            s.as_str().chars().take(MAX_ANNOTATION_CHARS).collect(),
        )),
        OtelValue::Bool(_) | OtelValue::I64(_) | OtelValue::F64(_) => Some(json_value(value)),
        _ => None,
    }
}

/// A segment name X-Ray accepts: letters, digits, whitespace and `_ . : / % & # = + \ - @`,
/// at most 200 characters; anything else becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    if name.trim().is_empty() {
        "span".to_owned()
    } else {
        name
    }
}

/// The `error`, `throttle` and `fault` flags of a span.
#[derive(Debug, Default, PartialEq, Eq)]
struct Flags {
    error: bool,
    throttle: bool,
    fault: bool,
}

fn flags(span: &SpanData) -> Flags {
    let client = Flags {
        error: true,
        ..Flags::default()
    };
    let throttle = Flags {
        error: true,
        throttle: true,
        fault: false,
    };
    let fault = Flags {
        fault: true,
        ..Flags::default()
    };
    let class = attribute(span, "error.class").map(OtelValue::as_str);
    match class.as_deref() {
        Some(c) if c == ErrorClass::Client.name() => return client,
        Some(c) if c == ErrorClass::Throttle.name() => return throttle,
        Some(c) if c == ErrorClass::Server.name() => return fault,
        _ => {}
    }
    match attribute(span, "http.response.status_code").and_then(integer) {
        Some(429) => throttle,
        Some(400..=499) => client,
        Some(500..=599) => fault,
        _ if matches!(span.status, Status::Error { .. }) => fault,
        _ => Flags::default(),
    }
}

fn http_block(span: &SpanData) -> Option<Value> {
    let mut request = Map::new();
    if let Some(method) = attribute(span, "http.request.method") {
        request.insert("method".into(), Value::String(method.as_str().into_owned()));
    }
    if let Some(path) = attribute(span, "url.path").or_else(|| attribute(span, "http.route")) {
        request.insert("url".into(), Value::String(path.as_str().into_owned()));
    }
    let mut response = Map::new();
    if let Some(status) = attribute(span, "http.response.status_code").and_then(integer) {
        response.insert("status".into(), Value::from(status));
    }
    if let Some(length) = attribute(span, "http.response.body.size").and_then(integer) {
        response.insert("content_length".into(), Value::from(length));
    }
    let mut http = Map::new();
    if !request.is_empty() {
        http.insert("request".into(), Value::Object(request));
    }
    if !response.is_empty() {
        http.insert("response".into(), Value::Object(response));
    }
    (!http.is_empty()).then_some(Value::Object(http))
}

fn is_consumed(key: &str) -> bool {
    CONSUMED.contains(&key)
        || CONSUMED_PREFIXES.iter().any(|p| key.starts_with(p))
        || ANNOTATIONS.iter().any(|(attribute, _)| *attribute == key)
}

/// `document(span)` before serialization; `None` for spans without valid ids.
pub(crate) fn document(span: &SpanData, layout: &Layout) -> Option<Map<String, Value>> {
    let context = &span.span_context;
    if !context.is_valid() {
        return None;
    }
    let parent = (span.parent_span_id != opentelemetry::trace::SpanId::INVALID)
        .then(|| format!("{:016x}", span.parent_span_id));
    let start = seconds(span.start_time);
    let end = seconds(span.end_time).max(start);
    let server = span.span_kind == SpanKind::Server;
    // A subsegment needs a parent to hang from; a root span is a segment whatever its kind.
    let segment = parent.is_none() || (server && !layout.under_lambda);
    let name = if server {
        layout.service.name().to_owned()
    } else {
        sanitize_name(&span.name)
    };

    let mut doc = Map::new();
    doc.insert("name".into(), Value::String(name));
    doc.insert(
        "id".into(),
        Value::String(format!("{:016x}", context.span_id())),
    );
    doc.insert(
        "trace_id".into(),
        Value::String(crate::trace::xray_trace_id(context.trace_id())),
    );
    doc.insert("start_time".into(), json!(start));
    doc.insert("end_time".into(), json!(end));
    if let Some(parent) = parent {
        doc.insert("parent_id".into(), Value::String(parent));
    }
    if !segment {
        doc.insert("type".into(), Value::String("subsegment".into()));
        if span.span_kind == SpanKind::Client {
            let aws = attribute(span, "rpc.system").is_some_and(|s| s.as_str() == "aws-api");
            doc.insert(
                "namespace".into(),
                Value::String(if aws { "aws" } else { "remote" }.into()),
            );
            if let Some(operation) = attribute(span, "rpc.method").filter(|_| aws) {
                doc.insert(
                    "aws".into(),
                    json!({ "operation": operation.as_str().into_owned() }),
                );
            }
        }
    }
    if let Some(http) = http_block(span) {
        doc.insert("http".into(), http);
    }
    // Only the flags that are set: an absent flag is false, and readers that test for the
    // key's presence (moto does) must not see a failure where there is none.
    let flags = flags(span);
    for (key, set) in [
        ("error", flags.error),
        ("throttle", flags.throttle),
        ("fault", flags.fault),
    ] {
        if set {
            doc.insert(key.into(), Value::Bool(true));
        }
    }

    let mut annotations = Map::new();
    for (attribute_key, annotation_key) in ANNOTATIONS {
        if let Some(value) = attribute(span, attribute_key).and_then(annotation_value) {
            annotations.insert((*annotation_key).into(), value);
        }
    }
    if !annotations.is_empty() {
        doc.insert("annotations".into(), Value::Object(annotations));
    }

    let mut timings = Map::new();
    let mut others = Map::new();
    for kv in &span.attributes {
        let key = kv.key.as_str();
        if let Some(timing) = key.strip_prefix(TIMINGS_PREFIX) {
            timings.insert(timing.into(), json_value(&kv.value));
        } else if !is_consumed(key) {
            others.insert(key.into(), json_value(&kv.value));
        }
    }
    let mut metadata = Map::new();
    if !timings.is_empty() {
        metadata.insert("timings".into(), Value::Object(timings));
    }
    if !others.is_empty() {
        metadata.insert("attributes".into(), Value::Object(others));
    }
    if !metadata.is_empty() {
        doc.insert("metadata".into(), Value::Object(metadata));
    }
    Some(doc)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::KeyValue;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;
    use crate::xray::schema;

    const PROXY: Layout = Layout {
        service: Service::Proxy,
        under_lambda: false,
    };
    const LAMBDA: Layout = Layout {
        service: Service::Proxy,
        under_lambda: true,
    };

    fn span(
        kind: SpanKind,
        name: &'static str,
        parent: u64,
        attributes: Vec<KeyValue>,
    ) -> SpanData {
        let start = SystemTime::now();
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_hex("6745a1b2aabbccddeeff001122334455").unwrap(),
                SpanId::from(0x1122_3344_5566_7788),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: kind,
            name: name.into(),
            start_time: start,
            end_time: start + Duration::from_millis(12),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("t").build(),
        }
    }

    fn rendered(span: &SpanData, layout: &Layout) -> Value {
        let text = render(span, layout, MAX_DOCUMENT_BYTES).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        if let Err(problems) = schema::validate(&value) {
            panic!("{text}: {problems:?}");
        }
        value
    }

    fn server(status: i64, extra: Vec<KeyValue>) -> SpanData {
        let mut attributes = vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", "/predict"),
            KeyValue::new("url.path", "/predict"),
            KeyValue::new("http.response.status_code", status),
            KeyValue::new("http.response.body.size", 321_i64),
            KeyValue::new("trace_id", "1-6745a1b2-aabbccddeeff001122334455"),
            KeyValue::new("thread.id", 3_i64),
        ];
        attributes.extend(extra);
        span(
            SpanKind::Server,
            "POST /predict",
            0x53995c3f42cd8ad8,
            attributes,
        )
    }

    #[test]
    fn a_server_span_is_the_services_segment_with_its_http_block() {
        let doc = rendered(&server(200, vec![]), &PROXY);
        assert_eq!(doc["name"], "proxy");
        assert_eq!(doc["id"], "1122334455667788");
        assert_eq!(doc["trace_id"], "1-6745a1b2-aabbccddeeff001122334455");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        assert!(doc.get("type").is_none(), "{doc}");
        assert_eq!(
            doc["http"],
            json!({"request": {"method": "POST", "url": "/predict"},
                   "response": {"status": 200, "content_length": 321}})
        );
        let duration = doc["end_time"].as_f64().unwrap() - doc["start_time"].as_f64().unwrap();
        assert!((duration - 0.012).abs() < 1e-4, "{duration}");
        for key in ["error", "throttle", "fault", "metadata"] {
            assert!(doc.get(key).is_none(), "{key} in {doc}");
        }
    }

    #[test]
    fn under_lambda_the_server_span_is_a_subsegment_of_the_functions_segment() {
        let doc = rendered(&server(200, vec![]), &LAMBDA);
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["name"], "proxy");
        assert_eq!(doc["parent_id"], "53995c3f42cd8ad8");
        // Without a parent (no function segment to hang from) it stays a segment.
        let mut root = server(200, vec![]);
        root.parent_span_id = SpanId::INVALID;
        let doc = rendered(&root, &LAMBDA);
        assert!(
            doc.get("type").is_none() && doc.get("parent_id").is_none(),
            "{doc}"
        );
    }

    #[test]
    fn status_codes_and_error_classes_set_error_throttle_and_fault() {
        let of = |status: i64, class: Option<ErrorClass>| {
            let extra = class
                .map(|c| vec![KeyValue::new("error.class", c.name())])
                .unwrap_or_default();
            let doc = rendered(&server(status, extra), &PROXY);
            ["error", "throttle", "fault"]
                .into_iter()
                .filter(|key| doc.get(*key) == Some(&Value::Bool(true)))
                .collect::<Vec<_>>()
        };
        assert_eq!(of(400, None), ["error"]);
        assert_eq!(of(415, Some(ErrorClass::Client)), ["error"]);
        assert_eq!(of(429, None), ["error", "throttle"]);
        assert_eq!(of(503, Some(ErrorClass::Throttle)), ["error", "throttle"]);
        assert_eq!(of(503, None), ["fault"]);
        assert_eq!(of(502, Some(ErrorClass::Server)), ["fault"]);
        assert!(of(200, None).is_empty());
        let mut failed = span(SpanKind::Internal, "inference", 1, vec![]);
        failed.status = Status::error("boom");
        assert_eq!(rendered(&failed, &PROXY)["fault"], true);
    }

    #[test]
    fn annotations_and_timings_metadata_come_from_their_attributes() {
        let doc = rendered(
            &server(
                400,
                vec![
                    KeyValue::new("model.name", "mobilenetv2-int8"),
                    KeyValue::new("model.version", "1"),
                    KeyValue::new("aws.sagemaker.endpoint_name", "mobilenet"),
                    KeyValue::new("error.type", "invalid_image"),
                    KeyValue::new("faas.coldstart", true),
                    KeyValue::new("request_id", "r-1"),
                    KeyValue::new("timings.upstream_ms", 4.25),
                    KeyValue::new("image.bytes", 78_000_i64),
                ],
            ),
            &PROXY,
        );
        assert_eq!(
            doc["annotations"],
            json!({"model_name": "mobilenetv2-int8", "model_version": "1", "endpoint": "mobilenet",
                   "error_code": "invalid_image", "cold_start": true, "request_id": "r-1"})
        );
        assert_eq!(
            doc["metadata"],
            json!({"timings": {"upstream_ms": 4.25}, "attributes": {"image.bytes": 78_000}})
        );
    }

    #[test]
    fn an_aws_client_span_is_an_aws_subsegment_with_its_operation() {
        let call = span(
            SpanKind::Client,
            "SageMaker.InvokeEndpoint",
            0x99,
            vec![
                KeyValue::new("rpc.system", "aws-api"),
                KeyValue::new("rpc.method", "InvokeEndpoint"),
                KeyValue::new("rpc.service", "SageMaker Runtime"),
            ],
        );
        let doc = rendered(&call, &PROXY);
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["name"], "SageMaker.InvokeEndpoint");
        assert_eq!(doc["namespace"], "aws");
        assert_eq!(doc["aws"]["operation"], "InvokeEndpoint");
        assert_eq!(doc["parent_id"], "0000000000000099");
        let other = span(SpanKind::Client, "GET example", 0x99, vec![]);
        assert_eq!(rendered(&other, &PROXY)["namespace"], "remote");
    }

    #[test]
    fn names_are_sanitized_and_documents_kept_within_64_kb() {
        assert_eq!(sanitize_name("POST /predict"), "POST /predict");
        assert_eq!(sanitize_name("a<b>\"c\""), "a_b__c_");
        assert_eq!(sanitize_name(&"x".repeat(300)).len(), 200);
        let huge = span(
            SpanKind::Internal,
            "decode",
            1,
            vec![KeyValue::new("blob", "y".repeat(70_000))],
        );
        let text = render(&huge, &PROXY, MAX_DOCUMENT_BYTES).unwrap();
        assert!(text.len() <= MAX_DOCUMENT_BYTES);
        assert!(!text.contains("metadata"), "metadata dropped to fit");
        let mut invalid = span(SpanKind::Internal, "decode", 1, vec![]);
        invalid.span_context = SpanContext::empty_context();
        assert!(render(&invalid, &PROXY, MAX_DOCUMENT_BYTES).is_none());
    }
}
