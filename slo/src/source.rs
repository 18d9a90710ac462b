//! Where metric values come from: CloudWatch, or EMF records in local log files. Both answer
//! the same question: the value of a statistic of a metric per period.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::duration::Span;
use crate::math;
use crate::spec::{Query, Stat};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Fetch(String),
}

/// How many periods of `period` cover `[start_ms, end_ms)` (the last one may be partial).
pub fn period_count(start_ms: i64, end_ms: i64, period: Span) -> Result<usize, SourceError> {
    let span = (end_ms - start_ms).max(0);
    usize::try_from((span + period.millis() - 1) / period.millis())
        .map_err(|_| SourceError::Fetch("time range too long".into()))
}

/// Per-period values of metrics over a time range.
pub trait Source {
    /// For each query, the statistic per period of `period` over `[start_ms, end_ms)` (periods
    /// aligned to `start_ms`); `None` for periods without data.
    fn fetch(
        &mut self,
        queries: &[Query],
        start_ms: i64,
        end_ms: i64,
        period: Span,
    ) -> Result<Vec<Vec<Option<f64>>>, SourceError>;

    /// Why this source cannot have data for `query` at all, if it cannot (an SLO reading it has
    /// no data then, for that reason, rather than an SLI of nothing).
    fn unavailable(&self, _query: &Query) -> Option<String> {
        None
    }

    /// The earliest and latest instants (epoch ms) the source holds data for, when it knows.
    fn extent(&self) -> Option<(i64, i64)> {
        None
    }
}

/// One EMF value list: a metric of one record under one of its dimension sets.
#[derive(Debug, Clone)]
struct Series {
    timestamps: Vec<i64>,
    /// Values per timestamp (a record may hold an array).
    values: Vec<Vec<f64>>,
}

/// Key of a series: namespace, metric, sorted dimensions.
/// (namespace, metric, sorted dimensions).
pub type SeriesKey = (String, String, Vec<(String, String)>);

/// EMF records read from log files: what CloudWatch would have extracted from them.
#[derive(Debug, Default)]
pub struct EmfLogs {
    series: HashMap<SeriesKey, Series>,
    /// Records read.
    pub records: usize,
    /// Lines that looked like EMF but broke the specification (not counted, as CloudWatch
    /// would not count them).
    pub invalid: usize,
    /// Earliest and latest record timestamps.
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

impl EmfLogs {
    /// Reads every file under `paths` (files, or directories: their files, not recursively).
    pub fn read(paths: &[PathBuf]) -> Result<Self, SourceError> {
        let mut logs = Self::default();
        for path in paths {
            let files = if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|error| SourceError::Read {
                        path: path.clone(),
                        error,
                    })?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                files
            } else {
                vec![path.clone()]
            };
            for file in files {
                logs.read_file(&file)?;
            }
        }
        Ok(logs)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), SourceError> {
        let read_error = |error| SourceError::Read {
            path: path.to_path_buf(),
            error,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(read_error)?;
            if telemetry::emf::is_record(&line) {
                self.add_line(&line);
            }
        }
        Ok(())
    }

    /// Adds one EMF line (lines that are not valid EMF are counted in `invalid`).
    pub fn add_line(&mut self, line: &str) {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            self.invalid += 1;
            return;
        };
        if telemetry::emf::validate(&record).is_err() {
            self.invalid += 1;
            return;
        }
        self.records += 1;
        let timestamp = record["_aws"]["Timestamp"].as_i64().unwrap_or_default();
        self.first_ms = Some(self.first_ms.map_or(timestamp, |t| t.min(timestamp)));
        self.last_ms = Some(self.last_ms.map_or(timestamp, |t| t.max(timestamp)));
        let empty = Vec::new();
        for directive in record["_aws"]["CloudWatchMetrics"]
            .as_array()
            .unwrap_or(&empty)
        {
            let namespace = directive["Namespace"].as_str().unwrap_or_default();
            for set in directive["Dimensions"].as_array().unwrap_or(&empty) {
                let mut dimensions: Vec<(String, String)> = set
                    .as_array()
                    .unwrap_or(&empty)
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|k| {
                        (
                            k.to_owned(),
                            record[k].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                dimensions.sort();
                for metric in directive["Metrics"].as_array().unwrap_or(&empty) {
                    let name = metric["Name"].as_str().unwrap_or_default();
                    let values: Vec<f64> = match &record[name] {
                        Value::Number(n) => n.as_f64().into_iter().collect(),
                        Value::Array(list) => list.iter().filter_map(Value::as_f64).collect(),
                        _ => continue,
                    };
                    let series = self
                        .series
                        .entry((namespace.to_owned(), name.to_owned(), dimensions.clone()))
                        .or_insert_with(|| Series {
                            timestamps: Vec::new(),
                            values: Vec::new(),
                        });
                    series.timestamps.push(timestamp);
                    series.values.push(values);
                }
            }
        }
    }
}

/// The statistic of raw `values`, as CloudWatch computes it from the same values.
pub fn statistic(stat: Stat, values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let count = values.len() as f64;
    Some(match stat {
        Stat::Sum => values.iter().sum(),
        Stat::SampleCount => count,
        Stat::Average => values.iter().sum::<f64>() / count,
        Stat::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
        Stat::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Stat::Percentile(p) => return math::percentile(values, p),
        Stat::CountAtMost(x) => {
            #[allow(clippy::cast_precision_loss)]
            let at_most = values.iter().filter(|v| **v <= x).count() as f64;
            at_most
        }
        Stat::PercentAtMost(x) => {
            #[allow(clippy::cast_precision_loss)]
            let at_most = values.iter().filter(|v| **v <= x).count() as f64;
            100.0 * at_most / count
        }
    })
}

impl EmfLogs {
    /// Every (namespace, metric, dimensions) the records published.
    pub fn series_keys(&self) -> Vec<SeriesKey> {
        self.series.keys().cloned().collect()
    }

    /// The values of `query`'s metric recorded in `[start_ms, end_ms)`.
    pub fn values_between(&self, query: &Query, start_ms: i64, end_ms: i64) -> Vec<f64> {
        let key = (
            query.namespace.clone(),
            query.metric.clone(),
            query.dimensions.clone(),
        );
        self.series.get(&key).map_or_else(Vec::new, |series| {
            series
                .timestamps
                .iter()
                .zip(&series.values)
                .filter(|(t, _)| (start_ms..end_ms).contains(*t))
                .flat_map(|(_, values)| values.iter().copied())
                .collect()
        })
    }
}

impl EmfLogs {
    /// A metric-math expression per period, from its metrics' values per period.
    fn evaluate(
        &mut self,
        math: &crate::spec::Math,
        start_ms: i64,
        end_ms: i64,
        period: Span,
    ) -> Result<Vec<Option<f64>>, SourceError> {
        let expr = math
            .local
            .as_ref()
            .map_err(|e| SourceError::Fetch(format!("{:?}: {e}", math.expression)))?;
        let queries: Vec<Query> = math.metrics.iter().map(|(_, q)| q.clone()).collect();
        let values = self.fetch(&queries, start_ms, end_ms, period)?;
        let periods = values.first().map_or(0, Vec::len);
        Ok((0..periods)
            .map(|p| {
                expr.value(&|id| {
                    math.metrics
                        .iter()
                        .position(|(known, _)| known == id)
                        .and_then(|i| values[i][p])
                })
            })
            .collect())
    }
}

impl Source for EmfLogs {
    fn fetch(
        &mut self,
        queries: &[Query],
        start_ms: i64,
        end_ms: i64,
        period: Span,
    ) -> Result<Vec<Vec<Option<f64>>>, SourceError> {
        let period_ms = period.millis();
        let periods = period_count(start_ms, end_ms, period)?;
        let mut values = Vec::with_capacity(queries.len());
        for query in queries {
            if let Some(math) = &query.math {
                values.push(self.evaluate(math, start_ms, end_ms, period)?);
                continue;
            }
            values.push({
                let key = (
                    query.namespace.clone(),
                    query.metric.clone(),
                    query.dimensions.clone(),
                );
                let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); periods];
                if let Some(series) = self.series.get(&key) {
                    for (t, values) in series.timestamps.iter().zip(&series.values) {
                        if *t < start_ms || *t >= end_ms {
                            continue;
                        }
                        let index = usize::try_from((t - start_ms) / period_ms).unwrap_or(0);
                        buckets[index].extend_from_slice(values);
                    }
                }
                buckets
                    .iter_mut()
                    .map(|values| statistic(query.stat, values))
                    .collect()
            });
        }
        Ok(values)
    }

    fn extent(&self) -> Option<(i64, i64)> {
        self.first_ms.zip(self.last_ms)
    }

    fn unavailable(&self, query: &Query) -> Option<String> {
        if let Some(math) = &query.math {
            if let Err(e) = &math.local {
                return Some(format!(
                    "{:?}: {e}: read it with --source cloudwatch",
                    math.expression
                ));
            }
            return math.metrics.iter().find_map(|(_, q)| self.unavailable(q));
        }
        // The services' stdout holds their own records only; AWS publishes its metrics
        // (API Gateway's, Lambda's, SageMaker's) to CloudWatch alone.
        let service = query.namespace.strip_prefix("AWS/")?;
        let service = match service {
            "ApiGateway" => "API Gateway",
            other => other,
        };
        Some(format!(
            "{}/{} is published by AWS to CloudWatch, not in local logs (no {service} here): read it with --source cloudwatch",
            query.namespace, query.metric
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_cloudwatch_definitions() {
        let mut values = vec![10.0, 20.0, 30.0, 40.0];
        assert_eq!(statistic(Stat::Sum, &mut values), Some(100.0));
        assert_eq!(statistic(Stat::SampleCount, &mut values), Some(4.0));
        assert_eq!(statistic(Stat::Average, &mut values), Some(25.0));
        assert_eq!(statistic(Stat::CountAtMost(20.0), &mut values), Some(2.0));
        assert_eq!(
            statistic(Stat::PercentAtMost(30.0), &mut values),
            Some(75.0)
        );
        assert_eq!(statistic(Stat::Percentile(50.0), &mut values), Some(20.0));
        assert_eq!(statistic(Stat::Maximum, &mut values), Some(40.0));
        assert_eq!(statistic(Stat::Sum, &mut []), None);
    }

    #[test]
    fn records_count_under_their_exact_dimension_sets_only() {
        let mut logs = EmfLogs::default();
        logs.add_line(r#"{"_aws":{"Timestamp":60000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Service"],["Service","StartType"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"}]}]},"Service":"proxy","StartType":"warm","Latency":[5,7]}"#);
        logs.add_line(r#"{"_aws":{"Timestamp":130000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Service"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"}]}]},"Service":"proxy","Latency":9}"#);
        logs.add_line(r#"{"_aws":{"Timestamp":1},"Latency":9}"#);
        assert_eq!((logs.records, logs.invalid), (2, 1));
        let query = |dims: &[(&str, &str)]| Query {
            namespace: "N".into(),
            metric: "Latency".into(),
            dimensions: dims
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            stat: Stat::SampleCount,
            math: None,
        };
        let all = query(&[("Service", "proxy")]);
        let warm = query(&[("Service", "proxy"), ("StartType", "warm")]);
        let got = logs.fetch(&[all, warm], 0, 180_000, Span(60)).unwrap();
        assert_eq!(got[0], vec![None, Some(2.0), Some(1.0)]);
        assert_eq!(got[1], vec![None, Some(2.0), None]);
    }
}
