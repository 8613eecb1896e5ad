//! `contact_map.png`: the family's contact map, residue `i` down and `j`
//! across (residue 1 at the top left).
//!
//! * Above the diagonal: the native contacts (grey squares) and the top-L
//!   predicted pairs with |i − j| ≥ 6 (the pairs P@L counts) as dots — true
//!   positives blue, false positives vermillion, pairs without a known
//!   distance reddish purple.
//! * Below the diagonal: the prediction's score of the best 3L pairs with
//!   |i − j| ≥ 6 as a light-to-dark ramp (darker = higher), with the native
//!   contacts outlined over it, so that near misses of the top-L show.
//! * Residues without a known position (not in the structure) are pale
//!   blue bands.
//!
//! The title names the family and P@L; the legend lists only what the map
//! shows. The image is always [`WIDTH`] × [`HEIGHT`] pixels, the plot a
//! square of [`PLOT_SIZE`] pixels at ([`PLOT_X`], [`PLOT_Y`]).
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::palette::{self, BLUE, NATIVE, PURPLE, UNMAPPED, VERMILLION};
use super::{Drawn, Figure, LegendEntry, draw_centred, draw_legend, font, write_figure};
use crate::contacts::{Prediction, ScoredPair, SeparationClass, top_k};
use crate::structure::NativeContacts;

/// Image width in pixels.
pub const WIDTH: u32 = 900;
/// Image height in pixels.
pub const HEIGHT: u32 = 900;
/// Left edge of the plot in pixels.
pub const PLOT_X: u32 = 100;
/// Top edge of the plot in pixels.
pub const PLOT_Y: u32 = 80;
/// Side of the (square) plot in pixels.
pub const PLOT_SIZE: u32 = 700;
/// Width of the tick-label area left of the plot, and height below it.
const LABELS: u32 = 60;
/// How many of the best pairs the lower triangle shades, in units of L.
pub const SHADED_PER_L: usize = 3;

/// The pixel at the centre of the cell in row `i`, column `j` (1-based) of
/// a map of `length` residues.
pub fn cell_centre(length: usize, i: usize, j: usize) -> (u32, u32) {
    let cell = PLOT_SIZE as f64 / length.max(1) as f64;
    let at = |k: usize| (k as f64 - 0.5) * cell;
    (PLOT_X + at(j) as u32, PLOT_Y + at(i) as u32)
}

/// What the contact map shows.
#[derive(Debug, Clone, Copy)]
pub struct ContactMapFigure<'a> {
    /// Family name (title).
    pub name: &'a str,
    /// The scores.
    pub prediction: &'a Prediction,
    /// The known contacts; its length is the map's L.
    pub native: &'a NativeContacts,
    /// P@L (title).
    pub precision_at_l: Option<f64>,
}

/// How each top-L prediction fared.
#[derive(Debug, Default)]
struct Outcome {
    /// (pair, is contact): `None` = no known distance.
    dots: Vec<(ScoredPair, Option<bool>)>,
    true_positives: usize,
    false_positives: usize,
    unknown: usize,
}

impl ContactMapFigure<'_> {
    /// The top-L pairs with |i − j| ≥ 6 and whether each is a contact.
    fn outcome(&self) -> Outcome {
        let length = self.native.length;
        let (min_sep, _) = SeparationClass::All.range();
        let mut out = Outcome::default();
        for p in self.prediction.top(top_k(length, 1), min_sep, None) {
            if p.j > length {
                continue;
            }
            let known = self.native.is_contact(p.i, p.j);
            match known {
                Some(true) => out.true_positives += 1,
                Some(false) => out.false_positives += 1,
                None => out.unknown += 1,
            }
            out.dots.push((p, known));
        }
        out
    }

    /// The shaded pairs of the lower triangle with their ramp position
    /// (0 = the lowest shaded score, 1 = the best).
    fn shaded(&self) -> Vec<(ScoredPair, f64)> {
        let length = self.native.length;
        let (min_sep, _) = SeparationClass::All.range();
        let best: Vec<ScoredPair> = self
            .prediction
            .top(SHADED_PER_L * length.max(1), min_sep, None)
            .into_iter()
            .filter(|p| p.j <= length)
            .collect();
        let (Some(hi), Some(lo)) = (best.first(), best.last()) else {
            return Vec::new();
        };
        let span = hi.score - lo.score;
        best.iter()
            .map(|p| {
                let t = if span > 0.0 {
                    (p.score - lo.score) / span
                } else {
                    1.0
                };
                (*p, 0.15 + 0.85 * t)
            })
            .collect()
    }

    /// The legend: only what the map shows.
    fn legend(&self, outcome: &Outcome, shaded: bool) -> Vec<LegendEntry> {
        let native = self.native;
        let any_contact = (1..=native.length)
            .any(|i| (i + 1..=native.length).any(|j| native.is_contact(i, j) == Some(true)));
        let any_unmapped = native.known.iter().any(|k| !k);
        let native_label = if native.distances.is_some() {
            "native contact"
        } else {
            "listed contact"
        };
        let entries = [
            (any_contact, native_label, NATIVE, false),
            (outcome.true_positives > 0, "true positive", BLUE, true),
            (
                outcome.false_positives > 0,
                "false positive",
                VERMILLION,
                true,
            ),
            (outcome.unknown > 0, "no known distance", PURPLE, true),
            (
                shaded,
                "score below the diagonal (darker = higher)",
                palette::RAMP[3],
                false,
            ),
            (any_unmapped, "residue not in structure", UNMAPPED, false),
        ];
        entries
            .into_iter()
            .filter(|(present, ..)| *present)
            .map(|(_, label, color, dot)| LegendEntry {
                label: label.into(),
                color,
                dot,
            })
            .collect()
    }
}

impl Figure for ContactMapFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let native = self.native;
        let length = native.length.max(1);
        let n = length as f64;
        let outcome = self.outcome();
        let shaded = self.shaded();

        let p_at_l = self
            .precision_at_l
            .map_or_else(|| "n/a".to_string(), |p| format!("{p:.3}"));
        let title = format!(
            "{}: top-L contacts (L = {}, |i−j| ≥ 6), P@L = {p_at_l}",
            self.name, native.length
        );
        draw_centred(root, &title, 14, 22.0, BLACK)?;
        let subtitle = format!(
            "above the diagonal: {} true, {} false, {} without a known distance; below: the best {}L scores",
            outcome.true_positives, outcome.false_positives, outcome.unknown, SHADED_PER_L
        );
        draw_centred(root, &subtitle, 46, 14.0, palette::DARK_GREY)?;

        let mut chart = ChartBuilder::on(root)
            .margin_top(PLOT_Y)
            .margin_left(PLOT_X - LABELS)
            .margin_right(WIDTH - PLOT_X - PLOT_SIZE)
            .margin_bottom(HEIGHT - PLOT_Y - PLOT_SIZE - LABELS)
            .x_label_area_size(LABELS)
            .y_label_area_size(LABELS)
            .build_cartesian_2d(0.5..n + 0.5, n + 0.5..0.5)
            .drawn("the contact map")?;
        let integer = |v: &f64| {
            if v.fract() == 0.0 && *v >= 1.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("residue j")
            .y_desc("residue i")
            .x_label_formatter(&integer)
            .y_label_formatter(&integer)
            .label_style(font(14.0))
            .axis_desc_style(font(15.0))
            .draw()
            .drawn("the axes")?;

        let (plot_w, _) = chart.plotting_area().dim_in_pixel();
        let cell_px = plot_w as f64 / n;
        let cell = |row: usize, col: usize| {
            [
                (col as f64 - 0.5, row as f64 - 0.5),
                (col as f64 + 0.5, row as f64 + 0.5),
            ]
        };
        let area = chart.plotting_area();
        // Residues without a known position: pale bands across the map.
        for k in (1..=native.length).filter(|&k| !native.known[k - 1]) {
            area.draw(&Rectangle::new(
                [(k as f64 - 0.5, 0.5), (k as f64 + 0.5, n + 0.5)],
                UNMAPPED.filled(),
            ))
            .drawn("the unmapped residues")?;
            area.draw(&Rectangle::new(
                [(0.5, k as f64 - 0.5), (n + 0.5, k as f64 + 0.5)],
                UNMAPPED.filled(),
            ))
            .drawn("the unmapped residues")?;
        }
        // Native contacts above the diagonal (and below it on small cells,
        // where an outline would not show).
        let contacts: Vec<(usize, usize)> = (1..=native.length)
            .flat_map(|i| (i + 1..=native.length).map(move |j| (i, j)))
            .filter(|&(i, j)| native.is_contact(i, j) == Some(true))
            .collect();
        let outline = cell_px >= 4.0;
        for &(i, j) in &contacts {
            area.draw(&Rectangle::new(cell(i, j), NATIVE.filled()))
                .drawn("the native contacts")?;
            if !outline {
                area.draw(&Rectangle::new(cell(j, i), NATIVE.filled()))
                    .drawn("the native contacts")?;
            }
        }
        // Scores below the diagonal (row j, column i).
        for (p, t) in &shaded {
            area.draw(&Rectangle::new(cell(p.j, p.i), palette::ramp(*t).filled()))
                .drawn("the scores")?;
        }
        if outline {
            for &(i, j) in &contacts {
                area.draw(&Rectangle::new(cell(j, i), NATIVE.stroke_width(1)))
                    .drawn("the native contacts")?;
            }
        }
        // The diagonal.
        area.draw(&PathElement::new(
            vec![(0.5, 0.5), (n + 0.5, n + 0.5)],
            palette::GRID.stroke_width(1),
        ))
        .drawn("the diagonal")?;
        // The top-L predictions above the diagonal.
        let radius = (cell_px * 0.42).clamp(1.6, 5.0).round() as i32;
        for (p, known) in &outcome.dots {
            let color = match known {
                Some(true) => BLUE,
                Some(false) => VERMILLION,
                None => PURPLE,
            };
            area.draw(&Circle::new(
                (p.j as f64, p.i as f64),
                radius.max(2),
                color.filled(),
            ))
            .drawn("the predictions")?;
        }
        draw_legend(
            root,
            &self.legend(&outcome, !shaded.is_empty()),
            HEIGHT as i32 - 22,
        )
    }
}

/// Writes `contact_map.png` (see the module documentation) and, when
/// `svg`, `contact_map.svg` beside it; returns the paths written.
pub fn write_contact_map(
    path: &Path,
    figure: &ContactMapFigure,
    svg: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    write_figure(path, figure, svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn legend_lists_only_what_is_drawn() {
        let l = 20;
        let mut contact = Array2::from_elem((l, l), false);
        contact[[0, 9]] = true;
        contact[[9, 0]] = true;
        let native = NativeContacts {
            length: l,
            known: vec![true; l],
            distances: None,
            contact,
        };
        // One pair only: (1, 10), a contact.
        let prediction = Prediction {
            length: l,
            pairs: vec![ScoredPair {
                i: 1,
                j: 10,
                score: 1.0,
            }],
        };
        let figure = ContactMapFigure {
            name: "x",
            prediction: &prediction,
            native: &native,
            precision_at_l: Some(1.0),
        };
        let outcome = figure.outcome();
        assert_eq!(
            (
                outcome.true_positives,
                outcome.false_positives,
                outcome.unknown
            ),
            (1, 0, 0)
        );
        let labels: Vec<String> = figure
            .legend(&outcome, true)
            .into_iter()
            .map(|e| e.label)
            .collect();
        assert_eq!(
            labels,
            vec![
                "listed contact",
                "true positive",
                "score below the diagonal (darker = higher)"
            ]
        );
    }

    #[test]
    fn cell_centres() {
        assert_eq!(cell_centre(70, 1, 1), (105, 85));
        assert_eq!(cell_centre(70, 70, 2), (115, 775));
    }
}
