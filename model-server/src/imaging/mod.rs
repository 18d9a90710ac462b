//! Image decoding and ImageNet-style preprocessing.
//!
//! The pipeline follows torchvision's `Resize(shorter) → CenterCrop(input) → ToTensor →
//! Normalize(mean, std)` on a PIL image, so that models trained with it see the inputs they
//! expect:
//! - the format is recognised by magic bytes, never by the declared content type;
//! - the pixel count is read from the header and checked before anything is decoded, so a
//!   decompression bomb never allocates;
//! - JPEGs are decoded by libjpeg-turbo and downscaled inside the decoder (DCT scaling) by the
//!   smallest of 1/8, 1/4 and 1/2 that keeps the shorter side at or above the resize target:
//!   1/8 for 12 MP, 1/2 for a 1024×768 upload, full size for a 500×416 photo;
//! - EXIF orientation is applied, and every colour type (grey, alpha, CMYK, 16-bit, palette)
//!   becomes 8-bit RGB;
//! - the resize uses an antialiased triangle (bilinear) filter, and the center crop is folded
//!   into the resize so that only the 224×224 output is ever computed.
//!
//! The `jpeg` module holds the JPEG paths (libjpeg-turbo with DCT scaling, zune-jpeg strict as
//! the fallback, the marker walker), `preprocess` the resize, crop and normalisation.

mod jpeg;
mod preprocess;

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use jpeg::{dct_scaled, decode_jpeg_strict, decode_jpeg_turbo, jpeg_has_end_of_image};
pub use preprocess::{
    Normalizer, PreprocessSpec, SourceCrop, normalize_into, preprocess, preprocess_rgb,
    resize_crop, source_crop,
};

/// Formats the server decodes. Anything else is refused as unsupported.
pub const SUPPORTED_FORMATS: [ImageFormat; 5] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::WebP,
    ImageFormat::Bmp,
];

/// Why an image could not be turned into a tensor.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The bytes do not start like any image format we know.
    #[error("the body is not a recognised image (supported: JPEG, PNG, GIF, WebP, BMP)")]
    Unrecognized,
    /// A real image format that this server does not decode.
    #[error("{0} images are not supported (supported: JPEG, PNG, GIF, WebP, BMP)")]
    Unsupported(String),
    /// The header declares more pixels than allowed; nothing was decoded.
    #[error("image is {width}x{height} ({pixels} pixels), over the limit of {max_pixels} pixels")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        max_pixels: u64,
    },
    /// Decoding would need more memory than the pixel limit allows (e.g. a huge GIF frame).
    #[error("image needs more memory to decode than allowed: {0}")]
    OverDecoderLimit(String),
    /// The resizer refused the geometry: a bug, not the client's fault.
    #[error("resizing failed: {0}")]
    Resize(String),
    /// The image is truncated, corrupt or otherwise undecodable.
    #[error("could not decode the {format} image: {reason}")]
    Invalid {
        format: &'static str,
        reason: String,
    },
}

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Gif => "GIF",
        ImageFormat::WebP => "WebP",
        ImageFormat::Bmp => "BMP",
        other => other.extensions_str().first().copied().unwrap_or("unknown"),
    }
}

/// Recognises a supported image format from its magic bytes.
pub fn sniff_format(bytes: &[u8]) -> Result<ImageFormat, ImageError> {
    let format = image::guess_format(bytes).map_err(|_| ImageError::Unrecognized)?;
    if SUPPORTED_FORMATS.contains(&format) {
        Ok(format)
    } else {
        Err(ImageError::Unsupported(
            format!("{format:?}").to_uppercase(),
        ))
    }
}

/// A decoded image, upright and in 8-bit RGB.
#[derive(Debug)]
pub struct DecodedImage {
    pub rgb: RgbImage,
    pub format: ImageFormat,
    /// Width and height as stored in the file, before orientation and DCT scaling.
    pub stored_width: u32,
    pub stored_height: u32,
    /// M of the M/8 JPEG DCT downscale applied while decoding: 8 is full size.
    pub dct_scale_eighths: u32,
}

impl DecodedImage {
    /// Upright size at full resolution: the geometry torchvision would see, which the crop is
    /// computed from even when the decoder downscaled.
    pub fn full_upright_size(&self) -> (u32, u32) {
        let unrotated = (
            dct_scaled(self.stored_width, self.dct_scale_eighths),
            dct_scaled(self.stored_height, self.dct_scale_eighths),
        );
        if self.rgb.dimensions() == unrotated {
            (self.stored_width, self.stored_height)
        } else {
            (self.stored_height, self.stored_width)
        }
    }
}

fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), ImageError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            pixels,
            max_pixels,
        });
    }
    Ok(())
}

/// Decodes `bytes` into an upright RGB image.
///
/// `min_shorter_side` is the resize target; JPEGs large enough are DCT-downscaled while
/// decoding, to no less than that.
pub fn decode(
    bytes: &[u8],
    max_pixels: u64,
    min_shorter_side: u32,
) -> Result<DecodedImage, ImageError> {
    let format = sniff_format(bytes)?;
    if format == ImageFormat::Jpeg {
        if !jpeg_has_end_of_image(bytes) {
            // Decoders pad truncated scans with grey; a cut-off upload must not be classified.
            return Err(invalid(
                format,
                "the JPEG is truncated (no end-of-image marker)",
            ));
        }
        if let Some(decoded) = decode_jpeg_turbo(bytes, max_pixels, min_shorter_side)? {
            return Ok(decoded);
        }
        return decode_jpeg_strict(bytes, max_pixels);
    }
    decode_generic(bytes, format, max_pixels)
}

fn invalid(format: ImageFormat, err: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid {
        format: format_name(format),
        reason: err.to_string(),
    }
}
fn decode_generic(
    bytes: &[u8],
    format: ImageFormat,
    max_pixels: u64,
) -> Result<DecodedImage, ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Belt and braces: the header check below refuses bombs, and these limits stop any
    // decoder from allocating more than a 16-bit RGBA image of the allowed size.
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| classify(format, e))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, max_pixels)?;
    if width == 0 || height == 0 {
        return Err(invalid(format, "the image has no pixels"));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(format, e))?;
    image.apply_orientation(orientation);
    Ok(DecodedImage {
        rgb: image.into_rgb8(),
        format,
        stored_width: width,
        stored_height: height,
        dct_scale_eighths: 8,
    })
}

fn classify(format: ImageFormat, err: image::ImageError) -> ImageError {
    match err {
        image::ImageError::Limits(limit) => ImageError::OverDecoderLimit(limit.to_string()),
        other => invalid(format, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_rejects_text_and_names_unsupported_formats() {
        assert!(matches!(
            sniff_format(b"hello world"),
            Err(ImageError::Unrecognized)
        ));
        let tiff = b"II*\0\x08\0\0\0\0\0\0\0";
        assert!(matches!(
            sniff_format(tiff),
            Err(ImageError::Unsupported(_))
        ));
        assert_eq!(
            sniff_format(b"\x89PNG\r\n\x1a\n rest").ok(),
            Some(ImageFormat::Png)
        );
    }
}
