//! Starting the real services for end-to-end tests, shared by the test suites of several
//! crates: the model server with the SageMaker
//! Runtime stand-in, and the proxy in local mode, on free loopback ports.

use std::path::{Path, PathBuf};

use crate::process::Process;

/// The endpoint name the model server's SageMaker Runtime stand-in answers to.
pub const ENDPOINT: &str = "mobilenet";
/// The origin the test proxies allow.
pub const ORIGIN: &str = "http://localhost:3000";

pub fn shared_dir() -> PathBuf {
    std::env::var_os("SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

pub fn shared_image(name: &str) -> Vec<u8> {
    std::fs::read(shared_dir().join("images").join(name)).unwrap()
}

/// Binaries of other workspace members sit next to this test's own `deps/` directory;
/// `cargo test --workspace` builds them before running any test.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test.sh)",
        path.display()
    );
    path
}

/// A model server with the SageMaker Runtime stand-in, ready to serve.
pub fn start_model_server(extra: &[(&str, &str)]) -> Process {
    let ort = std::env::var("ORT_DYLIB_PATH").expect(
        "ORT_DYLIB_PATH is not set: run the tests through scripts/test.sh, or eval \"$(scripts/setup.sh)\" first",
    );
    let mut env = vec![
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        (
            "MODEL_DIR",
            shared_dir()
                .join("models/mobilenetv2-int8")
                .display()
                .to_string(),
        ),
        ("ORT_DYLIB_PATH", ort),
        ("SAGEMAKER_RUNTIME_API_ENDPOINT", ENDPOINT.to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let server = Process::spawn(&workspace_binary("model-server"), &["serve"], &env);
    server.wait_until_ok("/ping");
    server
}

/// A proxy (local mode) sending to `endpoint_url` with dummy AWS credentials.
pub fn start_proxy(endpoint_url: &str, extra: &[(&str, &str)]) -> Process {
    let mut env = vec![
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("SAGEMAKER_ENDPOINT_NAME", ENDPOINT.to_owned()),
        ("SAGEMAKER_ENDPOINT_URL", endpoint_url.to_owned()),
        ("ALLOWED_ORIGINS", ORIGIN.to_owned()),
        ("STATIC_DIR", "/nonexistent".to_owned()),
        ("AWS_ACCESS_KEY_ID", "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_CONFIG_FILE", "/nonexistent".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Process::spawn(&workspace_binary("proxy"), &[], &env)
}
