//! One prediction run, end to end, as stages: **read** the alignment,
//! **weigh** its sequences, **choose the model** (`--model auto`: the Potts
//! model where it fits in memory, else factored attention; a forced model
//! is checked against the memory), **train** it, extract
//! the contact scores from its **couplings**, **write** the files of SPEC §5
//! and (with a structure or contact list) **score** the prediction.
//! [`run_prediction_with`] calls one function per stage, in that order.
//!
//! [`run_prediction`] is what `fadca predict` runs, and what `fadca batch`
//! runs for each family. The computing stages also run without any output
//! folder: [`compute_prediction`] (or [`read_weighed`] then
//! [`train_weighed`]) returns a [`Trained`] prediction in memory, and
//! [`save_prediction`] writes its folder later, through the same writer as
//! `fadca predict` (`output`), so the files are the same byte for byte;
//! the Python module (`python/`) works this way. Files written into the
//! output folder, each atomically:
//!
//! | file | content |
//! |---|---|
//! | `contacts.tsv` | `i j score`, every pair `i < j`, in rank order |
//! | `contacts.mat` | L×L symmetric score matrix (CCMpred layout) |
//! | `contacts.rr` | CASP RR: header records, the query sequence, `p` = min–max scaled score |
//! | `contacts.ec` | plmc/EVcouplings EC file `i A_i j A_j 0 score` |
//! | `couplings.npy` | optional: the raw trained **asymmetric** `J[i][j][a][b] = J_ij(a,b)`, float32 L×L×21×21 (before symmetrising and gauging) |
//! | `score.json`, `contact_map.png` (`.svg`) | with a structure or contact list, as `fadca score` writes them |
//! | `summary.json` | written **last**: a folder with a parseable `summary.json` is complete |
//!
//! The model is saved (safetensors, with metadata) to
//! [`PredictRequest::model_path`]. A stale `summary.json` in the output
//! folder is removed before anything else is written, so that a run killed
//! half-way never leaves a folder that looks complete.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;

use crate::alignment::{ALPHABET, Alignment, ReadOptions, read_alignment};
use crate::contacts::{ListOptions, Prediction};
use crate::error::input_error;
use crate::io::sha256_file;
use crate::model::choice::{ModelChoice, ModelRequest};
use crate::model::{Model, ModelKind, Progress, TrainConfig, TrainReport, train_until_converged};
use crate::runtime::interrupt;
use crate::score::ScoreReport;
use crate::structure::{NativeContacts, NativeSource, ResidueMapping, load_native};
use crate::weights::{Weighting, effective_count, sample_by_weight};

mod choose;
use choose::choose;
mod output;
mod owner;
mod summary;

pub use choose::memory_limit;
pub use owner::check_folder as check_output_folder;

pub use summary::{
    MsaInfo, PredictionSummary, QueryInfo, TOP_CONTACTS, TOP_CONTACTS_MIN_SEPARATION, Timings,
    TopContact, TopContacts, top_contacts,
};

/// File names in a prediction folder.
pub mod files {
    pub use crate::contacts::files::{CONTACTS_EC, CONTACTS_MAT, CONTACTS_RR, CONTACTS_TSV};
    pub use crate::score::files::{CONTACT_MAP_PNG, CONTACT_MAP_SVG, SCORE_JSON};
    /// Raw trained couplings (optional).
    pub const COUPLINGS_NPY: &str = "couplings.npy";
    /// Run summary, written last.
    pub const SUMMARY_JSON: &str = "summary.json";
}

/// Checks that a family name can be a file name (non-empty, no path
/// separator, not `.`/`..`).
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(input_error(format!(
            "--name {name:?}: must be a plain file name (no '/', not empty)"
        )));
    }
    Ok(())
}

/// Default output folder of a family: `predictions/<name>`.
pub fn default_output_dir(name: &str) -> PathBuf {
    Path::new("predictions").join(name)
}

/// Default model file of a family: `models/<name>.safetensors`.
pub fn default_model_path(name: &str) -> PathBuf {
    Path::new("models").join(format!("{name}.safetensors"))
}

/// Everything one prediction run needs.
#[derive(Debug, Clone)]
pub struct PredictRequest {
    /// Alignment file.
    pub msa: PathBuf,
    /// How to read it.
    pub read_options: ReadOptions,
    /// How to weight its sequences.
    pub weighting: Weighting,
    /// Family name (recorded in the summary and the model).
    pub name: String,
    /// Output folder (created if needed).
    pub output_dir: PathBuf,
    /// Where the model is saved (its folder is created if needed).
    pub model_path: PathBuf,
    /// The model asked for: `auto` (the Potts model where it fits, else
    /// factored attention) or a forced one.
    pub model: ModelRequest,
    /// Training hyper-parameters (device and seed included); its `model` is
    /// replaced by the one chosen for the alignment ([`ModelChoice`]).
    pub config: TrainConfig,
    /// CPU threads in use (recorded; see [`crate::runtime::configure_threads`]).
    pub threads: usize,
    /// Also write `couplings.npy`.
    pub save_couplings: bool,
    /// Known contacts to score against, if any.
    pub native: Option<NativeSource>,
    /// Score even when the structure maps poorly onto the query.
    pub force_mapping: bool,
    /// Which pairs the contact lists hold and the RR author.
    pub lists: ListOptions,
    /// Also write the contact map as SVG.
    pub svg: bool,
    /// Replace a prediction (output folder, model file) made from another
    /// input; without it such a run is refused.
    pub force: bool,
}

/// The result of [`run_prediction`].
#[derive(Debug)]
pub struct PredictOutcome {
    /// What was written to `summary.json`.
    pub summary: PredictionSummary,
    /// The contact scores.
    pub prediction: Prediction,
    /// The score report, when scored.
    pub score: Option<ScoreReport>,
}

/// Metadata stored in the model file (all values are strings, as
/// safetensors requires): `fadca_version`, `model`, `heads`, `head_dim`
/// (factored only), `L`, `query_name`, `query_sequence`, `msa`, `alphabet`,
/// `msa_sha256`, `name`, `hyperparameters` (JSON) and, for a model started
/// from shared values (`--values`), `values_source`, `values_sha256` and
/// `values_trained` (`fixed` or `fine-tuned`).
pub fn model_metadata(
    alignment: &Alignment,
    msa_sha256: &str,
    config: &TrainConfig,
    name: &str,
) -> HashMap<String, String> {
    let mut m = HashMap::new();
    m.insert("fadca_version".into(), env!("CARGO_PKG_VERSION").into());
    m.insert("model".into(), config.model.name().into());
    if config.model == ModelKind::Factored {
        m.insert("heads".into(), config.heads.to_string());
        m.insert("head_dim".into(), config.head_dim.to_string());
    }
    m.insert("L".into(), alignment.length().to_string());
    m.insert("query_name".into(), alignment.query_name().into());
    m.insert("query_sequence".into(), alignment.query_sequence.clone());
    m.insert("msa".into(), alignment.path.display().to_string());
    m.insert("msa_sha256".into(), msa_sha256.into());
    m.insert(
        "alphabet".into(),
        String::from_utf8_lossy(ALPHABET).into_owned(),
    );
    m.insert("name".into(), name.into());
    if let Some(v) = config
        .values
        .as_ref()
        .filter(|_| config.model == ModelKind::Factored)
    {
        m.insert("values_source".into(), v.source.clone());
        m.insert("values_sha256".into(), v.sha256.clone());
        m.insert(
            "values_trained".into(),
            if v.trained { "fine-tuned" } else { "fixed" }.into(),
        );
    }
    m.insert(
        "hyperparameters".into(),
        serde_json::to_string(config).unwrap_or_default(),
    );
    m
}

/// Resource limits of a run (robustness): the memory guard and
/// subsampling. The default guards against the available memory and keeps
/// every sequence.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Refuse to train when the estimated peak (see
    /// [`crate::model::memory::estimate_training_bytes`]) exceeds this many bytes;
    /// `None`: the memory available on the device
    /// ([`crate::model::memory::available_bytes`]), no check when unknown.
    pub max_memory: Option<u64>,
    /// Train on at most this many sequences, sampled by weight with the seed
    /// ([`crate::weights::sample_by_weight`]; the query is always kept), then
    /// re-weighted; `None`: all.
    pub max_seqs: Option<usize>,
}

/// Runs one prediction (see the module documentation) with the default
/// [`Limits`].
pub fn run_prediction(
    request: &PredictRequest,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<PredictOutcome> {
    run_prediction_with(request, &Limits::default(), on_progress)
}

/// Runs one prediction (see the module documentation): one function per
/// stage. Input problems (alignment, structure, hyper-parameters, a run that
/// would not fit in memory) are reported before training. `on_progress` is
/// called after every optimiser step ([`Progress`]). A pending
/// SIGINT/SIGTERM ([`crate::runtime::interrupt`]) stops the run between
/// stages and between optimiser steps, before anything is written. When
/// training diverges for good, `summary.json` records the failure and the
/// loss curve (`"status": "diverged"`) and the error is returned.
pub fn run_prediction_with(
    request: &PredictRequest,
    limits: &Limits,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<PredictOutcome> {
    let start = Instant::now();
    request.config.validate()?;
    validate_name(&request.name)?;
    let mut timings = Timings::default();

    let weighed = read_weighed(request, limits, &mut timings)?;
    let choice = choose(request, limits, &weighed)?;
    let request = &request.for_model(&choice);
    // The structure is loaded before training so that a bad one fails early.
    let native = timed(&mut timings.score, || {
        load_native_contacts(request, &weighed)
    })?;
    let output = output::prepare(request, &weighed.msa_sha256, weighed.alignment.length())?;

    let trained = timed(&mut timings.train, || {
        train_model(request, &weighed, on_progress)
    });
    let (model, report) = match trained {
        Ok(trained) => trained,
        Err(err) => return Err(output::record_divergence(request, &weighed, output, err)),
    };
    interrupt::check("training")?;
    let (model, prediction) = timed(&mut timings.contacts, || couplings(model))?;
    let trained = Trained {
        weighed,
        choice,
        model,
        report,
        prediction,
        timings: timings.clone(),
    };
    output::write(request, output, &trained, timings, native, start, 0.0)
}

/// A prediction computed in memory, without an output folder (stages read
/// to couplings): what [`save_prediction`] writes.
#[derive(Debug)]
pub struct Trained {
    /// The alignment trained on, with its weights.
    pub weighed: Weighed,
    /// Which model was trained, and why.
    pub choice: ModelChoice,
    /// The trained model, on the CPU (exactly the tensors its file holds).
    pub model: Model,
    /// What training reported.
    pub report: TrainReport,
    /// The contact scores.
    pub prediction: Prediction,
    /// Seconds per stage so far (`total`: all of them, wall time).
    pub timings: Timings,
}

impl Trained {
    /// What `summary.json` would record of this prediction before it is
    /// written anywhere: no output files, no score.
    pub fn summary(&self, request: &PredictRequest) -> PredictionSummary {
        summarise(
            &request.for_model(&self.choice),
            &self.choice,
            &self.weighed,
            &self.report,
            self.timings.clone(),
            Vec::new(),
            &self.prediction,
            None,
        )
    }
}

/// Runs the computing stages of [`run_prediction_with`] (read, weigh, check
/// memory, train, couplings) without touching any output folder:
/// `request.output_dir`, `model_path`, `save_couplings`, `native` and
/// `force` are not used (see [`save_prediction`]). Same inputs, same
/// [`Trained::prediction`] as `fadca predict`.
pub fn compute_prediction(
    request: &PredictRequest,
    limits: &Limits,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Trained> {
    let start = Instant::now();
    request.config.validate()?;
    validate_name(&request.name)?;
    let mut timings = Timings::default();
    let weighed = read_weighed(request, limits, &mut timings)?;
    timings.total = start.elapsed().as_secs_f64();
    train_weighed(request, limits, weighed, timings, on_progress)
}

/// Stages **read** and **weigh** of `request.msa` (with the `--max-seqs`
/// sample of `limits`), adding their seconds to `timings`; a pending signal
/// stops after either.
pub fn read_weighed(
    request: &PredictRequest,
    limits: &Limits,
    timings: &mut Timings,
) -> Result<Weighed> {
    let (alignment, msa_sha256) = timed(&mut timings.read, || read(request))?;
    interrupt::check("reading the alignment")?;
    let weighed = timed(&mut timings.weights, || {
        weigh(request, limits, alignment, msa_sha256)
    })?;
    interrupt::check("computing the weights")?;
    Ok(weighed)
}

/// Stages **check memory**, **train** and **couplings** on an alignment
/// already read and weighed (by [`read_weighed`]); `timings` holds the
/// seconds spent before (its `total` too) and gets these stages' added.
pub fn train_weighed(
    request: &PredictRequest,
    limits: &Limits,
    weighed: Weighed,
    mut timings: Timings,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Trained> {
    let start = Instant::now();
    request.config.validate()?;
    validate_name(&request.name)?;
    let choice = choose(request, limits, &weighed)?;
    let request = &request.for_model(&choice);
    let (model, report) = timed(&mut timings.train, || {
        train_model(request, &weighed, on_progress)
    })?;
    interrupt::check("training")?;
    let (model, prediction) = timed(&mut timings.contacts, || couplings(model))?;
    timings.total += start.elapsed().as_secs_f64();
    Ok(Trained {
        weighed,
        choice,
        model,
        report,
        prediction,
        timings,
    })
}

/// Writes the folder of a prediction computed in memory, as
/// [`run_prediction_with`] writes it (the same function writes both):
/// loads the known contacts of `request.native`, locks
/// `request.output_dir`, refuses a prediction of another input there
/// unless `request.force`, writes the model to `request.model_path`, the
/// contact files, `couplings.npy` (with `request.save_couplings`), the score
/// files and `summary.json`, then publishes the folder as a whole.
pub fn save_prediction(request: &PredictRequest, trained: &Trained) -> Result<PredictOutcome> {
    let start = Instant::now();
    validate_name(&request.name)?;
    let request = &request.for_model(&trained.choice);
    let mut timings = trained.timings.clone();
    let native = timed(&mut timings.score, || {
        load_native_contacts(request, &trained.weighed)
    })?;
    let output = output::prepare(
        request,
        &trained.weighed.msa_sha256,
        trained.weighed.alignment.length(),
    )?;
    let before = trained.timings.total;
    output::write(request, output, trained, timings, native, start, before)
}

/// Runs `stage`, adding its wall seconds to `seconds`.
fn timed<T>(seconds: &mut f64, stage: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = stage();
    *seconds += t.elapsed().as_secs_f64();
    out
}

/// Stage **read**: the alignment, with at least two columns, and the
/// SHA-256 of its file.
fn read(request: &PredictRequest) -> Result<(Alignment, String)> {
    let alignment = read_alignment(&request.msa, &request.read_options)?;
    if alignment.length() < 2 {
        return Err(input_error(format!(
            "alignment {}: {} column(s) left after reading; training needs at least 2",
            request.msa.display(),
            alignment.length()
        )));
    }
    Ok((alignment, sha256_file(&request.msa)?))
}

/// The alignment trained on, with its weights (stages read and weigh).
#[derive(Debug, Clone)]
pub struct Weighed {
    /// The alignment as read (and subsampled).
    pub alignment: Alignment,
    /// SHA-256 of the alignment file.
    pub msa_sha256: String,
    /// One weight per kept sequence.
    pub weights: Vec<f64>,
    /// M_eff, the sum of the weights.
    pub meff: f64,
    /// N before `--max-seqs` subsampling, when it applied.
    pub subsampled_from: Option<usize>,
}

/// Stage **weigh**: sequence weights, and the `--max-seqs` sample (drawn by
/// weight, then weighed again).
fn weigh(
    request: &PredictRequest,
    limits: &Limits,
    mut alignment: Alignment,
    msa_sha256: String,
) -> Result<Weighed> {
    let mut weights = request.weighting.weights(&alignment);
    let mut subsampled_from = None;
    if let Some(k) = limits.max_seqs {
        if k == 0 {
            return Err(input_error("--max-seqs must be at least 1"));
        }
        if k < alignment.depth() {
            let chosen = sample_by_weight(&weights, k, request.config.seed);
            subsampled_from = Some(alignment.depth());
            alignment.states = alignment.states.select(ndarray::Axis(0), &chosen);
            alignment.names = chosen.iter().map(|&i| alignment.names[i].clone()).collect();
            alignment.stats.n_kept = alignment.depth();
            weights = request.weighting.weights(&alignment);
        }
    }
    let meff = effective_count(&weights);
    Ok(Weighed {
        alignment,
        msa_sha256,
        weights,
        meff,
        subsampled_from,
    })
}

/// The known contacts to score against, with the structure's mapping and
/// the SHA-256 of the file they come from.
pub(super) type Native = (NativeContacts, Option<ResidueMapping>, NativeSource, String);

/// Loads the structure or contact list to score against, if any.
fn load_native_contacts(request: &PredictRequest, weighed: &Weighed) -> Result<Option<Native>> {
    let Some(source) = &request.native else {
        return Ok(None);
    };
    let (native, mapping, source) = load_native(
        &weighed.alignment.query_sequence,
        source,
        request.force_mapping,
    )?;
    let sha256 = sha256_file(source.path())?;
    Ok(Some((native, mapping, source, sha256)))
}

/// Stage **train**: the model and its training report.
fn train_model(
    request: &PredictRequest,
    weighed: &Weighed,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(Model, TrainReport)> {
    train_until_converged(
        &weighed.alignment.states,
        &weighed.weights,
        &request.config,
        &Prediction::top_l_pairs,
        on_progress,
    )
}

/// Stage **couplings**: the trained model on the CPU (exactly the tensors
/// its file holds) and its contact scores.
fn couplings(trained: Model) -> Result<(Model, Prediction)> {
    let model = trained.to_cpu()?;
    drop(trained);
    let prediction = Prediction::of_model(&model);
    Ok((model, prediction))
}

/// What `summary.json` records of the run.
#[allow(clippy::too_many_arguments)]
fn summarise(
    request: &PredictRequest,
    choice: &ModelChoice,
    weighed: &Weighed,
    report: &TrainReport,
    timings: Timings,
    outputs: Vec<String>,
    prediction: &Prediction,
    score: Option<&ScoreReport>,
) -> PredictionSummary {
    let alignment = &weighed.alignment;
    let config = &request.config;
    let s = &alignment.stats;
    PredictionSummary {
        name: request.name.clone(),
        msa: MsaInfo {
            path: request.msa.display().to_string(),
            format: alignment.format.name().into(),
            keep_query_gaps: request.read_options.keep_query_gaps,
            max_gap_fraction: request.read_options.max_gap_fraction,
            sha256: weighed.msa_sha256.clone(),
        },
        n_read: s.n_read,
        n_kept: s.n_kept,
        n_dropped_gappy: s.n_dropped_gappy,
        n_columns: s.n_columns,
        n_columns_dropped: s.n_columns_dropped,
        length: alignment.length(),
        meff: weighed.meff,
        theta: request.weighting.theta(),
        query: QueryInfo {
            name: alignment.query_name().into(),
            sequence: alignment.query_sequence.clone(),
        },
        model_requested: choice.requested,
        model: config.model,
        model_reason: choice.reason.clone(),
        hyperparameters: {
            let mut resolved = config.resolved(alignment.depth(), alignment.length(), weighed.meff);
            if config.model != ModelKind::Factored {
                // `--values` under `--model auto` that chose the Potts model: unused.
                resolved.values = None;
            }
            resolved
        },
        requested_hyperparameters: config.clone(),
        loss_curve: report.loss_curve.clone(),
        restarts: report.restarts.clone(),
        subsampled_from: weighed.subsampled_from,
        status: "ok",
        steps: report.steps,
        max_steps: report.max_steps,
        stop_reason: report.stop_reason,
        stop_reason_text: report.stop_reason.describe(&config.stop),
        convergence_checks: report.checks.clone(),
        timings,
        device: report.device.clone(),
        threads: request.threads,
        version: env!("CARGO_PKG_VERSION").into(),
        model_path: request.model_path.display().to_string(),
        output_dir: request.output_dir.display().to_string(),
        outputs,
        top_contacts: top_contacts(prediction, &alignment.query_sequence),
        native_source: score.map(|r| r.native_source.clone()),
        native_sha256: score.and_then(|r| r.native_sha256.clone()),
        mapping: score.and_then(|r| r.mapping.clone()),
        precision: score.map(|r| r.precision.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_file_names() {
        assert!(validate_name("PF00014").is_ok());
        for bad in ["", ".", "..", "a/b"] {
            let err = validate_name(bad).unwrap_err();
            assert!(crate::error::is_input_error(&err), "{bad}");
        }
    }
}
