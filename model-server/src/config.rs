//! Settings of the `model-server` binary, from flags or environment variables.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::Limits;
use crate::model::SessionOptions;

/// Where SageMaker unpacks `model.tar.gz` inside the container.
pub const SAGEMAKER_MODEL_DIR: &str = "/opt/ml/model";
/// The model used for local runs, beside the project checkout.
pub const LOCAL_MODEL_DIR: &str = "../shared/models/mobilenetv2-int8";

/// SageMaker-compatible inference server for ONNX image classifiers.
///
/// Every flag can also be given as the environment variable named in its help.
#[derive(Debug, Clone, Parser)]
#[command(name = "model-server", version)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on.
    #[arg(long, global = true, env = "HOST", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub host: IpAddr,

    /// Port to listen on (SageMaker sends traffic to 8080; 0 picks a free port).
    #[arg(long, global = true, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Directory with model.onnx, labels.txt and an optional model.json. Defaults to
    /// /opt/ml/model, or ../shared/models/mobilenetv2-int8 when /opt/ml/model does not exist.
    #[arg(long, global = true, env = "MODEL_DIR")]
    pub model_dir: Option<PathBuf>,

    /// Path of libonnxruntime.so (scripts/setup.sh installs it and sets this).
    #[arg(long, global = true, env = "ORT_DYLIB_PATH")]
    pub ort_dylib_path: Option<PathBuf>,

    /// Largest image accepted, in bytes (after base64 decoding).
    #[arg(long, global = true, env = "MAX_IMAGE_BYTES", default_value_t = 6 * 1024 * 1024)]
    pub max_image_bytes: usize,

    /// Largest image accepted, in pixels (checked from the header before decoding).
    #[arg(
        long,
        global = true,
        env = "MAX_IMAGE_PIXELS",
        default_value_t = 40_000_000
    )]
    pub max_image_pixels: u64,

    /// Longest time, in seconds, a client may take to send its request body (408 after that).
    #[arg(
        long,
        global = true,
        env = "BODY_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub body_timeout_seconds: u64,

    /// Requests decoding or running inference at once; more are refused with 503. Defaults to
    /// the number of CPU cores. Four times as many bodies may be arriving at once.
    #[arg(long, global = true, env = "MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,

    /// ONNX Runtime sessions; defaults to max-in-flight so no admitted request waits for one.
    #[arg(long, global = true, env = "ORT_SESSIONS")]
    pub ort_sessions: Option<usize>,

    /// ONNX Runtime intra-op threads per session.
    #[arg(long, global = true, env = "ORT_INTRA_THREADS", default_value_t = 1)]
    pub ort_intra_threads: usize,

    /// Intra-op threads of an extra session that serves a request alone in the server, so it
    /// gets every core (0 = no such session). Defaults to the number of CPU cores.
    #[arg(long, global = true, env = "ORT_SOLO_THREADS")]
    pub ort_solo_threads: Option<usize>,

    /// Also answer `POST /endpoints/<NAME>/invocations` the way the SageMaker Runtime API does,
    /// for this endpoint name, so the proxy's AWS SDK code runs unchanged against a local
    /// container. Local runs and tests only.
    #[arg(
        long,
        global = true,
        env = "SAGEMAKER_RUNTIME_API_ENDPOINT",
        value_name = "NAME"
    )]
    pub sagemaker_runtime_api: Option<String>,

    /// Let idle ONNX Runtime intra-op threads of the shared sessions spin instead of sleeping.
    #[arg(long, global = true, env = "ORT_INTRA_SPINNING", default_value_t = false, action = clap::ArgAction::Set)]
    pub ort_intra_spinning: bool,

    /// Directory where ONNX Runtime's optimised model is kept between starts (keyed by the
    /// model's hash, the runtime and the CPU), so that later starts on this machine skip graph
    /// optimisation. Unset: no cache (a fresh container, as in SageMaker, would only pay for
    /// writing it).
    #[arg(long, global = true, env = "ORT_CACHE_DIR")]
    pub ort_cache_dir: Option<PathBuf>,

    /// Value of the `Model` dimension of the EMF metrics; default: the model directory's name
    /// (set it in SageMaker, where the directory is always `/opt/ml/model`).
    #[arg(long, global = true, env = "MODEL_NAME")]
    pub model_name: Option<String>,

    #[command(flatten)]
    pub telemetry: telemetry::Config,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// SageMaker starts the container as `<entrypoint> serve`.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
}

impl Config {
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The configured model directory, or the SageMaker default, or the local shared model.
    pub fn resolved_model_dir(&self) -> PathBuf {
        if let Some(dir) = &self.model_dir {
            return dir.clone();
        }
        let sagemaker = Path::new(SAGEMAKER_MODEL_DIR);
        let local = Path::new(LOCAL_MODEL_DIR);
        if !sagemaker.exists() && local.exists() {
            local.to_path_buf()
        } else {
            sagemaker.to_path_buf()
        }
    }

    /// The `Model` metric dimension: `MODEL_NAME`, else the model directory's name.
    pub fn metrics_model_name(&self) -> String {
        self.model_name.clone().unwrap_or_else(|| {
            self.resolved_model_dir()
                .file_name()
                .map_or_else(|| "model".to_owned(), |n| n.to_string_lossy().into_owned())
        })
    }

    /// Dimensions of this process's EMF records.
    pub fn metrics_identity(&self) -> telemetry::Identity {
        self.telemetry
            .identity(telemetry::Service::ModelServer, &self.metrics_model_name())
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.unwrap_or_else(cores).max(1)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_image_bytes: self.max_image_bytes,
            max_pixels: self.max_image_pixels,
            max_in_flight: self.max_in_flight(),
            max_uploads: self.max_in_flight() * 4,
            body_timeout: std::time::Duration::from_secs(self.body_timeout_seconds),
        }
    }

    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            sessions: self
                .ort_sessions
                .unwrap_or_else(|| self.max_in_flight())
                .max(1),
            intra_threads: self.ort_intra_threads.max(1),
            intra_spinning: self.ort_intra_spinning,
            solo_threads: self.ort_solo_threads.unwrap_or_else(cores),
        }
    }

    /// What the background loader loads (see [`crate::loader`]).
    pub fn loading(&self) -> crate::loader::Loading {
        crate::loader::Loading {
            ort_dylib_path: self.ort_dylib_path.clone(),
            model_dir: self.resolved_model_dir(),
            options: self.session_options(),
            ort_cache_dir: self.ort_cache_dir.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        <Config as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn flags_work_before_and_after_the_serve_subcommand() {
        for args in [
            [
                "model-server",
                "serve",
                "--port",
                "9090",
                "--telemetry",
                "off",
            ],
            [
                "model-server",
                "--port",
                "9090",
                "--telemetry",
                "off",
                "serve",
            ],
        ] {
            let config = Config::try_parse_from(args).unwrap();
            assert_eq!(config.port, 9090, "{args:?}");
            assert_eq!(
                config.telemetry.telemetry,
                telemetry::Switch::Off,
                "{args:?}"
            );
            assert!(matches!(config.command, Some(Command::Serve)));
        }
    }
}
