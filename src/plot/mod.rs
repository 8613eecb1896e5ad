//! `contact_map.png`: the native contact map in grey with the top-L predicted
//! pairs (separation ≥ 6) as dots in the upper triangle — true positives blue,
//! false positives red, pairs without a known distance orange — residue numbers
//! on both axes, a legend, and P@L in the title.
//!
//! Drawn on a plain RGB canvas and encoded with the `png` crate; text is
//! rasterised with `ab_glyph` from DejaVu Sans, which is compiled into the
//! binary (`assets/fonts/`, Bitstream Vera license), so no system font is needed.
//! The image is always [`WIDTH`] × [`HEIGHT`] pixels; residue 1 is at the top
//! left, `i` runs down and `j` across.
use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

use crate::contacts::Prediction;
use crate::contacts::{SeparationClass, top_k};
use crate::io::write_atomic;
use crate::structure::NativeContacts;

/// Image width in pixels.
pub const WIDTH: u32 = 900;
/// Image height in pixels.
pub const HEIGHT: u32 = 900;

pub(crate) const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Plot area: left, top, side length (square).
const PLOT_X: f32 = 90.0;
const PLOT_Y: f32 = 80.0;
const PLOT_SIZE: f32 = 700.0;

pub(crate) type Rgb = [u8; 3];
pub(crate) const BLACK: Rgb = [0, 0, 0];
const NATIVE: Rgb = [170, 170, 170];
const UNMAPPED: Rgb = [246, 241, 226];
const TRUE_POS: Rgb = [31, 90, 200];
const FALSE_POS: Rgb = [220, 40, 40];
const UNKNOWN: Rgb = [240, 150, 20];

/// A simple RGB raster with alpha blending.
pub(crate) struct Canvas {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            data: vec![255; (width * height * 3) as usize],
        }
    }

    pub(crate) fn blend(&mut self, x: i64, y: i64, color: Rgb, alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 || alpha <= 0.0 {
            return;
        }
        let a = alpha.min(1.0);
        let k = ((y as u32 * self.width + x as u32) * 3) as usize;
        for c in 0..3 {
            let old = self.data[k + c] as f32;
            self.data[k + c] = (old + (color[c] as f32 - old) * a).round() as u8;
        }
    }

    /// Fills [x0, x1) × [y0, y1), at least one pixel wide and high.
    pub(crate) fn fill_rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, color: Rgb) {
        let (xa, ya) = (x0.floor() as i64, y0.floor() as i64);
        let xb = (x1.ceil() as i64).max(xa + 1);
        let yb = (y1.ceil() as i64).max(ya + 1);
        for y in ya..yb {
            for x in xa..xb {
                self.blend(x, y, color, 1.0);
            }
        }
    }

    pub(crate) fn disc(&mut self, cx: f32, cy: f32, r: f32, color: Rgb) {
        let (xa, xb) = ((cx - r - 1.0).floor() as i64, (cx + r + 1.0).ceil() as i64);
        let (ya, yb) = ((cy - r - 1.0).floor() as i64, (cy + r + 1.0).ceil() as i64);
        for y in ya..=yb {
            for x in xa..=xb {
                let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                self.blend(x, y, color, (r + 0.5 - d).clamp(0.0, 1.0));
            }
        }
    }

    pub(crate) fn hline(&mut self, x0: f32, x1: f32, y: f32, color: Rgb) {
        self.fill_rect(x0, y, x1, y + 1.0, color);
    }

    pub(crate) fn vline(&mut self, x: f32, y0: f32, y1: f32, color: Rgb) {
        self.fill_rect(x, y0, x + 1.0, y1, color);
    }
}

/// Text drawing with the embedded font.
pub(crate) struct Text<'f> {
    pub(crate) font: FontRef<'f>,
}

impl Text<'_> {
    pub(crate) fn width(&self, s: &str, size: f32) -> f32 {
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
    pub(crate) fn draw(
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

/// A tick step giving about 5–10 ticks over `length` residues.
fn tick_step(length: usize) -> usize {
    for step in [
        1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000,
    ] {
        if length / step <= 10 {
            return step;
        }
    }
    10_000
}

/// Renders the contact map to raw RGB pixels (`WIDTH × HEIGHT × 3`).
pub fn render_contact_map(
    prediction: &Prediction,
    native: &NativeContacts,
    precision_at_l: Option<f64>,
) -> anyhow::Result<Vec<u8>> {
    let font = FontRef::try_from_slice(FONT_BYTES)
        .map_err(|e| anyhow::anyhow!("embedded font cannot be read: {e}"))?;
    let text = Text { font };
    let mut c = Canvas::new(WIDTH, HEIGHT);
    let l = native.length.max(1);
    let cell = PLOT_SIZE / l as f32;
    let at = |k: usize| (k as f32 - 1.0) * cell; // offset of residue k (1-based)

    // Residues without a known position: light bands.
    for k in 1..=native.length {
        if !native.known[k - 1] {
            c.fill_rect(
                PLOT_X + at(k),
                PLOT_Y,
                PLOT_X + at(k) + cell,
                PLOT_Y + PLOT_SIZE,
                UNMAPPED,
            );
            c.fill_rect(
                PLOT_X,
                PLOT_Y + at(k),
                PLOT_X + PLOT_SIZE,
                PLOT_Y + at(k) + cell,
                UNMAPPED,
            );
        }
    }
    // Native contacts (|i-j| >= 1), both triangles.
    for i in 1..=native.length {
        for j in i + 1..=native.length {
            if native.is_contact(i, j) == Some(true) {
                for (r, s) in [(i, j), (j, i)] {
                    c.fill_rect(
                        PLOT_X + at(s),
                        PLOT_Y + at(r),
                        PLOT_X + at(s) + cell,
                        PLOT_Y + at(r) + cell,
                        NATIVE,
                    );
                }
            }
        }
    }
    // Diagonal guide.
    for k in 0..PLOT_SIZE as i64 {
        c.blend(PLOT_X as i64 + k, PLOT_Y as i64 + k, [200, 200, 200], 1.0);
    }
    // Top-L predictions with separation >= 6, upper triangle (row i, column j).
    let (min_sep, _) = SeparationClass::All.range();
    let top = prediction.top(top_k(native.length, 1), min_sep, None);
    let radius = (cell * 0.42).clamp(1.6, 5.0);
    let (mut tp, mut fp, mut unknown) = (0, 0, 0);
    for p in &top {
        if p.j > native.length {
            continue;
        }
        let color = match native.is_contact(p.i, p.j) {
            Some(true) => {
                tp += 1;
                TRUE_POS
            }
            Some(false) => {
                fp += 1;
                FALSE_POS
            }
            None => {
                unknown += 1;
                UNKNOWN
            }
        };
        c.disc(
            PLOT_X + at(p.j) + cell / 2.0,
            PLOT_Y + at(p.i) + cell / 2.0,
            radius,
            color,
        );
    }

    // Frame, ticks and labels.
    let (x1, y1) = (PLOT_X + PLOT_SIZE, PLOT_Y + PLOT_SIZE);
    c.hline(PLOT_X - 1.0, x1 + 1.0, PLOT_Y - 1.0, BLACK);
    c.hline(PLOT_X - 1.0, x1 + 1.0, y1, BLACK);
    c.vline(PLOT_X - 1.0, PLOT_Y - 1.0, y1 + 1.0, BLACK);
    c.vline(x1, PLOT_Y - 1.0, y1 + 1.0, BLACK);
    let step = tick_step(native.length);
    let mut ticks = vec![1];
    ticks.extend((step..=native.length).step_by(step));
    for k in ticks {
        let pos = at(k) + cell / 2.0;
        c.vline(PLOT_X + pos, y1, y1 + 6.0, BLACK);
        text.draw(
            &mut c,
            &k.to_string(),
            PLOT_X + pos,
            y1 + 22.0,
            14.0,
            0.5,
            BLACK,
        );
        c.hline(PLOT_X - 7.0, PLOT_X - 1.0, PLOT_Y + pos, BLACK);
        text.draw(
            &mut c,
            &k.to_string(),
            PLOT_X - 10.0,
            PLOT_Y + pos + 5.0,
            14.0,
            1.0,
            BLACK,
        );
    }
    text.draw(
        &mut c,
        "residue j",
        PLOT_X + PLOT_SIZE / 2.0,
        y1 + 44.0,
        15.0,
        0.5,
        BLACK,
    );
    text.draw(
        &mut c,
        "residue i",
        PLOT_X - 10.0,
        PLOT_Y - 8.0,
        15.0,
        1.0,
        BLACK,
    );

    // Title.
    let p_at_l = precision_at_l.map_or_else(|| "n/a".to_string(), |p| format!("{p:.3}"));
    let title = format!(
        "Top-L predicted contacts (L = {}, |i−j| ≥ 6): P@L = {p_at_l}",
        native.length
    );
    text.draw(&mut c, &title, WIDTH as f32 / 2.0, 32.0, 20.0, 0.5, BLACK);
    let subtitle = format!("{tp} true, {fp} false, {unknown} without a known distance");
    text.draw(
        &mut c,
        &subtitle,
        WIDTH as f32 / 2.0,
        56.0,
        14.0,
        0.5,
        [60, 60, 60],
    );

    // Legend.
    let native_label = if native.distances.is_some() {
        "native contact"
    } else {
        "listed contact"
    };
    let entries: [(&str, Rgb, bool); 5] = [
        (native_label, NATIVE, false),
        ("true positive", TRUE_POS, true),
        ("false positive", FALSE_POS, true),
        ("no known distance", UNKNOWN, true),
        ("residue not in structure", UNMAPPED, false),
    ];
    let size = 13.0;
    let total: f32 = entries
        .iter()
        .map(|(s, _, _)| 22.0 + text.width(s, size) + 18.0)
        .sum();
    let mut x = (WIDTH as f32 - total) / 2.0;
    let y = HEIGHT as f32 - 30.0;
    for (label, color, dot) in entries {
        if dot {
            c.disc(x + 7.0, y - 5.0, 5.0, color);
        } else {
            c.fill_rect(x, y - 12.0, x + 14.0, y + 2.0, color);
            if color == UNMAPPED {
                c.hline(x, x + 14.0, y - 12.0, NATIVE);
                c.hline(x, x + 14.0, y + 1.0, NATIVE);
            }
        }
        text.draw(&mut c, label, x + 20.0, y, size, 0.0, BLACK);
        x += 22.0 + text.width(label, size) + 18.0;
    }
    Ok(c.data)
}

/// Writes `contact_map.png` (see the module documentation) atomically.
pub fn write_contact_map(
    path: &Path,
    prediction: &Prediction,
    native: &NativeContacts,
    precision_at_l: Option<f64>,
) -> anyhow::Result<()> {
    let pixels = render_contact_map(prediction, native, precision_at_l)?;
    write_rgb_png(path, WIDTH, HEIGHT, &pixels)
}

/// Writes an 8-bit RGB raster (`width`×`height`, row-major) as a PNG file,
/// atomically; every plot of fadca goes through here.
pub(crate) fn write_rgb_png(
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
    fn ticks_are_round() {
        assert_eq!(tick_step(8), 1);
        assert_eq!(tick_step(60), 10);
        assert_eq!(tick_step(159), 20);
        assert_eq!(tick_step(500), 50);
    }

    #[test]
    fn text_has_width() {
        let text = Text {
            font: FontRef::try_from_slice(FONT_BYTES).unwrap(),
        };
        let w = text.width("residue", 14.0);
        assert!(w > 30.0 && w < 80.0, "{w}");
    }
}
