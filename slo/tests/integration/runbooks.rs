//! The runbooks' commands and queries against the real thing: every `slo` command in them
//! runs with the real CLI (against local EMF logs instead of CloudWatch, so it needs no AWS
//! account: subcommands, flags, values and spec paths all have to be right), and every field a
//! CloudWatch Logs Insights query uses is one the services really log, as seen in the output
//! of a real run of both services.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn runbooks() -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("runbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// The bodies of the fenced blocks tagged `lang`.
fn fenced(text: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed == format!("```{lang}") => current = Some(String::new()),
            Some(body) if trimmed == "```" => {
                blocks.push(std::mem::take(body));
                current = None;
            }
            Some(body) => {
                body.push_str(trimmed);
                body.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Every `slo ...` command: lines of `sh` blocks and inline code spans.
fn slo_commands(text: &str) -> Vec<String> {
    let mut commands: Vec<String> = fenced(text, "sh")
        .iter()
        .flat_map(|block| block.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| line.starts_with("slo "))
        .collect();
    let mut in_fence = false;
    let prose: String = text
        .lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                return false;
            }
            !in_fence
        })
        .collect::<Vec<_>>()
        .join("\n");
    for span in prose.split('`').skip(1).step_by(2) {
        if span.starts_with("slo ") {
            commands.push(span.to_owned());
        }
    }
    commands
        .into_iter()
        .map(|c| c.split(" #").next().unwrap().trim().to_owned())
        .collect()
}

#[test]
fn every_slo_command_in_the_runbooks_runs_with_the_real_cli() {
    let logs = temp_dir("runbook-logs");
    std::fs::write(logs.join("empty.log"), "").unwrap();
    let mut checked = 0;
    for (file, text) in runbooks() {
        for command in slo_commands(&text) {
            let mut args: Vec<String> = command
                .split_whitespace()
                .skip(1)
                .map(str::to_owned)
                .collect();
            // The same command against local logs: everything but the data source is real.
            if let Some(i) = args.iter().position(|a| a == "--source") {
                assert_eq!(args[i + 1], "cloudwatch", "{file}: {command}");
                args[i + 1] = "emf".to_owned();
                args.push("--logs".to_owned());
                args.push(logs.display().to_string());
            }
            let out = Command::new(env!("CARGO_BIN_EXE_slo"))
                .args(&args)
                .current_dir(root())
                .output()
                .unwrap();
            // 0 or 1 (a gate that holds); 2 is an error: a wrong flag, value or path.
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{file}: `{command}` fails: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} commands");
}

/// Field names a Logs Insights query reads: identifiers and `quoted` names, minus commands,
/// keywords, functions, aliases, literals and the `@` fields CloudWatch adds.
fn query_fields(query: &str) -> BTreeSet<String> {
    const WORDS: &[&str] = &[
        "fields", "filter", "stats", "sort", "limit", "display", "parse", "dedup", "and", "or",
        "not", "like", "in", "as", "by", "asc", "desc",
    ];
    let mut fields = BTreeSet::new();
    let mut aliases = BTreeSet::new();
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    let mut previous = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '/' && previous.as_str() == "like" {
            // A string or regex literal.
            let end = chars[i + 1..].iter().position(|&d| d == c).unwrap() + i + 1;
            i = end + 1;
            continue;
        }
        if c == '`' {
            let end = chars[i + 1..].iter().position(|&d| d == '`').unwrap() + i + 1;
            fields.insert(chars[i + 1..end].iter().collect::<String>());
            i = end + 1;
            continue;
        }
        if c.is_ascii_digit() {
            // A number, or a duration such as 5m.
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if c == '@' || c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.@".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let is_call = chars.get(i) == Some(&'(');
            if previous == "as" {
                aliases.insert(word.clone());
            } else if !is_call && !word.starts_with('@') && !WORDS.contains(&word.as_str()) {
                fields.insert(word.clone());
            }
            previous = word;
            continue;
        }
        i += 1;
    }
    fields.difference(&aliases).cloned().collect()
}

/// Every top-level key of every JSON line both services wrote in a real run with good, bad,
/// cold and failing requests.
fn fields_the_services_log() -> BTreeSet<String> {
    let mut model = start_model_server(&[]);
    let mut proxy = start_proxy(&model.url(""), &[("UPSTREAM_MAX_ATTEMPTS", "1")]);
    let finch = shared_image("house-finch.jpg");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let post = |body: Vec<u8>| {
        runtime.block_on(async {
            reqwest::Client::new()
                .post(proxy.url("/predict"))
                .header("content-type", "image/jpeg")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(post(finch.clone()), 200);
    assert_eq!(post(finch[..finch.len() / 2].to_vec()), 400);
    let model_lines = model.terminate();
    // The model server is gone: the proxy's upstream failure is logged with its detail.
    assert_eq!(post(finch), 502);
    let proxy_lines = proxy.terminate();
    let mut keys = BTreeSet::new();
    for line in model_lines.iter().chain(&proxy_lines) {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) {
            keys.extend(map.keys().cloned());
        }
    }
    keys
}

#[test]
fn logs_insights_queries_in_the_runbooks_use_fields_the_services_really_log() {
    let logged = fields_the_services_log();
    for field in [
        "trace_id",
        "request_id",
        "error.code",
        "detail",
        "Latency",
        "ServerErrors",
    ] {
        assert!(logged.contains(field), "{field} not in {logged:?}");
    }
    let mut queries = 0;
    for (file, text) in runbooks() {
        for query in fenced(&text, "logs-insights") {
            let unknown: Vec<String> = query_fields(&query)
                .into_iter()
                .filter(|f| !logged.contains(f))
                .collect();
            assert!(
                unknown.is_empty(),
                "{file}: the query\n{query}uses {unknown:?}, which the services never log (they log {logged:?})"
            );
            queries += 1;
        }
    }
    assert!(queries >= 15, "{queries} queries");
}

/// The keys of the HTTP API's JSON access log lines, as `infra/api.tf` formats them
/// (`key = "$context...."` inside the stage's `jsonencode` format).
fn fields_the_api_logs() -> BTreeSet<String> {
    let api = std::fs::read_to_string(root().join("infra/api.tf")).unwrap();
    api.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            value
                .trim()
                .starts_with("\"$context.")
                .then(|| key.trim().to_owned())
        })
        .collect()
}

#[test]
fn api_gateway_access_log_queries_in_the_runbooks_use_fields_the_stage_logs() {
    let logged = fields_the_api_logs();
    for field in ["status", "integrationError", "lambdaRequestId", "latency"] {
        assert!(logged.contains(field), "{field} not in {logged:?}");
    }
    let mut queries = 0;
    for (file, text) in runbooks() {
        for query in fenced(&text, "logs-insights-api") {
            let unknown: Vec<String> = query_fields(&query)
                .into_iter()
                .filter(|f| !logged.contains(f))
                .collect();
            assert!(
                unknown.is_empty(),
                "{file}: the query\n{query}uses {unknown:?}, which the API's access log never has ({logged:?})"
            );
            queries += 1;
        }
    }
    assert!(queries >= 4, "{queries} queries");
}

#[test]
fn the_query_reader_finds_fields_and_skips_the_rest() {
    let fields = query_fields(
        "fields @timestamp, `error.code`, detail\n| filter level = \"ERROR\" and message like /x y/\n| stats pct(Latency, 99) as p99 by bin(5m), Service\n| sort p99 desc",
    );
    assert_eq!(
        fields,
        [
            "Latency",
            "Service",
            "detail",
            "error.code",
            "level",
            "message"
        ]
        .map(str::to_owned)
        .into()
    );
}
