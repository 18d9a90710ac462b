use super::objectives::slug;
use super::*;

/// Writes `files` (name, text) into a fresh directory and loads it.
fn load_files(files: &[(&str, &str)]) -> Result<Loaded, Vec<Problem>> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("slo-load-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let loaded = load_with(std::slice::from_ref(&dir), Options::default());
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

/// Documents of every kind, written from the specification's text: references across
/// two files, a YAML list of documents, inline and referenced policies, conditions and
/// targets, several objectives, a calendar window, RatioTimeslices over a raw ratio, a
/// Prometheus source and a composite SLO.
const SERVICE_AND_SOURCES: &str = "\
apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
  displayName: Checkout
spec:
  description: Takes the money.
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: cloudwatch-prod
spec:
  type: CloudWatch
  connectionDetails:
    region: eu-west-1
    accountId: \"123456789012\"
    roleArn: arn:aws:iam::123456789012:role/slo-reader
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prometheus
spec:
  type: Prometheus
  connectionDetails:
    url: http://prometheus:9090
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
  labels:
    team: payments
    tags: [money, user-facing]
spec:
  description: Checkout requests without a server error.
  ratioMetric:
    counter: true
    bad:
      metricSource:
        metricSourceRef: cloudwatch-prod
        spec:
          namespace: Shop
          metricName: Errors
          stat: Sum
          dimensions:
            - name: Service
              value: checkout
    total:
      metricSource:
        metricSourceRef: cloudwatch-prod
        type: CloudWatch
        spec:
          namespace: Shop
          metricName: Requests
          stat: Sum
          dimensions:
            - name: Service
              value: checkout
";

const ALERTING: &str = "\
- apiVersion: openslo/v1
  kind: AlertNotificationTarget
  metadata:
    name: on-call
  spec:
    description: The payments on-call rota.
    target: arn:aws:sns:eu-west-1:123456789012:payments-on-call
- apiVersion: openslo/v1
  kind: AlertCondition
  metadata:
    name: slow-burn
    annotations:
      openslo-cloudwatch/minEvents: \"50\"
  spec:
    description: Twice the sustainable rate for a day.
    severity: ticket
    condition:
      kind: burnrate
      op: gte
      threshold: 2
      lookbackWindow: 1d
      alertAfter: 0m
- apiVersion: openslo/v1
  kind: AlertPolicy
  metadata:
    name: fast-burn
  spec:
    alertWhenBreaching: true
    alertWhenResolved: false
    conditions:
      - kind: AlertCondition
        metadata:
          name: fast-burn-condition
          annotations:
            openslo-cloudwatch/thresholdWindow: 30d
        spec:
          severity: page
          condition:
            kind: burnrate
            threshold: 14.4
            lookbackWindow: 1h
            alertAfter: 0m
    notificationTargets:
      - targetRef: on-call
";

const SLOS: &str = "\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
spec:
  service: checkout
  indicatorRef: checkout-errors
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Most requests
      target: 0.99
    - displayName: Nearly all requests
      targetPercent: 99.9
  alertPolicies:
    - alertPolicyRef: fast-burn
    - kind: AlertPolicy
      metadata:
        name: slow-burn-policy
      spec:
        alertWhenBreaching: true
        alertWhenResolved: true
        alertWhenNoData: true
        conditions:
          - conditionRef: slow-burn
        notificationTargets:
          - kind: AlertNotificationTarget
            metadata:
              name: ticket-queue
            spec:
              target: ${aws_sns_topic.tickets.arn}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-latency
spec:
  service: checkout
  indicator:
    metadata:
      name: checkout-latency
    spec:
      thresholdMetric:
        metricSource:
          type: CloudWatch
          spec:
            region: us-east-1
            namespace: Shop
            metricName: Latency
            stat: p99
  timeWindow:
    - duration: 1M
      calendar:
        startTime: 2026-01-01 00:00:00
        timeZone: Europe/Paris
  budgetingMethod: Timeslices
  objectives:
    - op: lte
      value: 300
      target: 0.95
      timeSliceWindow: 5
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: stored-ratio
spec:
  service: checkout
  indicator:
    spec:
      ratioMetric:
        rawType: failure
        raw:
          metricSource:
            type: CloudWatch
            spec: { namespace: Shop, metricName: FailureRatio, stat: Average }
  timeWindow:
    - duration: 2w
      isRolling: true
  budgetingMethod: RatioTimeslices
  objectives:
    - target: 0.99
      timeSliceWindow: 1m
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: from-prometheus
spec:
  service: checkout
  indicator:
    spec:
      thresholdMetric:
        metricSource:
          metricSourceRef: prometheus
          spec:
            query: histogram_quantile(0.99, rate(latency_bucket[5m]))
  timeWindow:
    - duration: 7d
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - op: lt
      value: 0.3
      target: 0.99
      timeSliceWindow: 1m
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-composite
spec:
  service: checkout
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: availability
      target: 0.99
      indicatorRef: checkout-errors
      compositeWeight: 2
    - displayName: also availability
      target: 0.9
      indicatorRef: checkout-errors
";

fn valid() -> Loaded {
    load_files(&[
        ("a-sources.yaml", SERVICE_AND_SOURCES),
        ("b-alerting.yml", ALERTING),
        ("c-slos.yaml", SLOS),
    ])
    .unwrap()
}

#[test]
fn every_kind_of_the_specification_reads_and_references_resolve_across_files() {
    let loaded = valid();
    let names: Vec<&str> = loaded.slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "checkout-availability-most-requests",
            "checkout-availability-nearly-all-requests",
            "checkout-latency",
            "stored-ratio",
            "checkout-composite"
        ]
    );
    for kind in Kind::ALL {
        assert!(
            loaded.documents.get(&kind).is_some_and(|n| *n >= 1),
            "{kind}"
        );
    }
    let unevaluated: Vec<(&str, &str)> = loaded
        .unevaluated
        .iter()
        .map(|u| (u.slo.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(unevaluated.len(), 1, "{unevaluated:?}");
    assert!(unevaluated[0].0 == "from-prometheus" && unevaluated[0].1.contains("Prometheus"));

    let [most, nearly, latency, stored, composite] = loaded.slos.as_slice() else {
        unreachable!()
    };
    // A composite: one SLO whose components are its objectives, weights averaging 1.
    let Measure::Composite(components) = &composite.indicator else {
        panic!("{composite:?}")
    };
    let parts: Vec<(&str, f64, f64)> = components
        .iter()
        .map(|c| (c.name.as_str(), c.weight, c.target))
        .collect();
    assert_eq!(
        parts,
        [
            ("availability", 4.0 / 3.0, 0.99),
            ("also-availability", 2.0 / 3.0, 0.9)
        ]
    );
    assert!((composite.target - (4.0 / 3.0 * 0.99 + 2.0 / 3.0 * 0.9) / 2.0).abs() < 1e-12);
    assert_eq!(composite.connection, most.connection);
    assert_eq!(composite.policies.len(), 4);
    // Each objective is its own SLO with its own target; targetPercent is a percentage.
    assert_eq!(most.target, 0.99);
    assert!((nearly.target - 0.999).abs() < 1e-12);
    assert_eq!(most.display_name, "Checkout availability: Most requests");
    // The DataSource's connection, never printed.
    assert_eq!(most.connection.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        most.connection.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/slo-reader")
    );
    assert!(!format!("{most:?}").contains("slo-reader"));
    // The referenced policy and the inline one with its referenced condition.
    let policies: Vec<(&str, Severity, f64, Option<Span>, f64)> = most
        .policies
        .iter()
        .map(|p| {
            let c = &p.condition;
            (
                p.name.as_str(),
                c.severity,
                c.threshold,
                c.threshold_window,
                c.min_events,
            )
        })
        .collect();
    assert_eq!(
        policies,
        [
            (
                "fast-burn",
                Severity::Page,
                14.4,
                Some(Span(30 * 86_400)),
                10.0
            ),
            ("slow-burn-policy", Severity::Ticket, 2.0, None, 50.0),
        ]
    );
    let slow = &most.policies[1];
    assert_eq!(
        (slow.condition.op, slow.condition.short),
        (Op::Gte, Span(7_200))
    );
    assert!(slow.when_no_data && slow.when_resolved);
    assert_eq!(slow.targets[0].target, "${aws_sns_topic.tickets.arn}");
    assert_eq!(most.policies[0].targets[0].name, "on-call");
    // No alertPolicies: the four default ones.
    let defaults: Vec<&str> = latency.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        defaults,
        [
            "default-page-1h",
            "default-page-6h",
            "default-ticket-1d",
            "default-ticket-3d"
        ]
    );
    assert_eq!(latency.connection.region.as_deref(), Some("us-east-1"));
    assert!(matches!(latency.window, Window::Calendar { .. }));
    // A bare timeSliceWindow counts minutes.
    assert_eq!(latency.time_slice, Some((Span(300), None)));
    assert!(matches!(
        stored.indicator,
        Measure::Raw {
            kind: openslo::RawType::Failure,
            ..
        }
    ));
    assert_eq!(stored.budgeting, BudgetingMethod::RatioTimeslices);
}

/// Loads the valid documents with `from` replaced by `to` in the file `file`, and
/// returns the problems, which must name `field`.
fn refused(file: &str, from: &str, to: &str) -> Vec<Problem> {
    let mut files = [
        ("a-sources.yaml", SERVICE_AND_SOURCES.to_owned()),
        ("b-alerting.yml", ALERTING.to_owned()),
        ("c-slos.yaml", SLOS.to_owned()),
    ];
    let target = files.iter_mut().find(|(name, _)| *name == file).unwrap();
    assert!(target.1.contains(from), "{from}");
    target.1 = target.1.replacen(from, to, 1);
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    load_files(&files).unwrap_err()
}

#[track_caller]
fn names(problems: &[Problem], field: &str, message: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.field == field && p.message.contains(message) && !p.unreadable),
        "no problem at {field:?} saying {message:?} in {problems:#?}"
    );
}

#[test]
fn the_specifications_general_rules_are_refused_with_the_field_named() {
    let slos = "c-slos.yaml";
    names(
        &refused(
            slos,
            "apiVersion: openslo/v1\nkind: SLO",
            "apiVersion: openslo/v2\nkind: SLO",
        ),
        "checkout-availability: apiVersion",
        "expected openslo/v1",
    );
    names(
        &refused(slos, "kind: SLO", "kind: Slo"),
        "checkout-availability: kind",
        "expected one of SLO, SLI, DataSource",
    );
    names(
        &refused(
            slos,
            "name: checkout-latency\nspec",
            "name: Checkout_Latency\nspec",
        ),
        "Checkout_Latency: metadata.name",
        "RFC 1123",
    );
    let long = "x".repeat(64);
    names(
        &refused(slos, "name: stored-ratio", &format!("name: {long}")),
        &format!("{long}: metadata.name"),
        "at most 63",
    );
    names(
        &refused("a-sources.yaml", "team: payments", "-team: payments"),
        "checkout-errors: metadata.labels",
        "starts and ends",
    );
    names(
        &refused(
            "b-alerting.yml",
            "openslo-cloudwatch/minEvents",
            "Bad_Prefix.com/minEvents",
        ),
        "slow-burn: metadata.annotations",
        "DNS subdomain",
    );
    names(
        &refused(
            "a-sources.yaml",
            "description: Takes the money.",
            &format!("description: {}", "x".repeat(1051)),
        ),
        "checkout: spec.description",
        "at most 1050",
    );
    names(
        &refused(
            slos,
            "    - displayName: Most requests\n      target: 0.99",
            "    - displayName: Most requests\n      target: 0.99\n      targetPercent: 99",
        ),
        "checkout-availability: spec.objectives[0]",
        "not both",
    );
    names(
        &refused(slos, "targetPercent: 99.9", "targetPercent: 100"),
        "checkout-availability: spec.objectives[1].targetPercent",
        "[0, 100)",
    );
    names(
        &refused(
            slos,
            "startTime: 2026-01-01 00:00:00",
            "startTime: 2026-13-01 00:00:00",
        ),
        "checkout-latency: spec.timeWindow[0].calendar.startTime",
        "YYYY-MM-DD HH:MM:SS",
    );
    names(
        &refused(slos, "timeZone: Europe/Paris", "timeZone: Europe/Pariss"),
        "checkout-latency: spec.timeWindow[0].calendar.timeZone",
        "IANA",
    );
    names(
        &refused(
            slos,
            "    - duration: 2w\n      isRolling: true",
            "    - duration: 2W\n      isRolling: true",
        ),
        "stored-ratio: spec.timeWindow[0].duration",
        "case-sensitive",
    );
    names(
        &refused(
            slos,
            "    - duration: 4w\n      isRolling: true",
            "    - duration: 1M\n      isRolling: true",
        ),
        "checkout-availability: spec.timeWindow[0].duration",
        "no fixed length",
    );
}

#[test]
fn required_and_mutually_exclusive_fields_are_refused_with_the_field_named() {
    let alerting = "b-alerting.yml";
    names(
        &refused(alerting, "    severity: ticket\n", ""),
        "slow-burn: spec",
        "missing field `severity`",
    );
    names(
        &refused(alerting, "lookbackWindow: 1d", "lookbackWindow: 1H"),
        "slow-burn: spec.condition.lookbackWindow",
        "case-sensitive",
    );
    names(
        &refused(
            alerting,
            "      kind: burnrate\n      op: gte",
            "      kind: budget\n      op: gte",
        ),
        "slow-burn: spec.condition.kind",
        "burnrate",
    );
    names(
        &refused(alerting, "severity: ticket", "severity: sev1"),
        "slow-burn: spec.severity",
        "page",
    );
    names(
        &refused(
            alerting,
            "openslo-cloudwatch/minEvents: \"50\"",
            "openslo-cloudwatch/minEvent: \"50\"",
        ),
        "slow-burn: metadata.annotations.openslo-cloudwatch/minEvent",
        "shortWindow, thresholdWindow and minEvents",
    );
    names(
        &refused(
            alerting,
            "    notificationTargets:\n      - targetRef: on-call\n",
            "",
        ),
        "fast-burn: spec.notificationTargets",
        "required",
    );
    let slos = "c-slos.yaml";
    names(
        &refused(
            slos,
            "          - conditionRef: slow-burn\n",
            "          - conditionRef: slow-burn\n          - conditionRef: slow-burn\n",
        ),
        "checkout-availability: spec.alertPolicies[1].spec.conditions",
        "allows one per policy",
    );
    names(
        &refused(slos, "      value: 300\n", ""),
        "checkout-latency: spec.objectives[0]",
        "needs op and value",
    );
    names(
        &refused(
            slos,
            "    - displayName: Most requests\n      target: 0.99",
            "    - displayName: Most requests\n      target: 0.99\n      op: gt",
        ),
        "checkout-availability: spec.objectives[0]",
        "thresholdMetric indicators only",
    );
    names(
        &refused(
            slos,
            "      targetPercent: 99.9",
            "      targetPercent: 99.9\n      timeSliceTarget: 0.9",
        ),
        "checkout-availability: spec.objectives[1].timeSliceTarget",
        "only with Timeslices",
    );
    names(
        &refused(slos, "      timeSliceWindow: 5\n", ""),
        "checkout-latency: spec.objectives[0].timeSliceWindow",
        "needs a timeSliceWindow",
    );
    names(
        &refused(slos, "        rawType: failure\n", ""),
        "stored-ratio: spec.indicator.spec.ratioMetric.rawType",
        "required with raw",
    );
    names(
        &refused(
            "a-sources.yaml",
            "    total:\n      metricSource:\n        metricSourceRef: cloudwatch-prod\n        type: CloudWatch",
            "    good:\n      metricSource:\n        metricSourceRef: cloudwatch-prod\n        type: CloudWatch",
        ),
        "checkout-errors: spec.ratioMetric",
        "exactly one of good and bad",
    );
    names(
        &refused(
            slos,
            "  indicatorRef: checkout-errors\n  timeWindow:\n    - duration: 4w",
            "  timeWindow:\n    - duration: 4w",
        ),
        "checkout-availability: spec",
        "indicator or indicatorRef is required",
    );
    // Keys in a spec file are refused without their value appearing anywhere.
    let problems = refused(
        "a-sources.yaml",
        "    roleArn: arn:aws:iam::123456789012:role/slo-reader",
        "    secretAccessKey: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    );
    names(
        &problems,
        "cloudwatch-prod: spec.connectionDetails.secretAccessKey",
        "do not belong in spec files",
    );
    assert!(!format!("{problems:?}").contains("EXAMPLEKEY"));
}

#[test]
fn a_missing_duplicate_or_wrong_kind_reference_names_both_ends() {
    let slos = "c-slos.yaml";
    names(
        &refused(
            slos,
            "indicatorRef: checkout-errors\n  timeWindow:\n    - duration: 4w",
            "indicatorRef: checkout-errorz\n  timeWindow:\n    - duration: 4w",
        ),
        "checkout-availability: spec.indicatorRef",
        "\"checkout-errorz\": no SLI of that name",
    );
    names(
        &refused(
            slos,
            "indicatorRef: checkout-errors\n  timeWindow:\n    - duration: 4w",
            "indicatorRef: prometheus\n  timeWindow:\n    - duration: 4w",
        ),
        "checkout-availability: spec.indicatorRef",
        "\"prometheus\" is a DataSource (",
    );
    names(
        &refused(slos, "alertPolicyRef: fast-burn", "alertPolicyRef: on-call"),
        "checkout-availability: spec.alertPolicies[0].alertPolicyRef",
        "is a AlertNotificationTarget",
    );
    names(
        &refused(
            slos,
            "conditionRef: slow-burn",
            "conditionRef: slow-burning",
        ),
        "checkout-availability: spec.alertPolicies[1].spec.conditions[0].conditionRef",
        "no AlertCondition of that name",
    );
    names(
        &refused("b-alerting.yml", "targetRef: on-call", "targetRef: on-cal"),
        "fast-burn: spec.notificationTargets[0].targetRef",
        "no AlertNotificationTarget of that name",
    );
    names(
        &refused(
            "a-sources.yaml",
            "metricSourceRef: cloudwatch-prod\n        spec:",
            "metricSourceRef: cloudwatch-dev\n        spec:",
        ),
        "checkout-errors: spec.ratioMetric.bad.metricSource.metricSourceRef",
        "no DataSource of that name",
    );
    names(
        &refused(
            "a-sources.yaml",
            "        metricSourceRef: cloudwatch-prod\n        type: CloudWatch",
            "        metricSourceRef: cloudwatch-prod\n        type: Datadog",
        ),
        "checkout-errors: spec.ratioMetric.total.metricSource.type",
        "but the DataSource \"cloudwatch-prod\" is \"CloudWatch\"",
    );
    names(
        &refused(
            slos,
            "  service: checkout\n  indicatorRef",
            "  service: checkout-v2\n  indicatorRef",
        ),
        "checkout-availability: spec.service",
        "no Service of that name in the files given (they define checkout)",
    );
    // A second SLI of the same name, in another file.
    let mut files = vec![
        ("a-sources.yaml", SERVICE_AND_SOURCES.to_owned()),
        ("b-alerting.yml", ALERTING.to_owned()),
        ("c-slos.yaml", SLOS.to_owned()),
    ];
    let sli = SERVICE_AND_SOURCES
        .split("---\n")
        .nth(3)
        .unwrap()
        .to_owned();
    files.push(("d-copy.yaml", sli));
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let problems = load_files(&files).unwrap_err();
    let duplicate = problems
        .iter()
        .find(|p| p.field == "checkout-errors: metadata.name")
        .unwrap();
    assert!(duplicate.file.ends_with("d-copy.yaml"), "{duplicate:?}");
    assert!(
        duplicate
            .message
            .contains("another SLI is named \"checkout-errors\" (")
            && duplicate.message.contains("a-sources.yaml"),
        "{duplicate:?}"
    );
}

#[test]
fn a_composite_slos_indicators_are_checked_and_a_refused_document_is_reported_once() {
    names(
        &refused(
            "c-slos.yaml",
            "      indicatorRef: checkout-errors\n      compositeWeight: 2",
            "      indicatorRef: checkout-errorz\n      compositeWeight: 2",
        ),
        "checkout-composite: spec.objectives[0].indicatorRef",
        "no SLI of that name",
    );
    // A policy refused for its shape is not also reported missing where it is referenced.
    let problems = refused(
        "b-alerting.yml",
        "    alertWhenResolved: false\n",
        "    alertWhenResolvd: false\n",
    );
    names(
        &problems,
        "fast-burn: spec.alertWhenResolvd",
        "unknown field",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
}

#[test]
fn a_composite_is_refused_where_its_objectives_cannot_be_weighed_together() {
    let slos = "c-slos.yaml";
    let first = "      indicatorRef: checkout-errors\n      compositeWeight: 2";
    names(
        &refused(
            slos,
            first,
            &format!("{first}\n      op: lte\n      value: 1"),
        ),
        "checkout-composite: spec.objectives[0]",
        "op and value are for thresholdMetric indicators only",
    );
    names(
        &refused(
            slos,
            "displayName: also availability",
            "displayName: Availability",
        ),
        "checkout-composite: spec.objectives[1].displayName",
        "two objectives make the component name \"availability\"",
    );
    names(
        &refused(slos, "compositeWeight: 2", "compositeWeight: 0"),
        "checkout-composite: spec.objectives[0].compositeWeight",
        "a weight above 0",
    );
    // The second objective's inline indicator reads the default connection, the first
    // the DataSource's account.
    let other_account = "      indicator:
        spec:
          ratioMetric:
            counter: true
            bad:
              metricSource:
                type: CloudWatch
                spec: {namespace: Shop, metricName: Errors, stat: Sum}
            total:
              metricSource:
                type: CloudWatch
                spec: {namespace: Shop, metricName: Requests, stat: Sum}";
    let second = "      target: 0.9\n      indicatorRef: checkout-errors";
    names(
        &refused(slos, second, &format!("      target: 0.9\n{other_account}")),
        "checkout-composite: spec.objectives[1]",
        "another connection",
    );
    let objectives = "  budgetingMethod: Occurrences
  objectives:
    - displayName: availability
      target: 0.99
      indicatorRef: checkout-errors
      compositeWeight: 2
    - displayName: also availability
      target: 0.9
      indicatorRef: checkout-errors
";
    let sliced = objectives.replace("Occurrences", "Timeslices").replace(
        "compositeWeight: 2\n",
        "compositeWeight: 2\n      timeSliceWindow: 1m\n      timeSliceTarget: 0.9\n",
    ) + "      timeSliceWindow: 5m\n      timeSliceTarget: 0.9\n";
    names(
        &refused(slos, objectives, &sliced),
        "checkout-composite: spec.objectives[1].timeSliceWindow",
        "sliced alike",
    );
}

#[test]
fn a_count_given_as_metric_math_reads_exactly_the_metrics_it_names() {
    let bad = "        spec:
          namespace: Shop
          metricName: Errors
          stat: Sum
          dimensions:
            - name: Service
              value: checkout
";
    let math = |expression: &str, ids: [&str; 2], stat: &str| {
        format!(
            "        spec:
          expression: {expression}
          metrics:
            - {{id: {}, namespace: Shop, metricName: Errors, stat: Sum}}
            - {{id: {}, namespace: Shop, metricName: Throttles, stat: {stat}}}
",
            ids[0], ids[1]
        )
    };
    let sources = [
        (
            "a-sources.yaml",
            SERVICE_AND_SOURCES.replacen(
                bad,
                &math(
                    "FILL(errors, 0) - FILL(throttles, 0)",
                    ["errors", "throttles"],
                    "Sum",
                ),
                1,
            ),
        ),
        ("b-alerting.yml", ALERTING.to_owned()),
        ("c-slos.yaml", SLOS.to_owned()),
    ];
    let files: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let loaded = load_files(&files).unwrap();
    let most = &loaded.slos[0];
    let Measure::Ratio {
        bad: Some(bad_query),
        ..
    } = &most.indicator
    else {
        panic!("{most:?}")
    };
    let expression = bad_query.math.as_ref().unwrap();
    assert_eq!(
        expression.expression,
        "FILL(errors, 0) - FILL(throttles, 0)"
    );
    assert_eq!(expression.metrics[1].1.metric, "Throttles");
    // Still the DataSource's connection.
    assert_eq!(most.connection.region.as_deref(), Some("eu-west-1"));

    let at = "checkout-errors: spec.ratioMetric.bad.metricSource.spec";
    let refused = |replacement: String| refused("a-sources.yaml", bad, &replacement);
    names(
        &refused(math("errors - throtles", ["errors", "throttles"], "Sum")),
        &format!("{at}.expression"),
        "reads \"throtles\", which no metric is",
    );
    names(
        &refused(math("errors - throtles", ["errors", "throttles"], "Sum")),
        &format!("{at}.metrics[1].id"),
        "the expression does not read it",
    );
    names(
        &refused(math(
            "errors - FILL(throttles, 0)",
            ["errors", "throttles"],
            "Sum",
        )),
        &format!("{at}.expression"),
        "\"errors\" is outside FILL",
    );
    // Metrics read without their ids (METRICS()) count as read.
    let unnamed = SERVICE_AND_SOURCES.replacen(
        bad,
        &math("SUM(METRICS())", ["errors", "throttles"], "Sum"),
        1,
    );
    load_files(&[
        ("a-sources.yaml", &unnamed),
        ("b-alerting.yml", ALERTING),
        ("c-slos.yaml", SLOS),
    ])
    .unwrap();
    names(
        &refused(math("errors - errors", ["errors", "errors"], "Sum")),
        &format!("{at}.metrics[1].id"),
        "the id of another metric",
    );
    names(
        &refused(math("Errors - t", ["Errors", "t"], "Sum")),
        &format!("{at}.metrics[0].id"),
        "start with a lowercase letter",
    );
    names(
        &refused(math(
            "FILL(errors, 0) - FILL(throttles, 0)",
            ["errors", "throttles"],
            "p99",
        )),
        &format!("{at}.metrics[1].stat"),
        "events must be counted",
    );
    names(
        &refused(
            math("errors - throttles", ["errors", "throttles"], "Sum")
                .replace("          metrics:", "          metrcs:"),
        ),
        &format!("{at}.metrcs"),
        "unknown field `metrcs`, expected one of `region`, `accountId`, `expression`, `metrics`",
    );
}

#[test]
fn a_document_replaces_the_built_in_default_policy_of_the_same_name() {
    let replaced = policy::DEFAULT_DOCUMENTS
        .split("\n---\n")
        .find(|doc| doc.contains("name: default-page-1h"))
        .unwrap()
        .replace("threshold: 14.4", "threshold: 20");
    let loaded = load_files(&[
        ("a-sources.yaml", SERVICE_AND_SOURCES),
        ("b-alerting.yml", ALERTING),
        ("c-slos.yaml", SLOS),
        ("d-policy.yaml", &replaced),
    ])
    .unwrap();
    let latency = loaded
        .slos
        .iter()
        .find(|s| s.name == "checkout-latency")
        .unwrap();
    assert_eq!(latency.policies[0].name, "default-page-1h");
    assert_eq!(latency.policies[0].condition.threshold, 20.0);
    assert_eq!(latency.policies.len(), 4);
}

#[test]
fn objective_names_become_name_suffixes() {
    assert_eq!(slug("Fast answers (p99 < 1 s)"), "fast-answers-p99-1-s");
    assert_eq!(slug("--"), "");
}
