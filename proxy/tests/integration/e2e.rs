//! End to end: a real proxy process calling a real model server through the AWS SDK, as in AWS
//! but on loopback.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

async fn predict(
    proxy: &Process,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(proxy.url("/predict"))
        .header("content-type", content_type)
        .header("origin", ORIGIN)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn the_finch_through_the_proxy_is_a_house_finch() {
    let model = start_model_server(&[]);
    let proxy = start_proxy(&model.url(""), &[]);
    let finch = shared_image("house-finch.jpg");

    let (status, headers, body) = predict(&proxy, "image/jpeg", finch.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"][0]["index"], 12);
    assert_eq!(body["predictions"][0]["label"], "house finch");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 5);
    assert_eq!(body["cold_start"], json!({"proxy": true, "model": true}));
    let trace_id = body["trace_id"].as_str().unwrap();
    assert!(telemetry::trace::is_xray_trace_id(trace_id), "{trace_id}");
    assert_eq!(
        headers["x-amzn-trace-id"],
        format!("Root={trace_id}").as_str()
    );
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    let upstream = body["timings"]["upstream_ms"].as_f64().unwrap();
    let total = body["timings"]["total_ms"].as_f64().unwrap();
    assert!(upstream <= total, "{body}");

    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&finch);
    let request = json!({ "image_base64": encoded, "top_k": 2 })
        .to_string()
        .into_bytes();
    let (status, _, body) = predict(&proxy, "application/json", request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 2);
    assert_eq!(body["cold_start"], json!({"proxy": false, "model": false}));

    let health = reqwest::get(proxy.url("/health")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn a_corrupt_image_is_the_clients_fault_through_the_model_error_path() {
    let model = start_model_server(&[]);
    let proxy = start_proxy(&model.url(""), &[]);
    let finch = shared_image("house-finch.jpg");
    let truncated = finch[..finch.len() / 2].to_vec();
    let (status, _, body) = predict(&proxy, "image/jpeg", truncated).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_image");
    // The proxy passed it on: the model server saw and refused it.
    assert!(model.logged("invalid_image"), "the model server refused it");
}

#[tokio::test]
async fn a_stopped_model_server_is_a_502_within_the_deadline() {
    let mut model = start_model_server(&[]);
    let proxy = start_proxy(&model.url(""), &[("UPSTREAM_TIMEOUT_MS", "3000")]);
    model.stop();
    let started = Instant::now();
    let (status, _, body) = predict(&proxy, "image/jpeg", shared_image("house-finch.jpg")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    // Bounded by the configured deadline (plus slack for a loaded machine); not a speed test.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn a_model_server_at_its_limit_makes_the_proxy_answer_busy_with_retry_after() {
    let model = start_model_server(&[("MAX_IN_FLIGHT", "1")]);
    let proxy = std::sync::Arc::new(start_proxy(
        &model.url(""),
        &[("UPSTREAM_MAX_ATTEMPTS", "1")],
    ));
    // 36 MP of one colour: a small PNG that takes long to inflate, so requests overlap.
    let heavy = {
        let image = image_png(6000, 6000);
        assert!(image.len() < 4 * 1024 * 1024);
        image
    };
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (proxy, body) = (proxy.clone(), heavy.clone());
        requests.spawn(async move { predict(&proxy, "image/png", body).await });
    }
    let results = tokio::time::timeout(Duration::from_secs(120), requests.join_all())
        .await
        .expect("requests hung");
    assert!(
        results.iter().any(|(status, _, _)| *status == 200),
        "{results:?}"
    );
    let busy: Vec<_> = results
        .iter()
        .filter(|(status, _, _)| *status == 503)
        .collect();
    assert!(!busy.is_empty(), "{results:?}");
    for (_, headers, body) in busy {
        assert_eq!(body["error"]["code"], "busy");
        assert_eq!(headers["retry-after"], "1");
    }
}

#[tokio::test]
async fn a_model_that_is_not_ready_is_busy_and_an_unknown_endpoint_is_ours_to_fix() {
    let ort = std::env::var("ORT_DYLIB_PATH").unwrap();
    let env = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("MODEL_DIR", "/nonexistent/model".to_owned()),
        ("ORT_DYLIB_PATH", ort),
        ("SAGEMAKER_RUNTIME_API_ENDPOINT", ENDPOINT.to_owned()),
    ];
    let broken = Process::spawn(&workspace_binary("model-server"), &["serve"], &env);
    let proxy = start_proxy(&broken.url(""), &[]);
    let (status, headers, body) =
        predict(&proxy, "image/jpeg", shared_image("house-finch.jpg")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "busy");
    assert_eq!(headers["retry-after"], "1");

    let model = start_model_server(&[]);
    let misnamed = start_proxy(
        &model.url(""),
        &[("SAGEMAKER_ENDPOINT_NAME", "no-such-endpoint")],
    );
    let (status, _, body) = predict(&misnamed, "image/jpeg", shared_image("house-finch.jpg")).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(
        body["error"]["message"], "internal error",
        "no details to the client"
    );
    assert!(misnamed.logged("ValidationError"), "the details are logged");
}
