//! `sample_complexity.png` of `fadca experiment sample-complexity`: two
//! panels against α = M / L on a log axis — left the held-out conditional
//! log-likelihood gap of the student to the teacher (nats per site, with
//! the teacher's level 0 as a reference line), right the top-L precision of
//! the planted contacts (with the perfect 1). The experiment builds the
//! [`SampleComplexityFigure`] from its report.
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::palette::{self, BLUE, VERMILLION};
use super::{Drawn, Figure, draw_centred, font, log_tick_label, write_figure};

/// Image width in pixels.
pub const WIDTH: u32 = 1200;
/// Image height in pixels.
pub const HEIGHT: u32 = 560;

/// One training-set size: a point on each panel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizePoint {
    /// α = M / L (x, log scale).
    pub alpha: f64,
    /// Held-out NLL gap, student − teacher, nats per site (left panel).
    pub gap: f64,
    /// Top-L precision of the planted contacts (right panel).
    pub precision_top_l: f64,
}

/// What `sample_complexity.png` shows: the curves and the numbers of the
/// title and subtitle.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleComplexityFigure {
    /// One point per training-set size, in the order drawn.
    pub points: Vec<SizePoint>,
    /// Teacher length L.
    pub teacher_length: usize,
    /// Teacher heads H.
    pub teacher_heads: usize,
    /// Teacher coupling strength β.
    pub beta: f64,
    /// Seed of the experiment.
    pub seed: u64,
    /// Student heads H.
    pub student_heads: usize,
    /// Held-out sequences.
    pub held_out: usize,
    /// Teacher NLL on the held-out set, nats per site.
    pub teacher_nll: f64,
    /// Planted contacts with |i − j| ≥ 6.
    pub planted_contacts: usize,
    /// Number of top pairs the precision is taken over.
    pub precision_k: usize,
}

/// One panel: a curve against α.
struct Panel<'a> {
    title: &'a str,
    y_label: &'a str,
    points: Vec<(f64, f64)>,
    y_range: (f64, f64),
    reference: f64,
    color: RGBColor,
}

impl SampleComplexityFigure {
    /// The α range: whole decades around the points, with at least a
    /// factor 1.5 of room on each side (so that the axis labels its ends).
    fn alpha_range(&self) -> (f64, f64) {
        let alphas = self.points.iter().map(|p| p.alpha).filter(|a| *a > 0.0);
        let (lo, hi) = alphas.fold((f64::INFINITY, 0f64), |(lo, hi), a| (lo.min(a), hi.max(a)));
        if lo.is_finite() && hi > 0.0 {
            let lo = (lo / 1.5).log10().floor();
            let hi = (hi * 1.5).log10().ceil().max(lo + 1.0);
            (10f64.powf(lo), 10f64.powf(hi))
        } else {
            (1.0, 100.0)
        }
    }

    /// The gap panel's y range: from min(0, smallest gap) to the largest,
    /// with a margin.
    fn gap_range(&self) -> (f64, f64) {
        let gaps = self.points.iter().map(|p| p.gap).filter(|g| g.is_finite());
        let (lo, hi) = gaps.fold((0f64, 0f64), |(lo, hi), g| (lo.min(g), hi.max(g)));
        let pad = ((hi - lo) * 0.08).max(1e-3);
        (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad)
    }
}

/// Draws one panel on `area`.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    alpha: (f64, f64),
    panel: &Panel,
) -> anyhow::Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, font(17.0))
        .margin(12)
        .x_label_area_size(55)
        .y_label_area_size(75)
        .build_cartesian_2d(
            (alpha.0..alpha.1).log_scale(),
            panel.y_range.0..panel.y_range.1,
        )
        .drawn(panel.title)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(20)
        .x_label_formatter(&log_tick_label)
        .bold_line_style(palette::GRID)
        .x_desc("α = M / L (training sequences per residue)")
        .y_desc(panel.y_label)
        .label_style(font(14.0))
        .axis_desc_style(font(14.0))
        .draw()
        .drawn(panel.title)?;
    chart
        .draw_series(LineSeries::new(
            vec![(alpha.0, panel.reference), (alpha.1, panel.reference)],
            palette::DARK_GREY.mix(0.6).stroke_width(1),
        ))
        .drawn(panel.title)?;
    chart
        .draw_series(LineSeries::new(
            panel.points.iter().copied(),
            panel.color.stroke_width(3),
        ))
        .drawn(panel.title)?;
    chart
        .draw_series(
            panel
                .points
                .iter()
                .map(|&p| Circle::new(p, 5, panel.color.filled())),
        )
        .drawn(panel.title)?;
    Ok(())
}

impl Figure for SampleComplexityFigure {
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let f = self;
        let title = format!(
            "Sample complexity: teacher L = {}, H = {}, β = {}, seed {}; factored student, H = {}",
            f.teacher_length, f.teacher_heads, f.beta, f.seed, f.student_heads
        );
        draw_centred(root, &title, 14, 20.0, BLACK)?;
        let subtitle = format!(
            "{} held-out sequences (teacher NLL {:.3} nats/site); {} planted contacts with |i−j| ≥ 6, precision over the top {}",
            f.held_out, f.teacher_nll, f.planted_contacts, f.precision_k
        );
        draw_centred(root, &subtitle, 42, 14.0, palette::DARK_GREY)?;
        let body = root.margin(70, 10, 10, 10);
        let (left, right) = body.split_horizontally(WIDTH / 2 - 10);
        let alpha = self.alpha_range();
        let positive = |p: &&SizePoint| p.alpha > 0.0;
        draw_panel(
            &left,
            alpha,
            &Panel {
                title: "Held-out NLL gap to the teacher",
                y_label: "nats / site (student − teacher)",
                points: f
                    .points
                    .iter()
                    .filter(positive)
                    .filter(|p| p.gap.is_finite())
                    .map(|p| (p.alpha, p.gap))
                    .collect(),
                y_range: self.gap_range(),
                reference: 0.0,
                color: BLUE,
            },
        )?;
        draw_panel(
            &right,
            alpha,
            &Panel {
                title: "Planted-contact precision",
                y_label: "top-L precision (|i−j| ≥ 6)",
                points: f
                    .points
                    .iter()
                    .filter(positive)
                    .map(|p| (p.alpha, p.precision_top_l.clamp(0.0, 1.0)))
                    .collect(),
                y_range: (0.0, 1.05),
                reference: 1.0,
                color: VERMILLION,
            },
        )
    }
}

/// Writes the figure as a PNG file and, when `svg`, an SVG beside it;
/// returns the paths written.
pub fn write_png(
    path: &Path,
    figure: &SampleComplexityFigure,
    svg: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    write_figure(path, figure, svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(points: Vec<SizePoint>) -> SampleComplexityFigure {
        SampleComplexityFigure {
            points,
            teacher_length: 20,
            teacher_heads: 2,
            beta: 1.0,
            seed: 1,
            student_heads: 2,
            held_out: 100,
            teacher_nll: 2.0,
            planted_contacts: 10,
            precision_k: 10,
        }
    }

    #[test]
    fn ranges_cover_the_points() {
        let f = figure(vec![
            SizePoint {
                alpha: 10.0,
                gap: 0.5,
                precision_top_l: 0.2,
            },
            SizePoint {
                alpha: 100.0,
                gap: -0.1,
                precision_top_l: 0.9,
            },
        ]);
        let (lo, hi) = f.alpha_range();
        // 10 / 1.5 and 100 * 1.5 round out to the decades 1 and 1000.
        assert!(
            (lo - 1.0).abs() < 1e-9 && (hi - 1000.0).abs() < 1e-6,
            "{lo} {hi}"
        );
        let (glo, ghi) = f.gap_range();
        assert!(glo < -0.1 && ghi > 0.5, "{glo} {ghi}");
        assert_eq!(figure(vec![]).alpha_range(), (1.0, 100.0));
    }
}
