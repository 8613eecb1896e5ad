//! `values.png` of `fadca train-values`: each head's 21×21 values matrix
//! `V^h(a,b)`, gauge-fixed (zero-sum: every row and column of a head sums
//! to zero), as a grid of heat maps with the amino acids in a chemically
//! ordered axis ([`CHEMICAL_ORDER`]), so that a user sees which amino-acid
//! interaction types the layer learned. Each head has its own colour
//! scale, blue below zero and vermillion above, saturated at the head's
//! largest |V|.
use plotters::coord::Shift;
use plotters::prelude::*;

use super::palette::{BLUE, DARK_GREY, VERMILLION};
use super::{Drawn, FONT, Figure};
use crate::Q;

/// The amino acids in the figure's order, grouped: hydrophobic (A I L M V
/// C), aromatic (F W Y), polar (S T N Q H), charged (D E K R), G and P,
/// then the gap.
pub const CHEMICAL_ORDER: &[u8; 21] = b"AILMVCFWYSTNQHDEKRGP-";

/// Pixels per cell of a heat map.
const CELL: u32 = 9;
/// Room left of a panel (state letters) and above it (title, letters).
const LEFT: u32 = 12;
const TOP: u32 = 26;
/// Gap between panels and margin of the figure.
const GAP: u32 = 12;
/// Height of the figure's title band.
const HEADER: u32 = 44;

/// The values of H heads, ready to draw.
pub struct ValuesFigure {
    /// Gauge-fixed values, `[h][a][b]` in [`CHEMICAL_ORDER`].
    heads: Vec<[f32; Q * Q]>,
}

/// Columns and rows of the grid of `heads` panels: as square as possible,
/// at least one.
pub fn grid(heads: usize) -> (u32, u32) {
    let cols = (heads as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (heads as u32).div_ceil(cols).max(1);
    (cols, rows)
}

/// Width and height of one panel's slot (the heat map and its labels).
fn slot() -> (u32, u32) {
    (LEFT + Q as u32 * CELL + GAP, TOP + Q as u32 * CELL + GAP)
}

/// The top-left pixel of panel `k`'s heat map in a figure of `heads` panels.
pub fn panel_origin(heads: usize, k: usize) -> (u32, u32) {
    let (cols, _) = grid(heads);
    let (w, h) = slot();
    let (c, r) = (k as u32 % cols, k as u32 / cols);
    (GAP + c * w + LEFT, HEADER + r * h + TOP)
}

/// Pixel size of the heat map of one head (square).
pub const PANEL_PIXELS: u32 = Q as u32 * CELL;

impl ValuesFigure {
    /// A figure of `values` (H×q×q, `[h][a][b]` in the alignment's
    /// alphabet, [`crate::alignment::ALPHABET`]), gauge-fixed and reordered.
    pub fn new(values: &[f32]) -> ValuesFigure {
        let order: Vec<usize> = CHEMICAL_ORDER
            .iter()
            .map(|c| {
                crate::alignment::ALPHABET
                    .iter()
                    .position(|a| a == c)
                    .expect("a state of the alphabet")
            })
            .collect();
        let heads = values
            .chunks_exact(Q * Q)
            .map(|v| {
                let g = zero_sum_gauge(v);
                let mut out = [0.0f32; Q * Q];
                for (x, &a) in order.iter().enumerate() {
                    for (y, &b) in order.iter().enumerate() {
                        out[x * Q + y] = g[a * Q + b] as f32;
                    }
                }
                out
            })
            .collect();
        ValuesFigure { heads }
    }

    /// Number of panels (heads).
    pub fn panels(&self) -> usize {
        self.heads.len()
    }
}

/// `V(a,b) − mean_b V(a,·) − mean_a V(·,b) + mean V`: the zero-sum gauge of
/// one q×q matrix.
fn zero_sum_gauge(v: &[f32]) -> Vec<f64> {
    let at = |a: usize, b: usize| f64::from(v[a * Q + b]);
    let row: Vec<f64> = (0..Q)
        .map(|a| (0..Q).map(|b| at(a, b)).sum::<f64>() / Q as f64)
        .collect();
    let col: Vec<f64> = (0..Q)
        .map(|b| (0..Q).map(|a| at(a, b)).sum::<f64>() / Q as f64)
        .collect();
    let all = row.iter().sum::<f64>() / Q as f64;
    (0..Q * Q)
        .map(|k| at(k / Q, k % Q) - row[k / Q] - col[k % Q] + all)
        .collect()
}

/// Blue (−1) through white (0) to vermillion (+1).
fn diverging(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let end = if t < 0.0 { BLUE } else { VERMILLION };
    let f = t.abs();
    let mix = |c: u8| (255.0 + (c as f64 - 255.0) * f).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

impl Figure for ValuesFigure {
    fn size(&self) -> (u32, u32) {
        let (cols, rows) = grid(self.heads.len());
        let (w, h) = slot();
        // At least two slots wide: room for the title.
        (2 * GAP + cols.max(2) * w, HEADER + rows * h + GAP)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let title = TextStyle::from((FONT, 16).into_font()).color(&BLACK);
        let small = TextStyle::from((FONT, 9).into_font()).color(&DARK_GREY);
        let label = TextStyle::from((FONT, 11).into_font()).color(&BLACK);
        root.draw_text(
            &format!(
                "Shared values V^h(a,b), {} heads, zero-sum gauge",
                self.heads.len()
            ),
            &title,
            (GAP as i32, 6),
        )
        .drawn("the title")?;
        root.draw_text(
            "blue < 0 < red; each head scaled to its own max |V|",
            &label,
            (GAP as i32, 25),
        )
        .drawn("the subtitle")?;
        for (k, v) in self.heads.iter().enumerate() {
            let (x0, y0) = panel_origin(self.heads.len(), k);
            let (x0, y0) = (x0 as i32, y0 as i32);
            let scale = v
                .iter()
                .fold(0.0f32, |m, x| m.max(x.abs()))
                .max(f32::MIN_POSITIVE);
            root.draw_text(
                &format!("head {} (max |V| {:.2})", k + 1, scale),
                &label,
                (x0, y0 - TOP as i32 + 2),
            )
            .drawn("a panel title")?;
            for (x, &c) in CHEMICAL_ORDER.iter().enumerate() {
                let letter = (c as char).to_string();
                let at = (x as u32 * CELL) as i32;
                root.draw_text(&letter, &small, (x0 + at + 2, y0 - 11))
                    .drawn("a state letter")?;
                root.draw_text(&letter, &small, (x0 - LEFT as i32 + 2, y0 + at))
                    .drawn("a state letter")?;
            }
            for a in 0..Q {
                for b in 0..Q {
                    let colour = diverging(f64::from(v[a * Q + b] / scale));
                    let (x, y) = (x0 + (b as u32 * CELL) as i32, y0 + (a as u32 * CELL) as i32);
                    root.draw(&Rectangle::new(
                        [(x, y), (x + CELL as i32, y + CELL as i32)],
                        colour.filled(),
                    ))
                    .drawn("a cell")?;
                }
            }
            let side = PANEL_PIXELS as i32;
            root.draw(&Rectangle::new(
                [(x0 - 1, y0 - 1), (x0 + side, y0 + side)],
                DARK_GREY.stroke_width(1),
            ))
            .drawn("a panel frame")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid holds every head, as square as it can be.
    #[test]
    fn grid_has_a_slot_per_head() {
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(3), (2, 2));
        assert_eq!(grid(32), (6, 6));
        assert_eq!(grid(37), (7, 6));
        for h in 1..80 {
            let (c, r) = grid(h);
            assert!((c * r) as usize >= h && ((c * (r - 1)) as usize) < h, "{h}");
        }
    }

    /// The zero-sum gauge: rows and columns sum to 0, and a matrix that is
    /// a row term plus a column term gauges to 0.
    #[test]
    fn zero_sum_gauge_sums_to_zero() {
        let v: Vec<f32> = (0..Q * Q).map(|k| ((k * 37) % 11) as f32 - 4.0).collect();
        let g = zero_sum_gauge(&v);
        for a in 0..Q {
            let row: f64 = (0..Q).map(|b| g[a * Q + b]).sum();
            let col: f64 = (0..Q).map(|b| g[b * Q + a]).sum();
            assert!(row.abs() < 1e-9 && col.abs() < 1e-9);
        }
        let additive: Vec<f32> = (0..Q * Q)
            .map(|k| (k / Q) as f32 + 2.0 * (k % Q) as f32)
            .collect();
        assert!(zero_sum_gauge(&additive).iter().all(|x| x.abs() < 1e-9));
    }
}
