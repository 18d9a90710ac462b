//! Evaluating SLOs from a [`Source`]: SLI, budget, burn rates, alert tier, exhaustion and
//! projection per SLO, plus the cold-start section.

use serde::Serialize;
use telemetry::catalogue;

use crate::backtest::{self, Series};
use crate::duration::{HOUR, MINUTE, Span};
use crate::math::{self, Events, LOOKBACKS, Tier};
use crate::source::{Source, SourceError};
use crate::spec::{BudgetingMethod, Measure, Query, RawType, Slo, Stat, Window};

/// What `slo report` shows for one SLO.
#[derive(Debug, Clone, Serialize)]
pub struct SloReport {
    pub name: String,
    pub display_name: String,
    pub target: f64,
    pub window: String,
    pub window_start_ms: i64,
    pub budgeting: BudgetingMethod,
    /// Events (or time slices) over the window.
    pub events: Events,
    pub sli: Option<f64>,
    pub status: Status,
    /// Why there is no data at all, when the source cannot have any (API Gateway's metrics
    /// in local logs, an API id not given).
    pub no_data_reason: Option<String>,
    pub budget: math::Budget,
    pub burn_rates: Vec<BurnRate>,
    /// The alert tier whose rule holds now.
    pub firing: Option<Tier>,
    /// At the 1-hour burn rate: a duration, `never` (no errors) or `exhausted`; `None` without
    /// events.
    pub time_to_exhaustion: Option<String>,
    /// Budget left at the end of the window (calendar), or in steady state a full window from
    /// now (rolling), if the 1-hour burn rate holds.
    pub projected_remaining: Option<f64>,
    /// Budget remaining over the window (time in ms, fraction), for the burn-down chart: the
    /// bad events (or slices) spent so far against the window's whole budget.
    #[serde(skip)]
    pub burn_down: Vec<(i64, f64)>,
    /// A composite SLO's components, each evaluated as an SLO of its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentReport>,
}

/// One component of a composite SLO.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentReport {
    /// Scaled so the components' weights average 1.
    pub weight: f64,
    #[serde(flatten)]
    pub report: SloReport,
}

/// At most this many points per burn-down line.
const BURN_DOWN_POINTS: usize = 400;

/// Budget remaining at the end of each period from `start`, thinned to [`BURN_DOWN_POINTS`].
fn burn_down(periods: &[Events], start_ms: i64, period: Span, budget: f64) -> Vec<(i64, f64)> {
    let window: Events = periods.iter().copied().sum();
    let allowed = window.total * budget;
    if allowed <= 0.0 {
        return Vec::new();
    }
    let step = periods.len().div_ceil(BURN_DOWN_POINTS).max(1);
    let mut spent = 0.0;
    let mut points = vec![(start_ms, 1.0)];
    for (i, events) in periods.iter().enumerate() {
        spent += events.bad();
        if (i + 1) % step == 0 || i + 1 == periods.len() {
            let end = start_ms + i64::try_from(i + 1).unwrap_or(i64::MAX) * period.millis();
            points.push((end, 1.0 - spent / allowed));
        }
    }
    points
}

#[derive(Debug, Clone, Serialize)]
pub struct BurnRate {
    pub lookback: String,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// SLI at or above target.
    Met,
    /// SLI below target.
    Breached,
    /// Fewer events than the minimum: the SLI is shown but not judged.
    TooFewEvents,
    /// No events in the window: the SLI is undefined.
    NoData,
}

/// The cold-start section.
#[derive(Debug, Clone, Serialize)]
pub struct ColdStartReport {
    pub endpoint: String,
    pub cold_starts: f64,
    pub requests: f64,
    pub rate: Option<f64>,
    /// `ColdStartLatency` percentiles (ms).
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// What cold starts are made of: proxy `InitDuration`, model-server `ModelLoadTime`,
    /// SageMaker's `ModelSetupTime` (CloudWatch only), each p50 and p99 in ms.
    pub components: Vec<ColdStartComponent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdStartComponent {
    pub metric: String,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// An edge SLO beside its proxy view (annotation `proxyView`), over the same window.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeComparison {
    pub edge: String,
    pub proxy: String,
    pub edge_sli: Option<f64>,
    pub proxy_sli: Option<f64>,
    /// Edge SLI − proxy SLI (negative: users saw worse than the proxy did).
    pub difference: Option<f64>,
    pub edge_events: Events,
    pub proxy_events: Events,
    /// Availability: the proxy's 503 busy answers (`Throttles`), 5xx at the edge but not bad
    /// for the proxy SLO.
    pub proxy_busy: Option<f64>,
    /// Availability: requests that failed outside the proxy = bad at the edge − the proxy's
    /// own 5xx answers (its bad events + its 503 busy answers).
    pub failures_outside_proxy: Option<f64>,
    /// Why there is nothing to compare (the edge SLO has no data).
    pub no_data_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub at_ms: i64,
    pub slos: Vec<SloReport>,
    /// Each edge SLO against its proxy view.
    pub edge: Vec<EdgeComparison>,
    pub cold_start: Option<ColdStartReport>,
    /// Why the cold-start section is missing when its metrics could not be read (it does not
    /// fail the report: the SLOs are the report).
    pub cold_start_unavailable: Option<String>,
}

/// Settings of one evaluation.
#[derive(Debug, Clone)]
pub struct Options {
    /// End of the evaluated windows (epoch ms).
    pub at_ms: i64,
    /// Replaces every SLO's window length (rolling).
    pub window: Option<Span>,
    /// Below this many events (or slices) the SLI is not judged.
    pub min_events: f64,
}

/// The window `[start, end)` an SLO is evaluated over, ending at `at`, and the time left in
/// a calendar window.
fn window_bounds(slo: &Slo, options: &Options) -> (i64, i64, Option<Span>, Span) {
    let window = options
        .window
        .map_or_else(|| slo.window.clone(), Window::Rolling);
    match window {
        Window::Rolling(length) => (options.at_ms - length.millis(), options.at_ms, None, length),
        Window::Calendar { period, start } => {
            let (start, end) = Window::calendar_bounds(period, &start, options.at_ms);
            let length = Span((end - start) / 1_000);
            // Before the first window starts the whole first window is ahead.
            let left = Span(((end - options.at_ms) / 1_000).clamp(0, length.seconds()));
            (start.min(options.at_ms), options.at_ms, Some(left), length)
        }
    }
}

/// Good and total per period, from the source. With Timeslices a slice without events failed
/// nothing and counts as good, once the periods from `judged_from` on have any events at all
/// (a window without any stays undefined, never 100 %).
fn events_per_period(
    slo: &Slo,
    source: &mut dyn Source,
    (start, end): (i64, i64),
    period: Span,
    judged_from: usize,
) -> Result<Vec<Events>, SourceError> {
    let mut events = measured_events(slo, source, (start, end), period, judged_from)?;
    if slo.budgeting == BudgetingMethod::Timeslices
        && !matches!(slo.indicator, Measure::Composite(_))
        && events
            .get(judged_from..)
            .is_some_and(|slices| slices.iter().any(|s| s.total > 0.0))
    {
        for slice in events.iter_mut().filter(|s| s.total == 0.0) {
            *slice = Events {
                good: 1.0,
                total: 1.0,
            };
        }
    }
    Ok(events)
}

/// [`events_per_period`] before empty time slices are judged.
fn measured_events(
    slo: &Slo,
    source: &mut dyn Source,
    (start, end): (i64, i64),
    period: Span,
    judged_from: usize,
) -> Result<Vec<Events>, SourceError> {
    match (&slo.indicator, slo.budgeting) {
        // Each component's slices are judged on their own, then combined.
        (Measure::Composite(_), _) => {
            let mut combined: Vec<Vec<(Events, f64, f64)>> = Vec::new();
            for (component, weight) in slo.components() {
                let events =
                    events_per_period(&component, source, (start, end), period, judged_from)?;
                combined.resize_with(events.len().max(combined.len()), Vec::new);
                for (slot, events) in combined.iter_mut().zip(events) {
                    slot.push((events, weight, component.budget()));
                }
            }
            Ok(combined
                .into_iter()
                .map(|parts| math::composite(parts, slo.budget()))
                .collect())
        }
        (Measure::Ratio { good, bad, total }, BudgetingMethod::Occurrences) => {
            let counted = good.as_ref().or(bad.as_ref()).unwrap_or(total);
            let values = source.fetch(&[counted.clone(), total.clone()], start, end, period)?;
            Ok(values[0]
                .iter()
                .zip(&values[1])
                .map(|(counted, total)| {
                    let total = total.unwrap_or(0.0);
                    let counted = counted.unwrap_or(0.0);
                    let good = if good.is_some() {
                        counted
                    } else {
                        total - counted
                    };
                    Events { good, total }
                })
                .collect())
        }
        (Measure::Threshold { metric, value, .. }, BudgetingMethod::Occurrences) => {
            let queries = [
                metric.with_stat(Stat::CountAtMost(*value)),
                metric.with_stat(Stat::SampleCount),
            ];
            let values = source.fetch(&queries, start, end, period)?;
            Ok(values[0]
                .iter()
                .zip(&values[1])
                .map(|(good, total)| Events {
                    good: good.unwrap_or(0.0),
                    total: total.unwrap_or(0.0),
                })
                .collect())
        }
        (Measure::Threshold { metric, op, value }, BudgetingMethod::Timeslices) => {
            let values = source.fetch(std::slice::from_ref(metric), start, end, period)?;
            Ok(values[0]
                .iter()
                .map(|slice| match slice {
                    None => Events::default(),
                    Some(v) => Events {
                        good: if op.holds(*v, *value) { 1.0 } else { 0.0 },
                        total: 1.0,
                    },
                })
                .collect())
        }
        (_, BudgetingMethod::Timeslices) => {
            let slice_target = slo.time_slice.and_then(|(_, t)| t).unwrap_or(1.0);
            Ok(slice_ratios(slo, source, start, end, period)?
                .into_iter()
                .map(|ratio| match ratio {
                    None => Events::default(),
                    Some(ratio) => Events {
                        good: if ratio >= slice_target { 1.0 } else { 0.0 },
                        total: 1.0,
                    },
                })
                .collect())
        }
        // Each slice with data weighs one event, its ratio the good part of it: sums over
        // slices are then sums of ratios, and good / total their mean.
        (_, BudgetingMethod::RatioTimeslices | BudgetingMethod::Occurrences) => {
            Ok(slice_ratios(slo, source, start, end, period)?
                .into_iter()
                .map(|ratio| match ratio {
                    None => Events::default(),
                    Some(ratio) => Events {
                        good: ratio.clamp(0.0, 1.0),
                        total: 1.0,
                    },
                })
                .collect())
        }
    }
}

/// The good ratio of each period, `None` without data.
fn slice_ratios(
    slo: &Slo,
    source: &mut dyn Source,
    start: i64,
    end: i64,
    period: Span,
) -> Result<Vec<Option<f64>>, SourceError> {
    match &slo.indicator {
        Measure::Raw { metric, kind } => {
            let values = source.fetch(&[metric.with_stat(Stat::Average)], start, end, period)?;
            Ok(values[0]
                .iter()
                .map(|v| {
                    v.map(|v| match kind {
                        RawType::Success => v,
                        RawType::Failure => 1.0 - v,
                    })
                })
                .collect())
        }
        _ => Ok(
            events_per_period(&slo.as_occurrences(), source, (start, end), period, 0)?
                .into_iter()
                .map(Events::ratio)
                .collect(),
        ),
    }
}

impl Slo {
    fn as_occurrences(&self) -> Slo {
        Slo {
            budgeting: BudgetingMethod::Occurrences,
            ..self.clone()
        }
    }
}

/// The period the window is read in: the time slice (Timeslices, RatioTimeslices) or one
/// minute.
pub(crate) fn period(slo: &Slo) -> Span {
    match (slo.budgeting, slo.time_slice) {
        (BudgetingMethod::Timeslices | BudgetingMethod::RatioTimeslices, Some((slice, _))) => slice,
        _ => MINUTE,
    }
}

/// Why `source` has no data for `slo` at all, if it has none: the source cannot have the
/// metric, or a dimension only Terraform knows was not given.
fn no_data_reason(slo: &Slo, source: &dyn Source) -> Option<String> {
    let queries = slo.indicator.queries();
    queries
        .iter()
        .find_map(|query| source.unavailable(query))
        .or_else(|| {
            queries.iter().find_map(|query| {
                query.unassigned().map(|name| {
                    format!(
                        "{name} is assigned by Terraform at deploy: give it with --dimension {name}=VALUE"
                    )
                })
            })
        })
}

/// The SLO's events per period over `[start, end)` (whole periods from `start`), or why there
/// are none; time slices are judged from `judged_from` on (see [`events_per_period`]).
pub(crate) fn series(
    slo: &Slo,
    source: &mut dyn Source,
    (start, end): (i64, i64),
    period: Span,
    judged_from: usize,
) -> Result<Result<Series, String>, SourceError> {
    if let Some(reason) = no_data_reason(slo, source) {
        return Ok(Err(reason));
    }
    let events = events_per_period(slo, source, (start, end), period, judged_from)?;
    Ok(Ok(Series {
        start_ms: start,
        period,
        events,
    }))
}

/// Evaluates one SLO.
pub fn evaluate(
    slo: &Slo,
    source: &mut dyn Source,
    options: &Options,
) -> Result<SloReport, SourceError> {
    let (start, end, time_left, length) = window_bounds(slo, options);
    let window = match &slo.window {
        _ if options.window.is_some() => format!("{length} rolling (override)"),
        Window::Rolling(_) => format!("{length} rolling"),
        Window::Calendar { period, start } => format!(
            "{period} calendar ({}, {length} this time)",
            start.time_zone().iana_name().unwrap_or("fixed offset")
        ),
    };
    let period = period(slo);
    let alert_window = options.window.unwrap_or(slo.window.length());
    // Burn rates look back up to 3 days (the policies maybe further), also past the start of
    // a calendar window.
    let longest = LOOKBACKS
        .iter()
        .copied()
        .chain(
            backtest::applicable(slo, alert_window)
                .map(|p| Span(p.condition.lookback.seconds() + p.condition.alert_after.seconds())),
        )
        .map(Span::millis)
        .max()
        .unwrap_or(0);
    let fetch_start = start.min(end - longest);
    // Whole periods, ending at `end`.
    let span = end - fetch_start;
    let fetch_start = end - (span + period.millis() - 1) / period.millis() * period.millis();
    let window_skip = usize::try_from((start - fetch_start).max(0) / period.millis()).unwrap_or(0);
    let series = match series(slo, source, (fetch_start, end), period, window_skip)? {
        Ok(series) => series,
        Err(reason) => {
            // Never 100 % or 0 %: nothing was measured, so nothing is judged.
            return Ok(SloReport {
                name: slo.name.clone(),
                display_name: slo.display_name.clone(),
                target: slo.target,
                window,
                window_start_ms: start,
                budgeting: slo.budgeting,
                events: Events::default(),
                sli: None,
                status: Status::NoData,
                no_data_reason: Some(reason),
                budget: math::budget(Events::default(), slo.target),
                burn_rates: LOOKBACKS
                    .iter()
                    .map(|lookback| BurnRate {
                        lookback: lookback.to_string(),
                        rate: None,
                    })
                    .collect(),
                firing: None,
                time_to_exhaustion: None,
                projected_remaining: None,
                burn_down: Vec::new(),
                components: Vec::new(),
            });
        }
    };
    let periods = &series.events;
    let sum_since = |since: i64| -> Events {
        let skip = usize::try_from((since - fetch_start).max(0) / period.millis()).unwrap_or(0);
        periods.iter().skip(skip).copied().sum()
    };
    let events = sum_since(start);
    let in_window = periods.get(window_skip..).unwrap_or_default();
    let burn_down = burn_down(
        in_window,
        fetch_start + i64::try_from(window_skip).unwrap_or(0) * period.millis(),
        period,
        slo.budget(),
    );
    let budget = math::budget(events, slo.target);
    let budget_fraction = slo.budget();
    let burn = |lookback: Span| sum_since(end - lookback.millis()).burn_rate(budget_fraction);
    let burn_rates = LOOKBACKS
        .iter()
        .map(|lookback| BurnRate {
            lookback: lookback.to_string(),
            rate: burn(*lookback),
        })
        .collect();
    // The policies as the alarms and the backtest evaluate them, at the last minute; the
    // thresholds scale to the nominal window length (a calendar month counts 30 days
    // whatever month it is).
    let firing = backtest::firing_at_end(slo, &series, alert_window);
    let current = burn(HOUR);
    // A rolling window has always elapsed whole and is projected a whole window ahead; a
    // calendar window has elapsed up to now and is projected to its end.
    let (elapsed, ahead) = match time_left {
        Some(left) => (Span(length.seconds() - left.seconds()), left),
        None => (length, length),
    };
    let time_to_exhaustion = match (budget.remaining, budget.consumed, current) {
        (Some(remaining), _, _) if remaining <= 0.0 => Some("exhausted".to_owned()),
        (_, Some(consumed), Some(rate)) => Some(
            math::time_to_exhaustion(consumed, rate, elapsed, length)
                .map_or_else(|| "never".to_owned(), |s| s.to_string()),
        ),
        _ => None,
    };
    let projected_remaining = match (budget.consumed, current) {
        (Some(consumed), Some(rate)) => {
            Some(math::projected_remaining(consumed, rate, ahead, length))
        }
        _ => None,
    };
    // A composite's bad events can outweigh its events (see crate::math).
    let sli = events.ratio().map(|sli| sli.max(0.0));
    let status = match sli {
        None => Status::NoData,
        Some(_) if events.total < options.min_events => Status::TooFewEvents,
        Some(sli) if sli < slo.target => Status::Breached,
        Some(_) => Status::Met,
    };
    Ok(SloReport {
        name: slo.name.clone(),
        display_name: slo.display_name.clone(),
        target: slo.target,
        window,
        window_start_ms: start,
        budgeting: slo.budgeting,
        events,
        sli,
        status,
        no_data_reason: None,
        budget,
        burn_rates,
        firing,
        time_to_exhaustion,
        projected_remaining,
        burn_down,
        components: slo
            .components()
            .iter()
            .map(|(component, weight)| {
                evaluate(component, source, options).map(|report| ComponentReport {
                    weight: *weight,
                    report,
                })
            })
            .collect::<Result<_, _>>()?,
    })
}

/// The proxy endpoint the specs measure (first `Endpoint` dimension found).
fn endpoint_of(slos: &[Slo]) -> Option<String> {
    dimension_of(slos, catalogue::DIM_ENDPOINT)
}

/// The first value of dimension `name` in the specs' queries.
pub(crate) fn dimension_of(slos: &[Slo], name: &str) -> Option<String> {
    slos.iter().find_map(|slo| {
        slo.indicator
            .queries()
            .into_iter()
            .flat_map(Query::leaves)
            .find_map(|q| {
                q.dimensions
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
    })
}

fn proxy_query(namespace: &str, endpoint: &str, metric: &catalogue::Metric, stat: Stat) -> Query {
    let mut dimensions = vec![
        (
            catalogue::DIM_SERVICE.to_owned(),
            metric.service.name().to_owned(),
        ),
        (catalogue::DIM_ENDPOINT.to_owned(), endpoint.to_owned()),
    ];
    dimensions.sort();
    Query {
        namespace: namespace.to_owned(),
        metric: metric.name.to_owned(),
        dimensions,
        stat,
        math: None,
    }
}

/// Cold starts over the longest SLO window, at the proxy endpoint the specs name.
pub fn cold_start(
    slos: &[Slo],
    source: &mut dyn Source,
    options: &Options,
    namespace: &str,
) -> Result<Option<ColdStartReport>, SourceError> {
    let Some(endpoint) = endpoint_of(slos) else {
        return Ok(None);
    };
    let length = slos
        .iter()
        .map(|slo| options.window.unwrap_or(slo.window.length()))
        .max()
        .unwrap_or(Span(28 * 86_400));
    let start = options.at_ms - length.millis();
    let q = |metric, stat| proxy_query(namespace, &endpoint, metric, stat);
    let queries = [
        q(&catalogue::COLD_START, Stat::Sum),
        q(&catalogue::REQUESTS, Stat::Sum),
        q(&catalogue::COLD_START_LATENCY, Stat::Percentile(50.0)),
        q(&catalogue::COLD_START_LATENCY, Stat::Percentile(90.0)),
        q(&catalogue::COLD_START_LATENCY, Stat::Percentile(99.0)),
    ];
    // One period spanning the window: percentiles over all values, not averaged per period.
    let values = source.fetch(&queries, start, options.at_ms, length)?;
    let first = |i: usize| values[i].first().copied().flatten();
    let cold_starts = first(0).unwrap_or(0.0);
    let requests = first(1).unwrap_or(0.0);
    let mut components = vec![component(
        source,
        q(&catalogue::INIT_DURATION, Stat::Sum),
        start,
        options.at_ms,
        length,
        1.0,
    )];
    if let Some(model) = dimension_of(slos, catalogue::DIM_MODEL) {
        let mut dimensions = vec![
            (catalogue::DIM_MODEL.to_owned(), model),
            (
                catalogue::DIM_SERVICE.to_owned(),
                catalogue::Service::ModelServer.name().to_owned(),
            ),
        ];
        dimensions.sort();
        let load = Query {
            namespace: namespace.to_owned(),
            metric: catalogue::MODEL_LOAD_TIME.name.to_owned(),
            dimensions,
            stat: Stat::Sum,
            math: None,
        };
        components.push(component(source, load, start, options.at_ms, length, 1.0));
    }
    // The proxy's `Endpoint` dimension is the SageMaker endpoint's name.
    let setup = Query {
        namespace: catalogue::SAGEMAKER_MODEL_SETUP_TIME.namespace.to_owned(),
        metric: catalogue::SAGEMAKER_MODEL_SETUP_TIME.name.to_owned(),
        dimensions: vec![
            (catalogue::DIM_ENDPOINT_NAME.to_owned(), endpoint.clone()),
            (
                catalogue::DIM_VARIANT_NAME.to_owned(),
                catalogue::SAGEMAKER_VARIANT.to_owned(),
            ),
        ],
        stat: Stat::Sum,
        math: None,
    };
    // SageMaker publishes microseconds.
    components.push(component(source, setup, start, options.at_ms, length, 1e-3));
    Ok(Some(ColdStartReport {
        endpoint,
        cold_starts,
        requests,
        rate: (requests > 0.0).then(|| cold_starts / requests),
        p50_ms: first(2),
        p90_ms: first(3),
        p99_ms: first(4),
        components,
    }))
}

/// p50 and p99 of `metric` over one period spanning the window, times `to_ms`; a metric that
/// cannot be read (e.g. SageMaker's, from local logs) has no figures rather than failing.
fn component(
    source: &mut dyn Source,
    metric: Query,
    start: i64,
    end: i64,
    length: Span,
    to_ms: f64,
) -> ColdStartComponent {
    let queries = [
        metric.with_stat(Stat::Percentile(50.0)),
        metric.with_stat(Stat::Percentile(99.0)),
    ];
    let values = source.fetch(&queries, start, end, length).ok();
    let first = |i: usize| {
        values
            .as_ref()
            .and_then(|v| v[i].first().copied().flatten())
            .map(|v| v * to_ms)
    };
    ColdStartComponent {
        metric: format!("{}/{}", metric.namespace, metric.metric),
        p50_ms: first(0),
        p99_ms: first(1),
    }
}

/// Each edge SLO of `slos` against its proxy view, from their reports (same order as `slos`).
pub fn edge_comparisons(
    slos: &[Slo],
    reports: &[SloReport],
    source: &mut dyn Source,
    at_ms: i64,
) -> Result<Vec<EdgeComparison>, SourceError> {
    let mut comparisons = Vec::new();
    for (slo, edge) in slos.iter().zip(reports) {
        let Some(view) = &slo.proxy_view else {
            continue;
        };
        let Some((proxy_slo, proxy)) = slos.iter().zip(reports).find(|(s, _)| s.name == *view)
        else {
            continue;
        };
        // A 503 busy is 5xx at the edge but not bad for the proxy: count the proxy's busy
        // answers (its Throttles, beside the Requests its SLO counts) to subtract them too.
        let busy_query = match &proxy_slo.indicator {
            Measure::Ratio { total, .. } if total.metric == catalogue::REQUESTS.name => {
                Some(Query {
                    metric: catalogue::THROTTLES.name.to_owned(),
                    stat: Stat::Sum,
                    ..total.clone()
                })
            }
            _ => None,
        };
        let (proxy_busy, failures_outside_proxy) = match busy_query {
            Some(query) if edge.no_data_reason.is_none() => {
                let start = edge.window_start_ms;
                // One period spanning the window: the same events the SLIs summed.
                let length = Span(((at_ms - start) / 1_000).max(60));
                let values = source.fetch(&[query], start, at_ms, length)?;
                let busy: f64 = values[0].iter().flatten().sum();
                let outside = edge.events.bad() - proxy.events.bad() - busy;
                (Some(busy), Some(outside))
            }
            _ => (None, None),
        };
        comparisons.push(EdgeComparison {
            edge: edge.name.clone(),
            proxy: proxy.name.clone(),
            edge_sli: edge.sli,
            proxy_sli: proxy.sli,
            difference: edge.sli.zip(proxy.sli).map(|(e, p)| e - p),
            edge_events: edge.events,
            proxy_events: proxy.events,
            proxy_busy,
            failures_outside_proxy,
            no_data_reason: edge.no_data_reason.clone(),
        });
    }
    Ok(comparisons)
}

/// Evaluates every SLO and the cold-start section.
pub fn report(
    slos: &[Slo],
    source: &mut dyn Source,
    options: &Options,
) -> Result<Report, SourceError> {
    let mut reports = Vec::with_capacity(slos.len());
    for slo in slos {
        reports.push(evaluate(slo, source, options)?);
    }
    // The services' namespace, not AWS's (the edge SLOs read API Gateway's).
    let namespace = slos
        .iter()
        .filter_map(|slo| slo.indicator.queries().last().map(|q| q.namespace.clone()))
        .find(|namespace| !namespace.starts_with("AWS/"))
        .unwrap_or_else(|| catalogue::DEFAULT_NAMESPACE.to_owned());
    let (cold_start, cold_start_unavailable) = match cold_start(slos, source, options, &namespace) {
        Ok(section) => (section, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let edge = edge_comparisons(slos, &reports, source, options.at_ms)?;
    Ok(Report {
        at_ms: options.at_ms,
        cold_start,
        cold_start_unavailable,
        slos: reports,
        edge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::tests::zoned;
    use crate::spec::CalendarPeriod;

    fn monthly(zone: &str) -> Slo {
        let query = Query {
            namespace: "MlInference".into(),
            metric: "Requests".into(),
            dimensions: Vec::new(),
            stat: Stat::Sum,
            math: None,
        };
        Slo {
            name: "monthly".into(),
            display_name: "Monthly".into(),
            rationale: None,
            file: "monthly.yaml".into(),
            indicator: Measure::Ratio {
                good: Some(query.clone()),
                bad: None,
                total: query,
            },
            connection: crate::spec::Connection::default(),
            policies: Vec::new(),
            window: Window::Calendar {
                period: CalendarPeriod::parse("1M").unwrap(),
                start: zoned("2026-01-01 00:00:00", zone),
            },
            budgeting: BudgetingMethod::Occurrences,
            target: 0.99,
            time_slice: None,
            proxy_view: None,
        }
    }

    fn at(text: &str, zone: &str) -> Options {
        Options {
            at_ms: zoned(text, zone).timestamp().as_millisecond(),
            window: None,
            min_events: 10.0,
        }
    }

    #[test]
    fn a_calendar_month_is_evaluated_from_its_first_day_with_the_rest_of_it_ahead() {
        let paris = "Europe/Paris";
        let slo = monthly(paris);
        let options = at("2026-03-11 00:00:00", paris);
        let (start, end, left, length) = window_bounds(&slo, &options);
        assert_eq!(
            start,
            zoned("2026-03-01 00:00:00", paris)
                .timestamp()
                .as_millisecond()
        );
        assert_eq!(end, options.at_ms);
        // March 2026 in Paris is 743 hours long (DST on the 29th); 10 days of it are gone.
        assert_eq!(length, Span(743 * 3_600));
        assert_eq!(left, Some(Span(743 * 3_600 - 10 * 86_400)));
    }

    #[test]
    fn before_a_calendar_window_starts_all_of_it_is_ahead_and_nothing_is_evaluated() {
        let slo = monthly("UTC");
        let options = at("2025-12-20 00:00:00", "UTC");
        let (start, end, left, length) = window_bounds(&slo, &options);
        assert_eq!((start, end), (options.at_ms, options.at_ms));
        assert_eq!(left, Some(length));
        assert_eq!(length, Span(31 * 86_400));
    }

    #[test]
    fn a_window_override_makes_the_window_rolling() {
        let slo = monthly("UTC");
        let options = Options {
            window: Some(Span(86_400)),
            ..at("2026-03-11 00:00:00", "UTC")
        };
        let (start, end, left, length) = window_bounds(&slo, &options);
        assert_eq!(
            (end - start, left, length),
            (86_400_000, None, Span(86_400))
        );
    }
}
