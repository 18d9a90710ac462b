//! Parsing an invocation request into image bytes and options: raw image bodies, JSON with
//! `image_base64` (a `data:` URL prefix is accepted), and `top_k` from the JSON body or from
//! SageMaker's `X-Amzn-SageMaker-Custom-Attributes` header.

use std::borrow::Cow;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Deserialize;

use crate::error::ApiError;

/// SageMaker forwards the caller's `CustomAttributes` to the container in this header.
pub const CUSTOM_ATTRIBUTES_HEADER: &str = "x-amzn-sagemaker-custom-attributes";

/// Largest `top_k` a client may ask for.
pub const MAX_TOP_K: usize = 20;

/// How the body must be read, decided from the content type alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Raw image bytes; the format is sniffed from the magic bytes.
    RawImage,
    /// `{"image_base64": "...", "top_k": 3}`.
    Json,
}

/// Content types accepted as raw image bodies. The declared type is only a gate: the decoder
/// always goes by the magic bytes, because clients often mislabel images.
const RAW_IMAGE_TYPES: [&str; 11] = [
    "image/jpeg",
    "image/jpg",
    "image/pjpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
    "image/x-bmp",
    "image/x-ms-bmp",
    "application/x-image",
    "application/octet-stream",
];

/// Classifies the `Content-Type` header. A missing header is treated as raw bytes to sniff.
pub fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyKind::RawImage);
    };
    let value = value.to_str().map_err(|_| {
        ApiError::UnsupportedMediaType("the Content-Type header is not valid text".into())
    })?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() || RAW_IMAGE_TYPES.contains(&essence.as_str()) {
        Ok(BodyKind::RawImage)
    } else if essence == "application/json" || essence.ends_with("+json") {
        Ok(BodyKind::Json)
    } else if essence.starts_with("image/") {
        Err(ApiError::UnsupportedMediaType(format!(
            "{essence} is not supported; send JPEG, PNG, GIF, WebP or BMP"
        )))
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "content type {essence} is not supported; send an image or application/json"
        )))
    }
}

/// Largest HTTP body accepted for an image limit of `max_image_bytes`: base64 in JSON needs
/// 4/3 of the image size plus room for the rest of the object.
pub fn max_http_body(kind: BodyKind, max_image_bytes: usize) -> usize {
    match kind {
        BodyKind::RawImage => max_image_bytes,
        BodyKind::Json => max_image_bytes
            .div_ceil(3)
            .saturating_mul(4)
            .saturating_add(64 * 1024),
    }
}

/// A request ready for decoding.
#[derive(Debug)]
pub struct ImageRequest {
    pub image: Bytes,
    pub top_k: Option<usize>,
}

#[derive(Deserialize)]
struct JsonRequest<'a> {
    #[serde(borrow)]
    image_base64: Option<Cow<'a, str>>,
    top_k: Option<serde_json::Value>,
}

/// Turns a fully read body into image bytes and options.
pub fn parse(
    kind: BodyKind,
    headers: &HeaderMap,
    body: Bytes,
    max_image_bytes: usize,
) -> Result<ImageRequest, ApiError> {
    if body.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    let header_top_k = top_k_from_custom_attributes(headers)?;
    let (image, body_top_k) = match kind {
        BodyKind::RawImage => (body, None),
        BodyKind::Json => {
            let request: JsonRequest<'_> =
                serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
            let encoded = request.image_base64.ok_or_else(|| {
                ApiError::InvalidJson("missing field `image_base64` (a base64 string)".into())
            })?;
            let top_k = request.top_k.map(|v| parse_top_k_json(&v)).transpose()?;
            (Bytes::from(decode_base64(&encoded)?), top_k)
        }
    };
    if image.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    if image.len() > max_image_bytes {
        return Err(ApiError::PayloadTooLarge {
            limit: max_image_bytes,
        });
    }
    Ok(ImageRequest {
        image,
        top_k: body_top_k.or(header_top_k),
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
pub fn decode_base64(text: &str) -> Result<Vec<u8>, ApiError> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => {
            let (meta, data) = rest.split_once(',').ok_or_else(|| {
                ApiError::InvalidBase64("the data URL has no ',' before its data".into())
            })?;
            if !meta.to_ascii_lowercase().ends_with(";base64") {
                return Err(ApiError::InvalidBase64(
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
    let url_safe = compact.contains(['-', '_']);
    let engine = if url_safe {
        lenient(&base64::alphabet::URL_SAFE)
    } else {
        lenient(&base64::alphabet::STANDARD)
    };
    engine
        .decode(compact.as_bytes())
        .map_err(|e| ApiError::InvalidBase64(e.to_string()))
}

fn bad_top_k(got: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidParameter(format!(
        "top_k must be an integer from 1 to {MAX_TOP_K}, got {got}"
    ))
}

/// Validates a `top_k` value (1..=20).
pub fn validate_top_k(value: i64) -> Result<usize, ApiError> {
    usize::try_from(value)
        .ok()
        .filter(|k| (1..=MAX_TOP_K).contains(k))
        .ok_or_else(|| bad_top_k(value))
}

fn parse_top_k_json(value: &serde_json::Value) -> Result<usize, ApiError> {
    value
        .as_i64()
        .map_or_else(|| Err(bad_top_k(value)), validate_top_k)
}

/// Reads `top_k=N` from the custom attributes header (`key=value` pairs separated by `,` or
/// `;`; other keys are ignored).
pub fn top_k_from_custom_attributes(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    let Some(value) = headers.get(CUSTOM_ATTRIBUTES_HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::InvalidParameter("X-Amzn-SageMaker-Custom-Attributes is not valid text".into())
    })?;
    for pair in text.split([',', ';']) {
        if let Some((key, raw)) = pair.split_once('=')
            && key.trim().eq_ignore_ascii_case("top_k")
        {
            let raw = raw.trim();
            let k = raw
                .parse::<i64>()
                .map_err(|_| bad_top_k(format!("{raw:?}")))?;
            return validate_top_k(k).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_content_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn content_types_map_to_body_kinds() {
        assert_eq!(
            body_kind(&with_content_type("image/jpeg")).unwrap(),
            BodyKind::RawImage
        );
        assert_eq!(
            body_kind(&with_content_type("Application/JSON; charset=utf-8")).unwrap(),
            BodyKind::Json
        );
        assert_eq!(body_kind(&HeaderMap::new()).unwrap(), BodyKind::RawImage);
        assert_eq!(
            body_kind(&with_content_type("image/tiff"))
                .unwrap_err()
                .code(),
            "unsupported_media_type"
        );
        assert_eq!(
            body_kind(&with_content_type("text/plain"))
                .unwrap_err()
                .code(),
            "unsupported_media_type"
        );
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
        assert_eq!(decode_base64("a$b=").unwrap_err().code(), "invalid_base64");
    }

    #[test]
    fn top_k_comes_from_custom_attributes_and_is_bounded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CUSTOM_ATTRIBUTES_HEADER,
            HeaderValue::from_static("trace=abc, top_k=3"),
        );
        assert_eq!(top_k_from_custom_attributes(&headers).unwrap(), Some(3));
        headers.insert(
            CUSTOM_ATTRIBUTES_HEADER,
            HeaderValue::from_static("top_k=21"),
        );
        assert_eq!(
            top_k_from_custom_attributes(&headers).unwrap_err().code(),
            "invalid_parameter"
        );
        headers.insert(
            CUSTOM_ATTRIBUTES_HEADER,
            HeaderValue::from_static("top_k=x"),
        );
        assert!(top_k_from_custom_attributes(&headers).is_err());
        assert_eq!(validate_top_k(0).unwrap_err().code(), "invalid_parameter");
    }

    #[test]
    fn json_body_needs_image_base64_and_a_numeric_top_k() {
        let headers = HeaderMap::new();
        let parse_json = |body: &'static str| {
            parse(
                BodyKind::Json,
                &headers,
                Bytes::from_static(body.as_bytes()),
                100,
            )
        };
        assert_eq!(parse_json("{").unwrap_err().code(), "invalid_json");
        assert_eq!(
            parse_json(r#"{"image":"x"}"#).unwrap_err().code(),
            "invalid_json"
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
    fn decoded_image_over_the_limit_is_payload_too_large() {
        let err = parse(
            BodyKind::RawImage,
            &HeaderMap::new(),
            Bytes::from(vec![1u8; 101]),
            100,
        )
        .unwrap_err();
        assert_eq!(err.code(), "payload_too_large");
    }
}
