//! Service level objectives from OpenSLO v1 documents, for CloudWatch: every kind of the
//! specification read ([`openslo`]), its rules checked ([`rules`]) and references resolved
//! ([`load`]) into checked SLOs ([`spec`]) with their alert policies ([`policy`]), optionally
//! linted against a metric catalogue ([`lint`]), counts given as metric math ([`expression`]); SLIs, error budgets, burn rates and alert tiers ([`math`], whose docs give the
//! exact formulas), evaluated from EMF records in local logs or from CloudWatch
//! ([`source`], [`cloudwatch`], [`report`]), rendered for people and machines ([`render`],
//! [`chart`]), and turned into CloudWatch alarms ([`alarms`]) and a dashboard ([`dashboard`]) for Terraform
//! ([`terraform`]).

pub mod alarms;
pub mod backtest;
pub mod calendar;
pub mod chart;
pub mod cloudwatch;
pub mod dashboard;
pub mod duration;
pub mod expression;
#[doc(hidden)]
pub mod fuzzing;
pub mod lint;
pub mod load;
pub mod math;
pub mod openslo;
pub mod policy;
pub mod render;
pub mod report;
pub mod rules;
pub mod run;
pub mod source;
pub mod spec;
pub mod terraform;
