//! The bad-input corpus (test-support/src/corpus.rs) against both real services: every case gets
//! its documented status and JSON error code from the model server directly and through the
//! proxy, both processes stay up and answer a good request afterwards, and their peak memory
//! stays bounded (printed for RELIABILITY.md). Slow and stalled bodies get 408.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::corpus::{Case, Expect, cases};
use crate::common::*;
use serde_json::Value;

/// Peak resident memory the services may reach on the corpus: well above what they need (see
/// RELIABILITY.md), far below what decoding a single bomb would take (30 GB).
const MODEL_SERVER_MAX_RSS_MIB: u64 = 400;
const PROXY_MAX_RSS_MIB: u64 = 120;

async fn post(client: &reqwest::Client, url: &str, case: &Case) -> (u16, Option<String>, Value) {
    let mut request = client.post(url).body(case.body.clone());
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

/// Why the answer is not the expected one, if it is not.
fn mismatch(
    expected: Expect,
    status: u16,
    content_type: Option<&str>,
    body: &Value,
) -> Option<String> {
    if content_type != Some("application/json") {
        return Some(format!("content type {content_type:?}, body {body}"));
    }
    match expected {
        Expect::Classified => {
            let predictions = body["predictions"].as_array().map_or(0, Vec::len);
            (status != 200 || predictions == 0)
                .then(|| format!("expected 200 with predictions, got {status} {body}"))
        }
        Expect::Error(want_status, want_code) => {
            let message = body["error"]["message"].as_str().unwrap_or_default();
            (status != want_status || body["error"]["code"] != want_code || message.len() < 10)
                .then(|| format!("expected {want_status} {want_code}, got {status} {body}"))
        }
    }
}

#[tokio::test]
async fn every_bad_input_gets_its_documented_answer_from_both_services_and_neither_falls_over() {
    let mut model = start_model_server(&[("BODY_TIMEOUT_SECONDS", "2")]);
    let mut proxy = start_proxy(&model.url(""), &[("BODY_TIMEOUT_SECONDS", "2")]);
    proxy.wait_until_ok("/health");
    let client = reqwest::Client::new();
    let cases = cases();
    let kinds = cases.len();
    assert!(kinds >= 40, "the corpus has only {kinds} kinds");
    let mut failures = Vec::new();
    for case in &cases {
        for (service, url) in [
            ("model server", model.url("/invocations")),
            ("proxy", proxy.url("/predict")),
        ] {
            let (status, content_type, body) = post(&client, &url, case).await;
            if let Some(why) = mismatch(case.expect, status, content_type.as_deref(), &body) {
                let mut why = why;
                why.truncate(300);
                failures.push(format!("{service}, {}: {why}", case.name));
            }
        }
        assert!(
            model.is_running() && proxy.is_running(),
            "a service died on {}",
            case.name
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} answers were wrong:\n{}",
        failures.len(),
        2 * kinds,
        failures.join("\n")
    );

    // Both still serve a good request.
    let good = cases
        .iter()
        .find(|c| c.name == "a JPEG without a content type")
        .unwrap();
    for url in [model.url("/invocations"), proxy.url("/predict")] {
        let (status, _, body) = post(&client, &url, good).await;
        assert_eq!(status, 200, "{body}");
    }
    let model_mib = model.peak_rss_kib() / 1024;
    let proxy_mib = proxy.peak_rss_kib() / 1024;
    // Shown with --nocapture; RELIABILITY.md quotes it.
    eprintln!(
        "bad-input corpus: {kinds} kinds x 2 services; peak RSS model server {model_mib} MiB, proxy {proxy_mib} MiB"
    );
    assert!(
        model_mib < MODEL_SERVER_MAX_RSS_MIB,
        "model server peak RSS {model_mib} MiB"
    );
    assert!(
        proxy_mib < PROXY_MAX_RSS_MIB,
        "proxy peak RSS {proxy_mib} MiB"
    );
}

/// Sends headers promising 100000 bytes, then `trickle` bytes one at a time every 300 ms (or
/// nothing more), and returns the answer and how long after the request began its first byte
/// arrived.
fn slow_body(url: &str, path: &str, trickle: usize) -> (String, Duration) {
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    stream.write_all(b"\x89PNG\r\n\x1a\n").unwrap();
    let mut writer = stream.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        for _ in 0..trickle {
            std::thread::sleep(Duration::from_millis(300));
            if writer.write_all(b"\0").is_err() {
                break; // the server answered and closed
            }
        }
    });
    let mut answer = Vec::new();
    let mut first_byte = None;
    let mut buffer = [0; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        first_byte.get_or_insert_with(|| started.elapsed());
        answer.extend_from_slice(&buffer[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    trickler.join().unwrap();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        first_byte.unwrap_or_else(|| started.elapsed()),
    )
}

#[test]
fn slow_and_stalled_bodies_get_408_and_the_server_keeps_serving() {
    let model = start_model_server(&[("BODY_TIMEOUT_SECONDS", "2")]);
    let proxy = start_proxy(&model.url(""), &[("BODY_TIMEOUT_SECONDS", "2")]);
    proxy.wait_until_ok("/health");
    for (service, url, path) in [
        ("model server", model.url(""), "/invocations"),
        ("proxy", proxy.url(""), "/predict"),
    ] {
        for trickle in [0, 60] {
            let (answer, elapsed) = slow_body(&url, path, trickle);
            assert!(
                answer.starts_with("HTTP/1.1 408"),
                "{service}, trickle {trickle}: {answer}"
            );
            assert!(
                answer.contains(r#""code":"body_timeout""#),
                "{service}: {answer}"
            );
            // The 2-second deadline holds for the whole body, not per byte (a per-byte
            // deadline would let the 18-second trickle through).
            assert!(
                elapsed < Duration::from_secs(12),
                "{service}, trickle {trickle}: answered after {elapsed:?}"
            );
        }
    }
    model.wait_until_ok("/ping");
    proxy.wait_until_ok("/health");
}
