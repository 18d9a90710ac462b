//! The `slo` binary on synthetic EMF logs with known answers: exact events, burn rates, alert
//! tiers, exit codes, formats, and errors for broken specs and inputs.

use std::collections::BTreeMap;

use crate::common::*;
use serde_json::{Value, json};
use telemetry::catalogue;
use telemetry::emf::{Entry, Identity, Values, render};

/// 2026-11-20T12:00:00Z.
const AT_MS: u64 = 1_795_176_000_000;
const AT: &str = "2026-11-20T12:00:00Z";

/// 1000 proxy requests, one every 36 s up to 36 s before `AT`: the first cold, requests 1-20
/// slow (500 ms), the last 6 server errors.
fn synthetic_logs() -> String {
    let identity = Identity {
        namespace: catalogue::DEFAULT_NAMESPACE.into(),
        service: catalogue::Service::Proxy,
        scope: "mobilenet".into(),
    };
    let mut lines = String::new();
    for i in 0..1000_u64 {
        let timestamp = AT_MS - 36_000 * (1000 - i);
        let cold = i == 0;
        let latency = if (1..=20).contains(&i) { 500.0 } else { 100.0 };
        let start_type = if cold { "cold" } else { "warm" };
        let mut entries = vec![
            Entry::with_values(&catalogue::REQUESTS, &[], Values::Sum(1)),
            Entry::with_values(
                &catalogue::SERVER_ERRORS,
                &[],
                Values::Sum(u64::from(i >= 994)),
            ),
            Entry::with_values(&catalogue::CLIENT_ERRORS, &[], Values::Sum(0)),
            Entry::with_values(
                &catalogue::LATENCY,
                &[(catalogue::DIM_START_TYPE, start_type)],
                Values::Observations(vec![latency]),
            ),
        ];
        if cold {
            entries.push(Entry::with_values(
                &catalogue::COLD_START,
                &[],
                Values::Sum(1),
            ));
            entries.push(Entry::with_values(
                &catalogue::INIT_DURATION,
                &[],
                Values::Observations(vec![50.0]),
            ));
            entries.push(Entry::with_values(
                &catalogue::COLD_START_LATENCY,
                &[],
                Values::Observations(vec![2000.0]),
            ));
        }
        let properties = BTreeMap::from([("request_id".to_owned(), json!(format!("r{i}")))]);
        for line in render(&identity, timestamp, &entries, &properties) {
            lines.push_str(&line);
            lines.push('\n');
        }
        // Log lines between records are skipped.
        lines.push_str("{\"level\":\"INFO\",\"message\":\"noise\"}\n");
    }
    lines
}

fn report_json(logs: &std::path::Path, extra: &[&str]) -> (i32, Value) {
    let specs = project_specs();
    let mut args = vec![
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--logs",
        logs.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = slo(&args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let code = out.status.code().unwrap();
    (code, serde_json::from_str(&stdout).unwrap_or(Value::Null))
}

/// `specs` under `dir`: the project's Service and `files` (name, text).
fn spec_dir(dir: &std::path::Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::copy(
        project_specs().join("service.yaml"),
        specs.join("service.yaml"),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(specs.join(name), text).unwrap();
    }
    specs
}

/// The JSON report of `specs` on `logs` at `AT`; it must succeed.
fn report_of(specs: &std::path::Path, logs: &std::path::Path) -> Value {
    let out = slo(&[
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--logs",
        logs.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} {report}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// The burn rate over `lookback` of one SLO's report.
fn burn_rate(slo: &Value, lookback: &str) -> Value {
    slo["burn_rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["lookback"] == lookback)
        .unwrap()["rate"]
        .clone()
}

fn close(value: &Value, expected: f64) -> bool {
    (value.as_f64().unwrap() - expected).abs() < 1e-9
}

#[test]
fn a_report_on_known_events_has_exact_counts_burn_rates_and_alert_tier() {
    let dir = temp_dir("known");
    std::fs::write(dir.join("proxy.log"), synthetic_logs()).unwrap();
    let (code, report) = report_json(&dir, &[]);
    assert_eq!(code, 0, "{report}");

    let availability = slo_named(&report, "proxy-availability");
    assert_eq!(
        availability["events"],
        json!({"good": 994.0, "total": 1000.0})
    );
    assert!(close(&availability["sli"], 0.994));
    assert_eq!(availability["status"], "breached");
    // 6 bad of 5 allowed.
    assert!(close(&availability["budget"]["consumed"], 1.2));
    assert!(close(&availability["budget"]["remaining_bad"], -1.0));
    let burn = |lookback: &str| burn_rate(availability, lookback);
    // Last 5 minutes: 6 errors in 8 requests; last hour: 6 in 100; 3 days: 6 in 1000.
    assert!(close(&burn("5m"), (6.0 / 8.0) / 0.005));
    assert!(close(&burn("1h"), (6.0 / 100.0) / 0.005));
    assert!(close(&burn("3d"), (6.0 / 1000.0) / 0.005));
    // 1h at 12 is under the 28-day page threshold (13.44); 3d and 6h exceed the ticket one.
    assert_eq!(availability["firing"], "ticket");

    let latency = slo_named(&report, "proxy-latency");
    assert_eq!(latency["events"], json!({"good": 979.0, "total": 999.0}));
    let cold_rate = slo_named(&report, "cold-start-rate");
    assert_eq!(cold_rate["events"], json!({"good": 999.0, "total": 1000.0}));
    let cold_latency = slo_named(&report, "cold-start-latency");
    assert_eq!(cold_latency["events"], json!({"good": 1.0, "total": 1.0}));
    assert_eq!(cold_latency["status"], "too_few_events");
    let model = slo_named(&report, "model-server-errors");
    assert_eq!(model["status"], "no_data");
    assert_eq!(model["sli"], Value::Null);

    assert_eq!(report["cold_start"]["cold_starts"], 1.0);
    assert_eq!(report["cold_start"]["requests"], 1000.0);
    assert_eq!(report["cold_start"]["p99_ms"], 2000.0);
    // What cold starts are made of; SageMaker's own setup time exists only in CloudWatch.
    assert_eq!(
        report["cold_start"]["components"],
        json!([
            {"metric": "MlInference/InitDuration", "p50_ms": 50.0, "p99_ms": 50.0},
            {"metric": "MlInference/ModelLoadTime", "p50_ms": null, "p99_ms": null},
            {"metric": "AWS/SageMaker/ModelSetupTime", "p50_ms": null, "p99_ms": null},
        ])
    );

    // Deploy gates.
    assert_eq!(report_json(&dir, &["--fail-on", "breach"]).0, 1);
    assert_eq!(report_json(&dir, &["--fail-on", "ticket"]).0, 1);
    assert_eq!(report_json(&dir, &["--fail-on", "page"]).0, 0);
    // A one-hour window override sees 100 requests.
    let (_, last_hour) = report_json(&dir, &["--window", "1h"]);
    assert_eq!(
        slo_named(&last_hour, "proxy-availability")["events"]["total"],
        100.0
    );
}

#[test]
fn table_and_markdown_formats_say_the_same_in_words() {
    let dir = temp_dir("formats");
    std::fs::write(dir.join("proxy.log"), synthetic_logs()).unwrap();
    let specs = project_specs();
    let run = |format: &str| {
        let out = slo(&[
            "report",
            "--spec",
            specs.to_str().unwrap(),
            "--logs",
            dir.to_str().unwrap(),
            "--at",
            AT,
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run("table");
    assert!(
        table.contains("API availability (proxy-availability)"),
        "{table}"
    );
    assert!(table.contains("99.400% (BREACHED)"), "{table}");
    assert!(table.contains("994 / 1000"), "{table}");
    assert!(
        table.contains("budget in events (allowed / spent / left)"),
        "{table}"
    );
    let markdown = run("markdown");
    assert!(
        markdown.contains("| API availability | 99.500% | 99.400% | BREACHED |"),
        "{markdown}"
    );
    assert!(markdown.contains("## Cold starts"), "{markdown}");
}

#[test]
fn the_chart_draws_one_burn_down_panel_per_slo() {
    let dir = temp_dir("chart");
    std::fs::write(dir.join("proxy.log"), synthetic_logs()).unwrap();
    let chart = dir.join("burn-down.svg");
    let specs = project_specs();
    let out = slo(&[
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--logs",
        dir.to_str().unwrap(),
        "--at",
        AT,
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for title in [
        "API availability: target 99.50 %, 28d rolling, budget -20.0 % left",
        "Cold-start rate: target 98.00 %",
        "Model-server error-free time: target 99.50 %, 28d rolling, budget no data",
    ] {
        assert!(svg.contains(title), "no panel titled {title:?}");
    }
    // Each SLO with events gets its burn-down line besides the even-spending one.
    assert!(svg.matches("<polyline").count() >= 2 * 4, "{svg}");
}

#[test]
fn the_project_specs_are_valid() {
    let specs = project_specs();
    let catalogue = catalogue_json();
    let out = slo(&[
        "validate",
        "--spec",
        specs.to_str().unwrap(),
        "--catalogue",
        &catalogue,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("7 SLOs valid"), "{stdout}");
    assert!(stdout.contains("also valid: 1 Service"), "{stdout}");
}

#[test]
fn a_broken_spec_lists_every_problem_with_file_and_field_and_exits_1() {
    let catalogue = catalogue_json();
    let dir = temp_dir("broken");
    let spec = dir.join("broken.yaml");
    let text = std::fs::read_to_string(project_specs().join("availability.yaml"))
        .unwrap()
        .replace("metricName: ServerErrors", "metricName: ServerErrorz")
        .replace("target: 0.995", "target: 1.5");
    std::fs::write(&spec, text).unwrap();
    let out = slo(&[
        "validate",
        "--spec",
        spec.to_str().unwrap(),
        "--catalogue",
        &catalogue,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let file = spec.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}: proxy-availability: spec.indicator.spec.ratioMetric.bad.metricSource.spec.metricName: \"ServerErrorz\" is not in the telemetry catalogue"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("spec.objectives[0].target: 1.5: must be in [0, 1)"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problem(s)"), "{stderr}");

    // Wrong dimensions for a catalogued metric.
    let text = std::fs::read_to_string(project_specs().join("latency.yaml"))
        .unwrap()
        .replace(
            "value: warm",
            "value: warm\n              - name: Model\n                value: x",
        );
    std::fs::write(&spec, text).unwrap();
    let out = slo(&[
        "validate",
        "--spec",
        spec.to_str().unwrap(),
        "--catalogue",
        &catalogue,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("Latency is published under dimension sets"),
    );

    // Two documents in one file: a misspelt field in the first is named with its path, and
    // the second is still checked (a latency Sum adds up milliseconds, not events; a second
    // namespace is not the one the services publish to).
    let availability = std::fs::read_to_string(project_specs().join("availability.yaml"))
        .unwrap()
        .replace("budgetingMethod:", "budgetingMethd:");
    let model_errors = std::fs::read_to_string(project_specs().join("model-errors.yaml"))
        .unwrap()
        .replace(
            "metricName: Invocations\n",
            "metricName: InferenceLatency\n",
        );
    let cold_start = std::fs::read_to_string(project_specs().join("cold-start.yaml")).unwrap();
    let latency = std::fs::read_to_string(project_specs().join("latency.yaml"))
        .unwrap()
        .replace("namespace: MlInference", "namespace: Other");
    std::fs::write(
        &spec,
        format!("{availability}\n---\n{model_errors}\n---\n{cold_start}\n---\n{latency}"),
    )
    .unwrap();
    let out = slo(&[
        "validate",
        "--spec",
        spec.to_str().unwrap(),
        "--catalogue",
        &catalogue,
    ]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("proxy-availability: spec.budgetingMethd: unknown field `budgetingMethd`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "model-server-errors: spec.indicator.spec.ratioMetric.total.metricSource.spec.stat: the Sum of a distribution adds up its values"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "proxy-latency: spec.indicator.spec.thresholdMetric.metricSource.spec.namespace: \"Other\": every SLO must read the one namespace"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("3 problem(s)"), "{stderr}");

    // A spec path that does not exist is an error, not a failed check.
    let out = slo(&["validate", "--spec", "/nonexistent/specs.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot read")
    );

    // Not YAML at all fails the check, with the line; a report over it is an error, exit 2.
    std::fs::write(&spec, "apiVersion: [").unwrap();
    let out = slo(&[
        "validate",
        "--spec",
        spec.to_str().unwrap(),
        "--catalogue",
        &catalogue,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("not YAML"));
    let out = slo(&[
        "report",
        "--spec",
        spec.to_str().unwrap(),
        "--logs",
        "/nonexistent",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("invalid specs")
    );
}

#[test]
fn unreadable_logs_and_bad_arguments_exit_2() {
    let specs = project_specs();
    let out = slo(&[
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--logs",
        "/nonexistent/logs",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("/nonexistent/logs")
    );
    let empty = temp_dir("empty");
    let (specs, empty) = (specs.to_str().unwrap(), empty.to_str().unwrap());
    let out = slo(&[
        "report",
        "--spec",
        specs,
        "--logs",
        empty,
        "--at",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--at"));
    let out = slo(&[
        "report", "--spec", specs, "--logs", empty, "--format", "xml",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_catalogue_command_prints_the_telemetry_catalogue() {
    let out = slo(&["catalogue"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), catalogue::to_json());
}

/// One day of model-server invocations before `AT`: 10 per 5-minute slice, one of them a
/// server error in the slices `bad_slices` (0 = the last), a client error in slice 100.
fn model_server_logs(bad_slices: &[u64]) -> String {
    let identity = Identity {
        namespace: catalogue::DEFAULT_NAMESPACE.into(),
        service: catalogue::Service::ModelServer,
        scope: "mobilenetv2-int8".into(),
    };
    let mut lines = String::new();
    for slice in 0..288_u64 {
        let slice_start = AT_MS - 300_000 * (slice + 1);
        for j in 0..10_u64 {
            let class = match (j, slice) {
                (0, s) if bad_slices.contains(&s) => Some("server"),
                (0, 100) => Some("client"),
                _ => None,
            };
            let errors = match class {
                Some(class) => Entry::with_values(
                    &catalogue::INVOCATION_ERRORS,
                    &[(catalogue::DIM_ERROR_CLASS, class)],
                    Values::Sum(1),
                ),
                None => Entry::with_values(&catalogue::INVOCATION_ERRORS, &[], Values::Sum(0)),
            };
            let entries = [
                Entry::with_values(&catalogue::INVOCATIONS, &[], Values::Sum(1)),
                errors,
            ];
            let properties =
                BTreeMap::from([("request_id".to_owned(), json!(format!("m{slice}-{j}")))]);
            for line in render(
                &identity,
                slice_start + 10_000 + 25_000 * j,
                &entries,
                &properties,
            ) {
                lines.push_str(&line);
                lines.push('\n');
            }
        }
    }
    lines
}

#[test]
fn timeslices_count_every_slice_of_the_window_and_page_on_a_bad_last_slice() {
    let dir = temp_dir("timeslices");
    // Bad slices: the last one, 3 hours ago and 20 hours ago.
    std::fs::write(dir.join("model.log"), model_server_logs(&[0, 36, 240])).unwrap();
    let (code, report) = report_json(&dir, &["--fail-on", "page"]);
    let model = slo_named(&report, "model-server-errors");
    // 28 days of 5-minute slices; the slices without invocations failed nothing.
    assert_eq!(model["events"], json!({"good": 8061.0, "total": 8064.0}));
    assert_eq!(model["status"], "met");
    // 3 of the 40.32 bad slices the budget allows.
    assert!(close(&model["budget"]["consumed"], 3.0 / 40.32));
    let burn = |lookback: &str| burn_rate(model, lookback);
    assert!(close(&burn("5m"), 1.0 / 0.005));
    assert!(close(&burn("1h"), (1.0 / 12.0) / 0.005));
    assert!(close(&burn("6h"), (2.0 / 72.0) / 0.005));
    assert!(close(&burn("3d"), (3.0 / 864.0) / 0.005));
    // 1h at 16.7 and 5m at 200 both exceed the 28-day page threshold (13.44).
    assert_eq!(model["firing"], "page");
    assert_eq!(code, 1);
    // Rolling window: a whole window more at the 1-hour rate.
    assert!(close(
        &model["projected_remaining"],
        1.0 - (1.0 / 12.0) / 0.005
    ));

    // The same day with no server errors: nothing bad, nothing fires; a client error is not
    // the model server's fault.
    std::fs::write(dir.join("model.log"), model_server_logs(&[])).unwrap();
    let (code, report) = report_json(&dir, &["--fail-on", "ticket"]);
    let model = slo_named(&report, "model-server-errors");
    assert_eq!(model["events"], json!({"good": 8064.0, "total": 8064.0}));
    assert_eq!(model["firing"], Value::Null);
    assert_eq!(code, 0);
}

#[test]
fn edge_slos_have_no_data_from_local_logs_and_are_not_judged() {
    let dir = temp_dir("edge-local");
    std::fs::write(dir.join("proxy.log"), synthetic_logs()).unwrap();
    let edge = project_specs().join("edge.yaml");
    let (edge, logs) = (edge.to_str().unwrap(), dir.to_str().unwrap());
    for fail_on in ["breach", "page", "ticket"] {
        let out = slo(&[
            "report",
            "--spec",
            edge,
            "--logs",
            logs,
            "--at",
            AT,
            "--fail-on",
            fail_on,
        ]);
        let stdout = String::from_utf8(out.stdout).unwrap();
        // Neither 100 % nor 0 %: no SLI, and the reason.
        assert_eq!(out.status.code(), Some(0), "--fail-on {fail_on}: {stdout}");
        assert!(
            stdout.contains("- (no data: AWS/ApiGateway/5xx is published by AWS to CloudWatch, not in local logs (no API Gateway here)"),
            "{stdout}"
        );
        assert!(
            !stdout.contains("100.000%") && !stdout.contains(" 0.000%"),
            "{stdout}"
        );
    }
    let out = slo(&[
        "report",
        "--spec",
        edge,
        "--logs",
        logs,
        "--dimension",
        "ApiID=x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--dimension ApiID")
    );
}

#[test]
fn generating_alarms_for_an_api_id_only_terraform_knows_needs_it_bound() {
    let specs = project_specs();
    let out = slo(&["generate", "alarms", "--spec", specs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("bind it with --terraform-dimension ApiId"),
        "{stderr}"
    );
}

/// Two days of proxy requests ending at `AT`, 10 a minute, all failing for the 30 minutes
/// from 12:00 on the first day.
fn outage_logs() -> (String, u64) {
    let identity = Identity {
        namespace: catalogue::DEFAULT_NAMESPACE.into(),
        service: catalogue::Service::Proxy,
        scope: "mobilenet".into(),
    };
    let start = AT_MS - 2 * 86_400_000;
    let outage = 720..750_u64;
    let mut lines = String::new();
    for minute in 0..2880_u64 {
        for j in 0..10_u64 {
            let failed = outage.contains(&minute);
            let entries = [
                Entry::with_values(&catalogue::REQUESTS, &[], Values::Sum(1)),
                Entry::with_values(
                    &catalogue::SERVER_ERRORS,
                    &[],
                    Values::Sum(u64::from(failed)),
                ),
            ];
            for line in render(
                &identity,
                start + minute * 60_000 + j * 6_000,
                &entries,
                &BTreeMap::new(),
            ) {
                lines.push_str(&line);
                lines.push('\n');
            }
        }
    }
    (lines, start + outage.start * 60_000)
}

#[test]
fn a_backtest_replays_the_logs_through_the_policies_and_gates_on_pages() {
    let dir = temp_dir("backtest");
    let (logs, outage_ms) = outage_logs();
    std::fs::write(dir.join("proxy.log"), logs).unwrap();
    let spec = project_specs().join("availability.yaml");
    let chart = dir.join("timeline.svg");
    let args = |extra: &[&str]| {
        let mut args = vec![
            "backtest".to_owned(),
            "--spec".into(),
            spec.display().to_string(),
            "--logs".into(),
            dir.join("proxy.log").display().to_string(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    let run = |extra: &[&str]| {
        let args = args(extra);
        slo(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&[
        "--format",
        "json",
        "--fail-on-pages",
        "0",
        "--chart",
        chart.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("would have paged 1 times, more than --fail-on-pages 0"),
        "{stderr}"
    );
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The replay covers the logs: from their first minute to the end of their last.
    assert_eq!(replay["from_ms"], AT_MS - 2 * 86_400_000);
    assert_eq!(replay["to_ms"], AT_MS);
    let slo = &replay["slos"][0];
    // k failed minutes of the hour burn 3.33k, over 13.44 from the 5th.
    assert_eq!(slo["pages"][0]["start_ms"], outage_ms + 5 * 60_000);
    assert_eq!(slo["pages"].as_array().unwrap().len(), 1);
    assert_eq!(slo["incidents"][0]["start_ms"], outage_ms);
    assert_eq!(slo["incidents"][0]["minutes_to_page"], 5.0);
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("1 pages"),
        "{}",
        &svg[..200.min(svg.len())]
    );

    // A proposed policy file: the hour's threshold out of reach, so the 6-hour policy pages,
    // 11 minutes in (0.556k over 5.6); the gate passes at one page.
    let proposed = dir.join("proposed.yaml");
    let page_1h = slo::policy::DEFAULT_DOCUMENTS
        .split("\n---\n")
        .find(|doc| doc.contains("name: default-page-1h"))
        .unwrap()
        .replace("threshold: 14.4", "threshold: 1000");
    std::fs::write(&proposed, page_1h).unwrap();
    let out = run(&[
        "--format",
        "json",
        "--fail-on-pages",
        "1",
        "--policies",
        proposed.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    let slo = &replay["slos"][0];
    assert_eq!(slo["pages"][0]["start_ms"], outage_ms + 11 * 60_000);
    assert!(
        slo["never_fired"]
            .as_array()
            .unwrap()
            .contains(&json!("default-page-1h"))
    );

    // The same in words.
    let out = run(&["--format", "markdown"]);
    let markdown = String::from_utf8(out.stdout).unwrap();
    assert!(markdown.contains("| API availability | 1 | "), "{markdown}");
    assert!(markdown.contains("paged after 5 min"), "{markdown}");
    let out = run(&[]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("default-page-1h (page 1h/5m > 13.44)"),
        "{table}"
    );
}

/// A composite SLO from documents that use references: availability (an `SLI` document,
/// weight 3) and warm latency (inline, weight 1) of the proxy.
const COMPOSITE: &str = "\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: proxy-non-5xx
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: CloudWatch
        spec: {namespace: MlInference, metricName: ServerErrors, stat: Sum,
               dimensions: [{name: Service, value: proxy}, {name: Endpoint, value: mobilenet}]}
    total:
      metricSource:
        type: CloudWatch
        spec: {namespace: MlInference, metricName: Requests, stat: Sum,
               dimensions: [{name: Service, value: proxy}, {name: Endpoint, value: mobilenet}]}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: predict-journey
  displayName: Predict journey
spec:
  service: ml-inference
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: answered
      target: 0.995
      indicatorRef: proxy-non-5xx
      compositeWeight: 3
    - displayName: fast
      target: 0.99
      op: lte
      value: 300
      indicator:
        metadata:
          name: proxy-warm-latency
        spec:
          thresholdMetric:
            metricSource:
              type: CloudWatch
              spec: {namespace: MlInference, metricName: Latency, stat: p99,
                     dimensions: [{name: Service, value: proxy}, {name: Endpoint, value: mobilenet},
                                  {name: StartType, value: warm}]}
";

#[test]
fn a_composite_slo_weighs_its_objectives_in_the_report_the_alarms_and_the_backtest() {
    let dir = temp_dir("composite");
    let specs = spec_dir(&dir, &[("journey.yaml", COMPOSITE)]);
    std::fs::write(dir.join("proxy.log"), synthetic_logs()).unwrap();
    let report = report_of(&specs, &dir.join("proxy.log"));
    let journey = slo_named(&report, "predict-journey");
    // Weights 3 and 1 average 1 as 1.5 and 0.5; the target is their mean of 99.5 % and 99 %.
    assert!(close(&journey["target"], 0.99375), "{journey}");
    let components = journey["components"].as_array().unwrap();
    assert_eq!(components[0]["name"], "predict-journey/answered");
    assert!(close(&components[0]["weight"], 1.5));
    assert_eq!(
        components[0]["events"],
        json!({"good": 994.0, "total": 1000.0})
    );
    assert!(close(&components[1]["weight"], 0.5));
    assert_eq!(
        components[1]["events"],
        json!({"good": 979.0, "total": 999.0})
    );
    // Weighted events 1.5 × 1000 + 0.5 × 999; bad ones 1.5 × 6 × B / 0.005 + 0.5 × 20 × B / 0.01
    // with B = 0.00625: 11.25 + 6.25.
    assert!(close(&journey["events"]["total"], 1999.5));
    assert!(close(&journey["events"]["good"], 1999.5 - 17.5));
    assert_eq!(journey["status"], "breached");
    // Burn rate = Σ (w/b)·bad / Σ w·total: the last hour has 100 requests of each, the 6
    // errors and none of the slow ones: 1.5 / 0.005 × 6 / 200 = 9.
    assert!(close(&burn_rate(journey, "1h"), 9.0));
    assert!(close(&burn_rate(journey, "6h"), 1800.0 / 1200.0));
    assert!(close(&burn_rate(journey, "3d"), 2800.0 / 1999.5));
    assert!(close(&journey["budget"]["consumed"], 2800.0 / 1999.5));
    // The 3-day ticket (0.93 for 28 days) and its 6-hour short window (1.5) both pass.
    assert_eq!(journey["firing"], "ticket");
    let out = slo(&[
        "report",
        "--spec",
        specs.to_str().unwrap(),
        "--logs",
        dir.join("proxy.log").to_str().unwrap(),
        "--at",
        AT,
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("component predict-journey/fast (weight 0.50)")
            && table.contains("SLI 97.998% (BREACHED) against 99.000%, budget consumed 200.200%"),
        "{table}"
    );

    // The alarms compute the same burn rate in metric math.
    let out = slo(&["generate", "alarms", "--spec", specs.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alarms: Value = serde_json::from_slice(&out.stdout).unwrap();
    let page = &alarms["resource"]["aws_cloudwatch_metric_alarm"]["slo_predict_journey_page_1h"];
    let queries = page["metric_query"].as_array().unwrap();
    let ids: Vec<&str> = queries.iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["bad1", "total1", "good2", "total2", "total", "burn"]);
    assert_eq!(
        queries[4]["expression"],
        "1.5 * FILL(total1, 0) + 0.5 * FILL(total2, 0)"
    );
    assert_eq!(
        queries[5]["expression"],
        "IF(total >= 10, (0.00625 * (300 * FILL(bad1, 0) + 50 * (FILL(total2, 0) - FILL(good2, 0))) / (1.5 * FILL(total1, 0) + 0.5 * FILL(total2, 0))) / 0.00625, 0)"
    );
    assert_eq!(queries[2]["metric"]["stat"], "TC(:300)");
    assert_eq!(page["threshold"], 13.44);
    // The dashboard's SLI line is the same error ratio, per hour.
    let out = slo(&["generate", "dashboard", "--spec", specs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let dashboard = String::from_utf8(out.stdout).unwrap();
    assert!(
        dashboard.contains(
            "100 * (1 - 0.00625 * (300 * FILL(bad1, 0) + 50 * (FILL(total2, 0) - FILL(good2, 0))) / (1.5 * FILL(total1, 0) + 0.5 * FILL(total2, 0)))"
        ),
        "{dashboard}"
    );

    // The backtest pages on the composite as on its busy component alone: the latency
    // component has no traffic in these logs.
    let (logs, outage_ms) = outage_logs();
    std::fs::write(dir.join("outage.log"), logs).unwrap();
    let out = slo(&[
        "backtest",
        "--spec",
        specs.to_str().unwrap(),
        "--logs",
        dir.join("outage.log").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    let journey = &replay["slos"][0];
    assert_eq!(journey["name"], "predict-journey", "{replay}");
    assert_eq!(journey["pages"][0]["start_ms"], outage_ms + 5 * 60_000);
}

/// Availability with its good events given as metric math: requests less server errors.
const MATH: &str = "\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: answered
spec:
  service: ml-inference
  indicator:
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: CloudWatch
            spec:
              expression: FILL(requests, 0) - FILL(server, 0)
              metrics:
                - {id: requests, namespace: MlInference, metricName: Requests, stat: Sum,
                   dimensions: [{name: Service, value: proxy}, {name: Endpoint, value: mobilenet}]}
                - {id: server, namespace: MlInference, metricName: ServerErrors, stat: Sum,
                   dimensions: [{name: Service, value: proxy}, {name: Endpoint, value: mobilenet}]}
        total:
          metricSource:
            type: CloudWatch
            spec: {namespace: MlInference, metricName: Requests, stat: Sum,
                   dimensions: [{name: Service, value: proxy}, {name: Endpoint, value: mobilenet}]}
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
";

#[test]
fn a_count_given_as_metric_math_is_evaluated_linted_and_alarmed_on() {
    let dir = temp_dir("math");
    let specs = spec_dir(&dir, &[("answered.yaml", MATH)]);
    std::fs::write(dir.join("proxy.log"), synthetic_logs()).unwrap();
    let catalogue = catalogue_json();
    let validate = |specs: &std::path::Path| {
        slo(&[
            "validate",
            "--spec",
            specs.to_str().unwrap(),
            "--catalogue",
            &catalogue,
        ])
    };
    assert_eq!(validate(&specs).status.code(), Some(0));
    // The expression's metrics are linted where they are written.
    let typo = spec_dir(
        &dir.join("typo"),
        &[(
            "answered.yaml",
            &MATH.replacen("metricName: ServerErrors", "metricName: ServerError", 1),
        )],
    );
    let out = validate(&typo);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "answered: spec.indicator.spec.ratioMetric.good.metricSource.spec.metrics[1].metricName: \"ServerError\" is not in the telemetry catalogue"
        ),
        "{stderr}"
    );

    // The same events as the project's availability SLO sees.
    let report = report_of(&specs, &dir.join("proxy.log"));
    let answered = slo_named(&report, "answered");
    assert_eq!(answered["events"], json!({"good": 994.0, "total": 1000.0}));
    assert!(close(&burn_rate(answered, "1h"), (6.0 / 100.0) / 0.005));

    let out = slo(&["generate", "alarms", "--spec", specs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let alarms: Value = serde_json::from_slice(&out.stdout).unwrap();
    let page = &alarms["resource"]["aws_cloudwatch_metric_alarm"]["slo_answered_page_1h"];
    let queries = page["metric_query"].as_array().unwrap();
    let ids: Vec<&str> = queries.iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["good_requests", "good_server", "good", "total", "burn"]
    );
    assert_eq!(
        queries[2]["expression"],
        "FILL(good_requests, 0) - FILL(good_server, 0)"
    );
    assert_eq!(queries[2]["return_data"], false);
    assert_eq!(queries[1]["metric"]["metric_name"], "ServerErrors");
    assert_eq!(queries[1]["metric"]["period"], 3600);
    let out = slo(&["generate", "dashboard", "--spec", specs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let dashboard = String::from_utf8(out.stdout).unwrap();
    assert!(
        dashboard.contains("FILL(good_requests, 0) - FILL(good_server, 0)"),
        "{dashboard}"
    );
}

#[test]
fn ratio_timeslices_average_a_calendar_days_slices_and_a_composite_judges_each_objectives_slices() {
    let dir = temp_dir("ratio-timeslices");
    let spec = std::fs::read_to_string(project_specs().join("model-errors.yaml"))
        .unwrap()
        .replace(
            "    - duration: 28d\n      isRolling: true",
            "    - duration: 1d\n      calendar:\n        startTime: 2026-11-01 00:00:00\n        timeZone: UTC",
        )
        .replace("budgetingMethod: Timeslices", "budgetingMethod: RatioTimeslices")
        .replace("      timeSliceTarget: 0.99\n", "");
    let specs = spec_dir(&dir, &[("model-errors.yaml", &spec)]);
    // 10 invocations per 5-minute slice over the last day; one of them fails in the last
    // slice, 3 hours ago and 20 hours ago (yesterday: the calendar day began 12 hours ago).
    std::fs::write(dir.join("model.log"), model_server_logs(&[0, 36, 240])).unwrap();
    let report = report_of(&specs, &dir.join("model.log"));
    let model = slo_named(&report, "model-server-errors");
    assert_eq!(model["window_start_ms"], AT_MS - 12 * 3_600_000);
    // Today's 144 slices, each weighing one whatever its traffic: two at 90 %.
    assert!(close(&model["events"]["total"], 144.0), "{model}");
    assert!(close(&model["events"]["good"], 142.0 + 2.0 * 0.9));
    assert!(close(&model["sli"], 143.8 / 144.0));
    assert!(close(&model["budget"]["consumed"], 0.2 / (144.0 * 0.005)));
    // Burn rates look back past the day's start: the day before holds the third bad slice.
    assert!(close(&burn_rate(model, "1h"), (0.1 / 12.0) / 0.005));
    assert!(close(&burn_rate(model, "6h"), (0.2 / 72.0) / 0.005));
    assert!(close(&burn_rate(model, "1d"), (0.3 / 288.0) / 0.005));
    // Half the day gone at that consumption, the other half at the 1-hour rate.
    assert!(close(
        &model["projected_remaining"],
        1.0 - (0.2 / 0.72) * 0.5 - ((0.1 / 12.0) / 0.005) * 0.5
    ));
    // Alarms cannot average slices over a lookback, and say so.
    let out = slo(&["generate", "alarms", "--spec", specs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("RatioTimeslices over counts"),
        "{out:?}"
    );

    // A composite over Timeslices judges each objective's slices on its own, then weighs them:
    // the same indicator held to 99.5 % and to 99 % (B = 0.75 %) makes a bad slice cost
    // 0.0075/0.005 + 0.0075/0.01 = 2.25 of its 2 weighted slices.
    let sli = "apiVersion: openslo/v1
kind: SLI
metadata:
  name: model-server-error-ratio
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: CloudWatch
        spec: {namespace: MlInference, metricName: InvocationErrors, stat: Sum,
               dimensions: [{name: Service, value: model-server}, {name: Model, value: mobilenetv2-int8},
                            {name: ErrorClass, value: server}]}
    total:
      metricSource:
        type: CloudWatch
        spec: {namespace: MlInference, metricName: Invocations, stat: Sum,
               dimensions: [{name: Service, value: model-server}, {name: Model, value: mobilenetv2-int8}]}
";
    let slo_doc = "apiVersion: openslo/v1
kind: SLO
metadata:
  name: model-slices
spec:
  service: ml-inference
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - displayName: strict
      target: 0.995
      timeSliceTarget: 0.99
      timeSliceWindow: 5m
      indicatorRef: model-server-error-ratio
    - displayName: loose
      target: 0.99
      timeSliceTarget: 0.99
      timeSliceWindow: 5m
      indicatorRef: model-server-error-ratio
";
    std::fs::write(
        specs.join("model-errors.yaml"),
        format!("{sli}---\n{slo_doc}"),
    )
    .unwrap();
    let report = report_of(&specs, &dir.join("model.log"));
    let slices = slo_named(&report, "model-slices");
    assert!(close(&slices["target"], 0.9925), "{slices}");
    // 28 days of slices, all good but three (the quiet ones failed nothing).
    assert!(close(&slices["events"]["total"], 2.0 * 8064.0));
    assert!(close(&slices["events"]["good"], 2.0 * 8064.0 - 3.0 * 2.25));
    assert!(close(&burn_rate(slices, "1h"), 2.25 / 24.0 / 0.0075));
    assert!(close(&burn_rate(slices, "1h"), 12.5));
    let components = slices["components"].as_array().unwrap();
    assert!(close(
        &burn_rate(&components[0], "1h"),
        (1.0 / 12.0) / 0.005
    ));
    assert!(close(&burn_rate(&components[1], "1h"), (1.0 / 12.0) / 0.01));
}
