//! Decoding and preprocessing at the library level: the tensor matches an independent
//! reference (Pillow, see tests/data/make_preprocess_reference.py), and every colour type,
//! orientation and format becomes the right upright RGB image.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use model_server::imaging::{self, ImageError, Normalizer, PreprocessSpec};

const MAX_PIXELS: u64 = 40_000_000;

fn tensor_of(bytes: &[u8]) -> Vec<f32> {
    let spec = PreprocessSpec::default();
    let decoded = imaging::decode(bytes, MAX_PIXELS, spec.resize_shorter).unwrap();
    let normalizer = Normalizer::new(spec.mean, spec.std);
    imaging::preprocess(
        &decoded,
        &spec,
        &normalizer,
        &mut fast_image_resize::Resizer::new(),
    )
    .unwrap()
}

/// Compares our tensor for a shared image against the Pillow reference, in 8-bit levels.
fn compare_with_reference(name: &str) -> (f32, f32, f32) {
    reference_diff(name, &tensor_of(&shared_image(name)))
}

/// (worst channel-mean difference, average and worst grid-sample difference), in 8-bit levels.
fn reference_diff(name: &str, tensor: &[f32]) -> (f32, f32, f32) {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("../data/preprocess_reference.json")).unwrap();
    let expected = &reference["images"][name];
    let plane = 224 * 224;
    let std = PreprocessSpec::default().std;
    let step = expected["grid_step"].as_u64().unwrap() as usize;
    let (mut worst_mean, mut sum_abs, mut worst_abs, mut count) = (0f32, 0f32, 0f32, 0f32);
    for channel in 0..3 {
        let values = &tensor[channel * plane..(channel + 1) * plane];
        let mean = values.iter().sum::<f32>() / plane as f32;
        let expected_mean = expected["channel_means"][channel].as_f64().unwrap() as f32;
        // Differences in normalised units × std × 255 = differences in 8-bit levels.
        let to_levels = std[channel] * 255.0;
        worst_mean = worst_mean.max((mean - expected_mean).abs() * to_levels);
        for (row_index, row) in expected["grid"][channel]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            for (col_index, value) in row.as_array().unwrap().iter().enumerate() {
                let ours = values[row_index * step * 224 + col_index * step];
                let diff = (ours - value.as_f64().unwrap() as f32).abs() * to_levels;
                sum_abs += diff;
                worst_abs = worst_abs.max(diff);
                count += 1.0;
            }
        }
    }
    (worst_mean, sum_abs / count, worst_abs)
}

#[test]
fn lossless_images_match_the_pillow_torchvision_reference_within_one_level() {
    // Only fixed-point rounding differs (measured: mean 0.004, average 0.2, worst 1.0 levels).
    for name in ["cat-chelsea.png", "espresso-coffee.png"] {
        let (mean_diff, avg_abs, worst) = compare_with_reference(name);
        assert!(
            mean_diff < 0.25,
            "{name}: channel mean off by {mean_diff} levels"
        );
        assert!(
            avg_abs < 0.6,
            "{name}: average sample off by {avg_abs} levels"
        );
        assert!(worst <= 1.01, "{name}: a sample is off by {worst} levels");
    }
}

#[test]
fn jpeg_matches_the_reference_within_decoder_rounding() {
    // Decoded at full size by libjpeg-turbo, as Pillow decodes it; its version and the resize's
    // fixed-point rounding may differ by a level (measured: mean 0.005, average 0.11, worst
    // 1.0 levels with zune-jpeg, which decoded it before).
    let (mean_diff, avg_abs, worst) = compare_with_reference("house-finch.jpg");
    assert!(mean_diff < 0.25, "channel mean off by {mean_diff} levels");
    assert!(avg_abs < 0.6, "average sample off by {avg_abs} levels");
    assert!(worst <= 2.01, "a sample is off by {worst} levels");
}

#[test]
fn a_crop_one_pixel_off_would_fail_the_reference_check() {
    // Guards the tolerance above: the cat shifted by one source pixel must fail it.
    let bytes = shared_image("cat-chelsea.png");
    let spec = PreprocessSpec::default();
    let decoded = imaging::decode(&bytes, MAX_PIXELS, spec.resize_shorter).unwrap();
    let (width, height) = decoded.rgb.dimensions();
    let shifted = RgbImage::from_fn(width, height, |x, y| {
        *decoded.rgb.get_pixel((x + 1).min(width - 1), y)
    });
    let normalizer = Normalizer::new(spec.mean, spec.std);
    let mut resizer = fast_image_resize::Resizer::new();
    let tensor = imaging::preprocess_rgb(
        &shifted,
        shifted.dimensions(),
        &spec,
        &normalizer,
        &mut resizer,
    )
    .unwrap();
    let (_, avg_abs, worst) = reference_diff("cat-chelsea.png", &tensor);
    assert!(
        worst > 1.01 || avg_abs > 0.6,
        "a one-pixel shift stays within tolerance (worst {worst}, average {avg_abs})"
    );
}

#[test]
fn dct_scaled_decoding_gives_nearly_the_full_decode_tensor() {
    // A 2000x1500 photo decodes at 1/4 (500x375); its crop must cover the same region as the
    // full-resolution path, so the tensors differ only by resampling noise.
    let spec = PreprocessSpec::default();
    let normalizer = Normalizer::new(spec.mean, spec.std);
    let mut resizer = fast_image_resize::Resizer::new();
    let bytes = jpeg(&photo_like(2000, 1501), 95);
    let scaled = imaging::decode(&bytes, MAX_PIXELS, spec.resize_shorter).unwrap();
    assert_eq!(scaled.dct_scale_eighths, 2);
    let full = imaging::decode(&bytes, MAX_PIXELS, u32::MAX).unwrap();
    assert_eq!(full.dct_scale_eighths, 8);
    let a = imaging::preprocess(&scaled, &spec, &normalizer, &mut resizer).unwrap();
    let b = imaging::preprocess(&full, &spec, &normalizer, &mut resizer).unwrap();
    let mean_abs = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
    // In 8-bit levels (std ≈ 0.225).
    assert!(mean_abs * 0.225 * 255.0 < 2.0, "mean difference {mean_abs}");
}

#[test]
fn a_truncated_jpeg_with_an_exif_thumbnail_is_still_refused() {
    // The thumbnail inside APP1 is a complete JPEG with its own SOS and EOI markers.
    let thumbnail = jpeg(&photo_like(64, 48), 80);
    let mut app1 = exif_orientation_payload(1);
    app1.extend_from_slice(&thumbnail);
    let main = jpeg(&photo_like(640, 480), 90);
    let mut bytes = main[..2].to_vec();
    bytes.extend_from_slice(&[0xFF, 0xE1]);
    bytes.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    bytes.extend_from_slice(&app1);
    bytes.extend_from_slice(&main[2..]);
    assert!(imaging::decode(&bytes, MAX_PIXELS, 256).is_ok());
    let cut = &bytes[..bytes.len() * 2 / 3];
    assert!(matches!(
        imaging::decode(cut, MAX_PIXELS, 256),
        Err(ImageError::Invalid { .. })
    ));
}

#[test]
fn a_crop_that_would_overrun_the_image_by_rounding_is_clamped() {
    // resize_size == input_size puts the crop at offset 0 with a width of exactly the image,
    // where 224 * (w / 224.0) can exceed w by a rounding error (e.g. w = 225).
    let spec = PreprocessSpec {
        resize_shorter: 224,
        ..PreprocessSpec::default()
    };
    let normalizer = Normalizer::new(spec.mean, spec.std);
    let mut resizer = fast_image_resize::Resizer::new();
    for width in [225, 227, 231, 449, 1001] {
        let rgb = photo_like(width, 224);
        let tensor =
            imaging::preprocess_rgb(&rgb, rgb.dimensions(), &spec, &normalizer, &mut resizer);
        assert!(tensor.is_ok(), "width {width}: {tensor:?}");
    }
}

fn decode(bytes: &[u8]) -> imaging::DecodedImage {
    imaging::decode(bytes, MAX_PIXELS, 256).unwrap()
}

/// A picture with a red marker in the top-left corner and blue elsewhere.
fn marked(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < width / 4 && y < height / 4 {
            Rgb([250, 0, 0])
        } else {
            Rgb([0, 0, 250])
        }
    })
}

fn is_red(pixel: &Rgb<u8>) -> bool {
    pixel[0] > 180 && pixel[2] < 80
}

#[test]
fn exif_orientation_is_applied_for_small_and_dct_scaled_jpegs() {
    // Orientation 6: the stored image must be rotated 90° clockwise to display upright, so the
    // stored top-left corner ends up top-right.
    for (width, height, eighths) in [(400, 300, 8), (1600, 1200, 2)] {
        let bytes = jpeg_with_orientation(&marked(width, height), 6);
        let decoded = decode(&bytes);
        assert_eq!(decoded.dct_scale_eighths, eighths);
        let (w, h) = decoded.rgb.dimensions();
        assert_eq!((w, h), (height * eighths / 8, width * eighths / 8));
        assert!(
            is_red(decoded.rgb.get_pixel(w - 2, 2)),
            "top-right should be red"
        );
        assert!(
            !is_red(decoded.rgb.get_pixel(2, 2)),
            "top-left should not be red"
        );
    }
}

#[test]
fn large_jpegs_are_dct_downscaled_while_decoding() {
    let bytes = jpeg(&photo_like(4000, 3000), 85);
    let decoded = decode(&bytes);
    assert_eq!(decoded.dct_scale_eighths, 1);
    assert_eq!(decoded.rgb.dimensions(), (500, 375));
    assert_eq!((decoded.stored_width, decoded.stored_height), (4000, 3000));
}

#[test]
fn grayscale_alpha_sixteen_bit_and_palette_become_rgb() {
    let gray = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(300, 260, image::Luma([77])));
    for format in [ImageFormat::Jpeg, ImageFormat::Png] {
        let decoded = decode(&encode(&gray, format));
        let pixel = decoded.rgb.get_pixel(150, 130);
        assert!(
            pixel.0.iter().all(|v| v.abs_diff(77) <= 2),
            "{format:?}: {pixel:?}"
        );
    }

    let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
        300,
        260,
        image::Rgba([10, 200, 30, 0]),
    ));
    // Like PIL's convert("RGB"): alpha is dropped, colour kept.
    assert_eq!(
        decode(&encode(&rgba, ImageFormat::Png))
            .rgb
            .get_pixel(5, 5)
            .0,
        [10, 200, 30]
    );

    let sixteen = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
        300,
        260,
        Rgb([65535u16, 0, 32896]),
    ));
    assert_eq!(
        decode(&encode(&sixteen, ImageFormat::Png))
            .rgb
            .get_pixel(5, 5)
            .0,
        [255, 0, 128]
    );

    // GIF is always palette-based.
    let gif = encode(&DynamicImage::ImageRgb8(marked(300, 260)), ImageFormat::Gif);
    let decoded = decode(&gif);
    assert_eq!(decoded.format, ImageFormat::Gif);
    assert!(is_red(decoded.rgb.get_pixel(5, 5)));
}

#[test]
fn cmyk_jpegs_decode_to_rgb_at_any_size() {
    // Pure cyan ink: no red, full green and blue.
    for (width, height) in [(300, 260), (1200, 1000)] {
        let decoded = decode(&cmyk_jpeg(width, height, [255, 0, 0, 0]));
        assert_eq!(
            decoded.rgb.dimensions(),
            (u32::from(width), u32::from(height))
        );
        let [r, g, b] = decoded.rgb.get_pixel(20, 20).0;
        assert!(r < 40 && g > 215 && b > 215, "cyan decoded as {r},{g},{b}");
    }
}

#[test]
fn webp_bmp_and_gif_first_frame_decode() {
    let picture = DynamicImage::ImageRgb8(marked(320, 240));
    for format in [ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Gif] {
        let decoded = decode(&encode(&picture, format));
        assert_eq!(decoded.format, format);
        assert_eq!(decoded.rgb.dimensions(), (320, 240));
        assert!(is_red(decoded.rgb.get_pixel(3, 3)), "{format:?}");
    }
}

#[test]
fn bombs_are_refused_from_the_header_before_decoding() {
    let cases: [(&str, Vec<u8>); 3] = [
        ("png", png_bomb(100_000, 100_000)),
        ("jpeg", jpeg_bomb(65_000, 65_000)),
        ("gif", gif_bomb(65_535, 65_535)),
    ];
    for (name, bytes) in cases {
        match imaging::decode(&bytes, MAX_PIXELS, 256) {
            Err(ImageError::TooManyPixels { pixels, .. }) => {
                assert!(pixels > MAX_PIXELS, "{name}");
            }
            other => panic!("{name}: expected TooManyPixels, got {other:?}"),
        }
    }
}

#[test]
fn truncated_and_corrupt_images_are_invalid_not_panics() {
    let finch = shared_image("house-finch.jpg");
    let png = shared_image("cat-chelsea.png");
    let candidates = [
        finch[..finch.len() / 2].to_vec(),
        finch[..200].to_vec(),
        png[..png.len() / 3].to_vec(),
        png[..40].to_vec(),
        {
            let mut corrupt = finch.clone();
            let sos = corrupt.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
            corrupt[sos + 20..sos + 400].fill(0xFF);
            corrupt
        },
    ];
    for bytes in candidates {
        match imaging::decode(&bytes, MAX_PIXELS, 256) {
            Err(ImageError::Invalid { .. }) | Ok(_) => {}
            Err(other) => panic!("unexpected error kind: {other:?}"),
        }
    }
    assert!(matches!(
        imaging::decode(&finch[..finch.len() / 2], MAX_PIXELS, 256),
        Err(ImageError::Invalid { .. })
    ));
    assert!(matches!(
        imaging::decode(&png[..png.len() / 3], MAX_PIXELS, 256),
        Err(ImageError::Invalid { .. })
    ));
}

#[test]
fn large_grayscale_jpegs_take_the_scaled_path() {
    let gray = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(photo_like(1200, 1000)).to_luma8());
    let decoded = decode(&encode(&gray, ImageFormat::Jpeg));
    assert_eq!(decoded.dct_scale_eighths, 4);
    assert_eq!(decoded.rgb.dimensions(), (600, 500));
    let [r, g, b] = decoded.rgb.get_pixel(300, 250).0;
    assert!(r == g && g == b, "grey stays grey: {r},{g},{b}");
}

#[test]
fn a_fatal_libjpeg_error_is_an_invalid_image() {
    // Make the first Huffman table declare more codes than fit: libjpeg's "Bogus Huffman
    // table definition", a fatal error raised by unwinding out of the C decoder; zune-jpeg then
    // refuses the file too. At full size and DCT-scaled.
    for (width, height) in [(400, 300), (1200, 1000)] {
        let mut bytes = jpeg(&photo_like(width, height), 85);
        let dht = bytes.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
        bytes[dht + 5..dht + 21].fill(0xFF);
        match imaging::decode(&bytes, MAX_PIXELS, 256) {
            Err(ImageError::Invalid { .. }) => {}
            other => panic!("{width}x{height}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn corrupt_scans_that_libjpeg_would_paper_over_are_refused_and_stray_bytes_are_not() {
    for (width, height) in [(400, 300), (1200, 1000)] {
        let clean = jpeg(&photo_like(width, height), 85);
        let dht = clean.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
        // A Huffman table of a single 1-bit code: the scan's codes do not decode. libjpeg only
        // warns ("Corrupt JPEG data: bad Huffman code") and fills the rest with grey.
        let length = usize::from(u16::from_be_bytes([clean[dht + 2], clean[dht + 3]]));
        let mut table = vec![0xFF, 0xC4, 0, 20, clean[dht + 4], 1];
        table.extend_from_slice(&[0; 15]);
        table.push(0x00);
        let mut corrupt = clean.clone();
        corrupt.splice(dht..dht + 2 + length, table);
        assert!(
            matches!(
                imaging::decode(&corrupt, MAX_PIXELS, 256),
                Err(ImageError::Invalid { .. })
            ),
            "{width}x{height}: a corrupt scan was decoded"
        );
        // Stray bytes between two segments: libjpeg warns, browsers show the picture.
        let mut stray = clean.clone();
        stray.splice(dht..dht, [0u8; 8]);
        let decoded = imaging::decode(&stray, MAX_PIXELS, 256).unwrap();
        assert_eq!(decoded.stored_width, width);
    }
}
