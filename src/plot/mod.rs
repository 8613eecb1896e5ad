//! Every figure fadca draws, each in its own module, all drawn with the
//! `plotters` crate:
//!
//! * [`contact_map`] — `contact_map.png` of `fadca predict`/`fadca score`:
//!   the native map with the top-L predictions above the diagonal and the
//!   score of every pair below it ([`WIDTH`] × [`HEIGHT`]);
//! * [`batch_summary`] — `summary.png` of `fadca batch`: P@L against
//!   M_eff/L over the scored families, one colour per model;
//! * [`sample_complexity`] — `sample_complexity.png` of `fadca experiment
//!   sample-complexity`: NLL gap and planted-contact precision against α;
//! * [`values`] — `values.png` of `fadca train-values`: each head's shared
//!   21×21 values, gauge-fixed, amino acids in a chemical order.
//!
//! Each figure is a [`Figure`]: it draws itself on any plotters backend, so
//! that the same code makes the PNG (plotters' bitmap backend into a buffer,
//! encoded with the `png` crate) and, on request, an SVG beside it
//! ([`write_figure`]). Text is rendered with DejaVu Sans, compiled into the
//! binary (`assets/fonts/`, Bitstream Vera license) and registered with
//! plotters, so no system font library is needed; the SVG names the
//! `sans-serif` family. Colours come from the Okabe–Ito palette and a
//! ColorBrewer sequential ramp, both readable with colour-blindness
//! ([`palette`]).
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::io::write_atomic;

pub mod batch_summary;
pub mod contact_map;
pub mod sample_complexity;
pub mod values;

pub use batch_summary::{BatchSummaryFigure, FamilyPoint};
pub use contact_map::{ContactMapFigure, HEIGHT, WIDTH, write_contact_map};
pub use sample_complexity::{SampleComplexityFigure, SizePoint};
pub use values::ValuesFigure;

/// DejaVu Sans (`assets/fonts/`, Bitstream Vera license), compiled into the
/// binary so that no system font is needed.
const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The font family every figure uses (registered with plotters as the
/// embedded DejaVu Sans).
pub const FONT: &str = "sans-serif";

/// Colours readable with the common forms of colour-blindness: the
/// Okabe–Ito palette for categories, ColorBrewer's YlOrBr ramp for scores.
pub mod palette {
    use plotters::style::RGBColor;

    /// Okabe–Ito blue: true positives, the first series.
    pub const BLUE: RGBColor = RGBColor(0, 114, 178);
    /// Okabe–Ito vermillion: false positives, the second series.
    pub const VERMILLION: RGBColor = RGBColor(213, 94, 0);
    /// Okabe–Ito reddish purple: predictions without a known distance.
    pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
    /// Okabe–Ito bluish green: a third series.
    pub const GREEN: RGBColor = RGBColor(0, 158, 115);
    /// Native contacts.
    pub const NATIVE: RGBColor = RGBColor(175, 175, 175);
    /// Residues without a known position (a light sky blue).
    pub const UNMAPPED: RGBColor = RGBColor(222, 238, 248);
    /// Grid lines and reference lines.
    pub const GRID: RGBColor = RGBColor(225, 225, 225);
    /// Secondary text.
    pub const DARK_GREY: RGBColor = RGBColor(70, 70, 70);
    /// ColorBrewer YlOrBr, light to dark: the score ramp.
    pub const RAMP: [RGBColor; 5] = [
        RGBColor(255, 247, 188),
        RGBColor(254, 196, 79),
        RGBColor(236, 112, 20),
        RGBColor(204, 76, 2),
        RGBColor(102, 37, 6),
    ];

    /// The ramp at `t` in [0, 1] (clamped), linearly interpolated.
    pub fn ramp(t: f64) -> RGBColor {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let x = t * (RAMP.len() - 1) as f64;
        let k = (x.floor() as usize).min(RAMP.len() - 2);
        let f = x - k as f64;
        let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
        let (a, b) = (RAMP[k], RAMP[k + 1]);
        RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

/// Registers the embedded font with plotters (once per process).
fn register_font() -> anyhow::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .map_err(|_| anyhow::anyhow!("the embedded font cannot be read"));
    });
    result
}

/// Turns a plotters error into an `anyhow` one ("drawing …: why").
pub(crate) trait Drawn<T> {
    /// The value, or the error described with `what` was being drawn.
    fn drawn(self, what: &str) -> anyhow::Result<T>;
}

impl<T, E: std::fmt::Display> Drawn<T> for Result<T, E> {
    fn drawn(self, what: &str) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!("drawing {what}: {e}"))
    }
}

/// A figure that draws itself on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the figure on `root` (white, of [`Figure::size`]).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>;
}

/// Renders `figure` to raw 8-bit RGB pixels, row-major.
pub fn render_rgb(figure: &impl Figure) -> anyhow::Result<Vec<u8>> {
    register_font()?;
    let (w, h) = figure.size();
    let mut pixels = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE).drawn("the background")?;
        figure.draw(&root)?;
        root.present().drawn("the figure")?;
    }
    Ok(pixels)
}

/// Renders `figure` as an SVG document.
pub fn render_svg(figure: &impl Figure) -> anyhow::Result<String> {
    register_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        root.fill(&WHITE).drawn("the background")?;
        figure.draw(&root)?;
        root.present().drawn("the figure")?;
    }
    Ok(svg)
}

/// The SVG written beside a PNG: the same path with extension `.svg`.
pub fn svg_path(png: &Path) -> PathBuf {
    png.with_extension("svg")
}

/// Writes `figure` as a PNG file at `path` and, when `svg`, as an SVG file
/// beside it ([`svg_path`]), each atomically; returns the paths written.
pub fn write_figure(path: &Path, figure: &impl Figure, svg: bool) -> anyhow::Result<Vec<PathBuf>> {
    let pixels = render_rgb(figure)?;
    let (width, height) = figure.size();
    write_atomic(path, |w| {
        let mut encoder = png::Encoder::new(w, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
        Ok(())
    })?;
    let mut written = vec![path.to_path_buf()];
    if svg {
        let document = render_svg(figure)?;
        let svg_file = svg_path(path);
        write_atomic(&svg_file, |w| {
            w.write_all(document.as_bytes())?;
            Ok(())
        })?;
        written.push(svg_file);
    }
    Ok(written)
}

/// The label of a tick on a log axis: `v` when it is 1, 2 or 5 times a
/// power of ten (written without useless digits), else nothing — so that
/// plotters' ticks at every 1..9 × 10^k stay as unlabelled minor ticks.
pub fn log_tick_label(v: &f64) -> String {
    if !(v.is_finite() && *v > 0.0) {
        return String::new();
    }
    let exponent = v.log10().floor();
    let mantissa = v / 10f64.powf(exponent);
    let rounded = mantissa.round();
    let nice = (mantissa - rounded).abs() < 1e-6 && [1.0, 2.0, 5.0, 10.0].contains(&rounded);
    if !nice {
        return String::new();
    }
    let decimals = (-exponent).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// A text style of the figures' font at `size` pixels.
pub(crate) fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// One legend entry: a marker and its label.
pub(crate) struct LegendEntry {
    /// What the entry names.
    pub label: String,
    /// Its colour.
    pub color: RGBColor,
    /// A dot (predictions, points) rather than a square (map cells).
    pub dot: bool,
}

/// Draws `entries` in one centred row with the text baseline near `y`.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    y: i32,
) -> anyhow::Result<()> {
    let style = font(14.0);
    let widths: Vec<i32> = entries
        .iter()
        .map(|e| {
            root.estimate_text_size(&e.label, &style)
                .map(|(w, _)| w as i32)
                .drawn("the legend")
        })
        .collect::<anyhow::Result<_>>()?;
    let gap = 22;
    let total: i32 = widths.iter().map(|w| 20 + w + gap).sum::<i32>() - gap;
    let (width, _) = root.dim_in_pixel();
    let mut x = (width as i32 - total) / 2;
    for (entry, w) in entries.iter().zip(widths) {
        if entry.dot {
            root.draw(&Circle::new((x + 7, y), 5, entry.color.filled()))
                .drawn("the legend")?;
        } else {
            root.draw(&Rectangle::new(
                [(x, y - 7), (x + 14, y + 7)],
                entry.color.filled(),
            ))
            .drawn("the legend")?;
            root.draw(&Rectangle::new(
                [(x, y - 7), (x + 14, y + 7)],
                palette::NATIVE.stroke_width(1),
            ))
            .drawn("the legend")?;
        }
        let text = style.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Center,
        ));
        root.draw_text(&entry.label, &text, (x + 20, y))
            .drawn("the legend")?;
        x += 20 + w + gap;
    }
    Ok(())
}

/// Draws `text` centred horizontally at height `y` (its top) in `size` pixels.
pub(crate) fn draw_centred<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    y: i32,
    size: f64,
    color: RGBColor,
) -> anyhow::Result<()> {
    let (width, _) = root.dim_in_pixel();
    let style = font(size)
        .color(&color)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
    root.draw_text(text, &style, (width as i32 / 2, y))
        .drawn("a title")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_ends_and_middle() {
        assert_eq!(palette::ramp(0.0), palette::RAMP[0]);
        assert_eq!(palette::ramp(1.0), palette::RAMP[4]);
        assert_eq!(palette::ramp(0.5), palette::RAMP[2]);
        assert_eq!(palette::ramp(-3.0), palette::RAMP[0]);
        assert_eq!(palette::ramp(f64::NAN), palette::RAMP[0]);
        // Halfway between the first two colours.
        assert_eq!(palette::ramp(0.125), RGBColor(255, 222, 134));
    }

    #[test]
    fn log_ticks_label_one_two_five() {
        let labels: Vec<String> = [0.1, 0.2, 0.3, 1.0, 2.0000000001, 5.0, 7.0, 20.0, 100.0]
            .iter()
            .map(log_tick_label)
            .collect();
        assert_eq!(labels, ["0.1", "0.2", "", "1", "2", "5", "", "20", "100"]);
        assert_eq!(log_tick_label(&0.0), "");
    }

    #[test]
    fn svg_goes_beside_the_png() {
        assert_eq!(svg_path(Path::new("a/b.png")), PathBuf::from("a/b.svg"));
    }
}
