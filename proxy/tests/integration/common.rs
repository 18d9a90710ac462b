//! Test helpers: real `model-server` and `proxy` processes on free loopback ports.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use serde_json::Value;

pub use test_support::stack::*;
pub use test_support::{Process, corpus, moto, send_signal, xray};

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

/// The EMF records among `lines`, each checked against the spec.
pub fn emf_records(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter(|line| telemetry::emf::is_record(line))
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            if let Err(problems) = telemetry::emf::validate(&record) {
                panic!("invalid EMF record {line}: {problems:?}");
            }
            record
        })
        .collect()
}

/// Sum of metric `name` over `records` (arrays contribute every value).
pub fn sum(records: &[Value], name: &str) -> f64 {
    records
        .iter()
        .map(|r| match &r[name] {
            Value::Number(n) => n.as_f64().unwrap(),
            Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).sum(),
            _ => 0.0,
        })
        .sum()
}

/// Number of values of metric `name` (CloudWatch's SampleCount).
pub fn samples(records: &[Value], name: &str) -> usize {
    records
        .iter()
        .map(|r| match &r[name] {
            Value::Number(_) => 1,
            Value::Array(values) => values.len(),
            _ => 0,
        })
        .sum()
}

pub fn with_dimension(records: &[Value], key: &str, value: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r[key] == value)
        .cloned()
        .collect()
}

/// Sends the head and the first `sent` bytes of a `POST path` with `body` over a raw
/// connection, so that the request is in flight until [`finish_request`].
pub async fn start_request(
    addr: &str,
    path: &str,
    body: &[u8],
    sent: usize,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..sent]).await.unwrap();
    stream
}

/// Sends the rest of the body and returns the answer's status.
pub async fn finish_request(mut stream: tokio::net::TcpStream, rest: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Position of the first line of `lines` that satisfies `found`.
pub fn position(lines: &[String], found: impl Fn(&str) -> bool) -> usize {
    lines
        .iter()
        .position(|line| found(line))
        .unwrap_or_else(|| panic!("no such line in {lines:#?}"))
}

/// The unread bytes (rx_queue) of each established connection to local `port`, from
/// /proc/net/tcp (local address, state 01).
pub fn established_at(port: u16) -> Vec<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let rx_queue = fields[4]
                .split(':')
                .nth(1)
                .and_then(|q| usize::from_str_radix(q, 16).ok());
            (local_port == Some(port) && fields[3] == "01").then_some(rx_queue.unwrap_or(0))
        })
        .collect()
}

/// Waits until the server at `addr` (`127.0.0.1:PORT`) has read everything sent so far on
/// `connections` established connections: their requests have begun in the process, which is
/// what a test of shutdown with requests in flight needs before it sends the signal.
pub fn wait_until_read(addr: &str, connections: usize) {
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let established = established_at(port);
        if established.iter().filter(|&&unread| unread == 0).count() >= connections {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server at {addr} did not read its {connections} request(s): {established:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
