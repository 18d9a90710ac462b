//! Telemetry shared by `proxy` and `model-server`. For now: JSON logs and the shutdown signal
//! both services stop on; EMF metrics and X-Ray traces come with the telemetry issue.

/// JSON log lines on stdout (Lambda and SageMaker ship stdout to CloudWatch Logs), one object
/// per event with its fields flattened; the level filter comes from `RUST_LOG`, else
/// `default_filter`.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .init();
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
