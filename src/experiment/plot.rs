//! `sample_complexity.png` of a [`SampleComplexityReport`]: the report's
//! numbers as the plain data that [`crate::plot::sample_complexity`] draws.
use std::path::{Path, PathBuf};

use super::SampleComplexityReport;
use crate::plot::sample_complexity;
use crate::plot::{SampleComplexityFigure, SizePoint};

pub use crate::plot::sample_complexity::{HEIGHT, WIDTH};

/// What the figure shows of `report`: one point per row, the teacher and
/// student settings, and the teacher's held-out NLL (of the first row; NaN
/// without rows).
pub fn figure(report: &SampleComplexityReport) -> SampleComplexityFigure {
    let cfg = &report.config;
    SampleComplexityFigure {
        points: report
            .rows
            .iter()
            .map(|r| SizePoint {
                alpha: r.alpha,
                gap: r.gap,
                precision_top_l: r.precision_top_l,
            })
            .collect(),
        teacher_length: cfg.teacher.length,
        teacher_heads: cfg.teacher.heads,
        beta: cfg.teacher.beta,
        seed: cfg.seed,
        student_heads: cfg.train.heads,
        held_out: cfg.held_out,
        teacher_nll: report.rows.first().map_or(f64::NAN, |r| r.teacher_nll),
        planted_contacts: report.planted_contacts,
        precision_k: report.precision_k,
    }
}

/// Writes the figure of `report` as PNG and, when `svg`, as SVG beside it
/// (atomically); returns the paths written.
pub fn write_png(
    path: &Path,
    report: &SampleComplexityReport,
    svg: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    sample_complexity::write_png(path, &figure(report), svg)
}
