//! How a training step evaluates the objective and its gradients
//! ([`StepPath`]): the fused CPU kernels on the alignment as it is, or
//! libtorch's operators on the alignment as tensors on the training device.
use anyhow::Result;
use ndarray::Array2;
use tch::{Kind, Tensor};

use super::columns::reference_states;
use super::objective::objective_loss;
use super::{FusedObjective, Model, TrainConfig, uses_fused_kernels};

/// How a training step evaluates the objective: the fused CPU kernels on
/// the alignment as it is, or libtorch's operators on the alignment as
/// tensors on the training device.
pub(super) enum StepPath<'a> {
    Fused {
        /// Boxed: its buffers' handles make it far larger than the other variant.
        objective: Box<FusedObjective>,
        states: &'a Array2<u8>,
        weights: &'a [f64],
    },
    Torch {
        states: Tensor,
        weights: Tensor,
    },
}

/// The gradients of one step, in the order of [`Model::parameters`]: lent
/// by the fused objective until its next step (with, for the Potts
/// model's raw table gradient, the rows that hold it), or owned.
pub(super) enum Gradients<'a> {
    Lent(&'a [Tensor], Option<&'a [u32]>),
    Owned(Vec<Tensor>),
}

impl Gradients<'_> {
    /// The rows of a raw Potts table gradient that hold one (see
    /// [`FusedObjective::lend_raw_potts_gradient`]); `None` for projected
    /// gradients.
    pub(super) fn table_rows(&self) -> Option<&[u32]> {
        match self {
            Gradients::Lent(_, rows) => *rows,
            Gradients::Owned(_) => None,
        }
    }
}

impl std::ops::Deref for Gradients<'_> {
    type Target = [Tensor];

    fn deref(&self) -> &[Tensor] {
        match self {
            Gradients::Lent(g, _) => g,
            Gradients::Owned(g) => g,
        }
    }
}

impl<'a> StepPath<'a> {
    /// The fused CPU kernels for either model's pseudo-likelihood (see
    /// [`uses_fused_kernels`]), on libtorch's threads; libtorch's operators
    /// otherwise, which need the alignment as tensors.
    pub(super) fn new(
        states: &'a Array2<u8>,
        weights: &'a [f64],
        cfg: &TrainConfig,
    ) -> Result<StepPath<'a>> {
        if uses_fused_kernels(cfg.device, cfg.objective) {
            let threads = tch::get_num_threads().max(1);
            let objective =
                FusedObjective::new(threads as usize, reference_states(states, weights))?;
            return Ok(StepPath::Fused {
                objective: Box::new(objective),
                states,
                weights,
            });
        }
        let (n, l) = states.dim();
        let flat: Vec<i64> = states.iter().map(|&s| s as i64).collect();
        Ok(StepPath::Torch {
            states: Tensor::from_slice(&flat)
                .reshape([n as i64, l as i64])
                .to_device(cfg.device),
            weights: Tensor::from_slice(weights)
                .to_kind(Kind::Float)
                .to_device(cfg.device),
        })
    }

    /// The objective on the sequences `chunk` and its gradients with
    /// respect to `params` (the model's parameters), as the optimiser
    /// applies them ([`Model::project_gradients`]; the fused path's Potts
    /// table gradient raw, for an optimiser that projects it).
    pub(super) fn evaluate(
        &mut self,
        model: &Model,
        params: &[Tensor],
        chunk: &[i64],
        cfg: &TrainConfig,
        lambda_j: f64,
    ) -> (f64, Gradients<'_>) {
        match self {
            StepPath::Fused {
                objective,
                states,
                weights,
            } => {
                let l = states.ncols();
                let mut rows = Vec::with_capacity(chunk.len() * l);
                for &k in chunk {
                    rows.extend(states.row(k as usize).iter());
                }
                let w: Vec<f32> = chunk.iter().map(|&k| weights[k as usize] as f32).collect();
                let (value, gradients, table_rows) =
                    objective.step(model, &rows, &w, lambda_j, cfg.lambda_h);
                (value, Gradients::Lent(gradients, table_rows))
            }
            StepPath::Torch { states, weights } => {
                let index = Tensor::from_slice(chunk).to_device(cfg.device);
                let batch_states = states.index_select(0, &index);
                let batch_weights = weights.index_select(0, &index);
                // A model that keeps its coupling penalty out of the graph
                // (Potts) has its value added here and its gradient added
                // by `project_gradients`.
                let outside = model.penalty_outside_graph(lambda_j);
                let in_graph = if outside.is_some() { 0.0 } else { lambda_j };
                let loss = objective_loss(model, cfg, in_graph, &batch_states, &batch_weights);
                // Gradients returned by the backward pass rather than
                // accumulated into the parameters' zeroed `.grad`: three
                // `(L·q)²` passes fewer per Potts step.
                let mut grads = Tensor::run_backward(&[&loss], params, false, false);
                model.project_gradients(&mut grads, lambda_j);
                let value = loss.double_value(&[]) + outside.unwrap_or(0.0);
                (value, Gradients::Owned(grads))
            }
        }
    }

    /// Hands the fused Potts objective `Σ W²` of the table its next step
    /// reads, as the optimiser computed it (see
    /// [`FusedObjective::set_potts_norm2`]); the other paths compute it.
    pub(super) fn set_potts_norm2(&mut self, norm2: f64) {
        if let StepPath::Fused { objective, .. } = self {
            objective.set_potts_norm2(norm2);
        }
    }
}
