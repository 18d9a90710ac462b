//! `slo report --source emf` on the logs of a real local-stack run: the proxy and the model
//! server as processes, a known mix of good, bad and overloading requests, their stdout
//! saved as the log shipper would, and the report's counts checked exactly.

use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

/// A 6000x6000 PNG of one colour: small to send, slow to inflate (a slow request).
fn heavy_png() -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::from_pixel(6000, 6000, image::Rgb([90, 140, 200]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    png
}

async fn predict(proxy: &Process, content_type: &str, body: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .post(proxy.url("/predict"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_report_from_a_real_run_counts_exactly_what_happened() {
    let mut model = start_model_server(&[]);
    let mut proxy = start_proxy(&model.url(""), &[]);
    let finch = shared_image("house-finch.jpg");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(predict(&proxy, "image/jpeg", finch.clone()).await);
    }
    for _ in 0..2 {
        statuses.push(predict(&proxy, "image/png", heavy_png()).await);
    }
    for _ in 0..3 {
        statuses.push(predict(&proxy, "text/plain", b"not an image".to_vec()).await);
    }
    statuses.push(predict(&proxy, "image/jpeg", finch[..finch.len() / 3].to_vec()).await);
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 200, 415, 415, 415, 400]
    );
    let n = statuses.len();

    let dir = temp_dir("real-run");
    std::fs::write(dir.join("proxy.log"), proxy.terminate().join("\n")).unwrap();
    std::fs::write(dir.join("model-server.log"), model.terminate().join("\n")).unwrap();
    // The proxy's own Latency values, to count warm requests within the spec's 300 ms.
    let proxy_log = std::fs::read_to_string(dir.join("proxy.log")).unwrap();
    let warm_latencies: Vec<f64> = proxy_log
        .lines()
        .filter(|l| telemetry::emf::is_record(l))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["StartType"] == "warm")
        .map(|r| r["Latency"].as_f64().unwrap())
        .collect();
    assert_eq!(warm_latencies.len(), n - 1);
    let warm_fast = warm_latencies.iter().filter(|l| **l <= 300.0).count();

    let at = jiff::Timestamp::now()
        .checked_add(Duration::from_secs(1))
        .unwrap()
        .to_string();
    let specs = project_specs();
    let out = slo(&[
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--logs",
        dir.to_str().unwrap(),
        "--at",
        &at,
        "--format",
        "json",
        "--min-events",
        "1",
        "--fail-on",
        "breach",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = |v: usize| f64::from(u32::try_from(v).unwrap());
    assert_eq!(
        slo_named(&report, "proxy-availability")["events"],
        json!({"good": count(n), "total": count(n)})
    );
    assert_eq!(
        slo_named(&report, "cold-start-rate")["events"],
        json!({"good": count(n - 1), "total": count(n)})
    );
    assert_eq!(
        slo_named(&report, "proxy-latency")["events"],
        json!({"good": count(warm_fast), "total": count(n - 1)})
    );
    assert_eq!(
        slo_named(&report, "cold-start-latency")["events"]["total"],
        1.0
    );
    // Eight invocations reached the model (seven images, one truncated): one or two 5-minute
    // slices, all under 1 % server errors.
    let model_slices = &slo_named(&report, "model-server-errors")["events"];
    assert_eq!(model_slices["good"], model_slices["total"]);
    assert!(
        model_slices["total"].as_f64().unwrap() >= 1.0,
        "{model_slices}"
    );
    assert_eq!(report["cold_start"]["cold_starts"], 1.0);
    assert_eq!(report["cold_start"]["requests"], count(n));
    // The gate holds only if the warm requests met the latency objective.
    let latency_met = count(warm_fast) / count(n - 1) >= 0.99;
    assert_eq!(
        out.status.code(),
        Some(if latency_met { 0 } else { 1 }),
        "{report}"
    );
}
