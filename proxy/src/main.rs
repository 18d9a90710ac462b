//! `proxy`: under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) runs the router on the Lambda
//! runtime (see [`proxy::lambda`]); otherwise serves the same router, plus the web page, over
//! HTTP.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use proxy::{AppState, Config, app, app_with_static, upstream};
use telemetry::Telemetry;

const DEFAULT_LOG_FILTER: &str = "info";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let process_start = Instant::now();
    let config = Config::parse();
    let identity = config
        .telemetry
        .identity(telemetry::Service::Proxy, &config.endpoint_name);
    let telemetry = Telemetry::init(&config.telemetry, identity, DEFAULT_LOG_FILTER)?;

    let aws = upstream::aws_config().await;
    let client = upstream::client(
        &aws,
        config.endpoint_url.as_deref(),
        config.upstream_policy(),
    );
    let state = AppState::new(client, &config);

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        state.mark_ready(process_start);
        return proxy::lambda::run(app(state), telemetry)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime failed: {e}"));
    }

    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr()))?;
    let addr = listener.local_addr()?;
    let router = app_with_static(state.clone(), &config.static_dir);
    state.mark_ready(process_start);
    tracing::info!(%addr, endpoint = %config.endpoint_name, "listening");
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(telemetry::shutdown_signal())
        .await
        .context("server failed");
    tracing::info!("stopped");
    // In-flight requests have finished; their records and spans leave before the process.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    served
}
