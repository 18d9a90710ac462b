//! Loading the model in the background while the server already listens: `/ping` answers 503
//! until the first session is warm, then 200; the other sessions follow.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::Instant;

use telemetry::{catalogue, metrics};

use crate::AppState;
use crate::model::{Classifier, ModelError, ModelFiles, SessionOptions, init_runtime};

/// What to load and how (see [`crate::Config::loading`]).
#[derive(Debug, Clone)]
pub struct Loading {
    /// `libonnxruntime.so`; none is an error `/ping` reports.
    pub ort_dylib_path: Option<PathBuf>,
    pub model_dir: PathBuf,
    pub options: SessionOptions,
    /// ONNX Runtime's optimised model, kept between starts when set.
    pub ort_cache_dir: Option<PathBuf>,
}

/// [`ModelFiles::read`], a panic in it an error like any other (`/ping` must not stay at
/// "loading").
fn read_files(dir: &std::path::Path) -> Result<ModelFiles, ModelError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| ModelFiles::read(dir)))
        .unwrap_or_else(|_| Err(read_panicked()))
}

fn read_panicked() -> ModelError {
    ModelError::Unsupported("reading the model panicked".into())
}

/// Loads on a blocking thread into `state`, with `ModelLoadTime` measured from
/// `process_start`. The task ends once every session is built.
pub fn spawn(
    state: AppState,
    loading: Loading,
    process_start: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // The model's files are read and hashed on the other core while the runtime library
        // loads (about 8 ms of a cold start, BENCHMARKS.md).
        let model_dir = loading.model_dir.clone();
        let files = std::thread::Builder::new()
            .name("model-files".into())
            .spawn(move || read_files(&model_dir));
        let environment = match init_runtime(loading.ort_dylib_path.as_deref()) {
            Ok(environment) => environment,
            Err(e) => return state.finish_loading(Err(e)),
        };
        let runtime_ms = started.elapsed().as_secs_f64() * 1e3;
        let files = match files {
            Ok(reading) => reading.join().unwrap_or_else(|_| Err(read_panicked())),
            // No thread to be had: read them here.
            Err(_) => read_files(&loading.model_dir),
        };
        // A panic inside ONNX Runtime's bindings must not leave /ping at "loading" forever.
        let outcome = files.and_then(|files| {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                Classifier::from_files(
                    environment,
                    files,
                    loading.options,
                    loading.ort_cache_dir.as_deref(),
                )
            }))
            .unwrap_or_else(|_| Err(ModelError::Unsupported("loading the model panicked".into())))
        });
        if outcome.is_ok() {
            let ready_ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::info!(runtime_ms, ready_ms, "first session warmed up");
            metrics::observe(
                &catalogue::MODEL_LOAD_TIME,
                metrics::millis(process_start.elapsed()),
            );
        }
        state.finish_loading(outcome);
        state.add_remaining_sessions(environment);
    })
}
