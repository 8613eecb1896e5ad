//! Models and their training (SPEC §1).
//!
//! Two models share one trainer: *factored attention* (attention from
//! positions only, values from states only, [`factored`]) and the classical
//! *full Potts* model (plmDCA, [`potts`]); [`Model`] is either.
//!
//! Both models produce, for a batch of sequences, the conditional logits
//! `h_i(a) + Σ_{j≠i} J_ij(a, x_j)` through one coupling table
//! `W[(j,b), (i,a)] = J_ij(a,b)` of shape `(L·q) × (L·q)`: the logits of a
//! sequence are the sum of the L rows selected by its states (an
//! embedding bag), which costs `L²q` per sequence whatever the number of
//! heads. See BENCHMARKS.md for why this path was chosen.
//!
//! Where each part lives:
//!
//! | concept | module |
//! |---|---|
//! | the model enum, its logits and couplings | here |
//! | which model a run trains (`--model auto`) | [`choice`] |
//! | the two models' parameters | [`factored`], [`potts`] |
//! | hyper-parameters, defaults, schedule, validation | `config` ([`TrainConfig`], [`Objective`]) |
//! | the objective in libtorch operators (pseudo-likelihood, masked, penalties) | `objective` ([`batch_loss`], [`masked_batch_loss`], [`neg_log_likelihood`]) |
//! | the same objective on the fused CPU kernels | `fused_objective` ([`FusedObjective`]) |
//! | the kernels themselves (attention, table, pseudo-likelihood rows, Potts) | [`kernels`] |
//! | initial fields and the kernels' reference sequence | `columns` ([`reference_states`]) |
//! | the optimiser | `adam` |
//! | the training loop, its progress and report | `train` ([`train`], [`Progress`], [`TrainReport`]) |
//! | a step's objective and gradients: fused kernels or libtorch | `step` |
//! | when training stops: fixed length or the top-L stopping rule | `stopping` ([`StopRule`], [`StopReason`]) |
//! | checkpoint, restart after divergence, fault injection | `guard` ([`MAX_RESTARTS`]) |
//! | model files (safetensors) | `file` ([`Model::save`], [`Model::load`]) |
//! | values shared by many families: joint training, checkpoints | [`joint`] |
//! | files of shared values (`fadca train-values`) | `values_file` ([`save_values`], [`load_values`]) |
//! | in-place views of CPU tensors (the crate's `unsafe` way into them) | `host` |
//! | the memory a training run needs | [`memory`] |
use ndarray::{Array4, ArrayView4, ShapeBuilder};
use tch::{Device, Kind, Tensor};

pub mod choice;
pub mod factored;
pub mod joint;
pub mod kernels;
pub mod memory;
pub mod potts;

mod adam;
mod columns;
mod config;
mod file;
mod fused_objective;
mod guard;
mod host;
mod objective;
mod step;
mod stopping;
mod train;
mod values_file;

pub use crate::error::Restart;
pub use columns::reference_states;
pub use config::{
    DEFAULT_MASK_PROB, Objective, StartValues, TrainConfig, plmc_lambda_scale, uses_fused_kernels,
};
pub use fused_objective::{BLOCK_SITES, FusedObjective};
pub use guard::MAX_RESTARTS;
pub use objective::{batch_loss, masked_batch_loss, neg_log_likelihood};
pub use stopping::{Check, StopReason, StopRule, TopPairs, kept_fraction};
pub use train::{Progress, TrainReport, train, train_until_converged};
pub use values_file::{VALUES_KEY, load_values, save_values};

use crate::Q;
use host::host_values;

/// Which model to train.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// One layer of factored self-attention: `J_ij = Σ_h A^h_ij V^h` (the default).
    Factored,
    /// Free symmetric couplings `J_ij(a,b)` with `J_ii = 0` (plmDCA).
    Potts,
}

impl ModelKind {
    /// Lowercase name as used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Factored => "factored",
            ModelKind::Potts => "potts",
        }
    }
}

/// A trained (or training) model: its parameters as libtorch tensors.
#[derive(Debug)]
pub enum Model {
    /// Factored attention.
    Factored(factored::FactoredAttention),
    /// Full Potts model.
    Potts(potts::Potts),
}

impl Model {
    /// Creates a freshly initialised model of `kind` for length `l`.
    /// `fields` are the initial fields (L×q, e.g. log frequencies).
    pub fn new(kind: ModelKind, l: usize, heads: usize, head_dim: usize, fields: Tensor) -> Model {
        match kind {
            ModelKind::Factored => {
                Model::Factored(factored::FactoredAttention::new(l, heads, head_dim, fields))
            }
            ModelKind::Potts => Model::Potts(potts::Potts::new(l, fields)),
        }
    }

    /// The model kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Factored(_) => ModelKind::Factored,
            Model::Potts(_) => ModelKind::Potts,
        }
    }

    /// Sequence length L.
    pub fn length(&self) -> usize {
        self.fields().size()[0] as usize
    }

    /// Fields `h` (L×q).
    pub fn fields(&self) -> &Tensor {
        match self {
            Model::Factored(m) => &m.fields,
            Model::Potts(m) => &m.fields,
        }
    }

    /// The trainable tensors (each with `requires_grad`).
    pub fn parameters(&self) -> Vec<&Tensor> {
        match self {
            Model::Factored(m) => vec![&m.query, &m.key, &m.value, &m.fields],
            Model::Potts(m) => vec![&m.couplings, &m.fields],
        }
    }

    /// `Some(λ_J Σ_{i≠j} ‖J_ij‖²)` for a model whose coupling penalty the
    /// trainer keeps out of the autograd graph, adding this value and the
    /// penalty's gradient itself ([`Model::project_gradients`]): the Potts
    /// model, whose penalty over the `(L·q)²` table costs several passes
    /// over it in the graph. `None` for the factored model (penalty in the
    /// graph).
    pub fn penalty_outside_graph(&self, lambda_j: f64) -> Option<f64> {
        match self {
            Model::Potts(m) => Some(lambda_j * m.couplings_norm2()),
            Model::Factored(_) => None,
        }
    }

    /// Turns the gradients of the objective with respect to
    /// [`Model::parameters`] (same order) into those the optimiser applies:
    /// for the Potts model the table's gradient is projected onto symmetric
    /// tables with zero diagonal blocks and the coupling penalty's gradient
    /// `2·λ_J·W` added ([`potts::Potts::project_gradient`]), which keeps
    /// the table symmetric; the factored model's are left as they are.
    pub fn project_gradients(&self, gradients: &mut [Tensor], lambda_j: f64) {
        if let Model::Potts(m) = self
            && let Some(g) = gradients.first_mut().filter(|g| g.defined())
        {
            *g = m.project_gradient(g, lambda_j);
        }
    }

    /// The coupling table `W[(j,b),(i,a)] = J_ij(a,b)`, `(L·q)×(L·q)`, with
    /// zero blocks on the diagonal (differentiable).
    pub fn coupling_table(&self) -> Tensor {
        match self {
            Model::Factored(m) => m.coupling_table(),
            Model::Potts(m) => m.coupling_table(),
        }
    }

    /// The coupling table and `Σ_{i≠j} ‖J_ij‖²` (both differentiable), the
    /// table built once (and, for the factored model, the attention once).
    pub fn coupling_table_and_norm2(&self) -> (Tensor, Tensor) {
        match self {
            Model::Factored(m) => m.coupling_table_and_norm2(),
            Model::Potts(m) => {
                let table = m.coupling_table();
                let norm2 = table.square().sum(table.kind());
                (table, norm2)
            }
        }
    }

    /// Conditional logits `h_i(a) + Σ_j J_ij(a, x_j)` of a batch: `states`
    /// is B×L (Int64), the result B×L×q.
    pub fn logits(&self, table: &Tensor, states: &Tensor) -> Tensor {
        self.logits_keeping(table, states, None)
    }

    /// Like [`Model::logits`], with each site's contribution to the others
    /// multiplied by `keep` (B×L, 0 leaves a masked site out of its
    /// sequence's sum: an embedding bag with per-sample weights).
    pub fn logits_keeping(&self, table: &Tensor, states: &Tensor, keep: Option<&Tensor>) -> Tensor {
        let size = states.size();
        let (b, l) = (size[0], size[1]);
        let offsets = Tensor::arange(l, (Kind::Int64, states.device())) * Q as i64;
        let index = (states + offsets.unsqueeze(0)).reshape([-1]);
        let bag_offsets = Tensor::arange(b, (Kind::Int64, states.device())) * l;
        let keep = keep.map(|k| k.reshape([-1]));
        let (sum, _, _, _) = Tensor::embedding_bag(
            table,
            &index,
            &bag_offsets,
            false,
            0, // mode sum
            false,
            keep.as_ref(),
            false,
        );
        sum.reshape([b, l, Q as i64]) + self.fields().unsqueeze(0)
    }

    /// The asymmetric couplings `J[i][j][a][b] = J_ij(a,b)` (L×L×q×q), as
    /// trained (SPEC §1), on the CPU: the whole array, `L²q²` floats (at
    /// L = 1500, 4 GB). Contact extraction and `couplings.npy` read them
    /// without it ([`Model::with_couplings`] for the Potts model,
    /// [`factored::HostFactors`] for factored attention).
    pub fn couplings(&self) -> Array4<f32> {
        let l = self.length();
        if let Model::Factored(m) = self {
            let factors = m.host_factors();
            let mut data = vec![0.0f32; l * l * Q * Q];
            for (i, row) in data.chunks_exact_mut(l * Q * Q).enumerate() {
                factors.row(i, row);
            }
            return Array4::from_shape_vec((l, l, Q, Q), data).expect("shape matches");
        }
        self.with_couplings(|j| j.to_owned())
    }

    /// Calls `f` with a view of the couplings `J[i][j][a][b]` (L×L×q×q,
    /// asymmetric as trained). The Potts model's table is read in place
    /// through strides (no permuted `(L·q)²` copy: at L = 1500 each is
    /// 4 GB); factored attention's array is made ([`Model::couplings`]).
    pub fn with_couplings<R>(&self, f: impl FnOnce(ArrayView4<f32>) -> R) -> R {
        let l = self.length();
        match self {
            Model::Factored(_) => f(self.couplings().view()),
            Model::Potts(m) => {
                // SAFETY: read-only; nothing writes the table while `f` runs
                // (the model is borrowed shared).
                if let Some(table) = unsafe { host_values(&m.couplings) } {
                    // table[(j,b),(i,a)] = J[i][j][a][b], read in place through
                    // strides (no permuted (L·q)² copy).
                    let n = l * Q;
                    let view =
                        ArrayView4::from_shape((l, l, Q, Q).strides((Q, Q * n, 1, n)), table)
                            .expect("an (L·q)² table");
                    return f(view);
                }
                let j = self.coupling_tensor();
                // SAFETY: `j` is made here and nothing else holds it while `f` runs.
                let values: &[f32] =
                    unsafe { host_values(&j) }.expect("contiguous float32 CPU couplings");
                f(ArrayView4::from_shape((l, l, Q, Q), values).expect("shape matches"))
            }
        }
    }

    /// The Potts model's couplings `J[i][j][a][b]` as a contiguous float32
    /// CPU tensor (L×L×q×q), outside autograd, for a table that cannot be
    /// read in place (on CUDA, or float64).
    fn coupling_tensor(&self) -> Tensor {
        let (l, q) = (self.length() as i64, Q as i64);
        tch::no_grad(|| {
            self.coupling_table()
                .reshape([l, q, l, q])
                .permute([2, 0, 3, 1])
        })
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
    }
}
