//! Body of the request-parsing `cargo fuzz` target in `fuzz/`, here so that
//! `tests/integration/fuzz_corpus.rs` replays the committed corpus through the same checks on
//! stable.

use api::content::ImageKind;
use api::request::MAX_TOP_K;
use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;

use crate::request::{self, Prediction};

/// The proxy's validation of `POST /predict`: refused, or an image within the limit whose
/// magic bytes are a supported format, and `top_k` in range.
pub fn validate_request(
    content_type: Option<&[u8]>,
    query: Option<&str>,
    body: &[u8],
    max_image_bytes: usize,
) -> Option<Prediction> {
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type.and_then(|v| HeaderValue::from_bytes(v).ok()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let kind = api::content::body_kind(&headers).ok()?;
    let prediction =
        request::validate(kind, query, Bytes::copy_from_slice(body), max_image_bytes).ok()?;
    assert!(
        !prediction.image.is_empty(),
        "an accepted image is not empty"
    );
    assert!(
        prediction.image.len() <= max_image_bytes,
        "the image limit holds"
    );
    assert_eq!(
        ImageKind::sniff(&prediction.image),
        Some(prediction.kind),
        "the forwarded type is the sniffed one"
    );
    assert!(
        (1..=MAX_TOP_K).contains(&prediction.top_k),
        "top_k is in range"
    );
    Some(prediction)
}
