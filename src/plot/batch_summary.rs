//! `summary.png` of `fadca batch`: P@L (|i − j| ≥ 6) against M_eff/L on a
//! log axis, one labelled dot per scored family, with the mean and median
//! P@L in the subtitle. The batch builds the [`BatchSummaryFigure`] from its
//! summary table.
use std::path::Path;

use super::canvas::{BLACK, Canvas, Text, write_rgb_png};

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
}

/// What `summary.png` shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchSummaryFigure {
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

/// Renders the figure to raw RGB pixels ([`WIDTH`] × [`HEIGHT`] × 3).
pub fn render(figure: &BatchSummaryFigure) -> anyhow::Result<Vec<u8>> {
    let points = &figure.points;
    let text = Text::embedded()?;
    let mut c = Canvas::new(WIDTH, HEIGHT);
    let (x0, y0, w, h) = (100.0_f32, 80.0_f32, 740.0_f32, 450.0_f32);
    let (x1, y1) = (x0 + w, y0 + h);
    let grey = [225, 225, 225];
    // Decades covering the points (at least one).
    let logs: Vec<f64> = points
        .iter()
        .filter(|p| p.meff_per_l > 0.0)
        .map(|p| p.meff_per_l.log10())
        .collect();
    let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if logs.is_empty() {
        (-1.0, 2.0)
    } else {
        let (a, b) = (lo.floor(), hi.ceil());
        if a == b { (a, b + 1.0) } else { (a, b) }
    };
    let px = |v: f64| x0 + ((v.log10() - lo) / (hi - lo)) as f32 * w;
    let py = |p: f64| y1 - p.clamp(0.0, 1.0) as f32 * h;
    // Grid and y ticks.
    for k in 0..=5 {
        let p = k as f64 / 5.0;
        let y = py(p);
        c.hline(x0, x1, y, grey);
        c.hline(x0 - 6.0, x0, y, BLACK);
        text.draw(
            &mut c,
            &format!("{p:.1}"),
            x0 - 10.0,
            y + 5.0,
            14.0,
            1.0,
            BLACK,
        );
    }
    // x ticks: decades labelled, 2..9 minor.
    let mut decade = lo as i32;
    while decade <= hi as i32 {
        let v = 10f64.powi(decade);
        let x = px(v);
        c.vline(x, y0, y1, grey);
        c.vline(x, y1, y1 + 7.0, BLACK);
        let label = if decade < 0 {
            format!("{v:.prec$}", prec = (-decade) as usize)
        } else {
            format!("{v:.0}")
        };
        text.draw(&mut c, &label, x, y1 + 24.0, 14.0, 0.5, BLACK);
        if decade < hi as i32 {
            for m in 2..=9 {
                c.vline(px(v * m as f64), y1, y1 + 4.0, BLACK);
            }
        }
        decade += 1;
    }
    // Frame.
    c.hline(x0 - 1.0, x1 + 1.0, y0 - 1.0, BLACK);
    c.hline(x0 - 1.0, x1 + 1.0, y1, BLACK);
    c.vline(x0 - 1.0, y0 - 1.0, y1 + 1.0, BLACK);
    c.vline(x1, y0 - 1.0, y1 + 1.0, BLACK);
    // Points and their names.
    let dot = [31, 90, 200];
    for point in points {
        if point.meff_per_l <= 0.0 {
            continue;
        }
        let (x, y) = (px(point.meff_per_l), py(point.precision_at_l));
        c.disc(x, y, 5.0, dot);
        text.draw(
            &mut c,
            &point.name,
            x + 8.0,
            y - 6.0,
            11.0,
            0.0,
            [70, 70, 70],
        );
    }
    if points.is_empty() {
        text.draw(
            &mut c,
            "no scored family (none had a structure, or all failed)",
            x0 + w / 2.0,
            y0 + h / 2.0,
            16.0,
            0.5,
            BLACK,
        );
    }
    // Labels and title.
    text.draw(
        &mut c,
        "M_eff / L (log scale)",
        x0 + w / 2.0,
        y1 + 52.0,
        16.0,
        0.5,
        BLACK,
    );
    text.draw(
        &mut c,
        "P@L (top-L contacts, |i−j| ≥ 6)",
        x0 - 10.0,
        y0 - 12.0,
        15.0,
        0.0,
        BLACK,
    );
    let title = format!(
        "Contact precision against alignment depth: {} scored of {} families",
        figure.scored, figure.families
    );
    text.draw(&mut c, &title, WIDTH as f32 / 2.0, 30.0, 19.0, 0.5, BLACK);
    let stat = |p: Option<f64>| p.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
    let subtitle = format!(
        "mean P@L {}, median P@L {}",
        stat(figure.mean_precision_at_l),
        stat(figure.median_precision_at_l)
    );
    text.draw(
        &mut c,
        &subtitle,
        WIDTH as f32 / 2.0,
        52.0,
        14.0,
        0.5,
        [60, 60, 60],
    );
    Ok(c.data)
}

/// Writes the figure (see [`render`]) as a PNG file, atomically.
pub fn write_png(path: &Path, figure: &BatchSummaryFigure) -> anyhow::Result<()> {
    let pixels = render(figure)?;
    write_rgb_png(path, WIDTH, HEIGHT, &pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_drawn_and_bad_ones_skipped() {
        let point = |name: &str, meff_per_l: f64| FamilyPoint {
            name: name.into(),
            meff_per_l,
            precision_at_l: 0.5,
        };
        let empty = render(&BatchSummaryFigure::default()).unwrap();
        assert_eq!(empty.len(), (WIDTH * HEIGHT * 3) as usize);
        let one = BatchSummaryFigure {
            points: vec![point("A", 3.0)],
            scored: 1,
            families: 1,
            mean_precision_at_l: Some(0.5),
            median_precision_at_l: Some(0.5),
        };
        let mut with_bad = one.clone();
        with_bad.points.push(point("B", 0.0));
        let (one, with_bad) = (render(&one).unwrap(), render(&with_bad).unwrap());
        assert_ne!(one, empty);
        assert_eq!(one, with_bad, "a point with M_eff/L = 0 is not drawn");
    }
}
