//! Data sources, CloudWatch metric queries (metric math among them) and SLIs.

use super::*;

/// Most metrics one expression may read: GetMetricData takes 500 queries per call.
const MAX_EXPRESSION_METRICS: usize = 499;

impl Resolver<'_> {
    pub(super) fn data_source(
        &mut self,
        document: &Document,
        spec: &DataSourceSpec,
    ) -> Option<(String, Connection)> {
        if spec.kind.trim().is_empty() {
            self.push(
                document,
                "spec.type",
                "required: the source's type, e.g. CloudWatch",
            );
            return None;
        }
        if spec.kind != CLOUDWATCH {
            return Some((spec.kind.clone(), Connection::default()));
        }
        let details = match &spec.connection_details {
            Value::Null => serde_json::Map::new(),
            Value::Object(map) => map.clone(),
            _ => {
                self.push(
                    document,
                    "spec.connectionDetails",
                    "a mapping (region, accountId, roleArn)",
                );
                return None;
            }
        };
        let mut connection = Connection::default();
        let mut ok = true;
        for (key, value) in &details {
            let field = format!("spec.connectionDetails.{key}");
            let Some(text) = value.as_str().filter(|t| !t.is_empty()) else {
                self.push(document, &field, "a non-empty string");
                ok = false;
                continue;
            };
            match key.as_str() {
                "region" => connection.region = Some(text.to_owned()),
                "accountId" => connection.account_id = Some(text.to_owned()),
                "roleArn" => connection.role_arn = Some(text.to_owned()),
                "accessKeyID" | "secretAccessKey" => {
                    // Never echo the value.
                    self.push(
                        document,
                        &field,
                        "keys do not belong in spec files: slo reads credentials from the AWS environment (profile, SSO, instance role); give roleArn to read through another account's role",
                    );
                    ok = false;
                }
                _ => {
                    self.push(
                        document,
                        &field,
                        "unknown: a CloudWatch source takes region, accountId and roleArn",
                    );
                    ok = false;
                }
            }
        }
        ok.then(|| (spec.kind.clone(), connection))
    }

    /// A metric source at `field` (e.g. `spec.ratioMetric.good`): its type, from the
    /// source itself or the `DataSource` it refers to, and the CloudWatch query.
    pub(super) fn metric(
        &mut self,
        document: &Document,
        field: &str,
        metric: &MetricSpec,
        connection: &mut Connection,
    ) -> Result<Query, Unusable> {
        let source = &metric.metric_source;
        let at = format!("{field}.metricSource");
        let referenced = match &source.metric_source_ref {
            Some(name) => {
                let Some(_) = self.lookup(
                    document,
                    &format!("{at}.metricSourceRef"),
                    Kind::DataSource,
                    name,
                ) else {
                    return Err(Unusable::Invalid);
                };
                match self.sources.get(name).cloned().flatten() {
                    Some(found) => Some(found),
                    None => return Err(Unusable::Invalid),
                }
            }
            None => None,
        };
        let kind = match (&source.kind, &referenced) {
            (Some(kind), Some((source_kind, _))) if kind != source_kind => {
                self.push(
                    document,
                    &format!("{at}.type"),
                    format!(
                        "{kind:?}, but the DataSource {:?} is {source_kind:?}",
                        source.metric_source_ref.as_deref().unwrap_or_default()
                    ),
                );
                return Err(Unusable::Invalid);
            }
            (Some(kind), _) => kind.clone(),
            (None, Some((source_kind, _))) => source_kind.clone(),
            (None, None) => {
                self.push(
                    document,
                    &format!("{at}.type"),
                    "required without a metricSourceRef (e.g. CloudWatch)",
                );
                return Err(Unusable::Invalid);
            }
        };
        if kind != CLOUDWATCH {
            return Err(Unusable::NotEvaluated(format!(
                "reads a {kind} source: slo evaluates CloudWatch sources only"
            )));
        }
        if let Some((_, from_source)) = referenced {
            *connection = from_source;
        }
        let spec_at = format!("{at}.spec");
        if source.spec.get("expression").is_some() {
            return self.math(document, &spec_at, &source.spec, connection);
        }
        let cw: CloudWatchMetric = self.typed(document, &source.spec, &spec_at)?;
        connection.narrow(cw.region.as_ref(), cw.account_id.as_ref());
        self.cloudwatch_query(
            document,
            &spec_at,
            cw.namespace,
            cw.metric_name,
            &cw.stat,
            &cw.dimensions,
        )
    }

    /// Whether `query` is a plain metric, as raw ratios and thresholds need (an expression is
    /// for counts: its value per period is summed like one); reports it otherwise.
    pub(super) fn counts_only(&mut self, document: &Document, query: &Query, field: &str) -> bool {
        if query.math.is_some() {
            self.push(
                document,
                &format!("{field}.metricSource.spec.expression"),
                "metric math is for counted events (ratioMetric good, bad or total)",
            );
        }
        query.math.is_none()
    }

    /// A metric source's `spec` read as `T`; what does not fit is reported at its field.
    fn typed<T: serde::de::DeserializeOwned>(
        &mut self,
        document: &Document,
        spec: &Value,
        spec_at: &str,
    ) -> Result<T, Unusable> {
        openslo::typed(spec, spec_at).map_err(|(field, message)| {
            self.push(document, &field, message);
            Unusable::Invalid
        })
    }

    /// One CloudWatch metric and statistic, checked; `spec_at` is where it is written.
    pub(super) fn cloudwatch_query(
        &mut self,
        document: &Document,
        spec_at: &str,
        namespace: String,
        metric: String,
        stat: &str,
        dimensions: &[openslo::Dimension],
    ) -> Result<Query, Unusable> {
        let stat = match Stat::parse(stat) {
            Ok(stat) => stat,
            Err(e) => {
                self.push(document, &format!("{spec_at}.stat"), e);
                return Err(Unusable::Invalid);
            }
        };
        if namespace.is_empty() || metric.is_empty() {
            self.push(document, spec_at, "namespace and metricName are required");
            return Err(Unusable::Invalid);
        }
        let mut dimensions: Vec<(String, String)> = dimensions
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect();
        dimensions.sort();
        if dimensions.windows(2).any(|w| w[0].0 == w[1].0) {
            self.push(
                document,
                &format!("{spec_at}.dimensions"),
                "a dimension is named twice",
            );
            return Err(Unusable::Invalid);
        }
        Ok(Query {
            namespace,
            metric,
            dimensions,
            stat,
            math: None,
        })
    }

    /// A metric-math source: its ids CloudWatch's (a lowercase letter, then letters, digits
    /// and `_`), unique, each read by the expression, which reads no other.
    pub(super) fn math(
        &mut self,
        document: &Document,
        spec_at: &str,
        spec: &Value,
        connection: &mut Connection,
    ) -> Result<Query, Unusable> {
        let math: openslo::CloudWatchMath = self.typed(document, spec, spec_at)?;
        connection.narrow(math.region.as_ref(), math.account_id.as_ref());
        let before = self.problems.len();
        if math.metrics.is_empty() {
            self.push(
                document,
                &format!("{spec_at}.metrics"),
                "required: the metrics the expression reads",
            );
        }
        let expression_at = format!("{spec_at}.expression");
        let (read, unnamed) = match crate::expression::ids(&math.expression)
            .and_then(|ids| Ok((ids, crate::expression::reads_unnamed(&math.expression)?)))
        {
            Ok(read) => read,
            Err(e) => {
                self.push(document, &expression_at, e);
                return Err(Unusable::Invalid);
            }
        };
        if math.metrics.len() > MAX_EXPRESSION_METRICS {
            self.push(
                document,
                &format!("{spec_at}.metrics"),
                format!(
                    "{} metrics: at most {MAX_EXPRESSION_METRICS} (GetMetricData takes 500 queries, the expression among them)",
                    math.metrics.len()
                ),
            );
        }
        // CloudWatch gives no value where one metric has none: a minute without errors would
        // count no good events at all.
        let local = crate::expression::parse(&math.expression);
        if read.len() > 1
            && let Ok(parsed) = &local
        {
            let mut unfilled: Vec<&str> = Vec::new();
            for id in parsed.unfilled() {
                if !unfilled.contains(&id) {
                    unfilled.push(id);
                }
            }
            for id in unfilled {
                self.push(
                    document,
                    &expression_at,
                    format!(
                        "{id:?} is outside FILL: where it has no datapoint (a minute without errors, say) the expression has none, and the period would count no events; write FILL({id}, 0)"
                    ),
                );
            }
        }
        let mut metrics = Vec::new();
        for (i, metric) in math.metrics.into_iter().enumerate() {
            let at = format!("{spec_at}.metrics[{i}]");
            let mut chars = metric.id.chars();
            if !(chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                self.push(
                    document,
                    &format!("{at}.id"),
                    format!(
                        "{:?}: CloudWatch ids start with a lowercase letter, then letters, digits or _",
                        metric.id
                    ),
                );
            } else if metrics.iter().any(|(id, _)| *id == metric.id) {
                self.push(
                    document,
                    &format!("{at}.id"),
                    format!("{:?} is the id of another metric", metric.id),
                );
            } else if !unnamed && !read.contains(&metric.id) {
                self.push(
                    document,
                    &format!("{at}.id"),
                    format!("{:?}: the expression does not read it", metric.id),
                );
            }
            if let Ok(query) = self.cloudwatch_query(
                document,
                &at,
                metric.namespace,
                metric.metric_name,
                &metric.stat,
                &metric.dimensions,
            ) {
                metrics.push((metric.id, query));
            }
        }
        for id in &read {
            if !metrics.iter().any(|(known, _)| known == id) {
                self.push(
                    document,
                    &expression_at,
                    format!("reads {id:?}, which no metric is"),
                );
            }
        }
        if self.problems.len() > before {
            return Err(Unusable::Invalid);
        }
        Ok(Query {
            namespace: metrics[0].1.namespace.clone(),
            metric: math.expression.clone(),
            dimensions: Vec::new(),
            stat: Stat::Sum,
            math: Some(Box::new(crate::spec::Math {
                expression: math.expression,
                metrics,
                local,
            })),
        })
    }

    pub(super) fn sli(
        &mut self,
        document: &Document,
        spec: &SliSpec,
        prefix: &str,
    ) -> Result<ResolvedSli, Unusable> {
        let before = self.problems.len();
        let mut connection = Connection::default();
        let mut fields = Vec::new();
        let mut not_evaluated = None;
        let mut read = |this: &mut Self,
                        name: &str,
                        metric: &MetricSpec,
                        fields: &mut Vec<(PathBuf, String)>| {
            let field = format!("{prefix}.{name}");
            match this.metric(document, &field, metric, &mut connection) {
                Ok(query) => {
                    let at = format!("{field}.metricSource.spec");
                    match &query.math {
                        // Each of an expression's metrics is linted where it is written.
                        Some(math) => fields.extend(
                            (0..math.metrics.len())
                                .map(|i| (document.file.clone(), format!("{at}.metrics[{i}]"))),
                        ),
                        None => fields.push((document.file.clone(), at)),
                    }
                    Some(query)
                }
                Err(Unusable::NotEvaluated(reason)) => {
                    not_evaluated.get_or_insert(reason);
                    None
                }
                Err(Unusable::Invalid) => None,
            }
        };
        let indicator = match (&spec.ratio_metric, &spec.threshold_metric) {
            (Some(ratio), None) => {
                let r = |name: &str| format!("ratioMetric.{name}");
                match (&ratio.raw, &ratio.raw_type) {
                    (Some(raw), Some(kind)) => {
                        if ratio.good.is_some() || ratio.bad.is_some() || ratio.total.is_some() {
                            self.push(
                                document,
                                &format!("{prefix}.ratioMetric.raw"),
                                "a raw ratio cannot be given with good, bad or total",
                            );
                        }
                        read(self, &r("raw"), raw, &mut fields)
                            .filter(|q| {
                                self.counts_only(document, q, &format!("{prefix}.ratioMetric.raw"))
                            })
                            .map(|q| Indicator::Raw(q, *kind))
                    }
                    (Some(_), None) => {
                        self.push(
                            document,
                            &format!("{prefix}.ratioMetric.rawType"),
                            "required with raw: success or failure",
                        );
                        None
                    }
                    (None, Some(_)) => {
                        self.push(
                            document,
                            &format!("{prefix}.ratioMetric.rawType"),
                            "only with raw (good or bad already say which ratio it is)",
                        );
                        None
                    }
                    (None, None) => {
                        if ratio.good.is_some() == ratio.bad.is_some() {
                            self.push(
                                document,
                                &format!("{prefix}.ratioMetric"),
                                "give exactly one of good and bad, beside total",
                            );
                        }
                        let Some(total_spec) = &ratio.total else {
                            self.push(
                                document,
                                &format!("{prefix}.ratioMetric.total"),
                                "required with good or bad (or give raw and rawType)",
                            );
                            return Err(Unusable::Invalid);
                        };
                        let good = ratio
                            .good
                            .as_ref()
                            .and_then(|g| read(self, &r("good"), g, &mut fields));
                        let bad = ratio
                            .bad
                            .as_ref()
                            .and_then(|b| read(self, &r("bad"), b, &mut fields));
                        let total = read(self, &r("total"), total_spec, &mut fields);
                        for (name, query) in [("good", &good), ("bad", &bad), ("total", &total)] {
                            let Some(query) = query else { continue };
                            let spec_at = format!("{prefix}.ratioMetric.{name}.metricSource.spec");
                            for (i, leaf) in query.leaves().into_iter().enumerate() {
                                if !matches!(
                                    leaf.stat,
                                    Stat::Sum | Stat::SampleCount | Stat::CountAtMost(_)
                                ) {
                                    let at = match query.math {
                                        Some(_) => format!("{spec_at}.metrics[{i}].stat"),
                                        None => format!("{spec_at}.stat"),
                                    };
                                    self.push(
                                        document,
                                        &at,
                                        "events must be counted: use Sum, SampleCount or TC(:x)",
                                    );
                                }
                            }
                        }
                        total.map(|total| Indicator::Ratio { good, bad, total })
                    }
                }
            }
            (None, Some(threshold)) => read(self, "thresholdMetric", threshold, &mut fields)
                .filter(|q| self.counts_only(document, q, &format!("{prefix}.thresholdMetric")))
                .map(Indicator::Threshold),
            _ => {
                self.push(
                    document,
                    prefix,
                    "give exactly one of ratioMetric and thresholdMetric",
                );
                None
            }
        };
        if self.problems.len() > before {
            return Err(Unusable::Invalid);
        }
        if let Some(reason) = not_evaluated {
            return Err(Unusable::NotEvaluated(reason));
        }
        if let Some(indicator) = &indicator {
            let (queries, threshold) = match indicator {
                Indicator::Ratio { good, bad, total } => (
                    good.iter()
                        .chain(bad)
                        .chain([total])
                        .flat_map(Query::leaves)
                        .cloned()
                        .collect(),
                    false,
                ),
                Indicator::Threshold(q) => (vec![q.clone()], true),
                Indicator::Raw(q, _) => (vec![q.clone()], false),
            };
            self.indicators.push(crate::lint::Indicator {
                label: document.label.clone(),
                fields,
                queries,
                threshold,
            });
        }
        indicator
            .map(|indicator| ResolvedSli {
                indicator,
                connection,
            })
            .ok_or(Unusable::Invalid)
    }
}
