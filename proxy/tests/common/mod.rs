//! Test helpers: real `model-server` and `proxy` processes on free loopback ports.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The endpoint name the model server's SageMaker Runtime stand-in answers to.
pub const ENDPOINT: &str = "mobilenet-local";
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

#[path = "../../../test-support/process.rs"]
mod process;
pub use process::Process;

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

/// A PNG of one colour at the given size (tiny file, large decode).
pub fn image_png(width: u32, height: u32) -> Vec<u8> {
    let mut encoder_out = Vec::new();
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([90, 140, 200]));
    image::DynamicImage::ImageRgb8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut encoder_out),
            image::ImageFormat::Png,
        )
        .unwrap();
    encoder_out
}

const POLICY: proxy::upstream::UpstreamPolicy = proxy::upstream::UpstreamPolicy {
    connect_timeout: Duration::from_secs(1),
    attempt_timeout: Duration::from_secs(20),
    operation_timeout: Duration::from_secs(30),
    max_attempts: 1,
};

/// Proxy state for in-process tests: the real SDK client with test credentials, calling
/// `endpoint_url`.
pub fn in_process_state(endpoint_url: &str) -> proxy::AppState {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_sdk_sagemakerruntime::config::{Credentials, SharedCredentialsProvider};
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local", "local", None, None, "tests",
        )))
        .build();
    let client = proxy::upstream::client(&sdk, Some(endpoint_url), POLICY);
    let config = proxy::Config {
        endpoint_name: ENDPOINT.to_owned(),
        endpoint_url: Some(endpoint_url.to_owned()),
        allowed_origins: vec![ORIGIN.to_owned()],
        max_image_bytes: 4 * 1024 * 1024,
        connect_timeout_ms: 1000,
        attempt_timeout_ms: 20_000,
        operation_timeout_ms: 30_000,
        max_attempts: 1,
        host: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        static_dir: "/nonexistent".into(),
        telemetry: telemetry::Config::default(),
    };
    proxy::AppState::new(client, &config)
}
