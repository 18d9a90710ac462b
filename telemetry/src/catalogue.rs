//! The metric catalogue: every metric the services emit, defined once. Services record through
//! these constants, and `slo`, the dashboards and the alarms read the same definitions (from
//! this module or from its JSON export, `telemetry/catalogue.json`).

use serde::Serialize;

/// The CloudWatch namespace unless `METRICS_NAMESPACE` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "MlInference";

/// Dimension holding the emitting service ([`Service::name`]).
pub const DIM_SERVICE: &str = "Service";
/// Proxy dimension: the SageMaker endpoint the proxy calls.
pub const DIM_ENDPOINT: &str = "Endpoint";
/// Model-server dimension: the model it serves.
pub const DIM_MODEL: &str = "Model";
/// `warm` or `cold`: whether the proxy or the model server started cold for this request.
pub const DIM_START_TYPE: &str = "StartType";
/// Model-server error class ([`ErrorClass`]).
pub const DIM_ERROR_CLASS: &str = "ErrorClass";

/// Values of [`DIM_START_TYPE`].
pub const START_WARM: &str = "warm";
pub const START_COLD: &str = "cold";

/// A service that emits metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    Proxy,
    ModelServer,
}

impl Service {
    /// The value of the `Service` dimension.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::ModelServer => "model-server",
        }
    }

    /// The dimension naming the thing this service fronts, besides `Service`.
    pub const fn scope_dimension(self) -> &'static str {
        match self {
            Self::Proxy => DIM_ENDPOINT,
            Self::ModelServer => DIM_MODEL,
        }
    }

    /// The dimension set every metric of this service carries.
    pub const fn base_dimensions(self) -> [&'static str; 2] {
        [DIM_SERVICE, self.scope_dimension()]
    }
}

/// Class of a failed model-server invocation, the value of [`DIM_ERROR_CLASS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 4xx but 429: the request was bad.
    Client,
    /// Refused for capacity (503 overloaded / model loading): retryable.
    Throttle,
    /// 5xx: the server failed.
    Server,
}

impl ErrorClass {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Throttle => "throttle",
            Self::Server => "server",
        }
    }
}

/// How a metric aggregates: counters sum within a record, distributions keep every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Counter,
    Distribution,
}

/// CloudWatch units used here (the EMF `Unit` strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
}

impl Unit {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Bytes => "Bytes",
        }
    }
}

/// One metric: its name, unit, kind, emitter and the extra dimensions it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub kind: Kind,
    pub service: Service,
    /// Besides the service's base dimension set, the metric is also published under the base
    /// set plus these dimensions, when a record carries them.
    pub extra_dimensions: &'static [&'static str],
    /// When a value is recorded.
    pub when: &'static str,
    pub description: &'static str,
}

impl Metric {
    /// The dimension sets this metric is published under, base set first.
    pub fn dimension_sets(&self) -> Vec<Vec<&'static str>> {
        let base = self.service.base_dimensions().to_vec();
        let mut sets = vec![base.clone()];
        if !self.extra_dimensions.is_empty() {
            let mut extended = base;
            extended.extend_from_slice(self.extra_dimensions);
            sets.push(extended);
        }
        sets
    }
}

const fn metric(
    name: &'static str,
    unit: Unit,
    kind: Kind,
    service: Service,
    when: &'static str,
    description: &'static str,
) -> Metric {
    Metric {
        name,
        unit,
        kind,
        service,
        extra_dimensions: &[],
        when,
        description,
    }
}

use Kind::{Counter, Distribution};
use Service::{ModelServer, Proxy};
use Unit::{Bytes, Count, Milliseconds};

const PER_REQUEST: &str = "every request";

pub const REQUESTS: Metric = metric(
    "Requests",
    Count,
    Counter,
    Proxy,
    PER_REQUEST,
    "1 per POST /predict (any outcome)",
);
pub const SERVER_ERRORS: Metric = metric(
    "ServerErrors",
    Count,
    Counter,
    Proxy,
    PER_REQUEST,
    "1 when the answer is a 5xx other than 503 busy, else 0 (Average = that ratio)",
);
pub const CLIENT_ERRORS: Metric = metric(
    "ClientErrors",
    Count,
    Counter,
    Proxy,
    PER_REQUEST,
    "1 when the answer is a 4xx, else 0",
);
pub const THROTTLES: Metric = metric(
    "Throttles",
    Count,
    Counter,
    Proxy,
    PER_REQUEST,
    "1 when the answer is 503 busy (the model had no capacity), else 0; not a ServerError",
);
pub const LATENCY: Metric = Metric {
    extra_dimensions: &[DIM_START_TYPE],
    ..metric(
        "Latency",
        Milliseconds,
        Distribution,
        Proxy,
        PER_REQUEST,
        "whole handler time of a request; also by StartType (warm/cold)",
    )
};
pub const COLD_START_LATENCY: Metric = metric(
    "ColdStartLatency",
    Milliseconds,
    Distribution,
    Proxy,
    "requests that started cold (StartType=cold)",
    "what a cold start cost the user: the proxy's InitDuration when the proxy was cold, plus the \
     request's Latency (which includes a cold model's load and SageMaker's ModelSetupTime)",
);
pub const UPSTREAM_LATENCY: Metric = metric(
    "UpstreamLatency",
    Milliseconds,
    Distribution,
    Proxy,
    "requests that called SageMaker",
    "time in the SageMaker InvokeEndpoint call, retries included",
);
pub const PAYLOAD_BYTES: Metric = metric(
    "PayloadBytes",
    Bytes,
    Distribution,
    Proxy,
    "requests whose body was read",
    "request body size",
);
pub const COLD_START: Metric = metric(
    "ColdStart",
    Count,
    Counter,
    Proxy,
    "first request of a process only",
    "1 on the first request a proxy process handles, valid or not (never 0)",
);
pub const INIT_DURATION: Metric = metric(
    "InitDuration",
    Milliseconds,
    Distribution,
    Proxy,
    "first request of a process only",
    "proxy process start to ready to serve",
);

pub const INVOCATIONS: Metric = metric(
    "Invocations",
    Count,
    Counter,
    ModelServer,
    PER_REQUEST,
    "1 per POST /invocations (any outcome)",
);
pub const INVOCATION_ERRORS: Metric = Metric {
    extra_dimensions: &[DIM_ERROR_CLASS],
    ..metric(
        "InvocationErrors",
        Count,
        Counter,
        ModelServer,
        PER_REQUEST,
        "1 when the invocation failed, else 0; failures also by ErrorClass (client/throttle/server)",
    )
};
pub const DECODE_LATENCY: Metric = metric(
    "DecodeLatency",
    Milliseconds,
    Distribution,
    ModelServer,
    "invocations that reached the model",
    "image decoding (with DCT scaling)",
);
pub const PREPROCESS_LATENCY: Metric = metric(
    "PreprocessLatency",
    Milliseconds,
    Distribution,
    ModelServer,
    "invocations that reached the model",
    "resize, crop and normalisation into the input tensor",
);
pub const INFERENCE_LATENCY: Metric = metric(
    "InferenceLatency",
    Milliseconds,
    Distribution,
    ModelServer,
    "invocations that reached the model",
    "ONNX Runtime session run",
);
pub const IMAGE_PIXELS: Metric = metric(
    "ImagePixels",
    Count,
    Distribution,
    ModelServer,
    "invocations that reached the model",
    "width x height of the uploaded image",
);
pub const MODEL_LOAD_TIME: Metric = metric(
    "ModelLoadTime",
    Milliseconds,
    Distribution,
    ModelServer,
    "once per process, when the model is ready",
    "process start to the first warmed ONNX Runtime session (/ping 200)",
);
pub const MODEL_COLD_START: Metric = metric(
    "ColdStart",
    Count,
    Counter,
    ModelServer,
    "first invocation of a process only",
    "1 on the first invocation a model-server process serves (never 0)",
);

const DROPPED_WHEN: &str = "when X-Ray segments were dropped, at most once a second";
const DROPPED_DESCRIPTION: &str = "X-Ray segment documents not delivered: export queue full, \
     over 64 kB, refused by X-Ray, or the upload still failing after retries (never 0)";

pub const TRACE_SEGMENTS_DROPPED: Metric = metric(
    "TraceSegmentsDropped",
    Count,
    Counter,
    Proxy,
    DROPPED_WHEN,
    DROPPED_DESCRIPTION,
);
pub const MODEL_TRACE_SEGMENTS_DROPPED: Metric = metric(
    "TraceSegmentsDropped",
    Count,
    Counter,
    ModelServer,
    DROPPED_WHEN,
    DROPPED_DESCRIPTION,
);

/// The `TraceSegmentsDropped` metric of `service`.
pub const fn trace_segments_dropped(service: Service) -> &'static Metric {
    match service {
        Proxy => &TRACE_SEGMENTS_DROPPED,
        ModelServer => &MODEL_TRACE_SEGMENTS_DROPPED,
    }
}

/// Every metric, in catalogue order.
pub const ALL: &[Metric] = &[
    REQUESTS,
    SERVER_ERRORS,
    CLIENT_ERRORS,
    THROTTLES,
    LATENCY,
    COLD_START_LATENCY,
    UPSTREAM_LATENCY,
    PAYLOAD_BYTES,
    COLD_START,
    INIT_DURATION,
    INVOCATIONS,
    INVOCATION_ERRORS,
    DECODE_LATENCY,
    PREPROCESS_LATENCY,
    INFERENCE_LATENCY,
    IMAGE_PIXELS,
    MODEL_LOAD_TIME,
    MODEL_COLD_START,
    TRACE_SEGMENTS_DROPPED,
    MODEL_TRACE_SEGMENTS_DROPPED,
];

/// The metric `name` emitted by `service`, if catalogued.
pub fn find(service: Service, name: &str) -> Option<&'static Metric> {
    ALL.iter()
        .find(|metric| metric.service == service && metric.name == name)
}

/// Metrics from AWS itself that the SLOs and dashboards also use (not emitted by us).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AwsMetric {
    pub namespace: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub dimensions: &'static [&'static str],
    pub description: &'static str,
}

/// SageMaker's namespace and the dimensions of its endpoint metrics.
pub const SAGEMAKER_NAMESPACE: &str = "AWS/SageMaker";
pub const DIM_ENDPOINT_NAME: &str = "EndpointName";
pub const DIM_VARIANT_NAME: &str = "VariantName";
/// The production variant our endpoint configuration defines (SageMaker's usual name).
pub const SAGEMAKER_VARIANT: &str = "AllTraffic";

pub const SAGEMAKER_MODEL_SETUP_TIME: AwsMetric = AwsMetric {
    namespace: SAGEMAKER_NAMESPACE,
    name: "ModelSetupTime",
    unit: "Microseconds",
    dimensions: &[DIM_ENDPOINT_NAME, DIM_VARIANT_NAME],
    description: "serverless endpoint: time to launch compute for a cold invocation",
};

pub const SAGEMAKER_MODEL_LATENCY: AwsMetric = AwsMetric {
    namespace: SAGEMAKER_NAMESPACE,
    name: "ModelLatency",
    unit: "Microseconds",
    dimensions: &[DIM_ENDPOINT_NAME, DIM_VARIANT_NAME],
    description: "time the container took to answer, as SageMaker saw it",
};

/// Lambda's namespace and the dimension of its function metrics.
pub const LAMBDA_NAMESPACE: &str = "AWS/Lambda";
pub const DIM_FUNCTION_NAME: &str = "FunctionName";

/// API Gateway's namespace and the dimensions of an HTTP API stage's metrics (published by
/// default per API and per stage; only the per-route set needs detailed metrics).
pub const API_GATEWAY_NAMESPACE: &str = "AWS/ApiGateway";
pub const DIM_API_ID: &str = "ApiId";
pub const DIM_STAGE: &str = "Stage";

const fn api_gateway(
    name: &'static str,
    unit: &'static str,
    description: &'static str,
) -> AwsMetric {
    AwsMetric {
        namespace: API_GATEWAY_NAMESPACE,
        name,
        unit,
        dimensions: &[DIM_API_ID, DIM_STAGE],
        description,
    }
}

pub const API_GATEWAY_COUNT: AwsMetric = api_gateway(
    "Count",
    "Count",
    "HTTP API requests, whatever happened to them (also those that never reached the proxy)",
);
pub const API_GATEWAY_4XX: AwsMetric = api_gateway(
    "4xx",
    "Count",
    "HTTP API answers 4xx: the proxy's client errors and API Gateway's own (429 throttles, unknown routes)",
);
pub const API_GATEWAY_5XX: AwsMetric = api_gateway(
    "5xx",
    "Count",
    "HTTP API answers 5xx: the proxy's, and API Gateway's for a Lambda that was throttled, crashed, timed out or failed to start",
);
pub const API_GATEWAY_LATENCY: AwsMetric = api_gateway(
    "Latency",
    "Milliseconds",
    "request received to answer sent by API Gateway, integration included",
);
pub const API_GATEWAY_INTEGRATION_LATENCY: AwsMetric = api_gateway(
    "IntegrationLatency",
    "Milliseconds",
    "request relayed to the Lambda to its answer received (invocation and init included)",
);

pub const AWS_METRICS: &[AwsMetric] = &[
    SAGEMAKER_MODEL_SETUP_TIME,
    AwsMetric {
        namespace: SAGEMAKER_NAMESPACE,
        name: "Invocations",
        unit: "Count",
        dimensions: &[DIM_ENDPOINT_NAME, DIM_VARIANT_NAME],
        description: "InvokeEndpoint requests SageMaker received",
    },
    SAGEMAKER_MODEL_LATENCY,
    AwsMetric {
        namespace: SAGEMAKER_NAMESPACE,
        name: "Invocation5XXErrors",
        unit: "Count",
        dimensions: &[DIM_ENDPOINT_NAME, DIM_VARIANT_NAME],
        description: "InvokeEndpoint requests that failed with 5xx",
    },
    AwsMetric {
        namespace: LAMBDA_NAMESPACE,
        name: "Errors",
        unit: "Count",
        dimensions: &[DIM_FUNCTION_NAME],
        description: "proxy invocations that failed in the runtime (crash, timeout, out of memory)",
    },
    AwsMetric {
        namespace: LAMBDA_NAMESPACE,
        name: "Throttles",
        unit: "Count",
        dimensions: &[DIM_FUNCTION_NAME],
        description: "proxy invocations refused at the reserved concurrency",
    },
    API_GATEWAY_COUNT,
    API_GATEWAY_4XX,
    API_GATEWAY_5XX,
    API_GATEWAY_LATENCY,
    API_GATEWAY_INTEGRATION_LATENCY,
];

#[derive(Serialize)]
struct Export<'a> {
    default_namespace: &'static str,
    services: Vec<ServiceExport>,
    metrics: Vec<MetricExport<'a>>,
    aws_metrics: &'static [AwsMetric],
}

#[derive(Serialize)]
struct ServiceExport {
    service: Service,
    dimension_value: &'static str,
    base_dimensions: [&'static str; 2],
}

#[derive(Serialize)]
struct MetricExport<'a> {
    #[serde(flatten)]
    metric: &'a Metric,
    dimension_sets: Vec<Vec<&'static str>>,
}

/// The catalogue as pretty JSON, the content of `telemetry/catalogue.json`.
pub fn to_json() -> String {
    let export = Export {
        default_namespace: DEFAULT_NAMESPACE,
        services: [Proxy, ModelServer]
            .into_iter()
            .map(|service| ServiceExport {
                service,
                dimension_value: service.name(),
                base_dimensions: service.base_dimensions(),
            })
            .collect(),
        metrics: ALL
            .iter()
            .map(|metric| MetricExport {
                metric,
                dimension_sets: metric.dimension_sets(),
            })
            .collect(),
        aws_metrics: AWS_METRICS,
    };
    let mut json = serde_json::to_string_pretty(&export).unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_unique_per_service() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert!(
                    !(a.name == b.name && a.service == b.service),
                    "{} twice",
                    a.name
                );
            }
        }
    }

    #[test]
    fn dimension_sets_start_with_the_service_base_set() {
        assert_eq!(
            LATENCY.dimension_sets(),
            vec![
                vec!["Service", "Endpoint"],
                vec!["Service", "Endpoint", "StartType"]
            ]
        );
        assert_eq!(INVOCATIONS.dimension_sets(), vec![vec!["Service", "Model"]]);
    }

    #[test]
    fn the_committed_catalogue_json_matches_the_code() {
        let committed = include_str!("../catalogue.json");
        assert!(
            committed == to_json(),
            "telemetry/catalogue.json is stale: run `cargo run -p telemetry --bin catalogue > telemetry/catalogue.json`"
        );
    }
}
