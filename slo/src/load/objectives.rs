//! Time windows, SLOs and their objectives (composites among them), and the checks between SLOs.

use super::*;

impl Resolver<'_> {
    pub(super) fn window(&mut self, document: &Document, windows: &[TimeWindow]) -> Option<Window> {
        let [window] = windows else {
            self.push(
                document,
                "spec.timeWindow",
                "exactly one time window (rolling or calendar)",
            );
            return None;
        };
        let at = "spec.timeWindow[0]";
        match (&window.calendar, window.is_rolling) {
            (None, Some(true)) => match rules::fixed_duration(&window.duration) {
                Ok(span) => Some(Window::Rolling(span)),
                Err(e) => {
                    self.push(document, &format!("{at}.duration"), e);
                    None
                }
            },
            (Some(calendar), None | Some(false)) => {
                let period = match CalendarPeriod::parse(&window.duration) {
                    Ok(p)
                        if matches!(
                            p.unit,
                            CalendarUnit::Day
                                | CalendarUnit::Week
                                | CalendarUnit::Month
                                | CalendarUnit::Quarter
                                | CalendarUnit::Year
                        ) =>
                    {
                        Some(p)
                    }
                    Ok(_) => None,
                    Err(e) => {
                        self.push(document, &format!("{at}.duration"), format!("{e} (a calendar window is whole days, weeks, months, quarters or years)"));
                        None
                    }
                };
                let zone = match jiff::tz::TimeZone::get(&calendar.time_zone) {
                    Ok(zone) => Some(zone),
                    Err(e) => {
                        self.push(
                            document,
                            &format!("{at}.calendar.timeZone"),
                            format!("{:?}: {e} (an IANA time zone name)", calendar.time_zone),
                        );
                        None
                    }
                };
                let start = zone.and_then(|zone| {
                    match calendar
                        .start_time
                        .parse::<jiff::civil::DateTime>()
                        .map_err(|e| e.to_string())
                        .and_then(|dt| dt.to_zoned(zone).map_err(|e| e.to_string()))
                    {
                        Ok(start) => Some(start),
                        Err(e) => {
                            self.push(
                                document,
                                &format!("{at}.calendar.startTime"),
                                format!(
                                    "{:?}: {e} (expected YYYY-MM-DD HH:MM:SS)",
                                    calendar.start_time
                                ),
                            );
                            None
                        }
                    }
                });
                Some(Window::Calendar {
                    period: period?,
                    start: start?,
                })
            }
            (None, None | Some(false)) => {
                self.push(
                    document,
                    at,
                    "set isRolling: true, or give a calendar (startTime, timeZone)",
                );
                None
            }
            (Some(_), Some(true)) => {
                self.push(
                    document,
                    &format!("{at}.isRolling"),
                    "a calendar window cannot be rolling",
                );
                None
            }
        }
    }

    pub(super) fn slo(
        &mut self,
        document: &Document,
        spec: &SloSpec,
        builtin_policies: &[String],
        slos: &mut Vec<Slo>,
        unevaluated: &mut Vec<Unevaluated>,
    ) {
        let before = self.problems.len();
        if spec.service.trim().is_empty() {
            self.push(
                document,
                "spec.service",
                "required: the service this SLO belongs to",
            );
        } else if !self.services.is_empty() && !self.services.contains(&spec.service) {
            let known: Vec<&str> = self.services.iter().map(String::as_str).collect();
            self.push(
                document,
                "spec.service",
                format!(
                    "{:?}: no Service of that name in the files given (they define {})",
                    spec.service,
                    known.join(", ")
                ),
            );
        }
        let composite = spec
            .objectives
            .iter()
            .any(|o| o.indicator.is_some() || o.indicator_ref.is_some());
        let sli = match (&spec.indicator, &spec.indicator_ref, composite) {
            (Some(inline), None, false) => {
                let meta_at = "spec.indicator.metadata";
                if !inline.metadata.name.is_empty() || !inline.metadata.labels.is_empty() {
                    metadata_rules(&mut self.problems, document, &inline.metadata, meta_at);
                }
                description_rule(
                    &mut self.problems,
                    document,
                    inline.spec.description.as_ref(),
                    "spec.indicator.spec.description",
                );
                Some(self.sli(document, &inline.spec, "spec.indicator.spec"))
            }
            (None, Some(name), false) => self
                .lookup(document, "spec.indicatorRef", Kind::Sli, name)
                .map(|_| {
                    self.slis
                        .get(name)
                        .cloned()
                        .unwrap_or(Err(Unusable::Invalid))
                }),
            (Some(_), Some(_), _) => {
                self.push(
                    document,
                    "spec.indicatorRef",
                    "give indicator or indicatorRef, not both",
                );
                None
            }
            (None, None, false) => {
                self.push(document, "spec", "indicator or indicatorRef is required");
                None
            }
            (_, _, true) => None,
        };
        // A composite's indicators, objective by objective.
        let mut component_slis: Vec<Result<ResolvedSli, Unusable>> = Vec::new();
        if composite {
            if spec.indicator.is_some() || spec.indicator_ref.is_some() {
                self.push(
                    document,
                    "spec",
                    "a composite SLO gives each objective its indicator, not spec.indicator or spec.indicatorRef",
                );
            }
            for (i, objective) in spec.objectives.iter().enumerate() {
                let at = format!("spec.objectives[{i}]");
                let resolved = match (&objective.indicator, &objective.indicator_ref) {
                    (Some(inline), None) => {
                        description_rule(
                            &mut self.problems,
                            document,
                            inline.spec.description.as_ref(),
                            &format!("{at}.indicator.spec.description"),
                        );
                        self.sli(document, &inline.spec, &format!("{at}.indicator.spec"))
                    }
                    (None, Some(name)) => self
                        .lookup(document, &format!("{at}.indicatorRef"), Kind::Sli, name)
                        .and_then(|_| self.slis.get(name).cloned())
                        .unwrap_or(Err(Unusable::Invalid)),
                    _ => {
                        self.push(
                            document,
                            &at,
                            "in a composite SLO every objective gives exactly one of indicator and indicatorRef",
                        );
                        Err(Unusable::Invalid)
                    }
                };
                component_slis.push(resolved);
                if let Some(weight) = objective.composite_weight
                    && !(weight.is_finite() && weight > 0.0)
                {
                    self.push(
                        document,
                        &format!("{at}.compositeWeight"),
                        format!("{weight}: a weight above 0"),
                    );
                }
            }
        }
        let window = self.window(document, &spec.time_window);
        // From the document itself, so an SLI that is not evaluated is still checked whole.
        let threshold_of = |inline: Option<&InlineSli>, name: Option<&String>| match (inline, name)
        {
            (Some(inline), _) => inline.spec.threshold_metric.is_some(),
            (None, Some(name)) => self.index.get(&(Kind::Sli, name.clone())).is_some_and(
                |d| matches!(&d.body, Body::Sli(sli) if sli.threshold_metric.is_some()),
            ),
            (None, None) => false,
        };
        let is_threshold = threshold_of(spec.indicator.as_ref(), spec.indicator_ref.as_ref());
        let thresholds: Vec<bool> = spec
            .objectives
            .iter()
            .map(|o| {
                if composite {
                    threshold_of(o.indicator.as_ref(), o.indicator_ref.as_ref())
                } else {
                    is_threshold
                }
            })
            .collect();
        if spec.objectives.is_empty() {
            self.push(
                document,
                "spec.objectives",
                "required: at least one objective",
            );
        }
        if is_threshold && spec.objectives.len() > 1 {
            self.push(
                document,
                "spec.objectives",
                "a thresholdMetric takes exactly one objective",
            );
        }
        let mut objectives = Vec::new();
        for (i, objective) in spec.objectives.iter().enumerate() {
            let at = format!("spec.objectives[{i}]");
            let target = match (objective.target, objective.target_percent) {
                (Some(t), None) if (0.0..1.0).contains(&t) => Some(t),
                (Some(t), None) => {
                    self.push(
                        document,
                        &format!("{at}.target"),
                        format!("{t}: must be in [0, 1)"),
                    );
                    None
                }
                (None, Some(p)) if (0.0..100.0).contains(&p) => Some(p / 100.0),
                (None, Some(p)) => {
                    self.push(
                        document,
                        &format!("{at}.targetPercent"),
                        format!("{p}: must be in [0, 100)"),
                    );
                    None
                }
                (Some(_), Some(_)) => {
                    self.push(document, &at, "give target or targetPercent, not both");
                    None
                }
                (None, None) => {
                    self.push(
                        document,
                        &format!("{at}.target"),
                        "required (or targetPercent)",
                    );
                    None
                }
            };
            let is_threshold = thresholds[i];
            if !is_threshold && (objective.op.is_some() || objective.value.is_some()) {
                self.push(
                    document,
                    &at,
                    "op and value are for thresholdMetric indicators only",
                );
            }
            if is_threshold && (objective.op.is_none() || objective.value.is_none()) {
                self.push(
                    document,
                    &at,
                    "a thresholdMetric needs op and value in its objective",
                );
            }
            let slice = match (spec.budgeting_method, &objective.time_slice_window) {
                (BudgetingMethod::Occurrences, Some(_)) => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceWindow"),
                        "only with Timeslices or RatioTimeslices budgeting",
                    );
                    None
                }
                (BudgetingMethod::Occurrences, None) => None,
                (_, None) => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceWindow"),
                        format!(
                            "{:?} budgeting needs a timeSliceWindow",
                            spec.budgeting_method
                        ),
                    );
                    None
                }
                (_, Some(value)) => {
                    let parsed = match value {
                        // A bare number counts minutes.
                        Value::Number(n) => n
                            .as_i64()
                            .filter(|&m| m >= 1)
                            .and_then(|m| m.checked_mul(60))
                            .map(Span)
                            .ok_or_else(|| format!("{n}: a whole number of minutes, at least 1")),
                        Value::String(text) => rules::fixed_duration(text),
                        other => Err(format!(
                            "{other}: a duration (e.g. 5m) or a number of minutes"
                        )),
                    };
                    match parsed {
                        Ok(span) if span.seconds() % 60 == 0 => Some(span),
                        Ok(_) => {
                            self.push(
                                document,
                                &format!("{at}.timeSliceWindow"),
                                "must be a whole number of minutes (CloudWatch periods)",
                            );
                            None
                        }
                        Err(e) => {
                            self.push(document, &format!("{at}.timeSliceWindow"), e);
                            None
                        }
                    }
                }
            };
            let slice_target = match (spec.budgeting_method, objective.time_slice_target) {
                (BudgetingMethod::Timeslices, Some(t)) if t > 0.0 && t <= 1.0 => Some(t),
                (BudgetingMethod::Timeslices, Some(t)) => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceTarget"),
                        format!("{t}: must be in (0, 1]"),
                    );
                    None
                }
                (BudgetingMethod::Timeslices, None) if !is_threshold => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceTarget"),
                        "a ratio indicator with Timeslices needs a timeSliceTarget in (0, 1]",
                    );
                    None
                }
                (_, Some(_)) if spec.budgeting_method != BudgetingMethod::Timeslices => {
                    self.push(
                        document,
                        &format!("{at}.timeSliceTarget"),
                        "only with Timeslices budgeting",
                    );
                    None
                }
                _ => None,
            };
            objectives.push((objective, target, slice, slice_target));
        }
        let mut policies = Vec::new();
        if spec.alert_policies.is_empty() {
            for name in builtin_policies {
                if let Some(Some(policy)) = self.policies.get(name) {
                    policies.push(policy.clone());
                }
            }
        }
        for (i, value) in spec.alert_policies.iter().enumerate() {
            let policy = self.item(
                document,
                value,
                &format!("spec.alertPolicies[{i}]"),
                ("alertPolicyRef", Kind::AlertPolicy),
                |this, name| this.policies.get(name).cloned().flatten(),
                |spec: &AlertPolicySpec| spec.description.as_ref(),
                |this, metadata, spec, field| {
                    this.policy(document, metadata, spec, &format!("{field}.spec"))
                },
            );
            policies.extend(policy);
        }
        let name = document.metadata.name.clone();
        let not_evaluated = |reason: String, unevaluated: &mut Vec<Unevaluated>| {
            unevaluated.push(Unevaluated {
                slo: name.clone(),
                file: document.file.clone(),
                reason,
            });
        };
        if composite {
            if self.problems.len() > before {
                return;
            }
            let mut resolved = Vec::new();
            for sli in component_slis {
                match sli {
                    Ok(sli) => resolved.push(sli),
                    Err(Unusable::NotEvaluated(reason)) => {
                        return not_evaluated(reason, unevaluated);
                    }
                    Err(Unusable::Invalid) => return,
                }
            }
            let Some(window) = window else { return };
            self.composite(
                document,
                spec,
                &objectives,
                &resolved,
                window,
                policies,
                slos,
            );
            return;
        }
        let sli = match sli {
            Some(Ok(sli)) => sli,
            Some(Err(Unusable::NotEvaluated(reason))) => {
                if self.problems.len() == before {
                    not_evaluated(reason, unevaluated);
                }
                return;
            }
            _ => return,
        };
        let Some(window) = window else { return };
        self.budgeting_rules(
            document,
            &sli.indicator,
            objectives.first().and_then(|o| o.0.op),
            spec.budgeting_method,
            "spec.objectives[0]",
        );
        if self.problems.len() > before {
            return;
        }
        let several = objectives.len() > 1;
        let mut names = BTreeSet::new();
        for (i, (objective, target, slice, slice_target)) in objectives.into_iter().enumerate() {
            let Some(target) = target else { return };
            let measure = measure(&sli.indicator, objective);
            let objective_name = if several {
                format!("{name}-{}", objective_slug(objective, i))
            } else {
                name.clone()
            };
            if !names.insert(objective_name.clone()) {
                self.push(
                    document,
                    &format!("spec.objectives[{i}].displayName"),
                    format!("two objectives make the name {objective_name:?}"),
                );
                continue;
            }
            let display = document
                .metadata
                .display_name
                .clone()
                .unwrap_or_else(|| name.clone());
            slos.push(Slo {
                name: objective_name,
                display_name: match (several, &objective.display_name) {
                    (true, Some(o)) => format!("{display}: {o}"),
                    _ => display,
                },
                rationale: document.metadata.annotations.get("rationale").cloned(),
                file: document.file.clone(),
                indicator: measure,
                connection: sli.connection.clone(),
                policies: policies.clone(),
                window: window.clone(),
                budgeting: spec.budgeting_method,
                target,
                time_slice: slice.map(|s| (s, slice_target)),
                proxy_view: document.metadata.annotations.get(PROXY_VIEW).cloned(),
            });
        }
    }
    /// Rules between an objective's indicator and the budgeting method.
    pub(super) fn budgeting_rules(
        &mut self,
        document: &Document,
        indicator: &Indicator,
        op: Option<Op>,
        budgeting: BudgetingMethod,
        objective_at: &str,
    ) {
        if let Indicator::Threshold(_) = indicator
            && budgeting == BudgetingMethod::Occurrences
            && op.is_some_and(|op| op != Op::Lte)
        {
            self.push(
                document,
                &format!("{objective_at}.op"),
                "with Occurrences, good events are the values <= value (CloudWatch's TC(:value)); use op: lte",
            );
        }
        if let Indicator::Raw(..) = indicator
            && budgeting == BudgetingMethod::Occurrences
        {
            self.push(
                document,
                "spec.budgetingMethod",
                "a raw ratio has no events to count: use RatioTimeslices (the mean of the ratio per slice) or Timeslices",
            );
        }
    }

    /// A composite SLO (objectives with their own indicators, already resolved in
    /// `slis`) as one SLO whose components are its objectives.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn composite(
        &mut self,
        document: &Document,
        spec: &SloSpec,
        objectives: &[CheckedObjective<'_>],
        slis: &[ResolvedSli],
        window: Window,
        policies: Vec<Policy>,
        slos: &mut Vec<Slo>,
    ) {
        let before = self.problems.len();
        let mut names = BTreeSet::new();
        let mut components = Vec::new();
        let first_slice = objectives.first().and_then(|o| o.2);
        for (i, ((objective, target, slice, slice_target), sli)) in
            objectives.iter().zip(slis).enumerate()
        {
            let at = format!("spec.objectives[{i}]");
            self.budgeting_rules(
                document,
                &sli.indicator,
                objective.op,
                spec.budgeting_method,
                &at,
            );
            if sli.connection != slis[0].connection {
                self.push(
                    document,
                    &at,
                    "its indicator reads CloudWatch through another connection (region, role or account) than objective 0's: a composite is read through one",
                );
            }
            if *slice != first_slice {
                self.push(
                    document,
                    &format!("{at}.timeSliceWindow"),
                    "the objectives of a composite SLO are sliced alike: give each the same timeSliceWindow",
                );
            }
            let name = objective_slug(objective, i);
            if !names.insert(name.clone()) {
                self.push(
                    document,
                    &format!("{at}.displayName"),
                    format!("two objectives make the component name {name:?}"),
                );
            }
            let Some(target) = *target else { continue };
            components.push(Component {
                display_name: objective
                    .display_name
                    .clone()
                    .unwrap_or_else(|| name.clone()),
                name,
                indicator: measure(&sli.indicator, objective),
                target,
                slice_target: *slice_target,
                weight: objective.composite_weight.unwrap_or(1.0),
            });
        }
        if self.problems.len() > before || components.len() != objectives.len() {
            return;
        }
        #[allow(clippy::cast_precision_loss)]
        let mean_weight =
            components.iter().map(|c| c.weight).sum::<f64>() / components.len() as f64;
        for component in &mut components {
            component.weight /= mean_weight;
        }
        #[allow(clippy::cast_precision_loss)]
        let target =
            components.iter().map(|c| c.weight * c.target).sum::<f64>() / components.len() as f64;
        let name = document.metadata.name.clone();
        slos.push(Slo {
            display_name: document
                .metadata
                .display_name
                .clone()
                .unwrap_or_else(|| name.clone()),
            name,
            rationale: document.metadata.annotations.get("rationale").cloned(),
            file: document.file.clone(),
            indicator: Measure::Composite(components),
            connection: slis[0].connection.clone(),
            policies,
            window,
            budgeting: spec.budgeting_method,
            target,
            time_slice: first_slice.map(|slice| (slice, None)),
            proxy_view: document.metadata.annotations.get(PROXY_VIEW).cloned(),
        });
    }
}

/// What an indicator measures for one objective (its `op` and `value` for a threshold).
pub(super) fn measure(indicator: &Indicator, objective: &Objective) -> Measure {
    match indicator {
        Indicator::Ratio { good, bad, total } => Measure::Ratio {
            good: good.clone(),
            bad: bad.clone(),
            total: total.clone(),
        },
        Indicator::Threshold(metric) => Measure::Threshold {
            metric: metric.clone(),
            op: objective.op.unwrap_or(Op::Lte),
            value: objective.value.unwrap_or_default(),
        },
        Indicator::Raw(metric, kind) => Measure::Raw {
            metric: metric.clone(),
            kind: *kind,
        },
    }
}

/// An objective's name among its SLO's: its display name's slug, else its position from 1.
pub(super) fn objective_slug(objective: &Objective, i: usize) -> String {
    objective
        .display_name
        .as_deref()
        .map(slug)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| (i + 1).to_string())
}

/// An objective's display name as a name suffix: lowercase alphanumerics and single dashes.
pub(super) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// Checks between SLOs: edge SLOs and their proxy views, names unique once objectives are
/// expanded, policies whose alarm names would collide.
pub(super) fn cross_checks(slos: &[Slo], problems: &mut Vec<Problem>) {
    // An edge SLO and its proxy view are compared over the same window. A view that is not
    // loaded is not compared (a report on some spec files only); the project's specs are
    // checked whole by a test.
    for slo in slos {
        let Some(view) = &slo.proxy_view else {
            continue;
        };
        let problem = |message: String| Problem {
            file: slo.file.clone(),
            unreadable: false,
            field: format!("{}: metadata.annotations.{PROXY_VIEW}", slo.name),
            message,
        };
        match slos.iter().find(|other| other.name == *view) {
            None => {}
            Some(other) if other.name == slo.name => {
                problems.push(problem("an SLO cannot be its own proxy view".into()));
            }
            Some(other) if other.window != slo.window => problems.push(problem(format!(
                "{view} has another time window: the report compares the two over the same one"
            ))),
            Some(other)
                if std::mem::discriminant(&other.indicator)
                    != std::mem::discriminant(&slo.indicator) =>
            {
                problems.push(problem(format!(
                    "{view} measures another kind of indicator (ratio vs threshold)"
                )));
            }
            Some(_) => {}
        }
    }
    let mut names = BTreeMap::<&str, &Slo>::new();
    for slo in slos {
        if let Some(first) = names.insert(&slo.name, slo) {
            problems.push(Problem {
                unreadable: false,
                file: slo.file.clone(),
                field: format!("{}: metadata.name", slo.name),
                message: format!("another SLO has the same name ({})", first.file.display()),
            });
        }
    }
    for slo in slos {
        let mut lookbacks = BTreeMap::new();
        for policy in &slo.policies {
            let c = &policy.condition;
            for span in BTreeSet::from([c.lookback, c.short]) {
                if let Some(other) = lookbacks.insert((c.severity, span), &policy.name) {
                    problems.push(Problem {
                        unreadable: false,
                        file: slo.file.clone(),
                        field: format!("{}: spec.alertPolicies", slo.name),
                        message: format!(
                            "policies {other} and {} both look back {span} at {} severity: their alarms would have one name; give one another window",
                            policy.name, c.severity
                        ),
                    });
                }
            }
        }
    }
}
