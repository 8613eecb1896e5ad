//! One prediction run, end to end: read the alignment, weight it, train the
//! model, extract contact scores, write every file of SPEC §5 and (with a
//! structure or contact list) score the prediction.
//!
//! [`run_prediction`] is what `fadca predict` runs, and what `fadca batch`
//! runs for each family. Files written into the output folder, each
//! atomically:
//!
//! | file | content |
//! |---|---|
//! | `contacts.tsv` | `i j score`, every pair `i < j`, in rank order |
//! | `contacts.mat` | L×L symmetric score matrix (CCMpred layout) |
//! | `contacts.rr` | CASP RR with the query sequence, `p` = min–max scaled score |
//! | `couplings.npy` | optional: the raw trained **asymmetric** `J[i][j][a][b] = J_ij(a,b)`, float32 L×L×21×21 (before symmetrising and gauging) |
//! | `score.json`, `contact_map.png` | with a structure or contact list, as `fadca score` writes them |
//! | `summary.json` | written **last**: a folder with a parseable `summary.json` is complete |
//!
//! The model is saved (safetensors, with metadata) to
//! [`PredictRequest::model_path`]. A stale `summary.json` in the output
//! folder is removed before anything else is written, so that a run killed
//! half-way never leaves a folder that looks complete.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use tch::Device;

use crate::alignment::{ALPHABET, Alignment, ReadOptions, read_alignment};
use crate::evaluate::{
    NativeContacts, NativeSource, PrecisionTable, ScoreReport, load_native, score_with_native,
    write_score_outputs,
};
use crate::input_error;
use crate::model::{Model, ModelKind, Progress, Restart, TrainConfig, TrainingDiverged, train};
use crate::output::contact_files::{Prediction, ScoredPair, write_mat, write_rr, write_tsv};
use crate::output::write_atomic;
use crate::structure::ResidueMapping;
use crate::weights::{effective_count, sample_by_weight, sequence_weights};

/// File names in a prediction folder.
pub mod files {
    /// Ranked contact list.
    pub const CONTACTS_TSV: &str = "contacts.tsv";
    /// CCMpred-style matrix.
    pub const CONTACTS_MAT: &str = "contacts.mat";
    /// CASP RR.
    pub const CONTACTS_RR: &str = "contacts.rr";
    /// Raw trained couplings (optional).
    pub const COUPLINGS_NPY: &str = "couplings.npy";
    /// Run summary, written last.
    pub const SUMMARY_JSON: &str = "summary.json";
    /// Score report (with a structure or contact list).
    pub const SCORE_JSON: &str = "score.json";
    /// Contact map plot (with a structure or contact list).
    pub const CONTACT_MAP_PNG: &str = "contact_map.png";
}

/// Where to train: `auto` picks CUDA when libtorch sees a GPU, else the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, otherwise the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device 0 (an error when there is none).
    Cuda,
}

/// Resolves a device choice; `cuda` without a usable GPU is an input error.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto if crate::cuda::available(false) => Ok(Device::Cuda(0)),
        DeviceChoice::Auto => Ok(Device::Cpu),
        DeviceChoice::Cuda if crate::cuda::available(true) => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(input_error(match crate::cuda::load_backend() {
            Err(why) => format!(
                "--device cuda: cannot load libtorch's CUDA backend ({why}); use --device cpu or auto"
            ),
            Ok(()) => {
                "--device cuda: libtorch sees no CUDA device (use --device cpu or auto)".to_string()
            }
        })),
    }
}

/// Human name of a device: `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Number of CPU threads to use by default: all cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sets libtorch's intra-op thread count and sizes rayon's global pool
/// (the latter only takes effect the first time; later calls keep it).
/// `0` is an input error.
pub fn configure_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(input_error("--threads must be at least 1"));
    }
    tch::set_num_threads(threads as i32);
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    Ok(())
}

/// Extensions removed from an alignment file name to get the family name.
const MSA_EXTENSIONS: [&str; 11] = [
    "fasta",
    "fas",
    "fa",
    "faa",
    "a2m",
    "a3m",
    "sto",
    "stockholm",
    "aln",
    "msa",
    "txt",
];

/// The family name of an alignment file: its file name without `.gz` and
/// without one alignment extension (`.fasta`, `.fa`, `.a2m`, `.a3m`, `.sto`,
/// `.aln`, …), e.g. `PF00014.a3m.gz` → `PF00014`.
pub fn family_name(msa: &Path) -> String {
    let mut name = msa
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "msa".into());
    if let Some(stem) = name.strip_suffix(".gz") {
        name = stem.to_string();
    }
    if let Some((stem, ext)) = name.rsplit_once('.')
        && !stem.is_empty()
        && MSA_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
    {
        name = stem.to_string();
    }
    if name.is_empty() { "msa".into() } else { name }
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
    /// Identity threshold of the sequence weights (1 = no weighting).
    pub theta: f64,
    /// Family name (recorded in the summary and the model).
    pub name: String,
    /// Output folder (created if needed).
    pub output_dir: PathBuf,
    /// Where the model is saved (its folder is created if needed).
    pub model_path: PathBuf,
    /// Training hyper-parameters (model kind, device and seed included).
    pub config: TrainConfig,
    /// CPU threads in use (recorded; see [`configure_threads`]).
    pub threads: usize,
    /// Also write `couplings.npy`.
    pub save_couplings: bool,
    /// Known contacts to score against, if any.
    pub native: Option<NativeSource>,
    /// Score even when the structure maps poorly onto the query.
    pub force_mapping: bool,
}

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

/// Minimum separation of the contacts shown in the report's top list.
pub const TOP_CONTACTS_MIN_SEPARATION: usize = 6;
/// Number of contacts shown in the report's top list.
pub const TOP_CONTACTS: usize = 10;

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
    /// Model kind (`factored` or `potts`).
    pub model: ModelKind,
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
    /// Optimiser steps.
    pub steps: usize,
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
    /// The best contacts with separation ≥ 6.
    pub top_contacts: Vec<TopContact>,
    /// Where the known contacts came from (when scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_source: Option<NativeSource>,
    /// Structure-to-query mapping (when scored against a structure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<ResidueMapping>,
    /// `precision.<class>.<top>` (when scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<PrecisionTable>,
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

/// Contact scores of a model (SPEC §1: symmetrise, gauge, Frobenius, APC),
/// as a prediction over residues 1..L.
pub fn contacts_from_model(model: &Model) -> Prediction {
    Prediction::from_matrix(&model.contact_scores())
}

/// Writes `contacts.tsv`, `contacts.mat` and `contacts.rr` (with `sequence`
/// when known) into `dir`; returns the file names.
pub fn write_contact_files(
    dir: &Path,
    prediction: &Prediction,
    sequence: Option<&str>,
) -> Result<Vec<String>> {
    write_tsv(&dir.join(files::CONTACTS_TSV), prediction)?;
    write_mat(&dir.join(files::CONTACTS_MAT), prediction)?;
    write_rr(&dir.join(files::CONTACTS_RR), prediction, sequence)?;
    Ok(vec![
        files::CONTACTS_TSV.into(),
        files::CONTACTS_MAT.into(),
        files::CONTACTS_RR.into(),
    ])
}

/// Creates a folder (and its parents); failure is an input error naming it.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| input_error(format!("cannot create folder {}: {e}", dir.display())))
}

/// The best `TOP_CONTACTS` pairs with separation ≥ 6 with their letters.
pub fn top_contacts(prediction: &Prediction, query_sequence: &str) -> Vec<TopContact> {
    let letters: Vec<char> = query_sequence.chars().collect();
    let letter = |i: usize| letters.get(i - 1).copied().unwrap_or('?');
    prediction
        .top(TOP_CONTACTS, TOP_CONTACTS_MIN_SEPARATION, None)
        .into_iter()
        .map(|ScoredPair { i, j, score }| TopContact {
            i,
            j,
            residue_i: letter(i),
            residue_j: letter(j),
            score,
        })
        .collect()
}

/// Metadata stored in the model file (all values are strings, as
/// safetensors requires): `fadca_version`, `model`, `heads`, `head_dim`
/// (factored only), `L`, `query_name`, `query_sequence`, `msa`, `alphabet`,
/// `name` and `hyperparameters` (JSON).
pub fn model_metadata(
    alignment: &Alignment,
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
    m.insert(
        "alphabet".into(),
        String::from_utf8_lossy(ALPHABET).into_owned(),
    );
    m.insert("name".into(), name.into());
    m.insert(
        "hyperparameters".into(),
        serde_json::to_string(config).unwrap_or_default(),
    );
    m
}

/// Moves a trained model to the CPU as float32 — exactly the tensors
/// [`Model::save`] writes, so that contacts computed from it equal those
/// computed from the saved file ([`Model::load`]).
pub fn to_cpu(model: &Model) -> Result<Model> {
    let named = model
        .named_tensors()
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    Model::from_named_tensors(model.kind(), named)
}

fn seconds(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// Resource limits of a run (robustness): the memory guard and
/// subsampling. The default guards against the available memory and keeps
/// every sequence.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Refuse to train when the estimated peak (see
    /// [`crate::memory::estimate_training_bytes`]) exceeds this many bytes;
    /// `None`: the memory available on the device
    /// ([`crate::memory::available_bytes`]), no check when unknown.
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

/// Runs one prediction (see the module documentation). Input problems
/// (alignment, structure, hyper-parameters, a run that would not fit in
/// memory) are reported before training. `on_progress` is called after
/// every optimiser step ([`Progress`]). A pending SIGINT/SIGTERM
/// ([`crate::interrupt`]) stops the run between stages and between
/// optimiser steps, before anything is written. When training diverges for
/// good, `summary.json` records the failure and the loss curve (`"status":
/// "diverged"`) and the error is returned.
pub fn run_prediction_with(
    request: &PredictRequest,
    limits: &Limits,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<PredictOutcome> {
    let start = Instant::now();
    let config = &request.config;
    config.validate()?;
    validate_name(&request.name)?;
    let mut timings = Timings::default();

    let t = Instant::now();
    let alignment = read_alignment(&request.msa, &request.read_options)?;
    timings.read = seconds(t);
    if alignment.length() < 2 {
        return Err(crate::input_error(format!(
            "alignment {}: {} column(s) left after reading; training needs at least 2",
            request.msa.display(),
            alignment.length()
        )));
    }

    crate::interrupt::check("reading the alignment")?;

    let t = Instant::now();
    let mut alignment = alignment;
    let mut weights = sequence_weights(alignment.states.view(), request.theta);
    let mut subsampled_from = None;
    if let Some(k) = limits.max_seqs {
        if k == 0 {
            return Err(input_error("--max-seqs must be at least 1"));
        }
        if k < alignment.depth() {
            let chosen = sample_by_weight(&weights, k, config.seed);
            subsampled_from = Some(alignment.depth());
            alignment.states = alignment.states.select(ndarray::Axis(0), &chosen);
            alignment.names = chosen.iter().map(|&i| alignment.names[i].clone()).collect();
            alignment.stats.n_kept = alignment.depth();
            weights = sequence_weights(alignment.states.view(), request.theta);
        }
    }
    let meff = effective_count(&weights);
    timings.weights = seconds(t);
    crate::interrupt::check("computing the weights")?;

    let (limit, limit_source) = match limits.max_memory {
        Some(bytes) => (Some(bytes), "--max-memory"),
        None => (
            crate::memory::available_bytes(config.device),
            "the memory available on the device; raise or lower with --max-memory",
        ),
    };
    if let Some(limit) = limit {
        crate::memory::check_training_memory(
            alignment.depth(),
            alignment.length(),
            config.model,
            config.device,
            config.objective,
            config.heads,
            config.head_dim,
            config.schedule(alignment.depth()).1,
            limit,
            limit_source,
        )
        .with_context(|| format!("alignment {}", request.msa.display()))?;
    }

    // Load the structure now so that a bad one fails before training.
    let t = Instant::now();
    let native = match &request.native {
        Some(source) => Some(load_native(
            &alignment.query_sequence,
            source,
            request.force_mapping,
        )?),
        None => None,
    };
    timings.score = seconds(t);

    let dir = &request.output_dir;
    create_dir(dir)?;
    if let Some(parent) = request.model_path.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir(parent)?;
    }
    let summary_path = dir.join(files::SUMMARY_JSON);
    if summary_path.exists() {
        std::fs::remove_file(&summary_path)
            .with_context(|| format!("removing the stale {}", summary_path.display()))?;
    }

    let t = Instant::now();
    let (trained, report) = match train(&alignment.states, &weights, config, on_progress) {
        Ok(done) => done,
        Err(err) => {
            if let Some(diverged) = err.downcast_ref::<TrainingDiverged>() {
                write_diverged_summary(&summary_path, request, &alignment, diverged)?;
            }
            return Err(err);
        }
    };
    timings.train = seconds(t);
    crate::interrupt::check("training")?;

    let t = Instant::now();
    let model = to_cpu(&trained)?;
    drop(trained);
    let prediction = contacts_from_model(&model);
    // The L²q² couplings as a Rust array only when they are to be written.
    let couplings = request.save_couplings.then(|| model.couplings());
    timings.contacts = seconds(t);

    let t = Instant::now();
    model.save(
        &request.model_path,
        model_metadata(&alignment, config, &request.name),
    )?;
    let mut outputs = write_contact_files(dir, &prediction, Some(&alignment.query_sequence))?;
    if let Some(couplings) = couplings {
        write_atomic(&dir.join(files::COUPLINGS_NPY), |w| {
            ndarray_npy::WriteNpyExt::write_npy(&couplings, w)
                .context("writing the couplings as .npy")?;
            Ok(())
        })?;
        outputs.push(files::COUPLINGS_NPY.into());
    }
    drop(model);
    timings.write = seconds(t);

    let t = Instant::now();
    let score = match native {
        Some((native, mapping, source)) => {
            let report = score_native(request, &alignment, &prediction, native, mapping, source)?;
            outputs.push(files::SCORE_JSON.into());
            outputs.push(files::CONTACT_MAP_PNG.into());
            Some(report)
        }
        None => None,
    };
    timings.score += seconds(t);
    outputs.push(files::SUMMARY_JSON.into());
    timings.total = seconds(start);

    let s = &alignment.stats;
    let summary = PredictionSummary {
        name: request.name.clone(),
        msa: MsaInfo {
            path: request.msa.display().to_string(),
            format: alignment.format.name().into(),
            keep_query_gaps: request.read_options.keep_query_gaps,
            max_gap_fraction: request.read_options.max_gap_fraction,
        },
        n_read: s.n_read,
        n_kept: s.n_kept,
        n_dropped_gappy: s.n_dropped_gappy,
        n_columns: s.n_columns,
        n_columns_dropped: s.n_columns_dropped,
        length: alignment.length(),
        meff,
        theta: request.theta,
        query: QueryInfo {
            name: alignment.query_name().into(),
            sequence: alignment.query_sequence.clone(),
        },
        model: config.model,
        hyperparameters: config.resolved(alignment.depth(), alignment.length(), meff),
        requested_hyperparameters: config.clone(),
        loss_curve: report.loss_curve,
        restarts: report.restarts,
        subsampled_from,
        status: "ok",
        steps: report.steps,
        timings,
        device: report.device,
        threads: request.threads,
        version: env!("CARGO_PKG_VERSION").into(),
        model_path: request.model_path.display().to_string(),
        output_dir: dir.display().to_string(),
        outputs,
        top_contacts: top_contacts(&prediction, &alignment.query_sequence),
        native_source: score.as_ref().map(|r| r.native_source.clone()),
        mapping: score.as_ref().and_then(|r| r.mapping.clone()),
        precision: score.as_ref().map(|r| r.precision.clone()),
    };
    write_atomic(&summary_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    Ok(PredictOutcome {
        summary,
        prediction,
        score,
    })
}

/// What `summary.json` holds when training diverged for good (no other
/// output was written).
#[derive(serde::Serialize)]
struct DivergedSummary<'a> {
    status: &'static str,
    error: &'a str,
    name: &'a str,
    msa: String,
    n_kept: usize,
    length: usize,
    hyperparameters: &'a TrainConfig,
    loss_curve: &'a [f64],
    restarts: &'a [Restart],
    version: &'static str,
}

fn write_diverged_summary(
    path: &Path,
    request: &PredictRequest,
    alignment: &Alignment,
    diverged: &TrainingDiverged,
) -> Result<()> {
    let summary = DivergedSummary {
        status: "diverged",
        error: &diverged.message,
        name: &request.name,
        msa: request.msa.display().to_string(),
        n_kept: alignment.depth(),
        length: alignment.length(),
        hyperparameters: &request.config,
        loss_curve: &diverged.loss_curve,
        restarts: &diverged.restarts,
        version: env!("CARGO_PKG_VERSION"),
    };
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)?;
        w.write_all(b"\n")?;
        Ok(())
    })
}

/// Scores the prediction and writes `score.json` and `contact_map.png` as
/// `fadca score` does.
fn score_native(
    request: &PredictRequest,
    alignment: &Alignment,
    prediction: &Prediction,
    native: NativeContacts,
    mapping: Option<ResidueMapping>,
    source: NativeSource,
) -> Result<ScoreReport> {
    let mut report = score_with_native(prediction, native, mapping, source);
    report.inputs.insert(
        "prediction".into(),
        serde_json::json!({
            "path": request.output_dir.join(files::CONTACTS_TSV).display().to_string()
        }),
    );
    report.inputs.insert(
        "msa".into(),
        serde_json::json!({
            "path": request.msa.display().to_string(),
            "keep_query_gaps": request.read_options.keep_query_gaps,
            "query": alignment.query_name(),
        }),
    );
    write_score_outputs(&request.output_dir, &report, prediction)?;
    Ok(report)
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
        out.push_str(&format!(
            "model     {}: {}lambda_J {}, lambda_h {}, lr {}, {} epochs of batch {} ({} steps), seed {}\n",
            self.model.name(),
            shape,
            hp.lambda_j.unwrap_or_default(),
            hp.lambda_h,
            hp.learning_rate,
            hp.epochs.unwrap_or_default(),
            hp.batch_size.unwrap_or_default(),
            self.steps,
            hp.seed
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
            self.top_contacts.len(),
            TOP_CONTACTS_MIN_SEPARATION
        ));
        out.push_str(&format!(
            "{:>6} {:>6}  {:<5} {:>10}\n",
            "i", "j", "aa", "score"
        ));
        for c in &self.top_contacts {
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
    fn family_names() {
        assert_eq!(family_name(Path::new("a/b/PF00014.a3m.gz")), "PF00014");
        assert_eq!(family_name(Path::new("example.fasta")), "example");
        assert_eq!(family_name(Path::new("x.FASTA")), "x");
        assert_eq!(family_name(Path::new("1abc.A.sto")), "1abc.A");
        assert_eq!(family_name(Path::new("family")), "family");
        assert_eq!(family_name(Path::new("data.v2")), "data.v2");
        assert_eq!(family_name(Path::new(".fasta")), ".fasta");
    }

    #[test]
    fn names_must_be_file_names() {
        assert!(validate_name("PF00014").is_ok());
        for bad in ["", ".", "..", "a/b"] {
            let err = validate_name(bad).unwrap_err();
            assert!(crate::error::is_input_error(&err), "{bad}");
        }
    }

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
