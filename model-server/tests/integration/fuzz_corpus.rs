//! Replays the fuzzers' committed seeds and every crash they ever found (fuzz/seeds,
//! fuzz/regressions) through the same checks the `cargo fuzz` targets run, on stable.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files: Vec<PathBuf> = ["seeds", "regressions"]
        .iter()
        .map(|kind| fuzz.join(kind).join(target))
        .filter(|dir| dir.is_dir())
        .flat_map(|dir| std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_image_seed_and_regression_decodes_or_is_refused_cleanly() {
    let files = inputs("image_decode");
    assert!(files.len() >= 40, "only {} image seeds", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome =
            std::panic::catch_unwind(|| model_server::fuzzing::decode_and_preprocess(&data));
        assert!(
            outcome.is_ok(),
            "{} broke a decoding property",
            file.display()
        );
    }
}

#[test]
fn every_request_seed_and_regression_parses_or_is_refused_cleanly() {
    let files = inputs("request_parsing");
    assert!(files.len() >= 40, "only {} request seeds", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            let (content_type, body) = model_server::fuzzing::split_request(&data);
            model_server::fuzzing::parse_request(content_type, None, body, 4_096)
        });
        assert!(
            outcome.is_ok(),
            "{} broke a parsing property",
            file.display()
        );
    }
}

#[test]
fn request_seeds_round_trip_through_the_content_type_selector() {
    for content_type in [
        None,
        Some("application/json"),
        Some("image/png"),
        Some("text/csv; q=1"),
    ] {
        let joined = model_server::fuzzing::join_request(content_type, b"body");
        let (split, body) = model_server::fuzzing::split_request(&joined);
        assert_eq!(split, content_type.map(str::as_bytes));
        assert_eq!(body, b"body");
    }
}
