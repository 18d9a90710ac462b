//! `proxy`: under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) runs the router with
//! `lambda_http::run`; otherwise serves the same router, plus the web page, over HTTP.

use anyhow::Context;
use clap::Parser;
use proxy::{AppState, Config, app, app_with_static, upstream};

const DEFAULT_LOG_FILTER: &str = "info";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init_logging(DEFAULT_LOG_FILTER);

    let aws = upstream::aws_config().await;
    let client = upstream::client(
        &aws,
        config.endpoint_url.as_deref(),
        config.upstream_policy(),
    );
    let state = AppState::new(client, &config);

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_http::run(app(state))
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime failed: {e}"));
    }

    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr()))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, endpoint = %config.endpoint_name, "listening");
    axum::serve(listener, app_with_static(state, &config.static_dir))
        .with_graceful_shutdown(telemetry::shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}
