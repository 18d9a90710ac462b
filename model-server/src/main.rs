//! `model-server [serve]`: listen first, load the model in the background (`/ping` answers 503
//! until it is ready), stop gracefully on SIGTERM or Ctrl-C.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use model_server::model::{Classifier, ModelError, init_runtime};
use model_server::{AppState, Config, app};
use telemetry::{Telemetry, catalogue, metrics};

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
    let model_dir = config.resolved_model_dir();
    tracing::info!(%addr, model_dir = %model_dir.display(), "listening");

    let loader_state = state.clone();
    let loader_config = config.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let environment = match init_runtime(loader_config.ort_dylib_path.as_deref()) {
            Ok(environment) => environment,
            Err(e) => return loader_state.finish_loading(Err(e)),
        };
        let runtime_ms = started.elapsed().as_secs_f64() * 1e3;
        let options = loader_config.session_options();
        // A panic inside ONNX Runtime's bindings must not leave /ping at "loading" forever.
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            Classifier::load_cached(
                environment,
                &model_dir,
                options,
                loader_config.ort_cache_dir.as_deref(),
            )
        }))
        .unwrap_or_else(|_| Err(ModelError::Unsupported("loading the model panicked".into())));
        if outcome.is_ok() {
            let ready_ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::info!(runtime_ms, ready_ms, "first session warmed up");
            metrics::observe(
                &catalogue::MODEL_LOAD_TIME,
                metrics::millis(process_start.elapsed()),
            );
        }
        loader_state.finish_loading(outcome);
        loader_state.add_remaining_sessions(environment);
    });

    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(telemetry::shutdown_signal())
        .await
        .context("server failed");
    tracing::info!("stopped");
    // In-flight requests have finished; their records and spans leave before the process.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    served
}
