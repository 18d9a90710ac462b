//! Router tests with `oneshot`: readiness states and model directories, in process.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use model_server::loader::{self, Loading};
use model_server::model::{Classifier, ModelError, SessionOptions, init_runtime};
use model_server::{AppState, Limits, app};
use serde_json::Value;
use tower::ServiceExt;

const LIMITS: Limits = Limits {
    max_image_bytes: 6 * 1024 * 1024,
    max_pixels: 40_000_000,
    max_in_flight: 2,
    max_uploads: 8,
    body_timeout: std::time::Duration::from_secs(30),
};

const ONE_SESSION: SessionOptions = SessionOptions {
    sessions: 1,
    intra_threads: 1,
    intra_spinning: false,
    solo_threads: 0,
};

fn load_classifier(dir: &Path) -> Result<Classifier, ModelError> {
    let environment = init_runtime(Some(&ort_dylib()))?;
    Classifier::load(environment, dir, ONE_SESSION)
}

/// Loads `dir` into `state` the way the server does at start (see `model_server::loader`).
async fn load(state: &AppState, dir: &Path) {
    let loading = Loading {
        ort_dylib_path: Some(ort_dylib()),
        model_dir: dir.to_owned(),
        options: ONE_SESSION,
        ort_cache_dir: None,
    };
    loader::spawn(state.clone(), loading, Instant::now())
        .await
        .unwrap();
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry_after, serde_json::from_slice(&bytes).unwrap())
}

fn ping() -> Request<Body> {
    Request::get("/ping").body(Body::empty()).unwrap()
}

fn finch_request() -> Request<Body> {
    Request::post("/invocations")
        .header("content-type", "image/jpeg")
        .body(Body::from(shared_image("house-finch.jpg")))
        .unwrap()
}

#[tokio::test]
async fn ping_is_503_while_loading_and_200_once_the_model_is_warm() {
    let state = AppState::new(LIMITS);
    let (status, retry_after, body) = call(&state, ping()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "model_loading");
    assert_eq!(retry_after.as_deref(), Some("1"));

    let (status, _, body) = call(&state, finch_request()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "model_loading");

    load(&state, &model_dir()).await;
    let (status, _, body) = call(&state, ping()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["model"]["name"], "mobilenetv2-int8");

    let (status, _, body) = call(&state, finch_request()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["predictions"][0]["index"], 12);
}

#[tokio::test]
async fn a_failed_load_keeps_ping_503_with_the_reason() {
    let state = AppState::new(LIMITS);
    load(&state, Path::new("/nonexistent/model")).await;
    let (status, _, body) = call(&state, ping()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "model_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("/nonexistent/model"), "{message}");
}

/// A model directory that links to the shared model files (never copies them).
fn linked_model_dir(manifest: Option<&str>, labels: Option<&str>) -> TempDir {
    let dir = TempDir::new();
    std::os::unix::fs::symlink(
        model_dir().join("model.onnx"),
        dir.path().join("model.onnx"),
    )
    .unwrap();
    match labels {
        Some(text) => std::fs::write(dir.path().join("labels.txt"), text).unwrap(),
        None => std::os::unix::fs::symlink(
            model_dir().join("labels.txt"),
            dir.path().join("labels.txt"),
        )
        .unwrap(),
    }
    if let Some(json) = manifest {
        std::fs::write(dir.path().join("model.json"), json).unwrap();
    }
    dir
}

#[tokio::test]
async fn model_json_names_the_model_and_sets_the_default_top_k() {
    let dir = linked_model_dir(
        Some(r#"{"name":"finch-finder","version":"2026-11-25","top_k_default":3}"#),
        None,
    );
    let state = AppState::new(LIMITS);
    load(&state, dir.path()).await;
    let (status, _, body) = call(&state, finch_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"]["name"], "finch-finder");
    assert_eq!(body["model"]["version"], "2026-11-25");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 3);
}

#[test]
fn the_model_is_ready_with_one_session_and_the_rest_are_added_once() {
    let environment = init_runtime(Some(&ort_dylib())).unwrap();
    let options = SessionOptions {
        sessions: 2,
        solo_threads: 2,
        ..ONE_SESSION
    };
    let classifier = Classifier::load(environment, &model_dir(), options).unwrap();
    let spec = classifier.preprocess.clone();
    let zeros = vec![0.0; spec.tensor_len()];
    // Usable before the pool is complete, alone or not (on the first shared session).
    assert_eq!(classifier.probabilities(&zeros, true).unwrap().len(), 1000);
    assert_eq!(classifier.probabilities(&zeros, false).unwrap().len(), 1000);
    assert_eq!(classifier.add_remaining_sessions(environment).unwrap(), 2);
    assert_eq!(classifier.add_remaining_sessions(environment).unwrap(), 0);
    assert_eq!(classifier.probabilities(&zeros, false).unwrap().len(), 1000);
}

#[test]
fn the_optimised_model_cache_is_filled_reused_and_survives_a_corrupt_entry() {
    let environment = init_runtime(Some(&ort_dylib())).unwrap();
    let cache = TempDir::new();
    let options = SessionOptions {
        sessions: 2,
        ..ONE_SESSION
    };
    let finch_top1 = |classifier: &Classifier| {
        let spec = &classifier.preprocess;
        let decoded = model_server::imaging::decode(
            &shared_image("house-finch.jpg"),
            40_000_000,
            spec.resize_shorter,
        )
        .unwrap();
        let normalizer = model_server::imaging::Normalizer::new(spec.mean, spec.std);
        let tensor = model_server::imaging::preprocess(
            &decoded,
            spec,
            &normalizer,
            &mut fast_image_resize::Resizer::new(),
        )
        .unwrap();
        let probabilities = classifier.probabilities(&tensor, false).unwrap();
        classifier.top_k(&probabilities, 1)[0].index
    };
    let cached_files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(cache.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect()
    };
    let mut written = Vec::new();
    for round in ["fills", "reuses", "replaces the corrupt entry of"] {
        let classifier =
            Classifier::load_cached(environment, &model_dir(), options, Some(cache.path()))
                .unwrap_or_else(|e| panic!("a start that {round} the cache: {e}"));
        assert_eq!(classifier.add_remaining_sessions(environment).unwrap(), 1);
        assert_eq!(
            finch_top1(&classifier),
            12,
            "a start that {round} the cache"
        );
        let files = cached_files();
        assert_eq!(
            files.len(),
            1,
            "one optimised model, no partial files: {files:?}"
        );
        let contents = std::fs::read(&files[0]).unwrap();
        match round {
            "fills" => written = contents,
            "reuses" => {
                assert!(contents == written, "the cached model was rewritten");
                std::fs::write(&files[0], b"not a model").unwrap();
            }
            _ => assert!(contents == written, "the corrupt entry was not replaced"),
        }
    }
}

#[test]
fn mismatched_labels_and_bad_manifests_fail_loading_with_a_reason() {
    let short_labels = linked_model_dir(None, Some("cat\ndog\n"));
    let err = load_classifier(short_labels.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1000 classes") && err.contains("2 lines"),
        "{err}"
    );

    let wrong_size = linked_model_dir(Some(r#"{"input_size":299}"#), None);
    let err = load_classifier(wrong_size.path()).unwrap_err().to_string();
    assert!(err.contains("299"), "{err}");

    let typo = linked_model_dir(Some(r#"{"nmae":"x"}"#), None);
    let err = load_classifier(typo.path()).unwrap_err().to_string();
    assert!(err.contains("model.json") && err.contains("nmae"), "{err}");

    let corrupt = TempDir::new();
    std::fs::write(corrupt.path().join("model.onnx"), b"not an onnx model").unwrap();
    std::fs::write(corrupt.path().join("labels.txt"), "a\n").unwrap();
    assert!(matches!(
        load_classifier(corrupt.path()),
        Err(ModelError::Runtime(_))
    ));
}
