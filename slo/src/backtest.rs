//! `slo backtest`: replays a stretch of history (EMF logs, or CloudWatch over a time range)
//! through every SLO's alert policies, minute by minute (slice by slice with Timeslices), as
//! the generated alarms would evaluate it.
//!
//! - A **condition** holds at the end of a period when [`crate::policy`] says so for the burn
//!   rates over its lookback and short window, ending there (history before the replayed stretch
//!   counts, as it would for a live alarm); it **fires** once it has held at every period of the
//!   last `alertAfter`.
//! - An SLO's **alert** of a severity fires while any of its conditions of that severity fires;
//!   a ticket stays silent while the page fires. Each start of an alert is one page or ticket.
//! - A **flap** is a condition firing again less than its short window after it resolved.
//! - With Timeslices the alarms of a lookback over a day of sub-hour slices see only its last
//!   day (CloudWatch's limit, in their descriptions); the backtest replays the whole lookback,
//!   as the report does.
//! - An **incident** is a stretch where bad events outrun what the budget allows: the excess
//!   S = max(0, S + bad − (1 − target) × total), summed period by period, rises from 0 at its
//!   start and peaks at its end; it counts when the peak reaches 1 % of the window's budget
//!   (noise just under the target never gets there). Its **time to page** runs from its start to
//!   the first page starting before S is back to 0, and the **budget spent before the page** is
//!   what the incident's bad events spent until then. A window's budget is its share of the
//!   stretch's events times (1 − target).

use serde::Serialize;

use crate::duration::{HOUR, Span};
use crate::math::Events;
use crate::policy::{Condition, Policy, Severity};
use crate::report;
use crate::source::{Source, SourceError};
use crate::spec::{BudgetingMethod, Slo};

/// An incident spends at least this share of the window's budget.
pub const INCIDENT_MIN_BUDGET: f64 = 0.01;

/// Good and total events per period, the first period starting at `start_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub start_ms: i64,
    pub period: Span,
    pub events: Vec<Events>,
}

impl Series {
    /// End (epoch ms) of period `i`: the instant it is evaluated at.
    pub fn end_of(&self, i: usize) -> i64 {
        self.start_ms + (i64::try_from(i).unwrap_or(i64::MAX) + 1) * self.period.millis()
    }

    fn prefix(&self) -> Vec<Events> {
        let mut sums = Vec::with_capacity(self.events.len() + 1);
        sums.push(Events::default());
        for e in &self.events {
            let last = *sums.last().unwrap_or(&Events::default());
            sums.push(last + *e);
        }
        sums
    }

    fn periods_in(&self, span: Span) -> usize {
        usize::try_from((span.seconds() + self.period.seconds() - 1) / self.period.seconds())
            .unwrap_or(usize::MAX)
            .max(1)
    }
}

/// Events over the `span` ending with period `i` (clipped at the start of the series).
fn trailing(prefix: &[Events], i: usize, periods: usize) -> Events {
    let end = i + 1;
    let start = end.saturating_sub(periods);
    Events {
        good: prefix[end].good - prefix[start].good,
        total: prefix[end].total - prefix[start].total,
    }
}

/// Whether `condition` fires at the end of each period of `series`, for an SLO over `window`
/// with `budget` (1 − target). With time slices (Timeslices, RatioTimeslices) every slice is
/// judged on its own, so the minimum number of events does not apply (nor in the alarms).
pub fn fires(
    series: &Series,
    condition: &Condition,
    window: Span,
    budget: f64,
    timeslices: bool,
) -> Vec<bool> {
    let prefix = series.prefix();
    let long = series.periods_in(condition.lookback);
    let short = series.periods_in(condition.short);
    let held: Vec<bool> = (0..series.events.len())
        .map(|i| {
            let over_long = trailing(&prefix, i, long);
            if !timeslices && over_long.total < condition.min_events {
                return false;
            }
            match (
                over_long.burn_rate(budget),
                trailing(&prefix, i, short).burn_rate(budget),
            ) {
                (Some(l), Some(s)) => condition.holds(window, l, s),
                _ => false,
            }
        })
        .collect();
    // Held at every evaluation of the last alertAfter.
    let (after, period) = (condition.alert_after.seconds(), series.period.seconds());
    let after = usize::try_from((after + period - 1) / period).unwrap_or(usize::MAX);
    let mut run = 0usize;
    held.iter()
        .map(|&h| {
            run = if h { run + 1 } else { 0 };
            run > after
        })
        .collect()
}

/// The policies of `slo` that apply to its window: a lookback longer than the window does not.
pub fn applicable(slo: &Slo, window: Span) -> impl Iterator<Item = &Policy> {
    slo.policies
        .iter()
        .filter(move |p| p.condition.lookback <= window)
}

/// Each severity's alert state per period: any of its conditions fires; a ticket is silent
/// while the page fires.
pub fn alerts(per_policy: &[(&Policy, Vec<bool>)], periods: usize) -> [(Severity, Vec<bool>); 2] {
    let state = |severity: Severity| -> Vec<bool> {
        (0..periods)
            .map(|i| {
                per_policy
                    .iter()
                    .any(|(p, fired)| p.condition.severity == severity && fired[i])
            })
            .collect()
    };
    let page = state(Severity::Page);
    let ticket: Vec<bool> = state(Severity::Ticket)
        .into_iter()
        .zip(&page)
        .map(|(t, p)| t && !p)
        .collect();
    [(Severity::Page, page), (Severity::Ticket, ticket)]
}

/// The highest severity firing at the last period of `series`.
pub fn firing_at_end(slo: &Slo, series: &Series, window: Span) -> Option<Severity> {
    let timeslices = slo.budgeting != BudgetingMethod::Occurrences;
    let per_policy: Vec<(&Policy, Vec<bool>)> = applicable(slo, window)
        .map(|p| {
            (
                p,
                fires(series, &p.condition, window, slo.budget(), timeslices),
            )
        })
        .collect();
    let last = series.events.len().checked_sub(1)?;
    alerts(&per_policy, series.events.len())
        .into_iter()
        .filter(|(_, state)| state[last])
        .map(|(severity, _)| severity)
        .max()
}

/// A stretch during which something fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firing {
    pub start_ms: i64,
    /// When it resolved; `None` while still firing at the end of the replay.
    pub end_ms: Option<i64>,
}

/// Runs of `true` in `state` from period `from` on, as firings.
fn firings(series: &Series, state: &[bool], from: usize) -> Vec<Firing> {
    let mut out = Vec::new();
    let mut open: Option<i64> = None;
    for (i, &on) in state.iter().enumerate().skip(from) {
        match (on, open) {
            (true, None) => open = Some(series.end_of(i)),
            (false, Some(start)) => {
                out.push(Firing {
                    start_ms: start,
                    end_ms: Some(series.end_of(i)),
                });
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        out.push(Firing {
            start_ms: start,
            end_ms: None,
        });
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct ConditionReplay {
    pub policy: String,
    pub severity: Severity,
    pub lookback: String,
    pub short_window: String,
    pub threshold: f64,
    pub firings: Vec<Firing>,
    /// Times it fired again within its short window of resolving.
    pub flaps: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Share of the window's budget the incident spent.
    pub budget_spent: f64,
    pub first_page_ms: Option<i64>,
    pub minutes_to_page: Option<f64>,
    pub budget_spent_before_page: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SloReplay {
    pub name: String,
    pub display_name: String,
    pub target: f64,
    pub window: String,
    pub events: Events,
    pub conditions: Vec<ConditionReplay>,
    pub pages: Vec<Firing>,
    pub tickets: Vec<Firing>,
    pub pages_per_week: f64,
    pub tickets_per_week: f64,
    pub incidents: Vec<Incident>,
    /// Policies whose condition never fired.
    pub never_fired: Vec<String>,
    /// Policies whose condition flapped.
    pub flapping: Vec<String>,
    /// Why the SLO could not be replayed (no data from this source).
    pub no_data_reason: Option<String>,
    /// Trailing-hour burn rate per period (for the chart): (epoch ms, rate).
    #[serde(skip)]
    pub burn: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    pub from_ms: i64,
    pub to_ms: i64,
    pub slos: Vec<SloReplay>,
}

impl Backtest {
    pub fn pages(&self) -> usize {
        self.slos.iter().map(|s| s.pages.len()).sum()
    }
}

/// Replays `series` (which may start before `from_ms`, for the lookbacks) for `slo`.
pub fn replay(slo: &Slo, series: &Series, from_ms: i64, window: Span) -> SloReplay {
    let budget = slo.budget();
    let timeslices = slo.budgeting != BudgetingMethod::Occurrences;
    let from = usize::try_from((from_ms - series.start_ms).max(0) / series.period.millis())
        .unwrap_or(0)
        .min(series.events.len());
    let per_policy: Vec<(&Policy, Vec<bool>)> = applicable(slo, window)
        .map(|p| (p, fires(series, &p.condition, window, budget, timeslices)))
        .collect();
    let conditions: Vec<ConditionReplay> = per_policy
        .iter()
        .map(|(policy, fired)| {
            let list = firings(series, fired, from);
            let c = &policy.condition;
            let flaps = list
                .windows(2)
                .filter(|w| {
                    w[0].end_ms
                        .is_some_and(|end| w[1].start_ms - end < c.short.millis())
                })
                .count();
            ConditionReplay {
                policy: policy.name.clone(),
                severity: c.severity,
                lookback: c.lookback.to_string(),
                short_window: c.short.to_string(),
                threshold: crate::alarms::tidy(c.threshold_for(window)),
                firings: list,
                flaps,
            }
        })
        .collect();
    let [(_, page), (_, ticket)] = alerts(&per_policy, series.events.len());
    let pages = firings(series, &page, from);
    let tickets = firings(series, &ticket, from);
    let replayed = &series.events[from..];
    let events: Events = replayed.iter().copied().sum();
    #[allow(clippy::cast_precision_loss)]
    let replayed_span = Span(replayed.len() as i64 * series.period.seconds());
    let weeks = replayed_span.ratio(Span(7 * 86_400)).max(f64::MIN_POSITIVE);
    #[allow(clippy::cast_precision_loss)]
    let per_week = |n: usize| n as f64 / weeks;
    // The window's budget in bad events, at the stretch's traffic.
    let window_budget = events.total * window.ratio(replayed_span.max(Span(1))) * budget;
    let prefix = series.prefix();
    let hour = series.periods_in(HOUR);
    let burn: Vec<(i64, f64)> = (from..series.events.len())
        .map(|i| {
            let rate = trailing(&prefix, i, hour).burn_rate(budget).unwrap_or(0.0);
            (series.end_of(i), rate)
        })
        .collect();
    let incidents = incidents(series, from, budget, window_budget, &pages);
    let never_fired = conditions
        .iter()
        .filter(|c| c.firings.is_empty())
        .map(|c| c.policy.clone())
        .collect();
    let flapping = conditions
        .iter()
        .filter(|c| c.flaps > 0)
        .map(|c| c.policy.clone())
        .collect();
    SloReplay {
        name: slo.name.clone(),
        display_name: slo.display_name.clone(),
        target: slo.target,
        window: window.to_string(),
        events,
        conditions,
        pages_per_week: per_week(pages.len()),
        tickets_per_week: per_week(tickets.len()),
        pages,
        tickets,
        incidents,
        never_fired,
        flapping,
        no_data_reason: None,
        burn,
    }
}

/// The incidents of `series` from period `from` on (see the module docs): excursions of the
/// bad events above what the budget allows, S = max(0, S + bad − budget × total) per period,
/// from the first period that lifts S above 0 to the one where S peaks; kept when the peak
/// reaches [`INCIDENT_MIN_BUDGET`] of `window_budget`. A page belongs to the incident when it
/// starts before S is back to 0.
fn incidents(
    series: &Series,
    from: usize,
    budget: f64,
    window_budget: f64,
    pages: &[Firing],
) -> Vec<Incident> {
    let period_ms = series.period.millis();
    let start_of = |i: usize| series.start_ms + i64::try_from(i).unwrap_or(0) * period_ms;
    let mut out = Vec::new();
    let mut excess = 0.0_f64;
    // (start, peak period, peak excess) of the open excursion.
    let mut open: Option<(usize, usize, f64)> = None;
    let close = |open: (usize, usize, f64), back_to_zero: usize, out: &mut Vec<Incident>| {
        let (start, peak, height) = open;
        if window_budget <= 0.0 || height < INCIDENT_MIN_BUDGET * window_budget {
            return;
        }
        let spent = |until: usize| -> f64 {
            series.events[start..until]
                .iter()
                .map(|e| e.bad())
                .sum::<f64>()
                / window_budget
        };
        let (start_ms, end_ms, over_ms) =
            (start_of(start), series.end_of(peak), start_of(back_to_zero));
        let first_page = pages
            .iter()
            .find(|p| p.start_ms >= start_ms && p.start_ms <= over_ms)
            .map(|p| p.start_ms);
        #[allow(clippy::cast_precision_loss)]
        out.push(Incident {
            start_ms,
            end_ms,
            budget_spent: spent(peak + 1),
            first_page_ms: first_page,
            minutes_to_page: first_page.map(|p| (p - start_ms) as f64 / 60_000.0),
            budget_spent_before_page: first_page.map(|p| {
                let periods = usize::try_from((p - start_ms) / period_ms).unwrap_or(0);
                spent((start + periods).min(series.events.len()))
            }),
        });
    };
    for (i, e) in series.events.iter().enumerate().skip(from) {
        excess = (excess + e.bad() - budget * e.total).max(0.0);
        match open.as_mut() {
            None if excess > 0.0 => open = Some((i, i, excess)),
            Some((_, peak, height)) if excess > *height => {
                *peak = i;
                *height = excess;
            }
            Some(_) if excess <= 0.0 => {
                if let Some(done) = open.take() {
                    close(done, i, &mut out);
                }
            }
            _ => {}
        }
    }
    if let Some(done) = open {
        close(done, series.events.len(), &mut out);
    }
    out
}

/// Replays `[from_ms, to_ms)` of every SLO from `source`.
pub fn run(
    slos: &[Slo],
    source: &mut dyn Source,
    from_ms: i64,
    to_ms: i64,
) -> Result<Backtest, SourceError> {
    let mut replays = Vec::new();
    for slo in slos {
        let window = slo.window.length();
        let lookback = applicable(slo, window)
            .map(|p| Span(p.condition.lookback.seconds() + p.condition.alert_after.seconds()))
            .max()
            .unwrap_or(HOUR)
            .max(HOUR);
        let period = report::period(slo);
        // Whole periods ending at `to`, reaching back over the longest lookback.
        let span = to_ms - (from_ms - lookback.millis());
        let start = to_ms - (span + period.millis() - 1) / period.millis() * period.millis();
        match report::series(slo, source, (start, to_ms), period, 0)? {
            Ok(series) => replays.push(replay(slo, &series, from_ms, window)),
            Err(reason) => replays.push(SloReplay {
                name: slo.name.clone(),
                display_name: slo.display_name.clone(),
                target: slo.target,
                window: window.to_string(),
                events: Events::default(),
                conditions: Vec::new(),
                pages: Vec::new(),
                tickets: Vec::new(),
                pages_per_week: 0.0,
                tickets_per_week: 0.0,
                incidents: Vec::new(),
                never_fired: Vec::new(),
                flapping: Vec::new(),
                no_data_reason: Some(reason),
                burn: Vec::new(),
            }),
        }
    }
    Ok(Backtest {
        from_ms,
        to_ms,
        slos: replays,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::duration::MINUTE;

    /// A 28-day, 99.5 % availability SLO (budget 0.005) with the default policies, or with
    /// the documents of `overrides` replacing them.
    pub(crate) fn availability(overrides: &str) -> Slo {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("slo-backtest-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("slo.yaml");
        std::fs::write(
            &spec,
            "apiVersion: openslo/v1
kind: SLO
metadata:
  name: availability
spec:
  service: shop
  indicator:
    metadata:
      name: errors
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: CloudWatch
            spec: { namespace: Shop, metricName: Errors, stat: Sum }
        total:
          metricSource:
            type: CloudWatch
            spec: { namespace: Shop, metricName: Requests, stat: Sum }
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
",
        )
        .unwrap();
        let mut override_files = Vec::new();
        if !overrides.is_empty() {
            let file = dir.join("overrides.yaml");
            std::fs::write(&file, overrides).unwrap();
            override_files.push(file);
        }
        let options = crate::load::Options {
            overrides: &override_files,
            ..crate::load::Options::default()
        };
        let loaded = crate::load::load_with(&[spec], options).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        loaded.slos.into_iter().next().unwrap()
    }

    const DAYS: usize = 10;
    const MINUTES: usize = DAYS * 1440;
    /// The replay starts here (epoch ms), a Monday at midnight.
    const START_MS: i64 = 1_795_132_800_000;

    fn series(events: impl Fn(usize) -> Events) -> Series {
        Series {
            start_ms: START_MS,
            period: MINUTE,
            events: (0..MINUTES).map(events).collect(),
        }
    }

    /// Epoch ms of the end of minute `i` (0-based) of the replay.
    fn at(i: usize) -> i64 {
        START_MS + i64::try_from(i + 1).unwrap() * 60_000
    }

    fn firing(start: usize, end: usize) -> Firing {
        Firing {
            start_ms: at(start),
            end_ms: Some(at(end)),
        }
    }

    fn steady(good: f64, bad: f64) -> Events {
        Events {
            good,
            total: good + bad,
        }
    }

    const DAY5: usize = 5 * 1440;

    #[test]
    fn a_one_hour_total_outage_pages_after_5_minutes_then_tickets_once_the_page_resolves() {
        // 100 requests a minute; minutes DAY5 .. DAY5 + 59 all fail.
        let history = series(|i| {
            if (DAY5..DAY5 + 60).contains(&i) {
                steady(0.0, 100.0)
            } else {
                steady(100.0, 0.0)
            }
        });
        let replay = replay(&availability(""), &history, START_MS, Span(28 * 86_400));
        // 1h: k bad minutes of 60 burn 3.33k > 13.44 from k = 5 (the 5-minute rate is 200);
        // it resolves when the 5-minute window is clean, 5 minutes after the outage; the 6h
        // policy (k > 10.08) holds until its 30-minute window is clean: the page is
        // [outage + 5 min, outage end + 30 min).
        assert_eq!(replay.pages, [firing(DAY5 + 4, DAY5 + 89)]);
        // Both ticket policies hold from k = 21 (0.139k > 2.8; 0.0463k > 0.933), silent under
        // the page; the 1-day one until its 2-hour window holds fewer than 2 bad of 12,000
        // (outage end + 119 min), the 3-day one until its 6-hour window does (+ 359 min).
        assert_eq!(replay.tickets, [firing(DAY5 + 89, DAY5 + 418)]);
        let by_policy = |name: &str| {
            replay
                .conditions
                .iter()
                .find(|c| c.policy == name)
                .unwrap()
                .firings
                .clone()
        };
        assert_eq!(by_policy("default-page-1h"), [firing(DAY5 + 4, DAY5 + 64)]);
        assert_eq!(by_policy("default-page-6h"), [firing(DAY5 + 10, DAY5 + 89)]);
        assert_eq!(
            by_policy("default-ticket-1d"),
            [firing(DAY5 + 20, DAY5 + 178)]
        );
        assert_eq!(
            by_policy("default-ticket-3d"),
            [firing(DAY5 + 20, DAY5 + 418)]
        );
        assert!(replay.never_fired.is_empty() && replay.flapping.is_empty());
        // One incident: 6,000 bad of the window's 4,032,000 × 0.005 = 20,160 allowed.
        let [incident] = replay.incidents.as_slice() else {
            panic!("{:?}", replay.incidents)
        };
        assert_eq!(incident.start_ms, at(DAY5) - 60_000);
        assert_eq!(incident.end_ms, at(DAY5 + 59));
        assert!((incident.budget_spent - 6_000.0 / 20_160.0).abs() < 1e-9);
        assert_eq!(incident.minutes_to_page, Some(5.0));
        assert!((incident.budget_spent_before_page.unwrap() - 500.0 / 20_160.0).abs() < 1e-9);
        assert!((replay.pages_per_week - 0.7).abs() < 1e-9);
    }

    #[test]
    fn a_slow_three_day_burn_at_twice_the_budget_opens_one_ticket_and_never_pages() {
        // 1 bad request in 100 every minute for 3 days from day 2: a burn rate of exactly 2.
        let from = 2 * 1440;
        let history = series(|i| {
            if (from..from + 3 * 1440).contains(&i) {
                steady(99.0, 1.0)
            } else {
                steady(100.0, 0.0)
            }
        });
        let replay = replay(&availability(""), &history, START_MS, Span(28 * 86_400));
        assert!(replay.pages.is_empty());
        // 3d: h bad of 432,000 burn h / 2160 > 0.933 from h = 2017; after the burn its 6-hour
        // window burns (360 − j) / 180, under 0.933 from j = 192.
        assert_eq!(replay.tickets, [firing(from + 2016, from + 4320 + 191)]);
        assert_eq!(
            replay.never_fired,
            ["default-page-1h", "default-page-6h", "default-ticket-1d"]
        );
        let [incident] = replay.incidents.as_slice() else {
            panic!("{:?}", replay.incidents)
        };
        assert_eq!(incident.start_ms, at(from) - 60_000);
        assert_eq!(incident.end_ms, at(from + 4319));
        assert_eq!(incident.minutes_to_page, None);
    }

    /// One request an hour (minutes 0, 60, ...), and on day 5 three failing ones in a row at
    /// half past.
    fn low_traffic_burst(i: usize) -> Events {
        let burst = DAY5 + 30;
        if (burst..burst + 3).contains(&i) {
            steady(0.0, 1.0)
        } else if i.is_multiple_of(60) {
            steady(1.0, 0.0)
        } else {
            Events::default()
        }
    }

    #[test]
    fn a_burst_during_low_traffic_cannot_page_under_ten_events_but_tickets() {
        let burst = DAY5 + 30;
        let history = series(low_traffic_burst);
        let replay = replay(&availability(""), &history, START_MS, Span(28 * 86_400));
        // 1h holds 1 + 3 events and 6h 6 + 3: under the 10 the page policies need.
        assert!(replay.pages.is_empty(), "{:?}", replay.pages);
        // 1d (24 + k events) and 3d (72 + k) pass; their short windows hold the burst for
        // 2 and 6 hours after its last request.
        assert_eq!(replay.tickets, [firing(burst, burst + 362)]);
        assert_eq!(replay.incidents.len(), 1);
        assert_eq!(replay.incidents[0].minutes_to_page, None);
    }

    #[test]
    fn the_same_burst_pages_under_a_policy_without_the_low_traffic_guard() {
        let burst = DAY5 + 30;
        let proposed = crate::policy::DEFAULT_DOCUMENTS
            .split("\n---\n")
            .find(|doc| doc.contains("name: default-page-1h"))
            .unwrap()
            .replace(
                "openslo-cloudwatch/minEvents: \"10\"",
                "openslo-cloudwatch/minEvents: \"0\"",
            );
        let slo = availability(&proposed);
        let history = series(low_traffic_burst);
        let replay = replay(&slo, &history, START_MS, Span(28 * 86_400));
        // The hour holds 2 events at the first failure (burn 100); the 5-minute window holds
        // the burst until 5 minutes after its last request.
        assert_eq!(replay.pages, [firing(burst, burst + 7)]);
        assert_eq!(replay.tickets, [firing(burst + 7, burst + 362)]);
        assert_eq!(replay.incidents[0].minutes_to_page, Some(1.0));
    }

    #[test]
    fn steady_noise_just_under_the_target_never_fires_and_makes_no_incident() {
        // 100 requests a minute, 9 bad minutes of every 20 spread evenly (1 bad request
        // each): 0.45 % errors, a burn rate of 0.9; at most 3 bad in any 5 minutes (1.2).
        let history = series(|i| {
            if (i * 9) % 20 < 9 {
                steady(99.0, 1.0)
            } else {
                steady(100.0, 0.0)
            }
        });
        // Replayed from day 3, with 3 days of history for the lookbacks: at the very start of
        // a history the 3-day window holds a few minutes only, where one bad minute burns 2.
        let replay = replay(
            &availability(""),
            &history,
            at(3 * 1440 - 1),
            Span(28 * 86_400),
        );
        assert!(
            replay.pages.is_empty() && replay.tickets.is_empty(),
            "{:?} {:?}",
            replay.pages,
            replay.tickets
        );
        assert_eq!(replay.never_fired.len(), 4);
        assert!(replay.incidents.is_empty(), "{:?}", replay.incidents);
    }

    #[test]
    fn alert_after_waits_for_the_condition_to_hold_that_long() {
        let proposed = crate::policy::DEFAULT_DOCUMENTS
            .split("\n---\n")
            .find(|doc| doc.contains("name: default-page-1h"))
            .unwrap()
            .replace("alertAfter: 0m", "alertAfter: 10m");
        let slo = availability(&proposed);
        let history = series(|i| {
            if (DAY5..DAY5 + 60).contains(&i) {
                steady(0.0, 100.0)
            } else {
                steady(100.0, 0.0)
            }
        });
        let replay = replay(&slo, &history, START_MS, Span(28 * 86_400));
        let page_1h = &replay
            .conditions
            .iter()
            .find(|c| c.policy == "default-page-1h")
            .unwrap()
            .firings;
        // Held from the 5th minute; fires once it has held at 10 more evaluations.
        assert_eq!(page_1h, &[firing(DAY5 + 14, DAY5 + 64)]);
        // The 6-hour policy still pages first, at its 11th minute.
        assert_eq!(replay.pages, [firing(DAY5 + 10, DAY5 + 89)]);
    }
}
