//! Service level objectives for the inference service, as on-call engineers and release
//! pipelines use them: OpenSLO v1 specs checked against the telemetry catalogue
//! ([`spec`]), SLIs, error budgets, burn rates and alert tiers ([`math`], whose docs give the
//! exact formulas), evaluated from EMF records in local logs or from CloudWatch
//! ([`source`], [`cloudwatch`], [`report`]), rendered for people and machines ([`render`],
//! [`chart`]), and turned into CloudWatch alarms ([`alarms`]) and a dashboard ([`dashboard`]) for Terraform
//! ([`terraform`]).

pub mod alarms;
pub mod chart;
pub mod cloudwatch;
pub mod dashboard;
pub mod duration;
#[doc(hidden)]
pub mod fuzzing;
pub mod math;
pub mod render;
pub mod report;
pub mod source;
pub mod spec;
pub mod terraform;
