//! `sample_complexity.png` of `fadca experiment sample-complexity`: two
//! panels against α = M / L on a log axis — left the held-out conditional
//! log-likelihood gap of the student to the teacher (nats per site), right
//! the top-L precision of the planted contacts. The experiment builds the
//! [`SampleComplexityFigure`] from its report.
use std::path::Path;

use super::canvas::{BLACK, Canvas, Rgb, Text, write_rgb_png};

/// Image width in pixels.
pub const WIDTH: u32 = 1200;
/// Image height in pixels.
pub const HEIGHT: u32 = 560;

const GRID: Rgb = [225, 225, 225];
const LINE: Rgb = [31, 90, 200];
const LINE2: Rgb = [200, 80, 30];

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

/// A "nice" tick step for a range of `span` with about 5 ticks.
fn nice_step(span: f64) -> f64 {
    let raw = (span / 5.0).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Formats a tick label without useless digits.
fn label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
            + usize::from((step * 10f64.powf(-step.log10().floor())).fract() > 1e-9)
    };
    format!("{v:.decimals$}")
}

struct Panel {
    x0: f32,
    y0: f32,
    w: f32,
    h: f32,
    lx: (f64, f64),
    y: (f64, f64),
}

impl Panel {
    fn px(&self, alpha: f64) -> f32 {
        self.x0 + ((alpha.log10() - self.lx.0) / (self.lx.1 - self.lx.0)) as f32 * self.w
    }
    fn py(&self, v: f64) -> f32 {
        self.y0 + self.h - ((v - self.y.0) / (self.y.1 - self.y.0)) as f32 * self.h
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_panel(
    c: &mut Canvas,
    text: &Text,
    p: &Panel,
    points: &[(f64, f64)],
    color: Rgb,
    title: &str,
    ylabel: &str,
    reference: Option<f64>,
) {
    // Grid and ticks: decades and their 2..9 multiples on x, nice steps on y.
    let (d0, d1) = (p.lx.0.floor() as i32, p.lx.1.ceil() as i32);
    for d in d0..=d1 {
        for m in 1..10 {
            let a = m as f64 * 10f64.powi(d);
            let l = a.log10();
            if l < p.lx.0 - 1e-9 || l > p.lx.1 + 1e-9 {
                continue;
            }
            let x = p.px(a);
            if m == 1 {
                c.vline(x, p.y0, p.y0 + p.h, GRID);
                c.vline(x, p.y0 + p.h, p.y0 + p.h + 7.0, BLACK);
                text.draw(c, &label(a, a), x, p.y0 + p.h + 24.0, 15.0, 0.5, BLACK);
            } else {
                c.vline(x, p.y0 + p.h, p.y0 + p.h + 4.0, BLACK);
            }
        }
    }
    let step = nice_step(p.y.1 - p.y.0);
    let mut v = (p.y.0 / step).ceil() * step;
    while v <= p.y.1 + step * 1e-6 {
        let y = p.py(v);
        c.hline(p.x0, p.x0 + p.w, y, GRID);
        c.hline(p.x0 - 7.0, p.x0, y, BLACK);
        text.draw(c, &label(v, step), p.x0 - 10.0, y + 5.0, 14.0, 1.0, BLACK);
        v += step;
    }
    if let Some(r) = reference {
        let y = p.py(r);
        let mut x = p.x0;
        while x < p.x0 + p.w {
            c.hline(x, (x + 6.0).min(p.x0 + p.w), y, [120, 120, 120]);
            x += 12.0;
        }
    }
    // Frame.
    c.hline(p.x0 - 1.0, p.x0 + p.w + 1.0, p.y0 - 1.0, BLACK);
    c.hline(p.x0 - 1.0, p.x0 + p.w + 1.0, p.y0 + p.h, BLACK);
    c.vline(p.x0 - 1.0, p.y0 - 1.0, p.y0 + p.h + 1.0, BLACK);
    c.vline(p.x0 + p.w, p.y0 - 1.0, p.y0 + p.h + 1.0, BLACK);
    // Curve.
    let pts: Vec<(f32, f32)> = points.iter().map(|&(a, v)| (p.px(a), p.py(v))).collect();
    for w in pts.windows(2) {
        c.segment(w[0], w[1], 2.5, color);
    }
    for &(x, y) in &pts {
        c.disc(x, y, 5.0, color);
    }
    // Labels.
    text.draw(c, title, p.x0 + p.w / 2.0, p.y0 - 34.0, 17.0, 0.5, BLACK);
    text.draw(
        c,
        "α = M / L (training sequences per residue, log scale)",
        p.x0 + p.w / 2.0,
        p.y0 + p.h + 50.0,
        15.0,
        0.5,
        BLACK,
    );
    text.draw(c, ylabel, p.x0 - 60.0, p.y0 - 10.0, 14.0, 0.0, [70, 70, 70]);
}

/// Renders the figure to raw RGB pixels ([`WIDTH`] × [`HEIGHT`] × 3).
pub fn render(figure: &SampleComplexityFigure) -> anyhow::Result<Vec<u8>> {
    let text = Text::embedded()?;
    let mut c = Canvas::new(WIDTH, HEIGHT);
    let points = &figure.points;
    let (amin, amax) = points.iter().fold((f64::INFINITY, 0f64), |(lo, hi), p| {
        (lo.min(p.alpha), hi.max(p.alpha))
    });
    let (amin, amax) = if amin.is_finite() && amax > 0.0 {
        (amin, amax)
    } else {
        (1.0, 100.0)
    };
    let lx = (amin.log10() - 0.1, amax.log10() + 0.1);
    let gmax = points.iter().map(|p| p.gap).fold(0f64, f64::max);
    let gmin = points.iter().map(|p| p.gap).fold(0f64, f64::min);
    let pad = ((gmax - gmin) * 0.08).max(1e-3);
    let gap_panel = Panel {
        x0: 110.0,
        y0: 135.0,
        w: 420.0,
        h: 330.0,
        lx,
        y: (gmin - if gmin < 0.0 { pad } else { 0.0 }, gmax + pad),
    };
    let prec_panel = Panel {
        x0: 730.0,
        y0: 135.0,
        w: 420.0,
        h: 330.0,
        lx,
        y: (0.0, 1.05),
    };
    let gap_points: Vec<(f64, f64)> = points.iter().map(|p| (p.alpha, p.gap)).collect();
    let prec_points: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.alpha, p.precision_top_l))
        .collect();
    draw_panel(
        &mut c,
        &text,
        &gap_panel,
        &gap_points,
        LINE,
        "Held-out NLL gap to the teacher",
        "nats / site (student − teacher)",
        Some(0.0),
    );
    draw_panel(
        &mut c,
        &text,
        &prec_panel,
        &prec_points,
        LINE2,
        "Planted-contact precision",
        "top-L precision (|i−j| ≥ 6)",
        Some(1.0),
    );
    let f = figure;
    let title = format!(
        "Sample complexity: teacher L = {}, H = {}, β = {}, seed {}; factored student, H = {}",
        f.teacher_length, f.teacher_heads, f.beta, f.seed, f.student_heads
    );
    text.draw(&mut c, &title, WIDTH as f32 / 2.0, 36.0, 20.0, 0.5, BLACK);
    let sub = format!(
        "{} held-out sequences (teacher NLL {:.3} nats/site); {} planted contacts with |i−j| ≥ 6, precision over the top {}",
        f.held_out, f.teacher_nll, f.planted_contacts, f.precision_k
    );
    text.draw(
        &mut c,
        &sub,
        WIDTH as f32 / 2.0,
        62.0,
        14.0,
        0.5,
        [60, 60, 60],
    );
    Ok(c.data)
}

/// Writes the figure (see [`render`]) as a PNG file, atomically.
pub fn write_png(path: &Path, figure: &SampleComplexityFigure) -> anyhow::Result<()> {
    let pixels = render(figure)?;
    write_rgb_png(path, WIDTH, HEIGHT, &pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(1.0), 0.2);
        assert_eq!(nice_step(0.5), 0.1);
        assert_eq!(nice_step(0.12), 0.025);
        assert_eq!(label(0.2, 0.2), "0.2");
        assert_eq!(label(0.025, 0.025), "0.025");
        assert_eq!(label(10.0, 10.0), "10");
    }
}
