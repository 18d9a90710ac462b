//! ImageNet-style preprocessing: torchvision's `Resize(shorter) → CenterCrop(input) →
//! ToTensor → Normalize(mean, std)`, with the crop folded into an antialiased resize.

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

use super::{DecodedImage, ImageError};

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
