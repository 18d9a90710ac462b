//! The bad-input corpus: every kind of body a careless, broken or hostile client sends, built
//! here from generated images and hand-made bytes (nothing downloaded), each with the answer
//! the README documents, the same from the model server (`POST /invocations`) and from the
//! proxy (`POST /predict`): both apply one request contract (`api`). `fuzz_seeds` also writes
//! the corpus out as the fuzzers' seeds.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

use crate::images::{
    cmyk_jpeg, encode, gif_bomb, jpeg, jpeg_bomb, jpeg_with_orientation, photo_like, png_bomb,
    png_chunk,
};

/// What a service must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200 with predictions: odd but valid input.
    Classified,
    /// This status with `{"error":{"code": ...}}`.
    Error(u16, &'static str),
}

use Expect::{Classified, Error};

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    /// From both services.
    pub expect: Expect,
}

/// Over both services' image limits (model server 6 MiB, proxy 4 MiB).
const OVER_LIMIT: usize = 6 * 1024 * 1024 + 1;

const EMPTY: Expect = Error(400, "empty_body");
const JSON: Expect = Error(400, "invalid_json");
const BASE64: Expect = Error(400, "invalid_base64");
const PARAMETER: Expect = Error(400, "invalid_parameter");
const INVALID_IMAGE: Expect = Error(400, "invalid_image");
const MEDIA_TYPE: Expect = Error(415, "unsupported_media_type");
const TOO_LARGE: Expect = Error(413, "payload_too_large");
const TOO_MANY_PIXELS: Expect = Error(413, "image_too_large");

fn case(
    name: impl Into<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    expect: Expect,
) -> Case {
    Case {
        name: name.into(),
        content_type,
        body,
        expect,
    }
}

fn json_body(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn base64_json(image: &[u8]) -> Vec<u8> {
    json_body(&serde_json::json!({ "image_base64": STANDARD.encode(image) }))
}

/// A small photo-like picture in `format`.
fn picture(format: ImageFormat) -> Vec<u8> {
    encode(&DynamicImage::ImageRgb8(photo_like(96, 80)), format)
}

/// A zlib stream of `data` in stored (uncompressed) blocks, for hand-made PNGs.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = u16::try_from(chunk.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in data {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// A palette PNG (colour type 3, 2 bits per pixel), which `image` cannot write itself.
fn palette_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[2, 3, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(
        &mut out,
        b"PLTE",
        &[200, 40, 40, 40, 160, 60, 30, 60, 200, 240, 220, 90],
    );
    let row_bytes = usize::try_from(width.div_ceil(4)).unwrap();
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        raw.extend((0..row_bytes).map(|x| {
            if (x + y as usize).is_multiple_of(2) {
                0b0001_1011
            } else {
                0b1110_0100
            }
        }));
    }
    png_chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A PNG whose IHDR declares zero width (a valid CRC, so only the size is wrong).
fn zero_width_png() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 0u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&16u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &zlib_stored(&[0]));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

fn animated_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        encoder
            .set_repeat(image::codecs::gif::Repeat::Infinite)
            .unwrap();
        let frames = [[220, 60, 40], [40, 200, 80], [30, 60, 220]].map(|colour| {
            let frame = image::RgbaImage::from_fn(64, 48, |x, _| {
                let [r, g, b] = colour;
                image::Rgba([r, g, b.saturating_add(u8::try_from(x).unwrap()), 255])
            });
            image::Frame::new(frame)
        });
        encoder.encode_frames(frames).unwrap();
    }
    out
}

fn progressive_jpeg() -> Vec<u8> {
    let image = photo_like(120, 90);
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    encoder.set_progressive(true);
    encoder
        .encode(image.as_raw(), 120, 90, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// Byte offset of the first `FF marker` segment in a JPEG.
fn jpeg_segment(bytes: &[u8], marker: u8) -> usize {
    bytes.windows(2).position(|w| w == [0xFF, marker]).unwrap()
}

/// A baseline JPEG whose first Huffman table's code counts are all 255: a table that cannot
/// exist (more codes than bits allow).
fn corrupt_huffman_counts() -> Vec<u8> {
    let mut bytes = jpeg(&photo_like(64, 64), 85);
    let dht = jpeg_segment(&bytes, 0xC4);
    // FF C4, length (2), class/id (1), then 16 counts.
    bytes[dht + 5..dht + 21].fill(0xFF);
    bytes
}

/// A baseline JPEG whose first Huffman table is replaced by one declaring a single 1-bit
/// code, so the scan's codes do not decode.
fn corrupt_huffman_symbols() -> Vec<u8> {
    let mut bytes = jpeg(&photo_like(64, 64), 85);
    let dht = jpeg_segment(&bytes, 0xC4);
    let length = usize::from(u16::from_be_bytes([bytes[dht + 2], bytes[dht + 3]]));
    let mut table = vec![0xFF, 0xC4, 0, 20, bytes[dht + 4], 1];
    table.extend_from_slice(&[0; 15]);
    table.push(0x00);
    bytes.splice(dht..dht + 2 + length, table);
    bytes
}

fn multipart(image: &[u8]) -> Vec<u8> {
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
    body.extend_from_slice(image);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    body
}

/// Pseudo-random bytes (xorshift), the same on every run.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Every case, in a stable order. `kinds()` says how many distinct kinds of input they are.
pub fn cases() -> Vec<Case> {
    let jpeg_image = jpeg(&photo_like(96, 80), 85);
    let png_image = picture(ImageFormat::Png);
    let gif_image = picture(ImageFormat::Gif);
    let webp_image = picture(ImageFormat::WebP);
    let bmp_image = picture(ImageFormat::Bmp);
    let mut cases = vec![
        // Nothing, almost nothing, not an image.
        case("empty body", Some("image/jpeg"), vec![], EMPTY),
        case("empty body without a content type", None, vec![], EMPTY),
        case(
            "one byte",
            Some("application/octet-stream"),
            vec![0x42],
            MEDIA_TYPE,
        ),
        case(
            "a megabyte of zeros",
            Some("application/octet-stream"),
            vec![0; 1 << 20],
            MEDIA_TYPE,
        ),
        case(
            "plain text",
            Some("text/plain"),
            b"hello, is this a cat?".to_vec(),
            MEDIA_TYPE,
        ),
        case(
            "text labelled as JPEG",
            Some("image/jpeg"),
            b"hello, is this a cat?".to_vec(),
            MEDIA_TYPE,
        ),
        case(
            "an HTML page",
            Some("text/html"),
            b"<!doctype html><html><body><img src=x></body></html>".to_vec(),
            MEDIA_TYPE,
        ),
        case(
            "HTML labelled as PNG",
            Some("image/png"),
            b"<html><body>not a png</body></html>".to_vec(),
            MEDIA_TYPE,
        ),
        case(
            "random bytes",
            Some("application/octet-stream"),
            garbage(4096, 7),
            MEDIA_TYPE,
        ),
        case(
            "a multipart form with a PNG",
            Some("multipart/form-data; boundary=XyZ"),
            multipart(&png_image),
            MEDIA_TYPE,
        ),
        case(
            "an XML content type",
            Some("application/xml"),
            b"<image/>".to_vec(),
            MEDIA_TYPE,
        ),
        // JSON that is wrong.
        case(
            "JSON with the wrong field",
            Some("application/json"),
            br#"{"image":"aGVsbG8="}"#.to_vec(),
            JSON,
        ),
        case(
            "JSON that is an array",
            Some("application/json"),
            b"[1,2,3]".to_vec(),
            JSON,
        ),
        case(
            "JSON null",
            Some("application/json"),
            b"null".to_vec(),
            JSON,
        ),
        case(
            "JSON image_base64 as a number",
            Some("application/json"),
            br#"{"image_base64":12345}"#.to_vec(),
            JSON,
        ),
        case(
            "JSON image_base64 null",
            Some("application/json"),
            br#"{"image_base64":null}"#.to_vec(),
            JSON,
        ),
        case(
            "truncated JSON",
            Some("application/json"),
            br#"{"image_base64":"iVBO"#.to_vec(),
            JSON,
        ),
        case(
            "JSON that is not UTF-8",
            Some("application/json"),
            b"{\"image_base64\":\"\xff\xfe\xfd\"}".to_vec(),
            JSON,
        ),
        case(
            "JSON nested 100000 deep",
            Some("application/json"),
            b"[".repeat(100_000),
            JSON,
        ),
        case(
            "an image labelled as JSON",
            Some("application/json"),
            png_image.clone(),
            JSON,
        ),
        case(
            "JSON with a 9 MB string",
            Some("application/json"),
            json_body(&serde_json::json!({ "image_base64": "A".repeat(9_000_000) })),
            TOO_LARGE,
        ),
        case(
            "JSON top_k 0",
            Some("application/json"),
            json_body(
                &serde_json::json!({ "image_base64": STANDARD.encode(&png_image), "top_k": 0 }),
            ),
            PARAMETER,
        ),
        case(
            "JSON top_k as text",
            Some("application/json"),
            json_body(
                &serde_json::json!({ "image_base64": STANDARD.encode(&png_image), "top_k": "five" }),
            ),
            PARAMETER,
        ),
        case(
            "JSON top_k 2.5",
            Some("application/json"),
            json_body(
                &serde_json::json!({ "image_base64": STANDARD.encode(&png_image), "top_k": 2.5 }),
            ),
            PARAMETER,
        ),
        // Base64 that is wrong.
        case(
            "bad base64",
            Some("application/json"),
            br#"{"image_base64":"not*base64!"}"#.to_vec(),
            BASE64,
        ),
        case(
            "base64 cut mid-quantum",
            Some("application/json"),
            br#"{"image_base64":"iVBORw0KG"}"#.to_vec(),
            BASE64,
        ),
        case(
            "empty base64",
            Some("application/json"),
            br#"{"image_base64":""}"#.to_vec(),
            EMPTY,
        ),
        case(
            "base64 of random bytes",
            Some("application/json"),
            base64_json(&garbage(3000, 11)),
            MEDIA_TYPE,
        ),
        case(
            "a data URL of text",
            Some("application/json"),
            json_body(
                &serde_json::json!({ "image_base64": "data:text/plain;base64,aGVsbG8gd29ybGQ=" }),
            ),
            MEDIA_TYPE,
        ),
        case(
            "a data URL that is not base64",
            Some("application/json"),
            json_body(&serde_json::json!({ "image_base64": "data:image/png,%89PNG" })),
            BASE64,
        ),
        case(
            "a data URL without data",
            Some("application/json"),
            json_body(&serde_json::json!({ "image_base64": "data:image/png;base64" })),
            BASE64,
        ),
        // Over the size limits.
        case(
            "a body over the size limit",
            Some("application/octet-stream"),
            vec![0xFF; OVER_LIMIT],
            TOO_LARGE,
        ),
        case(
            "base64 over the size limit",
            Some("application/json"),
            base64_json(&[0xFF; OVER_LIMIT]),
            TOO_LARGE,
        ),
        // Decompression bombs: tiny files declaring 4 to 10 billion pixels.
        case(
            "a 100000x100000 PNG header",
            Some("image/png"),
            png_bomb(100_000, 100_000),
            TOO_MANY_PIXELS,
        ),
        case(
            "a 65500x65500 JPEG header",
            Some("image/jpeg"),
            jpeg_bomb(65_500, 65_500),
            TOO_MANY_PIXELS,
        ),
        case(
            "a 65535x65535 GIF header",
            Some("image/gif"),
            gif_bomb(65_535, 65_535),
            TOO_MANY_PIXELS,
        ),
        // Corrupt images.
        case(
            "a JPEG with impossible Huffman code counts",
            Some("image/jpeg"),
            corrupt_huffman_counts(),
            INVALID_IMAGE,
        ),
        case(
            "a JPEG whose Huffman table does not match its scan",
            Some("image/jpeg"),
            corrupt_huffman_symbols(),
            INVALID_IMAGE,
        ),
        case(
            "a JPEG without a frame header",
            Some("image/jpeg"),
            {
                let mut bytes = jpeg_image.clone();
                let sof = jpeg_segment(&bytes, 0xC0);
                let length = usize::from(u16::from_be_bytes([bytes[sof + 2], bytes[sof + 3]]));
                bytes.drain(sof..sof + 2 + length);
                bytes
            },
            INVALID_IMAGE,
        ),
        // libjpeg warns and browsers show it: stray bytes between two segments.
        case(
            "a JPEG with stray bytes between segments",
            Some("image/jpeg"),
            {
                let mut bytes = jpeg_image.clone();
                let dht = jpeg_segment(&bytes, 0xC4);
                bytes.splice(dht..dht, [0u8; 8]);
                bytes
            },
            Classified,
        ),
        case(
            "a PNG with a broken CRC",
            Some("image/png"),
            {
                let mut bytes = png_image.clone();
                bytes[29] ^= 0xFF; // inside the IHDR CRC
                bytes
            },
            INVALID_IMAGE,
        ),
        case(
            "a zero-width PNG",
            Some("image/png"),
            zero_width_png(),
            INVALID_IMAGE,
        ),
        case(
            "a zero-size JPEG",
            Some("image/jpeg"),
            jpeg_bomb(0, 0),
            INVALID_IMAGE,
        ),
        case(
            "a zero-size GIF",
            Some("image/gif"),
            gif_bomb(0, 0),
            INVALID_IMAGE,
        ),
        // Odd but valid: classified.
        case(
            "a 1x1 PNG",
            Some("image/png"),
            encode(
                &DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([10, 200, 30]))),
                ImageFormat::Png,
            ),
            Classified,
        ),
        case(
            "a 1x1 JPEG",
            Some("image/jpeg"),
            jpeg(&RgbImage::from_pixel(1, 1, Rgb([10, 200, 30])), 90),
            Classified,
        ),
        case(
            "a 1x1 GIF",
            Some("image/gif"),
            encode(
                &DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([10, 200, 30]))),
                ImageFormat::Gif,
            ),
            Classified,
        ),
        case(
            "a 16-bit PNG",
            Some("image/png"),
            encode(
                &DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(photo_like(64, 48)).to_rgb16()),
                ImageFormat::Png,
            ),
            Classified,
        ),
        case(
            "a greyscale PNG",
            Some("image/png"),
            encode(
                &DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(photo_like(64, 48)).to_luma8()),
                ImageFormat::Png,
            ),
            Classified,
        ),
        case(
            "a greyscale JPEG",
            Some("image/jpeg"),
            encode(
                &DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(photo_like(64, 48)).to_luma8()),
                ImageFormat::Jpeg,
            ),
            Classified,
        ),
        case(
            "a CMYK JPEG",
            Some("image/jpeg"),
            cmyk_jpeg(64, 48, [0, 180, 200, 20]),
            Classified,
        ),
        case(
            "a palette PNG",
            Some("image/png"),
            palette_png(40, 30),
            Classified,
        ),
        case(
            "a PNG with alpha",
            Some("image/png"),
            encode(
                &DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(photo_like(64, 48)).to_rgba8()),
                ImageFormat::Png,
            ),
            Classified,
        ),
        case(
            "an animated GIF",
            Some("image/gif"),
            animated_gif(),
            Classified,
        ),
        case(
            "a progressive JPEG",
            Some("image/jpeg"),
            progressive_jpeg(),
            Classified,
        ),
        case(
            "a JPEG with EXIF orientation 6",
            Some("image/jpeg"),
            jpeg_with_orientation(&photo_like(64, 48), 6),
            Classified,
        ),
        case(
            "a JPEG with an invalid EXIF orientation",
            Some("image/jpeg"),
            jpeg_with_orientation(&photo_like(64, 48), 9),
            Classified,
        ),
        case(
            "a lossless WebP",
            Some("image/webp"),
            webp_image.clone(),
            Classified,
        ),
        case("a BMP", Some("image/bmp"), bmp_image.clone(), Classified),
        case(
            "a PNG labelled as JPEG",
            Some("image/jpeg"),
            png_image.clone(),
            Classified,
        ),
        case(
            "a JPEG without a content type",
            None,
            jpeg_image.clone(),
            Classified,
        ),
        case(
            "base64 with MIME line breaks",
            Some("application/json"),
            json_body(
                &serde_json::json!({ "image_base64": STANDARD.encode(&png_image).as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n") }),
            ),
            Classified,
        ),
        case(
            "URL-safe base64 without padding in a data URL",
            Some("application/json"),
            json_body(
                &serde_json::json!({ "image_base64": format!("data:image/jpeg;base64,{}", URL_SAFE_NO_PAD.encode(&jpeg_image)) }),
            ),
            Classified,
        ),
    ];
    // One content-type gate at both services (api::content): an image type nothing here
    // decodes is refused whatever the bytes are; any `+json` type is JSON.
    cases.push(case(
        "a PNG labelled as TIFF",
        Some("image/tiff"),
        png_image.clone(),
        MEDIA_TYPE,
    ));
    cases.push(case(
        "base64 JSON under a +json type",
        Some("application/vnd.api+json"),
        base64_json(&png_image),
        Classified,
    ));
    // Truncated at several points: the signature only, inside the header, half-way, and
    // one byte short. One byte short of a PNG or GIF is its trailer (IEND's CRC, the GIF
    // trailer byte) with every pixel there: classified, as browsers show it. A JPEG without
    // its end-of-image marker may have lost scan data and is refused.
    for (format, content_type, bytes, header_end, one_short) in [
        ("JPEG", "image/jpeg", &jpeg_image, 3, INVALID_IMAGE),
        ("PNG", "image/png", &png_image, 8, Classified),
        ("GIF", "image/gif", &gif_image, 6, Classified),
        ("WebP", "image/webp", &webp_image, 12, INVALID_IMAGE),
    ] {
        for (point, cut, expect) in [
            ("after its signature", header_end, INVALID_IMAGE),
            ("inside its header", header_end + 9, INVALID_IMAGE),
            ("half-way", bytes.len() / 2, INVALID_IMAGE),
            ("one byte short", bytes.len() - 1, one_short),
        ] {
            cases.push(case(
                format!("a {format} truncated {point}"),
                Some(content_type),
                bytes[..cut].to_vec(),
                expect,
            ));
        }
    }
    cases.push(case(
        "a BMP truncated half-way",
        Some("image/bmp"),
        bmp_image[..bmp_image.len() / 2].to_vec(),
        INVALID_IMAGE,
    ));
    cases
}

/// Seeds for the image fuzzer: every case whose body is (or carries) image bytes, small.
pub fn image_seeds() -> Vec<(String, Vec<u8>)> {
    cases()
        .into_iter()
        .filter(|c| c.body.len() <= 64 * 1024 && c.content_type != Some("application/json"))
        .map(|c| (c.name, c.body))
        .collect()
}
