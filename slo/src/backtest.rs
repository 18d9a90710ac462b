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
//! - An **incident** is a stretch where the burn rate over the trailing hour exceeds 1 (the
//!   budget is spent faster than it lasts) and that spends at least 1 % of the window's budget;
//!   it starts at the first period of the stretch. Its **time to page** is from its start to the
//!   first page starting within it, and the **budget spent before the page** is what the
//!   incident spent until then. A window's budget is its share of the stretch's events times
//!   (1 − target).

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
/// with `budget` (1 − target). With Timeslices every slice is an event, so the minimum
/// number of events does not apply.
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
    let after = usize::try_from(condition.alert_after.seconds() / series.period.seconds())
        .unwrap_or(usize::MAX);
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
    let timeslices = slo.budgeting == BudgetingMethod::Timeslices;
    let per_policy: Vec<(&Policy, Vec<bool>)> = applicable(slo, window)
        .map(|p| (p, fires(series, &p.condition, window, slo.budget(), timeslices)))
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
    let timeslices = slo.budgeting == BudgetingMethod::Timeslices;
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
    let mut incidents = Vec::new();
    let mut i = from;
    while i < series.events.len() {
        if burn[i - from].1 <= 1.0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < series.events.len() && burn[i - from].1 > 1.0 {
            i += 1;
        }
        let spent = |until: usize| -> f64 {
            let bad: f64 = series.events[start..until].iter().map(|e| e.bad()).sum();
            if window_budget > 0.0 { bad / window_budget } else { 0.0 }
        };
        let budget_spent = spent(i);
        if budget_spent < INCIDENT_MIN_BUDGET {
            continue;
        }
        let start_ms = series.start_ms + i64::try_from(start).unwrap_or(0) * series.period.millis();
        let end_ms = series.end_of(i - 1);
        let first_page = pages
            .iter()
            .find(|p| p.start_ms >= start_ms && p.start_ms <= end_ms)
            .map(|p| p.start_ms);
        let before_page = first_page.map(|page_ms| {
            let periods = usize::try_from((page_ms - start_ms) / series.period.millis()).unwrap_or(0);
            spent((start + periods).min(series.events.len()))
        });
        #[allow(clippy::cast_precision_loss)]
        incidents.push(Incident {
            start_ms,
            end_ms,
            budget_spent,
            first_page_ms: first_page,
            minutes_to_page: first_page.map(|p| (p - start_ms) as f64 / 60_000.0),
            budget_spent_before_page: before_page,
        });
    }
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
        match report::series(slo, source, start, to_ms, period)? {
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
