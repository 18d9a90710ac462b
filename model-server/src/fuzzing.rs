//! Bodies of the `cargo fuzz` targets in `fuzz/`, here so that `tests/integration/fuzz_corpus.rs` replays
//! the committed corpus through exactly the same checks on the stable toolchain. Each panics
//! when a property a client relies on is broken; an error result is a correct answer.

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;

use crate::imaging::{self, Normalizer, PreprocessSpec};
use api::request::{CUSTOM_ATTRIBUTES_HEADER, MAX_TOP_K};

/// Small enough that the fuzzer spends its time in parsers, not in filling huge buffers;
/// the pixel limit is the same code path whatever its value.
const MAX_PIXELS: u64 = 4_000_000;

/// Decoding then preprocessing arbitrary bytes: refused, or a tensor of the model's shape
/// with every value finite.
pub fn decode_and_preprocess(data: &[u8]) {
    let spec = PreprocessSpec::default();
    let Ok(decoded) = imaging::decode(data, MAX_PIXELS, spec.resize_shorter) else {
        return;
    };
    let (width, height) = decoded.full_upright_size();
    assert!(width > 0 && height > 0, "a decoded image has pixels");
    assert!(
        u64::from(decoded.stored_width) * u64::from(decoded.stored_height) <= MAX_PIXELS,
        "the pixel limit holds"
    );
    let normalizer = Normalizer::new(spec.mean, spec.std);
    let mut resizer = fast_image_resize::Resizer::new();
    let tensor = imaging::preprocess(&decoded, &spec, &normalizer, &mut resizer)
        .expect("a decoded image can be preprocessed");
    assert_eq!(tensor.len(), spec.tensor_len());
    assert!(
        tensor.iter().all(|v| v.is_finite()),
        "tensor values are finite"
    );
}

/// What [`api::request::parse`] accepted: the image bytes and `top_k`.
pub type Accepted = (Bytes, Option<usize>);

/// The model server's reading of a body under `content_type` and `custom_attributes`:
/// accepted with an image within the limit and `top_k` in range, or refused.
pub fn parse_request(
    content_type: Option<&[u8]>,
    custom_attributes: Option<&[u8]>,
    body: &[u8],
    max_image_bytes: usize,
) -> Option<Accepted> {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (header::CONTENT_TYPE.as_str(), content_type),
        (CUSTOM_ATTRIBUTES_HEADER, custom_attributes),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.insert(name, value);
        }
    }
    let kind = api::content::body_kind(&headers).ok()?;
    let request = api::request::parse(kind, Bytes::copy_from_slice(body), max_image_bytes, || {
        api::request::top_k_from_custom_attributes(&headers)
    })
    .ok()?;
    assert!(!request.image.is_empty(), "an accepted image is not empty");
    assert!(
        request.image.len() <= max_image_bytes,
        "the image limit holds"
    );
    assert!(
        request.top_k.is_none_or(|k| (1..=MAX_TOP_K).contains(&k)),
        "top_k is in range"
    );
    Some((request.image, request.top_k))
}

/// Content types the first byte of request fuzz input selects.
const TYPES: [&[u8]; 10] = [
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/vnd.api+json",
    b"image/jpeg",
    b"image/png",
    b"application/octet-stream",
    b"text/plain",
    b"multipart/form-data; boundary=x",
    b"image/tiff",
    b"",
];

/// Splits fuzz input into a content type (one of the interesting ones, or free text) and a
/// body, so that one target explores both: the first byte picks one of `TYPES`, or `0xFF`
/// says free text up to a newline follows; anything else means no content type.
pub fn split_request(data: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match data.split_first() {
        None => (None, data),
        Some((&selector, rest)) => match TYPES.get(usize::from(selector)) {
            Some(content_type) => (Some(content_type), rest),
            // Free text up to the first newline.
            None if selector == 0xFF => match rest.iter().position(|&b| b == b'\n') {
                Some(end) => (Some(&rest[..end]), &rest[end + 1..]),
                None => (Some(rest), &[]),
            },
            None => (None, rest),
        },
    }
}

/// What the proxy forwards after validating a request (the sniffed type, `top_k` in
/// `CustomAttributes`) must be accepted by the model server as the same image and `top_k`.
pub fn check_forwarded(image: &[u8], content_type: &str, top_k: usize, max_image_bytes: usize) {
    let attributes = api::request::top_k_custom_attribute(top_k);
    let (accepted, accepted_top_k) = parse_request(
        Some(content_type.as_bytes()),
        Some(attributes.as_bytes()),
        image,
        max_image_bytes,
    )
    .expect("the model server accepts what the proxy forwards");
    assert_eq!(&accepted[..], image, "the image arrives unchanged");
    assert_eq!(accepted_top_k, Some(top_k), "top_k arrives unchanged");
}

/// The inverse of [`split_request`]: fuzz input for a content type and body (seeds).
pub fn join_request(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = match content_type {
        None => vec![0xFE],
        Some(text) => match TYPES.iter().position(|t| *t == text.as_bytes()) {
            Some(index) => vec![u8::try_from(index).unwrap_or(0xFE)],
            None => [&[0xFF][..], text.as_bytes(), b"\n"].concat(),
        },
    };
    out.extend_from_slice(body);
    out
}
