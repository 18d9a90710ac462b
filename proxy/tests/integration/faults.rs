//! Faults between the proxy and the model, each with the status the client gets, the metric
//! the on-call team sees and the log line they search for: a model missing or corrupt at
//! start, the model server killed mid-request, an upstream that never answers, upstreams
//! answering malformed JSON; and SIGTERM in the middle of load, where every request in
//! flight is answered and every EMF record written.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use telemetry::catalogue;

/// An upstream on a free port that reads each request and answers `response` (raw HTTP),
/// or holds the connection without answering when `response` is `None`.
fn fake_upstream(response: Option<&'static str>) -> SocketAddr {
    counting_upstream(response).0
}

/// [`fake_upstream`], also counting the requests it got.
fn counting_upstream(response: Option<&'static str>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(16) {
            let mut stream = stream.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let Some(response) = response else {
                held.push(stream);
                continue;
            };
            let mut request = Vec::new();
            let mut buffer = [0; 65_536];
            // Read the head, then as much body as Content-Length says.
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            let _ = stream.write_all(response.as_bytes());
        }
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    (addr, requests)
}

fn http_200(content_type: &str, body: &str) -> &'static str {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .leak()
}

async fn predict(proxy: &Process, body: Vec<u8>) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(proxy.url("/predict"))
        .header("content-type", "image/jpeg")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

/// What one fault must look like from outside.
struct Expected {
    status: u16,
    code: &'static str,
    retry_after: bool,
    /// The proxy metric that counts it (besides `Requests`).
    metric: &'static str,
    /// The proxy's log line for it.
    log: &'static str,
}

/// Sends the finch through `proxy`, then stops it and checks the answer, the one EMF record
/// and the log line.
async fn check(name: &str, mut proxy: Process, expected: &Expected) {
    let (status, retry_after, body) = predict(&proxy, shared_image("house-finch.jpg")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (expected.status, Some(expected.code)),
        "{name}: {body}"
    );
    assert_eq!(
        retry_after.is_some(),
        expected.retry_after,
        "{name}: Retry-After {retry_after:?}"
    );
    let lines = proxy.terminate();
    let records = emf_records(&lines);
    assert_eq!(sum(&records, catalogue::REQUESTS.name), 1.0, "{name}");
    for metric in [
        catalogue::SERVER_ERRORS.name,
        catalogue::THROTTLES.name,
        catalogue::CLIENT_ERRORS.name,
    ] {
        let want = if metric == expected.metric { 1.0 } else { 0.0 };
        assert_eq!(sum(&records, metric), want, "{name}: {metric}");
    }
    let logged = lines.iter().any(|line| {
        line.contains(&format!("\"message\":\"{}\"", expected.log))
            && line.contains(&format!("\"error.code\":\"{}\"", expected.code))
    });
    assert!(
        logged,
        "{name}: no {:?} log line with {}: {lines:#?}",
        expected.log, expected.code
    );
}

const BUSY: Expected = Expected {
    status: 503,
    code: "busy",
    retry_after: true,
    metric: catalogue::THROTTLES.name,
    log: "request throttled",
};

#[tokio::test]
async fn a_model_missing_or_corrupt_at_start_is_busy_with_retry_after_and_logged_by_both() {
    let corrupt = std::env::temp_dir().join(format!("faults-corrupt-model-{}", std::process::id()));
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("model.onnx"), b"\x08\x07not a model").unwrap();
    std::fs::write(corrupt.join("labels.txt"), "a\n").unwrap();
    for (name, model_dir) in [
        ("missing model", "/nonexistent/model".to_owned()),
        ("corrupt model", corrupt.display().to_string()),
    ] {
        let ort = std::env::var("ORT_DYLIB_PATH").unwrap();
        let env = [
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
            ("MODEL_DIR", model_dir),
            ("ORT_DYLIB_PATH", ort),
            ("SAGEMAKER_RUNTIME_API_ENDPOINT", ENDPOINT.to_owned()),
        ];
        let mut model = Process::spawn(&workspace_binary("model-server"), &["serve"], &env);
        assert!(model.logged("model failed to load"), "{name}");
        let proxy = start_proxy(&model.url(""), &[]);
        check(name, proxy, &BUSY).await;
        assert!(
            model.is_running(),
            "{name}: the model server stays up to report it"
        );
        // Its own record says why: a server error at the model server.
        let records = emf_records(&model.terminate());
        assert_eq!(sum(&records, catalogue::INVOCATIONS.name), 1.0, "{name}");
    }
    let _ = std::fs::remove_dir_all(corrupt);
}

#[tokio::test]
async fn the_model_server_killed_mid_request_is_a_502_counted_as_a_server_error() {
    let model = start_model_server(&[]);
    let proxy = start_proxy(&model.url(""), &[]);
    proxy.wait_until_ok("/health");
    // Frozen, the model server holds the request unanswered (the kernel accepts the
    // connection and queues its bytes); once they are queued, it dies with them.
    model.signal("STOP");
    let killer = {
        let pid = model.pid();
        let port: u16 = model.addr.rsplit(':').next().unwrap().parse().unwrap();
        tokio::spawn(async move {
            let mut queued = false;
            for _ in 0..250 {
                queued = established_at(port).iter().any(|&unread| unread > 0);
                if queued {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            send_signal(pid, "KILL");
            queued
        })
    };
    let expected = Expected {
        status: 502,
        code: "upstream_unavailable",
        retry_after: false,
        metric: catalogue::SERVER_ERRORS.name,
        log: "request failed",
    };
    check("killed mid-request", proxy, &expected).await;
    assert!(
        killer.await.unwrap(),
        "the request never reached the model server's socket"
    );
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_504_at_the_deadline() {
    let upstream = fake_upstream(None);
    let proxy = start_proxy(
        &format!("http://{upstream}"),
        &[
            ("UPSTREAM_ATTEMPT_TIMEOUT_MS", "500"),
            ("UPSTREAM_TIMEOUT_MS", "1200"),
        ],
    );
    let expected = Expected {
        status: 504,
        code: "upstream_timeout",
        retry_after: false,
        metric: catalogue::SERVER_ERRORS.name,
        log: "request failed",
    };
    check("silent upstream", proxy, &expected).await;
}

#[tokio::test]
async fn malformed_answers_from_the_model_are_a_502_model_error_without_details_to_the_client() {
    let model_error = Expected {
        status: 502,
        code: "model_error",
        retry_after: false,
        metric: catalogue::SERVER_ERRORS.name,
        log: "request failed",
    };
    for (name, response) in [
        (
            "truncated JSON",
            http_200("application/json", r#"{"predictions":[{"index":12,"#),
        ),
        (
            "JSON of another shape",
            http_200("application/json", r#"{"result":"house finch"}"#),
        ),
        (
            "an HTML error page",
            http_200("text/html", "<html><body>502 Bad Gateway</body></html>"),
        ),
        ("an empty body", http_200("application/json", "")),
        (
            "predictions that are not numbers",
            http_200(
                "application/json",
                r#"{"predictions":[{"index":"x","label":1,"probability":"high"}]}"#,
            ),
        ),
    ] {
        let upstream = fake_upstream(Some(response));
        let proxy = start_proxy(&format!("http://{upstream}"), &[]);
        check(name, proxy, &model_error).await;
    }
}

fn aws_error(status: &str, error_type: &str) -> &'static str {
    let body = r#"{"message":"from the test upstream"}"#;
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nx-amzn-ErrorType: {error_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .leak()
}

#[tokio::test]
async fn a_busy_upstream_is_not_retried_but_a_failing_one_is() {
    let attempts = ("UPSTREAM_MAX_ATTEMPTS", "3");
    for (name, response, expected, upstream_requests) in [
        (
            "throttled",
            aws_error("429 Too Many Requests", "ThrottlingException"),
            &BUSY,
            1,
        ),
        (
            "not ready",
            aws_error("429 Too Many Requests", "ModelNotReadyException"),
            &BUSY,
            1,
        ),
        (
            "unavailable",
            aws_error("503 Service Unavailable", "ServiceUnavailable"),
            &BUSY,
            1,
        ),
        (
            "internal failure",
            aws_error("500 Internal Server Error", "InternalFailure"),
            &Expected {
                status: 502,
                code: "upstream_unavailable",
                retry_after: false,
                metric: catalogue::SERVER_ERRORS.name,
                log: "request failed",
            },
            3,
        ),
    ] {
        let (upstream, requests) = counting_upstream(Some(response));
        let proxy = start_proxy(&format!("http://{upstream}"), &[attempts]);
        check(name, proxy, expected).await;
        assert_eq!(requests.load(Ordering::SeqCst), upstream_requests, "{name}");
    }
}

/// Starts `n` requests with `path` whose bodies are not finished yet.
async fn requests_in_flight(addr: &str, path: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    let finch = shared_image("house-finch.jpg");
    let mut streams = Vec::new();
    for _ in 0..n {
        streams.push(start_request(addr, path, &finch, 1000).await);
    }
    streams
}

async fn finish_all(streams: Vec<tokio::net::TcpStream>) -> Vec<u16> {
    let rest = shared_image("house-finch.jpg")[1000..].to_vec();
    let answers: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let rest = rest.clone();
            tokio::spawn(async move { finish_request(stream, &rest).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for answer in answers {
        statuses.push(answer.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_request_in_flight_and_loses_no_record() {
    const IN_FLIGHT: usize = 8;
    // A slow log pipe: records still queued at the signal must be flushed, not dropped.
    let slow_stdout = ("TELEMETRY_WRITE_DELAY_MS", "50");
    let mut model = start_model_server(&[slow_stdout]);
    let mut proxy = start_proxy(
        &model.url(""),
        &[slow_stdout, ("UPSTREAM_MAX_ATTEMPTS", "1")],
    );
    proxy.wait_until_ok("/health");

    let streams = requests_in_flight(&proxy.addr, "/predict", IN_FLIGHT).await;
    wait_until_read(&proxy.addr, IN_FLIGHT);
    proxy.signal("TERM");
    assert!(proxy.logged("shutting down"));
    let statuses = finish_all(streams).await;
    // The model server admits MAX_IN_FLIGHT (cores) at once and refuses the rest with 503.
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 503)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    let lines = proxy.wait_exit();
    let records = emf_records(&lines);
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(
        sum(&records, catalogue::REQUESTS.name),
        IN_FLIGHT as f64,
        "{lines:#?}"
    );
    assert_eq!(sum(&records, catalogue::THROTTLES.name), busy as f64);
    assert_eq!(sum(&records, catalogue::SERVER_ERRORS.name), 0.0);

    // The model server directly, the same way.
    let streams = requests_in_flight(&model.addr, "/invocations", IN_FLIGHT).await;
    wait_until_read(&model.addr, IN_FLIGHT);
    model.signal("TERM");
    assert!(model.logged("shutting down"));
    let statuses = finish_all(streams).await;
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 503)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    let records = emf_records(&model.wait_exit());
    // Every invocation from the proxy and from here has its record.
    assert_eq!(
        sum(&records, catalogue::INVOCATIONS.name),
        (2 * IN_FLIGHT) as f64
    );
}
