//! The ONNX image classifier: loading a model directory, a pool of ONNX Runtime sessions, and
//! turning logits into top-k predictions.
//!
//! A model directory holds `model.onnx`, `labels.txt` (line N is the name of class N) and an
//! optional `model.json` manifest. Any classifier with a float NCHW input `[N,3,H,W]` and a
//! `[N,classes]` output works.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};

use api::response::{ModelInfo, Prediction};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::imaging::PreprocessSpec;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "ONNX Runtime library not configured: set ORT_DYLIB_PATH to libonnxruntime.so (scripts/setup.sh installs it)"
    )]
    RuntimeNotConfigured,
    #[error("could not load the ONNX Runtime library from ORT_DYLIB_PATH={path}: {reason}")]
    RuntimeLoad { path: PathBuf, reason: String },
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid model.json: {0}")]
    Manifest(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("ONNX Runtime error: {0}")]
    Runtime(#[from] ort::Error),
}

/// `model.json`: everything optional; missing fields take ImageNet defaults or values read from
/// the model itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Model input size (square) when the ONNX input has dynamic H/W.
    pub input_size: Option<u32>,
    /// Shorter side before the center crop; defaults to input_size × 256/224.
    pub resize_size: Option<u32>,
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
    pub top_k_default: Option<usize>,
}

/// How sessions are built.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Number of sessions (requests that can run inference at the same time).
    pub sessions: usize,
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: usize,
    /// Whether idle intra-op threads spin. Spinning lowers latency when cores are free but
    /// burns CPU that other sessions and the image decoding need when they are not.
    pub intra_spinning: bool,
    /// Intra-op threads of an extra session used only by a request that is alone in the
    /// server, so a lone request gets every core (0 or 1: no such session).
    pub solo_threads: usize,
}

/// Ensures the ONNX Runtime library is loaded once per process, from `dylib`.
pub fn init_runtime(dylib: Option<&Path>) -> Result<&'static Environment, ModelError> {
    // ONNX Runtime allows one environment per process; it lives as long as the process.
    static RUNTIME: OnceLock<Result<Environment, String>> = OnceLock::new();
    let dylib = dylib.ok_or(ModelError::RuntimeNotConfigured)?;
    let outcome = RUNTIME.get_or_init(|| {
        ort::init_from(dylib)
            .map_err(|e| e.to_string())?
            .with_name("model-server")
            .build()
            .map_err(|e| e.to_string())
    });
    match outcome {
        Ok(environment) => Ok(environment),
        Err(reason) => Err(ModelError::RuntimeLoad {
            path: dylib.to_path_buf(),
            reason: reason.clone(),
        }),
    }
}

/// A model directory's files, read and the model hashed: no ONNX Runtime needed, so a cold
/// start reads them while the runtime library loads.
#[derive(Debug)]
pub struct ModelFiles {
    dir: PathBuf,
    manifest: Manifest,
    labels: Vec<String>,
    model_bytes: Vec<u8>,
    model_hash: sha2::digest::Output<Sha256>,
}

impl ModelFiles {
    pub fn read(dir: &Path) -> Result<Self, ModelError> {
        let manifest_path = dir.join("model.json");
        let manifest: Manifest = if manifest_path.exists() {
            serde_json::from_slice(&read(&manifest_path)?)
                .map_err(|e| ModelError::Manifest(e.to_string()))?
        } else {
            Manifest::default()
        };
        let labels = parse_labels(&String::from_utf8_lossy(&read(&dir.join("labels.txt"))?));
        let model_bytes = read(&dir.join("model.onnx"))?;
        let model_hash = Sha256::digest(&model_bytes);
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            labels,
            model_bytes,
            model_hash,
        })
    }
}

/// Sessions handed out one inference at a time (`Session::run` needs `&mut`).
///
/// Under load, each inference takes one of the single-threaded `shared` sessions, which gives
/// the most images per second per core. A request that is alone in the server takes the `solo`
/// session instead, whose spinning intra-op threads use every core to cut its latency; spinning
/// threads would steal CPU from concurrent decodes, so it is never used under load.
struct SessionPool {
    shared: Mutex<Vec<Session>>,
    returned: Condvar,
    /// Built after the server is ready (see [`Classifier::add_remaining_sessions`]).
    solo: OnceLock<Mutex<Session>>,
}

impl SessionPool {
    fn with_session<T>(&self, alone: bool, work: impl FnOnce(&mut Session) -> T) -> T {
        if alone && let Some(solo) = self.solo.get() {
            // A panic during a run poisons the lock but leaves the session usable.
            let guard = match solo.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut session) = guard {
                return work(&mut session);
            }
        }
        let mut borrowed = BorrowedSession {
            pool: self,
            session: Some(self.take_shared()),
        };
        let session = borrowed
            .session
            .as_mut()
            .expect("a borrowed session is only given back on drop");
        work(session)
    }

    fn take_shared(&self) -> Session {
        let mut idle = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(session) = idle.pop() {
                return session;
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn add_shared(&self, session: Session) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        self.returned.notify_one();
    }
}

/// Gives a shared session back to the pool when dropped, also when the work panicked, so a
/// panic can never shrink the pool and leave waiters blocked.
struct BorrowedSession<'a> {
    pool: &'a SessionPool,
    session: Option<Session>,
}

impl Drop for BorrowedSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.add_shared(session);
        }
    }
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.shared.lock().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("SessionPool")
            .field("idle_shared", &idle)
            .field("solo", &self.solo.get().is_some())
            .finish()
    }
}

/// The model a session is built from: as shipped, optimised at build time; or ONNX Runtime's
/// own already-optimised output of an earlier start, which skips graph optimisation.
#[derive(Clone, Copy)]
enum ModelGraph<'a> {
    Original(&'a [u8]),
    Optimised(&'a [u8]),
}

fn build_session(
    environment: &Environment,
    model: ModelGraph<'_>,
    intra_threads: usize,
    spinning: bool,
    save_optimised_to: Option<&Path>,
) -> ort::Result<Session> {
    let (bytes, level) = match model {
        ModelGraph::Original(bytes) => (bytes, GraphOptimizationLevel::Level3),
        ModelGraph::Optimised(bytes) => (bytes, GraphOptimizationLevel::Disable),
    };
    let mut builder = Session::builder(environment)?
        .with_optimization_level(level)?
        .with_intra_threads(intra_threads.max(1))?
        .with_inter_threads(1)?
        .with_intra_op_spinning(spinning)?;
    if let Some(path) = save_optimised_to {
        builder = builder.with_optimized_model_path(path)?;
    }
    builder.commit_from_memory(bytes)
}

/// Where an optimised copy of the model lives in `cache_dir`. ONNX Runtime's level-3 output
/// contains layouts chosen for this CPU (NCHWc blocks follow its vector width), so the key is
/// the model's hash, the runtime's build and the CPU's feature flags.
fn optimised_model_path(cache_dir: &Path, model_hash: &[u8]) -> PathBuf {
    let cpu_flags = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("flags") || l.starts_with("Features"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let environment = Sha256::new()
        .chain_update(ort::info())
        .chain_update(std::env::consts::ARCH)
        .chain_update(cpu_flags)
        .finalize();
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    cache_dir.join(format!(
        "{}-{}.onnx",
        hex(&model_hash[..16]),
        hex(&environment[..8])
    ))
}

/// Builds the first session: from the cached optimised model when there is one, else from the
/// original, saving ONNX Runtime's optimised output into the cache for the next start. Returns
/// the optimised model's bytes when the cache had them. A cache that cannot be read or written
/// costs nothing but the optimisation it would have saved.
fn build_first_session(
    environment: &Environment,
    model_bytes: &[u8],
    model_hash: &[u8],
    options: SessionOptions,
    cache_dir: Option<&Path>,
) -> ort::Result<(Session, Option<Vec<u8>>)> {
    let (threads, spinning) = (options.intra_threads, options.intra_spinning);
    let Some(cache_dir) = cache_dir else {
        let session = build_session(
            environment,
            ModelGraph::Original(model_bytes),
            threads,
            spinning,
            None,
        )?;
        return Ok((session, None));
    };
    let cached = optimised_model_path(cache_dir, model_hash);
    if let Ok(optimised) = std::fs::read(&cached) {
        match build_session(
            environment,
            ModelGraph::Optimised(&optimised),
            threads,
            spinning,
            None,
        ) {
            Ok(session) => return Ok((session, Some(optimised))),
            Err(e) => {
                tracing::warn!(path = %cached.display(), error = %e, "cached optimised model unusable; optimising again")
            }
        }
    }
    // Written beside the final name and renamed, so a concurrent start never reads half a file.
    let partial = cached.with_extension(format!("partial-{}", std::process::id()));
    let saved = std::fs::create_dir_all(cache_dir)
        .is_ok()
        .then_some(partial.as_path());
    let session = match build_session(
        environment,
        ModelGraph::Original(model_bytes),
        threads,
        spinning,
        saved,
    ) {
        Ok(session) => session,
        Err(e) if saved.is_some() => {
            tracing::warn!(dir = %cache_dir.display(), error = %e, "cannot save the optimised model; not cached");
            build_session(
                environment,
                ModelGraph::Original(model_bytes),
                threads,
                spinning,
                None,
            )?
        }
        Err(e) => return Err(e),
    };
    if saved.is_some() && std::fs::rename(&partial, &cached).is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    Ok((session, None))
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("info", &self.info)
            .field("classes", &self.labels.len())
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

/// Sessions still to build after the model is ready.
struct PendingSessions {
    model_bytes: Vec<u8>,
    /// The cached optimised model the first session was built from, if any.
    optimised: Option<Vec<u8>>,
    configs: Vec<PendingSession>,
}

enum PendingSession {
    /// The all-cores session for lone requests, with this many spinning intra-op threads.
    Solo(usize),
    /// A shared session: intra-op threads, spinning.
    Shared(usize, bool),
}

/// One inference on zeros, so no request pays for ONNX Runtime's lazy set-up.
fn warm_up(
    session: &mut Session,
    input_name: &str,
    preprocess: &PreprocessSpec,
    classes: usize,
) -> Result<(), ModelError> {
    let zeros = vec![0.0; preprocess.tensor_len()];
    run_session(session, input_name, preprocess, classes, &zeros).map(drop)
}

/// A loaded classifier, ready to run.
pub struct Classifier {
    pool: SessionPool,
    pending: Mutex<Option<PendingSessions>>,
    input_name: String,
    labels: Vec<String>,
    pub info: ModelInfo,
    pub preprocess: PreprocessSpec,
    pub top_k_default: usize,
}

fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `labels.txt`: one class name per line, trailing blank lines ignored.
pub fn parse_labels(text: &str) -> Vec<String> {
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_owned()).collect();
    while labels.last().is_some_and(String::is_empty) {
        labels.pop();
    }
    labels
}

/// Checks the model signature and works out the input size: `[N,3,H,W]` float in, `[N,C]` out.
fn input_geometry(
    session: &Session,
    manifest: &Manifest,
) -> Result<(String, u32, u32), ModelError> {
    let [input] = session.inputs() else {
        return Err(ModelError::Unsupported(format!(
            "expected exactly one input, found {}",
            session.inputs().len()
        )));
    };
    let ValueType::Tensor { ty, shape, .. } = input.dtype() else {
        return Err(ModelError::Unsupported("the input is not a tensor".into()));
    };
    if *ty != TensorElementType::Float32 || shape.len() != 4 || !(shape[1] == 3 || shape[1] < 0) {
        return Err(ModelError::Unsupported(format!(
            "input `{}` must be float32 [N,3,H,W], found {ty:?} {:?}",
            input.name(),
            &shape[..]
        )));
    }
    let side = |dim: i64| u32::try_from(dim).ok().filter(|d| *d > 0);
    let (height, width) = match (side(shape[2]), side(shape[3]), manifest.input_size) {
        (Some(h), Some(w), Some(size)) if (h, w) != (size, size) => {
            return Err(ModelError::Manifest(format!(
                "input_size {size} disagrees with the model input {h}x{w}"
            )));
        }
        (Some(h), Some(w), _) => (h, w),
        (_, _, Some(size)) => (size, size),
        _ => (224, 224),
    };
    let [output] = session.outputs() else {
        return Err(ModelError::Unsupported(format!(
            "expected exactly one output, found {}",
            session.outputs().len()
        )));
    };
    match output.dtype() {
        ValueType::Tensor { ty, shape, .. }
            if *ty == TensorElementType::Float32 && shape.len() == 2 => {}
        other => {
            return Err(ModelError::Unsupported(format!(
                "output `{}` must be float32 [N,classes], found {other:?}",
                output.name()
            )));
        }
    }
    Ok((input.name().to_owned(), height, width))
}

impl Classifier {
    /// Loads `model.onnx`, `labels.txt` and the optional `model.json` from `dir`, builds the
    /// sessions, and runs one warm-up inference per session so that the first real request does
    /// not pay for ONNX Runtime's lazy initialisation.
    pub fn load(
        environment: &Environment,
        dir: &Path,
        options: SessionOptions,
    ) -> Result<Self, ModelError> {
        Self::load_cached(environment, dir, options, None)
    }

    /// [`Classifier::load`], with ONNX Runtime's optimised model kept in `cache_dir` (see
    /// [`optimised_model_path`]): the next start on this machine skips graph optimisation.
    pub fn load_cached(
        environment: &Environment,
        dir: &Path,
        options: SessionOptions,
        cache_dir: Option<&Path>,
    ) -> Result<Self, ModelError> {
        Self::from_files(environment, ModelFiles::read(dir)?, options, cache_dir)
    }

    /// [`Classifier::load_cached`] from files already read (while ONNX Runtime loaded).
    pub fn from_files(
        environment: &Environment,
        files: ModelFiles,
        options: SessionOptions,
        cache_dir: Option<&Path>,
    ) -> Result<Self, ModelError> {
        let ModelFiles {
            dir,
            manifest,
            labels,
            model_bytes,
            model_hash,
        } = files;

        // Readiness needs one single-threaded session; `add_remaining_sessions` builds the rest
        // on one core while the other serves the first requests.
        let started = std::time::Instant::now();
        let (first, optimised) =
            build_first_session(environment, &model_bytes, &model_hash, options, cache_dir)?;
        let built = started.elapsed();
        // The solo session comes last: its warm-up takes every core, which would slow down the
        // first requests.
        let mut remaining: Vec<PendingSession> = (1..options.sessions.max(1))
            .map(|_| PendingSession::Shared(options.intra_threads, options.intra_spinning))
            .collect();
        if options.solo_threads > 1 {
            remaining.push(PendingSession::Solo(options.solo_threads));
        }
        let (input_name, height, width) = input_geometry(&first, &manifest)?;

        let resize_shorter = manifest
            .resize_size
            .unwrap_or_else(|| (height.min(width) * 256).div_ceil(224));
        if resize_shorter < height.max(width) {
            return Err(ModelError::Manifest(format!(
                "resize_size {resize_shorter} is smaller than the input {height}x{width}"
            )));
        }
        let defaults = PreprocessSpec::default();
        let preprocess = PreprocessSpec {
            input_width: width,
            input_height: height,
            resize_shorter,
            mean: manifest.mean.unwrap_or(defaults.mean),
            std: manifest.std.unwrap_or(defaults.std),
        };
        if preprocess.std.iter().any(|s| *s <= 0.0) {
            return Err(ModelError::Manifest("std values must be positive".into()));
        }
        let name = manifest.name.clone().unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into())
        });
        let version = manifest.version.clone().unwrap_or_else(|| {
            let hex: String = model_hash[..6].iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        });
        let mut first = first;
        warm_up(&mut first, &input_name, &preprocess, labels.len())?;
        // The parts of the cold start that are ONNX Runtime's.
        tracing::info!(
            build_ms = built.as_secs_f64() * 1e3,
            warm_up_ms = (started.elapsed() - built).as_secs_f64() * 1e3,
            from_cache = optimised.is_some(),
            "first session built"
        );
        Ok(Self {
            pool: SessionPool {
                shared: Mutex::new(vec![first]),
                returned: Condvar::new(),
                solo: OnceLock::new(),
            },
            pending: Mutex::new(Some(PendingSessions {
                model_bytes,
                optimised,
                configs: remaining,
            })),
            input_name,
            top_k_default: manifest
                .top_k_default
                .unwrap_or(api::request::DEFAULT_TOP_K)
                .clamp(1, labels.len().max(1)),
            labels,
            info: ModelInfo { name, version },
            preprocess,
        })
    }

    /// Builds and warms the sessions `load` left out and adds them to the pool.
    /// Until then requests share the sessions that exist. Runs once; later calls do nothing.
    pub fn add_remaining_sessions(&self, environment: &Environment) -> Result<usize, ModelError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(PendingSessions {
            model_bytes,
            optimised,
            configs,
        }) = pending
        else {
            return Ok(0);
        };
        let graph = optimised
            .as_deref()
            .map_or(ModelGraph::Original(&model_bytes), ModelGraph::Optimised);
        // One at a time, each usable as soon as it is warm: this keeps a core free for the
        // requests that arrive right after the server turned ready.
        let mut added = 0;
        for pending in configs {
            let (threads, spinning) = match pending {
                PendingSession::Solo(threads) => (threads, true),
                PendingSession::Shared(threads, spinning) => (threads, spinning),
            };
            let mut session = build_session(environment, graph, threads, spinning, None)?;
            warm_up(
                &mut session,
                &self.input_name,
                &self.preprocess,
                self.labels.len(),
            )?;
            match pending {
                PendingSession::Solo(_) => drop(self.pool.solo.set(Mutex::new(session))),
                PendingSession::Shared(..) => self.pool.add_shared(session),
            }
            added += 1;
        }
        Ok(added)
    }

    /// Runs the model on one preprocessed NCHW tensor and returns class probabilities.
    /// `alone` says no other request is in the server, so the all-cores session may be used.
    pub fn probabilities(&self, tensor: &[f32], alone: bool) -> Result<Vec<f32>, ModelError> {
        let mut rows = self.probabilities_batch(tensor, alone)?;
        rows.pop()
            .ok_or_else(|| ModelError::Unsupported("the model returned no output row".into()))
    }

    /// Runs the model on several NCHW tensors laid end to end (`n × 3 × H × W` values).
    pub fn probabilities_batch(
        &self,
        tensors: &[f32],
        alone: bool,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        self.pool.with_session(alone, |session| {
            run_session(
                session,
                &self.input_name,
                &self.preprocess,
                self.labels.len(),
                tensors,
            )
        })
    }

    /// The `k` most probable classes, best first.
    pub fn top_k(&self, probabilities: &[f32], k: usize) -> Vec<Prediction> {
        top_k_indices(probabilities, k)
            .into_iter()
            .map(|index| Prediction {
                index,
                label: self.labels[index].clone(),
                probability: probabilities[index],
            })
            .collect()
    }

    pub fn num_classes(&self) -> usize {
        self.labels.len()
    }
}

/// Runs a batch of NCHW tensors laid end to end; returns one probability vector per image.
fn run_session(
    session: &mut Session,
    input_name: &str,
    preprocess: &PreprocessSpec,
    classes: usize,
    batch: &[f32],
) -> Result<Vec<Vec<f32>>, ModelError> {
    let images = batch.len() / preprocess.tensor_len();
    let shape = [
        images,
        3,
        preprocess.input_height as usize,
        preprocess.input_width as usize,
    ];
    let input = TensorRef::from_array_view((shape, batch))?;
    let outputs = session.run(ort::inputs![input_name => input])?;
    let (_, logits) = outputs[0].try_extract_tensor::<f32>()?;
    if logits.len() != images * classes {
        return Err(ModelError::Unsupported(format!(
            "the model outputs {} classes but labels.txt has {classes} lines",
            logits.len() / images.max(1),
        )));
    }
    Ok(logits.chunks_exact(classes).map(softmax).collect())
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter_mut().for_each(|e| *e /= sum);
    exps
}

/// Indices of the `k` largest values, largest first; ties keep the lower index first.
pub fn top_k_indices(values: &[f32], k: usize) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..values.len()).collect();
    let k = k.min(values.len());
    let by_value_desc = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    if k < indices.len() && k > 0 {
        indices.select_nth_unstable_by(k - 1, by_value_desc);
    }
    indices.truncate(k);
    indices.sort_by(by_value_desc);
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_survives_large_logits() {
        let p = softmax(&[1000.0, 1000.0, 0.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p[0] - 0.5).abs() < 1e-6);
        assert!(p[2] < 1e-6);
    }

    #[test]
    fn top_k_returns_largest_first_with_stable_ties() {
        let values = [0.1, 0.5, 0.2, 0.5, 0.05];
        assert_eq!(top_k_indices(&values, 3), vec![1, 3, 2]);
        assert_eq!(top_k_indices(&values, 10), vec![1, 3, 2, 0, 4]);
        assert!(top_k_indices(&values, 0).is_empty());
    }

    #[test]
    fn labels_ignore_trailing_blank_lines_but_keep_positions() {
        assert_eq!(parse_labels("a\n\nc\n\n"), vec!["a", "", "c"]);
    }

    #[test]
    fn manifest_rejects_unknown_fields() {
        assert!(serde_json::from_str::<Manifest>(r#"{"nmae":"x"}"#).is_err());
        let m: Manifest = serde_json::from_str(r#"{"name":"x","input_size":299}"#).unwrap();
        assert_eq!(m.input_size, Some(299));
    }
}
