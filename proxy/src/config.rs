//! Settings of the `proxy` binary, from flags or environment variables (Lambda sets them as
//! environment variables).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::upstream::UpstreamPolicy;

/// Public API of the image classification service: `POST /predict`.
///
/// Runs under AWS Lambda when `AWS_LAMBDA_RUNTIME_API` is set, otherwise as a local HTTP
/// server that also serves the web page.
#[derive(Debug, Clone, Parser)]
#[command(name = "proxy", version)]
pub struct Config {
    /// SageMaker endpoint to invoke.
    #[arg(long, env = "SAGEMAKER_ENDPOINT_NAME")]
    pub endpoint_name: String,

    /// Overrides the SageMaker Runtime URL (local stack and tests: the model server started with
    /// --sagemaker-runtime-api).
    #[arg(long, env = "SAGEMAKER_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// Origins allowed by CORS, comma-separated exact origins; `*` allows any.
    #[arg(
        long,
        env = "ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub allowed_origins: Vec<String>,

    /// Largest image accepted, in bytes (SageMaker Serverless takes 4 MiB payloads).
    #[arg(long, env = "MAX_IMAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_image_bytes: usize,

    /// Local mode: seconds a request body may take to arrive before a 408 (slow or stalled
    /// clients must not hold memory and connections; under Lambda the body is already whole).
    #[arg(long, env = "BODY_TIMEOUT_SECONDS", default_value_t = 10)]
    pub body_timeout_seconds: u64,

    /// Connect timeout to SageMaker Runtime, in milliseconds.
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT_MS", default_value_t = 1_000)]
    pub connect_timeout_ms: u64,

    /// Deadline of one attempt, in milliseconds. By default the whole budget: a slow inference
    /// is not sent (and billed) a second time; fast failures are still retried.
    #[arg(long, env = "UPSTREAM_ATTEMPT_TIMEOUT_MS", default_value_t = 9_000)]
    pub attempt_timeout_ms: u64,

    /// Deadline of the whole upstream call with retries, in milliseconds; below the Lambda
    /// timeout (10 s in infra) so the client gets a 504 rather than a Lambda timeout.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 9_000)]
    pub operation_timeout_ms: u64,

    /// Upstream attempts in total (throttling, connection errors, timeouts and 5xx are retried
    /// within the deadline; a ModelError never is).
    #[arg(long, env = "UPSTREAM_MAX_ATTEMPTS", default_value_t = 2)]
    pub max_attempts: u32,

    /// Local mode: address to listen on.
    #[arg(long, env = "HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,

    /// Local mode: port (0 picks a free one; the `listening` log line has it).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// Local mode: directory of the web page served at `/` (skipped when it does not exist).
    #[arg(long, env = "STATIC_DIR", default_value = "frontend")]
    pub static_dir: PathBuf,

    #[command(flatten)]
    pub telemetry: telemetry::Config,
}

impl Config {
    pub fn upstream_policy(&self) -> UpstreamPolicy {
        UpstreamPolicy {
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            attempt_timeout: Duration::from_millis(self.attempt_timeout_ms),
            operation_timeout: Duration::from_millis(self.operation_timeout_ms),
            max_attempts: self.max_attempts,
        }
    }

    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Non-empty configured origins.
    pub fn origins(&self) -> Vec<String> {
        self.allowed_origins
            .iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        <Config as clap::CommandFactory>::command().debug_assert();
    }
}
