//! Validation of `POST /predict` before anything is sent upstream, by the contract the model
//! server applies too ([`api`]): content type, JSON, base64, size and `top_k` (the query
//! string's, unless the body gives one); then the image format by its magic bytes, which the
//! image is forwarded with.

use api::RequestError;
use api::content::{BodyKind, ImageKind};
use api::request::DEFAULT_TOP_K;
use bytes::Bytes;

/// A request that passed validation.
#[derive(Debug)]
pub struct Prediction {
    pub image: Bytes,
    pub kind: ImageKind,
    pub top_k: usize,
}

/// Validates a fully read body of `kind`. `max_image_bytes` applies to the image itself
/// (after base64).
pub fn validate(
    kind: BodyKind,
    query: Option<&str>,
    body: Bytes,
    max_image_bytes: usize,
) -> Result<Prediction, RequestError> {
    let request = api::request::parse(kind, body, max_image_bytes, || {
        api::request::top_k_from_query(query)
    })?;
    Ok(Prediction {
        kind: ImageKind::of(&request.image)?,
        image: request.image,
        top_k: request.top_k.unwrap_or(DEFAULT_TOP_K),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000";

    fn code(result: Result<Prediction, RequestError>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn raw_images_are_sniffed_and_text_is_refused() {
        let ok = validate(BodyKind::RawImage, None, Bytes::from_static(PNG), 100).unwrap();
        assert_eq!((ok.kind, ok.top_k), (ImageKind::Png, DEFAULT_TOP_K));
        let text = validate(BodyKind::RawImage, None, Bytes::from_static(b"hello"), 100);
        assert_eq!(code(text), "unsupported_media_type");
    }

    #[test]
    fn json_bodies_need_base64_of_an_image_and_their_top_k_wins_over_the_query() {
        let body = |s: &'static str| Bytes::from_static(s.as_bytes());
        let not_an_image = validate(
            BodyKind::Json,
            None,
            body(r#"{"image_base64":"aGVsbG8="}"#),
            100,
        );
        assert_eq!(code(not_an_image), "unsupported_media_type");
        let ok = validate(
            BodyKind::Json,
            Some("top_k=9"),
            body(r#"{"image_base64":"data:image/png;base64,iVBORw0KGgowMDAw","top_k":3}"#),
            100,
        )
        .unwrap();
        assert_eq!((ok.kind, ok.top_k), (ImageKind::Png, 3));
    }

    #[test]
    fn the_query_top_k_is_used_and_bounded() {
        let png = || Bytes::from_static(PNG);
        let ok = validate(BodyKind::RawImage, Some("a=1&top_k=20"), png(), 100).unwrap();
        assert_eq!(ok.top_k, 20);
        let zero = validate(BodyKind::RawImage, Some("top_k=0"), png(), 100);
        assert_eq!(code(zero), "invalid_parameter");
        assert_eq!(
            code(validate(BodyKind::RawImage, None, png(), 4)),
            "payload_too_large"
        );
    }
}
