//! The training objective in libtorch operators (SPEC §1): weighted
//! pseudo-likelihood plus L2 ([`batch_loss`]), and the masked-language-model
//! variant ([`masked_batch_loss`]).
//!
//! These differentiable functions are the trainer's path on CUDA and for
//! the masked objective, and the reference the fused CPU kernels
//! ([`super::FusedObjective`]) are tested against.
use tch::{Kind, Tensor};

use super::{Model, Objective, TrainConfig};

/// The pseudo-likelihood objective on a batch `B`: `states` B×L (Int64)
/// with `weights` (B). Differentiable in the model's parameters.
///
/// ```text
/// loss = − (1/Σ_{n∈B} w_n) Σ_{n∈B} w_n Σ_i log P(x_ni | x_n\i)
///        + λ_J Σ_{i≠j} ‖J_ij‖² + λ_h Σ_i ‖h_i‖²
/// ```
///
/// On the whole alignment at once this is exactly SPEC's objective with
/// `M_eff = Σ w_n`. The factored model's L2 is put on the couplings it
/// produces, `J_ij = Σ_h A^h_ij V^h`, not on Q, K, V: it is the same penalty
/// as the Potts model's, so the two models are regularised alike and λ_J
/// means the same thing for both.
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

/// The objective `cfg.objective` on a batch: [`batch_loss`] for `Pll`;
/// for `Mlm` a fresh random mask (libtorch's generator, seeded by [`train`])
/// and [`masked_batch_loss`].
pub(super) fn objective_loss(
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
