//! The model server's integration tests: one test binary (as ripgrep's `tests/integration`),
//! so the crate and ONNX Runtime's bindings are linked once; each module is one suite.

mod common;

mod dockerfile;
mod fuzz_corpus;
mod http;
mod imagenet_accuracy;
mod preprocessing;
mod router;
