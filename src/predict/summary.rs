//! What a prediction run reports: `summary.json` (a [`PredictionSummary`],
//! or the short summary of a run whose training diverged) and the
//! one-screen text `fadca predict` prints.
use std::path::Path;

use anyhow::Result;

use super::PredictRequest;
use crate::alignment::Alignment;
use crate::contacts::{Prediction, ScoredPair};
use crate::error::{Error, Restart};
use crate::io::write_atomic;
use crate::model::choice::ModelRequest;
use crate::model::{Check, ModelKind, StopReason, TrainConfig};
use crate::score::{PrecisionTable, ScoreReport};
use crate::structure::{NativeSource, ResidueMapping};

/// The alignment as recorded in `summary.json` (the keys `fadca score`
/// reads back from a prediction folder).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MsaInfo {
    /// Alignment path as given.
    pub path: String,
    /// Format it was read as.
    pub format: String,
    /// Whether query-gap columns were kept.
    pub keep_query_gaps: bool,
    /// Gap fraction above which sequences were dropped.
    pub max_gap_fraction: f64,
    /// SHA-256 of the alignment file's bytes: the input this prediction
    /// was made from (a later run into the same folder compares it).
    pub sha256: String,
}

/// The query sequence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryInfo {
    /// Name (header) of the first sequence.
    pub name: String,
    /// Its residues over the kept columns (1..L).
    pub sequence: String,
}

/// Wall seconds per stage.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    /// Reading the alignment.
    pub read: f64,
    /// Sequence weights.
    pub weights: f64,
    /// Training.
    pub train: f64,
    /// Couplings → contact scores.
    pub contacts: f64,
    /// Writing the model and the contact files.
    pub write: f64,
    /// Loading the structure / contact list, precision, score.json and plot
    /// (0 without one).
    pub score: f64,
    /// The whole run.
    pub total: f64,
}

/// One of the best contacts, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopContact {
    /// First residue (1-based).
    pub i: usize,
    /// Second residue (1-based), `j > i`.
    pub j: usize,
    /// Query letter at `i`.
    pub residue_i: char,
    /// Query letter at `j`.
    pub residue_j: char,
    /// Contact score.
    pub score: f64,
}

/// Minimum separation of the contacts shown in the report's top list: the
/// pairs the precision counts.
pub const TOP_CONTACTS_MIN_SEPARATION: usize = 6;
/// Number of contacts shown in the report's top list.
pub const TOP_CONTACTS: usize = 10;

/// The report's best contacts, with the filter that chose them (they are
/// not the first lines of `contacts.tsv`, which lists close pairs too).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopContacts {
    /// Only pairs with `j − i` at least this ([`TOP_CONTACTS_MIN_SEPARATION`]).
    pub min_separation: usize,
    /// At most this many pairs ([`TOP_CONTACTS`]).
    pub limit: usize,
    /// The pairs, best first.
    pub contacts: Vec<TopContact>,
}

/// What `summary.json` holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PredictionSummary {
    /// Family name.
    pub name: String,
    /// The alignment and how it was read.
    pub msa: MsaInfo,
    /// Sequences read (query included).
    pub n_read: usize,
    /// Sequences kept.
    pub n_kept: usize,
    /// Sequences dropped for too many gaps.
    pub n_dropped_gappy: usize,
    /// Alignment columns after removing insertions.
    pub n_columns: usize,
    /// Columns dropped because the query has a gap there.
    pub n_columns_dropped: usize,
    /// Query length L.
    pub length: usize,
    /// Effective number of sequences Σ w_n.
    pub meff: f64,
    /// Identity threshold of the weights (1 = unweighted).
    pub theta: f64,
    /// The query.
    pub query: QueryInfo,
    /// The model asked for (`--model`: `auto`, `potts` or `factored`).
    pub model_requested: ModelRequest,
    /// The model trained (`factored` or `potts`).
    pub model: ModelKind,
    /// Why that model: `auto`'s choice and the memory it needs, or the
    /// flag that forced it.
    pub model_reason: String,
    /// Every training hyper-parameter.
    pub hyperparameters: TrainConfig,
    /// The hyper-parameters as requested, before the automatic values
    /// (epochs, batch size, λ_J: `null`) were resolved for this alignment;
    /// `fadca batch --resume` compares these.
    pub requested_hyperparameters: TrainConfig,
    /// Mean objective per epoch.
    pub loss_curve: Vec<f64>,
    /// Restarts after a non-finite loss or gradient (numerical guard; usually empty).
    pub restarts: Vec<Restart>,
    /// N before `--max-seqs` subsampling, when it applied (`n_kept` is then the sample size).
    pub subsampled_from: Option<usize>,
    /// `"ok"`; a run whose training diverged writes a different summary with `"diverged"`.
    pub status: &'static str,
    /// Optimiser steps taken.
    pub steps: usize,
    /// The most steps the run could take (the schedule's, or `--steps`).
    pub max_steps: usize,
    /// Why training stopped: `converged` (the stopping rule), `max_steps`
    /// or `fixed_length` (`--steps`, `--epochs`).
    pub stop_reason: StopReason,
    /// The same in words.
    pub stop_reason_text: String,
    /// The stopping rule's checks: step, seconds, fraction of the previous
    /// check's top-L contacts kept (empty for a fixed length).
    pub convergence_checks: Vec<Check>,
    /// Seconds per stage.
    pub timings: Timings,
    /// Device trained on.
    pub device: String,
    /// CPU threads.
    pub threads: usize,
    /// fadca version.
    pub version: String,
    /// Where the model was saved.
    pub model_path: String,
    /// The output folder.
    pub output_dir: String,
    /// Files written into the output folder (`summary.json` last).
    pub outputs: Vec<String>,
    /// The best contacts with separation ≥ 6, and that filter.
    pub top_contacts: TopContacts,
    /// Where the known contacts came from (when scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_source: Option<NativeSource>,
    /// SHA-256 of the structure or contact-list file (when scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_sha256: Option<String>,
    /// Structure-to-query mapping (when scored against a structure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<ResidueMapping>,
    /// `precision.<class>.<top>` (when scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<PrecisionTable>,
}

/// The best [`TOP_CONTACTS`] pairs with separation ≥
/// [`TOP_CONTACTS_MIN_SEPARATION`] with their letters.
pub fn top_contacts(prediction: &Prediction, query_sequence: &str) -> TopContacts {
    let letters: Vec<char> = query_sequence.chars().collect();
    let letter = |i: usize| letters.get(i - 1).copied().unwrap_or('?');
    let contacts = prediction
        .top(TOP_CONTACTS, TOP_CONTACTS_MIN_SEPARATION, None)
        .into_iter()
        .map(|ScoredPair { i, j, score }| TopContact {
            i,
            j,
            residue_i: letter(i),
            residue_j: letter(j),
            score,
        })
        .collect();
    TopContacts {
        min_separation: TOP_CONTACTS_MIN_SEPARATION,
        limit: TOP_CONTACTS,
        contacts,
    }
}

/// What `summary.json` holds when training diverged for good (no other
/// output was written).
#[derive(serde::Serialize)]
struct DivergedSummary<'a> {
    status: &'static str,
    error: &'a str,
    name: &'a str,
    msa: String,
    msa_sha256: &'a str,
    n_kept: usize,
    length: usize,
    hyperparameters: &'a TrainConfig,
    loss_curve: &'a [f64],
    restarts: &'a [Restart],
    version: &'static str,
}

/// Writes the `summary.json` of a run whose training diverged for good
/// (`err` an [`Error::Diverged`]) and returns true; other errors write
/// nothing.
pub(super) fn write_diverged_summary(
    path: &Path,
    request: &PredictRequest,
    alignment: &Alignment,
    msa_sha256: &str,
    err: &anyhow::Error,
) -> Result<bool> {
    let Some(Error::Diverged {
        message,
        loss_curve,
        restarts,
    }) = crate::error::find(err)
    else {
        return Ok(false);
    };
    let summary = DivergedSummary {
        status: "diverged",
        error: message,
        name: &request.name,
        msa: request.msa.display().to_string(),
        msa_sha256,
        n_kept: alignment.depth(),
        length: alignment.length(),
        hyperparameters: &request.config,
        loss_curve,
        restarts,
        version: env!("CARGO_PKG_VERSION"),
    };
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    Ok(true)
}

impl PredictionSummary {
    /// The one-screen report printed at the end of `fadca predict`
    /// (`score` adds the mapping and precision table).
    pub fn render(&self, score: Option<&ScoreReport>) -> String {
        let mut out = String::new();
        let hp = &self.hyperparameters;
        out.push_str(&format!(
            "input     {} ({}, query {})\n",
            self.msa.path, self.msa.format, self.query.name
        ));
        out.push_str(&format!(
            "sequences {} read, {} dropped (gaps > {}), {} kept; L = {}; M_eff = {:.1} (theta {})\n",
            self.n_read,
            self.n_dropped_gappy,
            self.msa.max_gap_fraction,
            self.n_kept,
            self.length,
            self.meff,
            self.theta
        ));
        let shape = match self.model {
            ModelKind::Factored => format!("heads {}, head_dim {}, ", hp.heads, hp.head_dim),
            ModelKind::Potts => String::new(),
        };
        out.push_str(&format!("choice    {}\n", self.model_reason));
        out.push_str(&format!(
            "model     {}: {}lambda_J {}, lambda_h {}, lr {}, batch {}, seed {}\n",
            self.model.name(),
            shape,
            hp.lambda_j.unwrap_or_default(),
            hp.lambda_h,
            hp.learning_rate,
            hp.batch_size.unwrap_or_default(),
            hp.seed
        ));
        out.push_str(&format!(
            "stopped   after {} of at most {} steps: {}\n",
            self.steps, self.max_steps, self.stop_reason_text
        ));
        if let (Some(first), Some(last)) = (self.loss_curve.first(), self.loss_curve.last()) {
            out.push_str(&format!("loss      {first:.4} -> {last:.4}\n"));
        }
        out.push_str(&format!(
            "device    {}, threads {}\n",
            self.device, self.threads
        ));
        let t = &self.timings;
        out.push_str(&format!(
            "time      read {:.2} s, weights {:.2} s, train {:.2} s, contacts {:.2} s, write {:.2} s, score {:.2} s; total {:.2} s\n",
            t.read, t.weights, t.train, t.contacts, t.write, t.score, t.total
        ));
        out.push_str(&format!(
            "top {} contacts (|i-j| >= {}):\n",
            self.top_contacts.contacts.len(),
            self.top_contacts.min_separation
        ));
        out.push_str(&format!(
            "{:>6} {:>6}  {:<5} {:>10}\n",
            "i", "j", "aa", "score"
        ));
        for c in &self.top_contacts.contacts {
            out.push_str(&format!(
                "{:>6} {:>6}  {}-{}   {:>10.4}\n",
                c.i, c.j, c.residue_i, c.residue_j, c.score
            ));
        }
        if let Some(report) = score {
            out.push_str(&report.render());
        }
        out.push_str(&format!(
            "output    {} ({})\nmodel     {}\n",
            self.output_dir,
            self.outputs.join(", "),
            self.model_path
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_contacts_skip_close_pairs_and_carry_letters() {
        let prediction = Prediction {
            length: 10,
            pairs: vec![
                ScoredPair {
                    i: 1,
                    j: 2,
                    score: 9.0,
                },
                ScoredPair {
                    i: 1,
                    j: 8,
                    score: 3.0,
                },
                ScoredPair {
                    i: 2,
                    j: 10,
                    score: 5.0,
                },
            ],
        };
        let top = top_contacts(&prediction, "ACDEFGHIKL");
        assert_eq!((top.min_separation, top.limit), (6, 10));
        let json = serde_json::to_value(&top).unwrap();
        assert_eq!(json["min_separation"], 6);
        assert_eq!(json["contacts"][0]["i"], 2);
        let top = top.contacts;
        assert_eq!(top.len(), 2);
        assert_eq!(
            (top[0].i, top[0].j, top[0].residue_i, top[0].residue_j),
            (2, 10, 'C', 'L')
        );
        assert_eq!(
            (top[1].i, top[1].j, top[1].residue_i, top[1].residue_j),
            (1, 8, 'A', 'I')
        );
    }
}
