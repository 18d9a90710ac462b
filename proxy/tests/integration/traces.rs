//! One trace across the process boundary, captured with the OpenTelemetry SDK's in-memory
//! exporter: the proxy router (in process) calls, through the real AWS SDK and real HTTP, a
//! model server (in process, on a loopback port) whose SageMaker Runtime stand-in forwards
//! `CustomAttributes` to the container as SageMaker does. The log lines and EMF records of the
//! same request carry the same trace id. One test: the tracing subscriber is process-global.

use std::sync::{Arc, Mutex};

use crate::common::*;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use model_server::model::{Classifier, SessionOptions, init_runtime};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use serde_json::Value;
use telemetry::{Telemetry, catalogue, sink};
use tower::ServiceExt;

const PARENT_SPAN: &str = "53995c3f42cd8ad8";
const TRACE: &str = "1-6745a1b2-0123456789abcdef01234567";

async fn start_model_server() -> String {
    let state = model_server::AppState::new(model_server::Limits {
        max_image_bytes: 6 * 1024 * 1024,
        max_pixels: 40_000_000,
        max_in_flight: 2,
        max_uploads: 8,
        body_timeout: std::time::Duration::from_secs(30),
    })
    .with_runtime_api(ENDPOINT)
    .with_metrics_identity(
        telemetry::Config::default().identity(telemetry::Service::ModelServer, "mobilenet-test"),
    );
    let environment = init_runtime(Some(std::path::Path::new(
        &std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH (scripts/setup.sh)"),
    )))
    .unwrap();
    let options = SessionOptions {
        sessions: 1,
        intra_threads: 1,
        intra_spinning: false,
        solo_threads: 0,
    };
    let model_dir = shared_dir().join("models/mobilenetv2-int8");
    state.finish_loading(Classifier::load(environment, &model_dir, options));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, model_server::app(state)).await });
    format!("http://{addr}")
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {:?}", names(spans)))
}

fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_ref()).collect()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// Span ids as the X-Ray header and the log lines write them: 16 hex digits, zero-padded.
fn hex(id: opentelemetry::trace::SpanId) -> String {
    format!("{id:016x}")
}

async fn post(state: &proxy::AppState, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let header = format!("Root={TRACE};Parent={PARENT_SPAN};Sampled=1");
    post_traced(state, &header, content_type, body).await
}

async fn post_traced(
    state: &proxy::AppState,
    trace_header: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let request = Request::post("/predict")
        .header("content-type", content_type)
        .header("x-amzn-trace-id", trace_header)
        .body(Body::from(body))
        .unwrap();
    let response = proxy::app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_links_proxy_and_model_spans_logs_and_emf_records() {
    let exporter = InMemorySpanExporter::default();
    let lines = Arc::new(Mutex::new(Vec::new()));
    Telemetry::init_with(
        sink::Output::Memory(lines),
        telemetry::Config::default().identity(telemetry::Service::Proxy, ENDPOINT),
        exporter.clone(),
        "info,proxy=debug,model_server=debug",
    )
    .unwrap();
    let model_url = start_model_server().await;
    let state = in_process_state(&model_url);

    let (status, body) = post(&state, "image/jpeg", shared_image("house-finch.jpg")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trace_id"], TRACE);

    let spans = exporter.get_finished_spans().unwrap();
    for span in &spans {
        assert_eq!(
            telemetry::trace::xray_trace_id(span.span_context.trace_id()),
            TRACE,
            "{} is in another trace",
            span.name
        );
    }
    let server = span(&spans, "POST /predict");
    assert_eq!(server.span_kind, SpanKind::Server);
    assert_eq!(hex(server.parent_span_id), PARENT_SPAN);
    assert!(server.parent_span_is_remote);
    assert_eq!(attribute(server, "http.request.method").unwrap(), "POST");
    assert_eq!(attribute(server, "http.route").unwrap(), "/predict");
    assert_eq!(
        attribute(server, "http.response.status_code").unwrap(),
        "200"
    );
    let server_id = server.span_context.span_id();
    assert_eq!(span(&spans, "validate").parent_span_id, server_id);
    let call = span(&spans, "SageMaker.InvokeEndpoint");
    assert_eq!(call.span_kind, SpanKind::Client);
    assert_eq!(call.parent_span_id, server_id);
    assert_eq!(attribute(call, "rpc.method").unwrap(), "InvokeEndpoint");

    // Across the HTTP boundary, through CustomAttributes.
    let container = span(&spans, "POST /invocations");
    assert_eq!(container.span_kind, SpanKind::Server);
    assert_eq!(container.parent_span_id, call.span_context.span_id());
    assert!(container.parent_span_is_remote);
    for stage in ["decode", "preprocess", "inference"] {
        assert_eq!(
            span(&spans, stage).parent_span_id,
            container.span_context.span_id(),
            "{stage}"
        );
    }

    // A refused request: the error type is on the server span.
    exporter.reset();
    let (status, body) = post(&state, "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, 415, "{body}");
    let spans = exporter.get_finished_spans().unwrap();
    let refused = span(&spans, "POST /predict");
    assert_eq!(
        attribute(refused, "error.type").unwrap(),
        "unsupported_media_type"
    );
    assert_eq!(
        attribute(refused, "http.response.status_code").unwrap(),
        "415"
    );
    // Semantic conventions: a 4xx is not an error of the server span.
    assert!(matches!(refused.status, Status::Unset));

    // API Gateway's `Root=` alone: that trace, with the proxy's span as its root.
    exporter.reset();
    let root_only = "1-6745a1b3-ffeeddccbbaa998877665544";
    let (status, body) = post_traced(
        &state,
        &format!("Root={root_only}"),
        "text/plain",
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    let spans = exporter.get_finished_spans().unwrap();
    let root = span(&spans, "POST /predict");
    assert_eq!(
        telemetry::trace::xray_trace_id(root.span_context.trace_id()),
        root_only
    );
    assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert!(root.span_context.is_sampled());

    // Logs and EMF records of the first request carry its trace id, both sides.
    let captured = sink::captured_lines();
    let parsed: Vec<Value> = captured
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let emf: Vec<&Value> = parsed.iter().filter(|v| v.get("_aws").is_some()).collect();
    let proxy_record = emf
        .iter()
        .find(|r| {
            r["Service"] == "proxy"
                && r["trace_id"] == TRACE
                && r[catalogue::CLIENT_ERRORS.name] == 0
        })
        .expect("the proxy's record of the first request");
    assert_eq!(proxy_record[catalogue::REQUESTS.name], 1);
    let model_record = emf
        .iter()
        .find(|r| r["Service"] == "model-server" && r["trace_id"] == TRACE)
        .expect("the model server's record");
    assert_eq!(model_record["Model"], "mobilenet-test");
    let served = parsed
        .iter()
        .find(|l| l["message"] == "prediction served")
        .expect("the proxy's debug line");
    assert_eq!(served["trace_id"], TRACE);
    assert_eq!(served["request_id"], proxy_record["request_id"]);
    assert_eq!(
        served["span_id"].as_str().unwrap(),
        hex(server_id),
        "logged from the request span"
    );
    let invoked = parsed
        .iter()
        .find(|l| l["message"] == "invocation served")
        .expect("the model server's debug line");
    assert_eq!(invoked["trace_id"], TRACE);
}
