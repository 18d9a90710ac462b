//! JPEG decoding: libjpeg-turbo, downscaling inside the decoder (DCT scaling), with an error
//! manager that turns libjpeg's warnings into a fallback to zune-jpeg's strict mode; and the
//! marker walker that tells a truncated upload from a whole one.

use std::ffi::c_int;

use image::{DynamicImage, ImageFormat, RgbImage};

use super::{DecodedImage, ImageError, check_pixels, invalid};

/// A side of `side` pixels decoded at `eighths`/8, as libjpeg sizes it (rounded up).
pub(super) fn dct_scaled(side: u32, eighths: u32) -> u32 {
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
pub(super) fn jpeg_has_end_of_image(bytes: &[u8]) -> bool {
    let Some(scan) = jpeg_scan_start(bytes) else {
        return false;
    };
    // Searched from the end, where the marker normally is.
    bytes
        .windows(2)
        .rposition(|w| w == [0xFF, 0xD9])
        .is_some_and(|end| end > scan)
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
pub(super) fn decode_jpeg_turbo(
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
pub(super) fn decode_jpeg_strict(
    bytes: &[u8],
    max_pixels: u64,
) -> Result<DecodedImage, ImageError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
