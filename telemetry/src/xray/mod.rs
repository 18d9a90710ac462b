//! Span export to AWS X-Ray without a collector: [`XrayProcessor`] takes each finished,
//! sampled span off the request path into a bounded queue; one worker thread turns spans into
//! segment documents ([`document`]) and sends them either over UDP to the X-Ray daemon (under
//! Lambda with active tracing, which runs one) or with `PutTraceSegments` through the AWS SDK
//! (SageMaker, which runs none). A full queue, a document X-Ray cannot take, or an upload that
//! still fails after the SDK's retries drops segments; drops are counted
//! ([`crate::catalogue::TRACE_SEGMENTS_DROPPED`], at most one EMF record a second) and logged,
//! and never slow down or fail a request.

pub mod document;
pub mod schema;

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};
use tokio::sync::mpsc;

pub use document::Layout;

use crate::catalogue::{self, Service};

/// Spans waiting for the worker. 2048 is the OpenTelemetry batch processor's default queue:
/// about 400 requests' worth of spans (five per request) while an upload is retried, a few
/// megabytes at most.
pub const DEFAULT_QUEUE_CAPACITY: usize = 2048;
/// Documents per `PutTraceSegments` call: the batch the X-Ray daemon itself uploads, and what
/// collectors exporting to X-Ray cap their batches at.
pub const MAX_BATCH: usize = 50;
/// Longest a document waits for its batch to fill before it is uploaded anyway.
pub const MAX_BATCH_DELAY: Duration = Duration::from_secs(1);
/// Largest UDP payload over IPv4: the daemon's datagram (header line and document) must fit.
const MAX_DATAGRAM_BYTES: usize = 65_507;
/// The line that starts every datagram to the daemon.
pub const DAEMON_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";
/// The daemon's port when `AWS_XRAY_DAEMON_ADDRESS` names none (X-Ray's default).
const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";
/// How often drops are written out (as one EMF record and one log line) while they happen.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Where segment documents go.
#[derive(Debug, Clone)]
pub enum Destination {
    /// The X-Ray daemon over UDP, one document per datagram.
    Daemon(SocketAddr),
    /// `PutTraceSegments`; `None` builds the client from the environment's AWS configuration
    /// (credentials of the execution role, region, `AWS_ENDPOINT_URL_XRAY`).
    Api(Option<aws_sdk_xray::Client>),
}

#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error(
        "AWS_XRAY_DAEMON_ADDRESS={0:?} is not an address: use host:port, or \"udp:host:port tcp:host:port\""
    )]
    Malformed(String),
    #[error("AWS_XRAY_DAEMON_ADDRESS={0:?} does not resolve: {1}")]
    Unresolved(String, String),
}

/// The daemon's UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port` (what Lambda sets), or
/// the X-Ray SDKs' two-address form `udp:host:port tcp:host:port` (in any order).
pub fn daemon_address(value: Option<&str>) -> Result<SocketAddr, AddressError> {
    let value = value.unwrap_or(DEFAULT_DAEMON_ADDRESS).trim();
    let parts: Vec<&str> = value.split_whitespace().collect();
    let udp = match parts.as_slice() {
        [single] if !single.starts_with("udp:") && !single.starts_with("tcp:") => *single,
        [a, b] => [a, b]
            .into_iter()
            .find_map(|p| p.strip_prefix("udp:"))
            .filter(|_| a.starts_with("tcp:") || b.starts_with("tcp:"))
            .ok_or_else(|| AddressError::Malformed(value.to_owned()))?,
        _ => return Err(AddressError::Malformed(value.to_owned())),
    };
    let Some((host, port)) = udp.rsplit_once(':') else {
        return Err(AddressError::Malformed(value.to_owned()));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(AddressError::Malformed(value.to_owned()));
    }
    let mut resolved = udp
        .to_socket_addrs()
        .map_err(|e| AddressError::Unresolved(value.to_owned(), e.to_string()))?;
    resolved
        .next()
        .ok_or_else(|| AddressError::Unresolved(value.to_owned(), "no address".into()))
}

/// Segments dropped since the last report, by reason.
#[derive(Debug, Default)]
struct Drops {
    queue_full: AtomicU64,
    too_large: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Drops {
    fn add(&self, counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn failed(&self, n: usize, error: String) {
        self.add(&self.failed, n);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    /// Writes out the drops since the last report: one EMF record and one log line.
    fn report(&self, service: Service) {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let (queue_full, too_large, failed, rejected) = (
            take(&self.queue_full),
            take(&self.too_large),
            take(&self.failed),
            take(&self.rejected),
        );
        let total = queue_full + too_large + failed + rejected;
        if total == 0 {
            return;
        }
        crate::metrics::count(catalogue::trace_segments_dropped(service), total);
        let last_error = self.last_error.lock().ok().and_then(|mut e| e.take());
        tracing::warn!(
            dropped = total,
            queue_full,
            too_large,
            failed,
            rejected,
            last_error = last_error.as_deref().unwrap_or(""),
            "X-Ray segments dropped"
        );
    }
}

enum Control {
    /// Send everything queued, then answer.
    Flush(std::sync::mpsc::SyncSender<()>),
    /// Send everything queued until the deadline, drop the rest, answer and stop.
    Shutdown(Instant, std::sync::mpsc::SyncSender<()>),
}

/// The span processor of the X-Ray export; see the module documentation.
#[derive(Debug)]
pub struct XrayProcessor {
    spans: mpsc::Sender<SpanData>,
    control: mpsc::UnboundedSender<Control>,
    drops: Arc<Drops>,
    flush_timeout: Duration,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flush(_) => "Flush",
            Self::Shutdown(..) => "Shutdown",
        })
    }
}

impl XrayProcessor {
    /// Starts the worker thread. `flush_timeout` bounds how long a flush (the end of a Lambda
    /// invocation) waits for the queue to be sent.
    pub fn start(
        destination: Destination,
        layout: Layout,
        queue_capacity: usize,
        flush_timeout: Duration,
    ) -> std::io::Result<Self> {
        let (spans, spans_rx) = mpsc::channel(queue_capacity.max(1));
        let (control, control_rx) = mpsc::unbounded_channel();
        let drops = Arc::new(Drops::default());
        let worker_drops = drops.clone();
        let worker = std::thread::Builder::new()
            .name("xray-export".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::error!(error = %e, "no runtime for the X-Ray export; spans are dropped");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let sink = Sink::new(destination, layout).await;
                    Worker {
                        sink,
                        layout,
                        drops: worker_drops,
                        spans: spans_rx,
                        control: control_rx,
                        batch: Vec::new(),
                        batch_started: None,
                        in_flight: None,
                    }
                    .run()
                    .await;
                });
            })?;
        Ok(Self {
            spans,
            control,
            drops,
            flush_timeout,
            worker: Mutex::new(Some(worker)),
        })
    }

    fn ask(
        &self,
        make: impl FnOnce(std::sync::mpsc::SyncSender<()>) -> Control,
        wait: Duration,
    ) -> OTelSdkResult {
        let (done, answered) = std::sync::mpsc::sync_channel(1);
        self.control
            .send(make(done))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        answered
            .recv_timeout(wait)
            .map_err(|_| OTelSdkError::Timeout(wait))
    }
}

impl SpanProcessor for XrayProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        // Unsampled spans are not recorded at all; this is the last guard of Lambda's decision.
        if !span.span_context.is_sampled() {
            return;
        }
        if self.spans.try_send(span).is_err() {
            self.drops.add(&self.drops.queue_full, 1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Control::Flush, self.flush_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let answered = self.ask(
            |done| Control::Shutdown(Instant::now() + timeout, done),
            timeout + Duration::from_millis(200),
        );
        if answered.is_ok()
            && let Some(worker) = self.worker.lock().ok().and_then(|mut w| w.take())
        {
            let _ = worker.join();
        }
        answered
    }
}

/// Where the worker sends documents.
enum Sink {
    Daemon {
        socket: Option<UdpSocket>,
        addr: SocketAddr,
        buffer: Vec<u8>,
    },
    Api(aws_sdk_xray::Client),
}

impl Sink {
    async fn new(destination: Destination, layout: Layout) -> Self {
        match destination {
            Destination::Daemon(addr) => {
                let bind: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(bind).and_then(|s| {
                    s.set_nonblocking(true)?;
                    Ok(s)
                });
                let socket = socket
                    .inspect_err(|e| {
                        tracing::error!(error = %e, service = layout.service.name(), "no UDP socket for the X-Ray daemon; spans are dropped");
                    })
                    .ok();
                Self::Daemon {
                    socket,
                    addr,
                    buffer: Vec::with_capacity(MAX_DATAGRAM_BYTES),
                }
            }
            Destination::Api(Some(client)) => Self::Api(client),
            Destination::Api(None) => {
                let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                Self::Api(api_client(&shared))
            }
        }
    }

    fn max_document_bytes(&self) -> usize {
        match self {
            Self::Daemon { .. } => MAX_DATAGRAM_BYTES - DAEMON_HEADER.len(),
            Self::Api(_) => document::MAX_DOCUMENT_BYTES,
        }
    }
}

/// The `PutTraceSegments` client: the SDK's standard retries (throttling and transient
/// errors, exponential backoff with jitter, a retry quota that stops retrying during an outage)
/// within short timeouts, since nothing waits for the answer but the queue behind it.
pub fn api_client(shared: &aws_config::SdkConfig) -> aws_sdk_xray::Client {
    use aws_sdk_xray::config::retry::RetryConfig;
    use aws_sdk_xray::config::timeout::TimeoutConfig;
    let config = aws_sdk_xray::config::Builder::from(shared)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(6))
                .build(),
        )
        .build();
    aws_sdk_xray::Client::from_conf(config)
}

/// What an upload came to: documents X-Ray refused, or the error after the retries.
type Upload = Pin<Box<dyn Future<Output = Result<usize, String>>>>;

struct InFlight {
    documents: usize,
    upload: Upload,
}

struct Worker {
    sink: Sink,
    layout: Layout,
    drops: Arc<Drops>,
    spans: mpsc::Receiver<SpanData>,
    control: mpsc::UnboundedReceiver<Control>,
    /// Documents for the next upload (API only), at most [`MAX_BATCH`].
    batch: Vec<String>,
    batch_started: Option<Instant>,
    in_flight: Option<InFlight>,
}

async fn poll_upload(in_flight: &mut Option<InFlight>) -> (usize, Result<usize, String>) {
    match in_flight {
        Some(f) => (f.documents, (&mut f.upload).await),
        None => std::future::pending().await,
    }
}

impl Worker {
    async fn run(mut self) {
        let mut report = tokio::time::interval(REPORT_EVERY);
        loop {
            let due = self
                .batch_started
                .map(|t| tokio::time::Instant::from_std(t + MAX_BATCH_DELAY));
            tokio::select! {
                biased;
                control = self.control.recv() => match control {
                    Some(Control::Flush(done)) => {
                        self.drain(None).await;
                        self.drops.report(self.layout.service);
                        let _ = done.send(());
                    }
                    Some(Control::Shutdown(deadline, done)) => {
                        self.drain(Some(deadline)).await;
                        self.drops.report(self.layout.service);
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                (documents, outcome) = poll_upload(&mut self.in_flight), if self.in_flight.is_some() => {
                    self.in_flight = None;
                    self.account(documents, outcome);
                }
                // While a full batch waits for the upload in flight, spans stay in the bounded
                // queue, whose overflow is what drops them.
                span = self.spans.recv(), if self.batch.len() < MAX_BATCH => match span {
                    Some(span) => self.add(&span),
                    None => return,
                },
                () = sleep_until(due), if due.is_some() && self.in_flight.is_none() => self.start_upload(),
                _ = report.tick() => self.drops.report(self.layout.service),
            }
            if self.in_flight.is_none() && self.batch.len() >= MAX_BATCH {
                self.start_upload();
            }
        }
    }

    /// Translates `span` and sends it (daemon) or adds it to the batch (API).
    fn add(&mut self, span: &SpanData) {
        let Some(text) = document::render(span, &self.layout, self.sink.max_document_bytes())
        else {
            self.drops.add(&self.drops.too_large, 1);
            return;
        };
        match &mut self.sink {
            Sink::Daemon {
                socket,
                addr,
                buffer,
            } => {
                let Some(socket) = socket else {
                    return self.drops.failed(1, "no UDP socket".into());
                };
                buffer.clear();
                buffer.extend_from_slice(DAEMON_HEADER.as_bytes());
                buffer.extend_from_slice(text.as_bytes());
                if let Err(e) = socket.send_to(buffer, *addr) {
                    self.drops.failed(1, format!("UDP to {addr}: {e}"));
                }
            }
            Sink::Api(_) => {
                if self.batch.is_empty() {
                    self.batch_started = Some(Instant::now());
                }
                self.batch.push(text);
            }
        }
    }

    fn start_upload(&mut self) {
        self.batch_started = None;
        if self.batch.is_empty() {
            return;
        }
        let Sink::Api(client) = &self.sink else {
            return;
        };
        let documents = std::mem::take(&mut self.batch);
        let count = documents.len();
        let request = client
            .put_trace_segments()
            .set_trace_segment_documents(Some(documents));
        let upload = Box::pin(async move {
            match request.send().await {
                Ok(output) => Ok(output.unprocessed_trace_segments().len()),
                Err(e) => Err(aws_sdk_xray::error::DisplayErrorContext(e).to_string()),
            }
        });
        self.in_flight = Some(InFlight {
            documents: count,
            upload,
        });
    }

    fn account(&mut self, documents: usize, outcome: Result<usize, String>) {
        match outcome {
            Ok(0) => {}
            Ok(unprocessed) => self.drops.add(&self.drops.rejected, unprocessed),
            Err(error) => self.drops.failed(documents, error),
        }
    }

    /// Sends everything queued now: the upload in flight, the spans in the queue, the batch.
    /// Past `deadline`, what is left is dropped and counted.
    async fn drain(&mut self, deadline: Option<Instant>) {
        loop {
            if let Some(mut in_flight) = self.in_flight.take() {
                let outcome = match deadline {
                    Some(deadline) => {
                        tokio::time::timeout_at(deadline.into(), &mut in_flight.upload).await
                    }
                    None => Ok((&mut in_flight.upload).await),
                };
                match outcome {
                    Ok(outcome) => self.account(in_flight.documents, outcome),
                    Err(_) => self
                        .drops
                        .failed(in_flight.documents, "shutdown deadline".into()),
                }
            }
            while self.batch.len() < MAX_BATCH {
                match self.spans.try_recv() {
                    Ok(span) => self.add(&span),
                    Err(_) => break,
                }
            }
            if self.batch.is_empty() {
                return;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let left = self.batch.len() + self.spans.len();
                self.batch.clear();
                while self.spans.try_recv().is_ok() {}
                self.drops.failed(left, "shutdown deadline".into());
                return;
            }
            self.start_upload();
        }
    }
}

async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_addresses_take_lambdas_form_and_the_sdks_two_address_form() {
        assert_eq!(
            daemon_address(Some("169.254.79.129:2000")).unwrap(),
            "169.254.79.129:2000".parse().unwrap()
        );
        assert_eq!(
            daemon_address(Some("tcp:127.0.0.1:2000 udp:127.0.0.2:2001")).unwrap(),
            "127.0.0.2:2001".parse().unwrap()
        );
        assert_eq!(
            daemon_address(None).unwrap(),
            "127.0.0.1:2000".parse().unwrap()
        );
        for bad in [
            "",
            "localhost",
            "127.0.0.1:port",
            "udp:127.0.0.1:2000",
            ":2000",
            "a b c",
        ] {
            assert!(
                matches!(daemon_address(Some(bad)), Err(AddressError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
