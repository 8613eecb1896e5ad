//! Values shared by many families (`fadca train-values`, issue #19): the
//! families of a folder or manifest (as `fadca batch` lists them) are read
//! and weighed, one set of values `V^h` is trained on all of them with
//! per-family queries, keys and fields ([`crate::model::joint`]), and the
//! values are written as a values file ([`crate::model::save_values`]) that
//! `fadca predict --values` starts from, with their figure (`values.png`,
//! [`crate::plot::ValuesFigure`]) beside it.
//!
//! The run checkpoints every `checkpoint_every` steps to
//! `<output>.checkpoint`; `--resume` takes up a checkpoint made for the
//! same families and settings and ends with the values a run never
//! stopped would have made. The checkpoint is removed once the values file
//! is written.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use ndarray::Array2;

use crate::alignment::{ReadOptions, read_alignment};
use crate::batch::read_families;
use crate::error::input_error;
use crate::io::sha256_file;
use crate::model::joint::{JointConfig, JointFamily, JointReport, train_joint};
use crate::model::save_values;
use crate::plot::{ValuesFigure, write_figure};
use crate::weights::{Weighting, effective_count, sample_by_weight};

/// Everything `fadca train-values` needs.
#[derive(Debug, Clone)]
pub struct TrainValuesRequest {
    /// A folder of alignments or a TSV manifest (as `fadca batch` takes them).
    pub families: PathBuf,
    /// Names of families to leave out (e.g. the one held out of a
    /// leave-one-out fold).
    pub exclude: Vec<String>,
    /// The values file to write.
    pub output: PathBuf,
    /// The figure of the values to write (PNG).
    pub figure: PathBuf,
    /// How to read the alignments.
    pub read_options: ReadOptions,
    /// How to weight their sequences.
    pub weighting: Weighting,
    /// Train on at most this many sequences per family (sampled by weight
    /// with the seed, the query kept).
    pub max_seqs: Option<usize>,
    /// The joint run's hyper-parameters.
    pub config: JointConfig,
    /// CPU threads of each family's kernels.
    pub threads: usize,
    /// Take up a checkpoint left by an earlier, stopped run.
    pub resume: bool,
}

/// What a finished run made.
#[derive(Debug)]
pub struct TrainValuesOutcome {
    /// The families trained on: name, N, L, M_eff.
    pub families: Vec<(String, usize, usize, f64)>,
    /// What the joint run reported.
    pub report: JointReport,
}

/// One family read and weighed.
struct Read {
    name: String,
    states: Array2<u8>,
    weights: Vec<f64>,
    msa_sha256: String,
}

/// The checkpoint of a run writing `output`: `<output>.checkpoint`.
pub fn checkpoint_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

/// The figure written beside a values file by default: the same path with
/// extension `.png`.
pub fn default_figure_path(output: &Path) -> PathBuf {
    output.with_extension("png")
}

/// Runs `fadca train-values` (see the module documentation).
/// `on_step(step, steps, loss)` is called after every optimiser step.
pub fn train_values(
    request: &TrainValuesRequest,
    on_step: &mut dyn FnMut(usize, usize, f64),
) -> Result<TrainValuesOutcome> {
    let read = read_all(request)?;
    let families: Vec<JointFamily> = read
        .iter()
        .map(|r| JointFamily {
            states: &r.states,
            weights: &r.weights,
        })
        .collect();
    let inputs: Vec<(&str, &str)> = read
        .iter()
        .map(|r| (r.name.as_str(), r.msa_sha256.as_str()))
        .collect();
    let fingerprint = serde_json::to_string(&(&inputs, request.max_seqs))?;
    let checkpoint = checkpoint_path(&request.output);
    if !request.resume && checkpoint.exists() {
        std::fs::remove_file(&checkpoint)?;
    }
    let (model, report) = train_joint(
        &families,
        &request.config,
        request.threads,
        Some((&checkpoint, &fingerprint)),
        on_step,
    )?;
    let mut metadata = HashMap::new();
    metadata.insert("fadca_version".into(), env!("CARGO_PKG_VERSION").into());
    metadata.insert("families".into(), serde_json::to_string(&inputs)?);
    metadata.insert(
        "hyperparameters".into(),
        serde_json::to_string(&request.config)?,
    );
    metadata.insert(
        "max_seqs".into(),
        request.max_seqs.map_or("all".into(), |k| k.to_string()),
    );
    save_values(&request.output, &model.value, metadata)?;
    let values = {
        let v = model.value.detach().contiguous();
        let mut out = vec![0.0f32; v.numel()];
        v.copy_data(&mut out, v.numel());
        out
    };
    write_figure(&request.figure, &ValuesFigure::new(&values), false)?;
    std::fs::remove_file(&checkpoint).ok();
    let families = read
        .iter()
        .map(|r| {
            let (n, l) = r.states.dim();
            (r.name.clone(), n, l, effective_count(&r.weights))
        })
        .collect();
    Ok(TrainValuesOutcome { families, report })
}

/// Lists, reads and weighs the families (all of them, before any training:
/// a bad one fails the run at once).
fn read_all(request: &TrainValuesRequest) -> Result<Vec<Read>> {
    let listed = read_families(&request.families)?;
    for name in &request.exclude {
        if !listed.iter().any(|f| &f.name == name) {
            return Err(input_error(format!(
                "--exclude {name}: no such family in {}",
                request.families.display()
            )));
        }
    }
    let mut out = Vec::new();
    for family in listed {
        if request.exclude.contains(&family.name) {
            continue;
        }
        let msa = match (&family.msa, &family.problem) {
            (Some(msa), None) => msa,
            (_, problem) => {
                return Err(input_error(format!(
                    "family {}: {}",
                    family.name,
                    problem.as_deref().unwrap_or("no alignment")
                )));
            }
        };
        let mut alignment = read_alignment(msa, &request.read_options)?;
        let mut weights = request.weighting.weights(&alignment);
        if let Some(k) = request.max_seqs
            && k < alignment.depth()
        {
            let chosen = sample_by_weight(&weights, k, request.config.seed);
            alignment.states = alignment.states.select(ndarray::Axis(0), &chosen);
            weights = request.weighting.weights(&alignment);
        }
        if alignment.length() < 2 {
            return Err(input_error(format!(
                "family {}: alignment {} has fewer than 2 columns",
                family.name,
                msa.display()
            )));
        }
        out.push(Read {
            name: family.name,
            states: alignment.states,
            weights,
            msa_sha256: sha256_file(msa)?,
        });
    }
    if out.is_empty() {
        return Err(input_error(format!(
            "families {}: no family left to train on",
            request.families.display()
        )));
    }
    Ok(out)
}
