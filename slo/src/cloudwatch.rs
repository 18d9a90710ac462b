//! The CloudWatch source: `GetMetricData` with as few calls as the API's limits allow.
//!
//! - A call takes at most 500 queries and returns at most 100,800 datapoints, so each call
//!   carries `min(500, 100_800 / datapoints per query)` queries; `NextToken` is followed.
//! - CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days and hourly data
//!   for 455 days, so the period is the smallest one still stored for the start of the range.
//!   Values of a coarser period land in the finer bucket of their timestamp, which is exact
//!   for counts and sums (the only statistics summed per period by `slo report`). The last
//!   3 days (the longest burn-rate lookback) are always read at the period asked for, as a
//!   second range of the same call plan, so burn rates stay exact over old windows.
//! - CloudWatch rounds `StartTime` down (to the minute, 5 minutes or the hour, by age) and
//!   its periods start there; the source sends the rounded start itself and puts the
//!   datapoint stamped before the window's start into its first bucket.
//! - Throttling is retried by the SDK's standard retry mode with exponential backoff.
//! - [`CloudWatch::prefetch`] takes every request a report will make, so all SLOs share calls.
//! - A metric-math count is sent as its expression (id `q<n>`) and its metrics (ids
//!   `q<n>_<id>`, returning no data), all within the 500 entries of a call. Over old data its
//!   values are moved between coarser buckets like a count's only when it is a sum of counts
//!   times constants (exact then); any other expression is refused there, as other statistics
//!   are.
//!
//! `aws-sdk-cloudwatch` is pinned to 1.99, the last release speaking the Query protocol, which
//! CloudWatch still serves; later releases speak Smithy RPC v2 CBOR, which the `moto` test
//! double does not.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;

use crate::duration::{DAY, HOUR, MINUTE, Span};
use crate::math::LOOKBACKS;
use crate::source::{Source, SourceError, period_count};
use crate::spec::{Connection, Query, Stat};

/// `GetMetricData` limits.
pub const MAX_QUERIES_PER_CALL: usize = 500;
pub const MAX_DATAPOINTS_PER_CALL: usize = 100_800;

/// The finest period CloudWatch still stores for data `age` old.
pub fn finest_period(age: Span) -> Span {
    if age.seconds() <= 15 * DAY.seconds() {
        MINUTE
    } else if age.seconds() <= 63 * DAY.seconds() {
        Span(5 * 60)
    } else {
        HOUR
    }
}

/// The period CloudWatch is asked for: the requested one, or the finest still stored.
fn effective_period(request: &Request, now_ms: i64) -> Span {
    let age = Span((now_ms - request.start_ms).max(0) / 1_000);
    request.period.max(finest_period(age))
}

/// The most recent stretch that is always read at the requested period, even when the start
/// of the range is older than CloudWatch keeps that period for: the longest burn-rate lookback,
/// so burn rates never see coarser data than they ask for.
const FINE_SPAN: Span = LOOKBACKS[LOOKBACKS.len() - 1];

/// The ranges `request` is read in, each with the datapoint timestamps taken from it: the
/// request itself, or, when its start is too old for its period, the whole range at the
/// coarser period CloudWatch keeps (taken up to the split) plus the last [`FINE_SPAN`] at the
/// period asked for (taken from the split on). The split falls on a coarse boundary, so no
/// coarse period straddles it; the whole range is the one other whole-window queries (the
/// cold-start percentiles) use, so both share calls.
fn pieces(request: &Request, now_ms: i64) -> Vec<(Request, std::ops::Range<i64>)> {
    let coarse = effective_period(request, now_ms);
    let split = (request.end_ms - FINE_SPAN.millis()).div_euclid(coarse.millis()) * coarse.millis();
    let recent_age = Span((now_ms - split).max(0) / 1_000);
    if coarse <= request.period
        || split <= request.start_ms
        || finest_period(recent_age) > request.period
    {
        return vec![(request.clone(), i64::MIN..request.end_ms)];
    }
    vec![
        (request.clone(), i64::MIN..split),
        (
            Request {
                start_ms: split,
                ..request.clone()
            },
            split..request.end_ms,
        ),
    ]
}

/// One request of a report: queries over a range in periods.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub queries: Vec<Query>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub period: Span,
}

/// One `GetMetricData` call of a plan: one time range, each query with its own period.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Each query with the period CloudWatch is asked for (coarser than requested for old
    /// data).
    pub queries: Vec<(Query, Span)>,
}

impl Call {
    /// Datapoints this call may return (an expression's metrics counted as well).
    pub fn datapoints(&self) -> usize {
        self.queries
            .iter()
            .map(|(query, period)| sent(query) * datapoints(self.start_ms, self.end_ms, *period))
            .sum()
    }

    /// `MetricDataQuery` entries this call sends.
    pub fn sent(&self) -> usize {
        self.queries.iter().map(|(query, _)| sent(query)).sum()
    }
}

/// `MetricDataQuery` entries `query` takes: one, or an expression and its metrics.
fn sent(query: &Query) -> usize {
    query.math.as_ref().map_or(1, |math| 1 + math.metrics.len())
}

fn datapoints(start_ms: i64, end_ms: i64, period: Span) -> usize {
    // One more for the period that starts at the rounded-down start (see [`aligned_start`]).
    period_count(start_ms, end_ms, period)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
}

/// Splits `requests` into the ranges they are read in ([`pieces`]), groups those by time range
/// (a call has one range, but each query its own period), removes duplicate queries, and packs
/// them into calls within the limits. Fails when one
/// query alone exceeds the datapoint limit.
pub fn plan(requests: &[Request], now_ms: i64) -> Result<Vec<Call>, SourceError> {
    let requests: Vec<Request> = requests
        .iter()
        .flat_map(|r| pieces(r, now_ms))
        .map(|(piece, _)| piece)
        .collect();
    let mut groups: Vec<Call> = Vec::new();
    for request in &requests {
        let period = effective_period(request, now_ms);
        if period > request.period
            && let Some(query) = request.queries.iter().find(|q| !additive(q))
        {
            let what = match &query.math {
                Some(math) => format!(
                    "the expression {:?} (not a sum of metrics times constants)",
                    math.expression
                ),
                None => format!("{} {}", query.metric, query.stat.cloudwatch()),
            };
            return Err(SourceError::Fetch(format!(
                "{what} over data older than CloudWatch keeps at {}-periods: use a shorter window",
                request.period
            )));
        }
        let points = datapoints(request.start_ms, request.end_ms, period);
        if points > MAX_DATAPOINTS_PER_CALL {
            return Err(SourceError::Fetch(format!(
                "{points} datapoints per metric exceed GetMetricData's {MAX_DATAPOINTS_PER_CALL}: use a shorter window"
            )));
        }
        let index = match groups
            .iter()
            .position(|g| g.start_ms == request.start_ms && g.end_ms == request.end_ms)
        {
            Some(index) => index,
            None => {
                groups.push(Call {
                    start_ms: request.start_ms,
                    end_ms: request.end_ms,
                    queries: Vec::new(),
                });
                groups.len() - 1
            }
        };
        for query in &request.queries {
            let entry = (query.clone(), period);
            if !groups[index].queries.contains(&entry) {
                groups[index].queries.push(entry);
            }
        }
    }
    // Largest first, then first fit: few calls for few, differently sized queries.
    let mut calls = Vec::new();
    for mut group in groups {
        group.queries.sort_by_key(|(_, period)| {
            std::cmp::Reverse(datapoints(group.start_ms, group.end_ms, *period))
        });
        let mut packed: Vec<Call> = Vec::new();
        for entry in group.queries {
            let points = sent(&entry.0) * datapoints(group.start_ms, group.end_ms, entry.1);
            let fits = packed.iter_mut().find(|call| {
                call.sent() + sent(&entry.0) <= MAX_QUERIES_PER_CALL
                    && call.datapoints() + points <= MAX_DATAPOINTS_PER_CALL
            });
            match fits {
                Some(call) => call.queries.push(entry),
                None => packed.push(Call {
                    start_ms: group.start_ms,
                    end_ms: group.end_ms,
                    queries: vec![entry],
                }),
            }
        }
        calls.extend(packed);
    }
    Ok(calls)
}

/// Counts and sums can be moved between buckets of different sizes; other statistics cannot,
/// nor expressions other than sums of counts times constants.
fn additive(query: &Query) -> bool {
    match &query.math {
        Some(math) => {
            math.local
                .as_ref()
                .is_ok_and(crate::expression::Expr::is_linear)
                && math.metrics.iter().all(|(_, metric)| additive(metric))
        }
        None => matches!(
            query.stat,
            Stat::Sum | Stat::SampleCount | Stat::CountAtMost(_)
        ),
    }
}

/// The `MetricDataQuery` entries for `query`, the one returning data with id `q<index>`: the
/// metric itself, or an expression (its ids renamed `q<index>_<id>`) and its metrics, which
/// return no data of their own.
pub fn metric_data_queries(
    index: usize,
    query: &Query,
    period: Span,
    account: Option<&str>,
) -> Vec<MetricDataQuery> {
    let Some(math) = &query.math else {
        return vec![metric_data_query(
            &format!("q{index}"),
            query,
            period,
            account,
        )];
    };
    let inner = |id: &str| format!("q{index}_{id}");
    let mut queries: Vec<MetricDataQuery> = math
        .metrics
        .iter()
        .map(|(id, metric)| {
            let mut query = metric_data_query(&inner(id), metric, period, account);
            query.return_data = Some(false);
            query
        })
        .collect();
    // The loader read every id of the expression, so renaming cannot fail.
    let expression = crate::expression::rename(&math.expression, inner)
        .unwrap_or_else(|_| math.expression.clone());
    queries.push(
        MetricDataQuery::builder()
            .id(format!("q{index}"))
            .expression(expression)
            .return_data(true)
            .build(),
    );
    queries
}

/// The `MetricDataQuery` of one metric; from the source account `account` when given (a
/// monitoring account reading another account's metrics through CloudWatch cross-account
/// observability).
fn metric_data_query(
    id: &str,
    query: &Query,
    period: Span,
    account: Option<&str>,
) -> MetricDataQuery {
    let mut metric = Metric::builder()
        .namespace(&query.namespace)
        .metric_name(&query.metric);
    for (name, value) in &query.dimensions {
        metric = metric.dimensions(Dimension::builder().name(name).value(value).build());
    }
    let stat = MetricStat::builder()
        .metric(metric.build())
        .period(i32::try_from(period.seconds()).unwrap_or(i32::MAX))
        .stat(query.stat.cloudwatch())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(stat)
        .set_account_id(account.map(str::to_owned))
        .return_data(true)
        .build()
}

/// The start CloudWatch really uses: it rounds `StartTime` down to the minute (data under 15
/// days old), to 5 minutes (under 63 days) or to the hour, and its periods start there. Sending
/// the rounded start ourselves makes every CloudWatch-compatible server answer alike.
fn aligned_start(start_ms: i64, now_ms: i64) -> i64 {
    let step = finest_period(Span((now_ms - start_ms).max(0) / 1_000)).millis();
    start_ms.div_euclid(step) * step
}

type CacheKey = (String, i64, i64, i64);

fn cache_key(query: &Query, start_ms: i64, end_ms: i64, period: Span) -> CacheKey {
    (format!("{query:?}"), start_ms, end_ms, period.seconds())
}

/// CloudWatch, read through `GetMetricData`.
#[derive(Debug)]
pub struct CloudWatch {
    client: Client,
    runtime: tokio::runtime::Runtime,
    now_ms: i64,
    /// Values per (query, call range, period asked of CloudWatch): timestamp (ms) and value.
    cache: HashMap<CacheKey, Vec<(i64, f64)>>,
    /// Why a query could not be read (its call failed); asked again, it fails the same way.
    failed: HashMap<CacheKey, String>,
    /// `GetMetricData` calls made (pages included).
    pub calls: usize,
    /// The source account of every metric (`accountId`), when not the caller's.
    account_id: Option<String>,
}

impl CloudWatch {
    /// A client from the standard AWS configuration (environment, profile, instance role),
    /// talking to `endpoint_url` when given; in the `connection`'s region, through its role
    /// (assumed with STS, from the standard credentials) when it names one, reading the
    /// metrics of its `accountId` when it names one.
    pub fn new(
        endpoint_url: Option<&str>,
        now_ms: i64,
        connection: &Connection,
    ) -> Result<Self, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Fetch(format!("cannot start the async runtime: {e}")))?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &connection.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = runtime.block_on(loader.load());
        let retry = aws_sdk_cloudwatch::config::retry::RetryConfig::standard()
            .with_max_attempts(8)
            .with_initial_backoff(std::time::Duration::from_millis(200));
        let mut config = aws_sdk_cloudwatch::config::Builder::from(&shared).retry_config(retry);
        if let Some(role) = &connection.role_arn {
            let provider = runtime.block_on(
                aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name("slo")
                    .configure(&shared)
                    .build(),
            );
            config = config.credentials_provider(provider);
        }
        if let Some(url) = endpoint_url {
            config = config.endpoint_url(url);
        }
        Ok(Self {
            client: Client::from_conf(config.build()),
            runtime,
            now_ms,
            cache: HashMap::new(),
            failed: HashMap::new(),
            calls: 0,
            account_id: connection.account_id.clone(),
        })
    }

    /// Fetches everything `requests` ask for in as few calls as the limits allow. A failed
    /// call fails only the queries it carried (see [`Source::fetch`]).
    pub fn prefetch(&mut self, requests: &[Request]) -> Result<(), SourceError> {
        let calls = plan(requests, self.now_ms)?;
        let progress = std::io::stderr().is_terminal();
        for (n, call) in calls.iter().enumerate() {
            if progress {
                let _ = write!(
                    std::io::stderr(),
                    "\rslo: reading CloudWatch, call {} of {}…",
                    n + 1,
                    calls.len()
                );
            }
            let results = match self.call(call) {
                Ok(results) => results.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e.to_string()); call.queries.len()],
            };
            for ((query, period), values) in call.queries.iter().zip(results) {
                let key = cache_key(query, call.start_ms, call.end_ms, *period);
                match values {
                    Ok(values) => {
                        self.cache.insert(key, values);
                    }
                    Err(reason) => {
                        self.failed.insert(key, reason);
                    }
                }
            }
        }
        if progress && !calls.is_empty() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
        Ok(())
    }

    /// One planned call, all pages: (timestamp ms, value) per query, in query order.
    fn call(&mut self, call: &Call) -> Result<Vec<Vec<(i64, f64)>>, SourceError> {
        let queries = call
            .queries
            .iter()
            .enumerate()
            .flat_map(|(i, (q, period))| {
                metric_data_queries(i, q, *period, self.account_id.as_deref())
            })
            .collect::<Vec<_>>();
        let mut values: Vec<Vec<(i64, f64)>> = vec![Vec::new(); call.queries.len()];
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_millis(aligned_start(
                    call.start_ms,
                    self.now_ms,
                )))
                .end_time(DateTime::from_millis(call.end_ms))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.clone());
            let output = self.runtime.block_on(request.send()).map_err(|e| {
                SourceError::Fetch(format!(
                    "GetMetricData failed: {}",
                    aws_sdk_cloudwatch::error::DisplayErrorContext(e)
                ))
            })?;
            self.calls += 1;
            for result in output.metric_data_results() {
                let Some(index) = result
                    .id()
                    .and_then(|id| id.strip_prefix('q'))
                    .and_then(|i| i.parse::<usize>().ok())
                    .filter(|i| *i < values.len())
                else {
                    continue;
                };
                if let Some(aws_sdk_cloudwatch::types::StatusCode::InternalError) =
                    result.status_code()
                {
                    return Err(SourceError::Fetch(format!(
                        "CloudWatch could not compute {} ({:?})",
                        call.queries[index].0.metric,
                        result.messages()
                    )));
                }
                for (timestamp, value) in result.timestamps().iter().zip(result.values()) {
                    let ms = timestamp.to_millis().unwrap_or_default();
                    values[index].push((ms, *value));
                }
            }
            token = output.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(values)
    }
}

impl Source for CloudWatch {
    fn fetch(
        &mut self,
        queries: &[Query],
        start_ms: i64,
        end_ms: i64,
        period: Span,
    ) -> Result<Vec<Vec<Option<f64>>>, SourceError> {
        let request = Request {
            queries: queries.to_vec(),
            start_ms,
            end_ms,
            period,
        };
        let pieces = pieces(&request, self.now_ms);
        let now_ms = self.now_ms;
        let keys = |query: &Query| -> Vec<(CacheKey, std::ops::Range<i64>)> {
            pieces
                .iter()
                .map(|(p, taken)| {
                    let period = effective_period(p, now_ms);
                    (
                        cache_key(query, p.start_ms, p.end_ms, period),
                        taken.clone(),
                    )
                })
                .collect()
        };
        let missing: Vec<Query> = queries
            .iter()
            .filter(|q| {
                keys(q)
                    .iter()
                    .any(|(key, _)| !self.cache.contains_key(key) && !self.failed.contains_key(key))
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.prefetch(&[Request {
                queries: missing,
                ..request.clone()
            }])?;
        }
        if let Some(reason) = queries
            .iter()
            .flat_map(&keys)
            .find_map(|(key, _)| self.failed.get(&key))
        {
            return Err(SourceError::Fetch(reason.clone()));
        }
        let period_ms = period.millis();
        let buckets = period_count(start_ms, end_ms, period)?;
        Ok(queries
            .iter()
            .map(|query| {
                let mut out: Vec<Option<f64>> = vec![None; buckets];
                let datapoints = keys(query).into_iter().flat_map(|(key, taken)| {
                    self.cache
                        .get(&key)
                        .into_iter()
                        .flatten()
                        .filter(move |(timestamp, _)| taken.contains(timestamp))
                });
                // Each piece's `taken` range ends at `end_ms` at the latest.
                for (timestamp, value) in datapoints {
                    // A datapoint stamped at the rounded-down start (see [`aligned_start`])
                    // covers the first bucket too: it belongs there, not nowhere.
                    let index =
                        usize::try_from((timestamp - start_ms).max(0) / period_ms).unwrap_or(0);
                    // Coarser datapoints of additive statistics add up in their bucket.
                    out[index] = Some(out[index].unwrap_or(0.0) + value);
                }
                out
            })
            .collect())
    }
}

/// Records what a report asks for, answering nothing: the first pass of a prefetch.
#[derive(Debug, Default)]
pub struct Recorder {
    pub requests: Vec<Request>,
}

impl Source for Recorder {
    fn fetch(
        &mut self,
        queries: &[Query],
        start_ms: i64,
        end_ms: i64,
        period: Span,
    ) -> Result<Vec<Vec<Option<f64>>>, SourceError> {
        self.requests.push(Request {
            queries: queries.to_vec(),
            start_ms,
            end_ms,
            period,
        });
        let buckets = period_count(start_ms, end_ms, period)?;
        Ok(vec![vec![None; buckets]; queries.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(metric: &str, stat: Stat) -> Query {
        Query {
            namespace: "MlInference".into(),
            metric: metric.into(),
            dimensions: vec![
                ("Endpoint".into(), "mobilenet".into()),
                ("Service".into(), "proxy".into()),
            ],
            stat,
            math: None,
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn latency_queries_carry_trimmed_count_and_percentile_statistics() {
        let q = metric_data_queries(3, &query("Latency", Stat::CountAtMost(300.0)), MINUTE, None)
            .remove(0);
        assert_eq!(q.id(), Some("q3"));
        assert_eq!(q.account_id(), None);
        let stat = q.metric_stat().unwrap();
        assert_eq!(stat.stat(), Some("TC(:300)"));
        assert_eq!(stat.period(), Some(60));
        let metric = stat.metric().unwrap();
        assert_eq!(metric.metric_name(), Some("Latency"));
        let dims: Vec<(&str, &str)> = metric
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(dims, [("Endpoint", "mobilenet"), ("Service", "proxy")]);
        let p = metric_data_query(
            "q0",
            &query("ColdStartLatency", Stat::Percentile(99.0)),
            DAY,
            None,
        );
        assert_eq!(p.metric_stat().unwrap().stat(), Some("p99"));
        let other = metric_data_query(
            "q0",
            &query("Requests", Stat::Sum),
            MINUTE,
            Some("210987654321"),
        );
        assert_eq!(other.account_id(), Some("210987654321"));
    }

    #[test]
    fn an_expression_is_sent_with_its_metrics_under_ids_of_its_own() {
        let math = Query {
            math: Some(Box::new(crate::spec::Math::new(
                "FILL(errors, 0) - throttles".into(),
                vec![
                    ("errors".into(), query("ServerErrors", Stat::Sum)),
                    ("throttles".into(), query("Throttles", Stat::Sum)),
                ],
            ))),
            ..query("FILL(errors, 0) - throttles", Stat::Sum)
        };
        let sent = metric_data_queries(2, &math, MINUTE, Some("210987654321"));
        let ids: Vec<(&str, Option<bool>)> = sent
            .iter()
            .map(|q| (q.id().unwrap(), q.return_data()))
            .collect();
        assert_eq!(
            ids,
            [
                ("q2_errors", Some(false)),
                ("q2_throttles", Some(false)),
                ("q2", Some(true))
            ]
        );
        assert_eq!(
            sent[2].expression(),
            Some("FILL(q2_errors, 0) - q2_throttles")
        );
        assert_eq!(sent[0].account_id(), Some("210987654321"));
        // Three entries of the 500 a call takes.
        let call = Call {
            start_ms: 0,
            end_ms: 60_000,
            queries: vec![(math.clone(), MINUTE)],
        };
        assert_eq!(call.sent(), 3);
        // Older than CloudWatch's 1-minute data, a difference of counts adds up over the
        // coarser periods; a ratio does not, and is refused.
        let old = |query: Query| Request {
            queries: vec![query],
            start_ms: NOW - 28 * DAY.millis(),
            end_ms: NOW,
            period: MINUTE,
        };
        assert!(plan(&[old(math.clone())], NOW).is_ok());
        let mut ratio = math;
        if let Some(expression) = ratio.math.as_mut() {
            **expression =
                crate::spec::Math::new("errors / throttles".into(), expression.metrics.clone());
        }
        let refused = plan(&[old(ratio)], NOW).unwrap_err().to_string();
        assert!(
            refused.contains("\"errors / throttles\" (not a sum of metrics times constants)"),
            "{refused}"
        );
    }

    #[test]
    fn the_plan_uses_the_fewest_calls_the_limits_allow() {
        // 28 days ending now at 5-minute periods (older than 15 days: no 1-minute data):
        // 8065 datapoints per query (the rounded-down start adds one), 12 queries per call;
        // the last 3 days per minute: 4321 per query, 23 per call.
        let start = NOW - 28 * DAY.millis();
        let queries: Vec<Query> = (0..30)
            .map(|i| query(&format!("M{i}"), Stat::Sum))
            .collect();
        let window = Request {
            queries,
            start_ms: start,
            end_ms: NOW,
            period: MINUTE,
        };
        let calls = plan(std::slice::from_ref(&window), NOW).unwrap();
        assert_eq!(calls.len(), 3 + 2);
        let (coarse, fine): (Vec<&Call>, Vec<&Call>) =
            calls.iter().partition(|c| c.start_ms == start);
        assert_eq!(coarse.len(), 3);
        assert!(
            coarse
                .iter()
                .all(|c| c.queries.iter().all(|(_, p)| *p == Span(300)))
        );
        assert_eq!(coarse[0].queries.len(), 12);
        assert!(
            fine.iter().all(|c| c.start_ms == NOW - 3 * DAY.millis()
                && c.queries.iter().all(|(_, p)| *p == MINUTE))
        );
        assert_eq!(fine[0].queries.len(), 23);
        // Queries of another period over the same range share those calls' spare room; the
        // same query asked twice is fetched once.
        let whole = Request {
            queries: vec![query("Requests", Stat::Sum), query("Requests", Stat::Sum)],
            start_ms: start,
            end_ms: NOW,
            period: Span(28 * 86_400),
        };
        let calls = plan(&[window, whole], NOW).unwrap();
        assert_eq!(calls.len(), 5);
        assert_eq!(
            calls.iter().map(|c| c.queries.len()).sum::<usize>(),
            30 + 30 + 1
        );
        assert!(
            calls
                .iter()
                .all(|c| c.datapoints() <= MAX_DATAPOINTS_PER_CALL)
        );
    }

    #[test]
    fn the_start_is_rounded_down_as_cloudwatch_rounds_it() {
        let minute = 60_000;
        let odd = NOW - 3 * DAY.millis() + 12_345;
        assert_eq!(aligned_start(odd, NOW), odd - 12_345);
        let old = NOW - 20 * DAY.millis() + 61_000;
        assert_eq!(aligned_start(old, NOW) % (5 * minute), 0);
        assert!(old - aligned_start(old, NOW) < 5 * minute);
        assert_eq!(
            aligned_start(NOW - 100 * DAY.millis(), NOW) % HOUR.millis(),
            0
        );
    }

    #[test]
    fn a_window_older_than_minute_data_reads_its_last_three_days_per_minute() {
        let end = NOW - 7 * 60_000;
        let window = Request {
            queries: vec![query("Requests", Stat::Sum)],
            start_ms: end - 28 * DAY.millis(),
            end_ms: end,
            period: MINUTE,
        };
        let parts = pieces(&window, NOW);
        assert_eq!(parts.len(), 2);
        let ((old, before), (recent, after)) = (&parts[0], &parts[1]);
        assert_eq!(
            old, &window,
            "the whole window, shared with whole-window queries"
        );
        let split = before.end;
        assert_eq!(after.start, split);
        assert_eq!(recent.start_ms, split);
        assert_eq!(recent.end_ms, end);
        assert_eq!(split % Span(300).millis(), 0, "on a 5-minute boundary");
        assert!(end - split >= FINE_SPAN.millis() && end - split < FINE_SPAN.millis() + 300_000);
        assert_eq!(effective_period(old, NOW), Span(300));
        assert_eq!(effective_period(recent, NOW), MINUTE);
        let calls = plan(&[old.clone(), recent.clone()], NOW).unwrap();
        assert_eq!(calls.len(), 2, "one call per range");
        // A window CloudWatch keeps per minute, or a query over one period, stays whole.
        let recent = Request {
            start_ms: end - 7 * DAY.millis(),
            ..window.clone()
        };
        assert_eq!(pieces(&recent, NOW), vec![(recent.clone(), i64::MIN..end)]);
        let whole = Request {
            period: Span(28 * 86_400),
            ..window
        };
        assert_eq!(pieces(&whole, NOW), vec![(whole.clone(), i64::MIN..end)]);
    }

    #[test]
    fn old_data_cannot_give_per_minute_percentiles() {
        let request = Request {
            queries: vec![query("Latency", Stat::Percentile(99.0))],
            start_ms: NOW - 20 * DAY.millis(),
            end_ms: NOW,
            period: MINUTE,
        };
        assert!(plan(&[request], NOW).is_err());
        assert_eq!(finest_period(Span(100 * 86_400)), HOUR);
    }
}
