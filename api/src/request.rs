//! A fully read body into image bytes and `top_k`: raw image bodies, or JSON with
//! `image_base64` (standard or URL-safe base64, a `data:` URL prefix accepted) and `top_k`.
//! Besides the body, `top_k` may come from the transport: the query string at the proxy
//! (`?top_k=3`), SageMaker's custom attributes at the model server (`top_k=3`); the body's
//! wins.

use std::borrow::Cow;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Deserialize;

use crate::RequestError;
use crate::content::BodyKind;

/// SageMaker forwards the caller's `CustomAttributes` to the container in this header.
pub const CUSTOM_ATTRIBUTES_HEADER: &str = "x-amzn-sagemaker-custom-attributes";

/// Classes answered when the request does not say.
pub const DEFAULT_TOP_K: usize = 5;
/// Largest `top_k` a client may ask for.
pub const MAX_TOP_K: usize = 20;

/// A request ready for decoding.
#[derive(Debug)]
pub struct ImageRequest {
    pub image: Bytes,
    /// From the body, else from the transport; `None` when neither gave one.
    pub top_k: Option<usize>,
}

#[derive(Deserialize)]
struct JsonRequest<'a> {
    #[serde(borrow)]
    image_base64: Option<Cow<'a, str>>,
    top_k: Option<serde_json::Value>,
}

/// Turns a fully read body into image bytes and options. `transport_top_k` reads `top_k`
/// from outside the body (see the module); it is called after the empty-body check, so an
/// empty body is refused as such whatever else is wrong. `max_image_bytes` applies to the
/// image itself, after base64.
pub fn parse(
    kind: BodyKind,
    body: Bytes,
    max_image_bytes: usize,
    transport_top_k: impl FnOnce() -> Result<Option<usize>, RequestError>,
) -> Result<ImageRequest, RequestError> {
    if body.is_empty() {
        return Err(RequestError::EmptyBody);
    }
    let transport_top_k = transport_top_k()?;
    let (image, body_top_k) = match kind {
        BodyKind::RawImage => (body, None),
        BodyKind::Json => {
            let request: JsonRequest<'_> = serde_json::from_slice(&body)
                .map_err(|e| RequestError::InvalidJson(e.to_string()))?;
            let encoded = request.image_base64.ok_or_else(|| {
                RequestError::InvalidJson("missing field `image_base64` (a base64 string)".into())
            })?;
            let top_k = request.top_k.map(|v| top_k_from_json(&v)).transpose()?;
            (Bytes::from(decode_base64(&encoded)?), top_k)
        }
    };
    if image.is_empty() {
        return Err(RequestError::EmptyBody);
    }
    if image.len() > max_image_bytes {
        return Err(RequestError::PayloadTooLarge {
            limit: max_image_bytes,
        });
    }
    Ok(ImageRequest {
        image,
        top_k: body_top_k.or(transport_top_k),
    })
}

fn lenient(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Decodes standard or URL-safe base64, with or without padding, with MIME line breaks, and
/// with an optional `data:<type>;base64,` prefix.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, RequestError> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => {
            let (meta, data) = rest.split_once(',').ok_or_else(|| {
                RequestError::InvalidBase64("the data URL has no ',' before its data".into())
            })?;
            if !meta.to_ascii_lowercase().ends_with(";base64") {
                return Err(RequestError::InvalidBase64(
                    "the data URL must be base64-encoded (data:<type>;base64,...)".into(),
                ));
            }
            data
        }
        None => text,
    };
    let compact: Cow<'_, str> = if payload.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(payload.split_ascii_whitespace().collect())
    } else {
        Cow::Borrowed(payload)
    };
    let engine = if compact.contains(['-', '_']) {
        lenient(&base64::alphabet::URL_SAFE)
    } else {
        lenient(&base64::alphabet::STANDARD)
    };
    engine
        .decode(compact.as_bytes())
        .map_err(|e| RequestError::InvalidBase64(e.to_string()))
}

fn bad_top_k(got: impl std::fmt::Display) -> RequestError {
    RequestError::InvalidParameter(format!(
        "top_k must be an integer from 1 to {MAX_TOP_K}, got {got}"
    ))
}

/// Validates a `top_k` value (1..=[`MAX_TOP_K`]).
pub fn validate_top_k(value: i64) -> Result<usize, RequestError> {
    usize::try_from(value)
        .ok()
        .filter(|k| (1..=MAX_TOP_K).contains(k))
        .ok_or_else(|| bad_top_k(value))
}

fn top_k_from_json(value: &serde_json::Value) -> Result<usize, RequestError> {
    value
        .as_i64()
        .map_or_else(|| Err(bad_top_k(value)), validate_top_k)
}

fn top_k_from_text(raw: &str) -> Result<usize, RequestError> {
    let raw = raw.trim();
    let k = raw
        .parse::<i64>()
        .map_err(|_| bad_top_k(format!("{raw:?}")))?;
    validate_top_k(k)
}

/// `top_k` from the query string (`?a=1&top_k=3`), if present.
pub fn top_k_from_query(query: Option<&str>) -> Result<Option<usize>, RequestError> {
    let Some(query) = query else { return Ok(None) };
    query
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some(("top_k", raw)) => Some(top_k_from_text(raw)),
            _ => None,
        })
        .transpose()
}

/// `top_k=N` from the custom attributes header (`key=value` pairs separated by `,` or `;`;
/// other keys are ignored).
pub fn top_k_from_custom_attributes(headers: &HeaderMap) -> Result<Option<usize>, RequestError> {
    let Some(value) = headers.get(CUSTOM_ATTRIBUTES_HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        RequestError::InvalidParameter(
            "X-Amzn-SageMaker-Custom-Attributes is not valid text".into(),
        )
    })?;
    text.split([',', ';'])
        .find_map(|pair| match pair.split_once('=') {
            Some((key, raw)) if key.trim().eq_ignore_ascii_case("top_k") => {
                Some(top_k_from_text(raw))
            }
            _ => None,
        })
        .transpose()
}

/// The custom attribute that passes `top_k` to the model server (see
/// [`top_k_from_custom_attributes`]).
pub fn top_k_custom_attribute(top_k: usize) -> String {
    format!("top_k={top_k}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn none() -> Result<Option<usize>, RequestError> {
        Ok(None)
    }

    fn parse_json(body: &'static str) -> Result<ImageRequest, RequestError> {
        parse(
            BodyKind::Json,
            Bytes::from_static(body.as_bytes()),
            100,
            none,
        )
    }

    #[test]
    fn base64_accepts_data_urls_padding_variants_and_line_breaks() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\r\nbG8=").unwrap(), b"hello");
        assert_eq!(
            decode_base64("data:image/png;base64,aGVsbG8=").unwrap(),
            b"hello"
        );
        assert_eq!(decode_base64("-_-_").unwrap(), vec![0xfb, 0xff, 0xbf]);
        assert_eq!(
            decode_base64("data:text/plain,hello").unwrap_err().code(),
            "invalid_base64"
        );
        assert_eq!(
            decode_base64("data:image/png;base64").unwrap_err().code(),
            "invalid_base64"
        );
        assert_eq!(decode_base64("a$b=").unwrap_err().code(), "invalid_base64");
    }

    #[test]
    fn json_body_needs_image_base64_and_a_numeric_top_k() {
        assert_eq!(parse_json("{").unwrap_err().code(), "invalid_json");
        assert_eq!(
            parse_json(r#"{"image":"x"}"#).unwrap_err().code(),
            "invalid_json"
        );
        assert_eq!(
            parse_json(r#"{"image_base64":"%%%"}"#).unwrap_err().code(),
            "invalid_base64"
        );
        assert_eq!(
            parse_json(r#"{"image_base64":"aGVsbG8=","top_k":"3"}"#)
                .unwrap_err()
                .code(),
            "invalid_parameter"
        );
        assert_eq!(
            parse_json(r#"{"image_base64":""}"#).unwrap_err().code(),
            "empty_body"
        );
        let ok = parse_json(r#"{"image_base64":"aGVsbG8=","top_k":2}"#).unwrap();
        assert_eq!(&ok.image[..], b"hello");
        assert_eq!(ok.top_k, Some(2));
    }

    #[test]
    fn the_body_top_k_wins_over_the_transports_and_an_empty_body_is_refused_first() {
        let body = Bytes::from_static(br#"{"image_base64":"aGVsbG8=","top_k":3}"#);
        let both = parse(BodyKind::Json, body, 100, || Ok(Some(9))).unwrap();
        assert_eq!(both.top_k, Some(3));
        let raw = parse(BodyKind::RawImage, Bytes::from_static(b"x"), 100, || {
            Ok(Some(9))
        })
        .unwrap();
        assert_eq!(raw.top_k, Some(9));
        let bad_transport = || Err(bad_top_k(0));
        let empty = parse(BodyKind::RawImage, Bytes::new(), 100, bad_transport);
        assert_eq!(empty.unwrap_err().code(), "empty_body");
    }

    #[test]
    fn an_image_over_the_limit_is_payload_too_large_after_base64_too() {
        let raw = parse(BodyKind::RawImage, Bytes::from(vec![1u8; 101]), 100, none);
        assert_eq!(
            raw.unwrap_err(),
            RequestError::PayloadTooLarge { limit: 100 }
        );
        // 6 bytes of image in 8 of base64: the limit is the image's.
        let json = parse(
            BodyKind::Json,
            Bytes::from_static(br#"{"image_base64":"aGVsbG8h"}"#),
            5,
            none,
        );
        assert_eq!(
            json.unwrap_err(),
            RequestError::PayloadTooLarge { limit: 5 }
        );
    }

    #[test]
    fn top_k_comes_from_the_query_or_custom_attributes_and_is_bounded() {
        assert_eq!(top_k_from_query(None), Ok(None));
        assert_eq!(top_k_from_query(Some("a=1&top_k=20")), Ok(Some(20)));
        assert_eq!(top_k_from_query(Some("a=1")), Ok(None));
        for bad in ["top_k=0", "top_k=21", "a=1&top_k=abc", "top_k=-1"] {
            assert_eq!(
                top_k_from_query(Some(bad)).unwrap_err().code(),
                "invalid_parameter",
                "{bad}"
            );
        }
        let mut headers = HeaderMap::new();
        assert_eq!(top_k_from_custom_attributes(&headers), Ok(None));
        headers.insert(
            CUSTOM_ATTRIBUTES_HEADER,
            HeaderValue::from_static("trace=abc, TOP_K = 3"),
        );
        assert_eq!(top_k_from_custom_attributes(&headers), Ok(Some(3)));
        headers.insert(
            CUSTOM_ATTRIBUTES_HEADER,
            HeaderValue::from_str(&top_k_custom_attribute(MAX_TOP_K)).unwrap(),
        );
        assert_eq!(top_k_from_custom_attributes(&headers), Ok(Some(MAX_TOP_K)));
        for bad in ["top_k=21", "top_k=x"] {
            headers.insert(CUSTOM_ATTRIBUTES_HEADER, HeaderValue::from_static(bad));
            assert_eq!(
                top_k_from_custom_attributes(&headers).unwrap_err().code(),
                "invalid_parameter"
            );
        }
        headers.insert(
            CUSTOM_ATTRIBUTES_HEADER,
            HeaderValue::from_bytes(b"top_k=\xff").unwrap(),
        );
        assert!(top_k_from_custom_attributes(&headers).is_err());
    }
}
