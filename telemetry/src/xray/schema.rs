//! Checks of a segment document against AWS's published rules (the X-Ray developer guide's
//! "segment documents" reference and its JSON schema): required fields, id and trace id
//! formats, times, parent ids, names, annotations, metadata namespaces. Tests run every
//! document the services send through [`validate`], the way they run EMF records through
//! [`crate::emf::validate`].

use serde_json::Value;

use super::document::MAX_DOCUMENT_BYTES;

/// Fields a segment or subsegment document may have.
const FIELDS: &[&str] = &[
    "name",
    "id",
    "trace_id",
    "start_time",
    "end_time",
    "in_progress",
    "parent_id",
    "type",
    "service",
    "user",
    "origin",
    "http",
    "aws",
    "error",
    "throttle",
    "fault",
    "cause",
    "annotations",
    "metadata",
    "subsegments",
    "namespace",
    "precursor_ids",
    "sql",
];

/// Annotations X-Ray indexes per document.
const MAX_ANNOTATIONS: usize = 50;

fn is_hex_id(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_epoch_seconds(value: &Value) -> bool {
    // 2001-09-09 to 2286-11-20: seconds, not milliseconds or microseconds.
    value.as_f64().is_some_and(|t| (1e9..1e10).contains(&t))
}

fn name_ok(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=200).contains(&chars)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c))
}

/// Every rule `document` (one segment document, as sent) breaks; empty when it is valid.
pub fn validate(document: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    check(document, true, &mut problems);
    match serde_json::to_string(document) {
        Ok(text) if text.len() > MAX_DOCUMENT_BYTES => {
            problems.push(format!("{} bytes, over the 64 kB limit", text.len()));
        }
        _ => {}
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check(doc: &Value, top_level: bool, problems: &mut Vec<String>) {
    let Some(object) = doc.as_object() else {
        problems.push("a document must be a JSON object".into());
        return;
    };
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            problems.push(format!("unknown field {key}"));
        }
    }
    match doc["name"].as_str() {
        Some(name) if name_ok(name) => {}
        other => problems.push(format!(
            "name {other:?}: 1 to 200 letters, digits, whitespace or _ . : / % & # = + \\ - @"
        )),
    }
    if !is_hex_id(&doc["id"]) {
        problems.push(format!("id {}: 16 hexadecimal digits", doc["id"]));
    }
    let subsegment = match doc.get("type") {
        None => false,
        Some(Value::String(kind)) if kind == "subsegment" => true,
        Some(other) => {
            problems.push(format!("type {other}: only \"subsegment\""));
            true
        }
    };
    // Top-level documents need the trace id; a subsegment sent on its own also needs its
    // parent's id, since nothing else places it.
    if top_level {
        let trace_ok = doc["trace_id"]
            .as_str()
            .is_some_and(crate::trace::is_xray_trace_id);
        if !trace_ok {
            problems.push(format!("trace_id {}: 1-8hex-24hex", doc["trace_id"]));
        }
        if subsegment && doc.get("parent_id").is_none() {
            problems.push("a subsegment sent on its own needs parent_id".into());
        }
    }
    if let Some(parent) = doc.get("parent_id")
        && !is_hex_id(parent)
    {
        problems.push(format!("parent_id {parent}: 16 hexadecimal digits"));
    }
    if doc.get("parent_id").is_some() && doc.get("parent_id") == doc.get("id") {
        problems.push("parent_id is the document's own id".into());
    }
    if !is_epoch_seconds(&doc["start_time"]) {
        problems.push(format!("start_time {}: epoch seconds", doc["start_time"]));
    }
    match (doc.get("end_time"), doc.get("in_progress")) {
        (Some(end), None) => {
            if !is_epoch_seconds(end) {
                problems.push(format!("end_time {end}: epoch seconds"));
            } else if end.as_f64() < doc["start_time"].as_f64() {
                problems.push("end_time before start_time".into());
            }
        }
        (None, Some(Value::Bool(true))) => {}
        (Some(_), Some(_)) => problems.push("end_time and in_progress both set".into()),
        _ => problems.push("needs end_time or in_progress: true".into()),
    }
    for flag in ["error", "throttle", "fault", "in_progress"] {
        if let Some(value) = doc.get(flag)
            && !value.is_boolean()
        {
            problems.push(format!("{flag} {value}: a boolean"));
        }
    }
    if let Some(namespace) = doc.get("namespace")
        && !matches!(namespace.as_str(), Some("aws" | "remote"))
    {
        problems.push(format!("namespace {namespace}: aws or remote"));
    }
    if let Some(http) = doc.get("http") {
        check_http(http, problems);
    }
    if let Some(annotations) = doc.get("annotations") {
        check_annotations(annotations, problems);
    }
    if let Some(metadata) = doc.get("metadata") {
        match metadata.as_object() {
            Some(namespaces) => {
                for (namespace, content) in namespaces {
                    if namespace.starts_with("AWS.") {
                        problems.push(format!("metadata namespace {namespace} is reserved"));
                    }
                    if !content.is_object() {
                        problems.push(format!("metadata {namespace}: an object"));
                    }
                }
            }
            None => problems.push("metadata: an object of namespaces".into()),
        }
    }
    if let Some(precursors) = doc.get("precursor_ids") {
        let ok = precursors
            .as_array()
            .is_some_and(|ids| ids.iter().all(is_hex_id));
        if !ok {
            problems.push("precursor_ids: an array of 16-hex ids".into());
        }
    }
    if let Some(subsegments) = doc.get("subsegments") {
        match subsegments.as_array() {
            Some(items) => {
                for item in items {
                    check(item, false, problems);
                }
            }
            None => problems.push("subsegments: an array".into()),
        }
    }
}

fn check_http(http: &Value, problems: &mut Vec<String>) {
    let Some(object) = http.as_object() else {
        problems.push("http: an object".into());
        return;
    };
    for (key, part) in object {
        match key.as_str() {
            "request" => {
                for field in ["method", "url", "user_agent", "client_ip"] {
                    if let Some(value) = part.get(field)
                        && !value.is_string()
                    {
                        problems.push(format!("http.request.{field}: a string"));
                    }
                }
            }
            "response" => {
                for field in ["status", "content_length"] {
                    if let Some(value) = part.get(field)
                        && !(value.is_u64() || value.is_i64())
                    {
                        problems.push(format!("http.response.{field}: an integer"));
                    }
                }
                if let Some(status) = part.get("status").and_then(Value::as_u64)
                    && !(100..=599).contains(&status)
                {
                    problems.push(format!("http.response.status {status}"));
                }
            }
            other => problems.push(format!("unknown http field {other}")),
        }
    }
}

fn check_annotations(annotations: &Value, problems: &mut Vec<String>) {
    let Some(object) = annotations.as_object() else {
        problems.push("annotations: an object".into());
        return;
    };
    if object.len() > MAX_ANNOTATIONS {
        problems.push(format!(
            "{} annotations, over {MAX_ANNOTATIONS}",
            object.len()
        ));
    }
    for (key, value) in object {
        let key_ok = !key.is_empty()
            && key.len() <= 500
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            problems.push(format!("annotation key {key:?}: letters, digits and _"));
        }
        let value_ok = match value {
            Value::String(s) => s.chars().count() <= 1000,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !value_ok {
            problems.push(format!(
                "annotation {key}: a string (≤ 1000), number or boolean"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn segment() -> Value {
        json!({
            "name": "proxy", "id": "70de5b6f19ff9a0a", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.478293361271E9, "end_time": 1.478293361449E9,
            "http": {"request": {"method": "POST", "url": "/predict"}, "response": {"status": 200}},
            "annotations": {"model_name": "m", "cold_start": false},
            "metadata": {"timings": {"decode_ms": 1.5}}
        })
    }

    #[test]
    fn a_complete_segment_and_an_independent_subsegment_pass() {
        validate(&segment()).unwrap();
        validate(&json!({
            "name": "decode", "id": "70de5b6f19ff9a0b", "trace_id": "1-581cf771-a006649127e371903a2de979",
            "start_time": 1.478293361271E9, "end_time": 1.478293361271E9, "type": "subsegment",
            "parent_id": "70de5b6f19ff9a0a"
        }))
        .unwrap();
    }

    #[test]
    fn each_broken_rule_is_reported() {
        let broken = |edit: &dyn Fn(&mut Value)| {
            let mut doc = segment();
            edit(&mut doc);
            validate(&doc).unwrap_err()
        };
        assert!(broken(&|d| d["id"] = json!("70de5b6f19ff9a0"))[0].starts_with("id"));
        assert!(
            broken(&|d| d["trace_id"] = json!("581cf771a006649127e371903a2de979"))[0]
                .starts_with("trace_id")
        );
        assert!(
            broken(&|d| d["start_time"] = json!(1_478_293_361_271_u64))[0]
                .starts_with("start_time")
        );
        assert!(broken(&|d| d["end_time"] = json!(1.4e9))[0].contains("before"));
        assert!(
            broken(&|d| {
                d.as_object_mut().unwrap().remove("end_time");
            })[0]
                .contains("end_time or in_progress")
        );
        assert!(broken(&|d| d["name"] = json!("a<b>"))[0].starts_with("name"));
        assert!(broken(&|d| d["type"] = json!("subsegment"))[0].contains("parent_id"));
        assert!(broken(&|d| d["parent_id"] = json!("xyz"))[0].starts_with("parent_id"));
        assert!(
            broken(&|d| d["annotations"] = json!({"model.name": "m"}))[0]
                .contains("annotation key")
        );
        assert!(broken(&|d| d["annotations"] = json!({"k": {"x": 1}}))[0].contains("annotation k"));
        assert!(broken(&|d| d["metadata"] = json!({"AWS.x": {}}))[0].contains("reserved"));
        assert!(broken(&|d| d["http"]["response"]["status"] = json!("200"))[0].contains("status"));
        assert!(broken(&|d| d["fault"] = json!("yes"))[0].starts_with("fault"));
        assert!(broken(&|d| d["namespace"] = json!("local"))[0].starts_with("namespace"));
        assert!(broken(&|d| d["colour"] = json!(1))[0].contains("unknown field"));
        assert!(
            broken(&|d| d["metadata"] = json!({"big": {"x": "z".repeat(70_000)}}))[0]
                .contains("64 kB")
        );
    }
}
