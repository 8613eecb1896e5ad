//! `contact_map.png`: the native contact map in grey with the top-L predicted
//! pairs (separation ≥ 6) as dots in the upper triangle — true positives blue,
//! false positives red, pairs without a known distance orange — residue numbers
//! on both axes, a legend, and P@L in the title.
//!
//! The image is always [`WIDTH`] × [`HEIGHT`] pixels; residue 1 is at the top
//! left, `i` runs down and `j` across.
use std::path::Path;

use super::canvas::{BLACK, Canvas, Rgb, Text, write_rgb_png};
use crate::contacts::Prediction;
use crate::contacts::{SeparationClass, top_k};
use crate::structure::NativeContacts;

/// Image width in pixels.
pub const WIDTH: u32 = 900;
/// Image height in pixels.
pub const HEIGHT: u32 = 900;

/// Plot area: left, top, side length (square).
const PLOT_X: f32 = 90.0;
const PLOT_Y: f32 = 80.0;
const PLOT_SIZE: f32 = 700.0;

const NATIVE: Rgb = [170, 170, 170];
const UNMAPPED: Rgb = [246, 241, 226];
const TRUE_POS: Rgb = [31, 90, 200];
const FALSE_POS: Rgb = [220, 40, 40];
const UNKNOWN: Rgb = [240, 150, 20];

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
    let text = Text::embedded()?;
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
}
