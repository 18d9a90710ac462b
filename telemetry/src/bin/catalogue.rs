//! Prints the metric catalogue as JSON (the content of `telemetry/catalogue.json`).

use std::io::Write;

fn main() -> std::io::Result<()> {
    std::io::stdout().write_all(telemetry::catalogue::to_json().as_bytes())
}
