//! Test code shared by the crates' test suites (a dev-dependency only): real service
//! processes ([`process`], [`stack`]), the bad-input corpus ([`corpus`]) built from generated
//! images ([`images`]), and stand-ins run on loopback: moto ([`moto`]) and X-Ray ([`xray`]).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

pub mod corpus;
pub mod images;
pub mod moto;
pub mod process;
pub mod stack;
pub mod xray;

pub use process::{Process, send_signal};
