//! Test helpers: real `model-server` and `proxy` processes on free loopback ports.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

#[path = "../../../test-support/process.rs"]
mod process;
#[allow(unused_imports)] // not every suite signals processes
pub use process::{Process, send_signal};
#[path = "../../../test-support/corpus.rs"]
pub mod corpus;
#[path = "../../../test-support/images.rs"]
pub mod images;
#[path = "../../../test-support/stack.rs"]
mod stack;
pub use stack::*;

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
        body_timeout_seconds: 10,
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
