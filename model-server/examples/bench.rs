//! Measurements behind BENCHMARKS.md (run through scripts/bench.sh):
//!
//! - `ort`: raw batch-1 ONNX Runtime throughput, the floor for the server (same sessions and
//!   thread budget as the server: one session and one intra-op thread per worker);
//! - `preprocess`: in-process decode + preprocess time for a photo and a generated 12 MP JPEG;
//! - `overhead`: sequential requests to a running server, end-to-end latency minus the time the
//!   server reports for decode + preprocess + inference;
//! - `coldstart`: process spawn → first correct prediction, for any server command;
//! - `overload`: capacity (closed loop), then an open-loop load at a multiple of it for a
//!   bounded time, then sequential requests: what is refused, how fast, with `Retry-After`,
//!   the latency of what is admitted, and how soon capacity returns (RELIABILITY.md).
//!
//! Throughput and latency under load come from `wrk`, not from here.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use model_server::imaging::{self, Normalizer, PreprocessSpec};
use model_server::model::{Classifier, SessionOptions, init_runtime};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Raw ORT batch-1 inferences per second with `workers` threads, each with its own session.
    Ort {
        #[arg(long)]
        model_dir: PathBuf,
        #[arg(long)]
        image: PathBuf,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Images per inference call.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// ONNX Runtime intra-op threads per session.
        #[arg(long, default_value_t = 1)]
        intra_threads: usize,
        #[arg(long)]
        spinning: bool,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Decode + preprocess time of a photo, of the page's typical upload made from it (1024x768,
    /// quality 85) and of two generated 12 MP JPEGs, single thread.
    Preprocess {
        #[arg(long)]
        image: PathBuf,
        #[arg(long, default_value_t = 300)]
        iterations: usize,
        /// Only this input (photo, upload, 12mp-smooth, 12mp-detailed): for instruction counts
        /// under callgrind, where generating the others would dominate.
        #[arg(long)]
        only: Option<String>,
    },
    /// Median end-to-end latency minus the server-reported decode + preprocess + inference.
    Overhead {
        #[arg(long)]
        url: String,
        #[arg(long)]
        image: PathBuf,
        #[arg(long, default_value_t = 500)]
        requests: usize,
    },
    /// Capacity, then `factor` × capacity offered open-loop for `seconds`, then recovery.
    Overload {
        #[arg(long)]
        url: String,
        #[arg(long)]
        image: PathBuf,
        /// Concurrent clients of the closed-loop capacity measurement: as many as the server
        /// admits at once (more would spin on quick refusals and understate capacity).
        #[arg(long, default_value_t = 2)]
        clients: usize,
        #[arg(long, default_value_t = 5.0)]
        capacity_seconds: f64,
        /// Offered load as a multiple of the measured capacity.
        #[arg(long, default_value_t = 4.0)]
        factor: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Sequential requests right after the overload.
        #[arg(long, default_value_t = 200)]
        recovery: usize,
    },
    /// Spawn `command` and time until `url` answers the image with top-1 `expect_index`.
    Coldstart {
        #[arg(long)]
        url: String,
        #[arg(long)]
        image: PathBuf,
        #[arg(long)]
        expect_index: u64,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(name: &str, mut samples_ms: Vec<f64>) {
    samples_ms.sort_by(f64::total_cmp);
    println!(
        "{name}: n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms min={:.3} ms",
        samples_ms.len(),
        percentile(&samples_ms, 50.0),
        percentile(&samples_ms, 90.0),
        percentile(&samples_ms, 99.0),
        samples_ms[0],
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() {
    match Args::parse().command {
        Bench::Ort {
            model_dir,
            image,
            workers,
            batch,
            intra_threads,
            spinning,
            seconds,
        } => bench_ort(
            &model_dir,
            &image,
            workers,
            batch,
            (intra_threads, spinning),
            seconds,
        ),
        Bench::Preprocess {
            image,
            iterations,
            only,
        } => bench_preprocess(&image, iterations, only.as_deref()),
        Bench::Overhead {
            url,
            image,
            requests,
        } => bench_overhead(&url, &image, requests),
        Bench::Overload {
            url,
            image,
            clients,
            capacity_seconds,
            factor,
            seconds,
            recovery,
        } => bench_overload(
            &url,
            &image,
            clients,
            capacity_seconds,
            factor,
            seconds,
            recovery,
        ),
        Bench::Coldstart {
            url,
            image,
            expect_index,
            runs,
            command,
        } => bench_coldstart(&url, &image, expect_index, runs, &command),
    }
}

fn finch_tensor(image: &Path, spec: &PreprocessSpec) -> Vec<f32> {
    let bytes = std::fs::read(image).unwrap();
    let decoded = imaging::decode(&bytes, 40_000_000, spec.resize_shorter).unwrap();
    let normalizer = Normalizer::new(spec.mean, spec.std);
    imaging::preprocess(
        &decoded,
        spec,
        &normalizer,
        &mut fast_image_resize::Resizer::new(),
    )
    .unwrap()
}

fn bench_ort(
    model_dir: &Path,
    image: &Path,
    workers: usize,
    batch: usize,
    (intra_threads, intra_spinning): (usize, bool),
    seconds: f64,
) {
    let dylib = std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from);
    let environment = init_runtime(dylib.as_deref()).unwrap();
    let classifier = Classifier::load(
        environment,
        model_dir,
        SessionOptions {
            sessions: workers,
            intra_threads,
            intra_spinning,
            solo_threads: 0,
        },
    )
    .unwrap();
    classifier.add_remaining_sessions(environment).unwrap();
    let tensor = finch_tensor(image, &classifier.preprocess).repeat(batch);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let latencies: Vec<Vec<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut samples = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let rows = classifier.probabilities_batch(&tensor, false).unwrap();
                        samples.push(ms(t.elapsed()));
                        assert!(rows.iter().all(|p| classifier.top_k(p, 1)[0].index == 12));
                    }
                    samples
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let all: Vec<f64> = latencies.into_iter().flatten().collect();
    println!(
        "ort raw: workers={workers} batch={batch} intra_threads={intra_threads} spinning={intra_spinning} calls={} images/s={:.1}",
        all.len(),
        (all.len() * batch) as f64 / elapsed
    );
    summary("ort raw call latency", all);
}

fn bench_preprocess(image: &Path, iterations: usize, only: Option<&str>) {
    let photo = std::fs::read(image).unwrap();
    // Entropy decoding dominates a DCT-scaled decode, so its cost follows the compressed size:
    // measure a smooth and a detailed (film-grain) 12 MP picture.
    let inputs = [
        ("photo", "photo"),
        ("upload", "1024x768 q85 upload"),
        ("12mp-smooth", "12MP smooth jpeg"),
        ("12mp-detailed", "12MP detailed jpeg"),
    ];
    let spec = PreprocessSpec::default();
    let normalizer = Normalizer::new(spec.mean, spec.std);
    let mut resizer = fast_image_resize::Resizer::new();
    for (key, name) in inputs {
        if only.is_some_and(|only| only != key) {
            continue;
        }
        let bytes = match key {
            "photo" => photo.clone(),
            "upload" => upload_jpeg(&photo),
            "12mp-smooth" => twelve_megapixel_jpeg(2),
            _ => twelve_megapixel_jpeg(24),
        };
        let (mut decode, mut preprocess, mut total) = (Vec::new(), Vec::new(), Vec::new());
        let mut decoded_size = (0, 0);
        for _ in 0..iterations {
            let t0 = Instant::now();
            let decoded = imaging::decode(&bytes, 40_000_000, spec.resize_shorter).unwrap();
            let t1 = Instant::now();
            let tensor = imaging::preprocess(&decoded, &spec, &normalizer, &mut resizer);
            let t2 = Instant::now();
            assert_eq!(tensor.unwrap().len(), spec.tensor_len());
            decoded_size = decoded.rgb.dimensions();
            decode.push(ms(t1 - t0));
            preprocess.push(ms(t2 - t1));
            total.push(ms(t2 - t0));
        }
        println!(
            "{name}: {} bytes, decoded at {}x{}",
            bytes.len(),
            decoded_size.0,
            decoded_size.1
        );
        summary(&format!("{name} decode"), decode);
        summary(&format!("{name} preprocess"), preprocess);
        summary(&format!("{name} decode+preprocess"), total);
    }
}

/// What the page uploads for a large photo: the longest side shrunk to 1024 and re-encoded as
/// a quality-85 4:2:0 JPEG. Made from a real photo (centre-cropped to 4:3 and enlarged, as the
/// shared photos are smaller than that), so it has a real photo's detail and compressed size.
fn upload_jpeg(photo: &[u8]) -> Vec<u8> {
    let rgb = image::load_from_memory(photo).unwrap().into_rgb8();
    let (w, h) = rgb.dimensions();
    let (crop_w, crop_h) = if w * 3 > h * 4 {
        (h * 4 / 3, h)
    } else {
        (w, w * 3 / 4)
    };
    let cropped =
        image::imageops::crop_imm(&rgb, (w - crop_w) / 2, (h - crop_h) / 2, crop_w, crop_h)
            .to_image();
    let upload =
        image::imageops::resize(&cropped, 1024, 768, image::imageops::FilterType::Lanczos3);
    let mut out = Vec::new();
    // 4:2:0 chroma subsampling is jpeg-encoder's default, as in browsers' canvas encoders.
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(upload.as_raw(), 1024, 768, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// A 4000x3000 JPEG (quality 90) of gradients and rings plus uniform noise of `noise` levels.
fn twelve_megapixel_jpeg(noise: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let img = image::RgbImage::from_fn(4000, 3000, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let grain = (seed % noise) as f32;
        let fx = x as f32 / 4000.0;
        let fy = y as f32 / 3000.0;
        let ring = ((fx - 0.4).hypot(fy - 0.6) * 60.0).sin() * 0.5 + 0.5;
        image::Rgb([
            (200.0 * fx + grain) as u8,
            (200.0 * ring + grain) as u8,
            (200.0 * (1.0 - fy) + grain) as u8,
        ])
    });
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90),
        img.as_raw(),
        4000,
        3000,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

#[tokio::main(flavor = "current_thread")]
async fn bench_overhead(url: &str, image: &Path, requests: usize) {
    let body = std::fs::read(image).unwrap();
    let client = reqwest::Client::new();
    let (mut end_to_end, mut in_process, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..requests + 20 {
        let t = Instant::now();
        let response = client
            .post(url)
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let json: serde_json::Value = response.json().await.unwrap();
        let total = ms(t.elapsed());
        let timings = &json["timings"];
        let work: f64 = ["decode_ms", "preprocess_ms", "inference_ms"]
            .iter()
            .map(|k| timings[k].as_f64().unwrap())
            .sum();
        if i >= 20 {
            // The first 20 warm up connections and caches.
            end_to_end.push(total);
            in_process.push(work);
            overhead.push(total - work);
        }
    }
    summary("end-to-end", end_to_end);
    summary("in-process decode+preprocess+inference", in_process);
    summary("serving overhead (end-to-end - in-process)", overhead);
}

#[tokio::main(flavor = "current_thread")]
async fn bench_coldstart(url: &str, image: &Path, expect: u64, runs: usize, command: &[String]) {
    let body = std::fs::read(image).unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        // Own process group, so pre-forking servers (gunicorn) lose their workers too.
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let deadline = started + Duration::from_secs(60);
        let elapsed = loop {
            assert!(Instant::now() < deadline, "no correct answer within 60 s");
            let answer = client
                .post(url)
                .header("content-type", "application/octet-stream")
                .body(body.clone())
                .send()
                .await;
            if let Ok(response) = answer
                && response.status().is_success()
                && let Ok(json) = response.json::<serde_json::Value>().await
                && json["predictions"][0]["index"].as_u64() == Some(expect)
            {
                break started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let group = format!("-{}", child.id());
        let killed = Command::new("kill").args(["-KILL", "--", &group]).status();
        assert!(killed.unwrap().success(), "could not stop the server");
        child.wait().unwrap();
        samples.push(ms(elapsed));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    summary("spawn to first correct prediction", samples);
}

/// One answer under load.
struct Answer {
    status: u16,
    retry_after: bool,
    latency_ms: f64,
}

async fn send(client: &reqwest::Client, url: &str, body: &[u8]) -> Answer {
    let started = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec())
        .send()
        .await;
    let (status, retry_after) = match response {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            // Read the whole answer: a refused request is done when its body is.
            let _ = response.bytes().await;
            (status, retry_after)
        }
        // Connection refused, reset or timed out: counted as status 0.
        Err(_) => (0, false),
    };
    Answer {
        status,
        retry_after,
        latency_ms: ms(started.elapsed()),
    }
}

fn report(name: &str, answers: &[Answer]) {
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for answer in answers {
        *by_status.entry(answer.status).or_default() += 1;
    }
    println!(
        "{name}: {} requests, by status {by_status:?}",
        answers.len()
    );
    for (label, status) in [
        ("admitted (200)", 200),
        ("refused (503)", 503),
        ("refused (429)", 429),
    ] {
        let latencies: Vec<f64> = answers
            .iter()
            .filter(|a| a.status == status)
            .map(|a| a.latency_ms)
            .collect();
        if !latencies.is_empty() {
            summary(&format!("  {label}"), latencies);
        }
    }
    let refused = answers.iter().filter(|a| matches!(a.status, 429 | 503));
    let (count, with_retry_after) =
        refused.fold((0, 0), |(n, r), a| (n + 1, r + usize::from(a.retry_after)));
    if count > 0 {
        println!("  refused with Retry-After: {with_retry_after} of {count}");
    }
}

#[tokio::main]
async fn bench_overload(
    url: &str,
    image: &Path,
    clients: usize,
    capacity_seconds: f64,
    factor: f64,
    seconds: f64,
    recovery: usize,
) {
    let body: std::sync::Arc<[u8]> = std::fs::read(image).unwrap().into();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    let url: std::sync::Arc<str> = url.into();
    // Warm up connections and sessions.
    for _ in 0..20 {
        send(&client, &url, &body).await;
    }

    // Capacity: `clients` closed loops, bounded in time.
    let deadline = Instant::now() + Duration::from_secs_f64(capacity_seconds);
    let started = Instant::now();
    let loops: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while Instant::now() < deadline {
                    answers.push(send(&client, &url, &body).await);
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for handle in loops {
        answers.extend(handle.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let capacity = ok as f64 / elapsed;
    println!(
        "capacity: {capacity:.1} req/s ({ok} answered 200 by {clients} closed-loop clients in {elapsed:.1} s)"
    );
    report("capacity phase", &answers);

    // Overload: open loop at factor × capacity, a bounded number of requests.
    let rate = factor * capacity;
    let total = (rate * seconds).round() as usize;
    println!("overload: offering {rate:.1} req/s ({factor}x) for {seconds} s = {total} requests");
    let started = Instant::now();
    let mut in_flight = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        in_flight.push(tokio::spawn(
            async move { send(&client, &url, &body).await },
        ));
    }
    let offered_for = started.elapsed().as_secs_f64();
    let load_ended = Instant::now();
    let mut answers = Vec::with_capacity(total);
    for handle in in_flight {
        answers.push(handle.await.unwrap());
    }
    let drained_ms = ms(load_ended.elapsed());
    let ok = answers.iter().filter(|a| a.status == 200).count();
    println!(
        "overload phase: offered over {offered_for:.1} s; {:.1} req/s answered 200 ({:.0} % of capacity); last answer {drained_ms:.0} ms after the load stopped",
        ok as f64 / offered_for,
        100.0 * ok as f64 / offered_for / capacity
    );
    report("overload phase", &answers);

    // Recovery: sequential requests as soon as the overload's answers are in.
    let recovery_started = Instant::now();
    let mut answers = Vec::with_capacity(recovery);
    let mut first_ok_ms = None;
    for _ in 0..recovery {
        let answer = send(&client, &url, &body).await;
        if answer.status == 200 && first_ok_ms.is_none() {
            first_ok_ms = Some(ms(recovery_started.elapsed()));
        }
        answers.push(answer);
    }
    println!(
        "recovery: first 200 after {} ms",
        first_ok_ms.map_or_else(|| "never".to_owned(), |t| format!("{t:.1}"))
    );
    report("recovery phase", &answers);
}
