//! Which `Content-Type`s both services accept, and the image formats recognised by their
//! magic bytes.
//!
//! The declared type is a gate, the same at both services: JSON (`application/json` or any
//! `+json` type), one of [`RAW_IMAGE_TYPES`], or none. An image type that no decoder here reads
//! (`image/tiff`, `image/heic`, …) is refused with 415 at once, whatever the bytes are, and so
//! is a header that is not text. Past the gate the bytes decide: a mislabelled PNG sent as
//! `image/jpeg` is read as the PNG it is.

use axum::http::{HeaderMap, header};

use crate::RequestError;

/// How the body must be read, decided from the content type alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Raw image bytes; the format is sniffed from the magic bytes.
    RawImage,
    /// `{"image_base64": "...", "top_k": 3}`.
    Json,
}

/// Content types accepted as raw image bodies.
pub const RAW_IMAGE_TYPES: [&str; 11] = [
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

/// Classifies the `Content-Type` header. A missing (or empty) one means raw bytes to sniff.
pub fn body_kind(headers: &HeaderMap) -> Result<BodyKind, RequestError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyKind::RawImage);
    };
    let value = value.to_str().map_err(|_| {
        RequestError::UnsupportedMediaType("the Content-Type header is not valid text".into())
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
        Err(RequestError::UnsupportedMediaType(format!(
            "{essence} is not supported; send JPEG, PNG, GIF, WebP or BMP"
        )))
    } else {
        Err(RequestError::UnsupportedMediaType(format!(
            "content type {essence} is not supported; send an image or application/json"
        )))
    }
}

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

    /// The type the image is forwarded with: always one of [`RAW_IMAGE_TYPES`].
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::WebP => "image/webp",
            Self::Bmp => "image/bmp",
        }
    }

    /// Like [`ImageKind::sniff`], refusing bytes that are no supported image.
    pub fn of(bytes: &[u8]) -> Result<Self, RequestError> {
        Self::sniff(bytes).ok_or_else(|| {
            RequestError::UnsupportedMediaType(
                "the body is not a recognised image (supported: JPEG, PNG, GIF, WebP, BMP)".into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn kind_of(value: &[u8]) -> Result<BodyKind, RequestError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_bytes(value).unwrap(),
        );
        body_kind(&headers)
    }

    #[test]
    fn content_types_map_to_body_kinds() {
        assert_eq!(body_kind(&HeaderMap::new()), Ok(BodyKind::RawImage));
        assert_eq!(kind_of(b"image/jpeg"), Ok(BodyKind::RawImage));
        assert_eq!(kind_of(b"IMAGE/PNG; q=1"), Ok(BodyKind::RawImage));
        assert_eq!(kind_of(b"application/octet-stream"), Ok(BodyKind::RawImage));
        assert_eq!(kind_of(b""), Ok(BodyKind::RawImage));
        assert_eq!(
            kind_of(b"Application/JSON; charset=utf-8"),
            Ok(BodyKind::Json)
        );
        assert_eq!(kind_of(b"application/vnd.api+json"), Ok(BodyKind::Json));
    }

    #[test]
    fn image_types_nothing_here_decodes_text_and_non_text_headers_are_refused() {
        for refused in [
            &b"image/tiff"[..],
            b"image/heic",
            b"text/plain",
            b"multipart/form-data; boundary=x",
            b"image/\xff",
        ] {
            let err = kind_of(refused).unwrap_err();
            assert_eq!(err.code(), "unsupported_media_type", "{refused:?}");
        }
        assert!(
            kind_of(b"image/tiff")
                .unwrap_err()
                .to_string()
                .contains("image/tiff is not supported")
        );
    }

    #[test]
    fn magic_bytes_name_the_format_and_its_forwarded_type_is_accepted_raw() {
        let samples: [(&[u8], ImageKind); 5] = [
            (b"\xff\xd8\xff\xe0", ImageKind::Jpeg),
            (b"\x89PNG\r\n\x1a\n0000", ImageKind::Png),
            (b"GIF89a", ImageKind::Gif),
            (b"RIFF\0\0\0\0WEBPVP8 ", ImageKind::WebP),
            (b"BM", ImageKind::Bmp),
        ];
        for (bytes, kind) in samples {
            assert_eq!(ImageKind::sniff(bytes), Some(kind));
            assert!(RAW_IMAGE_TYPES.contains(&kind.mime()));
        }
        assert_eq!(
            ImageKind::of(b"hello").unwrap_err().code(),
            "unsupported_media_type"
        );
    }
}
