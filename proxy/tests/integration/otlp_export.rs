//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, both real processes export their spans over
//! OTLP/HTTP (as to the ADOT collector that forwards them to X-Ray): a stand-in collector on
//! loopback receives the request's trace from the proxy and from the model server.

use std::time::Duration;

use crate::common::*;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::mpsc;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// Multi-threaded: the collector must answer while this test blocks waiting for the exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_export_the_requests_spans_over_otlp_when_an_endpoint_is_set() {
    let (exports_tx, mut exports) = mpsc::unbounded_channel::<(String, Bytes)>();
    let collector = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let exports_tx = exports_tx.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = exports_tx.send((content_type, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let otlp = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    let mut model = start_model_server(&otlp);
    let mut proxy = start_proxy(&model.url(""), &otlp);
    let response = reqwest::Client::new()
        .post(proxy.url("/predict"))
        .header("content-type", "image/jpeg")
        .body(shared_image("house-finch.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    // 1-8hex-24hex is the 16-byte OTLP trace id in hex.
    let trace = body["trace_id"].as_str().unwrap().replace('-', "");
    let trace_bytes: Vec<u8> = (1..33)
        .step_by(2)
        .map(|i| u8::from_str_radix(&trace[i..i + 2], 16).unwrap())
        .collect();
    // The batch exporters send at the latest when the processes stop.
    proxy.terminate();
    model.terminate();

    let mut services = Vec::new();
    while let Ok(Some((content_type, body))) =
        tokio::time::timeout(Duration::from_secs(2), exports.recv()).await
    {
        assert_eq!(content_type, "application/x-protobuf");
        if contains(&body, &trace_bytes) {
            for service in ["model-server", "proxy"] {
                if contains(&body, service.as_bytes()) && !services.contains(&service) {
                    services.push(service);
                }
            }
        }
    }
    services.sort_unstable();
    assert_eq!(
        services,
        ["model-server", "proxy"],
        "both services export spans of trace {trace}"
    );
}
