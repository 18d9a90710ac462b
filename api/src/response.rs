//! The answers, typed once for the server that writes them and the client that reads them:
//! the model server's [`Invocation`] and [`Ping`], the proxy's [`Predict`].

use serde::{Deserialize, Serialize};

/// One class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// Which model answered: its name and `sha256:<12 hex>` of the model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
}

/// Milliseconds spent in each stage of one invocation, inside the model server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelTimings {
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub total_ms: f64,
}

/// The model server's 200 to `POST /invocations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub predictions: Vec<Prediction>,
    pub model: ModelInfo,
    pub timings: ModelTimings,
    /// The first invocation this model server process served.
    pub cold_start: bool,
    pub trace_id: String,
}

/// The model server's 200 to `GET /ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub status: String,
    pub model: ModelInfo,
}

/// Milliseconds of one `/predict`: the whole request at the proxy, the SageMaker call, and the
/// model server's stages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PredictTimings {
    pub total_ms: f64,
    pub upstream_ms: f64,
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
}

/// Which side started cold for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdStart {
    pub proxy: bool,
    pub model: bool,
}

/// The proxy's 200 to `POST /predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predict {
    pub predictions: Vec<Prediction>,
    pub model: ModelInfo,
    pub timings: PredictTimings,
    pub cold_start: ColdStart,
    pub request_id: String,
    pub trace_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readmes_answer_reads_and_writes_back_unchanged() {
        let text = r#"{"predictions":[{"index":12,"label":"house finch","probability":0.9991}],"model":{"name":"mobilenetv2-int8","version":"sha256:83530ad811bc"},"timings":{"total_ms":5.1,"upstream_ms":4.6,"decode_ms":1.3,"preprocess_ms":0.3,"inference_ms":1.8},"cold_start":{"proxy":false,"model":false},"request_id":"r","trace_id":"1-6745a1b2-0123456789abcdef01234567"}"#;
        let answer: Predict = serde_json::from_str(text).unwrap();
        assert_eq!(answer.predictions[0].label, "house finch");
        assert_eq!(serde_json::to_string(&answer).unwrap(), text);
    }

    #[test]
    fn an_invocation_without_its_timings_is_refused() {
        let text = r#"{"predictions":[],"model":{"name":"m","version":"v"},"cold_start":false,"trace_id":"t"}"#;
        assert!(serde_json::from_str::<Invocation>(text).is_err());
    }
}
