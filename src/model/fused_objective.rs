//! Either model's pseudo-likelihood objective on the CPU through the fused
//! kernels of [`super::kernels`] ([`FusedObjective`]).
use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::factored::FactoredAttention;
use super::host::{host_values, host_values_mut, to_vec};
use super::kernels;
use super::kernels::{attention, pll, table};
use super::potts::Potts;
use crate::Q;

/// Either model's pseudo-likelihood objective on the CPU through the fused
/// kernels of [`super::kernels`] (the trainer's path for `--device cpu` with
/// the `pll` objective: [`FusedObjective::batch`] for factored attention,
/// [`FusedObjective::potts_batch`] for the Potts model; [`super::batch_loss`] is
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
    /// frequent states, [`super::reference_states`]) the least work.
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

    /// The objective of [`super::batch_loss`] on a batch (`states` B×L row-major,
    /// `weights` B) for a factored model on the CPU: returns its value and
    /// its gradients with respect to the model's parameters, in the order of
    /// [`super::Model::parameters`] (query, key, value, fields), as CPU tensors of
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

    /// The objective of [`super::batch_loss`] for a Potts model on the CPU (its
    /// table float32), with the gradients the trainer applies: the table's
    /// projected onto symmetric tables with zero diagonal blocks plus the
    /// penalty's `2λ_J·W` (what [`super::Model::project_gradients`] makes of
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
        let table = unsafe { host_values_mut(buffer) }.expect("float32 CPU buffer");
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
