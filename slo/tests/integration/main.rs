//! The slo crate's integration tests: one test binary (as ripgrep's `tests/integration`), so the crate's
//! dependencies are linked once; each module is one suite.
#![allow(clippy::unwrap_used)]

mod common;

mod cli;
mod cloudwatch;
mod fuzz_corpus;
mod infra;
mod report_e2e;
mod runbooks;
