//! `slo generate dashboard`: the service's CloudWatch dashboard body, from the SLO specs and the
//! telemetry catalogue.
//!
//! The body is a Terraform `templatefile()` template: `${region}`, `${partition}`,
//! `${account_id}`, `${name_prefix}` and `${runbook_base_url}` are filled in by `infra/`, and
//! `${metric_dimensions.NAME}` for the dimensions bound to Terraform
//! ([`crate::terraform`]); nothing else in the body uses `${`. Widgets, top to bottom: runbook links and the SLOs' alarm states; per SLO its SLI
//! against the target, the error budget left over the dashboard's time range, and its burn
//! rates against the page and ticket thresholds; request volume and error classes at the proxy
//! and the model server; latency p50/p90/p99 at the proxy, of the SageMaker call and inside the
//! container; decode, preprocess and inference latency; cold starts with their components.

use serde_json::{Value, json};
use telemetry::catalogue::{self, ErrorClass, Metric};

use crate::alarms::{self, GenerateError};
use crate::duration::{HOUR, Span};
use crate::math::Tier;
use crate::report::dimension_of;
use crate::spec::{BudgetingMethod, Measure, Slo};

const WIDTH: i64 = 24;
/// The period of the burn-rate widgets: the shortest lookback of the alert rules.
const BURN_RATE_PERIOD: Span = Span(300);

/// A metric line of a widget: our metric with the service's dimensions.
fn ours(metric: &Metric, scope: &str, extra: &[(&str, &str)], options: Value) -> Value {
    let [service_dim, scope_dim] = metric.service.base_dimensions();
    let mut line = vec![
        json!(catalogue::DEFAULT_NAMESPACE),
        json!(metric.name),
        json!(service_dim),
        json!(metric.service.name()),
        json!(scope_dim),
        json!(scope),
    ];
    for (k, v) in extra {
        line.push(json!(k));
        line.push(json!(v));
    }
    line.push(options);
    Value::Array(line)
}

fn sagemaker(metric: &catalogue::AwsMetric, endpoint: &str, options: Value) -> Value {
    json!([
        metric.namespace,
        metric.name,
        catalogue::DIM_ENDPOINT_NAME,
        endpoint,
        catalogue::DIM_VARIANT_NAME,
        catalogue::SAGEMAKER_VARIANT,
        options
    ])
}

fn api_gateway(metric: &catalogue::AwsMetric, api: &(String, String), options: Value) -> Value {
    json!([
        metric.namespace,
        metric.name,
        catalogue::DIM_API_ID,
        api.0,
        catalogue::DIM_STAGE,
        api.1,
        options
    ])
}

/// Metric lines of a widget reading `query` (spec query) with `id`, hidden.
fn spec_line(id: &str, query: &Value) -> Value {
    let metric = &query["metric"];
    let mut line = vec![metric["namespace"].clone(), metric["metric_name"].clone()];
    if let Some(dimensions) = metric["dimensions"].as_object() {
        for (k, v) in dimensions {
            line.push(json!(k));
            line.push(v.clone());
        }
    }
    let mut options = json!({ "id": id, "stat": metric["stat"], "visible": false });
    if let Some(account) = query.get("account_id") {
        options["accountId"] = account.clone();
    }
    line.push(options);
    Value::Array(line)
}

struct Layout {
    widgets: Vec<Value>,
    x: i64,
    y: i64,
    row_height: i64,
}

impl Layout {
    fn add(&mut self, width: i64, height: i64, kind: &str, properties: Value) {
        if self.x + width > WIDTH {
            self.x = 0;
            self.y += self.row_height;
            self.row_height = 0;
        }
        self.widgets.push(json!({
            "type": kind, "x": self.x, "y": self.y, "width": width, "height": height,
            "properties": properties,
        }));
        self.x += width;
        self.row_height = self.row_height.max(height);
    }

    fn metric(&mut self, width: i64, title: &str, metrics: Vec<Value>, extra: Value) {
        let mut properties = json!({
            "title": title, "region": "${region}", "view": "timeSeries", "stacked": false,
            "metrics": metrics,
        });
        if let (Some(target), Some(extra)) = (properties.as_object_mut(), extra.as_object()) {
            target.extend(extra.clone());
        }
        self.add(width, 6, "metric", properties);
    }
}

fn percentiles(metric: &Metric, scope: &str, label: &str) -> Vec<Value> {
    ["p50", "p90", "p99"]
        .into_iter()
        .map(|p| {
            ours(
                metric,
                scope,
                &[],
                json!({ "stat": p, "label": format!("{label} {p}") }),
            )
        })
        .collect()
}

/// The SLO rows: SLI vs target, budget left, burn rates vs thresholds.
fn slo_rows(layout: &mut Layout, slo: &Slo, plan: &alarms::SloAlarms) {
    let budget = slo.budget();
    let target_pct = (slo.target * 1e6).round() / 1e4;
    let timeslices = slo.budgeting == BudgetingMethod::Timeslices;
    // The SLI per hour (per slice for Timeslices) from the same queries the alarms use.
    let sli_period = match slo.time_slice {
        Some((slice, _)) if timeslices => slice,
        _ => HOUR,
    };
    // The alarms' metrics and the expressions between them (metric math of a source, a
    // composite's weighted events); also for an SLO without alarms (no policy applies).
    let (queries, filled_ratio) = alarms::ratio_queries(slo, HOUR);
    let lines: Vec<Value> = queries
        .iter()
        .map(|q| {
            let id = q["id"].as_str().unwrap_or("m");
            match q.get("expression") {
                None => spec_line(id, q),
                Some(expression) => {
                    json!([{ "expression": expression, "id": id, "visible": false }])
                }
            }
        })
        .collect();
    // A minute without errors publishes no error datapoint: FILL keeps the line unbroken (the
    // ratio still has a gap where there is no traffic at all).
    let ratio = match &slo.indicator {
        Measure::Ratio { bad: Some(_), .. } => "FILL(bad, 0) / total".to_owned(),
        Measure::Ratio { .. } | Measure::Threshold { .. } => {
            "(total - FILL(good, 0)) / total".to_owned()
        }
        // A stored ratio is read as it is; a composite's ratio is filled already.
        Measure::Raw { .. } | Measure::Composite(_) => filled_ratio,
    };
    let with = |extra: Vec<Value>| {
        let mut all = lines.clone();
        all.extend(extra);
        all
    };
    let sli = with(vec![json!([{ "expression": format!("100 * (1 - {ratio})"),
        "label": format!("{} % per {sli_period}", slo.display_name), "id": "sli" }])]);
    layout.metric(
        8,
        &format!("{}: SLI vs target {target_pct} %", slo.display_name),
        sli,
        json!({
            "period": sli_period.seconds(),
            "yAxis": { "left": { "max": 100 } },
            "annotations": { "horizontal": [{ "label": "target", "value": target_pct }] },
        }),
    );
    let left = with(vec![json!([{
        "expression": format!("100 * (1 - ({ratio}) / {})", alarms::tidy(budget)),
        "label": if timeslices { "budget left (as events; slices in the report)" } else { "budget left" },
        "id": "left" }])]);
    layout.add(
        8,
        6,
        "metric",
        json!({
            "title": format!("{}: error budget left over the time range, %", slo.display_name),
            "region": "${region}", "view": "singleValue", "setPeriodToTimeRange": true,
            "metrics": left,
        }),
    );
    if let (true, Some((slice, Some(slice_target)))) = (timeslices, slo.time_slice) {
        // A Timeslices budget is spent in bad slices: show what makes a slice bad.
        let threshold_pct = ((1.0 - slice_target) * 1e6).round() / 1e4;
        layout.metric(
            8,
            &format!(
                "{}: errors per {slice} slice vs the {threshold_pct} % that makes it bad",
                slo.display_name
            ),
            with(vec![json!([{ "expression": format!("100 * ({ratio})"),
                "label": "error % per slice", "id": "slice" }])]),
            json!({
                "period": slice.seconds(),
                "annotations": { "horizontal": [{ "label": "bad slice", "value": threshold_pct, "color": "#d62728" }] },
            }),
        );
        return;
    }
    let mut burn_lines = lines
        .iter()
        .map(|line| {
            let mut line = line.clone();
            // Metrics only: an expression has the period of what it reads.
            if let Some(options) = line
                .as_array_mut()
                .filter(|l| l.len() > 1)
                .and_then(|l| l.last_mut())
            {
                options["period"] = json!(BURN_RATE_PERIOD.seconds());
            }
            line
        })
        .collect::<Vec<_>>();
    burn_lines.push(json!([{
        "expression": format!("({ratio}) / {}", alarms::tidy(budget)),
        "label": "burn rate", "id": "burn" }]));
    let thresholds: Vec<Value> = plan
        .tiers
        .iter()
        .flat_map(|tier| {
            tier.rules.iter().map(move |(long, _)| {
                json!({
                    "label": format!("{} {}", alarms::tier_name(tier.tier), long.lookback),
                    "value": long.burn_threshold,
                    "color": if tier.tier == Tier::Page { "#d62728" } else { "#ff7f0e" },
                })
            })
        })
        .collect();
    layout.metric(
        8,
        &format!("{}: burn rate per 5 minutes vs alert thresholds", slo.display_name),
        burn_lines,
        json!({ "period": BURN_RATE_PERIOD.seconds(), "annotations": { "horizontal": thresholds } }),
    );
}

/// The dashboard body for `slos` (a `templatefile()` template, see the module docs).
pub fn body(slos: &[Slo]) -> Result<Value, GenerateError> {
    let endpoint = dimension_of(slos, catalogue::DIM_ENDPOINT).unwrap_or_default();
    // The HTTP API stage the edge SLOs read, if any does.
    let api =
        dimension_of(slos, catalogue::DIM_API_ID).zip(dimension_of(slos, catalogue::DIM_STAGE));
    let model = dimension_of(slos, catalogue::DIM_MODEL).unwrap_or_default();
    let plans = slos
        .iter()
        .map(alarms::plan)
        .collect::<Result<Vec<_>, _>>()?;
    let mut layout = Layout {
        widgets: Vec::new(),
        x: 0,
        y: 0,
        row_height: 0,
    };

    let mut links = vec![
        "# ML inference service".to_owned(),
        "SLOs, burn rates and the service's own metrics. Generated by `slo generate dashboard` from `slo/specs`. [All runbooks](${runbook_base_url}/README.md)".to_owned(),
        String::new(),
    ];
    for plan in &plans {
        let tiers: Vec<String> = plan
            .tiers
            .iter()
            .map(|t| {
                format!(
                    "[{}](${{runbook_base_url}}/{})",
                    alarms::tier_name(t.tier),
                    alarms::runbook_path(&plan.slo, t.tier)
                )
            })
            .collect();
        links.push(format!(
            "- **{}** (`{}`): runbook {}",
            plan.display_name,
            plan.slo,
            tiers.join(", ")
        ));
    }
    layout.add(12, 6, "text", json!({ "markdown": links.join("\n") }));
    let alarm_arns: Vec<String> = plans
        .iter()
        .flat_map(|p| p.tiers.iter())
        .map(|t| {
            format!(
                "arn:${{partition}}:cloudwatch:${{region}}:${{account_id}}:alarm:${{name_prefix}}-{}",
                t.name
            )
        })
        .collect();
    layout.add(
        12,
        6,
        "alarm",
        json!({ "title": "SLO alerts (page and ticket per SLO)", "alarms": alarm_arns, "sortBy": "stateUpdatedTimestamp", "states": [] }),
    );

    for (slo, plan) in slos.iter().zip(&plans) {
        slo_rows(&mut layout, slo, plan);
    }

    let sum = |label: &str| json!({ "stat": "Sum", "label": label });
    layout.metric(
        12,
        "Proxy: requests and outcomes per minute",
        vec![
            ours(&catalogue::REQUESTS, &endpoint, &[], sum("requests")),
            ours(
                &catalogue::SERVER_ERRORS,
                &endpoint,
                &[],
                sum("server errors (5xx)"),
            ),
            ours(
                &catalogue::CLIENT_ERRORS,
                &endpoint,
                &[],
                sum("client errors (4xx)"),
            ),
            ours(
                &catalogue::THROTTLES,
                &endpoint,
                &[],
                sum("throttled (503 busy)"),
            ),
        ],
        json!({ "period": 60 }),
    );
    if let Some(api) = &api {
        let hidden = |id: &str| json!({ "stat": "Sum", "id": id, "visible": false });
        layout.metric(
            12,
            "Edge (API Gateway) vs proxy: requests and failures per minute",
            vec![
                api_gateway(
                    &catalogue::API_GATEWAY_COUNT,
                    api,
                    sum("requests at the edge"),
                ),
                api_gateway(&catalogue::API_GATEWAY_5XX, api, hidden("edge5xx")),
                api_gateway(&catalogue::API_GATEWAY_4XX, api, hidden("edge4xx")),
                ours(&catalogue::SERVER_ERRORS, &endpoint, &[], hidden("proxy5xx")),
                ours(&catalogue::THROTTLES, &endpoint, &[], hidden("proxybusy")),
                ours(&catalogue::CLIENT_ERRORS, &endpoint, &[], hidden("proxy4xx")),
                json!([{ "expression": "FILL(edge5xx, 0)", "label": "5xx at the edge", "id": "e5" }]),
                // What the edge SLO charges that the proxy never answered: throttled, timed
                // out, crashed or failed to start (the proxy's own 5xx answers taken out).
                json!([{ "expression": "FILL(edge5xx, 0) - FILL(proxy5xx, 0) - FILL(proxybusy, 0)",
                    "label": "failures outside the proxy", "id": "outside" }]),
                json!([{ "expression": "FILL(edge4xx, 0) - FILL(proxy4xx, 0)",
                    "label": "API Gateway's own 4xx (429 throttles, unknown routes)", "id": "gw4xx" }]),
            ],
            json!({ "period": 60 }),
        );
        let mut edge_latency = Vec::new();
        for (metric, label) in [
            (&catalogue::API_GATEWAY_LATENCY, "edge"),
            (
                &catalogue::API_GATEWAY_INTEGRATION_LATENCY,
                "Lambda integration",
            ),
        ] {
            for p in ["p50", "p99"] {
                edge_latency.push(api_gateway(
                    metric,
                    api,
                    json!({ "stat": p, "label": format!("{label} {p}") }),
                ));
            }
        }
        for p in ["p50", "p99"] {
            edge_latency.push(ours(
                &catalogue::LATENCY,
                &endpoint,
                &[],
                json!({ "stat": p, "label": format!("proxy handler {p}") }),
            ));
        }
        layout.metric(
            12,
            "Latency at the edge, of the Lambda integration and in the proxy (ms)",
            edge_latency,
            json!({ "period": 60 }),
        );
    }
    let mut model_lines = vec![ours(
        &catalogue::INVOCATIONS,
        &model,
        &[],
        sum("invocations"),
    )];
    for class in [ErrorClass::Client, ErrorClass::Throttle, ErrorClass::Server] {
        model_lines.push(ours(
            &catalogue::INVOCATION_ERRORS,
            &model,
            &[(catalogue::DIM_ERROR_CLASS, class.name())],
            sum(&format!("{} errors", class.name())),
        ));
    }
    layout.metric(
        12,
        "Model server: invocations and errors by class per minute",
        model_lines,
        json!({ "period": 60 }),
    );

    let mut latency = percentiles(&catalogue::LATENCY, &endpoint, "proxy");
    latency.extend(percentiles(
        &catalogue::UPSTREAM_LATENCY,
        &endpoint,
        "SageMaker call",
    ));
    layout.metric(
        12,
        "Latency at the proxy and of the SageMaker call (ms)",
        latency,
        json!({ "period": 60 }),
    );
    let mut inside = Vec::new();
    for metric in [
        &catalogue::DECODE_LATENCY,
        &catalogue::PREPROCESS_LATENCY,
        &catalogue::INFERENCE_LATENCY,
    ] {
        for p in ["p50", "p99"] {
            inside.push(ours(
                metric,
                &model,
                &[],
                json!({ "stat": p, "label": format!("{} {p}", metric.name) }),
            ));
        }
    }
    for (i, p) in ["p50", "p90", "p99"].into_iter().enumerate() {
        inside.push(sagemaker(
            &catalogue::SAGEMAKER_MODEL_LATENCY,
            &endpoint,
            json!({ "stat": p, "id": format!("ml{i}"), "visible": false }),
        ));
        // SageMaker reports microseconds.
        inside.push(json!([{ "expression": format!("ml{i} / 1000"),
            "label": format!("container as SageMaker saw it {p}"), "id": format!("mlms{i}") }]));
    }
    layout.metric(
        12,
        "Inside the container: decode, preprocess, inference; whole call (ms)",
        inside,
        json!({ "period": 60 }),
    );

    layout.metric(
        8,
        "Cold starts per hour",
        vec![
            ours(
                &catalogue::COLD_START,
                &endpoint,
                &[],
                sum("proxy processes"),
            ),
            ours(
                &catalogue::MODEL_COLD_START,
                &model,
                &[],
                sum("model-server processes"),
            ),
            ours(
                &catalogue::LATENCY,
                &endpoint,
                &[(catalogue::DIM_START_TYPE, catalogue::START_COLD)],
                json!({ "stat": "SampleCount", "label": "cold requests" }),
            ),
        ],
        json!({ "period": HOUR.seconds() }),
    );
    let mut components = Vec::new();
    for (metric, scope, label) in [
        (
            &catalogue::COLD_START_LATENCY,
            &endpoint,
            "cold request, init included",
        ),
        (&catalogue::INIT_DURATION, &endpoint, "proxy InitDuration"),
        (&catalogue::MODEL_LOAD_TIME, &model, "ModelLoadTime"),
    ] {
        for p in ["p50", "p99"] {
            components.push(ours(
                metric,
                scope,
                &[],
                json!({ "stat": p, "label": format!("{label} {p}") }),
            ));
        }
    }
    for (i, p) in ["p50", "p99"].into_iter().enumerate() {
        components.push(sagemaker(
            &catalogue::SAGEMAKER_MODEL_SETUP_TIME,
            &endpoint,
            json!({ "stat": p, "id": format!("setup{i}"), "visible": false }),
        ));
        components.push(json!([{ "expression": format!("setup{i} / 1000"),
            "label": format!("SageMaker ModelSetupTime {p}"), "id": format!("setupms{i}") }]));
    }
    layout.metric(
        16,
        "Cold-start cost and its parts (ms)",
        components,
        json!({ "period": HOUR.seconds() }),
    );

    Ok(json!({
        "start": "-PT12H",
        "periodOverride": "inherit",
        "widgets": layout.widgets,
    }))
}
