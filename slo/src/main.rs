//! `slo`: validate OpenSLO documents, print the metric catalogue, report SLIs, budgets and burn
//! rates, generate CloudWatch alarms and the dashboard, backtest alert policies.
//! Exit codes: 0 ok; 1 a check failed (invalid specs, or the `--fail-on` / `--fail-on-pages`
//! condition holds); 2 an error (unreadable input, bad arguments).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use slo::lint::Catalogue;
use slo::load::{self, Loaded};
use slo::math::Tier;
use slo::report::{Options, Status};
use slo::run::{self, Input};
use slo::{duration, render, spec};

#[derive(Debug, Parser)]
#[command(name = "slo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check OpenSLO v1 documents (every kind, references across all files); every problem is
    /// listed with its file, document and field.
    Validate {
        /// Spec files or directories of `.yaml` files.
        #[arg(long = "spec", default_value = "slo/specs")]
        specs: Vec<PathBuf>,
        /// Also check every metric against this catalogue (e.g. telemetry/catalogue.json): it
        /// exists, under a dimension set it is published with, counted as its kind allows.
        #[arg(long, value_name = "FILE.json")]
        catalogue: Option<PathBuf>,
    },
    /// Print the metric catalogue the specs are checked against.
    Catalogue,
    /// SLI, error budget, burn rates and alert tier per SLO, and the cold-start section.
    Report(ReportArgs),
    /// Replay history through every SLO's alert policies: when each would have fired and
    /// resolved, pages and tickets per week, time to page in each incident.
    Backtest(BacktestArgs),
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

/// What the SLOs are and where their metrics come from (`report` and `backtest`).
#[derive(Debug, clap::Args)]
struct Metrics {
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
    /// credentials come from the standard AWS environment and profile settings, or from the
    /// specs' DataSource (region, a role to assume).
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The value of a dimension the specs leave to Terraform (repeatable), e.g. the HTTP API's
    /// id: `--dimension ApiId=a1b2c3d4e5`. Without it, SLOs reading it have no data.
    #[arg(long = "dimension", value_name = "NAME=VALUE", value_parser = dimension_value)]
    dimensions: Vec<(String, String)>,
}

impl Metrics {
    /// The SLOs with the supplied dimensions, the notes about those not evaluated, and the
    /// source; documents in `overrides` replace the specs' of the same kind and name.
    fn open(&self, overrides: &[PathBuf]) -> anyhow::Result<(Vec<spec::Slo>, Vec<String>, Input)> {
        let loaded = load_specs(&self.specs, overrides)?;
        let notes = unevaluated_notes(&loaded);
        let mut slos = loaded.slos;
        let supplied: std::collections::BTreeMap<String, String> =
            self.dimensions.iter().cloned().collect();
        spec::supply_dimensions(&mut slos, &supplied).map_err(anyhow::Error::msg)?;
        let input = match self.source {
            SourceKind::Emf => Input::Emf(self.logs.clone()),
            SourceKind::Cloudwatch => Input::CloudWatch {
                endpoint_url: self.endpoint_url.clone(),
            },
        };
        Ok((slos, notes, input))
    }
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    #[command(flatten)]
    metrics: Metrics,
    /// End of the evaluated windows (RFC 3339, e.g. 2026-11-25T12:00:00Z), rounded up to a whole
    /// minute; default: now.
    #[arg(long)]
    at: Option<String>,
    /// Evaluate every SLO over this rolling window instead of its own (e.g. 7d).
    #[arg(long)]
    window: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Exit with 1 when this holds: an SLO is breached, or an alert fires (page; ticket means
    /// ticket or page).
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Below this many events (or time slices) in the window the SLI is shown but not judged
    /// (alert conditions have their own minimum, `openslo-cloudwatch/minEvents`).
    #[arg(long, default_value_t = 10.0)]
    min_events: f64,
    /// Also draw each SLO's error-budget burn-down over its window into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct BacktestArgs {
    #[command(flatten)]
    metrics: Metrics,
    /// OpenSLO files whose documents replace those of the same kind and name (repeatable): a
    /// proposed AlertPolicy or AlertCondition, tried on the same history.
    #[arg(long = "policies", value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// Start of the replay (RFC 3339); default: the first record of the logs, or 28 days before
    /// `--to`.
    #[arg(long)]
    from: Option<String>,
    /// End of the replay (RFC 3339); default: the end of the logs, or now.
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also draw each SLO's burn rate and its pages and tickets into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// Exit with 1 when the policies would have paged more than N times in all.
    #[arg(long, value_name = "N")]
    fail_on_pages: Option<usize>,
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

fn print_problems(problems: &[spec::Problem]) -> anyhow::Result<ExitCode> {
    let mut stderr = std::io::stderr().lock();
    for problem in problems {
        writeln!(stderr, "{problem}")?;
    }
    writeln!(stderr, "{} problem(s)", problems.len())?;
    // A spec that cannot be read is an error (2); one that can but is wrong fails the check (1).
    let unreadable = problems.iter().any(|p| p.unreadable);
    Ok(ExitCode::from(if unreadable { 2 } else { 1 }))
}

/// Notes for the reader, on stderr.
fn note(notes: &[String]) -> anyhow::Result<()> {
    let mut stderr = std::io::stderr().lock();
    for text in notes {
        writeln!(stderr, "slo: {text}")?;
    }
    Ok(())
}

fn unevaluated_notes(loaded: &Loaded) -> Vec<String> {
    loaded
        .unevaluated
        .iter()
        .map(|u| {
            format!(
                "{} ({}) is not evaluated: {}",
                u.slo,
                u.file.display(),
                u.reason
            )
        })
        .collect()
}

fn validate(specs: &[PathBuf], catalogue: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let catalogue = catalogue
        .map(Catalogue::read)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let options = load::Options {
        catalogue: catalogue.as_ref(),
        ..load::Options::default()
    };
    match load::load_with(specs, options) {
        Ok(loaded) => {
            let names: Vec<&str> = loaded.slos.iter().map(|s| s.name.as_str()).collect();
            let others: Vec<String> = loaded
                .documents
                .iter()
                .filter(|(kind, _)| **kind != slo::openslo::Kind::Slo)
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            let mut text = format!("{} SLOs valid: {}\n", loaded.slos.len(), names.join(", "));
            if !others.is_empty() {
                text.push_str(&format!("also valid: {}\n", others.join(", ")));
            }
            print(&text)?;
            note(&unevaluated_notes(&loaded))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => print_problems(&problems),
    }
}

/// The specs, or the error listing their problems.
fn load_specs(specs: &[PathBuf], overrides: &[PathBuf]) -> anyhow::Result<Loaded> {
    let options = load::Options {
        overrides,
        ..load::Options::default()
    };
    load::load_with(specs, options).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid specs:\n{}", list.join("\n"))
    })
}

fn timestamp_arg(flag: &str, text: &str) -> anyhow::Result<i64> {
    Ok(text
        .parse::<jiff::Timestamp>()
        .map_err(|e| anyhow::anyhow!("{flag} {text:?}: {e}"))?
        .as_millisecond())
}

fn generate(
    what: Generated,
    specs: &[PathBuf],
    out: Option<&std::path::Path>,
    terraform_dimensions: &[String],
) -> anyhow::Result<ExitCode> {
    let bound = slo::terraform::TerraformDimensions::new(terraform_dimensions.iter().cloned())?;
    let loaded = load_specs(specs, &[])?;
    let mut notes = unevaluated_notes(&loaded);
    let slos = loaded.slos;
    if let Some(slo) = slos
        .iter()
        .find(|s| s.connection != spec::Connection::default())
    {
        notes.push(format!(
            "{} reads CloudWatch in another region or through a role: the generated alarms and dashboard read the Terraform provider's region and account",
            slo.name
        ));
    }
    note(&notes)?;
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
    let (slos, mut notes, input) = args.metrics.open(&[])?;
    let at_ms = match &args.at {
        Some(text) => timestamp_arg("--at", text)?,
        None => jiff::Timestamp::now().as_millisecond(),
    };
    let window = args
        .window
        .as_deref()
        .map(duration::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--window: {e}"))?;
    let options = Options {
        at_ms: run::whole_minute(at_ms),
        window,
        min_events: args.min_events,
    };
    let report = run::report(&slos, &input, &options, &mut notes);
    note(&notes)?;
    let report = report?;
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

fn run_backtest(args: &BacktestArgs) -> anyhow::Result<ExitCode> {
    let (slos, mut notes, input) = args.metrics.open(&args.policies)?;
    let from = args
        .from
        .as_deref()
        .map(|t| timestamp_arg("--from", t))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|t| timestamp_arg("--to", t))
        .transpose()?;
    let backtest = run::backtest(&slos, &input, from, to, &mut notes);
    note(&notes)?;
    let backtest = backtest?;
    if let Some(path) = &args.chart {
        slo::chart::timeline(&backtest, path)?;
    }
    print(&match args.format {
        Format::Table => render::backtest_table(&backtest),
        Format::Json => render::backtest_json(&backtest),
        Format::Markdown => render::backtest_markdown(&backtest),
    })?;
    let pages = backtest.pages();
    match args.fail_on_pages {
        Some(limit) if pages > limit => {
            writeln!(
                std::io::stderr(),
                "slo: the policies would have paged {pages} times, more than --fail-on-pages {limit}"
            )?;
            Ok(ExitCode::from(1))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
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
        Command::Validate { specs, catalogue } => validate(specs, catalogue.as_deref()),
        Command::Catalogue => print(&telemetry::catalogue::to_json()).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => run_report(args),
        Command::Backtest(args) => run_backtest(args),
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
