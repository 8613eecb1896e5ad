//! Factored attention on many families at once (issue #19): one set of
//! values `V^h` shared by every family, each family with its own queries,
//! keys and fields. The objective is the sum over families of each
//! family's pseudo-likelihood objective ([`super::batch_loss`], computed by
//! [`FusedObjective`]) times a coefficient (its share of the families'
//! M_eff, or `1/F`); the shared values' gradient is the same sum of the
//! families' value gradients. Adam minimises it over `[V, Q_f, K_f, h_f]`;
//! every step takes one mini-batch from every family, its order a function
//! of the seed and the step only, so that a run resumed from a checkpoint
//! ([`train_joint`]) takes the same steps as one never stopped.
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::FusedObjective;
use super::adam::Adam;
use super::columns::{initial_fields, reference_states};
use super::factored::FactoredAttention;
use super::file::{load_tensors, save_tensors};
use crate::Q;

/// One family of a joint training run: its alignment (N×L states) and
/// sequence weights.
pub struct JointFamily<'a> {
    /// States, N×L.
    pub states: &'a Array2<u8>,
    /// One weight per sequence; their sum is the family's M_eff.
    pub weights: &'a [f64],
}

/// How much each family's objective counts in the sum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum FamilyWeighting {
    /// In proportion to the family's M_eff: deep families teach more.
    Meff,
    /// Every family the same (`1/F`).
    Equal,
}

/// Hyper-parameters of a joint run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JointConfig {
    /// Heads H of the shared values.
    pub heads: usize,
    /// Query/key dimension d of every family.
    pub head_dim: usize,
    /// λ_J, on every family's couplings.
    pub lambda_j: f64,
    /// λ_h, on every family's fields.
    pub lambda_h: f64,
    /// Adam's learning rate (cosine decay to 0 over the run).
    pub learning_rate: f64,
    /// Optimiser steps; each takes one mini-batch from every family.
    pub steps: usize,
    /// Sequences per family per step (at most the family's N).
    pub batch_size: usize,
    /// Seed of the initialisation and of the batch order.
    pub seed: u64,
    /// How the families' objectives are weighted in the sum.
    pub weighting: FamilyWeighting,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

/// The shared values and every family's own factors. Each family's
/// [`FactoredAttention::value`] is a handle on the shared tensor (the same
/// storage), so a family's layer always reads the current shared values.
pub struct JointModel {
    /// Shared values `V^h(a,b)` (H×q×q).
    pub value: Tensor,
    /// One layer per family, in the order of the families.
    pub families: Vec<FactoredAttention>,
}

impl JointModel {
    /// Fresh shared values and factors for `families`: libtorch's generator
    /// seeded with `seed`, queries and keys as [`FactoredAttention::new`]
    /// draws them, fields from the column frequencies, values uniform in
    /// [0, 1).
    pub fn new(families: &[JointFamily], heads: usize, head_dim: usize, seed: u64) -> JointModel {
        tch::manual_seed(seed as i64);
        let q = Q as i64;
        let value = Tensor::rand([heads as i64, q, q], (tch::Kind::Float, tch::Device::Cpu))
            .set_requires_grad(true);
        let families = families
            .iter()
            .map(|f| {
                let l = f.states.ncols();
                let mut layer =
                    FactoredAttention::new(l, heads, head_dim, initial_fields(f.states, f.weights));
                layer.value = value.shallow_clone();
                layer
            })
            .collect();
        JointModel { value, families }
    }

    /// Handles on the trainable tensors: the values, then each family's
    /// query, key and fields.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut out = vec![self.value.shallow_clone()];
        for f in &self.families {
            out.extend([&f.query, &f.key, &f.fields].map(Tensor::shallow_clone));
        }
        out
    }
}

/// One family's mini-batch: states B×L row-major and B weights.
pub struct FamilyBatch {
    /// States, row-major.
    pub states: Vec<u8>,
    /// Sequence weights.
    pub weights: Vec<f32>,
}

/// The joint objective: one [`FusedObjective`] per family and the
/// families' coefficients.
pub struct JointObjective {
    objectives: Vec<FusedObjective>,
    coefficients: Vec<f64>,
}

impl JointObjective {
    /// Kernels on `threads` threads for every family, and the coefficients
    /// `weighting` gives them (they sum to one).
    pub fn new(
        families: &[JointFamily],
        threads: usize,
        weighting: FamilyWeighting,
    ) -> Result<JointObjective> {
        let objectives = families
            .iter()
            .map(|f| FusedObjective::new(threads, reference_states(f.states, f.weights)))
            .collect::<Result<Vec<_>>>()?;
        let raw: Vec<f64> = families
            .iter()
            .map(|f| match weighting {
                FamilyWeighting::Meff => f.weights.iter().sum::<f64>(),
                FamilyWeighting::Equal => 1.0,
            })
            .collect();
        let total: f64 = raw.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        Ok(JointObjective {
            objectives,
            coefficients: raw.iter().map(|c| c / total).collect(),
        })
    }

    /// Each family's coefficient in the sum.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// `Σ_f c_f · objective_f(batch_f)` and its gradients in the order of
    /// [`JointModel::parameters`]: the values' is `Σ_f c_f ∂objective_f/∂V`,
    /// each family's factors' `c_f` times their own.
    pub fn evaluate(
        &mut self,
        model: &JointModel,
        batches: &[FamilyBatch],
        lambda_j: f64,
        lambda_h: f64,
    ) -> (f64, Vec<Tensor>) {
        assert_eq!(batches.len(), model.families.len(), "one batch per family");
        let mut value = 0.0;
        let mut d_value = model.value.zeros_like();
        let mut grads = vec![Tensor::new()];
        for ((objective, (layer, batch)), &c) in self
            .objectives
            .iter_mut()
            .zip(model.families.iter().zip(batches))
            .zip(&self.coefficients)
        {
            let (v, g) = objective.batch(layer, &batch.states, &batch.weights, lambda_j, lambda_h);
            value += c * v;
            d_value += &g[2] * c;
            grads.extend([&g[0] * c, &g[1] * c, &g[3] * c]);
        }
        grads[0] = d_value;
        (value, grads)
    }
}

/// What a joint run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JointReport {
    /// Optimiser steps in all.
    pub steps: usize,
    /// Mean objective over each run of `checkpoint_every` steps.
    pub loss_curve: Vec<f64>,
    /// Wall seconds of this process's part of the run.
    pub seconds: f64,
    /// The step a checkpoint let this run start from, if any.
    pub resumed_from: Option<usize>,
}

/// Trains shared values on `families` (see the module documentation) on
/// `threads` threads. With `checkpoint`, the state (parameters, Adam's
/// moments, step, loss curve) is saved there every `checkpoint_every`
/// steps, and a run finds a checkpoint there made for the same
/// `fingerprint` (the caller's description of the inputs) and
/// configuration to resume from; one made for other inputs is an input
/// error. `on_step(step, steps, loss)` is called after every step.
pub fn train_joint(
    families: &[JointFamily],
    cfg: &JointConfig,
    threads: usize,
    checkpoint: Option<(&Path, &str)>,
    on_step: &mut dyn FnMut(usize, usize, f64),
) -> Result<(JointModel, JointReport)> {
    if families.is_empty() {
        return Err(crate::input_error(
            "joint training needs at least one family",
        ));
    }
    if cfg.heads == 0 || cfg.head_dim == 0 || cfg.steps == 0 || cfg.batch_size == 0 {
        return Err(crate::input_error(
            "--heads, --head-dim, --steps and --batch-size must be at least 1",
        ));
    }
    let start = Instant::now();
    let model = JointModel::new(families, cfg.heads, cfg.head_dim, cfg.seed);
    let mut params = model.parameters();
    let mut objective = JointObjective::new(families, threads, cfg.weighting)?;
    let mut optimizer = Adam::new(&params, cfg.learning_rate);
    let mut curve = Vec::new();
    let mut first = 0;
    let mut resumed_from = None;
    if let Some((path, fingerprint)) = checkpoint
        && path.exists()
    {
        let saved = read_checkpoint(path, fingerprint, cfg, &params)?;
        tch::no_grad(|| {
            for (p, s) in params.iter_mut().zip(&saved.params) {
                p.copy_(s);
            }
        });
        optimizer.set_moments(saved.adam_t, &saved.adam_m, &saved.adam_v);
        (first, curve) = (saved.step, saved.curve);
        resumed_from = Some(first);
    }
    let mut order = BatchOrder::new(families, cfg);
    let mut interval = (0.0, 0usize);
    let abort_at = abort_hook();
    for step in first..cfg.steps {
        crate::runtime::interrupt::check("training the shared values")?;
        if abort_at == Some(step) {
            std::process::abort();
        }
        let batches = order.batches(families, step);
        let (value, grads) = objective.evaluate(&model, &batches, cfg.lambda_j, cfg.lambda_h);
        if !value.is_finite() {
            bail!(
                "joint training diverged: the loss became {value} at step {}; try a smaller --learning-rate",
                step + 1
            );
        }
        let progress = step as f64 / cfg.steps as f64;
        optimizer.lr = cfg.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        if !optimizer.apply(&grads, &mut params) {
            bail!(
                "joint training diverged: a gradient became non-finite at step {}; try a smaller --learning-rate",
                step + 1
            );
        }
        interval = (interval.0 + value, interval.1 + 1);
        on_step(step + 1, cfg.steps, value);
        if (step + 1).is_multiple_of(cfg.checkpoint_every) || step + 1 == cfg.steps {
            curve.push(interval.0 / interval.1 as f64);
            interval = (0.0, 0);
            if let Some((path, fingerprint)) = checkpoint {
                write_checkpoint(
                    path,
                    fingerprint,
                    cfg,
                    &params,
                    &optimizer,
                    step + 1,
                    &curve,
                )?;
            }
        }
    }
    let report = JointReport {
        steps: cfg.steps,
        loss_curve: curve,
        seconds: start.elapsed().as_secs_f64(),
        resumed_from,
    };
    Ok((model, report))
}

/// Test hook: `FADCA_ABORT_AT_STEP=N` aborts the process (as a kill would)
/// before joint step N (0-based). Unset in normal use.
fn abort_hook() -> Option<usize> {
    std::env::var("FADCA_ABORT_AT_STEP")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// Each family's order of sequences: epoch `e` of family `f` is a
/// permutation drawn from the seed and `(f, e)` alone, and step `s` takes
/// its chunk `s mod k_f` of epoch `s / k_f` (`k_f` chunks per epoch).
struct BatchOrder {
    seed: u64,
    batch_size: usize,
    /// Per family: the epoch whose permutation is held, and it.
    held: Vec<(usize, Vec<usize>)>,
}

impl BatchOrder {
    fn new(families: &[JointFamily], cfg: &JointConfig) -> BatchOrder {
        BatchOrder {
            seed: cfg.seed,
            batch_size: cfg.batch_size,
            held: families.iter().map(|_| (usize::MAX, Vec::new())).collect(),
        }
    }

    /// Every family's mini-batch of step `step`.
    fn batches(&mut self, families: &[JointFamily], step: usize) -> Vec<FamilyBatch> {
        families
            .iter()
            .enumerate()
            .map(|(f, family)| {
                let n = family.states.nrows();
                let b = self.batch_size.min(n);
                let chunks = n.div_ceil(b);
                let (epoch, chunk) = (step / chunks, step % chunks);
                let held = &mut self.held[f];
                if held.0 != epoch {
                    let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                    rng.set_stream(((f as u64) << 32) | epoch as u64);
                    let mut perm: Vec<usize> = (0..n).collect();
                    perm.shuffle(&mut rng);
                    *held = (epoch, perm);
                }
                let rows = &held.1[chunk * b..((chunk + 1) * b).min(n)];
                let mut states = Vec::with_capacity(rows.len() * family.states.ncols());
                for &k in rows {
                    states.extend(family.states.row(k).iter());
                }
                let weights = rows.iter().map(|&k| family.weights[k] as f32).collect();
                FamilyBatch { states, weights }
            })
            .collect()
    }
}

/// Metadata key of a checkpoint's state (JSON of [`CheckpointState`]).
const CHECKPOINT_KEY: &str = "fadca_joint_checkpoint";

/// A checkpoint's state apart from its tensors.
#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointState {
    fingerprint: String,
    config: JointConfig,
    step: usize,
    adam_t: i32,
    curve: Vec<f64>,
}

/// A checkpoint read back.
struct Saved {
    params: Vec<Tensor>,
    adam_m: Vec<Tensor>,
    adam_v: Vec<Tensor>,
    adam_t: i32,
    step: usize,
    curve: Vec<f64>,
}

fn write_checkpoint(
    path: &Path,
    fingerprint: &str,
    cfg: &JointConfig,
    params: &[Tensor],
    optimizer: &Adam,
    step: usize,
    curve: &[f64],
) -> Result<()> {
    let (adam_t, m, v) = optimizer.moments();
    let mut tensors = Vec::new();
    for (k, p) in params.iter().enumerate() {
        tensors.push((format!("param.{k}"), p.shallow_clone()));
        tensors.push((format!("adam_m.{k}"), m[k].shallow_clone()));
        tensors.push((format!("adam_v.{k}"), v[k].shallow_clone()));
    }
    let state = CheckpointState {
        fingerprint: fingerprint.to_string(),
        config: cfg.clone(),
        step,
        adam_t,
        curve: curve.to_vec(),
    };
    let metadata = HashMap::from([(CHECKPOINT_KEY.to_string(), serde_json::to_string(&state)?)]);
    save_tensors(path, tensors, metadata)
}

fn read_checkpoint(
    path: &Path,
    fingerprint: &str,
    cfg: &JointConfig,
    params: &[Tensor],
) -> Result<Saved> {
    let (named, (state, _)) = load_tensors(path, "checkpoint", |metadata| {
        let state: CheckpointState = metadata
            .get(CHECKPOINT_KEY)
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or("not a fadca train-values checkpoint")?;
        if state.fingerprint != fingerprint || state.config != *cfg {
            return Err(
                "made for other families or other settings; delete it to start again".to_string(),
            );
        }
        Ok(state)
    })?;
    let mut named: HashMap<String, Tensor> = named.into_iter().collect();
    let mut take = |name: String, like: &Tensor| -> Result<Tensor> {
        match named.remove(&name) {
            Some(t) if t.size() == like.size() => Ok(t),
            _ => Err(crate::input_error(format!(
                "checkpoint {}: tensor '{name}' is missing or misshapen",
                path.display()
            ))),
        }
    };
    let mut saved = Saved {
        params: Vec::new(),
        adam_m: Vec::new(),
        adam_v: Vec::new(),
        adam_t: state.adam_t,
        step: state.step,
        curve: state.curve,
    };
    for (k, p) in params.iter().enumerate() {
        saved.params.push(take(format!("param.{k}"), p)?);
        saved.adam_m.push(take(format!("adam_m.{k}"), p)?);
        saved.adam_v.push(take(format!("adam_v.{k}"), p)?);
    }
    Ok(saved)
}
