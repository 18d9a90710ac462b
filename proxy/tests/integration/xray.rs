//! Spans reach X-Ray from both real processes with no collector: the model server uploads its
//! segment documents with `PutTraceSegments` (`TRACES_EXPORT=xray-api`) to moto's X-Ray, the
//! proxy sends its own over UDP to a daemon stand-in (`AWS_XRAY_DAEMON_ADDRESS`) that checks
//! every datagram and forwards it to the same moto, as the real daemon forwards to X-Ray. The
//! trace id the answer returns then finds one trace with both services' segments and the right
//! parent links, http blocks, annotations and error / throttle / fault flags. Under Lambda the
//! proxy's spans hang from the function's segment and an unsampled invocation sends nothing.
//! When the X-Ray API fails or stalls, requests answer as fast as ever, every lost segment is
//! counted, memory stays bounded and the request's EMF records are unchanged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::moto::{MOTO_ENV, Moto};
use crate::common::xray::{Answer, ApiStandIn, Daemon, client, flags, named, wait_for_trace};
use crate::common::*;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use telemetry::catalogue;
use tokio::sync::mpsc;

/// The environment that makes a service upload to the X-Ray API at `url`.
fn xray_api_env(url: &str) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&str, String)> = MOTO_ENV
        .iter()
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    env.push(("TRACES_EXPORT", "xray-api".to_owned()));
    env.push(("AWS_ENDPOINT_URL_XRAY", url.to_owned()));
    env
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// What `/predict` answered: status, body length, body, and the trace id of its
/// `X-Amzn-Trace-Id` (error answers carry it there only).
async fn predict(proxy: &Process, body: Vec<u8>) -> (u16, usize, Value, String) {
    let response = reqwest::Client::new()
        .post(proxy.url("/predict"))
        .header("content-type", "image/jpeg")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let trace_id = response.headers()["x-amzn-trace-id"]
        .to_str()
        .unwrap()
        .strip_prefix("Root=")
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        bytes.len(),
        serde_json::from_slice(&bytes).unwrap(),
        trace_id,
    )
}

fn has_all(documents: &[Value], names: &[&str]) -> bool {
    names
        .iter()
        .all(|name| documents.iter().any(|d| d["name"] == *name))
}

const PROXY_SPANS: [&str; 3] = ["proxy", "validate", "SageMaker.InvokeEndpoint"];
const MODEL_SPANS: [&str; 4] = ["model-server", "decode", "preprocess", "inference"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_xray_trace_of_both_services_with_links_http_annotations_and_flags() {
    let moto = Moto::start();
    let xray = client(&moto.url);
    let daemon = Daemon::start(Some(&moto.url)).await;
    let api_env = xray_api_env(&moto.url);
    let mut model = start_model_server(&borrowed(&api_env));
    let daemon_addr = daemon.addr.to_string();
    let proxy = start_proxy(
        &model.url(""),
        &[("AWS_XRAY_DAEMON_ADDRESS", daemon_addr.as_str())],
    );

    let (status, length, body, trace_id) = predict(&proxy, shared_image("house-finch.jpg")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trace_id"], trace_id);
    let trace_id = trace_id.as_str();
    let all: Vec<&str> = PROXY_SPANS.iter().chain(&MODEL_SPANS).copied().collect();
    let documents = wait_for_trace(&xray, trace_id, |d| has_all(d, &all)).await;
    assert_eq!(documents.len(), all.len(), "{documents:#?}");
    for document in &documents {
        assert_eq!(document["trace_id"], trace_id);
        assert!(flags(document).is_empty(), "{document}");
    }

    // The proxy's segment: the root (nothing upstream of it is traced here).
    let segment = named(&documents, "proxy");
    assert!(segment.get("parent_id").is_none() && segment.get("type").is_none());
    assert_eq!(segment["http"]["request"]["method"], "POST");
    assert_eq!(segment["http"]["request"]["url"], "/predict");
    assert_eq!(segment["http"]["response"]["status"], 200);
    assert_eq!(segment["http"]["response"]["content_length"], length);
    let annotations = &segment["annotations"];
    assert_eq!(annotations["endpoint"], ENDPOINT);
    assert_eq!(annotations["cold_start"], true);
    assert_eq!(annotations["request_id"], body["request_id"]);
    assert_eq!(annotations["model_name"], body["model"]["name"]);
    assert_eq!(annotations["model_version"], body["model"]["version"]);
    let timings = &segment["metadata"]["timings"];
    for stage in [
        "upstream_ms",
        "decode_ms",
        "preprocess_ms",
        "inference_ms",
        "total_ms",
    ] {
        assert!(timings[stage].as_f64().unwrap() > 0.0, "{stage}: {timings}");
    }

    let validate = named(&documents, "validate");
    assert_eq!(validate["type"], "subsegment");
    assert_eq!(validate["parent_id"], segment["id"]);
    let call = named(&documents, "SageMaker.InvokeEndpoint");
    assert_eq!(call["type"], "subsegment");
    assert_eq!(call["parent_id"], segment["id"]);
    assert_eq!(call["namespace"], "aws");
    assert_eq!(call["aws"]["operation"], "InvokeEndpoint");
    assert_eq!(call["annotations"]["endpoint"], ENDPOINT);

    // The container's segment hangs from the proxy's call, through CustomAttributes.
    let container = named(&documents, "model-server");
    assert!(container.get("type").is_none());
    assert_eq!(container["parent_id"], call["id"]);
    assert_eq!(container["http"]["request"]["url"], "/invocations");
    assert_eq!(container["http"]["response"]["status"], 200);
    assert_eq!(
        container["annotations"]["model_name"],
        body["model"]["name"]
    );
    assert_eq!(container["annotations"]["cold_start"], true);
    assert!(
        container["metadata"]["timings"]["inference_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    for stage in ["decode", "preprocess", "inference"] {
        let stage = named(&documents, stage);
        assert_eq!(stage["type"], "subsegment");
        assert_eq!(stage["parent_id"], container["id"], "{stage}");
    }

    // A bad image: the client's error, in both segments.
    let bad = corpus::cases()
        .into_iter()
        .find(|c| c.name == "a JPEG without a frame header")
        .unwrap();
    let (status, _, body, trace_id) = predict(&proxy, bad.body).await;
    assert_eq!(status, 400, "{body}");
    let documents =
        wait_for_trace(&xray, &trace_id, |d| has_all(d, &["proxy", "model-server"])).await;
    let segment = named(&documents, "proxy");
    assert_eq!(flags(segment), ["error"], "{segment}");
    assert_eq!(segment["annotations"]["error_code"], "invalid_image");
    assert_eq!(segment["annotations"]["cold_start"], false);
    assert_eq!(flags(named(&documents, "model-server")), ["error"]);

    // A model that is not there: SageMaker's busy, a throttle at the proxy.
    let mut missing = {
        let mut env = api_env.clone();
        env.extend([
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
            ("MODEL_DIR", "/nonexistent/model".to_owned()),
            ("ORT_DYLIB_PATH", std::env::var("ORT_DYLIB_PATH").unwrap()),
            ("SAGEMAKER_RUNTIME_API_ENDPOINT", ENDPOINT.to_owned()),
        ]);
        Process::spawn(&workspace_binary("model-server"), &["serve"], &env)
    };
    assert!(missing.logged("model failed to load"));
    let busy_proxy = start_proxy(
        &missing.url(""),
        &[("AWS_XRAY_DAEMON_ADDRESS", daemon_addr.as_str())],
    );
    let (status, _, body, trace_id) = predict(&busy_proxy, shared_image("house-finch.jpg")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("busy"))
    );
    let documents =
        wait_for_trace(&xray, &trace_id, |d| has_all(d, &["proxy", "model-server"])).await;
    let segment = named(&documents, "proxy");
    assert_eq!(flags(segment), ["error", "throttle"], "{segment}");
    assert_eq!(segment["annotations"]["error_code"], "busy");
    assert_eq!(
        flags(named(&documents, "SageMaker.InvokeEndpoint")),
        ["error", "throttle"]
    );
    // The container failed to load its model: its own fault.
    assert_eq!(flags(named(&documents, "model-server")), ["fault"]);
    missing.terminate();

    // A killed upstream: the proxy's fault.
    model.stop();
    let (status, _, body, trace_id) = predict(&proxy, shared_image("house-finch.jpg")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    let documents = wait_for_trace(&xray, &trace_id, |d| has_all(d, &PROXY_SPANS)).await;
    let segment = named(&documents, "proxy");
    assert_eq!(flags(segment), ["fault"], "{segment}");
    assert_eq!(segment["annotations"]["error_code"], "upstream_unavailable");
    assert_eq!(
        flags(named(&documents, "SageMaker.InvokeEndpoint")),
        ["fault"]
    );
    assert!(!documents.iter().any(|d| d["name"] == "model-server"));

    assert!(daemon.problems().is_empty(), "{:?}", daemon.problems());
}

/// A Lambda Runtime API that hands out `events` (API Gateway event, `Lambda-Runtime-Trace-Id`)
/// one per `/next`, then holds the next `/next` forever; posted responses go to `responses`.
#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Mutex<Vec<(String, String)>>>,
    responses: mpsc::UnboundedSender<Value>,
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    let event = api.events.lock().unwrap().pop();
    let Some((event, trace)) = event else {
        return std::future::pending().await;
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set(
        "lambda-runtime-aws-request-id",
        uuid::Uuid::new_v4().to_string(),
    );
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:proxy".to_owned(),
    );
    set("lambda-runtime-trace-id", trace);
    (headers, event).into_response()
}

async fn response(State(api): State<RuntimeApi>, body: String) -> StatusCode {
    let _ = api.responses.send(serde_json::from_str(&body).unwrap());
    StatusCode::ACCEPTED
}

async fn error(body: String) -> StatusCode {
    panic!("the runtime reported an error: {body}");
}

#[tokio::test]
async fn under_lambda_spans_are_subsegments_of_the_function_segment_and_unsampled_send_nothing() {
    let model = start_model_server(&[]);
    let daemon = Daemon::start(None).await;
    let event = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/apigw_v2_predict_json.json"),
    )
    .unwrap();
    // Lambda's ids for its function segment; the first invocation is not sampled.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let unsampled = format!("1-{now:08x}-00112233445566778899aa01");
    let sampled = format!("1-{now:08x}-00112233445566778899aa02");
    let function_segment = "5759e988bd862e3f";
    let events = vec![
        (
            event.clone(),
            format!("Root={sampled};Parent={function_segment};Sampled=1"),
        ),
        (
            event,
            format!("Root={unsampled};Parent={function_segment};Sampled=0"),
        ),
    ];
    let (responses_tx, mut responses) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        events: Arc::new(Mutex::new(events)),
        responses: responses_tx,
    };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let env: Vec<(&str, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "proxy"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_XRAY_DAEMON_ADDRESS", &daemon.addr.to_string()),
        ("SAGEMAKER_ENDPOINT_NAME", ENDPOINT),
        ("SAGEMAKER_ENDPOINT_URL", &model.url("")),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    let (_proxy, _) = Process::start(&workspace_binary("proxy"), &[], &env);

    for expected in [&unsampled, &sampled] {
        let answer = tokio::time::timeout(Duration::from_secs(60), responses.recv())
            .await
            .expect("no response posted")
            .unwrap();
        assert_eq!(answer["statusCode"], 200, "{answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(&body["trace_id"], expected.as_str());
    }
    // Spans leave in order at each invocation's flush: once the sampled invocation's are in,
    // the unsampled one's would have been too.
    let documents = daemon
        .wait_for(|d| {
            PROXY_SPANS.iter().all(|name| {
                d.iter()
                    .any(|doc| doc["name"] == *name && doc["trace_id"] == *sampled)
            })
        })
        .await;
    assert!(
        !documents.iter().any(|d| d["trace_id"] == *unsampled),
        "an unsampled invocation sent {documents:#?}"
    );
    let ours = named(&documents, "proxy");
    assert_eq!(ours["type"], "subsegment", "{ours}");
    assert_eq!(ours["parent_id"], function_segment);
    assert_eq!(ours["http"]["response"]["status"], 200);
    assert_eq!(named(&documents, "validate")["parent_id"], ours["id"]);
    assert!(daemon.problems().is_empty(), "{:?}", daemon.problems());
}

/// Sends the finch to the model server's `/invocations` `count` times, one at a time;
/// returns each latency.
async fn invoke(model: &Process, count: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let image = shared_image("house-finch.jpg");
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let response = client
            .post(model.url("/invocations"))
            .header("content-type", "image/jpeg")
            .body(image.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        latencies.push(started.elapsed());
    }
    latencies
}

fn median(latencies: &[Duration]) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_xray_api_never_slows_requests_and_every_lost_segment_is_counted() {
    let api = ApiStandIn::start().await;
    let mut env = xray_api_env(&api.url);
    // A small queue, so that a stalled API overflows it within this test.
    env.push(("TRACES_QUEUE_CAPACITY", "8".to_owned()));
    let mut model = start_model_server(&borrowed(&env));
    const PER_PHASE: usize = 25;
    // Warm-up, then the healthy baseline.
    invoke(&model, 5).await;
    let baseline = median(&invoke(&model, PER_PHASE).await);
    let peak_before = model.peak_rss_kib();
    let mut total = 5 + PER_PHASE;
    for (phase, answer) in [
        ("5xx", Some(Answer::InternalFailure)),
        ("throttling", Some(Answer::Throttle)),
        ("never answering", Some(Answer::Never)),
        ("stopped", None),
    ] {
        match answer {
            Some(answer) => api.answer(answer),
            None => api.stop(),
        }
        let latencies = invoke(&model, PER_PHASE).await;
        total += PER_PHASE;
        let slowest = latencies.iter().max().unwrap();
        assert!(
            median(&latencies) <= baseline * 3 / 2 + Duration::from_millis(5),
            "{phase}: median {:?} against {baseline:?}",
            median(&latencies)
        );
        assert!(
            *slowest < Duration::from_millis(500),
            "{phase}: {slowest:?}"
        );
    }
    // The SDK retried the throttled and failed uploads rather than give up at once.
    assert!(api.most_attempts() >= 2, "{} calls", api.calls());
    let grown_kib = model.peak_rss_kib().saturating_sub(peak_before);
    assert!(grown_kib < 16 * 1024, "peak RSS grew by {grown_kib} KiB");

    let lines = model.terminate();
    let records = emf_records(&lines);
    let dropped = sum(&records, catalogue::MODEL_TRACE_SEGMENTS_DROPPED.name);
    #[allow(clippy::cast_precision_loss)]
    let produced = (MODEL_SPANS.len() * total) as f64;
    #[allow(clippy::cast_precision_loss)]
    let accepted = api.accepted_documents() as f64;
    assert!(dropped > 0.0);
    assert_eq!(
        accepted + dropped,
        produced,
        "accepted {accepted}, dropped {dropped}"
    );
    // The requests' own records are as they always are: one each, nothing else in them.
    let requests: Vec<&Value> = records
        .iter()
        .filter(|r| r.get(catalogue::INVOCATIONS.name).is_some())
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let invocations = total as f64;
    assert_eq!(sum(&records, catalogue::INVOCATIONS.name), invocations);
    assert_eq!(requests.len(), total);
    for record in requests {
        assert_eq!(record[catalogue::INVOCATION_ERRORS.name], 0, "{record}");
        assert!(
            record
                .get(catalogue::MODEL_TRACE_SEGMENTS_DROPPED.name)
                .is_none()
        );
    }
    // A stalled export holds at most its queue and two batches; spans past that were
    // dropped as they ended, not kept.
    let queue_full: u64 = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "X-Ray segments dropped")
        .map(|l| l["queue_full"].as_u64().unwrap())
        .sum();
    assert!(queue_full > 0, "the queue never overflowed");
}

#[test]
fn a_wrong_span_export_setting_stops_either_service_at_start_with_a_clear_error() {
    for (program, args) in [("proxy", &[][..]), ("model-server", &["serve"][..])] {
        for (key, value, says) in [
            ("TRACES_EXPORT", "xray", "TRACES_EXPORT"),
            (
                "AWS_XRAY_DAEMON_ADDRESS",
                "no-port-here",
                "AWS_XRAY_DAEMON_ADDRESS",
            ),
            ("TRACES_EXPORT", "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ] {
            let output = std::process::Command::new(workspace_binary(program))
                .args(args)
                .env("SAGEMAKER_ENDPOINT_NAME", ENDPOINT)
                .env("HOST", "127.0.0.1")
                .env("PORT", "0")
                .env("MODEL_DIR", "/nonexistent")
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                .env(key, value)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{program} {key}={value} started");
            assert!(stderr.contains(says), "{program} {key}={value}: {stderr}");
        }
    }
}
