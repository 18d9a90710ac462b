//! Test helpers: the `slo` binary, and the real services for end-to-end runs.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use test_support::Process;
pub use test_support::stack::*;

/// The project's own specs.
pub fn project_specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")
}

/// Runs the built `slo` binary.
/// The project's metric catalogue, which `slo validate --catalogue` lints the specs against.
#[allow(dead_code)]
pub fn catalogue_json() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../telemetry/catalogue.json")
        .display()
        .to_string()
}

pub fn slo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slo"))
        .args(args)
        .output()
        .unwrap()
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slo-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The entry of SLO `name` in a JSON report.
pub fn slo_named<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no SLO {name} in {report}"))
}
