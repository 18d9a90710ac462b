//! The proxy binary under a Lambda Runtime API (a local stand-in of the API Lambda gives
//! custom runtimes): it takes an API Gateway event from `/next`, answers it through the real
//! SDK and model server, and has written the invocation's EMF record before it asks for the
//! next event, after which Lambda may freeze the process (the stand-in freezes it with
//! SIGSTOP, as Lambda would).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use telemetry::catalogue;
use tokio::sync::mpsc;

const REQUEST_ID: &str = "0f1e2d3c-4b5a-4968-8776-655443322110";
const TRACE_ROOT: &str = "1-6745a1b2-00112233445566778899aabb";

#[derive(Clone)]
struct RuntimeApi {
    event: Arc<String>,
    served: Arc<Mutex<u32>>,
    /// Told when the runtime asks for an event after the first.
    next_again: mpsc::UnboundedSender<()>,
    /// Receives each posted response.
    responses: mpsc::UnboundedSender<Value>,
    /// The runtime's process, frozen as Lambda freezes it when it asks for the next event.
    runtime_pid: Arc<std::sync::OnceLock<u32>>,
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    let first = {
        let mut served = api.served.lock().unwrap();
        *served += 1;
        *served == 1
    };
    if !first {
        // Lambda freezes the process here: what it has not written by now is not written
        // until the next event comes, which may be never.
        if let Some(pid) = api.runtime_pid.get() {
            send_signal(*pid, "STOP");
        }
        let _ = api.next_again.send(());
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("lambda-runtime-aws-request-id", REQUEST_ID.to_owned());
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:000000000000:function:proxy".to_owned(),
    );
    set(
        "lambda-runtime-trace-id",
        format!("Root={TRACE_ROOT};Parent=5759e988bd862e3f;Sampled=1"),
    );
    (headers, api.event.as_str().to_owned()).into_response()
}

async fn response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    assert_eq!(id, REQUEST_ID);
    let _ = api.responses.send(serde_json::from_str(&body).unwrap());
    StatusCode::ACCEPTED
}

async fn error(body: String) -> StatusCode {
    panic!("the runtime reported an error: {body}");
}

#[tokio::test]
async fn under_lambda_the_answer_is_posted_and_its_emf_record_written_before_the_next_event() {
    let model = start_model_server(&[]);
    let event = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/apigw_v2_predict_json.json"),
    )
    .unwrap();
    let (next_tx, mut next_rx) = mpsc::unbounded_channel();
    let (response_tx, mut response_rx) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        event: Arc::new(event),
        served: Arc::new(Mutex::new(0)),
        next_again: next_tx,
        responses: response_tx,
        runtime_pid: Arc::default(),
    };
    let runtime_pid = api.runtime_pid.clone();
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
        ("AWS_LAMBDA_LOG_STREAM_NAME", "stream"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/proxy"),
        // A slow log pipe: without the flush, the record would still be queued at the freeze.
        ("TELEMETRY_WRITE_DELAY_MS", "300"),
        ("SAGEMAKER_ENDPOINT_NAME", ENDPOINT),
        ("SAGEMAKER_ENDPOINT_URL", &model.url("")),
        ("ALLOWED_ORIGINS", ORIGIN),
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
    let (proxy, _) = Process::start(&workspace_binary("proxy"), &[], &env);
    runtime_pid.set(proxy.pid()).unwrap();

    let answer = tokio::time::timeout(Duration::from_secs(60), response_rx.recv())
        .await
        .expect("no response posted")
        .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["request_id"], REQUEST_ID);
    assert_eq!(body["trace_id"], TRACE_ROOT);
    assert_eq!(body["cold_start"]["proxy"], true);

    tokio::time::timeout(Duration::from_secs(30), next_rx.recv())
        .await
        .expect("the runtime never asked for the next event");
    // The process is frozen now. The flush finished before it asked, so the record is in the
    // pipe already; only this test's pipe reader may still trail a little.
    let deadline = Instant::now() + Duration::from_secs(5);
    let record = loop {
        let found = proxy
            .logs()
            .iter()
            .filter(|line| telemetry::emf::is_record(line))
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|record| record["request_id"] == REQUEST_ID);
        match found {
            Some(record) => break record,
            None if Instant::now() > deadline => {
                panic!("no EMF record for the invocation: {:?}", proxy.logs())
            }
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    telemetry::emf::validate(&record).unwrap();
    assert_eq!(record["trace_id"], TRACE_ROOT);
    assert_eq!(record["ColdStart"], 1);
    assert!(record["InitDuration"].as_f64().unwrap() > 0.0);
    assert_eq!(record[catalogue::REQUESTS.name], 1);
}
