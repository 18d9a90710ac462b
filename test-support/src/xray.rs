//! X-Ray stand-ins for end-to-end tests:
//! - [`Daemon`]: the X-Ray daemon's UDP side on a free loopback port. Every datagram must
//!   follow the daemon protocol (the `{"format": "json", "version": 1}` header line, then one
//!   segment document) and fit in 64 KB, and every document must pass
//!   `telemetry::xray::schema::validate`; what breaks a rule is kept as a problem. Documents
//!   can be forwarded with `PutTraceSegments`, as the real daemon does, so that one trace in
//!   moto holds what both services sent.
//! - [`ApiStandIn`]: an X-Ray API that answers `PutTraceSegments` as told (accept, 500,
//!   throttle, never), counting the documents it accepted and the calls it got.
//! - [`client`], [`trace_documents`]: the X-Ray API as the on-call engineer would query it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The header line of every datagram to the daemon.
pub const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// An X-Ray API client for `url` (moto) with moto's test credentials.
pub fn client(url: &str) -> aws_sdk_xray::Client {
    use aws_sdk_xray::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_xray::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_xray::Client::from_conf(config)
}

/// The documents of trace `trace_id` (`aws xray batch-get-traces --trace-ids ...`), each
/// checked against the segment document schema.
pub async fn trace_documents(client: &aws_sdk_xray::Client, trace_id: &str) -> Vec<Value> {
    let output = client
        .batch_get_traces()
        .trace_ids(trace_id)
        .send()
        .await
        .unwrap();
    output
        .traces()
        .iter()
        .filter(|trace| trace.id() == Some(trace_id))
        .flat_map(|trace| trace.segments())
        .map(|segment| {
            let document: Value = serde_json::from_str(segment.document().unwrap()).unwrap();
            if let Err(problems) = telemetry::xray::schema::validate(&document) {
                panic!("invalid segment document {document}: {problems:?}");
            }
            document
        })
        .collect()
}

/// Polls [`trace_documents`] until `done` holds for them (at most 15 s).
pub async fn wait_for_trace(
    client: &aws_sdk_xray::Client,
    trace_id: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let documents = trace_documents(client, trace_id).await;
        if done(&documents) {
            return documents;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} never complete in X-Ray: {documents:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The document named `name` among `documents`.
pub fn named<'a>(documents: &'a [Value], name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no document {name} in {documents:#?}"))
}

/// The set flags among `error`, `throttle` and `fault` of `document`.
pub fn flags(document: &Value) -> Vec<&'static str> {
    ["error", "throttle", "fault"]
        .into_iter()
        .filter(|flag| document[*flag] == true)
        .collect()
}

/// The daemon's stand-in; see the module documentation.
#[derive(Debug)]
pub struct Daemon {
    pub addr: SocketAddr,
    documents: Arc<Mutex<Vec<Value>>>,
    problems: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Listens on a free loopback port; `forward_to` (an X-Ray API URL) gets every valid
    /// document with `PutTraceSegments`.
    pub async fn start(forward_to: Option<&str>) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let documents = Arc::new(Mutex::new(Vec::new()));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let forward = forward_to.map(client);
        let (kept, problem_sink) = (documents.clone(), problems.clone());
        let task = tokio::spawn(async move {
            // Larger than any datagram, so an oversized one shows as such rather than cut.
            let mut buffer = vec![0; 70_000];
            loop {
                let Ok((n, _)) = socket.recv_from(&mut buffer).await else {
                    return;
                };
                match check_datagram(&buffer[..n]) {
                    Ok((text, document)) => {
                        if let Some(client) = &forward {
                            let output = client
                                .put_trace_segments()
                                .trace_segment_documents(text)
                                .send()
                                .await
                                .unwrap();
                            assert!(output.unprocessed_trace_segments().is_empty(), "{output:?}");
                        }
                        kept.lock().unwrap().push(document);
                    }
                    Err(problem) => problem_sink.lock().unwrap().push(problem),
                }
            }
        });
        Self {
            addr,
            documents,
            problems,
            task,
        }
    }

    pub fn documents(&self) -> Vec<Value> {
        self.documents.lock().unwrap().clone()
    }

    /// Every datagram or document that broke a rule.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    /// Waits (at most 15 s) until the documents received satisfy `done`.
    pub async fn wait_for(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let documents = self.documents();
            if done(&documents) {
                return documents;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon never got them: {documents:#?}; problems: {:?}",
                self.problems()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The document of one datagram, or the rule it breaks.
fn check_datagram(datagram: &[u8]) -> Result<(String, Value), String> {
    if datagram.len() > 64 * 1024 {
        return Err(format!("a datagram of {} bytes", datagram.len()));
    }
    let text = std::str::from_utf8(datagram).map_err(|e| format!("not UTF-8: {e}"))?;
    let Some(document) = text.strip_prefix(DAEMON_HEADER) else {
        return Err(format!("no daemon header line: {text:.80}"));
    };
    if document.contains('\n') {
        return Err(format!("more than one document in a datagram: {text:.200}"));
    }
    let value: Value =
        serde_json::from_str(document).map_err(|e| format!("not JSON ({e}): {document:.200}"))?;
    telemetry::xray::schema::validate(&value)
        .map_err(|problems| format!("{document}: {problems:?}"))?;
    Ok((document.to_owned(), value))
}

/// How the [`ApiStandIn`] answers `PutTraceSegments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Answer {
    Accept = 0,
    InternalFailure = 1,
    Throttle = 2,
    Never = 3,
}

#[derive(Debug, Default)]
struct Counts {
    accepted_documents: AtomicUsize,
    calls: AtomicUsize,
    /// Calls per distinct request body: above 1, the SDK retried it.
    bodies: Mutex<HashMap<Vec<u8>, usize>>,
}

/// An X-Ray API answering `PutTraceSegments` as [`ApiStandIn::answer`] says.
#[derive(Debug)]
pub struct ApiStandIn {
    pub url: String,
    answer: Arc<AtomicU8>,
    counts: Arc<Counts>,
    server: tokio::task::JoinHandle<()>,
}

impl ApiStandIn {
    pub async fn start() -> Self {
        use axum::body::Bytes;
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        let answer = Arc::new(AtomicU8::new(Answer::Accept as u8));
        let counts = Arc::new(Counts::default());
        let (mode, tally) = (answer.clone(), counts.clone());
        let router = axum::Router::new().route(
            "/TraceSegments",
            axum::routing::post(move |body: Bytes| {
                let (mode, tally) = (mode.clone(), tally.clone());
                async move {
                    tally.calls.fetch_add(1, Ordering::SeqCst);
                    *tally
                        .bodies
                        .lock()
                        .unwrap()
                        .entry(body.to_vec())
                        .or_default() += 1;
                    let mut headers = HeaderMap::new();
                    headers.insert("content-type", "application/json".parse().unwrap());
                    match mode.load(Ordering::SeqCst) {
                        0 => {
                            let request: Value = serde_json::from_slice(&body).unwrap();
                            let documents = request["TraceSegmentDocuments"].as_array().unwrap();
                            assert!(documents.len() <= 50, "{} documents", documents.len());
                            for text in documents {
                                let document: Value =
                                    serde_json::from_str(text.as_str().unwrap()).unwrap();
                                telemetry::xray::schema::validate(&document).unwrap();
                            }
                            tally
                                .accepted_documents
                                .fetch_add(documents.len(), Ordering::SeqCst);
                            (
                                StatusCode::OK,
                                headers,
                                r#"{"UnprocessedTraceSegments":[]}"#,
                            )
                                .into_response()
                        }
                        1 => {
                            headers.insert("x-amzn-errortype", "InternalFailure".parse().unwrap());
                            (
                                StatusCode::INTERNAL_SERVER_ERROR,
                                headers,
                                r#"{"message":"boom"}"#,
                            )
                                .into_response()
                        }
                        2 => {
                            headers
                                .insert("x-amzn-errortype", "ThrottledException".parse().unwrap());
                            (
                                StatusCode::TOO_MANY_REQUESTS,
                                headers,
                                r#"{"message":"Rate exceeded"}"#,
                            )
                                .into_response()
                        }
                        _ => std::future::pending::<axum::response::Response>().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url,
            answer,
            counts,
            server,
        }
    }

    pub fn answer(&self, answer: Answer) {
        self.answer.store(answer as u8, Ordering::SeqCst);
    }

    pub fn accepted_documents(&self) -> usize {
        self.counts.accepted_documents.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> usize {
        self.counts.calls.load(Ordering::SeqCst)
    }

    /// The most times one request body arrived.
    pub fn most_attempts(&self) -> usize {
        self.counts
            .bodies
            .lock()
            .unwrap()
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Stops listening: new connections are refused (the ones it holds stay unanswered).
    pub fn stop(&self) {
        self.server.abort();
    }
}

impl Drop for ApiStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}
