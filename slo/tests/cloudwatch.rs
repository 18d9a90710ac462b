//! `slo report --source cloudwatch` against moto's CloudWatch (started here on a free loopback
//! port): known datapoints published with `PutMetricData` come back as exact SLIs, equal to
//! what the EMF source computes from the same events. moto answers Sum/SampleCount/Average
//! only, so the SLOs used here count with `Sum`; the percentile and `TC(:x)` requests are
//! checked where they are built (unit tests of `slo::cloudwatch`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use common::*;
use serde_json::{Value, json};
use telemetry::catalogue;
use telemetry::emf::{Entry, Identity, Values, render};

struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (Python moto) must be installed");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ENV: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent"),
];

/// 600 requests, one every 30 s up to `at`; the first cold, the last 4 server errors.
fn requests(at_ms: i64) -> Vec<(i64, bool, bool)> {
    (0..600_i64)
        .map(|i| (at_ms - 30_000 * (600 - i), i == 0, i >= 596))
        .collect()
}

fn emf_lines(at_ms: i64) -> String {
    let identity = Identity {
        namespace: catalogue::DEFAULT_NAMESPACE.into(),
        service: catalogue::Service::Proxy,
        scope: "mobilenet".into(),
    };
    let mut out = String::new();
    for (timestamp, cold, failed) in requests(at_ms) {
        let mut entries = vec![
            Entry::with_values(&catalogue::REQUESTS, &[], Values::Sum(1)),
            Entry::with_values(
                &catalogue::SERVER_ERRORS,
                &[],
                Values::Sum(u64::from(failed)),
            ),
        ];
        if cold {
            entries.push(Entry::with_values(
                &catalogue::COLD_START,
                &[],
                Values::Sum(1),
            ));
        }
        let timestamp = u64::try_from(timestamp).unwrap();
        for line in render(&identity, timestamp, &entries, &BTreeMap::new()) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

async fn publish(url: &str, at_ms: i64) {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(url)
        .build();
    let client = aws_sdk_cloudwatch::Client::from_conf(config);
    // In the order slo queries them (sorted by name): moto 5.2 matches dimension lists by
    // order (its Dimension ordering is broken), where CloudWatch does not care.
    let dimensions = [("Endpoint", "mobilenet"), ("Service", "proxy")]
        .map(|(name, value)| Dimension::builder().name(name).value(value).build());
    let datum = |metric: &str, value: f64, timestamp: i64| {
        MetricDatum::builder()
            .metric_name(metric)
            .set_dimensions(Some(dimensions.to_vec()))
            .value(value)
            .unit(StandardUnit::Count)
            .timestamp(aws_smithy_types::DateTime::from_millis(timestamp))
            .build()
    };
    let mut data = Vec::new();
    for (timestamp, cold, failed) in requests(at_ms) {
        data.push(datum(catalogue::REQUESTS.name, 1.0, timestamp));
        data.push(datum(
            catalogue::SERVER_ERRORS.name,
            if failed { 1.0 } else { 0.0 },
            timestamp,
        ));
        if cold {
            data.push(datum(catalogue::COLD_START.name, 1.0, timestamp));
        }
    }
    for chunk in data.chunks(500) {
        client
            .put_metric_data()
            .namespace(catalogue::DEFAULT_NAMESPACE)
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
}

/// The project's Sum-counted SLOs: availability and cold-start rate.
fn sum_specs() -> std::path::PathBuf {
    let dir = temp_dir("sum-specs");
    std::fs::copy(
        project_specs().join("availability.yaml"),
        dir.join("availability.yaml"),
    )
    .unwrap();
    let cold = std::fs::read_to_string(project_specs().join("cold-start.yaml")).unwrap();
    let rate = cold.split("\n---\n").next().unwrap();
    std::fs::write(dir.join("cold-start-rate.yaml"), rate).unwrap();
    dir
}

fn report(args: &[&str]) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slo"))
        .args(args)
        .envs(ENV)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn by_name(report: &Value) -> BTreeMap<String, Value> {
    report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

#[tokio::test]
async fn cloudwatch_and_emf_give_the_same_exact_slis_for_the_same_events() {
    let moto = Moto::start();
    // A whole minute (as `slo report` rounds it) that is not on a 5-minute boundary: the
    // window's start is older than CloudWatch's 1-minute data, so its first datapoint is
    // stamped before the start, and the burn rates come from the per-minute last 3 days.
    let minute = jiff::Timestamp::now().as_millisecond() / 60_000 * 60_000;
    let at_ms = if minute % 300_000 == 0 {
        minute - 60_000
    } else {
        minute
    };
    publish(&moto.url, at_ms).await;
    let logs = temp_dir("same-events");
    std::fs::write(logs.join("proxy.log"), emf_lines(at_ms)).unwrap();
    let specs = sum_specs();
    let at = jiff::Timestamp::from_millisecond(at_ms)
        .unwrap()
        .to_string();
    let common = [
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--at",
        &at,
        "--format",
        "json",
    ];

    let mut args = common.to_vec();
    args.extend(["--source", "cloudwatch", "--endpoint-url", &moto.url]);
    let (cloudwatch, stderr) = report(&args);
    // The 28-day windows (with the cold-start section) in one call, their last 3 days per
    // minute in another.
    assert!(stderr.contains("slo: 2 GetMetricData call(s)"), "{stderr}");
    let mut args = common.to_vec();
    args.extend(["--source", "emf", "--logs", logs.to_str().unwrap()]);
    let (emf, _) = report(&args);

    // The cold-start counts come from one period spanning the whole 28 days, whose datapoint
    // CloudWatch stamps at the start rounded down to 5 minutes (before the window's start
    // when `at` is not on a 5-minute boundary): it must still count.
    for (field, expected) in [("cold_starts", 1.0), ("requests", 600.0)] {
        assert_eq!(cloudwatch["cold_start"][field], expected, "{cloudwatch}");
        assert_eq!(emf["cold_start"][field], expected, "{emf}");
    }
    let (cloudwatch, emf) = (by_name(&cloudwatch), by_name(&emf));
    let availability = &cloudwatch["proxy-availability"];
    assert_eq!(
        availability["events"],
        json!({"good": 596.0, "total": 600.0})
    );
    assert_eq!(
        cloudwatch["cold-start-rate"]["events"],
        json!({"good": 599.0, "total": 600.0})
    );
    for name in ["proxy-availability", "cold-start-rate"] {
        for field in ["events", "sli", "budget", "burn_rates", "firing", "status"] {
            assert_eq!(
                cloudwatch[name][field], emf[name][field],
                "{name}.{field} differs between CloudWatch and EMF"
            );
        }
    }
    // Last 5 minutes: 10 requests, 4 failed.
    assert_eq!(availability["burn_rates"][0]["lookback"], "5m");
    let five_minutes = availability["burn_rates"][0]["rate"].as_f64().unwrap();
    assert!((five_minutes - (4.0 / 10.0) / 0.005).abs() < 1e-9);
}
