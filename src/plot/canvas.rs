//! The drawing toolkit every figure uses: an RGB [`Canvas`] with alpha
//! blending, [`Text`] in the embedded DejaVu Sans font, and PNG writing
//! ([`write_rgb_png`]).
use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

use crate::io::write_atomic;

/// DejaVu Sans (`assets/fonts/`, Bitstream Vera license), compiled into the
/// binary so that no system font is needed.
const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// An 8-bit RGB colour.
pub(super) type Rgb = [u8; 3];
/// Black, the colour of frames, ticks and most text.
pub(super) const BLACK: Rgb = [0, 0, 0];

/// A simple RGB raster with alpha blending, white at the start.
pub(super) struct Canvas {
    pub(super) width: u32,
    pub(super) height: u32,
    /// Row-major RGB bytes, `width × height × 3`.
    pub(super) data: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub(super) fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            data: vec![255; (width * height * 3) as usize],
        }
    }

    /// Blends `color` into pixel (x, y) with opacity `alpha` (outside: no-op).
    pub(super) fn blend(&mut self, x: i64, y: i64, color: Rgb, alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 || alpha <= 0.0 {
            return;
        }
        let a = alpha.min(1.0);
        let k = ((y as u32 * self.width + x as u32) * 3) as usize;
        for (byte, &target) in self.data[k..k + 3].iter_mut().zip(&color) {
            let old = *byte as f32;
            *byte = (old + (target as f32 - old) * a).round() as u8;
        }
    }

    /// Fills [x0, x1) × [y0, y1), at least one pixel wide and high.
    pub(super) fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, color: Rgb) {
        let (xa, ya) = (x0.floor() as i64, y0.floor() as i64);
        let xb = (x1.ceil() as i64).max(xa + 1);
        let yb = (y1.ceil() as i64).max(ya + 1);
        for y in ya..yb {
            for x in xa..xb {
                self.blend(x, y, color, 1.0);
            }
        }
    }

    /// An anti-aliased disc of radius `r` centred at (cx, cy).
    pub(super) fn disc(&mut self, cx: f32, cy: f32, r: f32, color: Rgb) {
        let (xa, xb) = ((cx - r - 1.0).floor() as i64, (cx + r + 1.0).ceil() as i64);
        let (ya, yb) = ((cy - r - 1.0).floor() as i64, (cy + r + 1.0).ceil() as i64);
        for y in ya..=yb {
            for x in xa..=xb {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                self.blend(x, y, color, (r + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }

    /// A horizontal line one pixel thick from x0 to x1.
    pub(super) fn hline(&mut self, x0: f32, x1: f32, y: f32, color: Rgb) {
        self.fill_rect(x0, y, x1, y + 1.0, color);
    }

    /// A vertical line one pixel thick from y0 to y1.
    pub(super) fn vline(&mut self, x: f32, y0: f32, y1: f32, color: Rgb) {
        self.fill_rect(x, y0, x + 1.0, y1, color);
    }

    /// A line from `a` to `b`, `width` pixels thick, drawn as overlapping discs.
    pub(super) fn segment(&mut self, a: (f32, f32), b: (f32, f32), width: f32, color: Rgb) {
        let n = ((b.0 - a.0).hypot(b.1 - a.1) / 0.5).ceil().max(1.0) as usize;
        for k in 0..=n {
            let t = k as f32 / n as f32;
            self.disc(
                a.0 + (b.0 - a.0) * t,
                a.1 + (b.1 - a.1) * t,
                width / 2.0,
                color,
            );
        }
    }
}

/// Text drawing with the embedded font.
pub(super) struct Text {
    font: FontRef<'static>,
}

impl Text {
    /// Text in the embedded DejaVu Sans.
    pub(super) fn embedded() -> anyhow::Result<Text> {
        let font = FontRef::try_from_slice(FONT_BYTES)
            .map_err(|e| anyhow::anyhow!("embedded font cannot be read: {e}"))?;
        Ok(Text { font })
    }

    /// Width in pixels of `s` at `size` (advances and kerning).
    pub(super) fn width(&self, s: &str, size: f32) -> f32 {
        let f = self.font.as_scaled(PxScale::from(size));
        let mut w = 0.0;
        let mut prev = None;
        for c in s.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                w += f.kern(p, id);
            }
            w += f.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// Draws `s` with its baseline at `y`; `anchor` 0 = left, 0.5 = centre, 1 = right of `x`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn draw(
        &self,
        canvas: &mut Canvas,
        s: &str,
        x: f32,
        y: f32,
        size: f32,
        anchor: f32,
        color: Rgb,
    ) {
        let scale = PxScale::from(size);
        let f = self.font.as_scaled(scale);
        let mut pen = x - anchor * self.width(s, size);
        let mut prev = None;
        for c in s.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                pen += f.kern(p, id);
            }
            let glyph = id.with_scale_and_position(scale, point(pen, y));
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    canvas.blend(
                        b.min.x as i64 + gx as i64,
                        b.min.y as i64 + gy as i64,
                        color,
                        cov,
                    );
                });
            }
            pen += f.h_advance(id);
            prev = Some(id);
        }
    }
}

/// Writes an 8-bit RGB raster (`width`×`height`, row-major) as a PNG file,
/// atomically; every figure of fadca goes through here.
pub(super) fn write_rgb_png(
    path: &Path,
    width: u32,
    height: u32,
    pixels: &[u8],
) -> anyhow::Result<()> {
    write_atomic(path, |w| {
        let mut encoder = ::png::Encoder::new(w, width, height);
        encoder.set_color(::png::ColorType::Rgb);
        encoder.set_depth(::png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(pixels)?;
        writer.finish()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_width() {
        let text = Text::embedded().unwrap();
        let w = text.width("residue", 14.0);
        assert!(w > 30.0 && w < 80.0, "{w}");
    }

    #[test]
    fn blending_mixes_and_clips() {
        let mut c = Canvas::new(2, 1);
        c.blend(0, 0, BLACK, 0.5);
        assert_eq!(&c.data[..3], &[128, 128, 128]);
        c.blend(5, 0, BLACK, 1.0); // outside: nothing
        c.blend(1, 0, [10, 20, 30], 2.0); // opacity capped at 1
        assert_eq!(&c.data[3..], &[10, 20, 30]);
    }
}
