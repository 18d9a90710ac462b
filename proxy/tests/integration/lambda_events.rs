//! The router driven by real API Gateway HTTP API (v2) events: parsed by `lambda_http` into
//! requests for `oneshot`, and once through `lambda_http`'s own Lambda adapter (invocation
//! context in, serialized Lambda response out); the real SDK calls a real model server.

use crate::common::*;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use proxy::{AppState, app};
use serde_json::Value;
use tower::ServiceExt;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn event(name: &str) -> Request<Body> {
    let request = lambda_http::request::from_str(&fixture(name)).unwrap();
    let (parts, body) = request.into_parts();
    Request::from_parts(parts, Body::from(body.to_vec()))
}

struct Answer {
    status: u16,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn call(state: &AppState, request: Request<Body>) -> Answer {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn json_and_base64_binary_events_are_classified_through_the_sdk() {
    let model = start_model_server(&[]);
    let state = in_process_state(&model.url(""));

    let json = call(&state, event("apigw_v2_predict_json.json")).await;
    assert_eq!(json.status, 200, "{}", json.body);
    assert_eq!(json.body["predictions"].as_array().unwrap().len(), 3);
    assert_eq!(json.headers["access-control-allow-origin"], ORIGIN);
    // The trace id of the incoming X-Amzn-Trace-Id is continued and returned.
    assert_eq!(json.body["trace_id"], "1-67891233-abcdef012345678912345678");
    assert_eq!(
        json.headers["x-amzn-trace-id"],
        "Root=1-67891233-abcdef012345678912345678"
    );
    assert_eq!(json.body["cold_start"]["proxy"], true);

    let binary = call(&state, event("apigw_v2_predict_binary.json")).await;
    assert_eq!(binary.status, 200, "{}", binary.body);
    assert_eq!(binary.body["predictions"].as_array().unwrap().len(), 2);
    assert_eq!(binary.body["cold_start"]["proxy"], false);
    for key in [
        "total_ms",
        "upstream_ms",
        "decode_ms",
        "preprocess_ms",
        "inference_ms",
    ] {
        assert!(
            binary.body["timings"][key].as_f64().unwrap() >= 0.0,
            "{key}"
        );
    }
    assert!(!binary.body["request_id"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn preflight_is_answered_for_allowed_origins_only() {
    // Nothing listens upstream: none of these may reach it.
    let state = in_process_state("http://127.0.0.1:9");
    let preflight = call(&state, event("apigw_v2_preflight.json")).await;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.headers["access-control-allow-origin"], ORIGIN);
    let methods = preflight.headers["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");

    let mut other = event("apigw_v2_preflight.json");
    other
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let refused = call(&state, other).await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn invalid_requests_are_refused_before_any_upstream_call() {
    // Nothing listens upstream, so a call would have been a 502.
    let state = in_process_state("http://127.0.0.1:9");
    let text = call(&state, event("apigw_v2_not_an_image.json")).await;
    assert_eq!(text.status, 415, "{}", text.body);
    assert_eq!(text.body["error"]["code"], "unsupported_media_type");
    assert!(
        !text.body["error"]["request_id"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(text.headers["access-control-allow-origin"], ORIGIN);

    // A disallowed origin still gets an answer (the browser enforces CORS), but no CORS
    // headers; here it reaches the (absent) upstream.
    let evil = call(&state, event("apigw_v2_disallowed_origin.json")).await;
    assert!(!evil.headers.contains_key("access-control-allow-origin"));
    assert_eq!(evil.status, 502, "{}", evil.body);
    assert_eq!(evil.body["error"]["code"], "upstream_unavailable");
}

/// `fixture` through `lambda_http`'s adapter as invocation `context`: the API Gateway
/// response and its JSON body.
async fn through_adapter(
    state: AppState,
    fixture_name: &str,
    context: lambda_http::Context,
) -> (Value, Value) {
    let payload: lambda_http::request::LambdaRequest =
        serde_json::from_str(&fixture(fixture_name)).unwrap();
    let adapter = lambda_http::Adapter::from(app(state));
    let response = adapter
        .oneshot(lambda_http::LambdaEvent::new(payload, context))
        .await
        .unwrap();
    let response = serde_json::to_value(&response).unwrap();
    let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (response, body)
}

fn invocation(request_id: &str) -> lambda_http::Context {
    let mut context = lambda_http::Context::default();
    context.request_id = request_id.to_owned();
    context
}

#[tokio::test]
async fn through_the_lambda_adapter_the_invocation_ids_are_used_and_json_comes_back_as_text() {
    let model = start_model_server(&[]);
    let mut context = invocation("7d5b4e3a-0c1d-4e5f-8a9b-0123456789ab");
    context.xray_trace_id =
        Some("Root=1-6745a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1".into());
    let state = in_process_state(&model.url(""));
    let (response, body) = through_adapter(state, "apigw_v2_predict_binary.json", context).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["isBase64Encoded"], false);
    assert_eq!(body["request_id"], "7d5b4e3a-0c1d-4e5f-8a9b-0123456789ab");
    // The invocation's trace wins over the header the client sent.
    assert_eq!(body["trace_id"], "1-6745a1b2-0123456789abcdef01234567");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn through_the_lambda_adapter_an_unknown_route_answers_with_the_invocation_id() {
    let id = "0f6a8e2c-1b3d-4c5e-9f70-a1b2c3d4e5f6";
    let state = in_process_state("http://127.0.0.1:9");
    let (response, body) =
        through_adapter(state, "apigw_v2_unknown_route.json", invocation(id)).await;
    assert_eq!(response["statusCode"], 404, "{response}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], id);
}

#[tokio::test]
async fn through_the_lambda_adapter_a_refused_prediction_carries_the_invocation_id() {
    let id = "5c1f0a9e-7b2d-4e3c-8d6f-0a1b2c3d4e5f";
    // Nothing listens upstream: the refusal comes before any call.
    let state = in_process_state("http://127.0.0.1:9");
    let (response, body) =
        through_adapter(state, "apigw_v2_not_an_image.json", invocation(id)).await;
    assert_eq!(response["statusCode"], 415, "{response}");
    assert_eq!(body["error"]["request_id"], id);
    // The telemetry layer named the trace in the answer, as for a success.
    assert!(
        response["headers"]["x-amzn-trace-id"]
            .as_str()
            .is_some_and(|v| v.starts_with("Root=1-")),
        "{response}"
    );
}

#[tokio::test]
async fn oversized_bodies_unknown_routes_and_wrong_methods_get_json_errors() {
    // Nothing listens upstream: none of these may reach it.
    let state = in_process_state("http://127.0.0.1:9");
    let big = vec![0xFF; 6 * 1024 * 1024];
    let request = Request::post("/predict")
        .header("content-type", "image/jpeg")
        .body(Body::from(big))
        .unwrap();
    let answer = call(&state, request).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "payload_too_large");

    let answer = call(&state, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["code"], "not_found");
    // Outside Lambda too, every answer names its request.
    assert_eq!(
        answer.body["error"]["request_id"].as_str().unwrap().len(),
        36
    );

    let answer = call(
        &state,
        Request::get("/predict").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["error"]["code"], "not_found");

    let answer = call(&state, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(
        (answer.status, answer.body["status"].as_str()),
        (200, Some("ok"))
    );
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let dir = std::env::temp_dir().join(format!("proxy-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    let router = proxy::app_with_static(in_process_state("http://127.0.0.1:9"), &dir);
    let response = router
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(
        headers["content-security-policy"],
        proxy::CONTENT_SECURITY_POLICY
    );
    assert!(!proxy::CONTENT_SECURITY_POLICY.contains("unsafe"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
}
