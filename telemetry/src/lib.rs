//! Telemetry shared by `proxy` and `model-server`:
//! - [`catalogue`]: every metric name, unit and dimension set, defined once;
//! - [`metrics`] and [`emf`]: one CloudWatch EMF record per request, with `trace_id` and
//!   `request_id` properties;
//! - [`request`]: the tower layer that puts each request in its span and EMF record, counts
//!   it and classifies its outcome;
//! - [`trace`]: X-Ray traces through OpenTelemetry (X-Ray ids and propagation);
//! - [`xray`]: span export to X-Ray, over UDP to the daemon or with `PutTraceSegments`;
//! - [`logs`]: JSON log lines carrying `trace_id`, `span_id` and `request_id`;
//! - [`sink`]: the non-blocking single writer of stdout that logs and EMF share.

pub mod catalogue;
pub mod emf;
pub mod logs;
pub mod metrics;
pub mod request;
pub mod sink;
pub mod trace;
pub mod xray;

use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use catalogue::Service;
pub use emf::Identity;
/// The trace context type the [`trace`] functions pass around.
pub use opentelemetry::Context as TraceContext;

/// Telemetry settings, shared by both services' command lines.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "telemetry-settings")]
pub struct Config {
    /// CloudWatch namespace of the EMF metrics.
    #[arg(long, global = true, env = "METRICS_NAMESPACE", default_value = catalogue::DEFAULT_NAMESPACE)]
    pub metrics_namespace: String,

    /// `off` disables EMF metrics and spans (logs stay); for measuring their cost.
    #[arg(
        long,
        global = true,
        env = "TELEMETRY",
        value_enum,
        default_value = "on"
    )]
    pub telemetry: Switch,

    /// Where spans go: `xray-api` (`PutTraceSegments`, for SageMaker, which runs no X-Ray
    /// daemon), `xray-daemon` (UDP to AWS_XRAY_DAEMON_ADDRESS), `otlp` (to
    /// OTEL_EXPORTER_OTLP_ENDPOINT) or `none`. Unset: the daemon when AWS_XRAY_DAEMON_ADDRESS is
    /// set (Lambda with active tracing sets it), else OTLP when its endpoint is set, else none.
    #[arg(long, global = true, env = "TRACES_EXPORT", value_enum)]
    pub traces_export: Option<TracesExport>,

    /// The X-Ray daemon: `host:port`, or `udp:host:port tcp:host:port`.
    #[arg(long, global = true, env = "AWS_XRAY_DAEMON_ADDRESS")]
    pub xray_daemon_address: Option<String>,

    /// Finished spans the X-Ray export holds while it uploads; beyond this they are dropped and
    /// counted (`TraceSegmentsDropped`).
    #[arg(long, global = true, env = "TRACES_QUEUE_CAPACITY", default_value_t = xray::DEFAULT_QUEUE_CAPACITY)]
    pub traces_queue_capacity: usize,

    /// OTLP/HTTP endpoint for spans (e.g. the ADOT collector, `http://localhost:4318`).
    #[arg(long, global = true, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Fault injection for tests: the stdout writer waits this many milliseconds before each
    /// burst of lines, like a slow log pipe. Only in builds with the `testing` feature (the
    /// test builds), never in a release.
    #[cfg(feature = "testing")]
    #[arg(
        long,
        global = true,
        env = "TELEMETRY_WRITE_DELAY_MS",
        default_value_t = 0,
        hide = true
    )]
    pub write_delay_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            metrics_namespace: catalogue::DEFAULT_NAMESPACE.into(),
            telemetry: Switch::On,
            traces_export: None,
            xray_daemon_address: None,
            traces_queue_capacity: xray::DEFAULT_QUEUE_CAPACITY,
            otlp_endpoint: None,
            #[cfg(feature = "testing")]
            write_delay_ms: 0,
        }
    }
}

/// Values of `TELEMETRY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Values of `TRACES_EXPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TracesExport {
    XrayApi,
    XrayDaemon,
    Otlp,
    None,
}

/// Where this process exports its spans, as [`Config::span_export`] resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanExport {
    None,
    Otlp(String),
    XrayDaemon(SocketAddr),
    XrayApi,
}

impl Config {
    pub fn enabled(&self) -> bool {
        self.telemetry == Switch::On
    }

    /// The span export the settings ask for: `TRACES_EXPORT` when set, else the X-Ray daemon
    /// when `AWS_XRAY_DAEMON_ADDRESS` is set, else OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
    /// set, else none. A setting that cannot work is an error, not a silent lack of traces.
    pub fn span_export(&self) -> Result<SpanExport, Error> {
        let daemon = || {
            xray::daemon_address(self.xray_daemon_address.as_deref())
                .map(SpanExport::XrayDaemon)
                .map_err(|e| Error::Config(e.to_string()))
        };
        match (self.traces_export, &self.otlp_endpoint) {
            (Some(TracesExport::XrayApi), _) => Ok(SpanExport::XrayApi),
            (Some(TracesExport::XrayDaemon), _) => daemon(),
            (Some(TracesExport::Otlp), Some(endpoint)) => Ok(SpanExport::Otlp(endpoint.clone())),
            (Some(TracesExport::Otlp), None) => Err(Error::Config(
                "TRACES_EXPORT=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            )),
            (Some(TracesExport::None), _) => Ok(SpanExport::None),
            (None, _) if self.xray_daemon_address.is_some() => daemon(),
            (None, Some(endpoint)) => Ok(SpanExport::Otlp(endpoint.clone())),
            (None, None) => Ok(SpanExport::None),
        }
    }

    /// The EMF identity of `service` fronting `scope` (endpoint or model name).
    pub fn identity(&self, service: Service, scope: &str) -> Identity {
        Identity {
            namespace: self.metrics_namespace.clone(),
            service,
            scope: scope.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(String),
    #[error("cannot start the X-Ray export: {0}")]
    XrayWorker(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
    #[error("a global tracing subscriber is already installed")]
    SubscriberTaken,
}

/// Keeps the tracer provider; [`Telemetry::flush`] at the end of each Lambda invocation,
/// [`Telemetry::shutdown`] before the process exits.
#[derive(Debug, Clone)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Longest wait at a flush for queued lines to be written and spans to be sent; also the
/// deadline of the span export at shutdown (SIGTERM).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

impl Telemetry {
    /// Installs logging (level from `RUST_LOG`, else `default_filter`), the EMF recorder and,
    /// unless telemetry is off, OpenTelemetry tracing with the span export the settings choose
    /// ([`Config::span_export`]).
    pub fn init(config: &Config, identity: Identity, default_filter: &str) -> Result<Self, Error> {
        let export = config.span_export()?;
        let provider = if config.enabled() {
            let builder = trace::provider_builder(identity.service.name());
            let layout = xray::Layout {
                service: identity.service,
                // The proxy runs under Lambda exactly when the Runtime API is there (main.rs).
                under_lambda: std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some(),
            };
            let xray = |destination| {
                xray::XrayProcessor::start(
                    destination,
                    layout,
                    config.traces_queue_capacity,
                    FLUSH_TIMEOUT,
                )
            };
            Some(
                match &export {
                    SpanExport::None => builder,
                    SpanExport::Otlp(endpoint) => {
                        builder.with_batch_exporter(otlp_exporter(endpoint)?)
                    }
                    SpanExport::XrayDaemon(addr) => {
                        builder.with_span_processor(xray(xray::Destination::Daemon(*addr))?)
                    }
                    SpanExport::XrayApi => {
                        builder.with_span_processor(xray(xray::Destination::Api(None))?)
                    }
                }
                .build(),
            )
        } else {
            None
        };
        #[cfg(feature = "testing")]
        let write_delay = Duration::from_millis(config.write_delay_ms);
        #[cfg(not(feature = "testing"))]
        let write_delay = Duration::ZERO;
        let telemetry = Self::install(
            sink::Output::Stdout,
            write_delay,
            identity,
            provider,
            default_filter,
            config.enabled(),
        )?;
        if config.enabled() {
            tracing::info!(export = ?export, "span export");
        }
        Ok(telemetry)
    }

    /// As [`Telemetry::init`], but spans go to `exporter` as they end and lines to `output`:
    /// for tests that inspect what the services emit.
    #[cfg(feature = "testing")]
    pub fn init_with<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
        output: sink::Output,
        identity: Identity,
        exporter: E,
        default_filter: &str,
    ) -> Result<Self, Error> {
        let provider = trace::provider_builder(identity.service.name())
            .with_simple_exporter(exporter)
            .build();
        Self::install(
            output,
            Duration::ZERO,
            identity,
            Some(provider),
            default_filter,
            true,
        )
    }

    fn install(
        output: sink::Output,
        write_delay: Duration,
        identity: Identity,
        provider: Option<SdkTracerProvider>,
        default_filter: &str,
        metrics_on: bool,
    ) -> Result<Self, Error> {
        sink::install(output, write_delay);
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
        // Spans are ours alone (not, e.g., lambda_runtime's per-invocation span, which would be
        // a stray root trace), and RUST_LOG filters only the log lines: a quieter log level
        // must not switch tracing and trace propagation off.
        let our_spans = Targets::new()
            .with_target("telemetry", Level::INFO)
            .with_target("proxy", Level::INFO)
            .with_target("model_server", Level::INFO);
        let otel = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(identity.service.name()))
                .with_level(true)
                .with_filter(our_spans.clone())
        });
        let fmt = tracing_subscriber::fmt::layer()
            .event_format(logs::JsonFormat)
            .with_writer(sink::SinkWriter)
            .with_filter(filter);
        tracing_subscriber::registry()
            .with(otel)
            .with(logs::CorrelationLayer.with_filter(our_spans))
            .with(fmt)
            .try_init()
            .map_err(|_| Error::SubscriberTaken)?;
        if metrics_on {
            metrics::install(identity);
        }
        Ok(Self { provider })
    }

    /// Writes out every queued line and exports finished spans; the end of a Lambda
    /// invocation calls it so nothing waits in a frozen process. Blocking: call it from a
    /// blocking thread.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(e) = provider.force_flush()
        {
            tracing::warn!(error = %e, "span export failed at flush");
        }
        if !sink::flush(FLUSH_TIMEOUT) {
            tracing::warn!("telemetry lines not written within the flush timeout");
        }
    }

    /// Flushes and stops span export, within [`FLUSH_TIMEOUT`] for the spans; called once,
    /// before the process exits.
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider
            && let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(error = %e, "span exporter shutdown failed");
        }
        sink::flush(FLUSH_TIMEOUT);
    }
}

fn otlp_exporter(endpoint: &str) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    use opentelemetry_otlp::WithExportConfig;
    let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces)
        .build()
        .map_err(|e| Error::Exporter(e.to_string()))
}

/// Resolves on SIGTERM (how SageMaker, ECS and Lambda stop processes) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
