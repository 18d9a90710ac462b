//! Telemetry end to end: real proxy and model-server processes, their stdout parsed after a
//! SIGTERM. Every EMF record must follow the spec and the counts must be exact.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use telemetry::catalogue;

async fn predict(proxy: &Process, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(proxy.url("/predict"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn emf_counts_from_a_real_run_are_exact_and_every_record_follows_the_spec() {
    let mut model = start_model_server(&[("MAX_IN_FLIGHT", "1"), ("MODEL_NAME", "mobilenet-test")]);
    let proxy = std::sync::Arc::new(start_proxy(
        &model.url(""),
        &[("UPSTREAM_MAX_ATTEMPTS", "1")],
    ));
    let finch = shared_image("house-finch.jpg");
    let mut outcomes: Vec<(u16, Value)> = Vec::new();

    outcomes.push(predict(&proxy, "image/jpeg", finch.clone()).await);
    // Refused by the proxy itself: not an image, bad base64, empty body.
    outcomes.push(predict(&proxy, "text/plain", b"hello".to_vec()).await);
    outcomes.push(
        predict(
            &proxy,
            "application/json",
            br#"{"image_base64":"@@"}"#.to_vec(),
        )
        .await,
    );
    outcomes.push(predict(&proxy, "image/jpeg", Vec::new()).await);
    // Refused by the model server (truncated JPEG), passed on as the client's fault.
    outcomes.push(predict(&proxy, "image/jpeg", finch[..finch.len() / 2].to_vec()).await);
    // Heavy concurrent requests against MAX_IN_FLIGHT=1: some are refused as busy.
    let heavy = image_png(6000, 6000);
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (proxy, body) = (proxy.clone(), heavy.clone());
        burst.spawn(async move { predict(&proxy, "image/png", body).await });
    }
    let burst = tokio::time::timeout(Duration::from_secs(120), burst.join_all())
        .await
        .expect("burst hung");
    outcomes.extend(burst);

    let n = outcomes.len();
    let count = |status: u16| outcomes.iter().filter(|(s, _)| *s == status).count();
    let ok = count(200);
    let throttled = count(503);
    let client_errors = outcomes
        .iter()
        .filter(|(s, _)| (400..500).contains(s))
        .count();
    assert_eq!(client_errors, 4, "{outcomes:?}");
    assert!(
        throttled > 0,
        "the burst must overload the model: {outcomes:?}"
    );
    assert_eq!(ok + throttled + client_errors, n, "{outcomes:?}");

    let mut proxy = std::sync::Arc::into_inner(proxy).unwrap();
    let proxy_lines = proxy.terminate();
    let model_lines = model.terminate();

    let records = emf_records(&proxy_lines);
    assert_eq!(records.len(), n, "one record per request");
    let as_f64 = |v: usize| f64::from(u32::try_from(v).unwrap());
    assert_eq!(sum(&records, catalogue::REQUESTS.name), as_f64(n));
    assert_eq!(
        sum(&records, catalogue::CLIENT_ERRORS.name),
        as_f64(client_errors)
    );
    assert_eq!(sum(&records, catalogue::THROTTLES.name), as_f64(throttled));
    assert_eq!(sum(&records, catalogue::SERVER_ERRORS.name), 0.0);
    assert_eq!(samples(&records, catalogue::LATENCY.name), n);
    assert_eq!(samples(&records, catalogue::COLD_START.name), 1);
    assert_eq!(sum(&records, catalogue::COLD_START.name), 1.0);
    assert_eq!(samples(&records, catalogue::INIT_DURATION.name), 1);
    // Requests that reached SageMaker: the first finch, the truncated one, the burst.
    assert_eq!(samples(&records, catalogue::UPSTREAM_LATENCY.name), 2 + 6);
    for record in &records {
        assert_eq!(record["Service"], "proxy");
        assert_eq!(record["Endpoint"], ENDPOINT);
        assert!(telemetry::trace::is_xray_trace_id(
            record["trace_id"].as_str().unwrap()
        ));
        assert!(record["request_id"].is_string());
    }
    let cold = with_dimension(&records, catalogue::DIM_START_TYPE, catalogue::START_COLD);
    assert_eq!(cold.len(), 1, "only the first request started cold");
    let cold_cost = cold[0][catalogue::COLD_START_LATENCY.name]
        .as_f64()
        .unwrap();
    let expected = cold[0][catalogue::INIT_DURATION.name].as_f64().unwrap()
        + cold[0][catalogue::LATENCY.name].as_f64().unwrap();
    assert!(
        (cold_cost - expected).abs() < 0.01,
        "{cold_cost} vs {expected}"
    );
    assert_eq!(samples(&records, catalogue::COLD_START_LATENCY.name), 1);

    let model_records = emf_records(&model_lines);
    let invocations: Vec<Value> = model_records
        .iter()
        .filter(|r| r.get(catalogue::INVOCATIONS.name).is_some())
        .cloned()
        .collect();
    assert_eq!(invocations.len(), 2 + 6, "one record per invocation");
    assert_eq!(sum(&invocations, catalogue::INVOCATIONS.name), 8.0);
    assert_eq!(
        sum(&invocations, catalogue::INVOCATION_ERRORS.name),
        as_f64(1 + throttled)
    );
    let by_class = |class: catalogue::ErrorClass| {
        sum(
            &with_dimension(&invocations, catalogue::DIM_ERROR_CLASS, class.name()),
            catalogue::INVOCATION_ERRORS.name,
        )
    };
    assert_eq!(by_class(catalogue::ErrorClass::Client), 1.0);
    assert_eq!(by_class(catalogue::ErrorClass::Throttle), as_f64(throttled));
    assert_eq!(by_class(catalogue::ErrorClass::Server), 0.0);
    assert_eq!(samples(&invocations, catalogue::INFERENCE_LATENCY.name), ok);
    assert_eq!(samples(&invocations, catalogue::DECODE_LATENCY.name), ok);
    assert_eq!(sum(&model_records, catalogue::MODEL_COLD_START.name), 1.0);
    assert_eq!(samples(&model_records, catalogue::MODEL_LOAD_TIME.name), 1);
    for record in &model_records {
        assert_eq!(record["Model"], "mobilenet-test");
    }

    // The proxy and the model server saw the same trace for each request that reached it, and
    // the log line of each failed request carries the trace id of its EMF record.
    let proxy_traces: HashSet<&str> = records
        .iter()
        .map(|r| r["trace_id"].as_str().unwrap())
        .collect();
    for record in &invocations {
        assert!(proxy_traces.contains(record["trace_id"].as_str().unwrap()));
    }
    let traces_by_request: HashMap<&str, &str> = records
        .iter()
        .map(|r| {
            (
                r["request_id"].as_str().unwrap(),
                r["trace_id"].as_str().unwrap(),
            )
        })
        .collect();
    let refusals: Vec<Value> = proxy_lines
        .iter()
        .filter(|l| !telemetry::emf::is_record(l))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l.get("error.code").is_some())
        .collect();
    assert_eq!(refusals.len(), client_errors + throttled, "{refusals:?}");
    for line in &refusals {
        let request = line["request_id"].as_str().unwrap();
        let record_trace = traces_by_request.get(request).copied();
        assert!(
            record_trace.is_some(),
            "no EMF record for request {request}"
        );
        assert_eq!(line["trace_id"].as_str(), record_trace);
        assert!(
            line["span_id"].as_str().is_some_and(|s| s.len() == 16),
            "{line}"
        );
    }
    // Every answer carried its request's trace id.
    for (_, body) in &outcomes {
        if let Some(trace) = body["trace_id"].as_str() {
            assert!(proxy_traces.contains(trace));
        }
    }
}

#[tokio::test]
async fn a_request_in_flight_at_sigterm_is_answered_and_its_record_written_before_exit() {
    // A slow log pipe: without the flush at exit, the last records would still be queued.
    let slow_stdout = [("TELEMETRY_WRITE_DELAY_MS", "300")];
    let mut model = start_model_server(&slow_stdout);
    let mut proxy = start_proxy(&model.url(""), &slow_stdout);
    let finch = shared_image("house-finch.jpg");
    let is_shutdown = |line: &str| line.contains("\"shutting down\"");

    // The proxy: its request has begun when SIGTERM arrives and ends after it.
    let stream = start_request(&proxy.addr, "/predict", &finch, 1000).await;
    wait_until_read(&proxy.addr, 1);
    proxy.signal("TERM");
    assert!(proxy.logged("shutting down"));
    assert_eq!(finish_request(stream, &finch[1000..]).await, 200);
    let lines = proxy.wait_exit();
    let record = position(&lines, |line| {
        telemetry::emf::is_record(line) && line.contains("\"Requests\":1")
    });
    assert!(
        position(&lines, is_shutdown) < record,
        "the request ended after the signal"
    );
    assert_eq!(emf_records(&lines).len(), 1, "{lines:#?}");

    // The model server, the same way.
    let stream = start_request(&model.addr, "/invocations", &finch, 1000).await;
    wait_until_read(&model.addr, 1);
    model.signal("TERM");
    assert!(model.logged("shutting down"));
    assert_eq!(finish_request(stream, &finch[1000..]).await, 200);
    let lines = model.wait_exit();
    let invocation =
        |line: &str| telemetry::emf::is_record(line) && line.contains("\"Invocations\":1");
    let records: Vec<&String> = lines.iter().filter(|l| invocation(l)).collect();
    // The proxy's request and this one.
    assert_eq!(records.len(), 2, "{lines:#?}");
    let last = lines.iter().rposition(|l| invocation(l)).unwrap();
    assert!(position(&lines, is_shutdown) < last);
}
