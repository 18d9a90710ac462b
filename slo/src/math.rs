//! Error-budget arithmetic.
//!
//! - **SLI** over a window = good events / total events over the whole window (a ratio of sums,
//!   never an average of per-period ratios). No events: undefined, not 100 % and not 0 %.
//! - **Error budget** = 1 − target (a fraction of events, or of time slices).
//! - **Consumed** = bad / (total × budget); **remaining** = 1 − consumed (negative once
//!   overspent).
//! - **Burn rate** over a lookback = (bad / total over the lookback) / budget: 1 spends the
//!   budget exactly over the SLO window; 14.4 spends 2 % of a 30-day budget in one hour.
//! - **Time to exhaustion** at burn rate b with fraction r of the budget left:
//!   r × window / b (rolling); for a calendar window, in which only the elapsed part has
//!   happened, (window − consumed × elapsed) / b, traffic assumed to go on as so far.
//! - **Projected budget** at the end of the window if b holds: 1 − consumed × elapsed / window
//!   − b × left / window (calendar); 1 − b for a rolling window (a whole window from now).
//! - **Latency good events** are the values at or under the threshold: CloudWatch's
//!   `TC(:threshold)` statistic per period (total: `SampleCount`), counted from the raw values
//!   for EMF logs; summed over the window like any other count.
//! - **Timeslices** (OpenSLO): a slice is good when its good/total ratio meets
//!   `timeSliceTarget` (ratio indicators) or its statistic meets `op value` (threshold
//!   indicators); SLI = good slices / all slices of the window. A slice without events failed
//!   nothing and counts as good, once the window has any events at all (otherwise no data).
//! - **RatioTimeslices** (OpenSLO): SLI = the mean of the slices' good/total ratios, over the
//!   slices with events; each slice weighs the same whatever its traffic. Burn rate over a
//!   lookback = (1 − that mean over the lookback's slices) / budget.
//! - **Raw ratios** (OpenSLO `raw`): the stored ratio's `Average` per slice is the slice's
//!   ratio (of successes; 1 − it for `rawType: failure`), then as RatioTimeslices (or, with
//!   Timeslices, a slice is good when that ratio meets `timeSliceTarget`).
//! - **Composite SLOs** (OpenSLO objectives with their own indicators and `compositeWeight`):
//!   component i has target tᵢ, budget bᵢ = 1 − tᵢ and weight wᵢ (default 1, scaled so the
//!   weights average 1). The composite's target is the weighted mean Σwᵢtᵢ / Σwᵢ, its budget
//!   B = 1 − that. Per period its events are total = Σ wᵢ·totalᵢ and bad = Σ wᵢ·badᵢ·B/bᵢ:
//!   each event counts its component's weight, and a bad event spends the composite's budget
//!   as it spends its own component's. So the burn rate over any lookback is
//!   Σ (wᵢ/bᵢ)·badᵢ / Σ wᵢ·totalᵢ (B cancels): with one component, exactly that component's;
//!   with equal targets, the weighted error ratio over the budget. The composite's budget is
//!   spent when its components' weighted budget spend, Σ wᵢ·badᵢ/bᵢ, reaches its weighted
//!   traffic Σ wᵢ·totalᵢ. Its SLI is 1 − bad/total of those events, at least 0 (a component
//!   with a tighter budget than B can spend more than its own events). Like any ratio of sums
//!   it weighs components by traffic as well as by weight: a weight evens out a quiet but
//!   important component. Time slices combine slice by slice the same way.
//! - **Alert conditions** ([`crate::policy`]): a burn-rate condition holds at a minute when the
//!   burn rates over its lookback and its short window both pass `op threshold` and the lookback
//!   has at least `minEvents` events (Timeslices: every slice counts); it fires once it has held
//!   at every step of the last `alertAfter`. A threshold written for window W0 is scaled to an
//!   SLO window W as threshold × W / W0: the same share of the budget in the same lookback. The
//!   default policies page at 2 % of the budget in 1 h and 5 % in 6 h and open a ticket at 10 %
//!   in 1 d and 10 % in 3 d: for 30 days the rates 14.4, 6, 3 and 1. A condition whose lookback
//!   is longer than the SLO window does not apply.

use serde::Serialize;

use crate::duration::{DAY, HOUR, Span};

/// Good and total events (or time slices) over some period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Events {
    pub good: f64,
    pub total: f64,
}

impl Events {
    pub fn bad(self) -> f64 {
        (self.total - self.good).max(0.0)
    }

    /// good / total, or `None` without events.
    pub fn ratio(self) -> Option<f64> {
        (self.total > 0.0).then(|| self.good / self.total)
    }

    /// Burn rate against `budget` (1 − target), or `None` without events.
    pub fn burn_rate(self, budget: f64) -> Option<f64> {
        (self.total > 0.0).then(|| (self.bad() / self.total) / budget)
    }
}

impl std::ops::Add for Events {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            good: self.good + other.good,
            total: self.total + other.total,
        }
    }
}

impl std::iter::Sum for Events {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// A composite SLO's events in one period, from each component's events in it with the
/// component's weight and budget, against the composite's `budget` (see the module docs).
pub fn composite(parts: impl IntoIterator<Item = (Events, f64, f64)>, budget: f64) -> Events {
    let (total, bad) =
        parts
            .into_iter()
            .fold((0.0, 0.0), |(total, bad), (events, weight, own_budget)| {
                (
                    total + weight * events.total,
                    bad + weight * events.bad() * budget / own_budget,
                )
            });
    Events {
        good: total - bad,
        total,
    }
}

/// Budget figures for a window's events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    /// Bad events the window may have: total × (1 − target).
    pub allowed_bad: f64,
    pub bad: f64,
    /// Bad events still allowed: allowed − bad (negative once overspent).
    pub remaining_bad: f64,
    /// bad / allowed (1.0 = all spent); `None` without events.
    pub consumed: Option<f64>,
    /// 1 − consumed; `None` without events.
    pub remaining: Option<f64>,
}

pub fn budget(events: Events, target: f64) -> Budget {
    let allowed_bad = events.total * (1.0 - target);
    let bad = events.bad();
    let consumed = (events.total > 0.0).then(|| bad / allowed_bad);
    Budget {
        allowed_bad,
        bad,
        remaining_bad: allowed_bad - bad,
        consumed,
        remaining: consumed.map(|c| 1.0 - c),
    }
}

/// The burn rate that spends `fraction` of the budget in `lookback`, for an SLO `window`.
pub fn burn_threshold(fraction: f64, lookback: Span, window: Span) -> f64 {
    fraction * window.ratio(lookback)
}

pub use crate::policy::Severity as Tier;

/// The lookbacks `slo report` shows burn rates for.
pub const LOOKBACKS: [Span; 6] = [
    Span(5 * 60),
    Span(30 * 60),
    HOUR,
    Span(6 * 3_600),
    DAY,
    Span(3 * 86_400),
];

/// How long until the whole window's budget is spent at `burn_rate`, with `consumed` of the
/// budget of the `elapsed` part of the window already spent; `None` when it never is.
///
/// Traffic is assumed to go on as so far, so the window's budget in events is the elapsed
/// budget scaled to the window: the time left is `(window − consumed × elapsed) / burn_rate`,
/// which for a rolling window (elapsed = window) is `remaining × window / burn_rate`.
pub fn time_to_exhaustion(
    consumed: f64,
    burn_rate: f64,
    elapsed: Span,
    window: Span,
) -> Option<Span> {
    if burn_rate <= 0.0 {
        return None;
    }
    let whole = window.ratio(Span(1));
    let spent = consumed * elapsed.ratio(Span(1));
    #[allow(clippy::cast_possible_truncation)]
    let seconds = ((whole - spent).max(0.0) / burn_rate).round() as i64;
    Some(Span(seconds))
}

/// The share of the window's budget left at its end if `burn_rate` holds for `time_left`,
/// with `consumed` of the budget of the elapsed part spent (traffic as so far):
/// `1 − consumed × elapsed / window − burn_rate × time_left / window`. For a rolling window
/// (a whole window from now at that rate) `time_left` is the window and this is `1 − rate`.
pub fn projected_remaining(consumed: f64, burn_rate: f64, time_left: Span, window: Span) -> f64 {
    let left = time_left.ratio(window).clamp(0.0, 1.0);
    1.0 - consumed * (1.0 - left) - burn_rate * left
}

/// Exact percentile of `values` (nearest rank, as CloudWatch reports for raw values).
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
    values.get(rank.min(values.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const THIRTY_DAYS: Span = Span(30 * 86_400);

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Budget consumed by burning at `rate` for `lookback` of a `window` SLO.
    fn consumed_by(rate: f64, lookback: Span, window: Span) -> f64 {
        // Steady traffic of 1 event per second: the window has window.seconds() events.
        let total = window.ratio(Span(1));
        let bad_in_lookback = rate * 0.001 * lookback.ratio(Span(1));
        budget(
            Events {
                good: total - bad_in_lookback,
                total,
            },
            0.999,
        )
        .consumed
        .unwrap()
    }

    #[test]
    fn sre_workbook_figures_for_99_9_over_30_days() {
        assert!(close(consumed_by(14.4, HOUR, THIRTY_DAYS), 0.02));
        assert!(close(consumed_by(6.0, Span(6 * 3600), THIRTY_DAYS), 0.05));
        assert!(close(consumed_by(3.0, DAY, THIRTY_DAYS), 0.10));
        assert!(close(consumed_by(1.0, Span(3 * 86_400), THIRTY_DAYS), 0.10));
        assert!(close(burn_threshold(0.02, HOUR, THIRTY_DAYS), 14.4));
        assert!(close(
            burn_threshold(0.02, HOUR, Span(28 * 86_400)),
            0.02 * 28.0 * 24.0
        ));
    }

    #[test]
    fn sli_is_a_ratio_of_sums_and_undefined_without_events() {
        // Two periods: 1 of 1 good, then 0 of 99 good: 1 %, not the 50 % mean of the ratios.
        let window: Events = [
            Events {
                good: 1.0,
                total: 1.0,
            },
            Events {
                good: 0.0,
                total: 99.0,
            },
        ]
        .into_iter()
        .sum();
        assert!(close(window.ratio().unwrap(), 0.01));
        assert_eq!(Events::default().ratio(), None);
        assert_eq!(Events::default().burn_rate(0.001), None);
        assert_eq!(budget(Events::default(), 0.999).consumed, None);
    }

    #[test]
    fn burn_rate_and_exhaustion() {
        let events = Events {
            good: 990.0,
            total: 1000.0,
        };
        // 1 % errors against a 0.1 % budget: burning 10x.
        assert!(close(events.burn_rate(0.001).unwrap(), 10.0));
        // Rolling: half the budget left at 10x: 30 d * 0.5 / 10 = 1.5 d.
        assert_eq!(
            time_to_exhaustion(0.5, 10.0, THIRTY_DAYS, THIRTY_DAYS),
            Some(Span(129_600))
        );
        assert_eq!(time_to_exhaustion(0.5, 0.0, THIRTY_DAYS, THIRTY_DAYS), None);
        // Calendar, day 3 of 30 with half of those 3 days' budget spent: 1.5 days' worth of
        // the 30-day budget is gone, 28.5 days' worth is left; at 10x that lasts 2.85 days.
        assert_eq!(
            time_to_exhaustion(0.5, 10.0, Span(3 * 86_400), THIRTY_DAYS),
            Some(Span(246_240))
        );
        // Rolling: a whole window at 2x spends the budget twice.
        assert!(close(
            projected_remaining(0.5, 2.0, THIRTY_DAYS, THIRTY_DAYS),
            -1.0
        ));
        // Calendar, half-way with half the budget so far spent (a quarter of the window's),
        // then 2x for the other half (the window's whole budget): a quarter overspent.
        assert!(close(
            projected_remaining(0.5, 2.0, Span(15 * 86_400), THIRTY_DAYS),
            -0.25
        ));
        // Day 1 of 28 with half of that day's budget spent, then burning at 0.5: about half
        // of the window's budget is left (0.5/28 spent so far, 0.5 × 27/28 to come).
        assert!(close(
            projected_remaining(0.5, 0.5, Span(27 * 86_400), Span(28 * 86_400)),
            1.0 - 0.5 / 28.0 - 0.5 * 27.0 / 28.0
        ));
    }

    #[test]
    fn a_composite_weighs_each_bad_event_by_its_components_weight_and_budget() {
        let events = |good: f64, total: f64| Events { good, total };
        // Two components with the same target: the weighted error ratio.
        let same = composite(
            [
                (events(990.0, 1000.0), 1.5, 0.01),
                (events(95.0, 100.0), 0.5, 0.01),
            ],
            0.01,
        );
        assert!(close(same.total, 1550.0));
        assert!(close(same.bad(), 1.5 * 10.0 + 0.5 * 5.0));
        // 99.9 % and 99 % (weights 1 and 1: B = 0.0055): one bad event of the first spends
        // 5.5 composite events, one of the second 0.55.
        let mixed = composite(
            [
                (events(999.0, 1000.0), 1.0, 0.001),
                (events(990.0, 1000.0), 1.0, 0.01),
            ],
            0.0055,
        );
        assert!(close(mixed.bad(), 5.5 + 5.5));
        // Each component burns at exactly 1: so does the composite.
        assert!(close(mixed.burn_rate(0.0055).unwrap(), 1.0));
        // One component alone is that component.
        let alone = composite([(events(98.0, 100.0), 1.0, 0.01)], 0.01);
        assert!(close(alone.good, 98.0) && close(alone.total, 100.0));
        assert_eq!(
            composite([(Events::default(), 1.0, 0.01)], 0.01),
            Events::default()
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut values, 50.0), Some(50.0));
        assert_eq!(percentile(&mut values, 99.0), Some(99.0));
        assert_eq!(percentile(&mut values, 100.0), Some(100.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
