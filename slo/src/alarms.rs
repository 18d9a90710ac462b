//! `slo generate alarms`: the SLOs' multi-window, multi-burn-rate alerts (Google SRE workbook,
//! ch. 5) as Terraform JSON for CloudWatch.
//!
//! Per SLO and alert rule ([`crate::math::alert_rules`]: page 1h/5m and 6h/30m, ticket 3d/6h,
//! thresholds scaled to the SLO's window) each lookback is one metric-math alarm on the burn
//! rate over that lookback, and each tier is one composite alarm: page = (1h AND 5m) OR
//! (6h AND 30m), so one incident pages once whichever rule sees it first; ticket = 3d AND 6h,
//! and not while the page is firing. Only the composites notify (the `local.alarm_topic_arn`
//! SNS topic, defined in `infra/`); their descriptions name the SLO, the tier and the runbook.
//!
//! - **Occurrences**: the alarm's period is the lookback itself with one evaluation period, so
//!   its datapoint is bad/total summed over the whole lookback, divided by the budget: exactly
//!   the burn rate `slo report` shows.
//! - **Timeslices**: the period is the slice; the expression is the slice's error ratio (or
//!   statistic), breaching when the slice is bad, and the alarm fires when at least M of the
//!   N slices of the lookback are bad, M being the fewest bad slices whose burn rate exceeds the
//!   threshold: M = ⌊threshold × budget × N⌋ + 1. Slices without data are good, as in the
//!   report. CloudWatch evaluates periods under an hour over at most one day, so a longer
//!   lookback (the ticket's 3 days over 5-minute slices) is shortened to one day, which the
//!   alarm's description says.
//! - Missing data (no traffic in the lookback) is explicitly not breaching.
//!
//! CloudWatch's limits are checked: at most 10 metrics per alarm, periods of 10, 20, 30 s or a
//! multiple of 60 s, period × evaluation periods ≤ 7 days (≤ 1 day for periods under 1 hour).

use serde_json::{Map, Value, json};

use crate::duration::{DAY, HOUR, Span};
use crate::math::{self, Tier};
use crate::spec::{BudgetingMethod, Measure, Op, Query, Slo, Stat};

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
    /// (long, short) window alarms of each rule of the tier.
    pub rules: Vec<(WindowAlarm, WindowAlarm)>,
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
    match tier {
        Tier::Page => "page",
        Tier::Ticket => "ticket",
    }
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

fn expression(id: &str, expression: String, label: String) -> Value {
    json!({ "id": id, "expression": expression, "label": label, "return_data": true })
}

/// The bad-event ratio of the SLO as metric queries plus the expression computing it.
fn ratio_queries(slo: &Slo, period: Span) -> (Vec<Value>, String) {
    match &slo.indicator {
        Measure::Ratio { good, bad, total } => {
            let mut queries = Vec::new();
            let ratio = if let Some(bad) = bad {
                queries.push(metric_query("bad", bad, bad.stat, period));
                "bad / total"
            } else {
                let good = good.as_ref().unwrap_or(total);
                queries.push(metric_query("good", good, good.stat, period));
                "(total - good) / total"
            };
            queries.push(metric_query("total", total, total.stat, period));
            (queries, ratio.to_owned())
        }
        Measure::Threshold { metric, value, .. } => (
            vec![
                metric_query("good", metric, Stat::CountAtMost(*value), period),
                metric_query("total", metric, Stat::SampleCount, period),
            ],
            "(total - good) / total".to_owned(),
        ),
    }
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

fn window_alarm(
    slo: &Slo,
    tier: Tier,
    lookback: Span,
    burn_threshold: f64,
) -> Result<WindowAlarm, GenerateError> {
    let budget = slo.budget();
    let name = format!("slo-{}-{}-{lookback}", slo.name, tier_name(tier));
    let resource = identifier(&name);
    let burn_threshold = tidy(burn_threshold);
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
            let bad_needed = (burn_threshold * budget * slices as f64).floor() as i64 + 1;
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
                    (vec![query], comparison, *value)
                }
                Measure::Ratio { .. } => {
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
        _ => {
            let (mut queries, ratio) = ratio_queries(slo, lookback);
            queries.push(expression(
                "burn",
                format!("({ratio}) / {}", tidy(budget)),
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
                comparison: "GreaterThanThreshold",
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
    let mut tiers: Vec<TierAlarm> = Vec::new();
    for rule in math::applicable_rules(slo.window.length()) {
        let long = window_alarm(slo, rule.tier, rule.long, rule.threshold)?;
        let short = window_alarm(slo, rule.tier, rule.short, rule.threshold)?;
        match tiers.iter_mut().find(|t| t.tier == rule.tier) {
            Some(tier) => tier.rules.push((long, short)),
            None => {
                let name = format!("slo-{}-{}", slo.name, tier_name(rule.tier));
                tiers.push(TierAlarm {
                    resource: identifier(&name),
                    name,
                    tier: rule.tier,
                    rules: vec![(long, short)],
                });
            }
        }
    }
    Ok(SloAlarms {
        slo: slo.name.clone(),
        display_name: slo.display_name.clone(),
        tiers,
    })
}

fn window_description(slo: &Slo, alarm: &WindowAlarm) -> String {
    let tier = tier_name(alarm.tier);
    let mut text = format!(
        "SLO {} ({}), {tier} tier: burn rate over {} above {} (target {}, {} window). Part of the {tier} composite alarm; does not notify by itself.",
        slo.name,
        slo.display_name,
        alarm.lookback,
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

fn metric_alarm_resource(slo: &Slo, alarm: &WindowAlarm) -> Value {
    json!({
        "alarm_name": format!("${{var.name_prefix}}-{}", alarm.name),
        "alarm_description": window_description(slo, alarm),
        "comparison_operator": alarm.comparison,
        "threshold": alarm.threshold,
        "evaluation_periods": alarm.evaluation_periods,
        "datapoints_to_alarm": alarm.datapoints_to_alarm,
        "treat_missing_data": "notBreaching",
        "actions_enabled": false,
        "metric_query": alarm.queries,
        "tags": { "slo": slo.name, "tier": tier_name(alarm.tier), "lookback": alarm.lookback.to_string() },
    })
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
        .map(|(long, short)| {
            format!(
                "{} and {} above {}",
                long.lookback, short.lookback, long.burn_threshold
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
    json!({
        "alarm_name": format!("${{var.name_prefix}}-{}", tier.name),
        "alarm_description": description,
        "alarm_rule": rule,
        "actions_enabled": true,
        "alarm_actions": ["${local.alarm_topic_arn}"],
        "ok_actions": ["${local.alarm_topic_arn}"],
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
            for (long, short) in &tier.rules {
                for alarm in [long, short] {
                    metric_alarms.insert(alarm.resource.clone(), metric_alarm_resource(slo, alarm));
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
        assert_eq!(
            page.queries.last().unwrap()["expression"],
            "(bad / total) / 0.005"
        );
        let ticket = window(&alarms, "slo-proxy-availability-ticket-3d");
        assert_eq!(ticket.period, Span(3 * 86_400));
        assert!((ticket.threshold - 0.1 * 28.0 / 3.0).abs() < 1e-6);
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

    #[test]
    fn a_period_cloudwatch_does_not_accept_is_an_error() {
        let mut slo = project_slo("model-server-errors");
        slo.time_slice = Some((Span(45), Some(0.99)));
        let error = plan(&slo).unwrap_err().to_string();
        assert!(error.contains("period 45 s"), "{error}");
    }
}
