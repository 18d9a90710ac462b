//! `slo`: validate SLO specs, print the metric catalogue, report SLIs, budgets and burn rates.
//! Exit codes: 0 ok; 1 a check failed (invalid specs, or the `--fail-on` condition holds); 2 an
//! error (unreadable input, bad arguments).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use slo::cloudwatch::{CloudWatch, Recorder};
use slo::math::Tier;
use slo::report::{self, Options, Status};
use slo::source::EmfLogs;
use slo::{duration, render, spec};

#[derive(Debug, Parser)]
#[command(name = "slo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check SLO specs (OpenSLO v1, CloudWatch metrics from the telemetry catalogue); every
    /// problem is listed with its file and field.
    Validate {
        /// Spec files or directories of `.yaml` files.
        #[arg(long = "spec", default_value = "slo/specs")]
        specs: Vec<PathBuf>,
    },
    /// Print the metric catalogue the specs are checked against.
    Catalogue,
    /// SLI, error budget, burn rates and alert tier per SLO, and the cold-start section.
    Report(ReportArgs),
    /// Write what the specs imply for CloudWatch: the burn-rate alarms as Terraform JSON, or the
    /// dashboard body.
    Generate {
        #[arg(value_enum)]
        what: Generated,
        /// Spec files or directories of `.yaml` files.
        #[arg(long = "spec", default_value = "slo/specs")]
        specs: Vec<PathBuf>,
        /// Output file (e.g. infra/slo_alarms.tf.json, dashboards/service.json); stdout when
        /// absent.
        #[arg(long)]
        out: Option<PathBuf>,
        /// A dimension whose value Terraform supplies (repeatable): the generated files read
        /// `local.metric_dimensions.NAME` (in the dashboard template, `metric_dimensions.NAME`)
        /// instead of the specs' literal value.
        #[arg(long = "terraform-dimension", value_name = "NAME")]
        terraform_dimensions: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Generated {
    /// Multi-window, multi-burn-rate alarms (metric-math and composite) per SLO.
    Alarms,
    /// The service dashboard (a Terraform templatefile() template).
    Dashboard,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Spec files or directories of `.yaml` files.
    #[arg(long = "spec", default_value = "slo/specs")]
    specs: Vec<PathBuf>,
    /// Where the metrics come from.
    #[arg(long, value_enum, default_value_t = SourceKind::Emf)]
    source: SourceKind,
    /// EMF log files or directories (with `--source emf`): the services' stdout.
    #[arg(long = "logs", required_if_eq("source", "emf"))]
    logs: Vec<PathBuf>,
    /// CloudWatch endpoint (with `--source cloudwatch`), e.g. a local test double; region and
    /// credentials come from the standard AWS environment and profile settings.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// End of the evaluated windows (RFC 3339, e.g. 2026-11-25T12:00:00Z), rounded up to a whole
    /// minute; default: now.
    #[arg(long)]
    at: Option<String>,
    /// Evaluate every SLO over this rolling window instead of its own (e.g. 7d).
    #[arg(long)]
    window: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Exit with 1 when this holds: an SLO is breached, or an alert tier fires (page; ticket
    /// means ticket or page).
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Below this many events (or time slices) in the window the SLI is shown but not judged;
    /// an alert tier fires only where its lookbacks have this many events (with Timeslices
    /// every slice is judged on its own).
    #[arg(long, default_value_t = 10.0)]
    min_events: f64,
    /// The value of a dimension the specs leave to Terraform (repeatable), e.g. the HTTP API's
    /// id: `--dimension ApiId=a1b2c3d4e5`. Without it, SLOs reading it have no data.
    #[arg(long = "dimension", value_name = "NAME=VALUE", value_parser = dimension_value)]
    dimensions: Vec<(String, String)>,
    /// Also draw each SLO's error-budget burn-down over its window into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
}

fn dimension_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() && !value.is_empty() => {
            Ok((name.to_owned(), value.to_owned()))
        }
        _ => Err(format!("{text:?}: expected NAME=VALUE")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceKind {
    /// EMF records in log files, as the services write them (no AWS account needed).
    Emf,
    /// CloudWatch GetMetricData.
    Cloudwatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Breach,
    Page,
    Ticket,
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn validate(specs: &[PathBuf]) -> anyhow::Result<ExitCode> {
    match spec::load(specs) {
        Ok(slos) => {
            let names: Vec<&str> = slos.iter().map(|s| s.name.as_str()).collect();
            print(&format!(
                "{} SLOs valid: {}\n",
                slos.len(),
                names.join(", ")
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            let mut stderr = std::io::stderr().lock();
            for problem in &problems {
                writeln!(stderr, "{problem}")?;
            }
            writeln!(stderr, "{} problem(s)", problems.len())?;
            // A spec that cannot be read is an error (2); one that can but is wrong fails the
            // check (1).
            let unreadable = problems.iter().any(|p| p.unreadable);
            Ok(ExitCode::from(if unreadable { 2 } else { 1 }))
        }
    }
}

fn generate(
    what: Generated,
    specs: &[PathBuf],
    out: Option<&std::path::Path>,
    terraform_dimensions: &[String],
) -> anyhow::Result<ExitCode> {
    let bound = slo::terraform::TerraformDimensions::new(terraform_dimensions.iter().cloned())?;
    let slos = match spec::load(specs) {
        Ok(slos) => slos,
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::bail!("invalid specs:\n{}", list.join("\n"));
        }
    };
    bound.check_assigned(&slos)?;
    let document = match what {
        Generated::Alarms => {
            let mut document = slo::alarms::terraform(&slos)?;
            bound.bind_alarms(&mut document)?;
            document
        }
        Generated::Dashboard => {
            let mut body = slo::dashboard::body(&slos)?;
            bound.bind_dashboard(&mut body)?;
            body
        }
    };
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    match out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        None => print(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_report(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let mut slos = match spec::load(&args.specs) {
        Ok(slos) => slos,
        Err(problems) => {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::bail!("invalid specs:\n{}", list.join("\n"));
        }
    };
    let supplied: std::collections::BTreeMap<String, String> =
        args.dimensions.iter().cloned().collect();
    spec::supply_dimensions(&mut slos, &supplied).map_err(anyhow::Error::msg)?;
    let at_ms = match &args.at {
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map_err(|e| anyhow::anyhow!("--at {text:?}: {e}"))?
            .as_millisecond(),
        None => jiff::Timestamp::now().as_millisecond(),
    };
    // Windows end on a whole minute, CloudWatch's finest period, so its datapoints and the
    // report's periods line up; rounding up keeps the events of the current minute.
    let at_ms = at_ms.div_euclid(60_000) * 60_000 + if at_ms % 60_000 == 0 { 0 } else { 60_000 };
    let window = args
        .window
        .as_deref()
        .map(duration::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--window: {e}"))?;
    let options = Options {
        at_ms,
        window,
        min_events: args.min_events,
    };
    let report = match args.source {
        SourceKind::Emf => {
            let mut logs = EmfLogs::read(&args.logs)?;
            if logs.invalid > 0 {
                writeln!(
                    std::io::stderr(),
                    "slo: {} EMF line(s) broke the specification and were skipped (CloudWatch would drop them too)",
                    logs.invalid
                )?;
            }
            report::report(&slos, &mut logs, &options)?
        }
        SourceKind::Cloudwatch => {
            let now_ms = jiff::Timestamp::now().as_millisecond();
            let mut cloudwatch = CloudWatch::new(args.endpoint_url.as_deref(), now_ms)?;
            // A dry run lists every request, so all SLOs share the fewest calls.
            let mut planned = Recorder::default();
            report::report(&slos, &mut planned, &options)?;
            cloudwatch.prefetch(&planned.requests)?;
            let report = report::report(&slos, &mut cloudwatch, &options)?;
            writeln!(
                std::io::stderr(),
                "slo: {} GetMetricData call(s)",
                cloudwatch.calls
            )?;
            report
        }
    };
    if let Some(reason) = &report.cold_start_unavailable {
        writeln!(
            std::io::stderr(),
            "slo: cold-start section unavailable: {reason}"
        )?;
    }
    if let Some(path) = &args.chart {
        slo::chart::burn_down(&report, path)?;
    }
    print(&match args.format {
        Format::Table => render::table(&report),
        Format::Json => render::json(&report),
        Format::Markdown => render::markdown(&report),
    })?;
    let failed = match args.fail_on {
        None => false,
        Some(FailOn::Breach) => report.slos.iter().any(|s| s.status == Status::Breached),
        Some(FailOn::Page) => report.slos.iter().any(|s| s.firing == Some(Tier::Page)),
        Some(FailOn::Ticket) => report.slos.iter().any(|s| s.firing.is_some()),
    };
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let outcome = match &cli.command {
        Command::Validate { specs } => validate(specs),
        Command::Catalogue => print(&telemetry::catalogue::to_json()).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => run_report(args),
        Command::Generate {
            what,
            specs,
            out,
            terraform_dimensions,
        } => generate(*what, specs, out.as_deref(), terraform_dimensions),
    };
    outcome.unwrap_or_else(|e| {
        let _ = writeln!(std::io::stderr(), "slo: {e:#}");
        ExitCode::from(2)
    })
}
