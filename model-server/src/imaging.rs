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

use std::ffi::c_int;
use std::io::Cursor;

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

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

/// A side of `side` pixels decoded at `eighths`/8, as libjpeg sizes it (rounded up).
fn dct_scaled(side: u32, eighths: u32) -> u32 {
    u32::try_from((u64::from(side) * u64::from(eighths)).div_ceil(8)).unwrap_or(u32::MAX)
}

/// DCT scales M/8 for which libjpeg-turbo has SIMD inverse DCTs (x86-64, Arm). It scales by
/// any M/8, but the others run in scalar C, and on photos of 300 to 1000 pixels their IDCT
/// costs more than the smaller colour conversion and resize save: 5/8 made the 500×416 finch
/// and 3/8 a 1024×768 upload slower than full size and 4/8 (BENCHMARKS.md, "JPEG decoding").
const SIMD_DCT_EIGHTHS: [u32; 3] = [1, 2, 4];

/// The smallest DCT scale M/8 of [`SIMD_DCT_EIGHTHS`] that keeps the shorter side at or above
/// `min_shorter_side` (so the final resize only ever shrinks or keeps the image), else 8.
fn dct_scale_eighths(width: u32, height: u32, min_shorter_side: u32) -> u32 {
    let shorter = width.min(height);
    SIMD_DCT_EIGHTHS
        .into_iter()
        .find(|m| dct_scaled(shorter, *m) >= min_shorter_side)
        .unwrap_or(8)
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

/// Offset of the first start-of-scan marker, found by walking the marker segments (a naive
/// search could match inside an EXIF thumbnail, which is a whole JPEG of its own).
fn jpeg_scan_start(bytes: &[u8]) -> Option<usize> {
    let mut at = 2; // after SOI
    loop {
        if *bytes.get(at)? != 0xFF {
            // Stray bytes between segments: skipped to the next marker, as libjpeg does (with
            // a warning).
            at += bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            0xFF => at += 1, // fill byte
            0xDA => return Some(at),
            0x01 | 0xD0..=0xD7 => at += 2, // markers without a length
            _ => {
                let length = u16::from_be_bytes([*bytes.get(at + 2)?, *bytes.get(at + 3)?]);
                at += 2 + usize::from(length);
            }
        }
    }
}

/// True when an EOI marker follows the first scan. Inside entropy-coded data 0xFF is always
/// stuffed (0xFF00) or a restart marker, so `FF D9` after SOS can only be the real EOI.
fn jpeg_has_end_of_image(bytes: &[u8]) -> bool {
    let Some(scan) = jpeg_scan_start(bytes) else {
        return false;
    };
    // Searched from the end, where the marker normally is.
    bytes
        .windows(2)
        .rposition(|w| w == [0xFF, 0xD9])
        .is_some_and(|end| end > scan)
}

fn invalid(format: ImageFormat, err: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid {
        format: format_name(format),
        reason: err.to_string(),
    }
}

/// Why libjpeg stopped: a fatal error, or a warning, which for a decoder is corrupt or
/// unexpected data that it would otherwise paper over (grey or noise for a bad scan).
#[derive(Debug)]
struct LibjpegComplaint;

/// Both unwind out of the decoder (as the `mozjpeg` crate's own handler does for fatal errors;
/// libjpeg allows leaving from either callback) so that [`decode_jpeg_strict`] judges the file.
extern "C-unwind" fn libjpeg_error_exit(_: &mut mozjpeg_sys::jpeg_common_struct) {
    std::panic::resume_unwind(Box::new(LibjpegComplaint));
}

extern "C-unwind" fn libjpeg_message(_: &mut mozjpeg_sys::jpeg_common_struct, level: c_int) {
    // Negative levels are warnings; the others are trace messages.
    if level < 0 {
        std::panic::resume_unwind(Box::new(LibjpegComplaint));
    }
}

extern "C-unwind" fn libjpeg_quiet(_: &mut mozjpeg_sys::jpeg_common_struct) {}

/// An error manager that never prints and never formats a message (nothing calls
/// `format_message` once `error_exit` and `emit_message` are ours).
fn libjpeg_error_manager() -> mozjpeg_sys::jpeg_error_mgr {
    mozjpeg_sys::jpeg_error_mgr {
        error_exit: Some(libjpeg_error_exit),
        emit_message: Some(libjpeg_message),
        output_message: Some(libjpeg_quiet),
        format_message: None,
        reset_error_mgr: Some(libjpeg_quiet),
        msg_code: 0,
        msg_parm: mozjpeg_sys::msg_parm_union::default(),
        trace_level: 0,
        num_warnings: 0,
        jpeg_message_table: std::ptr::null(),
        last_jpeg_message: 0,
        addon_message_table: std::ptr::null(),
        first_addon_message: 0,
        last_addon_message: 0,
    }
}

/// Decodes a JPEG with libjpeg-turbo (through the `mozjpeg` crate), DCT-scaled by
/// [`dct_scale_eighths`], which skips most of the inverse DCT and colour work of large photos.
/// At full size it is also faster than zune-jpeg (SIMD IDCT, upsampling and colour conversion).
/// Returns `Ok(None)` for CMYK and whenever libjpeg warns or fails, so that
/// [`decode_jpeg_strict`] decodes those and decides whether damage is refused.
fn decode_jpeg_turbo(
    bytes: &[u8],
    max_pixels: u64,
    min_shorter_side: u32,
) -> Result<Option<DecodedImage>, ImageError> {
    let jpeg = ImageFormat::Jpeg;
    let outcome = std::panic::catch_unwind(|| -> Result<Option<DecodedImage>, ImageError> {
        let mut decompress = mozjpeg::Decompress::with_err(libjpeg_error_manager())
            .with_markers(&[mozjpeg::Marker::APP(1)])
            .from_mem(bytes)
            .map_err(|e| invalid(jpeg, e))?;
        let (width, height) = decompress.size();
        let (width, height) = (
            u32::try_from(width).unwrap_or(u32::MAX),
            u32::try_from(height).unwrap_or(u32::MAX),
        );
        check_pixels(width, height, max_pixels)?;
        let eighths = dct_scale_eighths(width, height, min_shorter_side);
        let cmyk = matches!(
            decompress.color_space(),
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK
        );
        if cmyk {
            return Ok(None);
        }
        let orientation = decompress
            .markers()
            .find_map(|m| m.data.strip_prefix(b"Exif\0\0"))
            .and_then(image::metadata::Orientation::from_exif_chunk)
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        decompress.scale(u8::try_from(eighths).unwrap_or(8));
        let mut started = decompress.rgb().map_err(|e| invalid(jpeg, e))?;
        let (w, h) = (started.width() as u32, started.height() as u32);
        let pixels = started
            .read_scanlines::<u8>()
            .map_err(|e| invalid(jpeg, e))?;
        started.finish().map_err(|e| invalid(jpeg, e))?;
        let rgb = RgbImage::from_raw(w, h, pixels)
            .ok_or_else(|| invalid(jpeg, "decoded buffer does not match the frame size"))?;
        let mut upright = DynamicImage::ImageRgb8(rgb);
        upright.apply_orientation(orientation);
        Ok(Some(DecodedImage {
            rgb: upright.into_rgb8(),
            format: jpeg,
            stored_width: width,
            stored_height: height,
            dct_scale_eighths: eighths,
        }))
    });
    match outcome {
        Ok(decoded) => decoded,
        // libjpeg complained: the strict decoder decides.
        Err(payload) if payload.is::<LibjpegComplaint>() => Ok(None),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Decodes a JPEG with zune-jpeg (what `image` uses): CMYK and YCCK, and the files libjpeg
/// complained about, at full size. Strict mode first: a scan whose
/// Huffman codes do not decode, or that ends early, is refused rather than rendered as
/// whatever grey or noise the lenient decoder fills in, as a truncated file is. What strict
/// mode also refuses but libjpeg and browsers accept with a warning (stray bytes between
/// segments, an unexpected marker between scans) is decoded leniently. Grey, CMYK and YCCK
/// come out as RGB, as through `image`.
fn decode_jpeg_strict(bytes: &[u8], max_pixels: u64) -> Result<DecodedImage, ImageError> {
    let jpeg = ImageFormat::Jpeg;
    let decode = |strict: bool| {
        let options = zune_core::options::DecoderOptions::default()
            .set_strict_mode(strict)
            .set_max_width(usize::MAX)
            .set_max_height(usize::MAX)
            .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGB);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
            zune_core::bytestream::ZCursor::new(bytes),
            options,
        );
        decoder.decode_headers()?;
        let (width, height) = decoder
            .info()
            .map(|info| (u32::from(info.width), u32::from(info.height)))
            .unwrap_or_default();
        if check_pixels(width, height, max_pixels).is_err() || width == 0 || height == 0 {
            // Reported below from the header alone, without decoding.
            return Ok((width, height, Vec::new(), None));
        }
        let orientation = decoder
            .exif()
            .and_then(|exif| image::metadata::Orientation::from_exif_chunk(exif));
        Ok((width, height, decoder.decode()?, orientation))
    };
    let (width, height, pixels, orientation) = match decode(true) {
        Ok(decoded) => decoded,
        Err(e) if corrupt_scan(&e) => return Err(invalid(jpeg, e)),
        Err(_) => decode(false).map_err(|e: zune_jpeg::errors::DecodeErrors| invalid(jpeg, e))?,
    };
    check_pixels(width, height, max_pixels)?;
    if width == 0 || height == 0 {
        return Err(invalid(jpeg, "the image has no pixels"));
    }
    let rgb = RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| invalid(jpeg, "decoded buffer does not match the frame size"))?;
    let mut upright = DynamicImage::ImageRgb8(rgb);
    upright.apply_orientation(orientation.unwrap_or(image::metadata::Orientation::NoTransforms));
    Ok(DecodedImage {
        rgb: upright.into_rgb8(),
        format: jpeg,
        stored_width: width,
        stored_height: height,
        dct_scale_eighths: 8,
    })
}

/// Whether zune-jpeg's strict-mode error is about the entropy-coded scan itself: codes that
/// do not decode, or data that runs out.
fn corrupt_scan(error: &zune_jpeg::errors::DecodeErrors) -> bool {
    use zune_jpeg::errors::DecodeErrors;
    match error {
        DecodeErrors::HuffmanDecode(_) | DecodeErrors::ExhaustedData => true,
        DecodeErrors::FormatStatic(message) => message.contains("Premature end"),
        DecodeErrors::Format(message) => message.contains("Huffman") || message.contains("corrupt"),
        _ => false,
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

/// How a model wants its input prepared (torchvision ImageNet defaults unless a model says
/// otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessSpec {
    /// Width and height of the model input (center crop size).
    pub input_width: u32,
    pub input_height: u32,
    /// The shorter image side is resized to this before the center crop.
    pub resize_shorter: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for PreprocessSpec {
    fn default() -> Self {
        Self {
            input_width: 224,
            input_height: 224,
            resize_shorter: 256,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }
}

impl PreprocessSpec {
    /// Number of f32 values in one NCHW input (3 × H × W).
    pub fn tensor_len(&self) -> usize {
        3 * self.input_width as usize * self.input_height as usize
    }
}

/// The crop, in source pixel coordinates, that torchvision's `Resize(shorter)` followed by
/// `CenterCrop(h, w)` selects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceCrop {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
}

/// torchvision rounds the crop offset with Python's `round`, which rounds halves to even.
fn center_offset(resized: u32, crop: u32) -> u32 {
    let diff = resized.saturating_sub(crop);
    let half = diff / 2;
    if diff % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// Computes the resized size exactly as torchvision does (the longer side is truncated) and maps
/// the center crop back into source coordinates.
pub fn source_crop(width: u32, height: u32, spec: &PreprocessSpec) -> SourceCrop {
    let short = spec.resize_shorter;
    let (resized_w, resized_h) = if width <= height {
        let long = (u64::from(short) * u64::from(height) / u64::from(width)) as u32;
        (short, long.max(1))
    } else {
        let long = (u64::from(short) * u64::from(width) / u64::from(height)) as u32;
        (long.max(1), short)
    };
    let scale_x = f64::from(width) / f64::from(resized_w);
    let scale_y = f64::from(height) / f64::from(resized_h);
    let left = center_offset(resized_w, spec.input_width);
    let top = center_offset(resized_h, spec.input_height);
    SourceCrop {
        left: f64::from(left) * scale_x,
        top: f64::from(top) * scale_y,
        width: f64::from(spec.input_width) * scale_x,
        height: f64::from(spec.input_height) * scale_y,
    }
}

/// Per-channel lookup tables from an 8-bit sample to its normalised float value.
#[derive(Debug, Clone)]
pub struct Normalizer {
    tables: [[f32; 256]; 3],
}

impl Normalizer {
    pub fn new(mean: [f32; 3], std: [f32; 3]) -> Self {
        let mut tables = [[0.0; 256]; 3];
        for (channel, table) in tables.iter_mut().enumerate() {
            for (value, slot) in table.iter_mut().enumerate() {
                *slot = (value as f32 / 255.0 - mean[channel]) / std[channel];
            }
        }
        Self { tables }
    }
}

/// Resizes and center-crops `rgb` into a new `input_width × input_height` RGB image.
///
/// The crop is computed for `full_size`, the image's upright size at full resolution, and
/// mapped onto `rgb`, which may be that image DCT-downscaled by the decoder.
pub fn resize_crop(
    rgb: &RgbImage,
    full_size: (u32, u32),
    spec: &PreprocessSpec,
    resizer: &mut Resizer,
) -> Result<FirImage<'static>, ImageError> {
    let (width, height) = rgb.dimensions();
    let scale = (
        f64::from(width) / f64::from(full_size.0),
        f64::from(height) / f64::from(full_size.1),
    );
    resize_crop_at(rgb, full_size, scale, spec, resizer)
}

/// [`resize_crop`] where `rgb` is the full-size image scaled by `(sx, sy)`.
fn resize_crop_at(
    rgb: &RgbImage,
    full_size: (u32, u32),
    (sx, sy): (f64, f64),
    spec: &PreprocessSpec,
    resizer: &mut Resizer,
) -> Result<FirImage<'static>, ImageError> {
    let (width, height) = rgb.dimensions();
    let src = ImageRef::new(width, height, rgb.as_raw(), PixelType::U8x3)
        .map_err(|e| ImageError::Resize(e.to_string()))?;
    let mut dst = FirImage::new(spec.input_width, spec.input_height, PixelType::U8x3);
    let crop = source_crop(full_size.0, full_size.1, spec);
    let (left, top) = (crop.left * sx, crop.top * sy);
    // Floating-point rounding can push the right/bottom edge a hair past the image.
    let crop_width = (crop.width * sx).min(f64::from(width) - left);
    let crop_height = (crop.height * sy).min(f64::from(height) - top);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(left, top, crop_width, crop_height);
    resizer
        .resize(&src, &mut dst, &options)
        .map_err(|e| ImageError::Resize(e.to_string()))?;
    Ok(dst)
}

/// Writes the crop as a normalised NCHW float tensor into `out` (length `3 × H × W`).
pub fn normalize_into(crop: &[u8], normalizer: &Normalizer, out: &mut [f32]) {
    let plane = out.len() / 3;
    let (red, rest) = out.split_at_mut(plane);
    let (green, blue) = rest.split_at_mut(plane);
    let [r_table, g_table, b_table] = &normalizer.tables;
    for (((pixel, r), g), b) in crop
        .chunks_exact(3)
        .zip(red.iter_mut())
        .zip(green.iter_mut())
        .zip(blue.iter_mut())
    {
        *r = r_table[usize::from(pixel[0])];
        *g = g_table[usize::from(pixel[1])];
        *b = b_table[usize::from(pixel[2])];
    }
}

/// Decoded image → NCHW float tensor (allocates the output).
pub fn preprocess(
    image: &DecodedImage,
    spec: &PreprocessSpec,
    normalizer: &Normalizer,
    resizer: &mut Resizer,
) -> Result<Vec<f32>, ImageError> {
    // Output pixel i of an M/8 DCT-scaled decode covers source pixels [8i/M, 8(i+1)/M): the
    // scale is exactly M/8, whereas the decoded size is rounded up to whole pixels.
    let scale = f64::from(image.dct_scale_eighths) / 8.0;
    let crop = resize_crop_at(
        &image.rgb,
        image.full_upright_size(),
        (scale, scale),
        spec,
        resizer,
    )?;
    Ok(normalized(&crop, spec, normalizer))
}

fn normalized(crop: &FirImage<'_>, spec: &PreprocessSpec, normalizer: &Normalizer) -> Vec<f32> {
    let mut tensor = vec![0.0; spec.tensor_len()];
    normalize_into(crop.buffer(), normalizer, &mut tensor);
    tensor
}

/// [`preprocess`] for an RGB image whose crop geometry is that of `full_size`.
pub fn preprocess_rgb(
    rgb: &RgbImage,
    full_size: (u32, u32),
    spec: &PreprocessSpec,
    normalizer: &Normalizer,
    resizer: &mut Resizer,
) -> Result<Vec<f32>, ImageError> {
    let crop = resize_crop(rgb, full_size, spec, resizer)?;
    Ok(normalized(&crop, spec, normalizer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn center_offset_rounds_half_to_even_like_python() {
        // round(41.5) == 42, round(40.5) == 40 in Python.
        assert_eq!(center_offset(307, 224), 42);
        assert_eq!(center_offset(305, 224), 40);
        assert_eq!(center_offset(256, 224), 16);
        assert_eq!(center_offset(224, 224), 0);
    }

    #[test]
    fn source_crop_matches_torchvision_resize_then_center_crop() {
        let spec = PreprocessSpec::default();
        // 500x416: resized to 307x256 (int(256*500/416) = 307), crop offset (42, 16).
        let crop = source_crop(500, 416, &spec);
        let sx = 500.0 / 307.0;
        let sy = 416.0 / 256.0;
        assert!((crop.left - 42.0 * sx).abs() < 1e-9);
        assert!((crop.top - 16.0 * sy).abs() < 1e-9);
        assert!((crop.width - 224.0 * sx).abs() < 1e-9);
        assert!((crop.height - 224.0 * sy).abs() < 1e-9);
    }

    #[test]
    fn dct_scale_is_the_smallest_simd_eighth_that_keeps_the_shorter_side_at_the_target() {
        assert_eq!(dct_scale_eighths(500, 416, 256), 8);
        assert_eq!(dct_scale_eighths(1024, 768, 256), 4);
        assert_eq!(dct_scale_eighths(4000, 3000, 256), 1);
        assert_eq!(dct_scale_eighths(2048, 1100, 256), 2);
        // Rounded up as libjpeg does: 511 * 4/8 = 255.5 -> 256.
        assert_eq!(dct_scale_eighths(700, 511, 256), 4);
        assert_eq!(dct_scale_eighths(700, 510, 256), 8);
        assert_eq!(dct_scale_eighths(100, 50, 256), 8);
        assert_eq!(dct_scaled(500, 5), 313);
    }

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

    #[test]
    fn normalizer_maps_extremes_with_mean_and_std() {
        let spec = PreprocessSpec::default();
        let normalizer = Normalizer::new(spec.mean, spec.std);
        let mut out = vec![0.0; 3];
        normalize_into(&[0, 255, 128], &normalizer, &mut out);
        assert!((out[0] - (0.0 - 0.485) / 0.229).abs() < 1e-6);
        assert!((out[1] - (1.0 - 0.456) / 0.224).abs() < 1e-6);
        assert!((out[2] - (128.0 / 255.0 - 0.406) / 0.225).abs() < 1e-6);
    }
}
