//! The ONNX image classifier: loading a model directory, a pool of ONNX Runtime sessions, and
//! turning logits into top-k predictions.
//!
//! A model directory holds `model.onnx`, `labels.txt` (line N is the name of class N) and an
//! optional `model.json` manifest. Any classifier with a float NCHW input `[N,3,H,W]` and a
//! `[N,classes]` output works.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};
use serde::{Deserialize, Serialize};
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

/// Identity of the model returned with each prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
}

/// How sessions are built.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Number of sessions (requests that can run inference at the same time).
    pub sessions: usize,
    /// ONNX Runtime intra-op threads per session.
    pub intra_threads: usize,
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

/// A fixed set of sessions handed out one request at a time. `Session::run` needs `&mut`, so
/// each session is owned by one inference at a time; callers wait only if more inferences run
/// than there are sessions.
struct SessionPool {
    idle: Mutex<Vec<Session>>,
    returned: Condvar,
}

impl SessionPool {
    fn with_session<T>(&self, work: impl FnOnce(&mut Session) -> T) -> T {
        let mut session = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(session) = idle.pop() {
                    break session;
                }
                idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = work(&mut session);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        self.returned.notify_one();
        result
    }
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("SessionPool").field("idle", &idle).finish()
    }
}

/// One class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// A loaded classifier, ready to run.
#[derive(Debug)]
pub struct Classifier {
    pool: SessionPool,
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
        let manifest_path = dir.join("model.json");
        let manifest: Manifest = if manifest_path.exists() {
            serde_json::from_slice(&read(&manifest_path)?)
                .map_err(|e| ModelError::Manifest(e.to_string()))?
        } else {
            Manifest::default()
        };
        let labels_path = dir.join("labels.txt");
        let labels = parse_labels(&String::from_utf8_lossy(&read(&labels_path)?));
        let model_bytes = read(&dir.join("model.onnx"))?;

        let sessions = (0..options.sessions.max(1))
            .map(|_| {
                Session::builder(environment)?
                    .with_optimization_level(GraphOptimizationLevel::Level3)?
                    .with_intra_threads(options.intra_threads.max(1))?
                    .with_inter_threads(1)?
                    .commit_from_memory(&model_bytes)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (input_name, height, width) = input_geometry(&sessions[0], &manifest)?;

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
            let digest = Sha256::digest(&model_bytes);
            let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        });
        let classifier = Self {
            pool: SessionPool {
                idle: Mutex::new(sessions),
                returned: Condvar::new(),
            },
            input_name,
            top_k_default: manifest
                .top_k_default
                .unwrap_or(5)
                .clamp(1, labels.len().max(1)),
            labels,
            info: ModelInfo { name, version },
            preprocess,
        };
        classifier.warm_up(options.sessions.max(1))?;
        Ok(classifier)
    }

    fn warm_up(&self, sessions: usize) -> Result<(), ModelError> {
        let zeros = vec![0.0; self.preprocess.tensor_len()];
        let mut held = Vec::with_capacity(sessions);
        {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            held.append(&mut idle);
        }
        let result = held
            .iter_mut()
            .try_for_each(|session| self.run_session(session, &zeros).map(drop));
        self.pool
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&mut held);
        result
    }

    fn run_session(&self, session: &mut Session, tensor: &[f32]) -> Result<Vec<f32>, ModelError> {
        let shape = [
            1_usize,
            3,
            self.preprocess.input_height as usize,
            self.preprocess.input_width as usize,
        ];
        let input = TensorRef::from_array_view((shape, tensor))?;
        let outputs = session.run(ort::inputs![self.input_name.as_str() => input])?;
        let (_, logits) = outputs[0].try_extract_tensor::<f32>()?;
        if logits.len() != self.labels.len() {
            return Err(ModelError::Unsupported(format!(
                "the model outputs {} classes but labels.txt has {} lines",
                logits.len(),
                self.labels.len()
            )));
        }
        Ok(softmax(logits))
    }

    /// Runs the model on one preprocessed NCHW tensor and returns class probabilities.
    pub fn probabilities(&self, tensor: &[f32]) -> Result<Vec<f32>, ModelError> {
        self.pool
            .with_session(|session| self.run_session(session, tensor))
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
