//! `cargo run --release -p slo --example slo_bench`: the figures of BENCHMARKS.md's `slo` section.
//!
//! - EMF parsing speed: 30 days of 1-minute records from both services (86,400 records, each
//!   minute's 40 requests as value arrays) written to a file and read back.
//! - `slo report` over those 30 days for every project SLO: CPU time of the evaluation.
//! - CloudWatch: how many `GetMetricData` calls the same report makes (planned from the dry run
//!   the CLI does), against the fewest the API limits allow for those datapoints.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use serde_json::json;
use slo::cloudwatch::{MAX_DATAPOINTS_PER_CALL, Recorder, plan};
use slo::report::{self, Options};
use slo::source::EmfLogs;
use telemetry::catalogue::{self, Service};
use telemetry::emf::{Entry, Identity, Values, render};

const MINUTES: i64 = 30 * 24 * 60;
const PER_MINUTE: usize = 40;

/// Process CPU time (user + system) in seconds, from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let at_ms: i64 = 1_795_176_000_000;
    let start = at_ms - MINUTES * 60_000;
    let proxy = Identity {
        namespace: catalogue::DEFAULT_NAMESPACE.into(),
        service: Service::Proxy,
        scope: "mobilenet".into(),
    };
    let model = Identity {
        namespace: catalogue::DEFAULT_NAMESPACE.into(),
        service: Service::ModelServer,
        scope: "mobilenetv2-int8".into(),
    };
    let path = std::env::temp_dir().join(format!("slo-bench-{}.log", std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let properties = BTreeMap::from([(
        "trace_id".to_owned(),
        json!("1-00000000-000000000000000000000000"),
    )]);
    let mut records = 0_usize;
    for minute in 0..MINUTES {
        let timestamp = u64::try_from(start + minute * 60_000 + 30_000)?;
        #[allow(clippy::cast_precision_loss)]
        let latencies: Vec<f64> = (0..PER_MINUTE)
            .map(|i| 40.0 + (i * 7 % 300) as f64)
            .collect();
        let n = PER_MINUTE as u64;
        let proxy_entries = [
            Entry::with_values(&catalogue::REQUESTS, &[], Values::Sum(n)),
            Entry::with_values(
                &catalogue::SERVER_ERRORS,
                &[],
                Values::Sum(u64::from(minute % 97 == 0)),
            ),
            Entry::with_values(&catalogue::CLIENT_ERRORS, &[], Values::Sum(1)),
            Entry::with_values(&catalogue::THROTTLES, &[], Values::Sum(0)),
            Entry::with_values(
                &catalogue::LATENCY,
                &[(catalogue::DIM_START_TYPE, catalogue::START_WARM)],
                Values::Observations(latencies.clone()),
            ),
        ];
        let model_entries = [
            Entry::with_values(&catalogue::INVOCATIONS, &[], Values::Sum(n)),
            Entry::with_values(&catalogue::INVOCATION_ERRORS, &[], Values::Sum(0)),
            Entry::with_values(
                &catalogue::INFERENCE_LATENCY,
                &[],
                Values::Observations(latencies),
            ),
        ];
        for line in render(&proxy, timestamp, &proxy_entries, &properties)
            .into_iter()
            .chain(render(&model, timestamp, &model_entries, &properties))
        {
            writeln!(file, "{line}")?;
            records += 1;
        }
    }
    file.flush()?;
    drop(file);
    let bytes = std::fs::metadata(&path)?.len();

    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    let slos = slo::spec::load(&[specs]).map_err(|p| format!("{p:?}"))?;
    let options = Options {
        at_ms,
        window: Some(slo::duration::Span(30 * 86_400)),
        min_events: 10.0,
    };

    let cpu = cpu_seconds();
    let wall = Instant::now();
    let mut logs = EmfLogs::read(std::slice::from_ref(&path))?;
    let parse_wall = wall.elapsed().as_secs_f64();
    let parse_cpu = cpu_seconds() - cpu;
    let cpu = cpu_seconds();
    let wall = Instant::now();
    let report = report::report(&slos, &mut logs, &options)?;
    let report_wall = wall.elapsed().as_secs_f64();
    let report_cpu = cpu_seconds() - cpu;
    std::fs::remove_file(&path)?;

    // The CloudWatch plan for the same report, as if it ran now over fresh data.
    let mut recorder = Recorder::default();
    report::report(&slos, &mut recorder, &options)?;
    let calls = plan(&recorder.requests, at_ms)?;
    let queries: usize = calls.iter().map(|c| c.queries.len()).sum();
    let datapoints: usize = calls.iter().map(slo::cloudwatch::Call::datapoints).sum();
    let floor = datapoints.div_ceil(MAX_DATAPOINTS_PER_CALL);

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# slo bench: 30 days of 1-minute EMF records, {} SLOs",
        slos.len()
    )?;
    writeln!(
        out,
        "EMF parse: {records} records ({:.1} MB) in {parse_wall:.2} s wall / {parse_cpu:.2} s CPU = {:.0} records/s",
        bytes as f64 / 1e6,
        records as f64 / parse_wall
    )?;
    writeln!(
        out,
        "report over 30 days (all SLOs + cold starts): {report_wall:.3} s wall / {report_cpu:.2} s CPU"
    )?;
    writeln!(
        out,
        "CloudWatch plan: {} GetMetricData call(s) for {queries} queries, {datapoints} datapoints; the datapoint limit alone needs at least {floor}",
        calls.len()
    )?;
    let availability = report
        .slos
        .iter()
        .find(|s| s.name == "proxy-availability")
        .ok_or("no availability SLO")?;
    writeln!(
        out,
        "check: availability events {}/{} (expected {}/{})",
        availability.events.good,
        availability.events.total,
        MINUTES * 40 - (MINUTES + 96) / 97,
        MINUTES * 40
    )?;
    Ok(())
}
