//! Test helpers: paths to the shared model and photos, generated test images, and a real
//! `model-server` process on a free port.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `../shared` beside the checkout, or `SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

pub fn model_dir() -> PathBuf {
    shared_dir().join("models/mobilenetv2-int8")
}

pub fn shared_image(name: &str) -> Vec<u8> {
    let path = shared_dir().join("images").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn ort_dylib() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from).expect(
        "ORT_DYLIB_PATH is not set: run the tests through scripts/test.sh, or eval \"$(scripts/setup.sh)\" first",
    )
}

pub use test_support::Process;
pub use test_support::images::*;

/// A `model-server` process on a free loopback port with the shared model, ready to serve.
pub fn start_server() -> Process {
    let server = spawn_server(&[]);
    server.wait_until_ok("/ping");
    server
}

/// A `model-server` process with extra environment variables, not waited for.
pub fn spawn_server(extra: &[(&str, &str)]) -> Process {
    let mut env = vec![
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("MODEL_DIR", model_dir().display().to_string()),
        ("ORT_DYLIB_PATH", ort_dylib().display().to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Process::spawn(
        Path::new(env!("CARGO_BIN_EXE_model-server")),
        &["serve"],
        &env,
    )
}

/// A temporary directory removed on drop (std only).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "model-server-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
