//! `model-server [serve]`: listen first, load the model in the background (`/ping` answers 503
//! until it is ready), stop gracefully on SIGTERM or Ctrl-C.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use model_server::{AppState, Config, app};
use telemetry::Telemetry;

/// ONNX Runtime's own logs are verbose at info.
const DEFAULT_LOG_FILTER: &str = "info,ort=warn";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let process_start = Instant::now();
    let config = Config::parse();
    let identity = config.metrics_identity();
    let telemetry = Telemetry::init(&config.telemetry, identity.clone(), DEFAULT_LOG_FILTER)?;

    let mut state = AppState::new(config.limits()).with_metrics_identity(identity);
    if let Some(endpoint) = &config.sagemaker_runtime_api {
        state = state.with_runtime_api(endpoint);
    }
    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr()))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, model_dir = %config.resolved_model_dir().display(), "listening");

    model_server::loader::spawn(state.clone(), config.loading(), process_start);

    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(telemetry::shutdown_signal())
        .await
        .context("server failed");
    tracing::info!("stopped");
    // In-flight requests have finished; their records and spans leave before the process.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    served
}
