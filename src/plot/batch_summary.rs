//! `summary.png` of `fadca batch`: P@L (|i − j| ≥ 6) against M_eff/L on a
//! log axis, one labelled dot per scored family, coloured by the model
//! that predicted it (the legend lists the models present), with the mean
//! and median P@L in the subtitle. The batch builds the
//! [`BatchSummaryFigure`] from its summary table.
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::palette::{self, BLUE, GREEN, VERMILLION};
use super::{
    Drawn, Figure, LegendEntry, draw_centred, draw_legend, font, log_tick_label, write_figure,
};

/// Image width in pixels.
pub const WIDTH: u32 = 900;
/// Image height in pixels.
pub const HEIGHT: u32 = 640;

/// One scored family: a dot of the figure.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyPoint {
    /// Family name, written next to its dot.
    pub name: String,
    /// M_eff / L (x, log scale; a point with x ≤ 0 is not drawn).
    pub meff_per_l: f64,
    /// P@L (y, clamped to [0, 1]).
    pub precision_at_l: f64,
    /// The model that predicted it (`factored`, `potts`; colour and legend).
    pub model: Option<String>,
}

/// What `summary.png` shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchSummaryFigure {
    /// The batch's name (title): its output folder's name.
    pub name: String,
    /// The scored families.
    pub points: Vec<FamilyPoint>,
    /// Number of scored families (title).
    pub scored: usize,
    /// Number of families in the batch (title).
    pub families: usize,
    /// Mean P@L over the scored families (subtitle; `None` = n/a).
    pub mean_precision_at_l: Option<f64>,
    /// Median P@L over the scored families (subtitle; `None` = n/a).
    pub median_precision_at_l: Option<f64>,
}

/// The colour of a model's dots: Okabe–Ito blue, vermillion, then green
/// for anything else.
fn model_color(model: Option<&str>) -> RGBColor {
    match model {
        Some("factored") => BLUE,
        Some("potts") => VERMILLION,
        _ => GREEN,
    }
}

impl BatchSummaryFigure {
    /// The points that can be drawn (M_eff/L > 0).
    fn drawable(&self) -> impl Iterator<Item = &FamilyPoint> {
        self.points
            .iter()
            .filter(|p| p.meff_per_l > 0.0 && p.meff_per_l.is_finite())
    }

    /// Legend entries: one per model present among the drawn points.
    fn legend(&self) -> Vec<LegendEntry> {
        let mut models: Vec<Option<&str>> = Vec::new();
        for p in self.drawable() {
            if !models.contains(&p.model.as_deref()) {
                models.push(p.model.as_deref());
            }
        }
        models.sort();
        models
            .into_iter()
            .map(|m| LegendEntry {
                label: match m {
                    Some(m) => format!("{m} model"),
                    None => "model not recorded".into(),
                },
                color: model_color(m),
                dot: true,
            })
            .collect()
    }

    /// The x range: the decades covering the points (at least one).
    fn decades(&self) -> (f64, f64) {
        let logs: Vec<f64> = self.drawable().map(|p| p.meff_per_l.log10()).collect();
        if logs.is_empty() {
            return (0.1, 100.0);
        }
        let lo = logs.iter().copied().fold(f64::INFINITY, f64::min).floor();
        let hi = logs
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
            .ceil();
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        (10f64.powf(lo), 10f64.powf(hi))
    }
}

impl Figure for BatchSummaryFigure {
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()> {
        let title = format!(
            "{}: contact precision against alignment depth, {} scored of {} families",
            self.name, self.scored, self.families
        );
        draw_centred(root, &title, 14, 20.0, BLACK)?;
        let stat = |p: Option<f64>| p.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
        let subtitle = format!(
            "mean P@L {}, median P@L {} (top-L pairs with |i−j| ≥ 6)",
            stat(self.mean_precision_at_l),
            stat(self.median_precision_at_l)
        );
        draw_centred(root, &subtitle, 42, 14.0, palette::DARK_GREY)?;
        let (lo, hi) = self.decades();
        let mut chart = ChartBuilder::on(root)
            .margin_top(80)
            .margin_left(20)
            .margin_right(40)
            .margin_bottom(40)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.04)
            .drawn("the batch summary")?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(20)
            .x_label_formatter(&log_tick_label)
            .bold_line_style(palette::GRID)
            .x_desc("M_eff / L (log scale)")
            .y_desc("P@L")
            .label_style(font(14.0))
            .axis_desc_style(font(15.0))
            .draw()
            .drawn("the axes")?;
        let area = chart.plotting_area();
        for p in self.drawable() {
            let at = (p.meff_per_l, p.precision_at_l.clamp(0.0, 1.0));
            let dot = EmptyElement::at(at)
                + Circle::new((0, 0), 5, model_color(p.model.as_deref()).filled())
                + Text::new(
                    p.name.clone(),
                    (8, -16),
                    font(11.0).color(&palette::DARK_GREY),
                );
            area.draw(&dot).drawn("the families")?;
        }
        if self.drawable().next().is_none() {
            draw_centred(
                root,
                "no scored family (none had a structure, or all failed)",
                HEIGHT as i32 / 2,
                16.0,
                BLACK,
            )?;
        }
        draw_legend(root, &self.legend(), HEIGHT as i32 - 20)
    }
}

/// Writes the figure as a PNG file and, when `svg`, an SVG beside it;
/// returns the paths written.
pub fn write_png(
    path: &Path,
    figure: &BatchSummaryFigure,
    svg: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    write_figure(path, figure, svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::render_rgb;

    fn point(name: &str, meff_per_l: f64, model: Option<&str>) -> FamilyPoint {
        FamilyPoint {
            name: name.into(),
            meff_per_l,
            precision_at_l: 0.5,
            model: model.map(String::from),
        }
    }

    #[test]
    fn points_are_drawn_and_bad_ones_skipped() {
        let empty = render_rgb(&BatchSummaryFigure::default()).unwrap();
        assert_eq!(empty.len(), (WIDTH * HEIGHT * 3) as usize);
        let one = BatchSummaryFigure {
            name: "b".into(),
            points: vec![point("A", 3.0, Some("potts"))],
            scored: 1,
            families: 1,
            mean_precision_at_l: Some(0.5),
            median_precision_at_l: Some(0.5),
        };
        let mut with_bad = one.clone();
        with_bad.points.push(point("B", 0.0, Some("factored")));
        assert_eq!(
            with_bad.legend().len(),
            1,
            "a point not drawn has no legend entry"
        );
        let (one, with_bad) = (render_rgb(&one).unwrap(), render_rgb(&with_bad).unwrap());
        assert_ne!(one, empty);
        assert_eq!(one, with_bad, "a point with M_eff/L = 0 is not drawn");
    }

    #[test]
    fn legend_has_the_models_present_and_decades_cover_the_points() {
        let figure = BatchSummaryFigure {
            points: vec![
                point("A", 0.3, Some("potts")),
                point("B", 40.0, Some("factored")),
                point("C", 5.0, Some("potts")),
            ],
            ..BatchSummaryFigure::default()
        };
        let labels: Vec<String> = figure.legend().into_iter().map(|e| e.label).collect();
        assert_eq!(labels, vec!["factored model", "potts model"]);
        let (lo, hi) = figure.decades();
        assert!(
            (lo - 0.1).abs() < 1e-12 && (hi - 100.0).abs() < 1e-9,
            "{lo} {hi}"
        );
    }
}
