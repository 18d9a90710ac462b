//! `slo generate alarms`: each SLO's alert policies ([`crate::policy`]) as Terraform JSON for
//! CloudWatch.
//!
//! Per SLO and policy that applies to its window, the condition's lookback and its short window
//! are one metric-math alarm each, on the burn rate over that span; per severity one composite
//! alarm fires while any policy of that severity holds: page = (1h AND 5m) OR (6h AND 30m) with
//! the default policies, so one incident pages once whichever policy sees it first. A ticket
//! composite is silent while the page fires. Only the composites notify: `alertWhenBreaching`
//! gives them the policies' targets as alarm actions, `alertWhenResolved` as OK actions;
//! `alertWhenNoData` makes the lookback's alarm itself notify when it has no data
//! (insufficient-data actions). Descriptions name the SLO, the severity, the policies and the
//! runbook.
//!
//! - **Occurrences**: the alarm's period is the span itself with one evaluation period, so its
//!   datapoint is bad/total summed over the whole span, divided by the budget: exactly the burn
//!   rate `slo report` shows. The lookback's events below the condition's `minEvents` make the
//!   datapoint 0 (`IF(total >= N, burn, 0)`): no alert on two requests.
//! - **Timeslices**: the period is the slice; the expression is the slice's error ratio (or
//!   statistic), breaching when the slice is bad, and the alarm fires when at least M of the
//!   N slices of the span are bad, M being the fewest bad slices whose burn rate passes the
//!   threshold: M = ⌊threshold × budget × N⌋ + 1. Slices without data are good, as in the
//!   report. CloudWatch evaluates periods under an hour over at most one day, so a longer
//!   lookback (3 days over 5-minute slices) is shortened to one day, which the alarm's
//!   description says.
//! - **RatioTimeslices** over a raw ratio: the `Average` of the stored ratio over the span,
//!   which is the mean of the slices' ratios when the ratio is published once per slice. Over
//!   good/total counts CloudWatch cannot average per-slice ratios across a span, and the
//!   generator says so rather than alarm on something else.
//! - **Composite SLOs** (Occurrences): per component its counted and total metrics
//!   (`bad1`/`good1`, `total1`, …), FILLed with 0 where a component had no errors or no
//!   traffic, weighed into the composite's error ratio as [`crate::math`] defines it; the
//!   low-traffic guard counts the weighted events. Composites over time slices are refused: an
//!   alarm counts the bad slices of one series.
//! - `alertAfter` other than `0m` is refused: a CloudWatch alarm on a sliding span cannot wait
//!   for a condition to hold a while (`slo backtest` evaluates it).
//! - Missing data (no traffic in the span) is explicitly not breaching.
//!
//! CloudWatch's limits are checked: at most 10 metrics per alarm, periods of 10, 20, 30 s or a
//! multiple of 60 s, period × evaluation periods ≤ 7 days (≤ 1 day for periods under 1 hour).

use serde_json::{Map, Value, json};

use crate::backtest;
use crate::duration::{DAY, HOUR, Span};
use crate::math::Tier;
use crate::policy::{self, Policy};
use crate::spec::{BudgetingMethod, Measure, Op, Query, RawType, Slo, Stat};

pub const MAX_METRICS_PER_ALARM: usize = 10;
/// Longest evaluation range of an alarm (period × evaluation periods), and of one whose period
/// is under an hour.
pub const MAX_EVALUATION_RANGE: Span = Span(7 * 86_400);
pub const MAX_SHORT_PERIOD_EVALUATION_RANGE: Span = DAY;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{slo}: {message}")]
    Limit { slo: String, message: String },
}

/// One lookback of one alert rule, as a CloudWatch metric alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAlarm {
    /// Terraform resource name, e.g. `slo_proxy_availability_page_1h`.
    pub resource: String,
    /// Alarm name after the `name_prefix`, e.g. `slo-proxy-availability-page-1h`.
    pub name: String,
    pub tier: Tier,
    /// The lookback of the rule.
    pub lookback: Span,
    /// The stretch CloudWatch really evaluates (shorter than `lookback` only for Timeslices
    /// beyond CloudWatch's one-day limit).
    pub evaluated: Span,
    /// Burn-rate threshold of the rule.
    pub burn_threshold: f64,
    pub period: Span,
    pub evaluation_periods: i64,
    pub datapoints_to_alarm: i64,
    pub comparison: &'static str,
    /// What the alarm compares with `comparison`: the burn rate (Occurrences) or the slice's
    /// error ratio or statistic (Timeslices).
    pub threshold: f64,
    /// `metric_query` blocks; the last one returns the compared value.
    pub queries: Vec<Value>,
}

/// One tier of one SLO, as a composite alarm over its window alarms.
#[derive(Debug, Clone, PartialEq)]
pub struct TierAlarm {
    pub resource: String,
    pub name: String,
    pub tier: Tier,
    /// (long, short) window alarms of each policy of the tier.
    pub rules: Vec<(WindowAlarm, WindowAlarm)>,
    /// The policies, in `rules` order.
    pub policies: Vec<Policy>,
}

/// The alarms of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloAlarms {
    pub slo: String,
    pub display_name: String,
    pub tiers: Vec<TierAlarm>,
}

/// Runbook of an SLO's alarms: `runbooks/<slo>.md`, a section per tier.
pub fn runbook_path(slo: &str, tier: Tier) -> String {
    format!("{slo}.md#{}", tier_name(tier))
}

pub fn tier_name(tier: Tier) -> &'static str {
    tier.as_str()
}

fn identifier(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Rounds away float noise (0.005000000000000004) so the generated files read cleanly.
pub(crate) fn tidy(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn metric_query(id: &str, query: &Query, stat: Stat, period: Span) -> Value {
    let dimensions: Map<String, Value> = query
        .dimensions
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "id": id,
        "return_data": false,
        "metric": {
            "namespace": query.namespace,
            "metric_name": query.metric,
            "dimensions": dimensions,
            "period": period.seconds(),
            "stat": stat.cloudwatch(),
        }
    })
}

/// [`metric_query`], or for a metric-math query its metrics (ids `<id>_<metric id>`) and the
/// expression itself under `id`, none of them returning data.
fn metric_queries(id: &str, query: &Query, stat: Stat, period: Span) -> Vec<Value> {
    let Some(math) = &query.math else {
        return vec![metric_query(id, query, stat, period)];
    };
    let inner = |metric: &str| format!("{id}_{metric}");
    let mut queries: Vec<Value> = math
        .metrics
        .iter()
        .map(|(metric, q)| metric_query(&inner(metric), q, q.stat, period))
        .collect();
    // The loader read every id of the expression, so renaming cannot fail.
    let expression = crate::expression::rename(&math.expression, inner)
        .unwrap_or_else(|_| math.expression.clone());
    queries.push(json!({
        "id": id,
        "expression": expression,
        "label": id,
        "return_data": false,
    }));
    queries
}

fn expression(id: &str, expression: String, label: String) -> Value {
    json!({ "id": id, "expression": expression, "label": label, "return_data": true })
}

/// The bad-event ratio of the SLO as metric queries plus the expression computing it; the
/// query `total` counts events, except for raw ratios.
pub(crate) fn ratio_queries(slo: &Slo, period: Span) -> (Vec<Value>, String) {
    let (queries, ratio) = match &slo.indicator {
        Measure::Raw { metric, kind } => (
            vec![metric_query("raw", metric, Stat::Average, period)],
            match kind {
                RawType::Success => "1 - raw",
                RawType::Failure => "raw",
            }
            .to_owned(),
        ),
        Measure::Ratio { good, bad, total } => {
            let mut queries = Vec::new();
            let ratio = if let Some(bad) = bad {
                queries.extend(metric_queries("bad", bad, bad.stat, period));
                "bad / total"
            } else {
                let good = good.as_ref().unwrap_or(total);
                queries.extend(metric_queries("good", good, good.stat, period));
                "(total - good) / total"
            };
            queries.extend(metric_queries("total", total, total.stat, period));
            (queries, ratio.to_owned())
        }
        Measure::Threshold { metric, value, .. } => (
            vec![
                metric_query("good", metric, Stat::CountAtMost(*value), period),
                metric_query("total", metric, Stat::SampleCount, period),
            ],
            "(total - good) / total".to_owned(),
        ),
        Measure::Composite(components) => composite_queries(slo.budget(), components, period),
    };
    (in_account(slo, queries), ratio)
}

/// A composite's metric queries (`bad1`/`good1`, `total1`, … per component), the expression
/// `total` of its weighted events, and its error ratio B × Σ (wᵢ/bᵢ)·badᵢ / Σ wᵢ·totalᵢ
/// ([`crate::math`]). A component without errors, or without traffic, in the span publishes
/// no datapoint: FILL counts it as 0 so the others still make a value.
fn composite_queries(
    budget: f64,
    components: &[crate::spec::Component],
    period: Span,
) -> (Vec<Value>, String) {
    let mut queries = Vec::new();
    let mut bad = Vec::new();
    let mut total = Vec::new();
    for (i, component) in components.iter().enumerate() {
        let n = i + 1;
        let (count, count_id, total_query) = match &component.indicator {
            Measure::Ratio {
                good,
                bad: Some(bad),
                total,
            } if good.is_none() => (bad.clone(), format!("bad{n}"), total.clone()),
            Measure::Ratio { good, total, .. } => (
                good.clone().unwrap_or_else(|| total.clone()),
                format!("good{n}"),
                total.clone(),
            ),
            Measure::Threshold { metric, value, .. } => (
                metric.with_stat(Stat::CountAtMost(*value)),
                format!("good{n}"),
                metric.with_stat(Stat::SampleCount),
            ),
            // The loader refuses both in a composite with Occurrences, the only budgeting
            // composite alarms are made for.
            Measure::Raw { .. } | Measure::Composite(_) => continue,
        };
        queries.extend(metric_queries(&count_id, &count, count.stat, period));
        queries.extend(metric_queries(
            &format!("total{n}"),
            &total_query,
            total_query.stat,
            period,
        ));
        let events = format!("FILL(total{n}, 0)");
        let bad_events = if count_id.starts_with("bad") {
            format!("FILL({count_id}, 0)")
        } else {
            format!("({events} - FILL({count_id}, 0))")
        };
        bad.push(format!(
            "{} * {bad_events}",
            tidy(component.weight / component.budget())
        ));
        total.push(format!("{} * {events}", tidy(component.weight)));
    }
    let total = total.join(" + ");
    queries.push(json!({
        "id": "total",
        "expression": total,
        "label": "weighted events",
        "return_data": false,
    }));
    let ratio = format!("{} * ({}) / ({total})", tidy(budget), bad.join(" + "));
    (queries, ratio)
}

/// `queries` reading `slo`'s source account when its DataSource names one (`accountId`): a
/// monitoring account's alarms on another account's metrics, through CloudWatch
/// cross-account observability.
fn in_account(slo: &Slo, mut queries: Vec<Value>) -> Vec<Value> {
    if let Some(account) = &slo.connection.account_id {
        for query in queries.iter_mut().filter(|q| q.get("metric").is_some()) {
            query["account_id"] = json!(account);
        }
    }
    queries
}

fn check_limits(slo: &Slo, alarm: &WindowAlarm) -> Result<(), GenerateError> {
    let fail = |message: String| {
        Err(GenerateError::Limit {
            slo: slo.name.clone(),
            message: format!("alarm {}: {message}", alarm.name),
        })
    };
    let period = alarm.period.seconds();
    if !(matches!(period, 10 | 20 | 30) || (period > 0 && period % 60 == 0)) {
        return fail(format!(
            "period {period} s is not 10, 20, 30 or a multiple of 60"
        ));
    }
    let range = Span(period * alarm.evaluation_periods);
    let limit = if alarm.period < HOUR {
        MAX_SHORT_PERIOD_EVALUATION_RANGE
    } else {
        MAX_EVALUATION_RANGE
    };
    if range > limit {
        return fail(format!(
            "evaluates {range}, over CloudWatch's {limit} for {}-periods",
            alarm.period
        ));
    }
    let metrics = alarm
        .queries
        .iter()
        .filter(|q| q.get("metric").is_some())
        .count();
    if metrics > MAX_METRICS_PER_ALARM {
        return fail(format!("{metrics} metrics, over CloudWatch's 10"));
    }
    if alarm.datapoints_to_alarm > alarm.evaluation_periods || alarm.datapoints_to_alarm < 1 {
        return fail("can never fire: more bad slices needed than it evaluates".to_owned());
    }
    Ok(())
}

fn comparison(op: Op) -> &'static str {
    match op {
        Op::Gt => "GreaterThanThreshold",
        Op::Gte => "GreaterThanOrEqualToThreshold",
        Op::Lt => "LessThanThreshold",
        Op::Lte => "LessThanOrEqualToThreshold",
    }
}

/// The alarm over `lookback` (the condition's own lookback when `is_lookback`, else its short
/// window: only the lookback carries the low-traffic guard, as the condition defines it).
fn window_alarm(
    slo: &Slo,
    policy: &Policy,
    lookback: Span,
    is_lookback: bool,
    burn_threshold: f64,
) -> Result<WindowAlarm, GenerateError> {
    let tier = policy.condition.severity;
    let budget = slo.budget();
    let name = format!("slo-{}-{}-{lookback}", slo.name, tier_name(tier));
    let resource = identifier(&name);
    let burn_threshold = tidy(burn_threshold);
    if matches!(slo.indicator, Measure::Composite(_))
        && slo.budgeting != BudgetingMethod::Occurrences
    {
        return Err(GenerateError::Limit {
            slo: slo.name.clone(),
            message: format!(
                "a composite SLO with {:?} budgeting: a CloudWatch alarm counts the bad slices of one series, not of several weighed together; alarms are made for composites with Occurrences (slo report and slo backtest evaluate it as it is)",
                slo.budgeting
            ),
        });
    }
    let alarm = match (slo.budgeting, slo.time_slice) {
        (BudgetingMethod::Timeslices, Some((slice, slice_target))) => {
            let limit = if slice < HOUR {
                MAX_SHORT_PERIOD_EVALUATION_RANGE
            } else {
                MAX_EVALUATION_RANGE
            };
            let evaluated = lookback.min(Span(limit.seconds() / slice.seconds() * slice.seconds()));
            let slices = (evaluated.seconds() + slice.seconds() - 1) / slice.seconds();
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_precision_loss,
                clippy::cast_sign_loss
            )]
            let bad_needed = {
                // The fewest bad slices whose burn rate passes the threshold: above it (gt),
                // or at least at it (gte).
                let at = burn_threshold * budget * slices as f64;
                if policy.condition.op == Op::Gte {
                    (at.ceil() as i64).max(1)
                } else {
                    at.floor() as i64 + 1
                }
            };
            let (queries, comparison, threshold) = match &slo.indicator {
                Measure::Threshold { metric, op, value } => {
                    let mut query = metric_query("slice", metric, metric.stat, slice);
                    query["return_data"] = json!(true);
                    // The slice is bad when `op value` does not hold.
                    let comparison = match op {
                        Op::Lte => "GreaterThanThreshold",
                        Op::Lt => "GreaterThanOrEqualToThreshold",
                        Op::Gte => "LessThanThreshold",
                        Op::Gt => "LessThanOrEqualToThreshold",
                    };
                    (in_account(slo, vec![query]), comparison, *value)
                }
                Measure::Ratio { .. } | Measure::Raw { .. } | Measure::Composite(_) => {
                    let (mut queries, ratio) = ratio_queries(slo, slice);
                    queries.push(expression(
                        "slice_errors",
                        ratio,
                        format!("error ratio per {slice} slice"),
                    ));
                    // The slice is bad when its good ratio is under the slice target.
                    let good_ratio = slice_target.unwrap_or(1.0);
                    (queries, "GreaterThanThreshold", tidy(1.0 - good_ratio))
                }
            };
            WindowAlarm {
                resource,
                name,
                tier,
                lookback,
                evaluated: Span(slices * slice.seconds()),
                burn_threshold,
                period: slice,
                evaluation_periods: slices,
                datapoints_to_alarm: bad_needed,
                comparison,
                threshold,
                queries,
            }
        }
        (BudgetingMethod::RatioTimeslices, _) if !matches!(slo.indicator, Measure::Raw { .. }) => {
            return Err(GenerateError::Limit {
                slo: slo.name.clone(),
                message: "RatioTimeslices over counts: CloudWatch alarms cannot average per-slice ratios across a lookback; publish the ratio as a metric (ratioMetric.raw) or use Timeslices (slo report and slo backtest evaluate it as it is)".into(),
            });
        }
        _ => {
            let (mut queries, ratio) = ratio_queries(slo, lookback);
            let burn = format!("({ratio}) / {}", tidy(budget));
            let min_events = policy.condition.min_events;
            let unguarded =
                !is_lookback || matches!(slo.indicator, Measure::Raw { .. }) || min_events <= 0.0;
            queries.push(expression(
                "burn",
                if unguarded {
                    burn
                } else {
                    format!("IF(total >= {}, {burn}, 0)", tidy(min_events))
                },
                format!("burn rate over {lookback}"),
            ));
            WindowAlarm {
                resource,
                name,
                tier,
                lookback,
                evaluated: lookback,
                burn_threshold,
                period: lookback,
                evaluation_periods: 1,
                datapoints_to_alarm: 1,
                comparison: comparison(policy.condition.op),
                threshold: burn_threshold,
                queries,
            }
        }
    };
    check_limits(slo, &alarm)?;
    Ok(alarm)
}

/// The alarms of `slo`, checked against CloudWatch's limits.
pub fn plan(slo: &Slo) -> Result<SloAlarms, GenerateError> {
    let window = slo.window.length();
    let mut tiers: Vec<TierAlarm> = Vec::new();
    for policy in backtest::applicable(slo, window) {
        let condition = &policy.condition;
        let fail = |message: String| GenerateError::Limit {
            slo: slo.name.clone(),
            message: format!("policy {}: {message}", policy.name),
        };
        if condition.alert_after > Span(0) {
            return Err(fail(format!(
                "alertAfter {}: a CloudWatch alarm on a sliding lookback cannot wait for its condition to hold a while; use 0m (the short window already ignores blips), slo backtest shows what alertAfter would change",
                condition.alert_after
            )));
        }
        for target in &policy.targets {
            policy::cloudwatch_action(&target.target)
                .map_err(|e| fail(format!("notification target {}: {e}", target.name)))?;
        }
        let threshold = condition.threshold_for(window);
        if matches!(condition.op, Op::Lt | Op::Lte) {
            return Err(fail(format!(
                "op {:?}: a burn-rate alarm fires when the budget burns fast; use gt or gte",
                condition.op
            )));
        }
        let long = window_alarm(slo, policy, condition.lookback, true, threshold)?;
        let short = window_alarm(slo, policy, condition.short, false, threshold)?;
        match tiers.iter_mut().find(|t| t.tier == condition.severity) {
            Some(tier) => {
                tier.rules.push((long, short));
                tier.policies.push(policy.clone());
            }
            None => {
                let name = format!("slo-{}-{}", slo.name, tier_name(condition.severity));
                tiers.push(TierAlarm {
                    resource: identifier(&name),
                    name,
                    tier: condition.severity,
                    rules: vec![(long, short)],
                    policies: vec![policy.clone()],
                });
            }
        }
    }
    // Pages first: the ticket's rule names the page's composite.
    tiers.sort_by_key(|t| std::cmp::Reverse(t.tier));
    Ok(SloAlarms {
        slo: slo.name.clone(),
        display_name: slo.display_name.clone(),
        tiers,
    })
}

fn passes(op: Op) -> &'static str {
    match op {
        Op::Gt => "above",
        Op::Gte => "at or above",
        Op::Lt => "below",
        Op::Lte => "at or below",
    }
}

fn window_description(slo: &Slo, alarm: &WindowAlarm, policy: &Policy) -> String {
    let tier = tier_name(alarm.tier);
    let mut text = format!(
        "SLO {} ({}), {tier} tier, policy {}: burn rate over {} {} {} (target {}, {} window). Part of the {tier} composite alarm; does not notify by itself.",
        slo.name,
        slo.display_name,
        policy.name,
        alarm.lookback,
        passes(policy.condition.op),
        alarm.burn_threshold,
        tidy(slo.target),
        slo.window.length(),
    );
    if alarm.evaluated < alarm.lookback {
        text.push_str(&format!(
            " Evaluated over {} ({} slices, {} bad to fire): CloudWatch evaluates {}-periods over at most one day.",
            alarm.evaluated, alarm.evaluation_periods, alarm.datapoints_to_alarm, alarm.period
        ));
    } else if alarm.evaluation_periods > 1 {
        text.push_str(&format!(
            " Fires at {} bad {} slices of {}.",
            alarm.datapoints_to_alarm, alarm.period, alarm.evaluation_periods
        ));
    }
    text.push_str(&format!(
        " Runbook: ${{var.runbook_base_url}}/{}",
        runbook_path(&slo.name, alarm.tier)
    ));
    text
}

/// The targets of `policies` whose flag `when` is set, each once.
fn actions(policies: &[&Policy], when: impl Fn(&Policy) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for policy in policies.iter().filter(|p| when(p)) {
        for target in &policy.targets {
            if !out.contains(&target.target) {
                out.push(target.target.clone());
            }
        }
    }
    out
}

/// A window alarm; the lookback's (not the short window's) notifies on no data when its
/// policy says `alertWhenNoData`.
fn metric_alarm_resource(slo: &Slo, alarm: &WindowAlarm, policy: &Policy, lookback: bool) -> Value {
    let mut resource = json!({
        "alarm_name": format!("${{var.name_prefix}}-{}", alarm.name),
        "alarm_description": window_description(slo, alarm, policy),
        "comparison_operator": alarm.comparison,
        "threshold": alarm.threshold,
        "evaluation_periods": alarm.evaluation_periods,
        "datapoints_to_alarm": alarm.datapoints_to_alarm,
        "treat_missing_data": "notBreaching",
        "actions_enabled": false,
        "metric_query": alarm.queries,
        "tags": { "slo": slo.name, "tier": tier_name(alarm.tier), "lookback": alarm.lookback.to_string() },
    });
    if lookback && policy.when_no_data {
        resource["treat_missing_data"] = json!("missing");
        resource["actions_enabled"] = json!(true);
        resource["insufficient_data_actions"] = json!(actions(&[policy], |_| true));
    }
    resource
}

fn alarm_ref(alarm: &WindowAlarm) -> String {
    format!(
        "ALARM(\"${{aws_cloudwatch_metric_alarm.{}.alarm_name}}\")",
        alarm.resource
    )
}

fn composite_resource(slo: &Slo, alarms: &SloAlarms, tier: &TierAlarm) -> Value {
    let rules: Vec<String> = tier
        .rules
        .iter()
        .map(|(long, short)| format!("({} AND {})", alarm_ref(long), alarm_ref(short)))
        .collect();
    let mut rule = rules.join(" OR ");
    let conditions: Vec<String> = tier
        .rules
        .iter()
        .zip(&tier.policies)
        .map(|((long, short), policy)| {
            format!(
                "{} and {} {} {} (policy {})",
                long.lookback,
                short.lookback,
                passes(policy.condition.op),
                long.burn_threshold,
                policy.name
            )
        })
        .collect();
    let mut description = format!(
        "SLO {} ({}), {} tier: the error budget burns fast enough that {} (burn rates over {}; target {}, {} window).",
        slo.name,
        slo.display_name,
        tier_name(tier.tier),
        match tier.tier {
            Tier::Page => "someone must act now",
            Tier::Ticket => "it must be fixed within days",
        },
        conditions.join(", or "),
        tidy(slo.target),
        slo.window.length(),
    );
    if tier.tier == Tier::Ticket
        && let Some(page) = alarms.tiers.iter().find(|t| t.tier == Tier::Page)
    {
        // One incident notifies once: no ticket while its page is firing.
        rule = format!(
            "({rule}) AND NOT ALARM(\"${{aws_cloudwatch_composite_alarm.{}.alarm_name}}\")",
            page.resource
        );
        description.push_str(" Silent while the page tier fires.");
    }
    description.push_str(&format!(
        " Runbook: ${{var.runbook_base_url}}/{}",
        runbook_path(&slo.name, tier.tier)
    ));
    let policies: Vec<&Policy> = tier.policies.iter().collect();
    let alarm_actions = actions(&policies, |p| p.when_breaching);
    let ok_actions = actions(&policies, |p| p.when_resolved);
    json!({
        "alarm_name": format!("${{var.name_prefix}}-{}", tier.name),
        "alarm_description": description,
        "alarm_rule": rule,
        "actions_enabled": !(alarm_actions.is_empty() && ok_actions.is_empty()),
        "alarm_actions": alarm_actions,
        "ok_actions": ok_actions,
        "tags": { "slo": slo.name, "tier": tier_name(tier.tier) },
    })
}

/// The Terraform JSON document (`infra/slo_alarms.tf.json`) for `slos`.
pub fn terraform(slos: &[Slo]) -> Result<Value, GenerateError> {
    let mut metric_alarms = Map::new();
    let mut composites = Map::new();
    for slo in slos {
        let alarms = plan(slo)?;
        for tier in &alarms.tiers {
            for ((long, short), policy) in tier.rules.iter().zip(&tier.policies) {
                for (alarm, lookback) in [(long, true), (short, false)] {
                    metric_alarms.insert(
                        alarm.resource.clone(),
                        metric_alarm_resource(slo, alarm, policy, lookback),
                    );
                }
            }
            composites.insert(
                tier.resource.clone(),
                composite_resource(slo, &alarms, tier),
            );
        }
    }
    Ok(json!({
        "//": "Generated by `slo generate alarms` from slo/specs: do not edit; a test fails when it is stale.",
        "resource": {
            "aws_cloudwatch_metric_alarm": metric_alarms,
            "aws_cloudwatch_composite_alarm": composites,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_slo(name: &str) -> Slo {
        let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        crate::spec::load(&[specs])
            .unwrap()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap()
    }

    fn window<'a>(alarms: &'a SloAlarms, name: &str) -> &'a WindowAlarm {
        alarms
            .tiers
            .iter()
            .flat_map(|t| t.rules.iter().flat_map(|(l, s)| [l, s]))
            .find(|a| a.name == name)
            .unwrap()
    }

    #[test]
    fn occurrence_alarms_read_the_burn_rate_over_the_whole_lookback() {
        let alarms = plan(&project_slo("proxy-availability")).unwrap();
        assert_eq!(alarms.tiers.len(), 2);
        let page = window(&alarms, "slo-proxy-availability-page-1h");
        assert_eq!((page.period, page.evaluation_periods), (HOUR, 1));
        // 2 % of a 28-day budget in an hour.
        assert_eq!(page.threshold, 13.44);
        // Fewer than the policy's 10 events in the hour cannot page.
        assert_eq!(
            page.queries.last().unwrap()["expression"],
            "IF(total >= 10, (bad / total) / 0.005, 0)"
        );
        let ticket = window(&alarms, "slo-proxy-availability-ticket-3d");
        assert_eq!(ticket.period, Span(3 * 86_400));
        assert!((ticket.threshold - 0.1 * 28.0 / 3.0).abs() < 1e-6);
        // The 1-day ticket: 10 % of the budget in a day, checked over 2 hours too.
        let day = window(&alarms, "slo-proxy-availability-ticket-1d");
        assert!((day.threshold - 2.8).abs() < 1e-9);
        let two_hours = window(&alarms, "slo-proxy-availability-ticket-2h");
        assert_eq!(
            (two_hours.period, two_hours.threshold),
            (Span(7_200), day.threshold)
        );
    }

    #[test]
    fn a_source_account_reaches_every_metric_of_the_alarms_and_the_dashboard() {
        let mut slo = project_slo("proxy-availability");
        let mut timeslices = project_slo("model-server-errors");
        for slo in [&mut slo, &mut timeslices] {
            slo.connection.account_id = Some("210987654321".into());
        }
        let slos = [slo, timeslices];
        let resources = terraform(&slos).unwrap();
        let alarms = resources["resource"]["aws_cloudwatch_metric_alarm"]
            .as_object()
            .unwrap();
        let mut metrics = 0;
        for (name, alarm) in alarms {
            for query in alarm["metric_query"].as_array().unwrap() {
                let expected = query.get("metric").map(|_| json!("210987654321"));
                metrics += usize::from(expected.is_some());
                assert_eq!(
                    query.get("account_id"),
                    expected.as_ref(),
                    "{name}: {query}"
                );
            }
        }
        assert!(metrics > alarms.len(), "{metrics} metric queries");
        let dashboard = crate::dashboard::body(&slos).unwrap().to_string();
        assert!(
            dashboard.contains(r#""accountId":"210987654321""#),
            "{dashboard}"
        );
    }

    #[test]
    fn timeslice_alarms_fire_at_the_fewest_bad_slices_that_exceed_the_burn_rate() {
        let alarms = plan(&project_slo("model-server-errors")).unwrap();
        let m_of_n = |name: &str| {
            let a = window(&alarms, name);
            (a.evaluation_periods, a.datapoints_to_alarm)
        };
        // 1h: 12 slices, 13.44 × 0.005 × 12 = 0.81 → 1 bad slice.
        assert_eq!(m_of_n("slo-model-server-errors-page-1h"), (12, 1));
        // 6h: 72 slices, 5.6 × 0.005 × 72 = 2.02 → 3.
        assert_eq!(m_of_n("slo-model-server-errors-page-6h"), (72, 3));
        // 3d is shortened to CloudWatch's one day of 5-minute periods: 0.93 × 0.005 × 288 = 1.34.
        assert_eq!(m_of_n("slo-model-server-errors-ticket-3d"), (288, 2));
        let slice = window(&alarms, "slo-model-server-errors-page-5m");
        assert_eq!(slice.threshold, 0.01);
        assert_eq!(slice.comparison, "GreaterThanThreshold");
    }

    use crate::backtest::tests::availability;

    /// The default `default-page-1h` document with `from` replaced by `to`.
    fn page_1h(replacements: &[(&str, &str)]) -> String {
        let mut doc = policy::DEFAULT_DOCUMENTS
            .split("\n---\n")
            .find(|doc| doc.contains("name: default-page-1h"))
            .unwrap()
            .to_owned();
        for (from, to) in replacements {
            assert!(doc.contains(from), "{from}");
            doc = doc.replace(from, to);
        }
        doc
    }

    #[test]
    fn a_policys_flags_and_targets_become_the_alarms_actions() {
        let slo = availability(&page_1h(&[
            ("alertWhenResolved: true", "alertWhenResolved: false"),
            ("alertWhenNoData: false", "alertWhenNoData: true"),
            ("op: gt", "op: gte"),
            (
                "targetRef: default-notification",
                "kind: AlertNotificationTarget\n      metadata:\n        name: pager\n      spec:\n        target: arn:aws:sns:eu-west-1:123456789012:pager",
            ),
        ]));
        let document = terraform(std::slice::from_ref(&slo)).unwrap();
        let metric = &document["resource"]["aws_cloudwatch_metric_alarm"];
        let composite = &document["resource"]["aws_cloudwatch_composite_alarm"];
        let pager = "arn:aws:sns:eu-west-1:123456789012:pager";
        // The page composite notifies the policy's own target when it fires (its other page
        // policy, the default 6h one, notifies the default topic), and only the 6h one when it
        // resolves.
        let page = &composite["slo_availability_page"];
        assert_eq!(
            page["alarm_actions"],
            json!([pager, "${local.alarm_topic_arn}"])
        );
        assert_eq!(page["ok_actions"], json!(["${local.alarm_topic_arn}"]));
        // No data over the hour: that alarm itself notifies.
        let hour = &metric["slo_availability_page_1h"];
        assert_eq!(hour["treat_missing_data"], "missing");
        assert_eq!(hour["insufficient_data_actions"], json!([pager]));
        assert_eq!(hour["actions_enabled"], true);
        assert_eq!(hour["comparison_operator"], "GreaterThanOrEqualToThreshold");
        let five = &metric["slo_availability_page_5m"];
        assert_eq!(five["treat_missing_data"], "notBreaching");
        assert!(five.get("insufficient_data_actions").is_none());
        // Only the lookback carries the low-traffic guard, as the condition defines it.
        let expression = |alarm: &Value| {
            alarm["metric_query"].as_array().unwrap().last().unwrap()["expression"].clone()
        };
        assert_eq!(
            expression(hour),
            "IF(total >= 10, (bad / total) / 0.005, 0)"
        );
        assert_eq!(expression(five), "(bad / total) / 0.005");
    }

    #[test]
    fn what_cloudwatch_alarms_cannot_do_is_refused_with_the_reason() {
        let waits = availability(&page_1h(&[("alertAfter: 0m", "alertAfter: 5m")]));
        let error = plan(&waits).unwrap_err().to_string();
        assert!(
            error.contains("policy default-page-1h: alertAfter 5m"),
            "{error}"
        );
        let email = availability(
            "apiVersion: openslo/v1
kind: AlertNotificationTarget
metadata:
  name: default-notification
spec:
  target: email
",
        );
        let error = plan(&email).unwrap_err().to_string();
        assert!(
            error.contains("notification target default-notification") && error.contains("SNS"),
            "{error}"
        );
        let below = availability(&page_1h(&[("op: gt", "op: lt")]));
        let error = plan(&below).unwrap_err().to_string();
        assert!(error.contains("use gt or gte"), "{error}");
        let mut averaged = availability("");
        averaged.budgeting = BudgetingMethod::RatioTimeslices;
        averaged.time_slice = Some((Span(60), None));
        let error = plan(&averaged).unwrap_err().to_string();
        assert!(error.contains("cannot average per-slice ratios"), "{error}");
        let mut sliced = availability("");
        sliced.indicator = Measure::Composite(vec![crate::spec::Component {
            name: "answered".into(),
            display_name: "answered".into(),
            indicator: sliced.indicator.clone(),
            target: sliced.target,
            slice_target: Some(0.9),
            weight: 1.0,
        }]);
        sliced.budgeting = BudgetingMethod::Timeslices;
        sliced.time_slice = Some((Span(300), None));
        let error = plan(&sliced).unwrap_err().to_string();
        assert!(
            error.contains("a composite SLO with Timeslices budgeting"),
            "{error}"
        );
    }

    #[test]
    fn a_raw_failure_ratio_alarms_on_its_average_over_the_lookback() {
        let mut slo = availability("");
        let Measure::Ratio { total, .. } = slo.indicator.clone() else {
            unreachable!()
        };
        slo.indicator = Measure::Raw {
            metric: total,
            kind: RawType::Failure,
        };
        slo.budgeting = BudgetingMethod::RatioTimeslices;
        slo.time_slice = Some((Span(60), None));
        let alarms = plan(&slo).unwrap();
        let hour = window(&alarms, "slo-availability-page-1h");
        assert_eq!(hour.queries[0]["metric"]["stat"], "Average");
        assert_eq!(hour.queries[0]["metric"]["period"], 3_600);
        // No events to guard with: the ratio itself.
        assert_eq!(hour.queries.last().unwrap()["expression"], "(raw) / 0.005");
    }

    #[test]
    fn a_period_cloudwatch_does_not_accept_is_an_error() {
        let mut slo = project_slo("model-server-errors");
        slo.time_slice = Some((Span(45), Some(0.99)));
        let error = plan(&slo).unwrap_err().to_string();
        assert!(error.contains("period 45 s"), "{error}");
    }
}
