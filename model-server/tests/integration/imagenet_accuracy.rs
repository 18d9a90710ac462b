//! Accuracy on the shared ImageNet sample (666 labelled photos), through a real `model-server`
//! process: top-1 must stay within half a point of torchvision's transform done with Pillow on
//! the same model (tests/data/make_imagenet_reference.py wrote the reference). Accuracy is
//! compared, not each answer: with an int8 model one 8-bit level of input noise flips the top-1
//! of a few percent of the photos between near-tied classes, in both directions.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use crate::common::*;
use serde_json::Value;

/// Largest allowed difference in top-1 accuracy, in percentage points.
const TOP1_TOLERANCE_POINTS: f64 = 0.5;

#[tokio::test]
async fn imagenet_sample_top1_accuracy_matches_the_pillow_torchvision_reference() {
    let sample = shared_dir().join("images/imagenet-sample");
    let Ok(labels) = std::fs::read_to_string(sample.join("labels.tsv")) else {
        eprintln!(
            "SKIPPED: no ImageNet sample at {} (set SHARED_DIR to the directory holding images/imagenet-sample)",
            sample.display()
        );
        return;
    };
    let reference: Value =
        serde_json::from_str(include_str!("../data/imagenet_reference.json")).unwrap();
    let photos: Vec<(String, u64)> = labels
        .lines()
        .skip(1) // header: file, class_index, class_name
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let file = fields.next().unwrap().to_owned();
            (file, fields.next().unwrap().parse().unwrap())
        })
        .collect();
    let expected: Vec<(String, u64)> = reference["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| {
            (
                image["file"].as_str().unwrap().to_owned(),
                image["class_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        photos, expected,
        "labels.tsv is not the sample the reference was computed on"
    );

    // Two requests at a time: the server admits as many (MAX_IN_FLIGHT) and the debug build's
    // decoding is slow enough that both cores help.
    let server = spawn_server(&[("MAX_IN_FLIGHT", "2")]);
    server.wait_until_ok("/ping");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (half_a, half_b) = photos.split_at(photos.len() / 2);
    let (a, b) = tokio::join!(
        classify_all(&client, &server, &sample, half_a),
        classify_all(&client, &server, &sample, half_b)
    );
    let (top1, top5) = (a.0 + b.0, a.1 + b.1);
    let percent = |n: usize| 100.0 * n as f64 / photos.len() as f64;
    let (ours_top1, ours_top5) = (percent(top1), percent(top5));
    let reference_count = |key: &str| usize::try_from(reference[key].as_u64().unwrap()).unwrap();
    let reference_top1 = percent(reference_count("top1_correct"));
    let reference_top5 = percent(reference_count("top5_correct"));
    eprintln!(
        "imagenet sample ({} photos, {:.1} s): server top-1 {ours_top1:.2} % top-5 {ours_top5:.2} %; \
         reference top-1 {reference_top1:.2} % top-5 {reference_top5:.2} %",
        photos.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        (ours_top1 - reference_top1).abs() <= TOP1_TOLERANCE_POINTS,
        "top-1 {ours_top1:.2} % is more than {TOP1_TOLERANCE_POINTS} points from the reference's {reference_top1:.2} %"
    );
}

/// Posts each photo in turn; returns how many had their label first, and in the top 5.
async fn classify_all(
    client: &reqwest::Client,
    server: &Process,
    sample: &Path,
    photos: &[(String, u64)],
) -> (usize, usize) {
    let (mut top1, mut top5) = (0, 0);
    for (file, label) in photos {
        let bytes = std::fs::read(sample.join(file)).unwrap();
        let response = client
            .post(server.url("/invocations"))
            .header("content-type", "image/jpeg")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{file}: {body}");
        let predicted: Vec<u64> = body["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["index"].as_u64().unwrap())
            .collect();
        assert_eq!(predicted.len(), 5, "{file}: top-5 by default");
        top1 += usize::from(predicted[0] == *label);
        top5 += usize::from(predicted.contains(label));
    }
    (top1, top5)
}
