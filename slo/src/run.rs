//! What the `report` and `backtest` commands do once their arguments are parsed: open the
//! metric source, evaluate, and say what the reader should know (notes for stderr).

use std::path::PathBuf;

use crate::backtest::{self, Backtest};
use crate::cloudwatch::{CloudWatch, Recorder};
use crate::duration::Span;
use crate::report::{self, Options, Report};
use crate::source::{EmfLogs, Source, SourceError};
use crate::spec::{Connection, Slo};

/// Where metric values come from.
#[derive(Debug, Clone)]
pub enum Input {
    /// EMF records in these log files or directories.
    Emf(Vec<PathBuf>),
    /// CloudWatch GetMetricData; region and credentials from the standard AWS settings.
    CloudWatch { endpoint_url: Option<String> },
}

/// Runs `job` against the source `input` names. CloudWatch is asked once for everything:
/// a dry run through a [`Recorder`] lists the requests, which are fetched together first.
pub fn with_source<T>(
    slos: &[Slo],
    input: &Input,
    notes: &mut Vec<String>,
    mut job: impl FnMut(&mut dyn Source) -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    match input {
        Input::Emf(paths) => {
            let mut logs = EmfLogs::read(paths)?;
            if logs.invalid > 0 {
                notes.push(format!(
                    "{} EMF line(s) broke the specification and were skipped (CloudWatch would drop them too)",
                    logs.invalid
                ));
            }
            job(&mut logs)
        }
        Input::CloudWatch { endpoint_url } => {
            let now_ms = jiff::Timestamp::now().as_millisecond();
            let connection = connection(slos)?;
            let mut cloudwatch = CloudWatch::new(endpoint_url.as_deref(), now_ms, &connection)?;
            let mut planned = Recorder::default();
            job(&mut planned)?;
            cloudwatch.prefetch(&planned.requests)?;
            let out = job(&mut cloudwatch)?;
            notes.push(format!("{} GetMetricData call(s)", cloudwatch.calls));
            Ok(out)
        }
    }
}

/// The one connection (region, role, source account) every SLO reads CloudWatch through. SLOs
/// on different connections are reported separately (one `--spec` set each).
fn connection(slos: &[Slo]) -> Result<Connection, SourceError> {
    let Some(first) = slos.first() else {
        return Ok(Connection::default());
    };
    if let Some(other) = slos.iter().find(|s| s.connection != first.connection) {
        return Err(SourceError::Fetch(format!(
            "{} and {} read CloudWatch through different connections (region, role or account): report them separately",
            first.name, other.name
        )));
    }
    Ok(first.connection.clone())
}

/// Rounds an instant up to a whole minute, CloudWatch's finest period, so its datapoints and
/// the evaluated periods line up; rounding up keeps the events of the current minute.
pub fn whole_minute(at_ms: i64) -> i64 {
    at_ms.div_euclid(60_000) * 60_000 + if at_ms % 60_000 == 0 { 0 } else { 60_000 }
}

/// `slo report`: every SLO evaluated at `options.at_ms`.
pub fn report(
    slos: &[Slo],
    input: &Input,
    options: &Options,
    notes: &mut Vec<String>,
) -> Result<Report, SourceError> {
    let report = with_source(slos, input, notes, |source| {
        report::report(slos, source, options)
    })?;
    if let Some(reason) = &report.cold_start_unavailable {
        notes.push(format!("cold-start section unavailable: {reason}"));
    }
    Ok(report)
}

/// How long a backtest replays when neither the arguments nor the source say.
pub const DEFAULT_STRETCH: Span = Span(28 * 86_400);

/// `slo backtest`: every SLO's policies replayed over `[from, to)`, both whole minutes. Without
/// `to`: the end of the logs' last minute, or now; without `from`: the logs' first minute, or
/// [`DEFAULT_STRETCH`] before `to`.
pub fn backtest(
    slos: &[Slo],
    input: &Input,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    notes: &mut Vec<String>,
) -> Result<Backtest, SourceError> {
    // Once, so the dry run and the real one ask for the same stretch.
    let now_ms = jiff::Timestamp::now().as_millisecond();
    with_source(slos, input, notes, |source| {
        let extent = source.extent();
        let to = whole_minute(to_ms.unwrap_or_else(|| extent.map_or(now_ms, |(_, last)| last + 1)));
        let from = from_ms
            .unwrap_or_else(|| extent.map_or(to - DEFAULT_STRETCH.millis(), |(first, _)| first));
        let from = from.div_euclid(60_000) * 60_000;
        if from >= to {
            return Err(SourceError::Fetch(
                "the replayed stretch is empty: --from must be before --to".into(),
            ));
        }
        // From the logs' first record, the first lookbacks see less history than a live
        // alarm would: a bad minute weighs more there.
        let short_history = (from_ms.is_none() && extent.is_some()).then(|| {
            "the replay starts at the logs' first record: lookbacks reaching before it see no traffic there (give --from a lookback later to replay with full history)".to_owned()
        });
        Ok((backtest::run(slos, source, from, to)?, short_history))
    })
    .map(|(backtest, note)| {
        notes.extend(note);
        backtest
    })
}
