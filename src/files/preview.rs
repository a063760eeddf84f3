//! Previews of image attachments: decoded on the server within fixed limits and re-encoded as a
//! small PNG, so that a page never shows an uploaded file's own bytes inline.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

use crate::domain::attachment::MIB;

/// The largest image a preview is made from.
pub const SOURCE_LIMIT: u64 = 8 * MIB;
/// A preview fits in this box, keeping the image's proportions.
pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 240;
/// The most memory decoding one image may take; larger images get no preview.
const DECODE_LIMIT: u64 = 48 * MIB;
/// The widest and tallest image decoded.
const MAX_SIDE: u32 = 8192;

/// A PNG preview of `source` if it is a PNG, JPEG, GIF (its first frame) or WebP image that
/// decodes within the limits; `None` for anything else.
pub fn make(source: &[u8]) -> Option<Vec<u8>> {
    let mut reader = ImageReader::new(Cursor::new(source)).with_guessed_format().ok()?;
    if !matches!(reader.format(), Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP)) {
        return None;
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(DECODE_LIMIT);
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let preview = image.thumbnail(WIDTH, HEIGHT);
    let mut png = Vec::new();
    preview.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).ok()?;
    Some(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 99]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(image).write_to(&mut Cursor::new(&mut bytes), format).unwrap();
        bytes
    }

    #[test]
    fn an_image_becomes_a_small_png_in_proportion() {
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP] {
            let preview = make(&encoded(1280, 720, format)).unwrap_or_else(|| panic!("{format:?}"));
            let decoded = image::load_from_memory_with_format(&preview, ImageFormat::Png).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (320, 180), "{format:?}");
        }
    }

    #[test]
    fn anything_else_gets_no_preview() {
        assert!(make(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>").is_none());
        assert!(make(b"GIF89a but not really").is_none());
        assert!(make(&[0u8; 100]).is_none());
        let mut truncated = encoded(64, 64, ImageFormat::Png);
        truncated.truncate(60);
        assert!(make(&truncated).is_none());
    }

    #[test]
    fn an_image_wider_than_the_limit_gets_none() {
        assert!(make(&encoded(MAX_SIDE + 1, 1, ImageFormat::Png)).is_none());
        assert!(make(&encoded(MAX_SIDE, 1, ImageFormat::Png)).is_some());
    }
}
