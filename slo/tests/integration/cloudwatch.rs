//! `slo report --source cloudwatch` against moto's CloudWatch (started here on a free loopback
//! port): known datapoints published with `PutMetricData` come back as exact SLIs, equal to
//! what the EMF source computes from the same events. moto answers Sum/SampleCount/Average
//! only, so the SLOs used here count with `Sum`; the percentile and `TC(:x)` requests are
//! checked where they are built (unit tests of `slo::cloudwatch`).

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::*;
use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use serde_json::{Value, json};
use telemetry::catalogue;
use telemetry::emf::{Entry, Identity, Values, render};
use test_support::moto::{MOTO_ENV as ENV, Moto};

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
    let emf_reference = emf.clone();
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

    // Through a DataSource naming a role and a source account: the report assumes the role
    // with STS (moto's, so a successful report proves the call) and reads the same events with
    // every query naming the account (moto's own, 123456789012); the role is not printed.
    let through_role = temp_dir("through-role");
    let availability_spec = std::fs::read_to_string(project_specs().join("availability.yaml"))
        .unwrap()
        .replace("type: CloudWatch", "metricSourceRef: slo-readers");
    std::fs::write(
        through_role.join("availability.yaml"),
        format!(
            "{availability_spec}---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: slo-readers
spec:
  type: CloudWatch
  connectionDetails:
    region: us-east-1
    accountId: \"123456789012\"
    roleArn: arn:aws:iam::123456789012:role/slo-reader
"
        ),
    )
    .unwrap();
    std::fs::copy(
        project_specs().join("service.yaml"),
        through_role.join("service.yaml"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slo"))
        .args([
            "report",
            "--spec",
            through_role.to_str().unwrap(),
            "--at",
            &at,
            "--format",
            "json",
            "--source",
            "cloudwatch",
            "--endpoint-url",
            &moto.url,
        ])
        .envs(ENV)
        .env("AWS_ENDPOINT_URL_STS", &moto.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("slo-reader") && !stderr.contains("slo-reader"));
    let by_role: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        by_role["slos"][0]["events"],
        json!({"good": 596.0, "total": 600.0})
    );

    // A count given as metric math: moto evaluates an expression that names one metric (no
    // arithmetic), which is enough to see the expression and its metric sent and answered
    // under their own ids; the EMF source evaluates the same expression itself.
    let math = temp_dir("math-spec");
    let availability = std::fs::read_to_string(project_specs().join("availability.yaml")).unwrap();
    let bad_start = availability.find("        bad:\n").unwrap();
    let bad_end = availability.find("        total:\n").unwrap();
    let math_spec = format!(
        "{}        bad:
          metricSource:
            type: CloudWatch
            spec:
              expression: errors
              metrics:
                - {{id: errors, namespace: MlInference, metricName: ServerErrors, stat: Sum,
                   dimensions: [{{name: Service, value: proxy}}, {{name: Endpoint, value: mobilenet}}]}}
{}",
        &availability[..bad_start],
        &availability[bad_end..]
    );
    std::fs::write(math.join("availability.yaml"), math_spec).unwrap();
    let math_report = |source: &[&str]| {
        let mut args = vec![
            "report",
            "--spec",
            math.to_str().unwrap(),
            "--at",
            &at,
            "--format",
            "json",
        ];
        args.extend(source);
        report(&args).0
    };
    let cloudwatch = math_report(&["--source", "cloudwatch", "--endpoint-url", &moto.url]);
    let emf = math_report(&["--source", "emf", "--logs", logs.to_str().unwrap()]);
    for report in [&cloudwatch, &emf] {
        assert_eq!(
            report["slos"][0]["events"],
            json!({"good": 596.0, "total": 600.0}),
            "{report}"
        );
        assert_eq!(
            report["slos"][0]["burn_rates"],
            by_name(&emf_reference)["proxy-availability"]["burn_rates"]
        );
    }

    // The same history replayed through the alert policies: the same firings from both.
    let from = jiff::Timestamp::from_millisecond(at_ms - 5 * 3_600_000)
        .unwrap()
        .to_string();
    let backtest = |source: &[&str]| {
        let mut args = vec![
            "backtest",
            "--spec",
            specs.to_str().unwrap(),
            "--from",
            &from,
            "--to",
            &at,
            "--format",
            "json",
        ];
        args.extend(source);
        report(&args).0
    };
    let cloudwatch = backtest(&["--source", "cloudwatch", "--endpoint-url", &moto.url]);
    let emf = backtest(&["--source", "emf", "--logs", logs.to_str().unwrap()]);
    assert_eq!(cloudwatch, emf, "the backtests differ");
    let availability = &cloudwatch["slos"][0];
    assert_eq!(availability["name"], "proxy-availability");
    // The 3-day ticket opens at the last minute, when 4 bad of 600 burn 1.33 (over 0.93) over
    // 3 days and 6 hours alike; a minute before, 2 bad of 598 burned 0.67. No page: the hour
    // burns 6.7 and 6 hours 1.33.
    assert_eq!(availability["pages"], json!([]));
    assert_eq!(
        availability["tickets"],
        json!([{"start_ms": at_ms, "end_ms": null}]),
        "{availability}"
    );
}

/// How one request of the scripted day ended.
#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Ok,
    /// The proxy answered 5xx (a `ServerError`).
    ProxyError,
    /// The proxy answered 503 busy (a `Throttle`).
    Busy,
    /// The proxy answered 4xx.
    ClientError,
    /// API Gateway's own 429 (stage throttling): the proxy never saw it.
    GatewayThrottle,
    /// Failed outside the proxy, which wrote no record: Lambda throttled, timed out, init failed.
    Outside,
}

/// A day of traffic ending at `at_ms`: two requests a minute reach the proxy, 4 of them end in
/// a server error, 6 in a 503 busy and 10 in a client error; 8 more are refused by API
/// Gateway's stage throttle at midday; and in the last 4 minutes 15 fail outside the proxy (7
/// Lambda throttles, 5 timeouts, 3 init failures).
fn edge_day(at_ms: i64) -> Vec<(i64, Outcome)> {
    let day_start = at_ms - 1_440 * 60_000;
    let mut requests = Vec::new();
    for k in 0..2_880_i64 {
        let outcome = match k {
            200 | 600 | 1_000 | 1_400 => Outcome::ProxyError,
            1_600..1_606 => Outcome::Busy,
            1_800..1_810 => Outcome::ClientError,
            _ => Outcome::Ok,
        };
        requests.push((
            day_start + k / 2 * 60_000 + 10_000 + k % 2 * 30_000,
            outcome,
        ));
    }
    for i in 0..8 {
        requests.push((
            day_start + 720 * 60_000 + i * 1_000,
            Outcome::GatewayThrottle,
        ));
    }
    for i in 0..15 {
        // 7 throttled, 5 timed out, 3 init failures: to API Gateway all are a 5xx.
        requests.push((at_ms - 4 * 60_000 + i * 10_000, Outcome::Outside));
    }
    requests
}

fn reaches_proxy(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::GatewayThrottle | Outcome::Outside)
}

fn edge_day_emf(at_ms: i64) -> String {
    let identity = Identity {
        namespace: catalogue::DEFAULT_NAMESPACE.into(),
        service: catalogue::Service::Proxy,
        scope: "mobilenet".into(),
    };
    let mut out = String::new();
    for (timestamp, outcome) in edge_day(at_ms) {
        if !reaches_proxy(outcome) {
            continue;
        }
        let flag = |o| Values::Sum(u64::from(outcome == o));
        let entries = [
            Entry::with_values(&catalogue::REQUESTS, &[], Values::Sum(1)),
            Entry::with_values(&catalogue::SERVER_ERRORS, &[], flag(Outcome::ProxyError)),
            Entry::with_values(&catalogue::THROTTLES, &[], flag(Outcome::Busy)),
            Entry::with_values(&catalogue::CLIENT_ERRORS, &[], flag(Outcome::ClientError)),
        ];
        let timestamp = u64::try_from(timestamp).unwrap();
        for line in render(&identity, timestamp, &entries, &BTreeMap::new()) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

const API_ID: &str = "a1b2c3d4e5";
const STAGE: &str = "$default";

/// Publishes the day as CloudWatch would hold it: API Gateway's metrics for every request,
/// and what CloudWatch extracts from the proxy's EMF records for those that reached it.
async fn publish_edge_day(url: &str, at_ms: i64) {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(url)
        .build();
    let client = aws_sdk_cloudwatch::Client::from_conf(config);
    let dims = |pairs: [(&str, &str); 2]| {
        pairs
            .map(|(name, value)| Dimension::builder().name(name).value(value).build())
            .to_vec()
    };
    // Sorted by name, as slo queries them (moto matches dimension lists by order).
    let api = dims([
        (catalogue::DIM_API_ID, API_ID),
        (catalogue::DIM_STAGE, STAGE),
    ]);
    let proxy = dims([
        (catalogue::DIM_ENDPOINT, "mobilenet"),
        (catalogue::DIM_SERVICE, "proxy"),
    ]);
    // One datum per metric and minute holding the minute's sum, and none for a minute without
    // errors: the same sums in every period of a minute or more, and a tenth of the points for
    // moto, whose GetMetricData scans every point once per query and period. (Zeros stored
    // beside the counts are the other test's case, `cloudwatch_and_emf_give_the_same_...`.)
    let mut sums: BTreeMap<(bool, &str, i64), f64> = BTreeMap::new();
    let mut add = |at_edge: bool, metric: &'static str, value: bool, timestamp: i64| {
        let minute = timestamp.div_euclid(60_000) * 60_000;
        *sums.entry((at_edge, metric, minute)).or_default() += f64::from(u8::from(value));
    };
    for (t, outcome) in edge_day(at_ms) {
        let five = matches!(
            outcome,
            Outcome::ProxyError | Outcome::Busy | Outcome::Outside
        );
        let four = matches!(outcome, Outcome::ClientError | Outcome::GatewayThrottle);
        add(true, catalogue::API_GATEWAY_COUNT.name, true, t);
        add(true, catalogue::API_GATEWAY_5XX.name, five, t);
        add(true, catalogue::API_GATEWAY_4XX.name, four, t);
        if reaches_proxy(outcome) {
            add(false, catalogue::REQUESTS.name, true, t);
            add(
                false,
                catalogue::SERVER_ERRORS.name,
                outcome == Outcome::ProxyError,
                t,
            );
            add(
                false,
                catalogue::THROTTLES.name,
                outcome == Outcome::Busy,
                t,
            );
            add(
                false,
                catalogue::CLIENT_ERRORS.name,
                outcome == Outcome::ClientError,
                t,
            );
        }
    }
    let (mut edge, mut ours) = (Vec::new(), Vec::new());
    let counts = [catalogue::API_GATEWAY_COUNT.name, catalogue::REQUESTS.name];
    for ((at_edge, metric, minute), sum) in sums {
        if sum == 0.0 && !counts.contains(&metric) {
            continue;
        }
        let (dimensions, data) = if at_edge {
            (&api, &mut edge)
        } else {
            (&proxy, &mut ours)
        };
        data.push(
            MetricDatum::builder()
                .metric_name(metric)
                .set_dimensions(Some(dimensions.clone()))
                .value(sum)
                .unit(StandardUnit::Count)
                .timestamp(aws_smithy_types::DateTime::from_millis(minute + 10_000))
                .build(),
        );
    }
    for (namespace, data) in [
        (catalogue::API_GATEWAY_NAMESPACE, edge),
        (catalogue::DEFAULT_NAMESPACE, ours),
    ] {
        for chunk in data.chunks(500) {
            client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
        }
    }
}

/// The availability SLOs: the proxy's and the edge's (the edge's latency needs `TC(:x)`,
/// which moto does not compute).
fn availability_specs() -> std::path::PathBuf {
    let dir = temp_dir("edge-specs");
    std::fs::copy(
        project_specs().join("availability.yaml"),
        dir.join("availability.yaml"),
    )
    .unwrap();
    let edge = std::fs::read_to_string(project_specs().join("edge.yaml")).unwrap();
    let availability = edge.split("\n---\n").next().unwrap();
    assert!(availability.contains("name: edge-availability"));
    std::fs::write(dir.join("edge-availability.yaml"), availability).unwrap();
    dir
}

fn rate(slo: &Value, lookback: &str) -> f64 {
    slo["burn_rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["lookback"] == lookback)
        .unwrap()["rate"]
        .as_f64()
        .unwrap()
}

#[tokio::test]
async fn the_edge_slo_charges_failures_outside_the_proxy_that_the_proxy_slo_never_sees() {
    let moto = Moto::start();
    let minute = jiff::Timestamp::now().as_millisecond() / 60_000 * 60_000;
    let at_ms = if minute % 300_000 == 0 {
        minute - 60_000
    } else {
        minute
    };
    publish_edge_day(&moto.url, at_ms).await;
    let specs = availability_specs();
    let at = jiff::Timestamp::from_millisecond(at_ms)
        .unwrap()
        .to_string();
    let api = format!("ApiId={API_ID}");
    let (json, _) = report(&[
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--at",
        &at,
        "--format",
        "json",
        "--source",
        "cloudwatch",
        "--endpoint-url",
        &moto.url,
        "--dimension",
        &api,
    ]);
    let slos = by_name(&json);
    let (edge, proxy) = (&slos["edge-availability"], &slos["proxy-availability"]);
    // 2880 requests reached the proxy, 4 failed there; API Gateway also counted the 8 it
    // throttled and the 15 that failed outside the proxy, and charges the 6 busy answers.
    assert_eq!(proxy["events"], json!({"good": 2876.0, "total": 2880.0}));
    assert_eq!(edge["events"], json!({"good": 2878.0, "total": 2903.0}));
    assert_eq!(proxy["status"], "met");
    assert_eq!(edge["status"], "breached");

    let comparison = &json["edge"][0];
    assert_eq!(comparison["edge"], "edge-availability");
    assert_eq!(comparison["proxy"], "proxy-availability");
    assert_eq!(comparison["proxy_busy"], 6.0);
    // 25 bad at the edge − 4 server errors − 6 busy answers of the proxy: the 15 injected.
    assert_eq!(comparison["failures_outside_proxy"], 15.0);
    let difference = comparison["difference"].as_f64().unwrap();
    assert!((difference - (2878.0 / 2903.0 - 2876.0 / 2880.0)).abs() < 1e-12);

    // Edge burn rates by hand (budget 0.005): the last 5 minutes hold 10 proxy requests and
    // the 15 outside failures, the last 30 minutes 60 + 15, the last hour 120 + 15, the last
    // 6 hours 720 + 15; the day (and 3 days) all 2903 with 25 bad.
    for (lookback, expected) in [
        ("5m", 15.0 / 25.0 / 0.005),
        ("30m", 15.0 / 75.0 / 0.005),
        ("1h", 15.0 / 135.0 / 0.005),
        ("6h", 15.0 / 735.0 / 0.005),
        ("1d", 25.0 / 2903.0 / 0.005),
        ("3d", 25.0 / 2903.0 / 0.005),
    ] {
        let got = rate(edge, lookback);
        assert!(
            (got - expected).abs() < 1e-9,
            "{lookback}: {got} vs {expected}"
        );
    }
    // 1h (22.2) and 5m (120) above 13.44: the edge pages while the proxy, whose last errors
    // are 12 hours old, burns nothing now.
    assert_eq!(edge["firing"], "page");
    assert_eq!(proxy["firing"], Value::Null);
    assert_eq!(rate(proxy, "1h"), 0.0);
    assert!((rate(proxy, "1d") - 4.0 / 2880.0 / 0.005).abs() < 1e-9);

    // Locally, from the proxy's EMF records of the same day: the same proxy SLI, and the edge
    // SLO has no data, with the reason, and is not judged.
    let logs = temp_dir("edge-day");
    std::fs::write(logs.join("proxy.log"), edge_day_emf(at_ms)).unwrap();
    let (local, _) = report(&[
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--at",
        &at,
        "--format",
        "json",
        "--logs",
        logs.to_str().unwrap(),
        "--fail-on",
        "ticket",
    ]);
    let local_slos = by_name(&local);
    for field in ["events", "sli", "budget", "burn_rates", "firing", "status"] {
        assert_eq!(
            local_slos["proxy-availability"][field], proxy[field],
            "{field}"
        );
    }
    let edge_local = &local_slos["edge-availability"];
    assert_eq!(edge_local["status"], "no_data");
    assert_eq!(edge_local["sli"], Value::Null);
    assert!(
        edge_local["no_data_reason"]
            .as_str()
            .unwrap()
            .contains("no API Gateway here"),
        "{edge_local}"
    );
    assert_eq!(local["edge"][0]["failures_outside_proxy"], Value::Null);
}
