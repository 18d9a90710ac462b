//! Validation of `POST /predict` before anything is sent upstream: body kind, JSON, base64,
//! image magic bytes, size and `top_k`.

use std::borrow::Cow;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Deserialize;

use crate::error::ProxyError;

/// Default and bounds of `top_k`.
pub const DEFAULT_TOP_K: u32 = 5;
pub const MAX_TOP_K: u32 = 20;

/// An image format the model server decodes, recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
}

impl ImageKind {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Some(Self::Png),
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Self::Gif),
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(Self::WebP),
            [b'B', b'M', ..] => Some(Self::Bmp),
            _ => None,
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::WebP => "image/webp",
            Self::Bmp => "image/bmp",
        }
    }
}

/// A request that passed validation.
#[derive(Debug)]
pub struct Prediction {
    pub image: Bytes,
    pub kind: ImageKind,
    pub top_k: u32,
}

#[derive(Deserialize)]
struct JsonBody<'a> {
    #[serde(borrow)]
    image_base64: Option<Cow<'a, str>>,
    top_k: Option<serde_json::Value>,
}

fn is_json(headers: &HeaderMap) -> Result<bool, ProxyError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(false);
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(true),
        "" | "application/octet-stream" | "application/x-image" => Ok(false),
        image if image.starts_with("image/") => Ok(false),
        other => Err(ProxyError::UnsupportedMediaType(format!(
            "content type {other} is not supported; send an image or application/json"
        ))),
    }
}

fn bad_top_k(got: impl std::fmt::Display) -> ProxyError {
    ProxyError::InvalidParameter(format!(
        "top_k must be an integer from 1 to {MAX_TOP_K}, got {got}"
    ))
}

fn top_k_in_range(value: i64) -> Result<u32, ProxyError> {
    u32::try_from(value)
        .ok()
        .filter(|k| (1..=MAX_TOP_K).contains(k))
        .ok_or_else(|| bad_top_k(value))
}

/// `top_k` from the query string (`?top_k=3`), if present.
pub fn top_k_from_query(query: Option<&str>) -> Result<Option<u32>, ProxyError> {
    let Some(query) = query else { return Ok(None) };
    for pair in query.split('&') {
        if let Some(("top_k", raw)) = pair.split_once('=') {
            let k = raw
                .parse::<i64>()
                .map_err(|_| bad_top_k(format!("{raw:?}")))?;
            return top_k_in_range(k).map(Some);
        }
    }
    Ok(None)
}

fn decode_base64(text: &str) -> Result<Vec<u8>, ProxyError> {
    let payload = match text.strip_prefix("data:") {
        Some(rest) => {
            let (meta, data) = rest.split_once(',').ok_or_else(|| {
                ProxyError::InvalidBase64("the data URL has no ',' before its data".into())
            })?;
            if !meta.to_ascii_lowercase().ends_with(";base64") {
                return Err(ProxyError::InvalidBase64(
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
    let alphabet = if compact.contains(['-', '_']) {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(alphabet, config)
        .decode(compact.as_bytes())
        .map_err(|e| ProxyError::InvalidBase64(e.to_string()))
}

/// Validates a fully read body. `max_image_bytes` applies to the image itself (after base64).
pub fn validate(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Bytes,
    max_image_bytes: usize,
) -> Result<Prediction, ProxyError> {
    let json = is_json(headers)?;
    if body.is_empty() {
        return Err(ProxyError::EmptyBody);
    }
    let query_top_k = top_k_from_query(query)?;
    let (image, body_top_k) = if json {
        let parsed: JsonBody<'_> =
            serde_json::from_slice(&body).map_err(|e| ProxyError::InvalidJson(e.to_string()))?;
        let encoded = parsed.image_base64.ok_or_else(|| {
            ProxyError::InvalidJson("missing field `image_base64` (a base64 string)".into())
        })?;
        let top_k = match parsed.top_k {
            None => None,
            Some(value) => Some(
                value
                    .as_i64()
                    .map_or_else(|| Err(bad_top_k(&value)), top_k_in_range)?,
            ),
        };
        (Bytes::from(decode_base64(&encoded)?), top_k)
    } else {
        (body, None)
    };
    if image.is_empty() {
        return Err(ProxyError::EmptyBody);
    }
    if image.len() > max_image_bytes {
        return Err(ProxyError::PayloadTooLarge {
            limit: max_image_bytes,
        });
    }
    let kind = ImageKind::sniff(&image).ok_or_else(|| {
        ProxyError::UnsupportedMediaType(
            "the body is not a recognised image (supported: JPEG, PNG, GIF, WebP, BMP)".into(),
        )
    })?;
    Ok(Prediction {
        image,
        kind,
        top_k: body_top_k.or(query_top_k).unwrap_or(DEFAULT_TOP_K),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000";

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        headers
    }

    fn code(result: Result<Prediction, ProxyError>) -> String {
        result.unwrap_err().code().to_owned()
    }

    #[test]
    fn raw_images_are_sniffed_and_text_is_refused() {
        let ok = validate(&headers("image/png"), None, Bytes::from_static(PNG), 100).unwrap();
        assert_eq!((ok.kind, ok.top_k), (ImageKind::Png, 5));
        let text = validate(
            &headers("image/jpeg"),
            None,
            Bytes::from_static(b"hello"),
            100,
        );
        assert_eq!(code(text), "unsupported_media_type");
        let plain = validate(&headers("text/plain"), None, Bytes::from_static(PNG), 100);
        assert_eq!(code(plain), "unsupported_media_type");
    }

    #[test]
    fn json_bodies_need_valid_base64_of_an_image() {
        let json = headers("application/json");
        let body = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(code(validate(&json, None, body("{"), 100)), "invalid_json");
        assert_eq!(
            code(validate(&json, None, body(r#"{"x":1}"#), 100)),
            "invalid_json"
        );
        assert_eq!(
            code(validate(
                &json,
                None,
                body(r#"{"image_base64":"%%%"}"#),
                100
            )),
            "invalid_base64"
        );
        let ok = validate(
            &json,
            Some("top_k=9"),
            body(r#"{"image_base64":"data:image/png;base64,iVBORw0KGgowMDAw","top_k":3}"#),
            100,
        )
        .unwrap();
        assert_eq!(
            (ok.kind, ok.top_k),
            (ImageKind::Png, 3),
            "the JSON top_k wins"
        );
    }

    #[test]
    fn size_and_top_k_limits_are_enforced() {
        let png = headers("image/png");
        assert_eq!(
            code(validate(&png, None, Bytes::from_static(PNG), 4)),
            "payload_too_large"
        );
        assert_eq!(code(validate(&png, None, Bytes::new(), 4)), "empty_body");
        assert_eq!(
            code(validate(
                &png,
                Some("top_k=0"),
                Bytes::from_static(PNG),
                100
            )),
            "invalid_parameter"
        );
        assert_eq!(
            code(validate(
                &png,
                Some("a=1&top_k=abc"),
                Bytes::from_static(PNG),
                100
            )),
            "invalid_parameter"
        );
        let ok = validate(&png, Some("a=1&top_k=20"), Bytes::from_static(PNG), 100).unwrap();
        assert_eq!(ok.top_k, 20);
    }
}
