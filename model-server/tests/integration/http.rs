//! End-to-end: a real `model-server` process on a free loopback port, the real model, real HTTP.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use base64::Engine;
use image::{DynamicImage, ImageFormat};
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

async fn post(server: &Process, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    post_with(server, content_type, body, &[]).await.0
}

async fn post_with(
    server: &Process,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> ((u16, Value), reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .post(server.url("/invocations"))
        .header("content-type", content_type)
        .body(body);
    for (key, value) in headers {
        request = request.header(*key, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"], "application/json",
        "every answer is JSON"
    );
    ((status, response.json().await.unwrap()), headers)
}

fn top_indices(body: &Value) -> Vec<u64> {
    body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["index"].as_u64().unwrap())
        .collect()
}

fn check_known_answer(name: &str, body: &Value) {
    let top = top_indices(body);
    assert_eq!(top.len(), 5, "{name}: top-5 by default");
    match name {
        "house-finch.jpg" => {
            assert_eq!(top[0], 12);
            assert_eq!(body["predictions"][0]["label"], "house finch");
            assert!(body["predictions"][0]["probability"].as_f64().unwrap() > 0.9);
        }
        "cat-chelsea.png" => {
            assert_eq!(top[0], 285);
            assert!(top.contains(&281) && top.contains(&282), "{top:?}");
        }
        "espresso-coffee.png" => assert_eq!(top[0], 967),
        other => panic!("no known answer for {other}"),
    }
}

#[tokio::test]
async fn known_images_get_known_answers_as_raw_bytes_base64_and_data_urls() {
    let server = start_server();
    let mut cold_starts = Vec::new();
    for (name, mime) in [
        ("house-finch.jpg", "image/jpeg"),
        ("cat-chelsea.png", "image/png"),
        ("espresso-coffee.png", "image/png"),
    ] {
        let bytes = shared_image(name);
        let (status, body) = post(&server, mime, bytes.clone()).await;
        assert_eq!(status, 200, "{name}: {body}");
        check_known_answer(name, &body);
        cold_starts.push(body["cold_start"].as_bool().unwrap());
        for key in ["decode_ms", "preprocess_ms", "inference_ms", "total_ms"] {
            assert!(body["timings"][key].as_f64().unwrap() >= 0.0, "{key}");
        }
        assert_eq!(body["model"]["name"], "mobilenetv2-int8");
        assert!(
            body["model"]["version"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );

        let encoded = B64.encode(&bytes);
        let as_json = json!({ "image_base64": encoded }).to_string().into_bytes();
        let (status, body) = post(&server, "application/json", as_json).await;
        assert_eq!(status, 200, "{name} as base64: {body}");
        check_known_answer(name, &body);
        cold_starts.push(body["cold_start"].as_bool().unwrap());

        let data_url = format!("data:{mime};base64,{encoded}");
        let as_data_url = json!({ "image_base64": data_url }).to_string().into_bytes();
        let (status, body) = post(&server, "application/json", as_data_url).await;
        assert_eq!(status, 200, "{name} as data URL: {body}");
        check_known_answer(name, &body);
        cold_starts.push(body["cold_start"].as_bool().unwrap());
    }
    assert_eq!(cold_starts.iter().filter(|c| **c).count(), 1);
    assert!(
        cold_starts[0],
        "only the first request a process serves is cold"
    );
}

#[tokio::test]
async fn top_k_comes_from_the_json_body_or_the_custom_attributes_header() {
    let server = start_server();
    let finch = shared_image("house-finch.jpg");
    let ((status, body), _) = post_with(
        &server,
        "image/jpeg",
        finch.clone(),
        &[("X-Amzn-SageMaker-Custom-Attributes", "top_k=3")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(top_indices(&body).len(), 3);

    let request = json!({ "image_base64": B64.encode(&finch), "top_k": 20 });
    let (status, body) = post(&server, "application/json", request.to_string().into()).await;
    assert_eq!(status, 200);
    let probabilities: Vec<f64> = body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["probability"].as_f64().unwrap())
        .collect();
    assert_eq!(probabilities.len(), 20);
    assert!(probabilities.windows(2).all(|w| w[0] >= w[1]), "best first");
}

#[tokio::test]
async fn every_error_code_comes_back_as_json_through_a_real_request() {
    let server = start_server();
    let finch = shared_image("house-finch.jpg");
    // (case, content type, body, extra headers, expected status, expected code)
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<u8>,
        &'a [(&'a str, &'a str)],
        u16,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        ("empty", "image/jpeg", vec![], &[], 400, "empty_body"),
        (
            "over 6 MiB",
            "application/octet-stream",
            vec![0xFF; 6 * 1024 * 1024 + 1],
            &[],
            413,
            "payload_too_large",
        ),
        (
            "text content type",
            "text/plain",
            b"hello".to_vec(),
            &[],
            415,
            "unsupported_media_type",
        ),
        (
            "text as jpeg",
            "image/jpeg",
            b"hello there".to_vec(),
            &[],
            415,
            "unsupported_media_type",
        ),
        (
            "tiff",
            "image/tiff",
            finch.clone(),
            &[],
            415,
            "unsupported_media_type",
        ),
        (
            "truncated jpeg",
            "image/jpeg",
            finch[..finch.len() / 2].to_vec(),
            &[],
            400,
            "invalid_image",
        ),
        (
            "png bomb",
            "image/png",
            png_bomb(100_000, 100_000),
            &[],
            413,
            "image_too_large",
        ),
        (
            "bad json",
            "application/json",
            b"{\"image_base64\":".to_vec(),
            &[],
            400,
            "invalid_json",
        ),
        (
            "wrong json field",
            "application/json",
            br#"{"image":"abc"}"#.to_vec(),
            &[],
            400,
            "invalid_json",
        ),
        (
            "bad base64",
            "application/json",
            br#"{"image_base64":"not*base64!"}"#.to_vec(),
            &[],
            400,
            "invalid_base64",
        ),
        (
            "top_k header 0",
            "image/jpeg",
            finch.clone(),
            &[("X-Amzn-SageMaker-Custom-Attributes", "top_k=0")],
            400,
            "invalid_parameter",
        ),
        (
            "top_k json 21",
            "application/json",
            json!({"image_base64": B64.encode(&finch), "top_k": 21})
                .to_string()
                .into(),
            &[],
            400,
            "invalid_parameter",
        ),
    ];
    for (name, content_type, body, headers, status, code) in cases {
        let ((got_status, got), _) = post_with(&server, content_type, body, headers).await;
        assert_eq!(got_status, status, "{name}: {got}");
        assert_eq!(got["error"]["code"], code, "{name}: {got}");
        assert!(
            got["error"]["message"].as_str().unwrap().len() > 5,
            "{name}"
        );
    }
    let response = reqwest::get(server.url("/no-such-route")).await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = reqwest::get(server.url("/invocations")).await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn generated_formats_and_colour_types_are_classified() {
    let server = start_server();
    let photo = DynamicImage::ImageRgb8(photo_like(640, 480));
    let gray = DynamicImage::ImageLuma8(photo.to_luma8());
    let sixteen = DynamicImage::ImageRgb16(photo.to_rgb16());
    let rgba = DynamicImage::ImageRgba8(photo.to_rgba8());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gif", encode(&photo, ImageFormat::Gif)),
        ("webp", encode(&photo, ImageFormat::WebP)),
        ("bmp", encode(&photo, ImageFormat::Bmp)),
        ("grayscale jpeg", encode(&gray, ImageFormat::Jpeg)),
        ("grayscale png", encode(&gray, ImageFormat::Png)),
        ("16-bit png", encode(&sixteen, ImageFormat::Png)),
        ("rgba png", encode(&rgba, ImageFormat::Png)),
        ("cmyk jpeg", cmyk_jpeg(640, 480, [20, 180, 90, 10])),
        ("12 MP jpeg", jpeg(&photo_like(4000, 3000), 85)),
    ];
    for (name, bytes) in cases {
        // Declared as octet-stream: the format is found from the magic bytes.
        let (status, body) = post(&server, "application/octet-stream", bytes).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(top_indices(&body).len(), 5, "{name}");
    }
}

#[tokio::test]
async fn an_exif_rotated_photo_is_classified_upright() {
    let server = start_server();
    let finch = image::load_from_memory(&shared_image("house-finch.jpg"))
        .unwrap()
        .to_rgb8();
    // Store the finch rotated 90° counter-clockwise and tag it "rotate 90° clockwise to view".
    let stored = image::imageops::rotate270(&finch);
    let (status, body) = post(&server, "image/jpeg", jpeg_with_orientation(&stored, 6)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(top_indices(&body)[0], 12);
    assert!(body["predictions"][0]["probability"].as_f64().unwrap() > 0.9);
}

#[tokio::test]
async fn decompression_bombs_are_refused_with_bounded_memory() {
    // Pinned so the baseline (sessions) does not grow with the machine's core count.
    let server = spawn_server(&[("MAX_IN_FLIGHT", "2"), ("ORT_SOLO_THREADS", "0")]);
    server.wait_until_ok("/ping");
    let bombs = [
        png_bomb(100_000, 100_000),
        jpeg_bomb(65_000, 65_000),
        gif_bomb(65_535, 65_535),
        png_bomb(7_000, 7_000),
    ];
    for bomb in bombs {
        let (status, body) = post(&server, "application/octet-stream", bomb).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], "image_too_large");
    }
    // The model, ORT and the runtime take well under 200 MiB; a decoded bomb would take GiBs.
    let peak_mib = server.peak_rss_kib() / 1024;
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB");
}

#[tokio::test]
async fn beyond_the_in_flight_limit_requests_are_refused_at_once_and_none_hang() {
    let server = spawn_server(&[("MAX_IN_FLIGHT", "1"), ("MAX_IMAGE_BYTES", "67108864")]);
    server.wait_until_ok("/ping");
    // A 16 MP PNG takes long enough to decode that concurrent requests overlap.
    let heavy = encode(
        &DynamicImage::ImageRgb8(photo_like(4000, 4000)),
        ImageFormat::Png,
    );
    let client = reqwest::Client::new();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = client
            .post(server.url("/invocations"))
            .header("content-type", "image/png")
            .body(heavy.clone())
            .send();
        requests.spawn(async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.unwrap();
            (status, retry_after, body)
        });
    }
    // The timeout only detects a hang; it is not a speed check.
    let results = tokio::time::timeout(Duration::from_secs(120), requests.join_all())
        .await
        .expect("requests hung");
    let ok = results.iter().filter(|(s, _, _)| *s == 200).count();
    let refused: Vec<_> = results.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(ok >= 1, "{results:?}");
    assert!(!refused.is_empty(), "{results:?}");
    assert_eq!(ok + refused.len(), results.len(), "{results:?}");
    for (_, retry_after, body) in refused {
        assert_eq!(body["error"]["code"], "overloaded");
        assert_eq!(retry_after.as_ref().unwrap(), "1");
    }
    // Capacity returns as soon as load drops.
    let (status, _) = post(&server, "image/jpeg", shared_image("house-finch.jpg")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_missing_or_corrupt_model_keeps_the_process_up_with_ping_503() {
    let corrupt = TempDir::new();
    std::fs::write(corrupt.path().join("model.onnx"), b"\x08\x07garbage").unwrap();
    std::fs::write(corrupt.path().join("labels.txt"), "a\n").unwrap();
    let corrupt_dir = corrupt.path().to_str().unwrap().to_owned();
    let cases = [
        (
            "missing model",
            vec![("MODEL_DIR", "/nonexistent/model")],
            "/nonexistent/model",
        ),
        (
            "corrupt model",
            vec![("MODEL_DIR", corrupt_dir.as_str())],
            "ONNX Runtime",
        ),
        (
            "missing runtime",
            vec![("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")],
            "ORT_DYLIB_PATH",
        ),
    ];
    for (name, env, reason) in cases {
        let mut server = spawn_server(&env);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let body = loop {
            let response = reqwest::get(server.url("/ping")).await.unwrap();
            assert_eq!(response.status().as_u16(), 503, "{name}");
            let body: Value = response.json().await.unwrap();
            if body["error"]["code"] == "model_unavailable" || std::time::Instant::now() > deadline
            {
                break body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(body["error"]["code"], "model_unavailable", "{name}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{name}: {message}");
        let (status, body) = post(&server, "image/jpeg", shared_image("house-finch.jpg")).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (503, &json!("model_unavailable"))
        );
        assert!(server.is_running(), "{name}: the process must stay up");
        assert!(
            server.logged("model failed to load"),
            "{name}: the reason is logged"
        );
    }
}

#[tokio::test]
async fn json_top_k_wins_over_the_header_and_odd_but_valid_requests_work() {
    let server = start_server();
    let finch = shared_image("house-finch.jpg");
    let request = json!({ "image_base64": B64.encode(&finch), "top_k": 2 });
    let ((status, body), _) = post_with(
        &server,
        "application/json; charset=utf-8",
        request.to_string().into(),
        &[("X-Amzn-SageMaker-Custom-Attributes", "top_k=7")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(top_indices(&body).len(), 2);

    // URL-safe base64 without padding.
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&finch);
    let request = json!({ "image_base64": url_safe }).to_string().into_bytes();
    let (status, body) = post(&server, "application/json", request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(top_indices(&body)[0], 12);

    // No content type at all: sniffed.
    let response = reqwest::Client::new()
        .post(server.url("/invocations"))
        .body(finch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408_and_frees_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = spawn_server(&[("BODY_TIMEOUT_SECONDS", "1")]);
    server.wait_until_ok("/ping");
    let addr = server.addr.clone();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /invocations HTTP/1.1\r\nHost: {addr}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0xFF, 0xD8, 0xFF]).await.unwrap();
    let mut response = Vec::new();
    // Bounded wait: the server must answer by itself, long before this.
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response));
    read.await.expect("no answer to a stalled body").unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    let (status, _) = post(&server, "image/jpeg", shared_image("house-finch.jpg")).await;
    assert_eq!(status, 200);
}

async fn invoke_endpoint(
    server: &Process,
    endpoint: &str,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/endpoints/{endpoint}/invocations")))
        .header("content-type", "image/jpeg")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn the_runtime_api_stand_in_wraps_answers_like_sagemaker() {
    let server = spawn_server(&[("SAGEMAKER_RUNTIME_API_ENDPOINT", "mobilenet-local")]);
    server.wait_until_ok("/ping");
    let finch = shared_image("house-finch.jpg");

    let (status, headers, body) = invoke_endpoint(&server, "mobilenet-local", finch.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-amzn-invoked-production-variant"], "AllTraffic");
    assert_eq!(top_indices(&body)[0], 12);

    // A container 4xx becomes ModelError (424) carrying the container's status and body.
    let truncated = finch[..finch.len() / 2].to_vec();
    let (status, headers, body) = invoke_endpoint(&server, "mobilenet-local", truncated).await;
    assert_eq!(status, 424, "{body}");
    assert_eq!(headers["x-amzn-errortype"], "ModelError");
    assert_eq!(body["OriginalStatusCode"], 400);
    let original: Value = serde_json::from_str(body["OriginalMessage"].as_str().unwrap()).unwrap();
    assert_eq!(original["error"]["code"], "invalid_image");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("client error (400)")
    );
    assert!(
        body["LogStreamArn"]
            .as_str()
            .unwrap()
            .contains("mobilenet-local")
    );

    // An unknown endpoint is the caller's mistake.
    let (status, headers, body) = invoke_endpoint(&server, "other", finch.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(headers["x-amzn-errortype"], "ValidationError");
    assert!(body["message"].as_str().unwrap().contains("other"));

    // Without the flag the route does not exist.
    let plain = start_server();
    let response = reqwest::Client::new()
        .post(plain.url("/endpoints/mobilenet-local/invocations"))
        .body(finch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn the_runtime_api_stand_in_reports_not_ready_and_throttling() {
    let broken = spawn_server(&[
        ("SAGEMAKER_RUNTIME_API_ENDPOINT", "mobilenet-local"),
        ("MODEL_DIR", "/nonexistent/model"),
    ]);
    let finch = shared_image("house-finch.jpg");
    let (status, headers, body) = invoke_endpoint(&broken, "mobilenet-local", finch).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["x-amzn-errortype"], "ModelNotReadyException");

    let busy = spawn_server(&[
        ("SAGEMAKER_RUNTIME_API_ENDPOINT", "mobilenet-local"),
        ("MAX_IN_FLIGHT", "1"),
        ("MAX_IMAGE_BYTES", "67108864"),
    ]);
    busy.wait_until_ok("/ping");
    let heavy = encode(
        &DynamicImage::ImageRgb8(photo_like(4000, 4000)),
        ImageFormat::Png,
    );
    let busy = std::sync::Arc::new(busy);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (server, body) = (busy.clone(), heavy.clone());
        requests.spawn(async move { invoke_endpoint(&server, "mobilenet-local", body).await });
    }
    let results = tokio::time::timeout(Duration::from_secs(120), requests.join_all())
        .await
        .expect("requests hung");
    assert!(results.iter().any(|(status, _, _)| *status == 200));
    let throttled: Vec<_> = results
        .iter()
        .filter(|(status, _, _)| *status == 429)
        .collect();
    assert!(!throttled.is_empty(), "{results:?}");
    for (_, headers, _) in throttled {
        assert_eq!(headers["x-amzn-errortype"], "ThrottlingException");
    }
}
