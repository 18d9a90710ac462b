//! `infra/`, `dashboards/` and `runbooks/` checked against the code: the generated files are
//! current, every alarm links a runbook that exists, every metric an alarm or the dashboard
//! reads is in the telemetry catalogue with the same namespace and dimensions, Terraform names
//! what the specs measure, and no IAM statement grants more than it must. `terraform validate`
//! needs provider downloads, so these read the HCL itself (`hcl-rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::*;
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

/// The dimensions whose values `infra/` supplies (`local.metric_dimensions`), per generated file.
fn terraform_dimensions(what: &str) -> &'static [&'static str] {
    match what {
        "alarms" => &["ApiId", "Endpoint", "Model", "Stage"],
        _ => &["ApiId", "Endpoint", "EndpointName", "Model", "Stage"],
    }
}

fn generated(what: &str) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_slo"));
    command
        .args(["generate", what, "--spec"])
        .arg(project_specs());
    for name in terraform_dimensions(what) {
        command.args(["--terraform-dimension", name]);
    }
    let out = command.output().unwrap();
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
            "cargo run -p slo -- generate alarms --terraform-dimension ApiId --terraform-dimension Endpoint --terraform-dimension Model --terraform-dimension Stage --out infra/slo_alarms.tf.json",
        ),
        (
            "dashboard",
            "dashboards/service.json",
            "cargo run -p slo -- generate dashboard --terraform-dimension ApiId --terraform-dimension Endpoint --terraform-dimension EndpointName --terraform-dimension Model --terraform-dimension Stage --out dashboards/service.json",
        ),
    ] {
        let flags: Vec<String> = terraform_dimensions(what)
            .iter()
            .map(|n| format!("--terraform-dimension {n}"))
            .collect();
        assert!(command.contains(&flags.join(" ")), "{command}");
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
        assert!(
            readme.contains(command),
            "README.md does not give `{command}`"
        );
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
    // 7 SLOs × (6 windows + 2 tiers), plus the operational alarms.
    assert!(alarms.len() >= 59, "{}", alarms.len());
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
    assert_eq!(notifying.len(), 14 + 3, "{notifying:?}");
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
            .flat_map(|s| {
                s.indicator
                    .queries()
                    .into_iter()
                    .cloned()
                    .collect::<Vec<_>>()
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

// ---------------------------------------------------------------------------------------------
// AWS's rules that neither `terraform validate` nor moto enforce (scripts/check-infra.sh runs
// both), checked on the parsed configuration. Each names the AWS document it comes from.

/// `locals` of every `infra/*.tf` whose value is a string, by name.
fn string_locals() -> BTreeMap<String, String> {
    let mut locals = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("infra")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "tf") {
            continue;
        }
        let document: Value = hcl::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for block in blocks(&document["locals"]) {
            for (name, value) in block.as_object().unwrap() {
                if let Some(text) = value.as_str() {
                    locals.insert(name.clone(), text.to_owned());
                }
            }
        }
    }
    locals
}

/// The bound `length(var.NAME) <= N` of a variable's validation, and its regex.
fn validated_length(
    tf: &BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    name: &str,
) -> Option<(usize, String)> {
    let variable = &tf["variable"].get(name)?[""];
    blocks(&variable["validation"]).into_iter().find_map(|v| {
        let condition = v["condition"].as_str()?;
        let bound = condition
            .split(&format!("length(var.{name}) <= "))
            .nth(1)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        let regex = condition
            .split("regex(\"")
            .nth(1)?
            .split("\", var.")
            .next()?;
        Some((bound, regex.replace("\\\\", "\\")))
    })
}

/// The longest value `name`'s validation allows: `bound` characters of the kind its regex takes.
fn longest_allowed(
    tf: &BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    name: &str,
) -> String {
    let (bound, regex) = validated_length(tf, name).unwrap_or_else(|| {
        panic!("variable {name}: no `can(regex(...)) && length(var.{name}) <= N` validation")
    });
    let regex = regex_lite::Regex::new(&regex).unwrap();
    let longest = "a".repeat(bound);
    assert!(
        regex.is_match(&longest),
        "{name}: {regex} refuses {longest}"
    );
    longest
}

/// Replaces `${var.X}` and `${local.X}` in `text` by the longest values; panics on anything else,
/// so that a name whose length cannot be bounded fails here.
fn expand(
    text: &str,
    values: &BTreeMap<String, String>,
    locals: &BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let reference = &rest[start + 2..end];
        let value = if let Some(var) = reference.strip_prefix("var.") {
            values
                .get(var)
                .cloned()
                .unwrap_or_else(|| panic!("{text}: var.{var} has no length bound"))
        } else if let Some(local) = reference.strip_prefix("local.") {
            expand(&locals[local], values, locals)
        } else {
            panic!("{text}: cannot bound the length of ${{{reference}}}")
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_name_fits_aws_limits_at_the_longest_values_the_variables_allow() {
    let tf = terraform();
    let locals = string_locals();
    let values: BTreeMap<String, String> = [
        "name_prefix",
        "model_version",
        "endpoint_name",
        "model_name",
    ]
    .into_iter()
    .map(|v| (v.to_owned(), longest_allowed(&tf, v)))
    .collect();
    // (resource type, attribute, most characters, where AWS or the provider says so)
    let limits: &[(&str, &str, usize, &str)] = &[
        // SageMaker API Reference, CreateModel / CreateEndpointConfig / CreateEndpoint: 63.
        (
            "aws_sagemaker_model",
            "name",
            63,
            "SageMaker CreateModel ModelName",
        ),
        (
            "aws_sagemaker_endpoint_configuration",
            "name",
            63,
            "SageMaker CreateEndpointConfig",
        ),
        (
            "aws_sagemaker_endpoint",
            "name",
            63,
            "SageMaker CreateEndpoint EndpointName",
        ),
        // IAM role names are at most 64; the provider appends a 26-character suffix to a prefix.
        (
            "aws_iam_role",
            "name_prefix",
            38,
            "IAM CreateRole RoleName (64) less the suffix",
        ),
        (
            "aws_iam_role_policy",
            "name",
            128,
            "IAM PutRolePolicy PolicyName",
        ),
        // Bucket names are at most 63; the provider appends 26 characters to a prefix.
        (
            "aws_s3_bucket",
            "bucket_prefix",
            37,
            "S3 general purpose bucket naming rules (63) less the suffix",
        ),
        (
            "aws_lambda_function",
            "function_name",
            64,
            "Lambda CreateFunction FunctionName",
        ),
        (
            "aws_cloudwatch_log_group",
            "name",
            512,
            "CloudWatch Logs CreateLogGroup logGroupName",
        ),
        (
            "aws_cloudwatch_metric_alarm",
            "alarm_name",
            255,
            "CloudWatch PutMetricAlarm AlarmName",
        ),
        (
            "aws_cloudwatch_composite_alarm",
            "alarm_name",
            255,
            "CloudWatch PutCompositeAlarm AlarmName",
        ),
        (
            "aws_cloudwatch_dashboard",
            "dashboard_name",
            255,
            "CloudWatch PutDashboard DashboardName",
        ),
        ("aws_sns_topic", "name", 256, "SNS CreateTopic Name"),
        (
            "aws_ecr_repository",
            "name",
            256,
            "ECR CreateRepository repositoryName",
        ),
        ("aws_kms_alias", "name", 256, "KMS CreateAlias AliasName"),
        (
            "aws_apigatewayv2_api",
            "name",
            128,
            "API Gateway v2 CreateApi Name",
        ),
        (
            "aws_cloudfront_origin_access_control",
            "name",
            64,
            "CloudFront OriginAccessControlConfig Name",
        ),
        (
            "aws_cloudfront_response_headers_policy",
            "name",
            128,
            "CloudFront ResponseHeadersPolicyConfig Name",
        ),
    ];
    let mut checked = 0;
    for (kind, resources) in &tf["resource"] {
        for (name, body) in resources {
            for key in [
                "name",
                "name_prefix",
                "bucket_prefix",
                "function_name",
                "alarm_name",
                "dashboard_name",
            ] {
                let Some(text) = body.get(key).and_then(Value::as_str) else {
                    continue;
                };
                if text.starts_with("${aws_") {
                    continue; // another resource's name, checked where it is made
                }
                let Some((_, _, limit, source)) =
                    limits.iter().find(|(k, a, ..)| k == kind && *a == key)
                else {
                    // A name no AWS limit above covers must be a fixed, short one.
                    assert!(
                        !text.contains("${"),
                        "{kind}.{name}.{key} = {text}: add its AWS limit here"
                    );
                    continue;
                };
                let longest = expand(text, &values, &locals);
                assert!(
                    longest.len() <= *limit,
                    "{kind}.{name}.{key} can be {} characters ({longest}); {source} allows {limit}",
                    longest.len()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "{checked}");
    // Names that hold the dimension values the alarms watch: the prefix has no double dash
    // (ECR's repository-name pattern) and no S3-reserved start.
    let (_, prefix_regex) = validated_length(&tf, "name_prefix").unwrap();
    let prefix_regex = regex_lite::Regex::new(&prefix_regex).unwrap();
    for refused in ["a--b", "a-", "-a", "Ab"] {
        assert!(
            !prefix_regex.is_match(refused),
            "name_prefix takes {refused}"
        );
    }
}

#[test]
fn sagemaker_serverless_gets_only_what_serverless_inference_supports() {
    let tf = terraform();
    let resources = &tf["resource"];
    // "Serverless Inference: feature exclusions" (SageMaker Developer Guide): no network
    // isolation, VPC configuration or data capture on a serverless endpoint.
    for (name, model) in &resources["aws_sagemaker_model"] {
        assert_ne!(
            model["enable_network_isolation"], true,
            "aws_sagemaker_model.{name}: network isolation"
        );
        assert!(
            model.get("vpc_config").is_none(),
            "aws_sagemaker_model.{name}: VPC config"
        );
    }
    for (name, config) in &resources["aws_sagemaker_endpoint_configuration"] {
        assert!(
            config.get("data_capture_config").is_none(),
            "{name}: data capture"
        );
        for variant in blocks(&config["production_variants"]) {
            assert!(
                !blocks(&variant["serverless_config"]).is_empty(),
                "{name}: not serverless"
            );
            assert!(
                variant.get("instance_type").is_none(),
                "{name}: an instance type"
            );
        }
    }
    // SageMaker API Reference, ProductionVariantServerlessConfig: MemorySizeInMB 1024-6144 in
    // 1 GB steps, MaxConcurrency 1-200, ProvisionedConcurrency 1-200 and at most MaxConcurrency.
    let condition = |variable: &str| -> String {
        blocks(&tf["variable"][variable][""]["validation"])
            .iter()
            .map(|v| v["condition"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(" && ")
    };
    let memory = condition("serverless_memory_mb");
    let listed: BTreeSet<i64> = memory
        .split('[')
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect();
    assert!(
        !listed.is_empty()
            && listed
                .iter()
                .all(|m| (1024..=6144).contains(m) && m % 1024 == 0),
        "{memory}"
    );
    let concurrency = condition("serverless_max_concurrency");
    assert!(
        concurrency.contains(">= 1") && concurrency.contains("<= 200"),
        "{concurrency}"
    );
    let provisioned = condition("serverless_provisioned_concurrency");
    assert!(
        provisioned.contains("<= var.serverless_max_concurrency"),
        "{provisioned}"
    );
    let config = &resources["aws_sagemaker_endpoint_configuration"]["serverless"];
    let serverless = blocks(&blocks(&config["production_variants"])[0]["serverless_config"])[0];
    // 0 means none: the attribute must then be absent, as the API takes 1-200.
    assert!(
        serverless["provisioned_concurrency"]
            .as_str()
            .unwrap()
            .contains("> 0 ? var.serverless_provisioned_concurrency : null"),
        "{serverless}"
    );
}

/// `$context` variables of HTTP APIs' access logs, from "Customize HTTP API access logs" (API
/// Gateway Developer Guide); `authorizer.*` and `authorizer.claims.*` take any property.
const HTTP_API_LOG_VARIABLES: &[&str] = &[
    "accountId",
    "apiId",
    "authorizer.error",
    "authorizer.principalId",
    "awsEndpointRequestId",
    "awsEndpointRequestId2",
    "customDomain.basePathMatched",
    "dataProcessed",
    "domainName",
    "domainPrefix",
    "error.message",
    "error.messageString",
    "error.responseType",
    "extendedRequestId",
    "httpMethod",
    "identity.accountId",
    "identity.caller",
    "identity.cognitoAuthenticationProvider",
    "identity.cognitoAuthenticationType",
    "identity.cognitoIdentityId",
    "identity.cognitoIdentityPoolId",
    "identity.principalOrgId",
    "identity.clientCert.clientCertPem",
    "identity.clientCert.subjectDN",
    "identity.clientCert.issuerDN",
    "identity.clientCert.serialNumber",
    "identity.clientCert.validity.notBefore",
    "identity.clientCert.validity.notAfter",
    "identity.sourceIp",
    "identity.user",
    "identity.userAgent",
    "identity.userArn",
    "integration.error",
    "integration.integrationStatus",
    "integration.latency",
    "integration.requestId",
    "integration.status",
    "integrationErrorMessage",
    "integrationLatency",
    "integrationStatus",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "responseLatency",
    "responseLength",
    "routeKey",
    "stage",
    "status",
];

#[test]
fn http_api_access_logs_use_only_variables_http_apis_have() {
    let tf = terraform();
    let stages = &tf["resource"]["aws_apigatewayv2_stage"];
    let mut seen = 0;
    for (name, stage) in stages {
        for settings in blocks(&stage["access_log_settings"]) {
            let format = settings["format"].as_str().unwrap();
            for variable in format.split("$context.").skip(1) {
                let variable: String = variable
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
                    .collect();
                let variable = variable.trim_end_matches('.');
                let known = HTTP_API_LOG_VARIABLES.contains(&variable)
                    || variable.starts_with("authorizer.");
                assert!(
                    known,
                    "aws_apigatewayv2_stage.{name}: $context.{variable} is not an HTTP API access-log variable (xrayTraceId is REST-only)"
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 8, "{seen}");
}

#[test]
fn destroy_removes_everything_the_stack_made() {
    let tf = terraform();
    let resources = &tf["resource"];
    // Versioned buckets and a repository holding images refuse deletion otherwise
    // (S3 DeleteBucket: BucketNotEmpty; ECR DeleteRepository: RepositoryNotEmptyException).
    for (name, bucket) in &resources["aws_s3_bucket"] {
        assert_eq!(bucket["force_destroy"], true, "aws_s3_bucket.{name}");
    }
    for (name, repository) in &resources["aws_ecr_repository"] {
        assert_eq!(
            repository["force_delete"], true,
            "aws_ecr_repository.{name}"
        );
    }
    // Every log group the services write to is managed here (retention, the stack's key, and
    // gone with the stack), including the one SageMaker would otherwise create itself.
    let groups: BTreeMap<String, &Value> = resources["aws_cloudwatch_log_group"]
        .values()
        .map(|g| (g["name"].as_str().unwrap().to_owned(), g))
        .collect();
    for written in [
        "/aws/sagemaker/Endpoints/${var.endpoint_name}",
        "/aws/lambda/${local.lambda_name}",
        "/aws/apigateway/${var.name_prefix}-api",
    ] {
        let group = groups
            .get(written)
            .unwrap_or_else(|| panic!("{written} is not managed: {:?}", groups.keys()));
        assert_eq!(
            group["retention_in_days"], "${var.log_retention_days}",
            "{written}"
        );
        assert_eq!(group["kms_key_id"], "${aws_kms_key.main.arn}", "{written}");
    }
    let endpoint = &resources["aws_sagemaker_endpoint"]["model"];
    assert_eq!(
        strings(&endpoint["depends_on"]),
        ["${aws_cloudwatch_log_group.endpoint}"]
    );
}

#[test]
fn arns_are_built_with_the_partition_not_aws() {
    for dir in ["infra", "dashboards"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.ends_with(".tf") || name.ends_with(".json")) {
                continue;
            }
            for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
                // A validation regex that accepts every partition is fine.
                if line.contains("arn:aws:") && !line.contains("regex(") {
                    panic!(
                        "{}:{}: arn:aws: instead of the partition: {line}",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
    }
}

#[test]
fn alarms_and_dashboard_read_the_endpoint_and_model_from_terraform() {
    let tf = terraform();
    let locals = std::fs::read_to_string(root().join("infra/main.tf")).unwrap();
    let main: Value = hcl::from_str(&locals).unwrap();
    let bound = blocks(&main["locals"])
        .into_iter()
        .find_map(|l| l.get(slo::terraform::LOCAL).cloned())
        .expect("infra/main.tf defines local.metric_dimensions");
    let bound: BTreeMap<String, String> = bound
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(bound["Endpoint"], "${aws_sagemaker_endpoint.model.name}");
    assert_eq!(
        bound["EndpointName"],
        "${aws_sagemaker_endpoint.model.name}"
    );
    assert_eq!(bound["Model"], "${var.model_name}");
    assert_eq!(bound["ApiId"], "${aws_apigatewayv2_api.http.id}");
    assert_eq!(bound["Stage"], "${aws_apigatewayv2_stage.default.name}");
    let names: BTreeSet<&str> = terraform_dimensions("dashboard").iter().copied().collect();
    assert_eq!(
        bound.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        names
    );

    // Every alarm metric with such a dimension reads it from Terraform, never a literal.
    let mut read = 0;
    for (alarm, body) in alarms() {
        for query in blocks(&body["metric_query"]) {
            for metric in blocks(&query["metric"]) {
                for (key, value) in metric["dimensions"].as_object().unwrap() {
                    if names.contains(key.as_str()) {
                        assert_eq!(
                            value.as_str().unwrap(),
                            slo::terraform::TerraformDimensions::alarm_reference(key),
                            "{alarm}"
                        );
                        read += 1;
                    }
                }
            }
        }
        if let Some(dimensions) = body["dimensions"].as_object() {
            for key in dimensions.keys() {
                assert!(
                    !names.contains(key.as_str())
                        || dimensions[key].as_str().unwrap().starts_with("${"),
                    "{alarm}: literal {key}"
                );
            }
        }
    }
    assert!(read >= 40, "{read}");
    let dashboard = std::fs::read_to_string(root().join("dashboards/service.json")).unwrap();
    let body: Value = serde_json::from_str(&dashboard).unwrap();
    let mut widgets_reading = 0;
    for widget in body["widgets"].as_array().unwrap() {
        for line in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let words: Vec<&str> = line
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for pair in words.get(2..).unwrap_or_default().chunks(2) {
                if let [key, value] = pair
                    && names.contains(key)
                {
                    assert_eq!(
                        *value,
                        slo::terraform::TerraformDimensions::template_reference(key)
                    );
                    widgets_reading += 1;
                }
            }
        }
    }
    assert!(widgets_reading >= 40, "{widgets_reading}");
    // The dashboard's template gets the same map.
    let dashboard_tf = &tf["resource"]["aws_cloudwatch_dashboard"]["service"]["dashboard_body"];
    assert!(
        dashboard_tf
            .as_str()
            .unwrap()
            .contains("metric_dimensions = local.metric_dimensions"),
        "{dashboard_tf}"
    );
}

#[test]
fn edge_slo_alarms_read_api_gateway_for_the_api_and_stage_terraform_deploys() {
    let tf = terraform();
    let stage = &tf["resource"]["aws_apigatewayv2_stage"]["default"];
    assert_eq!(stage["api_id"], "${aws_apigatewayv2_api.http.id}");
    // HTTP APIs publish per API and per stage without detailed metrics (only per route needs
    // them): the stage the SLOs read is the one the API serves.
    assert_eq!(stage["name"], "$default");
    let slos = slo::spec::load(&[project_specs()]).unwrap();
    let edge: Vec<&slo::spec::Slo> = slos
        .iter()
        .filter(|s| {
            s.indicator
                .queries()
                .iter()
                .any(|q| q.namespace == catalogue::API_GATEWAY_NAMESPACE)
        })
        .collect();
    assert_eq!(edge.len(), 2, "the edge availability and latency SLOs");
    for slo in edge {
        let mut read = 0;
        for (alarm, body) in alarms() {
            if body["tags"]["slo"] != slo.name.as_str() {
                continue;
            }
            for query in blocks(&body["metric_query"]) {
                for metric in blocks(&query["metric"]) {
                    assert_eq!(
                        metric["namespace"],
                        catalogue::API_GATEWAY_NAMESPACE,
                        "{alarm}"
                    );
                    let dims = metric["dimensions"].as_object().unwrap();
                    assert_eq!(
                        dims.keys().map(String::as_str).collect::<Vec<_>>(),
                        [catalogue::DIM_API_ID, catalogue::DIM_STAGE],
                        "{alarm}"
                    );
                    // Not a literal id: the API Terraform creates, whatever its id.
                    assert_eq!(
                        dims[catalogue::DIM_API_ID],
                        "${local.metric_dimensions.ApiId}"
                    );
                    assert_eq!(
                        dims[catalogue::DIM_STAGE],
                        "${local.metric_dimensions.Stage}"
                    );
                    read += 1;
                }
            }
        }
        // 4 policies of 2 lookbacks each, 2 metrics each.
        assert_eq!(read, 16, "{}", slo.name);
    }
    let latency = alarms()
        .into_iter()
        .find(|(name, _)| name.ends_with(".slo_edge_latency_page_1h"))
        .unwrap()
        .1;
    let stats: Vec<String> = blocks(&latency["metric_query"])
        .iter()
        .flat_map(|q| blocks(&q["metric"]))
        .map(|m| m["stat"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stats, ["TC(:350)", "SampleCount"]);
}

#[test]
fn dashboard_ratios_read_no_errors_as_zero_not_as_a_gap() {
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/service.json")).unwrap(),
    )
    .unwrap();
    let mut ratios = 0;
    for widget in body["widgets"].as_array().unwrap() {
        for line in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(expression) = line[0]["expression"].as_str() else {
                continue;
            };
            for numerator in ["bad", "good"] {
                let uses = expression.matches(numerator).count();
                if uses > 0 {
                    let filled = expression.matches(&format!("FILL({numerator}, 0)")).count();
                    assert_eq!(filled, uses, "{expression}");
                    ratios += 1;
                }
            }
        }
    }
    assert!(ratios >= 10, "{ratios}");
}

// ---------------------------------------------------------------------------------------------
// The GitHub workflows that plan, deploy, roll back and destroy (not run here: they need AWS).

fn workflows() -> Vec<(String, Value)> {
    let dir = root().join(".github/workflows");
    let mut all: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let parsed: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, parsed)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        all.len() >= 5,
        "{:?}",
        all.iter().map(|w| &w.0).collect::<Vec<_>>()
    );
    all
}

/// (workflow, job name, job) of every job.
fn workflow_jobs() -> Vec<(String, String, Value)> {
    workflows()
        .into_iter()
        .flat_map(|(file, workflow)| {
            workflow["jobs"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, job)| (file.clone(), name.clone(), job.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn job_steps(job: &Value) -> Vec<&Value> {
    job["steps"]
        .as_array()
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// The shell commands of a step, with `\`-continued lines joined.
fn commands(step: &Value) -> Vec<String> {
    step["run"]
        .as_str()
        .unwrap_or_default()
        .replace("\\\n", " ")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn workflows_read_terraform_output_without_the_wrapper() {
    let mut seen = 0;
    for (file, name, job) in workflow_jobs() {
        for step in job_steps(&job) {
            if step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("hashicorp/setup-terraform"))
            {
                // The wrapper adds its own lines to stdout, so `$(terraform output -raw x)` is wrong.
                assert_eq!(step["with"]["terraform_wrapper"], false, "{file} {name}");
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "{seen}");
}

#[test]
fn every_plan_apply_and_destroy_uses_the_production_settings() {
    let tfvars =
        std::fs::read_to_string(root().join("infra/environments/production.tfvars")).unwrap();
    for setting in ["region", "name_prefix"] {
        assert!(
            tfvars
                .lines()
                .any(|l| l.starts_with(&format!("{setting} "))),
            "production.tfvars sets no {setting}"
        );
    }
    let backend =
        std::fs::read_to_string(root().join("infra/environments/production.s3.tfbackend")).unwrap();
    assert!(backend.contains("use_lockfile = true"), "{backend}");
    let mut runs = 0;
    for (file, workflow) in workflows() {
        let text = serde_json::to_string(&workflow).unwrap();
        // DynamoDB state locking is deprecated since Terraform 1.11 (use_lockfile).
        assert!(!text.contains("dynamodb_table"), "{file}");
        for (name, job) in workflow["jobs"].as_object().unwrap() {
            for step in job_steps(job) {
                for command in commands(step) {
                    let words: Vec<&str> = command.split_whitespace().collect();
                    let Some(at) = words.iter().position(|w| *w == "terraform") else {
                        continue;
                    };
                    let verb = words.get(at + 1).copied().unwrap_or_default();
                    if matches!(verb, "plan" | "apply" | "destroy") {
                        assert!(
                            words.contains(&"-var-file=environments/production.tfvars"),
                            "{file} {name}: {command}"
                        );
                        for variable in ["TF_VAR_alarm_email", "TF_VAR_runbook_base_url"] {
                            assert!(
                                job["env"].get(variable).is_some(),
                                "{file} {name} runs terraform {verb} without {variable}"
                            );
                        }
                        runs += 1;
                    }
                    if verb == "init" && !words.contains(&"-backend=false") {
                        assert!(
                            words.contains(&"-backend-config=environments/production.s3.tfbackend"),
                            "{file} {name}: {command}"
                        );
                    }
                }
            }
        }
    }
    assert!(runs >= 4, "{runs}");
    let text = std::fs::read_to_string(root().join("infra/backend.hcl.example")).unwrap();
    assert!(
        !text.lines().any(|l| l.starts_with("dynamodb_table")),
        "backend.hcl.example"
    );
}

#[test]
fn each_job_assumes_a_role_whose_trust_admits_where_it_runs() {
    let trust = |file: &str| -> BTreeSet<String> {
        let policy: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("infra/github-oidc").join(file)).unwrap(),
        )
        .unwrap();
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                strings(&s["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"])
            })
            .collect()
    };
    let roles = BTreeMap::from([
        (
            "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
            trust("deploy-role-trust.json"),
        ),
        ("${{ vars.AWS_ROLE_ARN }}", trust("ci-role-trust.json")),
    ]);
    let mut checked = 0;
    for (file, workflow) in workflows() {
        let on = &workflow["on"];
        for (name, job) in workflow["jobs"].as_object().unwrap() {
            for step in job_steps(job) {
                if !step["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials"))
                {
                    continue;
                }
                let role = step["with"]["role-to-assume"].as_str().unwrap();
                let trusted = roles
                    .get(role)
                    .unwrap_or_else(|| panic!("{file} {name}: unknown role {role}"));
                // GitHub's OIDC `sub`: the environment when the job has one, else the event's ref.
                let subjects: Vec<String> = match job["environment"].as_str() {
                    Some(environment) => vec![format!("repo:OWNER/REPO:environment:{environment}")],
                    None => {
                        assert!(
                            on.get("workflow_call").is_none(),
                            "{file} {name}: a called job without an environment"
                        );
                        let mut subjects = Vec::new();
                        if on.get("pull_request").is_some() {
                            subjects.push("repo:OWNER/REPO:pull_request".to_owned());
                        }
                        if on.get("push").is_some()
                            || on.get("workflow_dispatch").is_some()
                            || on.get("workflow_run").is_some()
                        {
                            subjects.push("repo:OWNER/REPO:ref:refs/heads/main".to_owned());
                        }
                        subjects
                    }
                };
                assert!(!subjects.is_empty(), "{file} {name}");
                for subject in subjects {
                    assert!(
                        trusted.contains(&subject),
                        "{file} {name}: {role} does not trust {subject} ({trusted:?})"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 6, "{checked}");
}

#[test]
fn python_tools_in_workflows_are_pinned_in_virtual_environments() {
    let script = std::fs::read_to_string(root().join("scripts/check-infra.sh")).unwrap();
    let pin = |name: &str| -> String {
        script
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=\"${{{name}:-")))
            .and_then(|l| l.strip_suffix("}\""))
            .unwrap_or_else(|| panic!("scripts/check-infra.sh pins no {name}"))
            .to_owned()
    };
    let moto = pin("MOTO_VERSION");
    let mut installs = 0;
    for (file, name, job) in workflow_jobs() {
        for step in job_steps(&job) {
            for command in commands(step) {
                if !command.contains("pip install") && !command.contains("pip\" install") {
                    continue;
                }
                assert!(!command.contains("--user"), "{file} {name}: {command}");
                assert!(
                    command.contains("/bin/pip"),
                    "{file} {name}: pip outside a virtual environment: {command}"
                );
                assert!(
                    !command.contains("checkov"),
                    "{file} {name}: checkov comes from scripts/check-infra.sh"
                );
                if command.contains("moto") {
                    assert!(
                        command.contains(&format!("moto[server]=={moto}")),
                        "{file} {name}: {command}"
                    );
                }
                installs += 1;
            }
        }
    }
    assert!(installs >= 1, "{installs}");
}

#[test]
fn rollback_is_one_command_that_keeps_the_production_settings() {
    let all: BTreeMap<String, Value> = workflows().into_iter().collect();
    let rollback = &all["rollback.yml"];
    let input = &rollback["on"]["workflow_dispatch"]["inputs"]["model_version"];
    assert_eq!(input["required"], true, "{input}");
    let apply = &rollback["jobs"]["apply"];
    assert_eq!(apply["uses"], "./.github/workflows/apply.yml");
    assert_eq!(
        apply["with"]["model_version"],
        "${{ inputs.model_version }}"
    );
    assert_eq!(
        all["deploy.yml"]["jobs"]["apply"]["uses"],
        "./.github/workflows/apply.yml"
    );
    // The version names the whole deployable, so a rollback builds nothing.
    let called = serde_json::to_string(&all["apply.yml"]).unwrap();
    assert!(
        !called.contains("build-lambda") && !called.contains("docker build"),
        "apply.yml builds"
    );
    let lambda = &terraform()["resource"]["aws_lambda_function"]["proxy"];
    assert_eq!(lambda["s3_key"], "${local.lambda_key}");
    assert!(string_locals()["lambda_key"].contains("${var.model_version}"));
    for runbook in ["runbooks/README.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(runbook)).unwrap();
        assert!(
            text.contains("gh workflow run rollback.yml -f model_version="),
            "{runbook}"
        );
        assert!(
            !text.contains("terraform apply -var model_version"),
            "{runbook}: a rollback that drops the settings"
        );
    }
}

/// IAM actions of the AWS SDK operations the services' code calls (method name → action).
const SDK_OPERATIONS: &[(&str, &str)] = &[
    ("invoke_endpoint", "sagemaker:InvokeEndpoint"),
    ("put_trace_segments", "xray:PutTraceSegments"),
    ("put_telemetry_records", "xray:PutTelemetryRecords"),
    ("put_metric_data", "cloudwatch:PutMetricData"),
    ("put_log_events", "logs:PutLogEvents"),
];

/// The IAM actions of the SDK calls in the sources of `crates`.
fn actions_called(crates: &[&str]) -> BTreeSet<String> {
    let mut called = BTreeSet::new();
    for krate in crates {
        let mut dirs = vec![root().join(krate).join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (operation, action) in SDK_OPERATIONS {
                        if text.contains(&format!(".{operation}()")) {
                            called.insert((*action).to_owned());
                        }
                    }
                }
            }
        }
    }
    called
}

#[test]
fn each_role_grants_what_its_code_and_its_aws_service_call_and_nothing_more() {
    let tf = terraform();
    let documents = &tf["data"]["aws_iam_policy_document"];
    let granted = |document: &str| -> BTreeSet<String> {
        blocks(&documents[document]["statement"])
            .into_iter()
            .filter(|s| s["effect"].as_str().unwrap_or("Allow") == "Allow")
            .flat_map(|s| strings(&s["actions"]))
            .collect()
    };
    // What AWS itself does with the role, beyond our code's calls.
    let platform: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            // Lambda writes the function's stdout to its log group, and with active tracing
            // its X-Ray daemon sends segments and telemetry with the function's role
            // ("Using AWS Lambda with AWS X-Ray", Lambda Developer Guide).
            "proxy",
            vec![
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
            ],
        ),
        (
            // SageMaker pulls the image, reads the model artifact and writes the container's
            // stdout with the execution role ("CreateModel API: Execution Role Permissions",
            // SageMaker Developer Guide); X-Ray's write-only minimum (AWSXrayWriteOnlyAccess)
            // pairs PutTelemetryRecords with PutTraceSegments.
            "sagemaker",
            vec![
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetAuthorizationToken",
                "s3:GetObject",
                "kms:Decrypt",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
                "xray:PutTelemetryRecords",
            ],
        ),
    ]);
    for (document, crates) in [
        ("proxy", ["proxy", "telemetry"]),
        ("sagemaker", ["model-server", "telemetry"]),
    ] {
        let granted = granted(document);
        let called = actions_called(&crates);
        for action in &called {
            // The proxy's binary links telemetry's X-Ray API exporter but sends to Lambda's
            // daemon; its role has the X-Ray actions anyway (above).
            assert!(
                granted.contains(action),
                "role {document}: its code calls {action}, which it is not granted"
            );
        }
        for action in &granted {
            assert!(
                called.contains(action) || platform[document].contains(&action.as_str()),
                "role {document}: {action} is granted, but neither its code nor its AWS service calls it"
            );
        }
    }
    assert!(actions_called(&["proxy"]).contains("sagemaker:InvokeEndpoint"));
}
