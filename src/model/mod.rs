//! Models and their training (SPEC §1).
//!
//! Two models share one trainer ([`train`]: weighted pseudo-likelihood + L2,
//! Adam on mini-batches): *factored attention* (attention from positions
//! only, values from states only, [`factored`]) and the classical *full
//! Potts* model (plmDCA, [`potts`]).
//!
//! Both models produce, for a batch of sequences, the conditional logits
//! `h_i(a) + Σ_{j≠i} J_ij(a, x_j)` through one coupling table
//! `W[(j,b), (i,a)] = J_ij(a,b)` of shape `(L·q) × (L·q)`: the logits of a
//! sequence are the sum of the L rows selected by its states (an
//! embedding bag), which costs `L²q` per sequence whatever the number of
//! heads. See [`train`] for the objective and BENCHMARKS.md for why this
//! path was chosen.
use std::path::Path;

use anyhow::{Context, Result, bail};
use ndarray::{Array4, ArrayView4, ShapeBuilder};
use tch::{Device, Kind, Tensor};

pub mod factored;
pub mod kernels;
pub mod memory;
pub mod potts;
mod trainer;

pub use crate::error::Restart;
pub use trainer::MAX_RESTARTS;
pub use trainer::{
    DEFAULT_MASK_PROB, FusedObjective, Objective, Progress, TrainConfig, TrainReport, batch_loss,
    masked_batch_loss, neg_log_likelihood, plmc_lambda_scale, reference_states, train,
    uses_fused_kernels,
};

use crate::Q;

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
    /// trained (SPEC §1), on the CPU.
    pub fn couplings(&self) -> Array4<f32> {
        let l = self.length();
        let j = self.coupling_tensor();
        let data: Vec<f32> = Vec::<f32>::try_from(j.reshape([-1])).expect("float tensor");
        Array4::from_shape_vec((l, l, Q, Q), data).expect("shape matches")
    }

    /// Calls `f` with a view of the couplings `J[i][j][a][b]` (L×L×q×q,
    /// asymmetric as trained) read from one coupling array in libtorch's
    /// memory instead of a copy of it: at L = 1500 that array is 4 GB, and
    /// the copies (the table, its permutation, the Rust array) used to set
    /// the peak memory of a whole run. The Potts model's table is read in
    /// place through strides. Contact scores are computed this way
    /// ([`crate::couplings::model_contact_scores`]).
    pub fn with_couplings<R>(&self, f: impl FnOnce(ArrayView4<f32>) -> R) -> R {
        let l = self.length();
        if let Model::Potts(m) = self {
            // SAFETY: read-only; nothing writes the table meanwhile.
            if let Some(table) = unsafe { host_values(&m.couplings) } {
                // table[(j,b),(i,a)] = J[i][j][a][b], read in place through
                // strides (no permuted (L·q)² copy).
                let n = l * Q;
                let view = ArrayView4::from_shape((l, l, Q, Q).strides((Q, Q * n, 1, n)), &*table)
                    .expect("an (L·q)² table");
                return f(view);
            }
        }
        let j = self.coupling_tensor();
        // SAFETY: `j` is made here and nothing else holds it while `f` runs.
        let values: &[f32] = unsafe { host_values(&j) }.expect("contiguous float32 CPU couplings");
        f(ArrayView4::from_shape((l, l, Q, Q), values).expect("shape matches"))
    }

    /// The couplings `J[i][j][a][b]` as a contiguous float32 CPU tensor
    /// (L×L×q×q), outside autograd.
    fn coupling_tensor(&self) -> Tensor {
        let (l, q) = (self.length() as i64, Q as i64);
        tch::no_grad(|| match self {
            Model::Factored(m) => m.couplings(),
            // table[(j,b),(i,a)] -> J[i,j,a,b]
            Model::Potts(m) => m
                .coupling_table()
                .reshape([l, q, l, q])
                .permute([2, 0, 3, 1]),
        })
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
    }

    /// The model on the CPU as float32 — exactly the tensors [`Model::save`]
    /// writes, so that contacts computed from it equal those computed from
    /// the saved file ([`Model::load`]).
    pub fn to_cpu(&self) -> Result<Model> {
        let named = self
            .named_tensors()
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect();
        Model::from_named_tensors(self.kind(), named)
    }

    /// Named tensors for saving (CPU, float32).
    pub fn named_tensors(&self) -> Vec<(&'static str, Tensor)> {
        let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        match self {
            Model::Factored(m) => vec![
                ("query", cpu(&m.query)),
                ("key", cpu(&m.key)),
                ("value", cpu(&m.value)),
                ("fields", cpu(&m.fields)),
            ],
            Model::Potts(m) => {
                vec![("couplings", cpu(&m.couplings)), ("fields", cpu(&m.fields))]
            }
        }
    }

    /// Rebuilds a model from saved tensors.
    pub fn from_named_tensors(kind: ModelKind, mut named: Vec<(String, Tensor)>) -> Result<Model> {
        let mut take = |name: &str| -> Result<Tensor> {
            let pos = named
                .iter()
                .position(|(n, _)| n == name)
                .with_context(|| format!("tensor '{name}' is missing"))?;
            Ok(named.swap_remove(pos).1)
        };
        let fields = take("fields")?;
        let mut model = match kind {
            ModelKind::Factored => Model::Factored(factored::FactoredAttention {
                query: take("query")?,
                key: take("key")?,
                value: take("value")?,
                fields,
            }),
            ModelKind::Potts => Model::Potts(potts::Potts {
                couplings: take("couplings")?,
                fields,
            }),
        };
        model.check_shapes()?;
        if let Model::Potts(m) = &mut model {
            m.make_symmetric();
        }
        Ok(model)
    }

    fn check_shapes(&self) -> Result<()> {
        let l = self.length() as i64;
        let q = Q as i64;
        if l < 2 {
            bail!("the model has length L = {l}; contacts need at least 2 positions");
        }
        if self.fields().size() != [l, q] {
            bail!(
                "fields have shape {:?}, expected [L, {q}]",
                self.fields().size()
            );
        }
        match self {
            Model::Factored(m) => {
                let (qs, ks, vs) = (m.query.size(), m.key.size(), m.value.size());
                if qs.len() != 3 || qs != ks || qs[1] != l || vs != [qs[0], q, q] {
                    bail!(
                        "inconsistent factored-attention shapes: query {qs:?}, key {ks:?}, value {vs:?}"
                    );
                }
            }
            Model::Potts(m) => {
                if m.couplings.size() != [l * q, l * q] {
                    bail!(
                        "couplings have shape {:?}, expected [{}, {}]",
                        m.couplings.size(),
                        l * q,
                        l * q
                    );
                }
            }
        }
        Ok(())
    }

    /// Saves the model as safetensors with `metadata` (atomically).
    pub fn save(
        &self,
        path: &Path,
        metadata: std::collections::HashMap<String, String>,
    ) -> Result<()> {
        let tensors: Vec<(&str, Tensor)> = self
            .named_tensors()
            .into_iter()
            .map(|(name, t)| (name, t.contiguous()))
            .collect();
        let mut metadata = metadata;
        metadata.insert("fadca_model".into(), self.kind().name().into());
        // The tensors are serialised from their own memory (one copy of the
        // Potts model's (L·q)² table, the file's bytes, instead of three).
        let views: Vec<(&str, HostTensor<'_>)> = tensors
            .iter()
            .map(|(name, t)| (*name, HostTensor::of(t)))
            .collect();
        let mut bytes = safetensors::serialize(views, Some(metadata))
            .context("serialising the model as safetensors")?;
        sort_header_keys(&mut bytes)?;
        crate::io::write_atomic(path, |w| Ok(w.write_all(&bytes)?))
    }

    /// Loads a model saved by [`Model::save`]; returns it with its metadata.
    pub fn load(path: &Path) -> Result<(Model, std::collections::HashMap<String, String>)> {
        let bytes = std::fs::read(path)
            .map_err(|e| crate::input_error(format!("model {}: {e}", path.display())))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
            crate::input_error(format!(
                "model {}: not a safetensors file ({e})",
                path.display()
            ))
        })?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let kind = match metadata.get("fadca_model").map(String::as_str) {
            Some("factored") => ModelKind::Factored,
            Some("potts") => ModelKind::Potts,
            _ => {
                return Err(crate::input_error(format!(
                    "model {}: not a fadca model (metadata 'fadca_model' missing)",
                    path.display()
                )));
            }
        };
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| crate::input_error(format!("model {}: {e}", path.display())))?;
        let mut named = Vec::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(crate::input_error(format!(
                    "model {}: tensor '{name}' is not float32",
                    path.display()
                )));
            }
            let shape: Vec<i64> = view.shape().iter().map(|&s| s as i64).collect();
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            named.push((name, Tensor::from_slice(&data).reshape(shape)));
        }
        let model = Model::from_named_tensors(kind, named)
            .map_err(|e| crate::input_error(format!("model {}: {e:#}", path.display())))?;
        Ok((model, metadata))
    }
}

/// Rewrites the JSON header of a serialised safetensors file with its keys
/// (and the metadata's) in sorted order: safetensors writes the metadata
/// in the order of a `HashMap`, which changes from run to run, and the same
/// model should give the same file. The header keeps its length (the same
/// entries, reordered, padded with spaces as before), so the data offsets
/// stay valid.
fn sort_header_keys(bytes: &mut [u8]) -> Result<()> {
    let size: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .context("safetensors output without a header")?;
    let n = u64::from_le_bytes(size) as usize;
    let header = bytes
        .get(8..8 + n)
        .context("safetensors header longer than the file")?;
    // serde_json's objects are sorted maps (no `preserve_order`): reading
    // the header back and writing it again sorts every level.
    let entries: serde_json::Value =
        serde_json::from_slice(header).context("reading back the safetensors header")?;
    let text = serde_json::to_vec(&entries).context("writing the safetensors header")?;
    anyhow::ensure!(
        text.len() <= n,
        "sorted safetensors header is longer than the original"
    );
    bytes[8..8 + text.len()].copy_from_slice(&text);
    bytes[8 + text.len()..8 + n].fill(b' ');
    Ok(())
}

/// A contiguous CPU float32 tensor seen by safetensors' writer: its bytes
/// borrowed in place (little-endian, safetensors' order, on every target
/// fadca builds for; copied into that order elsewhere).
struct HostTensor<'a> {
    shape: Vec<usize>,
    values: &'a [f32],
}

impl<'a> HostTensor<'a> {
    fn of(t: &'a Tensor) -> HostTensor<'a> {
        // SAFETY: the tensor (the model's own parameter when it is already a
        // contiguous CPU float32 tensor, else a copy) is only read while the
        // view lives: saving takes the model by shared reference.
        let values = unsafe { host_values(t) }.expect("a contiguous CPU float32 tensor");
        HostTensor {
            shape: t.size().iter().map(|&s| s as usize).collect(),
            values,
        }
    }
}

impl safetensors::View for HostTensor<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        if cfg!(target_endian = "little") {
            // SAFETY: any f32 is 4 plain bytes; the slice outlives the view.
            std::borrow::Cow::Borrowed(unsafe {
                std::slice::from_raw_parts(self.values.as_ptr().cast::<u8>(), self.values.len() * 4)
            })
        } else {
            std::borrow::Cow::Owned(self.values.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
    }

    fn data_len(&self) -> usize {
        self.values.len() * 4
    }
}

/// The values of a defined, contiguous CPU float32 tensor, in place; `None`
/// for any other tensor.
///
/// # Safety
/// The caller must make sure that nothing else reads or writes the
/// tensor's storage while the slice lives.
#[allow(clippy::mut_from_ref)]
unsafe fn host_values(t: &Tensor) -> Option<&mut [f32]> {
    if !t.defined() || t.device() != Device::Cpu || t.kind() != Kind::Float || !t.is_contiguous() {
        return None;
    }
    let len = t.numel();
    if len == 0 {
        return Some(&mut []);
    }
    // SAFETY: a contiguous float32 CPU tensor of `len` elements starts at
    // `data_ptr` (storage offset included); exclusivity is the caller's.
    Some(unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, len) })
}
