//! The proxy's integration tests: one test binary (as ripgrep's `tests/integration`), so the crate's
//! dependencies are linked once; each module is one suite.
#![allow(clippy::unwrap_used)]

mod common;

mod bad_input;
mod e2e;
mod faults;
mod fuzz_corpus;
mod lambda_events;
mod lambda_runtime;
mod otlp_export;
mod overload;
mod telemetry_e2e;
mod traces;
mod xray;
