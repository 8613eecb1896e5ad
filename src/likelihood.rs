//! How well a model predicts an alignment: the mean per-site negative
//! log-likelihood of its sequences under the model's conditionals
//! (`fadca evaluate`, SPEC §6).
//!
//! For a sequence `x` of length L the per-site NLL is
//!
//! ```text
//! nll(x) = −(1/L) Σ_i log P(x_i | x_\i),   P(x_i = a | x_\i) = softmax_a(h_i(a) + Σ_{j≠i} J_ij(a, x_j))
//! ```
//!
//! — the negative log pseudo-likelihood per site, the quantity a student
//! minimises in training. Over an alignment it is averaged with sequence
//! weights `w_n` (`Σ_n w_n nll(x_n) / Σ_n w_n`; all 1 without weighting), and
//! the perplexity is `exp` of the mean. A planted teacher (`fadca simulate`)
//! gives the same number under the true conditionals; the *gap*
//! `student − teacher` is how far the student is from the truth on these
//! sequences. On held-out samples of the teacher its expectation is ≥ 0 (the
//! true conditionals minimise the expected conditional cross-entropy) and
//! shrinks as the student learns; on the training set it can be negative
//! (overfitting).
use anyhow::Result;
use ndarray::Array2;
use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use crate::Q;
use crate::error::input_error;
use crate::model::{Model, neg_log_likelihood};
use crate::simulate::Teacher;

/// Sequences per libtorch batch when scoring with a model.
const BATCH: usize = 512;

/// Fails (an internal error) when a state of `states` is not below [`Q`].
fn check_states(states: &Array2<u8>) -> Result<()> {
    if let Some(&s) = states.iter().find(|&&s| s as usize >= Q) {
        anyhow::bail!("state {s} out of range (q = {Q})");
    }
    Ok(())
}

/// Per-sequence sums `−Σ_i log P(x_ni | x_n\i)` under `model` (on the
/// model's device, in batches, without gradients). `states` is N×L with L the model's length.
pub fn model_sequence_nll(model: &Model, states: &Array2<u8>) -> Result<Vec<f64>> {
    let (n, l) = states.dim();
    if l != model.length() {
        return Err(input_error(format!(
            "alignment has {l} columns but the model was trained on L = {}",
            model.length()
        )));
    }
    check_states(states)?;
    let mut out = Vec::with_capacity(n);
    tch::no_grad(|| -> Result<()> {
        let device = model.fields().device();
        let table = model.coupling_table();
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let flat: Vec<i64> = states
                .slice(ndarray::s![start..end, ..])
                .iter()
                .map(|&s| s as i64)
                .collect();
            let batch = Tensor::from_slice(&flat)
                .reshape([(end - start) as i64, l as i64])
                .to_device(device);
            let logits = model.logits(&table, &batch).to_kind(Kind::Double);
            let nll: Vec<f64> =
                Vec::<f64>::try_from(neg_log_likelihood(&logits, &batch).to_device(Device::Cpu))?;
            out.extend(nll);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Per-sequence sums `−Σ_i log P(x_ni | x_n\i)` under a teacher's exact
/// conditionals. `states` is N×L with L the teacher's length.
pub fn teacher_sequence_nll(teacher: &Teacher, states: &Array2<u8>) -> Result<Vec<f64>> {
    let (_, l) = states.dim();
    if l != teacher.len() {
        return Err(input_error(format!(
            "alignment has {l} columns but the teacher has L = {}",
            teacher.len()
        )));
    }
    check_states(states)?;
    let rows: Vec<Vec<u8>> = states.rows().into_iter().map(|r| r.to_vec()).collect();
    Ok(rows
        .par_iter()
        .map(|x| {
            (0..l)
                .map(|i| -teacher.conditional_log_probs(x, i)[x[i] as usize])
                .sum()
        })
        .collect())
}

/// Weighted mean per-site NLL from per-sequence sums: `Σ w_n s_n / (L Σ w_n)`.
pub fn mean_site_nll(sequence_nll: &[f64], weights: &[f64], length: usize) -> f64 {
    let total: f64 = weights.iter().sum();
    let sum: f64 = sequence_nll.iter().zip(weights).map(|(s, w)| s * w).sum();
    sum / (total * length as f64)
}

/// NLL and perplexity of one model on an alignment.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Likelihood {
    /// Weighted mean per-site negative log-likelihood (nats).
    pub nll_per_site: f64,
    /// `exp(nll_per_site)`: the effective number of states per site (1…21).
    pub perplexity: f64,
}

impl Likelihood {
    /// From a mean per-site NLL.
    pub fn from_nll(nll_per_site: f64) -> Likelihood {
        Likelihood {
            nll_per_site,
            perplexity: nll_per_site.exp(),
        }
    }
}

/// What `fadca evaluate` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evaluation {
    /// Sequences scored.
    pub sequences: usize,
    /// Columns L.
    pub length: usize,
    /// Whether sequence weights were used.
    pub weighted: bool,
    /// Identity threshold of the weights (1 = unweighted).
    pub theta: f64,
    /// Σ w_n.
    pub meff: f64,
    /// Under the model.
    pub model: Likelihood,
    /// Under the teacher, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teacher: Option<Likelihood>,
    /// `model.nll_per_site − teacher.nll_per_site` (nats per site).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<f64>,
}

/// Evaluates `model` (and `teacher`, if any) on `states` with `weights`.
pub fn evaluate(
    model: &Model,
    teacher: Option<&Teacher>,
    states: &Array2<u8>,
    weights: &[f64],
    theta: f64,
) -> Result<Evaluation> {
    let (n, l) = states.dim();
    if n == 0 {
        return Err(input_error("the alignment has no sequences to evaluate"));
    }
    if weights.len() != n {
        anyhow::bail!("{} weights for {n} sequences", weights.len());
    }
    let model_nll = mean_site_nll(&model_sequence_nll(model, states)?, weights, l);
    let teacher_nll = match teacher {
        Some(t) => Some(mean_site_nll(&teacher_sequence_nll(t, states)?, weights, l)),
        None => None,
    };
    Ok(Evaluation {
        sequences: n,
        length: l,
        weighted: theta < 1.0,
        theta,
        meff: weights.iter().sum(),
        model: Likelihood::from_nll(model_nll),
        teacher: teacher_nll.map(Likelihood::from_nll),
        gap: teacher_nll.map(|t| model_nll - t),
    })
}

impl Evaluation {
    /// A few human-readable lines.
    pub fn render(&self) -> String {
        let mut out = format!(
            "sequences {} (L = {}), {}\n",
            self.sequences,
            self.length,
            if self.weighted {
                format!("weighted (theta {}, M_eff = {:.1})", self.theta, self.meff)
            } else {
                "unweighted".to_string()
            }
        );
        out.push_str(&format!(
            "model     NLL {:.5} nats/site, perplexity {:.4}\n",
            self.model.nll_per_site, self.model.perplexity
        ));
        if let (Some(t), Some(gap)) = (self.teacher, self.gap) {
            out.push_str(&format!(
                "teacher   NLL {:.5} nats/site, perplexity {:.4}\ngap       {:+.5} nats/site (model − teacher)\n",
                t.nll_per_site, t.perplexity, gap
            ));
        }
        out
    }
}
