//! Dimension values that Terraform supplies instead of the specs.
//!
//! A spec names the metric it reads with literal dimension values (`Endpoint: mobilenet`), which
//! is what `slo report` queries. The alarms and the dashboard, though, are deployed by Terraform,
//! where those values are variables (`var.endpoint_name`) or resource attributes (an API's id):
//! written as literals, an override in Terraform would leave every alarm watching an empty
//! metric, OK forever. So `slo generate --terraform-dimension NAME` replaces the value of every
//! dimension `NAME` in the generated files with a reference to the Terraform local
//! [`LOCAL`]`.NAME`, which `infra/` defines once (`locals { metric_dimensions = { ... } }`) and
//! passes to the dashboard's `templatefile()` under the same name.

use std::collections::BTreeSet;

use serde_json::Value;

/// The Terraform local (a map from dimension name to value) the references point at.
pub const LOCAL: &str = "metric_dimensions";

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(
        "--terraform-dimension {0}: no generated metric has a dimension {0} (dimension names are case-sensitive)"
    )]
    Unused(String),
    #[error("--terraform-dimension {0:?}: not a Terraform identifier (letters, digits, _ and -)")]
    BadName(String),
    #[error(
        "{slo} reads dimension {name}, whose value only Terraform knows ({value:?} in the spec): bind it with --terraform-dimension {name}",
        value = crate::spec::FROM_TERRAFORM
    )]
    Unbound { slo: String, name: String },
}

/// The dimensions whose values come from Terraform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerraformDimensions(BTreeSet<String>);

impl TerraformDimensions {
    pub fn new<I: IntoIterator<Item = String>>(names: I) -> Result<Self, BindError> {
        let names: BTreeSet<String> = names.into_iter().collect();
        for name in &names {
            let identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !identifier {
                return Err(BindError::BadName(name.clone()));
            }
        }
        Ok(Self(names))
    }

    /// Every dimension whose value the specs leave to Terraform ([`crate::spec::FROM_TERRAFORM`])
    /// must be bound: a generated file would watch a metric that does not exist.
    pub fn check_assigned(&self, slos: &[crate::spec::Slo]) -> Result<(), BindError> {
        for slo in slos {
            for query in slo.indicator.queries() {
                if let Some(name) = query.unassigned()
                    && !self.0.contains(name)
                {
                    return Err(BindError::Unbound {
                        slo: slo.name.clone(),
                        name: name.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The value written into `infra/slo_alarms.tf.json` (Terraform JSON syntax).
    pub fn alarm_reference(name: &str) -> String {
        format!("${{local.{LOCAL}.{name}}}")
    }

    /// The value written into the dashboard body (a `templatefile()` template).
    pub fn template_reference(name: &str) -> String {
        format!("${{{LOCAL}.{name}}}")
    }

    /// Replaces the bound dimensions of every alarm query (`dimensions` objects) in the
    /// Terraform JSON document.
    pub fn bind_alarms(&self, document: &mut Value) -> Result<(), BindError> {
        let mut used = BTreeSet::new();
        visit_dimension_objects(document, &mut |dimensions| {
            for (key, value) in dimensions.iter_mut() {
                if self.0.contains(key) {
                    *value = Value::String(Self::alarm_reference(key));
                    used.insert(key.clone());
                }
            }
        });
        self.check_used(&used)
    }

    /// Replaces the bound dimensions of every metric line of the dashboard's widgets: a line is
    /// `[namespace, metric, name, value, name, value, ..., {options}]`.
    pub fn bind_dashboard(&self, body: &mut Value) -> Result<(), BindError> {
        let mut used = BTreeSet::new();
        let widgets = body
            .get_mut("widgets")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for widget in widgets {
            let lines = widget
                .pointer_mut("/properties/metrics")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten();
            for line in lines {
                let Some(line) = line.as_array_mut() else {
                    continue;
                };
                if !line.first().is_some_and(Value::is_string) {
                    continue; // an expression line: its options object comes first
                }
                let pairs = line.len().saturating_sub(2);
                for i in (2..2 + pairs - pairs % 2).step_by(2) {
                    let Some(key) = line[i].as_str().map(str::to_owned) else {
                        break; // the options object
                    };
                    if self.0.contains(&key) && line[i + 1].is_string() {
                        line[i + 1] = Value::String(Self::template_reference(&key));
                        used.insert(key);
                    }
                }
            }
        }
        self.check_used(&used)
    }

    fn check_used(&self, used: &BTreeSet<String>) -> Result<(), BindError> {
        match self.0.difference(used).next() {
            Some(unused) => Err(BindError::Unused(unused.clone())),
            None => Ok(()),
        }
    }
}

fn visit_dimension_objects(
    value: &mut Value,
    f: &mut impl FnMut(&mut serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::Object(dimensions) if key == "dimensions" => f(dimensions),
                    _ => visit_dimension_objects(child, f),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                visit_dimension_objects(item, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bound(names: &[&str]) -> TerraformDimensions {
        TerraformDimensions::new(names.iter().map(|n| (*n).to_owned())).unwrap()
    }

    #[test]
    fn alarm_dimensions_become_references_to_the_terraform_local() {
        let mut doc = json!({ "resource": { "a": { "x": { "metric_query": [
            { "metric": { "dimensions": { "Endpoint": "mobilenet", "Service": "proxy" } } },
            { "expression": "bad / total" },
        ] } } } });
        bound(&["Endpoint"]).bind_alarms(&mut doc).unwrap();
        let dims = &doc["resource"]["a"]["x"]["metric_query"][0]["metric"]["dimensions"];
        assert_eq!(dims["Endpoint"], "${local.metric_dimensions.Endpoint}");
        assert_eq!(dims["Service"], "proxy");
    }

    #[test]
    fn dashboard_lines_bind_values_and_leave_options_and_expressions_alone() {
        let mut body = json!({ "widgets": [{ "properties": { "metrics": [
            ["MlInference", "Requests", "Service", "proxy", "Endpoint", "mobilenet", { "stat": "Sum" }],
            [{ "expression": "m1 / 2", "id": "e" }],
            ["AWS/SageMaker", "ModelSetupTime", "EndpointName", "mobilenet", "VariantName", "AllTraffic", { "stat": "p50" }],
        ] } }, { "properties": { "markdown": "text" } }] });
        bound(&["Endpoint", "EndpointName"])
            .bind_dashboard(&mut body)
            .unwrap();
        let lines = &body["widgets"][0]["properties"]["metrics"];
        assert_eq!(lines[0][5], "${metric_dimensions.Endpoint}");
        assert_eq!(lines[0][3], "proxy");
        assert_eq!(lines[0][6], json!({ "stat": "Sum" }));
        assert_eq!(lines[1][0]["expression"], "m1 / 2");
        assert_eq!(lines[2][3], "${metric_dimensions.EndpointName}");
        assert_eq!(lines[2][5], "AllTraffic");
    }

    #[test]
    fn a_dimension_no_metric_has_is_refused_as_a_typo() {
        let mut doc = json!({ "dimensions": { "Endpoint": "mobilenet" } });
        let err = bound(&["endpoint"]).bind_alarms(&mut doc).unwrap_err();
        assert!(
            matches!(err, BindError::Unused(ref n) if n == "endpoint"),
            "{err}"
        );
        assert!(TerraformDimensions::new(["Api Id".to_owned()]).is_err());
    }

    #[test]
    fn an_api_id_only_terraform_knows_must_be_bound() {
        let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let slos = crate::spec::load(&[specs]).unwrap();
        let err = bound(&["Endpoint", "Stage"])
            .check_assigned(&slos)
            .unwrap_err();
        assert!(
            matches!(err, BindError::Unbound { ref name, .. } if name == "ApiId"),
            "{err}"
        );
        bound(&["ApiId"]).check_assigned(&slos).unwrap();
    }
}
