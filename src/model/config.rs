//! How a training run is configured: the hyper-parameters
//! ([`TrainConfig`]), their defaults and automatic values (schedule, λ_J),
//! their validation, the objective ([`Objective`]) and which code path a
//! configuration trains on ([`uses_fused_kernels`]).
use anyhow::Result;
use tch::Device;

use super::ModelKind;
use super::stopping::StopRule;
use crate::runtime::device_name;

/// Optimiser steps aimed at by the automatic schedule of factored
/// attention (the most it trains; the stopping rule may end it sooner).
pub const AUTO_STEPS: usize = 400;

/// Optimiser steps aimed at by the automatic schedule of the Potts model:
/// its learning rate decays over 350 steps instead of 400, so that the
/// stopping rule fires sooner. On DEV with the rule, one binary: 300 steps
/// 0.5379 mean top-L (worst family −0.034 against 6bbcf06), 350 0.5399
/// (−0.019), 375 0.5402 (−0.022), in 35.7, 38.7 and 41.0 s; 400 gave
/// 0.5394 (−0.019). 350 is the shortest inside the bounds (mean
/// within 0.003, no family 0.02 below; BENCHMARKS.md, "The Potts step
/// bound by memory traffic"). Factored attention needs its 400 (350:
/// 0.4411 against 0.4492).
pub const AUTO_STEPS_POTTS: usize = 350;

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
    /// Passes over the alignment, a fixed length; `None` = automatic (see
    /// [`TrainConfig::schedule`]).
    pub epochs: Option<usize>,
    /// Optimiser steps, a fixed length (`--steps`; overrides `epochs`);
    /// `None` = automatic: until the stopping rule says the contacts have
    /// converged, at most the automatic schedule's steps.
    pub steps: Option<usize>,
    /// The stopping rule of the automatic length (issue #17).
    pub stop: StopRule,
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
    /// Shared values to start the factored model from (`--values`), fixed
    /// or fine-tuned; `None`: values drawn at random and trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<StartValues>,
}

/// Values `V^h` trained on other families (`fadca train-values`) that a
/// factored model starts from: their number of heads fixes H.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StartValues {
    /// `V^h(a,b)` laid out `[h][a][b]` (H·q·q floats).
    #[serde(skip)]
    pub values: std::sync::Arc<Vec<f32>>,
    /// Heads H.
    pub heads: usize,
    /// Whether training updates them (`--train-values`) or keeps them fixed.
    pub trained: bool,
    /// The values file they were read from.
    pub source: String,
    /// SHA-256 of that file.
    pub sha256: String,
}

/// `(L−1)/M_eff`: how plmc's coupling penalty, `c·(L−1)` per pair of the
/// un-normalised objective, scales per entry of `J` in this objective
/// (divided by `M_eff`); λ_J = `c'`·this (the Potts default's `c'` is 0.1).
pub fn plmc_lambda_scale(l: usize, meff: f64) -> f64 {
    (l.max(2) - 1) as f64 / meff.max(1.0)
}

/// What the trainer minimises (see [`super::masked_batch_loss`] for `Mlm`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Full pseudo-likelihood: every site predicted from all the others (the default).
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
            steps: None,
            stop: StopRule::default(),
            batch_size: None,
            seed: 0,
            device: Device::Cpu,
            objective: Objective::Pll,
            mask_prob: DEFAULT_MASK_PROB,
            values: None,
        }
    }

    /// The effective (epochs, batch size) for `n` sequences. Convergence
    /// depends on the number of optimiser steps more than on the number of
    /// passes or the batch size: on the DEV benchmark 400 steps of 256
    /// sequences gave the precision of 400 steps of 512 (0.4465 against
    /// 0.4478; 128 sequences: 0.4395) in three quarters of the time. So the
    /// automatic schedule takes batches of min(N, 256) sequences and enough
    /// passes for about [`TrainConfig::auto_steps`] steps (at least 2
    /// passes). README shows the benchmark.
    pub fn schedule(&self, n: usize) -> (usize, usize) {
        let batch = self.batch_size.unwrap_or_else(|| n.clamp(1, AUTO_BATCH));
        let epochs = self.epochs.unwrap_or_else(|| {
            let steps_per_epoch = n.div_ceil(batch).max(1);
            self.auto_steps().div_ceil(steps_per_epoch).max(2)
        });
        (epochs, batch)
    }

    /// The steps the automatic schedule aims at for this model:
    /// 350 for the Potts model, 400 for factored attention (the constants
    /// `AUTO_STEPS_POTTS` and `AUTO_STEPS` say why).
    pub fn auto_steps(&self) -> usize {
        match self.model {
            ModelKind::Potts => AUTO_STEPS_POTTS,
            ModelKind::Factored => AUTO_STEPS,
        }
    }

    /// The most optimiser steps a run on `n` sequences takes: `--steps`,
    /// else the schedule's epochs times batches per epoch.
    pub fn max_steps(&self, n: usize) -> usize {
        let (epochs, batch) = self.schedule(n);
        self.steps
            .unwrap_or_else(|| epochs * n.div_ceil(batch).max(1))
    }

    /// Whether the length is fixed (`--steps` or `--epochs`), so that the
    /// stopping rule does not apply.
    pub fn fixed_length(&self) -> bool {
        self.steps.is_some() || self.epochs.is_some()
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
        // Checked for both models: under `--model auto` either may train.
        if let Some(v) = &self.values
            && (v.heads != self.heads || v.values.len() != v.heads * crate::Q * crate::Q)
        {
            return Err(crate::error::input_error(format!(
                "--values {}: {} heads in the values file, but --heads is {}",
                v.source, v.heads, self.heads
            )));
        }
        if self.heads == 0 || self.head_dim == 0 {
            return Err(crate::error::input_error(
                "--heads and --head-dim must be at least 1",
            ));
        }
        if self.epochs == Some(0) || self.batch_size == Some(0) || self.steps == Some(0) {
            return Err(crate::error::input_error(
                "--epochs, --steps and --batch-size must be at least 1",
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

/// Whether training on `device` with `objective` runs on the fused CPU
/// kernels ([`super::FusedObjective`]: either model's pseudo-likelihood on the
/// CPU) rather than libtorch's operators; the two paths differ in speed and
/// in memory ([`super::memory`]).
pub fn uses_fused_kernels(device: Device, objective: Objective) -> bool {
    device == Device::Cpu && objective == Objective::Pll
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The automatic schedule's maximum is the model's: 350 steps for the
    /// Potts model, 400 for factored attention, in passes of min(N, 256)
    /// sequences (at least 2).
    #[test]
    fn the_automatic_maximum_is_the_models() {
        let potts = TrainConfig::defaults(ModelKind::Potts);
        let factored = TrainConfig::defaults(ModelKind::Factored);
        assert_eq!(potts.max_steps(200), 350);
        assert_eq!(factored.max_steps(200), 400);
        // 1000 sequences: 4 batches a pass, 88 and 100 passes.
        assert_eq!(potts.schedule(1000), (88, 256));
        assert_eq!(potts.max_steps(1000), 352);
        assert_eq!(factored.max_steps(1000), 400);
        // Many sequences: at least 2 passes.
        assert_eq!(potts.max_steps(256 * 300), 600);
    }
}
