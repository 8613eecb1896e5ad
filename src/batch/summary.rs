//! The batch summary: the [`Aggregate`] over the rows and the files
//! `summary.tsv`, `summary.json` and `summary.png`.
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FamilyRow, Precision, Status, outputs};
use crate::error::{ErrorKind, input_error};
use crate::io::write_atomic;
use crate::plot::{BatchSummaryFigure, FamilyPoint, batch_summary};

/// Counts and mean/median precision over the scored families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Families in the summary.
    pub families: usize,
    /// Predicted in this run.
    pub ok: usize,
    /// Reused from an earlier run.
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
    /// Of those, for bad input.
    pub failed_input: usize,
    /// Scored families (ok or skipped, with a precision).
    pub scored: usize,
    /// Mean precision per cell over the scored families with a value.
    pub mean: Option<Precision>,
    /// Median precision per cell.
    pub median: Option<Precision>,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

impl Aggregate {
    /// Aggregates rows.
    pub fn of(rows: &[FamilyRow]) -> Aggregate {
        let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
        let scored: Vec<[Option<f64>; 6]> = rows
            .iter()
            .filter(|r| r.status != Status::Failed)
            .filter_map(|r| r.precision.map(|p| p.values()))
            .collect();
        let column = |c: usize| -> Vec<f64> { scored.iter().filter_map(|v| v[c]).collect() };
        let stat = |f: fn(&[f64]) -> Option<f64>| {
            (!scored.is_empty())
                .then(|| Precision::from_values(std::array::from_fn(|c| f(&column(c)))))
        };
        Aggregate {
            families: rows.len(),
            ok: count(Status::Ok),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            failed_input: rows
                .iter()
                .filter(|r| r.status == Status::Failed && r.error_kind == Some(ErrorKind::Input))
                .count(),
            scored: scored.len(),
            mean: stat(mean),
            median: stat(median),
        }
    }
}

/// What `summary.json` of a batch holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// fadca version.
    pub fadca_version: String,
    /// The families folder or manifest (a batch run).
    pub families_source: Option<String>,
    /// This shard, `K/N` (a sharded batch run).
    pub shard: Option<String>,
    /// The folders merged (`fadca batch --merge`).
    pub merged_from: Option<Vec<String>>,
    /// The batch output folder.
    pub output_dir: String,
    /// Training hyper-parameters of a batch run, as each family records them.
    pub hyperparameters: Option<Value>,
    /// Counts and mean/median precision.
    pub aggregate: Aggregate,
    /// One row per family, in family order.
    pub families: Vec<FamilyRow>,
}

impl BatchSummary {
    /// A summary of `rows` (the aggregate is computed here).
    pub fn new(rows: Vec<FamilyRow>, output_dir: &Path) -> BatchSummary {
        BatchSummary {
            fadca_version: env!("CARGO_PKG_VERSION").into(),
            families_source: None,
            shard: None,
            merged_from: None,
            output_dir: output_dir.display().to_string(),
            hyperparameters: None,
            aggregate: Aggregate::of(&rows),
            families: rows,
        }
    }

    /// Writes `summary.tsv`, `summary.json` and `summary.png` (and, when
    /// `svg`, `summary.svg`) into `dir`, each atomically.
    pub fn write(&self, dir: &Path, svg: bool) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| input_error(format!("cannot create folder {}: {e}", dir.display())))?;
        write_atomic(&dir.join(outputs::SUMMARY_TSV), |w| {
            w.write_all(self.to_tsv().as_bytes())?;
            Ok(())
        })?;
        write_atomic(&dir.join(outputs::SUMMARY_JSON), |w| {
            serde_json::to_writer_pretty(&mut *w, self)?;
            w.write_all(b"\n")?;
            Ok(())
        })?;
        batch_summary::write_png(&dir.join(outputs::SUMMARY_PNG), &self.figure(), svg)?;
        Ok(())
    }

    /// What `summary.png` shows: P@L against M_eff/L of the scored
    /// families (those with both) and their models, the counts and
    /// mean/median P@L of the aggregate, and the output folder's name.
    pub fn figure(&self) -> BatchSummaryFigure {
        let p_at_l = |p: Option<Precision>| p.and_then(|p| p.all.l);
        let name = Path::new(&self.output_dir)
            .file_name()
            .map_or_else(|| "batch".to_string(), |n| n.to_string_lossy().into_owned());
        BatchSummaryFigure {
            name,
            points: self
                .families
                .iter()
                .filter(|r| r.status != Status::Failed)
                .filter_map(|r| {
                    Some(FamilyPoint {
                        name: r.name.clone(),
                        meff_per_l: r.meff_per_l?,
                        precision_at_l: r.precision?.all.l?,
                        model: r.model.clone(),
                    })
                })
                .collect(),
            scored: self.aggregate.scored,
            families: self.aggregate.families,
            mean_precision_at_l: p_at_l(self.aggregate.mean),
            median_precision_at_l: p_at_l(self.aggregate.median),
        }
    }

    /// The TSV table: a header, one row per family, then the `(mean)` and
    /// `(median)` rows over the scored families (status `aggregate`).
    /// Missing values are `NA`.
    pub fn to_tsv(&self) -> String {
        let mut out = TSV_COLUMNS.join("\t");
        out.push('\n');
        let na = || "NA".to_string();
        let num = |v: Option<f64>, digits: usize| v.map_or_else(na, |x| format!("{x:.digits$}"));
        let int = |v: Option<usize>| v.map_or_else(na, |x| x.to_string());
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let precision = |p: Option<Precision>| -> Vec<String> {
            match p {
                Some(p) => p.values().iter().map(|v| num(*v, 4)).collect(),
                None => vec![na(); 6],
            }
        };
        for r in &self.families {
            let mut fields = vec![
                clean(&r.name),
                r.status.name().to_string(),
                int(r.n_read),
                int(r.n_kept),
                int(r.length),
                num(r.meff, 1),
                num(r.meff_per_l, 3),
                r.model.clone().unwrap_or_else(na),
                num(r.wall_s, 1),
            ];
            fields.extend(precision(r.precision));
            fields.push(r.error.as_deref().map_or_else(String::new, clean));
            out.push_str(&fields.join("\t"));
            out.push('\n');
        }
        let a = &self.aggregate;
        for (label, p) in [("(mean)", a.mean), ("(median)", a.median)] {
            let mut fields = vec![label.to_string(), "aggregate".to_string()];
            fields.extend(std::iter::repeat_n(na(), 7));
            fields.extend(precision(p));
            fields.push(format!(
                "over {} scored of {} families",
                a.scored, a.families
            ));
            out.push_str(&fields.join("\t"));
            out.push('\n');
        }
        out
    }
}

/// Columns of `summary.tsv`.
pub const TSV_COLUMNS: [&str; 16] = [
    "name",
    "status",
    "n_read",
    "n_kept",
    "L",
    "M_eff",
    "M_eff/L",
    "model",
    "wall_s",
    "P@L",
    "P@L/2",
    "P@L/5",
    "long_P@L",
    "long_P@L/2",
    "long_P@L/5",
    "error",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mean() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }
}
