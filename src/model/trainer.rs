//! The one trainer shared by both models: weighted pseudo-likelihood plus L2,
//! minimised by Adam on shuffled mini-batches.
//!
//! Objective (SPEC §1), estimated on each mini-batch `B`:
//!
//! ```text
//! loss = − (1/Σ_{n∈B} w_n) Σ_{n∈B} w_n Σ_i log P(x_ni | x_n\i)
//!        + λ_J Σ_{i≠j} ‖J_ij‖² + λ_h Σ_i ‖h_i‖²
//! ```
//!
//! On the whole alignment at once this is exactly SPEC's objective with
//! `M_eff = Σ w_n`. The factored model's L2 is put on the couplings it
//! produces, `J_ij = Σ_h A^h_ij V^h`, not on Q, K, V: it is the same penalty
//! as the Potts model's, so the two models are regularised alike and λ_J
//! means the same thing for both.
use std::time::Instant;

use anyhow::{Result, bail};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use super::factored::FactoredAttention;
use super::host_values;
use super::kernels::{attention, pll, table};
use super::potts::Potts;
use super::{Model, ModelKind, kernels};
use crate::Q;
use crate::error::{Error, Restart};
use crate::runtime::device_name;

/// Optimiser steps aimed at by the automatic schedule.
pub const AUTO_STEPS: usize = 400;

/// Largest mini-batch of the automatic schedule.
pub const AUTO_BATCH: usize = 256;

/// Hyper-parameters of a training run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainConfig {
    /// Which model.
    pub model: ModelKind,
    /// Attention heads H (factored model).
    pub heads: usize,
    /// Query/key dimension d (factored model).
    pub head_dim: usize,
    /// L2 strength on the couplings, λ_J.
    pub lambda_j: Option<f64>,
    /// L2 strength on the fields, λ_h.
    pub lambda_h: f64,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Passes over the alignment; `None` = automatic (see [`TrainConfig::schedule`]).
    pub epochs: Option<usize>,
    /// Sequences per mini-batch; `None` = automatic (see [`TrainConfig::schedule`]).
    pub batch_size: Option<usize>,
    /// Seed of the initialisation and of the batch order.
    pub seed: u64,
    /// Where to train.
    #[serde(serialize_with = "serialize_device")]
    pub device: Device,
    /// Training objective: full pseudo-likelihood or BERT-style masking.
    pub objective: Objective,
    /// Probability that a site is masked ([`Objective::Mlm`] only).
    pub mask_prob: f64,
}

/// `(L−1)/M_eff`: how plmc's coupling penalty, `c·(L−1)` per pair of the
/// un-normalised objective, scales per entry of `J` in this objective
/// (divided by `M_eff`); λ_J = `c'`·this (the Potts default's `c'` is 0.1).
pub fn plmc_lambda_scale(l: usize, meff: f64) -> f64 {
    (l.max(2) - 1) as f64 / meff.max(1.0)
}

/// What the trainer minimises (see [`masked_batch_loss`] for `Mlm`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Full pseudo-likelihood: every site predicted from all the others (SPEC §1).
    Pll,
    /// Masked language model: each site masked independently with probability
    /// `mask_prob`, masked sites predicted from the unmasked rest.
    Mlm,
}

/// Default masking probability of [`Objective::Mlm`] (BERT's).
pub const DEFAULT_MASK_PROB: f64 = 0.15;

fn serialize_device<S: serde::Serializer>(device: &Device, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&device_name(*device))
}

impl TrainConfig {
    /// Defaults for `model`, chosen on the benchmark (see README).
    pub fn defaults(model: ModelKind) -> TrainConfig {
        TrainConfig {
            model,
            heads: 32,
            head_dim: 23,
            lambda_j: None,
            lambda_h: 1e-4,
            learning_rate: 0.05,
            epochs: None,
            batch_size: None,
            seed: 0,
            device: Device::Cpu,
            objective: Objective::Pll,
            mask_prob: DEFAULT_MASK_PROB,
        }
    }

    /// The effective (epochs, batch size) for `n` sequences. Convergence
    /// depends on the number of optimiser steps more than on the number of
    /// passes or the batch size: on the DEV benchmark 400 steps of 256
    /// sequences gave the precision of 400 steps of 512 (0.4465 against
    /// 0.4478; 128 sequences: 0.4395) in three quarters of the time. So the
    /// automatic schedule takes batches of min(N, 256) sequences and enough
    /// passes for about 400 steps (at least 2 passes). README shows the
    /// benchmark.
    pub fn schedule(&self, n: usize) -> (usize, usize) {
        let batch = self.batch_size.unwrap_or_else(|| n.clamp(1, AUTO_BATCH));
        let epochs = self.epochs.unwrap_or_else(|| {
            let steps_per_epoch = n.div_ceil(batch).max(1);
            AUTO_STEPS.div_ceil(steps_per_epoch).max(2)
        });
        (epochs, batch)
    }

    /// The effective λ_J for length `l` and `meff` effective sequences. The
    /// automatic value is 10⁻³ for the factored model (its few parameters
    /// need little shrinking; stronger values lowered precision on the
    /// benchmark) and plmc's `0.2·(L−1)` per pair, i.e. `0.1·(L−1)/M_eff` per
    /// entry of the table in this normalised objective, for the Potts model.
    pub fn lambda_j_for(&self, l: usize, meff: f64) -> f64 {
        self.lambda_j.unwrap_or_else(|| match self.model {
            ModelKind::Factored => 1e-3,
            ModelKind::Potts => 0.1 * plmc_lambda_scale(l, meff),
        })
    }

    /// This configuration with the automatic values resolved for `n`
    /// sequences of length `l` with `meff` effective sequences.
    pub fn resolved(&self, n: usize, l: usize, meff: f64) -> TrainConfig {
        let (epochs, batch) = self.schedule(n);
        TrainConfig {
            epochs: Some(epochs),
            batch_size: Some(batch),
            lambda_j: Some(self.lambda_j_for(l, meff)),
            ..self.clone()
        }
    }

    /// Checks the hyper-parameters; a bad value is an [`crate::InputError`]
    /// naming the flag (callers may check before reading any input).
    pub fn validate(&self) -> Result<()> {
        if self.model == ModelKind::Factored && (self.heads == 0 || self.head_dim == 0) {
            return Err(crate::error::input_error(
                "--heads and --head-dim must be at least 1",
            ));
        }
        if self.epochs == Some(0) || self.batch_size == Some(0) {
            return Err(crate::error::input_error(
                "--epochs and --batch-size must be at least 1",
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(crate::error::input_error(
                "--learning-rate must be a positive number",
            ));
        }
        if !(self.lambda_j.unwrap_or(0.0) >= 0.0 && self.lambda_h >= 0.0) {
            return Err(crate::error::input_error(
                "--lambda-j and --lambda-h must be non-negative",
            ));
        }
        if !(self.mask_prob > 0.0 && self.mask_prob <= 1.0) {
            return Err(crate::error::input_error("--mask-prob must be in (0, 1]"));
        }
        Ok(())
    }
}

/// What the trainer reports while it runs: after every optimiser step
/// (`end_of_epoch` false, except after an epoch's last step, reported once
/// with `end_of_epoch` true when the epoch is done and checkpointed).
#[derive(Debug, Clone)]
pub struct Progress {
    /// Epochs done.
    pub epoch: usize,
    /// Epochs in all.
    pub epochs: usize,
    /// Optimiser steps done.
    pub step: usize,
    /// Optimiser steps in all (`epochs` × batches per epoch).
    pub steps: usize,
    /// Mean objective over the mini-batches of the epoch so far (the whole
    /// epoch when `end_of_epoch`).
    pub loss: f64,
    /// Seconds since training started.
    pub elapsed: f64,
    /// Whether this report closes an epoch.
    pub end_of_epoch: bool,
}

/// What a finished training run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    /// Mean objective of each epoch.
    pub loss_curve: Vec<f64>,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Wall seconds spent training.
    pub seconds: f64,
    /// Device trained on.
    pub device: String,
    /// Restarts after a non-finite loss or gradient (numerical guard).
    pub restarts: Vec<Restart>,
}

/// Tensors of the alignment on the training device.
struct Data {
    states: Tensor,
    weights: Tensor,
}

impl Data {
    fn new(states: &Array2<u8>, weights: &[f64], device: Device) -> Data {
        let (n, l) = states.dim();
        let flat: Vec<i64> = states.iter().map(|&s| s as i64).collect();
        Data {
            states: Tensor::from_slice(&flat)
                .reshape([n as i64, l as i64])
                .to_device(device),
            weights: Tensor::from_slice(weights)
                .to_kind(Kind::Float)
                .to_device(device),
        }
    }
}

/// Weighted state counts per column: `counts[i·q + a] = Σ_n w_n [x_ni = a]`.
fn column_counts(states: &Array2<u8>, weights: &[f64]) -> Vec<f64> {
    let (_, l) = states.dim();
    let mut counts = vec![0.0f64; l * Q];
    for (row, &w) in states.rows().into_iter().zip(weights) {
        for (i, &s) in row.iter().enumerate() {
            counts[i * Q + s as usize] += w;
        }
    }
    counts
}

/// Initial fields: log of the weighted single-site frequencies (with a
/// small pseudo-count), centred per site — the independent-site solution.
fn initial_fields(states: &Array2<u8>, weights: &[f64]) -> Tensor {
    let (_, l) = states.dim();
    let freq = column_counts(states, weights);
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut fields = vec![0.0f32; l * Q];
    for i in 0..l {
        let logs: Vec<f64> = (0..Q)
            .map(|a| (freq[i * Q + a] / total + 0.01).ln())
            .collect();
        let mean = logs.iter().sum::<f64>() / Q as f64;
        for a in 0..Q {
            fields[i * Q + a] = (logs[a] - mean) as f32;
        }
    }
    Tensor::from_slice(&fields).reshape([l as i64, Q as i64])
}

/// The objective on a batch (see the module documentation): `states` B×L
/// (Int64) with `weights` (B). Differentiable in the model's parameters.
pub fn batch_loss(
    model: &Model,
    states: &Tensor,
    weights: &Tensor,
    lambda_j: f64,
    lambda_h: f64,
) -> Tensor {
    let (table, norm2) = table_and_norm2(model, lambda_j);
    let logits = model.logits(&table, states);
    let nll = neg_log_likelihood(&logits, states);
    let kind = table.kind();
    let data = (nll * weights).sum(kind) / weights.sum(kind);
    data + penalty(model, norm2.as_ref(), lambda_j, lambda_h)
}

/// The coupling table and, unless `lambda_j` is 0 (then the penalty term is
/// left out of the graph altogether), `Σ_{i≠j} ‖J_ij‖²`.
fn table_and_norm2(model: &Model, lambda_j: f64) -> (Tensor, Option<Tensor>) {
    if lambda_j == 0.0 {
        (model.coupling_table(), None)
    } else {
        let (table, norm2) = model.coupling_table_and_norm2();
        (table, Some(norm2))
    }
}

/// `λ_J Σ_{i≠j} ‖J_ij‖² + λ_h Σ_i ‖h_i‖²`, the L2 part of both objectives
/// (`coupling_norm2` absent when λ_J = 0).
fn penalty(model: &Model, coupling_norm2: Option<&Tensor>, lambda_j: f64, lambda_h: f64) -> Tensor {
    let fields = model.fields();
    let fields_term = fields.square().sum(fields.kind()) * lambda_h;
    match coupling_norm2 {
        Some(norm2) => norm2 * lambda_j + fields_term,
        None => fields_term,
    }
}

/// Either model's pseudo-likelihood objective on the CPU through the fused
/// kernels of [`super::kernels`] (the trainer's path for `--device cpu` with
/// the `pll` objective: [`FusedObjective::batch`] for factored attention,
/// [`FusedObjective::potts_batch`] for the Potts model; [`batch_loss`] is
/// the same objective in libtorch operators, used on CUDA, for the masked
/// objective and as the reference in tests). Holds the thread pool, the
/// factored model's `(L·q)²` table buffer and attention (`H·L²`) and the
/// Potts model's `(L·q)²` buffer, reused from step to step.
pub struct FusedObjective {
    pool: rayon::ThreadPool,
    reference: Vec<u8>,
    /// The `(L·q)²` table, then its gradient
    /// ([`pll::data_term_and_table_gradient`]).
    table: Vec<f32>,
    grad: Vec<f32>,
    a_ihj: Vec<f32>,
    a_jih: Vec<f32>,
    d_ihj: Vec<f32>,
    /// The Potts model's `(L·q)²` buffer: the rows of its table, their
    /// gradient, then the projected gradient handed to the optimiser.
    potts_buffer: Option<Tensor>,
}

impl FusedObjective {
    /// Kernels running on `threads` threads (libtorch keeps its own), for
    /// sequences of length `reference.len()`. Each sequence's logits are
    /// computed as those of the `reference` sequence plus the table rows
    /// where the two differ (see [`pll::pll_rows`]): any reference gives
    /// the same result, one close to the sequences (the column-wise most
    /// frequent states, [`reference_states`]) the least work.
    pub fn new(threads: usize, reference: Vec<u8>) -> Result<FusedObjective> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("fadca-pll-{i}"))
            .build()?;
        Ok(FusedObjective {
            pool,
            reference,
            table: Vec::new(),
            grad: Vec::new(),
            a_ihj: Vec::new(),
            a_jih: Vec::new(),
            d_ihj: Vec::new(),
            potts_buffer: None,
        })
    }

    /// The objective of [`batch_loss`] on a batch (`states` B×L row-major,
    /// `weights` B) for a factored model on the CPU: returns its value and
    /// its gradients with respect to the model's parameters, in the order of
    /// [`Model::parameters`] (query, key, value, fields), as CPU tensors of
    /// the parameters' shapes and kind. Everything runs in the kernels of
    /// [`kernels`] on this objective's threads: the attention and its
    /// backward pass, the table, the logits, the penalty.
    pub fn batch(
        &mut self,
        model: &FactoredAttention,
        states: &[u8],
        weights: &[f32],
        lambda_j: f64,
        lambda_h: f64,
    ) -> (f64, Vec<Tensor>) {
        let l = model.query.size()[1] as usize;
        assert_eq!(
            l,
            self.reference.len(),
            "model length and reference length differ"
        );
        let n = l * Q;
        let heads = model.heads();
        self.table.resize(n * n, 0.0);
        for buffer in [&mut self.a_ihj, &mut self.a_jih, &mut self.d_ihj] {
            buffer.resize(l * l * heads, 0.0);
        }
        let query = to_vec(&model.query);
        let key = to_vec(&model.key);
        let fields = to_vec(&model.fields);
        let v_hba = swap_state_axes(&to_vec(&model.value));
        attention::attention_forward(&self.pool, &query, &key, heads, &mut self.a_ihj);
        // [i][h][j] → [j][i][h] for the table's kernels, and back for dA.
        attention::transpose(&self.pool, &self.a_ihj, l * heads, l, &mut self.a_jih);
        let present = self.present(states);
        table::build_table(
            &self.pool,
            &self.a_jih,
            &v_hba,
            &present,
            heads,
            &mut self.table,
        );
        let batch = pll::Batch {
            reference: &self.reference,
            present: &present,
            states,
            weights,
        };
        let (data, mut d_fields) = pll::data_term_and_table_gradient(
            &self.pool,
            &mut self.table,
            &fields,
            &batch,
            &mut self.grad,
        );
        let (mut d_a, mut d_v) = table::table_grads(
            &self.pool,
            &self.table,
            &self.a_jih,
            &v_hba,
            &present,
            heads,
        );
        // The coupling penalty from the factors (the table is not whole).
        let norm2 = table::coupling_penalty(
            &self.pool,
            &self.a_jih,
            &v_hba,
            heads,
            lambda_j,
            &mut d_a,
            &mut d_v,
        );
        attention::transpose(&self.pool, &d_a, l, l * heads, &mut self.d_ihj);
        let (d_q, d_k) = attention::attention_backward(
            &self.pool,
            &self.a_ihj,
            &mut self.d_ihj,
            &query,
            &key,
            heads,
        );
        let fields_norm2 = add_field_penalty(&mut d_fields, &fields, lambda_h);
        let value = data + lambda_j * norm2 + lambda_h * fields_norm2;
        let grads = [
            (d_q, &model.query),
            (d_k, &model.key),
            (swap_state_axes(&d_v), &model.value),
            (d_fields, &model.fields),
        ]
        .into_iter()
        .map(|(g, p)| Tensor::from_slice(&g).reshape(p.size()).to_kind(p.kind()))
        .collect();
        (value, grads)
    }

    /// The objective of [`batch_loss`] for a Potts model on the CPU (its
    /// table float32), with the gradients the trainer applies: the table's
    /// projected onto symmetric tables with zero diagonal blocks plus the
    /// penalty's `2λ_J·W` (what [`Model::project_gradients`] makes of
    /// libtorch's), and the fields'. The table is the model's parameter: its
    /// rows the batch reads are copied into the objective's `(L·q)²`
    /// buffer, a tensor kept from step to step ([`kernels::potts::copy_rows`]); the
    /// same row kernels as the factored model's turn them into the table's
    /// gradient, and one pass projects it in place
    /// ([`kernels::potts::potts_gradient`]); the buffer is returned (shallow) as the
    /// table's gradient. Against the libtorch operators: less than half the
    /// `(L·q)²` arrays and passes.
    ///
    /// # Safety
    /// The returned table gradient shares its memory with the buffer, which
    /// the next call writes: it (and every shallow copy of it) must no
    /// longer be in use when this is called again. (A new tensor every step
    /// would avoid this at the cost of a table of memory: the allocator
    /// does not hand the freed one back in time.)
    pub unsafe fn potts_batch(
        &mut self,
        model: &Potts,
        states: &[u8],
        weights: &[f32],
        lambda_j: f64,
        lambda_h: f64,
    ) -> (f64, Vec<Tensor>) {
        let l = self.reference.len();
        let n = l * Q;
        assert_eq!(
            model.couplings.size(),
            [n as i64, n as i64],
            "Potts table and reference differ"
        );
        let present = self.present(states);
        // SAFETY: nothing writes the parameter during the step (Adam runs after it).
        let w_owned;
        let w: &[f32] = match unsafe { host_values(&model.couplings) } {
            Some(values) => values,
            None => {
                w_owned = to_vec(&model.couplings);
                &w_owned
            }
        };
        let buffer = self
            .potts_buffer
            .get_or_insert_with(|| Tensor::zeros([n as i64, n as i64], (Kind::Float, Device::Cpu)));
        // SAFETY: the tensor is this objective's own, and by the contract of
        // this function the previous step's gradient (a shallow copy of it)
        // is no longer in use.
        let table = unsafe { host_values(buffer) }.expect("float32 CPU buffer");
        kernels::potts::copy_rows(&self.pool, w, &present, table);
        let fields = to_vec(&model.fields);
        let batch = pll::Batch {
            reference: &self.reference,
            present: &present,
            states,
            weights,
        };
        let (data, mut d_fields) =
            pll::data_term_and_table_gradient(&self.pool, table, &fields, &batch, &mut self.grad);
        let norm2 = kernels::potts::potts_gradient(&self.pool, table, &present, w, lambda_j);
        let fields_norm2 = add_field_penalty(&mut d_fields, &fields, lambda_h);
        let value = data + lambda_j * norm2 + lambda_h * fields_norm2;
        let table_grad = buffer.to_kind(model.couplings.kind());
        let fields_grad = Tensor::from_slice(&d_fields)
            .reshape(model.fields.size())
            .to_kind(model.fields.kind());
        (value, vec![table_grad, fields_grad])
    }

    /// Rows of the table that a batch (`states` B×L row-major) reads: per
    /// position the states it holds there and the reference state, as bits.
    fn present(&self, states: &[u8]) -> Vec<u32> {
        let l = self.reference.len();
        let mut present: Vec<u32> = self.reference.iter().map(|&r| 1u32 << r).collect();
        for seq in states.chunks_exact(l) {
            for (mask, &x) in present.iter_mut().zip(seq) {
                *mask |= 1 << x;
            }
        }
        present
    }
}

/// Adds the field penalty's gradient `2λ_h·h` to `d_fields`; returns `Σ h²`.
fn add_field_penalty(d_fields: &mut [f32], fields: &[f32], lambda_h: f64) -> f64 {
    let mut norm2 = 0.0f64;
    for (d, &h) in d_fields.iter_mut().zip(fields) {
        *d += (2.0 * lambda_h) as f32 * h;
        norm2 += f64::from(h) * f64::from(h);
    }
    norm2
}

/// `[h][x][y]` → `[h][y][x]` for H matrices q×q (the values' two state axes).
fn swap_state_axes(v: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; v.len()];
    for (src, dst) in v.chunks_exact(Q * Q).zip(out.chunks_exact_mut(Q * Q)) {
        for x in 0..Q {
            for y in 0..Q {
                dst[y * Q + x] = src[x * Q + y];
            }
        }
    }
    out
}

/// The most frequent state of each column, sequences counted with their
/// weights (ties to the lower state): the reference of [`FusedObjective`].
pub fn reference_states(states: &Array2<u8>, weights: &[f64]) -> Vec<u8> {
    column_counts(states, weights)
        .chunks_exact(Q)
        .map(|c| (0..Q).fold(0, |best, a| if c[a] > c[best] { a } else { best }) as u8)
        .collect()
}

/// Sets libtorch's thread count, restoring the previous one when dropped.
struct TorchThreads(i32);

impl TorchThreads {
    fn set(threads: i32) -> TorchThreads {
        let previous = tch::get_num_threads();
        tch::set_num_threads(threads);
        TorchThreads(previous)
    }
}

impl Drop for TorchThreads {
    fn drop(&mut self) {
        tch::set_num_threads(self.0);
    }
}

/// A CPU float tensor's values (contiguous copy), detached.
fn to_vec(t: &Tensor) -> Vec<f32> {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let numel = t.numel();
    let mut out = vec![0.0f32; numel];
    t.copy_data(&mut out, numel);
    out
}

/// The objective `cfg.objective` on a batch: [`batch_loss`] for `Pll`;
/// for `Mlm` a fresh random mask (libtorch's generator, seeded by [`train`])
/// and [`masked_batch_loss`].
fn objective_loss(
    model: &Model,
    cfg: &TrainConfig,
    lambda_j: f64,
    states: &Tensor,
    weights: &Tensor,
) -> Tensor {
    match cfg.objective {
        Objective::Pll => batch_loss(model, states, weights, lambda_j, cfg.lambda_h),
        Objective::Mlm => {
            let mask =
                Tensor::rand(states.size(), (Kind::Float, states.device())).lt(cfg.mask_prob);
            masked_batch_loss(model, states, weights, &mask, lambda_j, cfg.lambda_h)
        }
    }
}

/// The masked-language-model objective on a batch with a given `mask`
/// (B×L, Bool, true = masked):
///
/// ```text
/// loss = L · Σ_n w_n Σ_{i masked} −log P(x_ni | x_n,unmasked) / Σ_n w_n |masked_n|
///        + λ_J Σ_{i≠j} ‖J_ij‖² + λ_h Σ_i ‖h_i‖²
/// ```
///
/// where `P(x_i = a | unmasked) = softmax_a(h_i(a) + Σ_{j unmasked} J_ij(a, x_j))`:
/// a masked site's value embedding is zero, i.e. its row of the coupling
/// table is left out of the embedding bag (per-sample weight 0). The data
/// term is the weighted mean over masked sites, times L so that it is on the
/// scale of the pseudo-likelihood's per-sequence sum over sites and λ means
/// the same for both objectives. A batch with no masked site has data term 0.
pub fn masked_batch_loss(
    model: &Model,
    states: &Tensor,
    weights: &Tensor,
    mask: &Tensor,
    lambda_j: f64,
    lambda_h: f64,
) -> Tensor {
    let (table, norm2) = table_and_norm2(model, lambda_j);
    let kind = table.kind();
    let l = states.size()[1];
    let masked = mask.to_kind(kind);
    let keep = masked.ones_like() - &masked;
    let logits = model.logits_keeping(&table, states, Some(&keep));
    let site_nll = -logits
        .log_softmax(-1, kind)
        .gather(2, &states.unsqueeze(-1), false)
        .squeeze_dim(-1);
    let per_site_weight = &masked * weights.unsqueeze(-1);
    let data = (site_nll * &per_site_weight).sum(kind) / per_site_weight.sum(kind).clamp_min(1e-12)
        * l as f64;
    data + penalty(model, norm2.as_ref(), lambda_j, lambda_h)
}

/// Per-sequence negative log pseudo-likelihood `−Σ_i log P(x_ni | x_n\i)`
/// from conditional logits (B×L×q) and states (B×L): a vector of B.
pub fn neg_log_likelihood(logits: &Tensor, states: &Tensor) -> Tensor {
    let kind = logits.kind();
    let log_probs = logits.log_softmax(-1, kind);
    -log_probs
        .gather(2, &states.unsqueeze(-1), false)
        .squeeze_dim(-1)
        .sum_dim_intlist([1i64].as_slice(), false, kind)
}

/// Whether training on `device` with `objective` runs on the fused CPU
/// kernels ([`FusedObjective`]: either model's pseudo-likelihood on the
/// CPU) rather than libtorch's operators; the two paths differ in speed and
/// in memory ([`crate::memory`]).
pub fn uses_fused_kernels(device: Device, objective: Objective) -> bool {
    device == Device::Cpu && objective == Objective::Pll
}

/// Trains a model on `states` (N×L) with sequence `weights`. Calls
/// `on_progress` after every step (see [`Progress`]). Deterministic on the
/// CPU for a given seed and thread count.
pub fn train(
    states: &Array2<u8>,
    weights: &[f64],
    cfg: &TrainConfig,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(Model, TrainReport)> {
    cfg.validate()?;
    let (n, l) = states.dim();
    if n == 0 || l < 2 {
        return Err(crate::error::input_error(format!(
            "cannot train on {n} sequences of length {l}: need at least 1 sequence and 2 columns"
        )));
    }
    if weights.len() != n {
        bail!("{} weights for {n} sequences", weights.len());
    }
    let (epochs, batch_size) = cfg.schedule(n);
    let lambda_j = cfg.lambda_j_for(l, weights.iter().sum());
    let start = Instant::now();
    tch::manual_seed(cfg.seed as i64);
    // The fused CPU kernels for either model's pseudo-likelihood (see
    // `FusedObjective`); libtorch's operators otherwise, which need the
    // alignment as tensors.
    let threads = tch::get_num_threads().max(1);
    let mut path = if uses_fused_kernels(cfg.device, cfg.objective) {
        StepPath::Fused(FusedObjective::new(
            threads as usize,
            reference_states(states, weights),
        )?)
    } else {
        StepPath::Torch(Data::new(states, weights, cfg.device))
    };
    // On the fused path the kernels and Adam's Rust loop do all of a step;
    // libtorch only copies the factors in and out. Its OpenMP workers spin
    // after each operator and take cycles from the kernels' threads, so it
    // runs on one thread meanwhile.
    let _torch_threads = matches!(path, StepPath::Fused(_)).then(|| TorchThreads::set(1));
    let model = Model::new(
        cfg.model,
        l,
        cfg.heads,
        cfg.head_dim,
        initial_fields(states, weights).to_device(cfg.device),
    );
    let mut vs_params: Vec<Tensor> = model
        .parameters()
        .into_iter()
        .map(|t| t.shallow_clone())
        .collect();
    let mut learning_rate = cfg.learning_rate;
    let mut optimizer = Adam::new(&vs_params, learning_rate);
    let mut order: Vec<i64> = (0..n as i64).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut curve = Vec::with_capacity(epochs);
    let mut step = 0;
    let total_steps = epochs * n.div_ceil(batch_size);
    // Numerical guard: see `Checkpoint`.
    let mut fault = FaultInjection::from_env();
    let mut checkpoint = Checkpoint::save(&vs_params, step);
    let mut restarts: Vec<Restart> = Vec::new();
    let mut epoch = 0;
    while epoch < epochs {
        order.shuffle(&mut rng);
        let mut epoch_loss = 0.0;
        let mut epoch_weight = 0.0;
        let mut failure = None;
        let batches = n.div_ceil(batch_size);
        for (batch, chunk) in order.chunks(batch_size).enumerate() {
            crate::runtime::interrupt::check("training")?;
            let (gradients, mut value) = match (&mut path, &model) {
                (StepPath::Fused(fused), _) => {
                    let mut rows = Vec::with_capacity(chunk.len() * l);
                    for &k in chunk {
                        rows.extend(states.row(k as usize).iter());
                    }
                    let w: Vec<f32> = chunk.iter().map(|&k| weights[k as usize] as f32).collect();
                    let (value, grads) = match &model {
                        Model::Factored(factored) => {
                            fused.batch(factored, &rows, &w, lambda_j, cfg.lambda_h)
                        }
                        // SAFETY: the previous step's gradients were dropped at
                        // the end of its iteration; nothing else copied them.
                        Model::Potts(potts) => unsafe {
                            fused.potts_batch(potts, &rows, &w, lambda_j, cfg.lambda_h)
                        },
                    };
                    (grads, value)
                }
                (StepPath::Torch(data), _) => {
                    let index = Tensor::from_slice(chunk).to_device(cfg.device);
                    let batch_states = data.states.index_select(0, &index);
                    let batch_weights = data.weights.index_select(0, &index);
                    // A model that keeps its coupling penalty out of the graph
                    // (Potts) has its value added here and its gradient added
                    // by `project_gradients`.
                    let outside = model.penalty_outside_graph(lambda_j);
                    let in_graph = if outside.is_some() { 0.0 } else { lambda_j };
                    let loss = objective_loss(&model, cfg, in_graph, &batch_states, &batch_weights);
                    // Gradients returned by the backward pass rather than
                    // accumulated into the parameters' zeroed `.grad`: three
                    // `(L·q)²` passes fewer per Potts step.
                    let mut grads = Tensor::run_backward(&[&loss], &vs_params, false, false);
                    model.project_gradients(&mut grads, lambda_j);
                    (grads, loss.double_value(&[]) + outside.unwrap_or(0.0))
                }
            };
            if fault.poisons(step) {
                value = f64::NAN;
            }
            if !value.is_finite() {
                failure = Some(format!("the loss became {value}"));
                break;
            }
            // Cosine decay from the learning rate to 0 over the run: large
            // early steps, then averaging out the mini-batch noise.
            let progress = step as f64 / total_steps as f64;
            optimizer.lr = learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            if !optimizer.apply(&gradients, &mut vs_params) {
                failure = Some("a gradient became non-finite".to_string());
                break;
            }
            let w: f64 = chunk.iter().map(|&k| weights[k as usize]).sum();
            epoch_loss += value * w;
            epoch_weight += w;
            step += 1;
            if batch + 1 < batches {
                on_progress(&Progress {
                    epoch,
                    epochs,
                    step,
                    steps: total_steps,
                    loss: epoch_loss / epoch_weight.max(f64::MIN_POSITIVE),
                    elapsed: start.elapsed().as_secs_f64(),
                    end_of_epoch: false,
                });
            }
        }
        if let Some(what) = failure {
            let message = format!(
                "training diverged: {what} at epoch {} step {}",
                epoch + 1,
                step + 1
            );
            if restarts.len() >= MAX_RESTARTS {
                return Err(anyhow::Error::new(Error::Diverged {
                    message: format!(
                        "{message}, again after restarting from the last good state with half the learning rate \
                         ({learning_rate}); try a smaller --learning-rate or a larger --lambda-j"
                    ),
                    loss_curve: curve,
                    restarts,
                }));
            }
            // Back to the end of the last good epoch, with a fresh optimiser at half the rate;
            // the failed epoch is done again (with the next batch order).
            checkpoint.restore(&mut vs_params);
            step = checkpoint.step;
            learning_rate /= 2.0;
            optimizer.reset(learning_rate);
            restarts.push(Restart {
                epoch: epoch + 1,
                reason: message,
                learning_rate,
            });
            continue;
        }
        let mean = epoch_loss / epoch_weight.max(f64::MIN_POSITIVE);
        curve.push(mean);
        checkpoint.update(&vs_params, step);
        epoch += 1;
        on_progress(&Progress {
            epoch,
            epochs,
            step,
            steps: total_steps,
            loss: mean,
            elapsed: start.elapsed().as_secs_f64(),
            end_of_epoch: true,
        });
    }
    // The step buffers, Adam's moments and the checkpoint go back to the
    // kernel: what follows training (extraction, the model file, another
    // family of a batch) does not add to them.
    drop((path, optimizer, checkpoint));
    crate::runtime::release_freed_memory();
    let report = TrainReport {
        loss_curve: curve,
        steps: step,
        seconds: start.elapsed().as_secs_f64(),
        device: device_name(cfg.device),
        restarts,
    };
    Ok((model, report))
}

// ---- Numerical guard (robustness): checkpoint, restart, fault injection. ----

/// How many times training restarts after a non-finite loss or gradient
/// before it gives up.
pub const MAX_RESTARTS: usize = 1;

/// A copy of the parameters at the end of the last good epoch (one more
/// copy of the parameters in memory, counted by `crate::memory`).
struct Checkpoint {
    params: Vec<Tensor>,
    step: usize,
}

impl Checkpoint {
    fn save(params: &[Tensor], step: usize) -> Checkpoint {
        let params = tch::no_grad(|| params.iter().map(|p| p.detach().copy()).collect());
        Checkpoint { params, step }
    }

    /// Overwrites the saved copy with `params` in place (no second copy of
    /// the parameters, even for a moment: the Potts model's is `(L·q)²`).
    fn update(&mut self, params: &[Tensor], step: usize) {
        tch::no_grad(|| {
            for (saved, p) in self.params.iter_mut().zip(params) {
                saved.copy_(p);
            }
        });
        self.step = step;
    }

    fn restore(&self, params: &mut [Tensor]) {
        tch::no_grad(|| {
            for (p, saved) in params.iter_mut().zip(&self.params) {
                p.copy_(saved);
            }
        });
    }
}

/// Test hook: `FADCA_FAULT_NAN_AT_STEPS=3,7` makes the loss NaN once at each
/// listed optimiser step (0-based; a step redone after a restart has the same
/// number, so `3,3` fails step 3 on both tries). Unset in normal use.
struct FaultInjection(Vec<usize>);

impl FaultInjection {
    fn from_env() -> FaultInjection {
        let steps = std::env::var("FADCA_FAULT_NAN_AT_STEPS")
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_default();
        FaultInjection(steps)
    }

    /// True (once per listing) when `step` is to be poisoned.
    fn poisons(&mut self, step: usize) -> bool {
        match self.0.iter().position(|&s| s == step) {
            Some(i) => {
                self.0.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

/// How a training step evaluates the objective: the fused CPU kernels, or
/// libtorch's operators on the alignment as tensors.
enum StepPath {
    Fused(FusedObjective),
    Torch(Data),
}

/// Adam (Kingma & Ba) over a list of leaf tensors; kept here rather than
/// `tch::nn::Adam` because the models hold plain tensors, not a VarStore.
struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: i32,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Adam {
    fn new(params: &[Tensor], lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: params.iter().map(|p| p.zeros_like()).collect(),
            v: params.iter().map(|p| p.zeros_like()).collect(),
        }
    }

    /// Starts again at `lr` with zero moments, overwriting them in place
    /// (a new optimiser would hold two sets for a moment: two `(L·q)²`
    /// tables for the Potts model).
    fn reset(&mut self, lr: f64) {
        self.lr = lr;
        self.t = 0;
        tch::no_grad(|| {
            for moment in self.m.iter_mut().chain(self.v.iter_mut()) {
                let _ = moment.zero_();
            }
        });
    }

    /// One step with given gradients (one per parameter, undefined ones
    /// skipped); returns false (and changes nothing) when one is not finite.
    /// CPU float32 tensors (every parameter on the CPU) are updated in place
    /// by a Rust loop over their memory on rayon's pool, others by libtorch
    /// operators: the same arithmetic, without a dozen libtorch operator
    /// calls per parameter per step (about a tenth of a small family's
    /// training time on the fused path).
    fn apply(&mut self, grads: &[Tensor], params: &mut [Tensor]) -> bool {
        let finite = grads.iter().all(|g| {
            // SAFETY: read-only view of a gradient nothing writes meanwhile.
            match unsafe { host_values(g) } {
                Some(values) => values.par_iter().all(|x| x.is_finite()),
                None => !g.defined() || g.isfinite().all().int64_value(&[]) != 0,
            }
        });
        if !finite {
            return false;
        }
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t);
        let bc2 = 1.0 - self.beta2.powi(self.t);
        tch::no_grad(|| {
            for (((p, g), m), v) in params
                .iter_mut()
                .zip(grads)
                .zip(&mut self.m)
                .zip(&mut self.v)
            {
                if !g.defined() {
                    continue;
                }
                // SAFETY: p, g, m and v are four tensors with storages of
                // their own (a parameter, its gradient, Adam's two moments);
                // nothing else touches them during the update.
                let host = unsafe {
                    (
                        host_values(p),
                        host_values(g),
                        host_values(m),
                        host_values(v),
                    )
                };
                if let (Some(p), Some(g), Some(m), Some(v)) = host {
                    let (beta1, beta2, eps) =
                        (self.beta1 as f32, self.beta2 as f32, self.eps as f32);
                    let step = (-self.lr / bc1) as f32;
                    let inv_bc2_sqrt = (1.0 / bc2.sqrt()) as f32;
                    p.par_chunks_mut(ADAM_CHUNK)
                        .zip(g.par_chunks(ADAM_CHUNK))
                        .zip(m.par_chunks_mut(ADAM_CHUNK))
                        .zip(v.par_chunks_mut(ADAM_CHUNK))
                        .for_each(|(((p, g), m), v)| {
                            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                                *m += (1.0 - beta1) * (g - *m);
                                *v += (1.0 - beta2) * (g * g - *v);
                                *p += *m * step / (v.sqrt() * inv_bc2_sqrt + eps);
                            }
                        });
                    continue;
                }
                // m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
                let _ = m.lerp_(g, 1.0 - self.beta1);
                let _ = v.lerp_(&g.square(), 1.0 - self.beta2);
                // p ← p − lr · (m/bc1) / (√(v/bc2) + ε)
                let mut denom = v.sqrt();
                let _ = denom
                    .g_mul_scalar_(1.0 / bc2.sqrt())
                    .g_add_scalar_(self.eps);
                let _ = p.addcdiv_(&(&*m * (-self.lr / bc1)), &denom);
            }
        });
        true
    }
}

/// Values per parallel task of Adam's update on the CPU.
const ADAM_CHUNK: usize = 1 << 14;

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam's Rust loop (float32 CPU tensors) and its libtorch operators
    /// (taken for float64) give the same parameters over a few steps,
    /// including a zero-size and a skipped (undefined) gradient.
    #[test]
    fn adam_loop_matches_the_libtorch_operators() {
        let start = |kind| -> Vec<Tensor> {
            vec![
                Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.0, 3.0]).to_kind(kind),
                Tensor::from_slice(&[1.5f32; 40_000]).to_kind(kind),
                Tensor::zeros([0], (kind, Device::Cpu)),
                Tensor::from_slice(&[7.0f32]).to_kind(kind),
            ]
        };
        let grads = |step: usize, kind| -> Vec<Tensor> {
            let s = step as f32;
            vec![
                Tensor::from_slice(&[0.1f32 * s, -0.2, 0.3, 1e-3, -4.0 + s]).to_kind(kind),
                // Away from 0, where m/√v is ill-conditioned in float32.
                Tensor::arange(40_000, (kind, Device::Cpu)) * (1e-4 * (s as f64 + 1.0)) + 0.5,
                Tensor::zeros([0], (kind, Device::Cpu)),
                Tensor::new(),
            ]
        };
        let mut fast = start(Kind::Float);
        let mut slow = start(Kind::Double);
        let mut adam_fast = Adam::new(&fast, 0.05);
        let mut adam_slow = Adam::new(&slow, 0.05);
        for step in 0..5 {
            assert!(adam_fast.apply(&grads(step, Kind::Float), &mut fast));
            assert!(adam_slow.apply(&grads(step, Kind::Double), &mut slow));
        }
        for (f, s) in fast.iter().zip(&slow) {
            if f.numel() == 0 {
                continue;
            }
            let diff = (f.to_kind(Kind::Double) - s).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "parameters differ by {diff}");
        }
        // The skipped parameter kept its value; the others moved.
        assert_eq!(fast[3].double_value(&[0]), 7.0);
        assert!((fast[0].double_value(&[0]) - 0.5).abs() > 0.1);
        // A non-finite gradient changes nothing.
        let before = fast[0].copy();
        let mut bad = grads(9, Kind::Float);
        bad[1] = bad[1].fill_(f64::NAN);
        assert!(!adam_fast.apply(&bad, &mut fast));
        assert_eq!(fast[0].double_value(&[1]), before.double_value(&[1]));
    }
}
