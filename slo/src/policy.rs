//! Alert policies, checked: what OpenSLO's `AlertPolicy`, `AlertCondition` and
//! `AlertNotificationTarget` documents mean for CloudWatch alarms, `slo report` and
//! `slo backtest`.
//!
//! A burn-rate condition (`kind: burnrate`) holds when the burn rate over its
//! `lookbackWindow` **and** over a short window (annotation `openslo-cloudwatch/shortWindow`,
//! default a twelfth of the lookback, as the SRE workbook's multi-window alerts have it) both
//! pass `op threshold`, and the lookback holds at least `openslo-cloudwatch/minEvents` events
//! (default 10): two requests and one error in five minutes are no page. It fires once it has
//! held for `alertAfter` (default `0m`). The threshold is a burn rate as written, unless the
//! condition says which SLO window it was written for (`openslo-cloudwatch/thresholdWindow`,
//! e.g. `30d`): then it is scaled to each SLO's window, so one policy means "2 % of the budget
//! in an hour" for every SLO.
//!
//! The specification allows one condition per policy. An SLO's policies of one severity make
//! one alert: it fires while any of them holds. Severities are `page` (someone acts now) and
//! `ticket` (fixed within days); a ticket stays silent while the same SLO's page fires.
//! An SLO without `alertPolicies` gets the default policies ([`DEFAULT_DOCUMENTS`]).

use crate::duration::Span;
use crate::spec::Op;

/// Prefix of the annotations this tool reads on alert conditions.
pub const ANNOTATION_PREFIX: &str = "openslo-cloudwatch/";

/// The default policies, as OpenSLO documents: the SRE workbook's page tiers (2 % of the
/// budget in 1 h, 5 % in 6 h) and Sloth's and Pyrra's ticket tiers (10 % in 1 d, 10 % in 3 d).
/// A document of the same kind and name in the files given replaces one of these.
pub const DEFAULT_DOCUMENTS: &str = include_str!("../policies/default.yaml");

/// Where the defaults come from, in problems that name them.
pub const DEFAULT_FILE: &str = "<slo built-in policies>/default.yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ticket,
    Page,
}

impl Severity {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "page" => Ok(Self::Page),
            "ticket" => Ok(Self::Ticket),
            _ => Err(format!(
                "{text:?}: this tool's severities are page (someone acts now) and ticket (fixed within days)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Ticket => "ticket",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A burn-rate condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub name: String,
    pub severity: Severity,
    pub op: Op,
    /// As written.
    pub threshold: f64,
    /// The SLO window `threshold` was written for, if it scales.
    pub threshold_window: Option<Span>,
    pub lookback: Span,
    pub short: Span,
    pub alert_after: Span,
    /// Fewest events in the lookback for the condition to hold.
    pub min_events: f64,
}

impl Condition {
    /// The burn-rate threshold for an SLO over `window`.
    pub fn threshold_for(&self, window: Span) -> f64 {
        match self.threshold_window {
            Some(written_for) => self.threshold * window.ratio(written_for),
            None => self.threshold,
        }
    }

    /// The share of an SLO's budget the condition lets burn within its lookback before it
    /// holds: threshold × lookback / window.
    pub fn budget_fraction(&self, window: Span) -> f64 {
        self.threshold_for(window) * self.lookback.ratio(window)
    }

    /// Whether burn rates over the lookback and the short window pass the threshold.
    pub fn holds(&self, window: Span, long: f64, short: f64) -> bool {
        let threshold = self.threshold_for(window);
        self.op.holds(long, threshold) && self.op.holds(short, threshold)
    }
}

/// Where an alert notifies: an SNS topic ARN or a Terraform expression giving one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    pub condition: Condition,
    pub targets: Vec<Target>,
    pub when_breaching: bool,
    pub when_resolved: bool,
    pub when_no_data: bool,
}

/// Whether a notification target is one CloudWatch alarm actions can name.
pub fn cloudwatch_action(target: &str) -> Result<(), String> {
    let arn = target.starts_with("arn:") && target.split(':').nth(2) == Some("sns");
    let terraform = target.starts_with("${") && target.ends_with('}');
    if arn || terraform {
        Ok(())
    } else {
        Err(format!(
            "{target:?}: CloudWatch alarms notify SNS topics: give an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or a Terraform expression (${{...}})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(threshold: f64, threshold_window: Option<Span>) -> Condition {
        Condition {
            name: "c".into(),
            severity: Severity::Page,
            op: Op::Gt,
            threshold,
            threshold_window,
            lookback: Span(3_600),
            short: Span(300),
            alert_after: Span(0),
            min_events: 10.0,
        }
    }

    #[test]
    fn a_threshold_written_for_30_days_scales_to_each_window() {
        let c = condition(14.4, Some(Span(30 * 86_400)));
        assert!((c.threshold_for(Span(28 * 86_400)) - 13.44).abs() < 1e-9);
        assert!((c.budget_fraction(Span(28 * 86_400)) - 0.02).abs() < 1e-9);
        let absolute = condition(2.0, None);
        assert_eq!(absolute.threshold_for(Span(7 * 86_400)), 2.0);
    }

    #[test]
    fn both_windows_must_pass_the_threshold() {
        let c = condition(14.4, Some(Span(30 * 86_400)));
        let window = Span(30 * 86_400);
        assert!(c.holds(window, 15.0, 20.0));
        assert!(!c.holds(window, 15.0, 14.4));
        assert!(!c.holds(window, 14.0, 20.0));
    }

    #[test]
    fn notification_targets_are_sns_topics_or_terraform() {
        assert!(cloudwatch_action("arn:aws:sns:eu-west-1:123456789012:oncall").is_ok());
        assert!(cloudwatch_action("${local.alarm_topic_arn}").is_ok());
        assert!(cloudwatch_action("email").unwrap_err().contains("SNS"));
        assert!(cloudwatch_action("arn:aws:lambda:x").is_err());
    }
}
