//! `infra/`, `dashboards/` and `runbooks/` checked against the code: the generated files are
//! current, every alarm links a runbook that exists, every metric an alarm or the dashboard
//! reads is in the telemetry catalogue with the same namespace and dimensions, Terraform names
//! what the specs measure, and no IAM statement grants more than it must. `terraform validate`
//! needs provider downloads, so these read the HCL itself (`hcl-rs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;
use telemetry::catalogue;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every top-level block of `infra/*.tf` and `infra/*.tf.json`, merged: `resource` → type →
/// name → body, and the same for `data`, `variable`, ...
fn terraform() -> BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>> {
    let mut merged: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>> = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("infra"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".tf") || name.ends_with(".tf.json")
        })
        .collect();
    files.sort();
    assert!(files.len() > 5, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let document: Value = if file.to_string_lossy().ends_with(".json") {
            serde_json::from_str(&text).unwrap()
        } else {
            hcl::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        };
        for (kind, blocks) in document.as_object().unwrap() {
            if matches!(kind.as_str(), "//" | "terraform" | "provider" | "locals") {
                continue;
            }
            for (type_or_name, body) in blocks.as_object().unwrap() {
                let entry = merged
                    .entry(kind.clone())
                    .or_default()
                    .entry(type_or_name.clone())
                    .or_default();
                match kind.as_str() {
                    "resource" | "data" => {
                        for (name, body) in body.as_object().unwrap() {
                            assert!(
                                entry.insert(name.clone(), body.clone()).is_none(),
                                "{kind} {type_or_name}.{name} twice"
                            );
                        }
                    }
                    _ => {
                        entry.insert(String::new(), body.clone());
                    }
                }
            }
        }
    }
    merged
}

/// A nested block that may appear once (an object) or several times (an array).
fn blocks(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn strings(value: &Value) -> Vec<String> {
    blocks(value)
        .into_iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn generated(what: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slo"))
        .args(["generate", what, "--spec"])
        .arg(project_specs())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_committed_alarms_and_dashboard_are_what_the_specs_generate() {
    for (what, path, command) in [
        (
            "alarms",
            "infra/slo_alarms.tf.json",
            "cargo run -p slo -- generate alarms --out infra/slo_alarms.tf.json",
        ),
        (
            "dashboard",
            "dashboards/service.json",
            "cargo run -p slo -- generate dashboard --out dashboards/service.json",
        ),
    ] {
        let committed = std::fs::read_to_string(root().join(path)).unwrap_or_default();
        assert!(
            committed == generated(what),
            "{path} is stale: run `{command}`"
        );
    }
}

/// GitHub's anchor for a Markdown heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn alarms() -> Vec<(String, Value)> {
    let tf = terraform();
    let mut all = Vec::new();
    for kind in [
        "aws_cloudwatch_metric_alarm",
        "aws_cloudwatch_composite_alarm",
    ] {
        for (name, body) in tf["resource"].get(kind).cloned().unwrap_or_default() {
            all.push((format!("{kind}.{name}"), body));
        }
    }
    all
}

#[test]
fn every_alarm_links_a_runbook_that_exists_and_the_index_lists_it() {
    let index = std::fs::read_to_string(root().join("runbooks/README.md")).unwrap();
    let alarms = alarms();
    // 5 SLOs × (6 windows + 2 tiers), plus the operational alarms.
    assert!(alarms.len() >= 43, "{}", alarms.len());
    let mut notifying = BTreeSet::new();
    for (name, body) in &alarms {
        let description = body["alarm_description"].as_str().unwrap();
        let link = description
            .split("Runbook: ${var.runbook_base_url}/")
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: no runbook link in {description:?}"));
        let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
        let text = std::fs::read_to_string(root().join("runbooks").join(file))
            .unwrap_or_else(|_| panic!("{name}: runbooks/{file} does not exist"));
        if !anchor.is_empty() {
            assert!(
                text.lines()
                    .filter_map(|l| l.strip_prefix("## "))
                    .any(|h| slug(h) == anchor),
                "{name}: runbooks/{file} has no section #{anchor}"
            );
        }
        if body["alarm_actions"].is_array() {
            notifying.insert(name.clone());
            let alarm_name = body["alarm_name"]
                .as_str()
                .unwrap()
                .trim_start_matches("${var.name_prefix}-");
            assert!(
                index.contains(&format!("`{alarm_name}`")),
                "runbooks/README.md does not list {alarm_name}"
            );
            assert!(index.contains(&format!("({link})")), "{link}");
        } else {
            assert_eq!(
                body["actions_enabled"], false,
                "{name} neither notifies nor is silenced"
            );
        }
    }
    assert_eq!(notifying.len(), 10 + 3, "{notifying:?}");
}

/// (namespace, metric, dimension names) of every metric an alarm or the dashboard reads.
fn metrics_read() -> Vec<(String, String, String, BTreeSet<String>)> {
    let mut read = Vec::new();
    for (name, body) in alarms() {
        if let Some(metric) = body.get("metric_name") {
            let dims = body["dimensions"]
                .as_object()
                .map(|d| d.keys().cloned().collect())
                .unwrap_or_default();
            read.push((
                name.clone(),
                body["namespace"].as_str().unwrap().to_owned(),
                metric.as_str().unwrap().to_owned(),
                dims,
            ));
        }
        for query in blocks(&body["metric_query"]) {
            for metric in blocks(&query["metric"]) {
                read.push((
                    name.clone(),
                    metric["namespace"].as_str().unwrap().to_owned(),
                    metric["metric_name"].as_str().unwrap().to_owned(),
                    metric["dimensions"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .cloned()
                        .collect(),
                ));
            }
        }
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/service.json")).unwrap(),
    )
    .unwrap();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for line in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let line = line.as_array().unwrap();
            let Some(namespace) = line[0].as_str() else {
                continue; // an expression
            };
            let names: Vec<&str> = line.iter().filter_map(Value::as_str).collect();
            let dims = names[2..].chunks(2).map(|kv| kv[0].to_owned()).collect();
            read.push((
                format!("dashboard {}", widget["properties"]["title"]),
                namespace.to_owned(),
                names[1].to_owned(),
                dims,
            ));
        }
    }
    read
}

#[test]
fn every_metric_alarms_and_the_dashboard_read_is_in_the_catalogue() {
    let read = metrics_read();
    assert!(read.len() > 60, "{}", read.len());
    for (reader, namespace, metric, dims) in read {
        let ours = catalogue::ALL.iter().filter(|m| m.name == metric).any(|m| {
            namespace == catalogue::DEFAULT_NAMESPACE
                && m.dimension_sets()
                    .iter()
                    .any(|set| set.iter().map(|d| (*d).to_owned()).collect::<BTreeSet<_>>() == dims)
        });
        let aws = catalogue::AWS_METRICS.iter().any(|m| {
            m.namespace == namespace
                && m.name == metric
                && m.dimensions
                    .iter()
                    .map(|d| (*d).to_owned())
                    .collect::<BTreeSet<_>>()
                    == dims
        });
        assert!(
            ours || aws,
            "{reader}: {namespace}/{metric} with {dims:?} is not in the telemetry catalogue"
        );
    }
}

#[test]
fn generated_alarms_stay_within_cloudwatch_limits() {
    for (name, body) in alarms() {
        let Some(queries) = body.get("metric_query") else {
            continue;
        };
        let queries = blocks(queries);
        let metrics: Vec<&Value> = queries.iter().flat_map(|q| blocks(&q["metric"])).collect();
        assert!(metrics.len() <= 10, "{name}: {} metrics", metrics.len());
        let returned = queries.iter().filter(|q| q["return_data"] == true).count();
        assert_eq!(
            returned, 1,
            "{name}: one query must return the compared value"
        );
        let evaluation = body["evaluation_periods"].as_i64().unwrap();
        for metric in metrics {
            let period = metric["period"].as_i64().unwrap();
            assert!(
                matches!(period, 10 | 20 | 30) || period % 60 == 0,
                "{name}: period {period}"
            );
            let limit = if period < 3600 { 86_400 } else { 7 * 86_400 };
            assert!(
                period * evaluation <= limit,
                "{name}: {period} s × {evaluation} over {limit} s"
            );
        }
        assert!(body["datapoints_to_alarm"].as_i64().unwrap() <= evaluation);
        assert_eq!(body["treat_missing_data"], "notBreaching", "{name}");
    }
    // Composite rules name alarms that exist.
    let names: BTreeSet<String> = alarms().into_iter().map(|(n, _)| n).collect();
    for (name, body) in alarms() {
        let Some(rule) = body["alarm_rule"].as_str() else {
            continue;
        };
        for reference in rule.split("${").skip(1) {
            let resource = reference.split(".alarm_name}").next().unwrap();
            assert!(names.contains(resource), "{name} refers to {resource}");
        }
    }
}

#[test]
fn terraform_names_what_the_specs_and_the_catalogue_measure() {
    let tf = terraform();
    let default = |name: &str| tf["variable"][name][""]["default"].clone();
    let slos = slo::spec::load(&[project_specs()]).unwrap();
    let dimension = |name: &str| {
        slos.iter()
            .flat_map(|s| match &s.indicator {
                slo::spec::Measure::Ratio { good, bad, total } => {
                    [good.clone(), bad.clone(), Some(total.clone())]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                }
                slo::spec::Measure::Threshold { metric, .. } => vec![metric.clone()],
            })
            .flat_map(|q| q.dimensions)
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        dimension(catalogue::DIM_ENDPOINT),
        BTreeSet::from([default("endpoint_name").as_str().unwrap().to_owned()])
    );
    assert_eq!(
        dimension(catalogue::DIM_MODEL),
        BTreeSet::from([default("model_name").as_str().unwrap().to_owned()])
    );
    let resources = &tf["resource"];
    let config = &resources["aws_sagemaker_endpoint_configuration"]["serverless"];
    assert_eq!(
        blocks(&config["production_variants"])[0]["variant_name"],
        catalogue::SAGEMAKER_VARIANT
    );
    let container = blocks(&resources["aws_sagemaker_model"]["model"]["primary_container"])[0];
    assert_eq!(container["environment"]["MODEL_NAME"], "${var.model_name}");
    assert_eq!(
        container["environment"]["METRICS_NAMESPACE"],
        catalogue::DEFAULT_NAMESPACE
    );
    let lambda = &resources["aws_lambda_function"]["proxy"];
    let env = &blocks(&lambda["environment"])[0]["variables"];
    assert_eq!(
        env["METRICS_NAMESPACE"],
        catalogue::DEFAULT_NAMESPACE,
        "{env}"
    );
    assert_eq!(
        env["SAGEMAKER_ENDPOINT_NAME"],
        "${aws_sagemaker_endpoint.model.name}"
    );
    assert_eq!(
        resources["aws_sagemaker_endpoint"]["model"]["name"],
        "${var.endpoint_name}"
    );
    assert_eq!(lambda["runtime"], "provided.al2023");
    assert_eq!(strings(&lambda["architectures"]), ["arm64"]);
    assert_eq!(blocks(&lambda["tracing_config"])[0]["mode"], "Active");
    for name in ["model", "serverless"] {
        let kind = if name == "model" {
            "aws_sagemaker_model"
        } else {
            "aws_sagemaker_endpoint_configuration"
        };
        let body = &resources[kind][name];
        assert!(
            body["name"]
                .as_str()
                .unwrap()
                .contains("${var.model_version}"),
            "{kind} is named by model_version"
        );
        assert_eq!(
            blocks(&body["lifecycle"])[0]["create_before_destroy"],
            true,
            "{kind}"
        );
    }
}

#[test]
fn iam_grants_no_wildcard_actions_and_wildcard_resources_only_where_aws_allows_no_other() {
    let tf = terraform();
    let documents = &tf["data"]["aws_iam_policy_document"];
    assert!(documents.len() >= 6, "{:?}", documents.keys());
    for (name, document) in documents {
        for statement in blocks(&document["statement"]) {
            let actions = strings(&statement["actions"]);
            let resources = strings(&statement["resources"]);
            let allow = statement["effect"].as_str().unwrap_or("Allow") == "Allow";
            // A key policy's "*" resource is the key itself, and its account root must keep
            // kms:* or the key becomes unmanageable.
            let key_policy = name == "kms_key";
            for action in &actions {
                let wildcard = action == "*" || action.ends_with(":*");
                let root_admin = key_policy
                    && action == "kms:*"
                    && strings(&blocks(&statement["principals"])[0]["identifiers"])
                        .iter()
                        .all(|p| p.ends_with(":root"));
                assert!(
                    !wildcard || root_admin || !allow,
                    "{name}: wildcard action {action}"
                );
            }
            if allow && resources.iter().any(|r| r == "*") && !key_policy {
                // X-Ray has no resource-level permissions, nor has ECR's login.
                assert!(
                    actions
                        .iter()
                        .all(|a| a.starts_with("xray:") || a == "ecr:GetAuthorizationToken"),
                    "{name}: resource * for {actions:?}"
                );
            }
        }
    }
    // The proxy may only invoke its endpoint, write its own logs and send traces.
    let proxy = &documents["proxy"];
    let grants: Vec<(Vec<String>, Vec<String>)> = blocks(&proxy["statement"])
        .into_iter()
        .map(|s| (strings(&s["actions"]), strings(&s["resources"])))
        .collect();
    assert_eq!(
        grants,
        vec![
            (
                vec!["sagemaker:InvokeEndpoint".to_owned()],
                vec!["${aws_sagemaker_endpoint.model.arn}".to_owned()]
            ),
            (
                vec![
                    "logs:CreateLogStream".to_owned(),
                    "logs:PutLogEvents".to_owned()
                ],
                vec!["${aws_cloudwatch_log_group.proxy.arn}:*".to_owned()]
            ),
            (
                vec![
                    "xray:PutTraceSegments".to_owned(),
                    "xray:PutTelemetryRecords".to_owned()
                ],
                vec!["*".to_owned()]
            ),
        ]
    );
    // The model server uploads its own segments (TRACES_EXPORT=xray-api: SageMaker runs no
    // X-Ray daemon), so its execution role may send traces, and nothing else of X-Ray.
    let container = blocks(&tf["resource"]["aws_sagemaker_model"]["model"]["primary_container"])[0];
    assert_eq!(container["environment"]["TRACES_EXPORT"], "xray-api");
    let xray: Vec<(Vec<String>, Vec<String>)> = blocks(&documents["sagemaker"]["statement"])
        .into_iter()
        .map(|s| (strings(&s["actions"]), strings(&s["resources"])))
        .filter(|(actions, _)| actions.iter().any(|a| a.starts_with("xray:")))
        .collect();
    assert_eq!(
        xray,
        vec![(
            vec![
                "xray:PutTraceSegments".to_owned(),
                "xray:PutTelemetryRecords".to_owned()
            ],
            vec!["*".to_owned()]
        )]
    );
    // Role policies come from those documents, never inline JSON that this test cannot read.
    for (name, policy) in &tf["resource"]["aws_iam_role_policy"] {
        let text = policy["policy"].as_str().unwrap();
        assert!(
            text.starts_with("${data.aws_iam_policy_document.") && text.ends_with(".json}"),
            "aws_iam_role_policy.{name}: {text}"
        );
    }
}
