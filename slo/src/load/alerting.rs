//! Alert conditions, notification targets and policies, inline or referenced.

use super::*;

impl Resolver<'_> {
    pub(super) fn condition(
        &mut self,
        document: &Document,
        metadata: &Metadata,
        spec: &AlertConditionSpec,
        prefix: &str,
        metadata_prefix: &str,
    ) -> Option<Condition> {
        let before = self.problems.len();
        let severity = Severity::parse(&spec.severity)
            .map_err(|e| self.push(document, &format!("{prefix}.severity"), e))
            .ok();
        let c = &spec.condition;
        let field = |name: &str| format!("{prefix}.condition.{name}");
        if let Some(kind) = &c.kind
            && kind != "burnrate"
        {
            self.push(
                document,
                &field("kind"),
                format!("{kind:?}: the specification's one kind is burnrate"),
            );
        }
        if !(c.threshold.is_finite() && c.threshold > 0.0) {
            self.push(
                document,
                &field("threshold"),
                format!("{}: a burn rate above 0", c.threshold),
            );
        }
        let lookback = rules::fixed_duration(&c.lookback_window)
            .map_err(|e| self.push(document, &field("lookbackWindow"), e))
            .ok();
        let alert_after = match c.alert_after.as_deref() {
            None => Some(Span(0)),
            // The specification's default, 0m, is the one duration that is not positive.
            Some("0m" | "0h" | "0d" | "0w") => Some(Span(0)),
            Some(text) => rules::fixed_duration(text)
                .map_err(|e| self.push(document, &field("alertAfter"), e))
                .ok(),
        };
        let annotation = |key: &str| {
            metadata
                .annotations
                .get(&format!("{ANNOTATION_PREFIX}{key}"))
        };
        let annotations_at = format!("{metadata_prefix}.annotations.{ANNOTATION_PREFIX}");
        for key in metadata.annotations.keys() {
            if let Some(rest) = key.strip_prefix(ANNOTATION_PREFIX)
                && !matches!(rest, "shortWindow" | "thresholdWindow" | "minEvents")
            {
                self.push(
                    document,
                    &format!("{metadata_prefix}.annotations.{key}"),
                    "unknown: this tool reads shortWindow, thresholdWindow and minEvents",
                );
            }
        }
        let short = match (annotation("shortWindow"), lookback) {
            (Some(text), Some(lookback)) => match rules::fixed_duration(text) {
                Ok(short) if short <= lookback => Some(short),
                Ok(_) => {
                    self.push(
                        document,
                        &format!("{annotations_at}shortWindow"),
                        format!("{text}: at most the lookbackWindow"),
                    );
                    None
                }
                Err(e) => {
                    self.push(document, &format!("{annotations_at}shortWindow"), e);
                    None
                }
            },
            // A twelfth of the lookback, in whole minutes (CloudWatch's finest period).
            (None, Some(lookback)) => Some(Span(((lookback.seconds() / 12 + 59) / 60).max(1) * 60)),
            (_, None) => None,
        };
        let threshold_window = match annotation("thresholdWindow") {
            None => Some(None),
            Some(text) => rules::fixed_duration(text)
                .map(Some)
                .map_err(|e| self.push(document, &format!("{annotations_at}thresholdWindow"), e))
                .ok(),
        };
        let min_events = match annotation("minEvents") {
            None => Some(10.0),
            Some(text) => match text.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => Some(n),
                _ => {
                    self.push(
                        document,
                        &format!("{annotations_at}minEvents"),
                        format!("{text:?}: a number of events, 0 or more"),
                    );
                    None
                }
            },
        };
        if self.problems.len() > before {
            return None;
        }
        Some(Condition {
            name: metadata.name.clone(),
            severity: severity?,
            op: c.op.unwrap_or(Op::Gt),
            threshold: c.threshold,
            threshold_window: threshold_window?,
            lookback: lookback?,
            short: short?,
            alert_after: alert_after?,
            min_events: min_events?,
        })
    }

    pub(super) fn target(
        &mut self,
        document: &Document,
        metadata: &Metadata,
        spec: &AlertNotificationTargetSpec,
        prefix: &str,
    ) -> Option<Target> {
        if spec.target.trim().is_empty() {
            self.push(
                document,
                &format!("{prefix}.target"),
                "required: where notifications go",
            );
            return None;
        }
        Some(Target {
            name: metadata.name.clone(),
            target: spec.target.clone(),
        })
    }

    pub(super) fn policy(
        &mut self,
        document: &Document,
        metadata: &Metadata,
        spec: &AlertPolicySpec,
        prefix: &str,
    ) -> Option<Policy> {
        let before = self.problems.len();
        let mut condition = None;
        match spec.conditions.as_slice() {
            [one] => {
                condition = self.item(
                    document,
                    one,
                    &format!("{prefix}.conditions[0]"),
                    ("conditionRef", Kind::AlertCondition),
                    |this, name| this.conditions.get(name).cloned().flatten(),
                    |spec: &AlertConditionSpec| spec.description.as_ref(),
                    |this, metadata, spec, field| {
                        this.condition(
                            document,
                            metadata,
                            spec,
                            &format!("{field}.spec"),
                            &format!("{field}.metadata"),
                        )
                    },
                );
            }
            [] => self.push(document, &format!("{prefix}.conditions"), "required: one AlertCondition"),
            _ => self.push(
                document,
                &format!("{prefix}.conditions"),
                format!(
                    "{} conditions: the specification allows one per policy; give each its own policy (policies of one severity alert together)",
                    spec.conditions.len()
                ),
            ),
        }
        let mut targets = Vec::new();
        if spec.notification_targets.is_empty() {
            self.push(
                document,
                &format!("{prefix}.notificationTargets"),
                "required: at least one AlertNotificationTarget",
            );
        }
        for (i, value) in spec.notification_targets.iter().enumerate() {
            let target = self.item(
                document,
                value,
                &format!("{prefix}.notificationTargets[{i}]"),
                ("targetRef", Kind::AlertNotificationTarget),
                |this, name| this.targets.get(name).cloned().flatten(),
                |spec: &AlertNotificationTargetSpec| spec.description.as_ref(),
                |this, metadata, spec, field| {
                    this.target(document, metadata, spec, &format!("{field}.spec"))
                },
            );
            targets.extend(target);
        }
        if self.problems.len() > before {
            return None;
        }
        Some(Policy {
            name: metadata.name.clone(),
            condition: condition?,
            targets,
            when_breaching: spec.alert_when_breaching,
            when_resolved: spec.alert_when_resolved,
            when_no_data: spec.alert_when_no_data,
        })
    }
}
