//! Either model's pseudo-likelihood objective on the CPU through the fused
//! kernels of [`super::kernels`]: the trainer's path for `--device cpu`
//! with the `pll` objective ([`super::uses_fused_kernels`]).
//! [`super::batch_loss`] is the same objective in libtorch operators (on
//! CUDA, for the masked objective, and the reference of the tests).
//!
//! Both models' steps share one skeleton (`RowKernels::step`): mark the
//! table rows the batch reads, let the model write them, compute the data
//! term and the table's gradient in those rows, let the model turn that
//! into its coupling parameters' gradients (with the coupling penalty), add
//! the field penalty. What differs is the model's part (`TableRows`):
//! factored attention builds its rows from the attention and the values and
//! back-propagates to them; the Potts model copies its rows out of its
//! table and projects the gradient in place.
use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::Model;
use super::factored::FactoredAttention;
use super::host::{host_values, host_values_mut, tensor_like, to_vec};
use super::kernels::{attention, pll, potts as potts_kernels, table};
use super::potts::Potts;
use crate::Q;

/// The objective of [`super::batch_loss`] on the CPU, with its gradients,
/// for either model. Holds the thread pool, the buffers reused from step
/// to step (the factored model's block of table columns, `L·q × 64·q`, and
/// attention, `H·L²`; the Potts model's `(L·q)²` buffer) and the gradients
/// last lent.
pub struct FusedObjective {
    /// What both models' steps share.
    rows: RowKernels,
    /// Sites per block of the factored model's table ([`BLOCK_SITES`]).
    block_sites: usize,
    /// The factored model's table and attention.
    factored: FactoredBuffers,
    /// The Potts model's `(L·q)²` buffer: the rows of its table, their
    /// gradient, then the projected gradient handed to the optimiser.
    potts_buffer: Option<Tensor>,
    /// Whether the Potts table's gradient is lent raw, for an update that
    /// projects it ([`FusedObjective::lend_raw_potts_gradient`]).
    potts_raw: bool,
    /// The rows of the raw Potts gradient last lent that hold one.
    potts_rows: Vec<u32>,
    /// `Σ W²` of the Potts table as the optimiser reported it after its
    /// last update ([`FusedObjective::set_potts_norm2`]), used once.
    potts_norm2: Option<f64>,
    /// The gradients of the last [`FusedObjective::step`] or
    /// [`FusedObjective::potts_batch`], lent to its caller until the next.
    lent: Vec<Tensor>,
}

/// The part of a step both models share: threads, the reference sequence
/// and the logits' gradient (B×L·q).
struct RowKernels {
    pool: std::sync::Arc<rayon::ThreadPool>,
    reference: Vec<u8>,
    grad: Vec<f32>,
}

/// The factored model's buffers: the table's rows (then their gradient),
/// the attention and the gradient with respect to it (both `[j][i][h]`).
#[derive(Default)]
struct FactoredBuffers {
    /// One block of columns of the table (n × sites·q).
    table: Vec<f32>,
    a_jih: Vec<f32>,
    d_a: Vec<f32>,
}

/// The model, read by the pool's threads while the thread that owns it
/// waits for them in `install`.
struct OnPool<'a>(&'a Model);

// SAFETY: the owner is blocked in `ThreadPool::install` while the pool's
// threads read the model (libtorch's tensors may be read from any thread;
// `Tensor` is `Send`, not `Sync`, only because it may be written).
unsafe impl Send for OnPool<'_> {}
unsafe impl Sync for OnPool<'_> {}

impl<'a> OnPool<'a> {
    fn get(&self) -> &'a Model {
        self.0
    }
}

/// One mini-batch and the penalties: `states` B×L row-major, `weights` B,
/// λ_J and λ_h.
struct StepInput<'a> {
    states: &'a [u8],
    weights: &'a [f32],
    lambda_j: f64,
    lambda_h: f64,
}

/// A model's part of a fused step (steps 1 and 4 of [`super::kernels`]),
/// done a block of columns (sites) at a time.
trait TableRows {
    /// Sites per block of columns for length `l` (`l`: the whole table).
    fn block_sites(&self, l: usize) -> usize;

    /// Writes the rows `(j,b)` marked in `present` (bit b of `present[j]`)
    /// of the coupling table's block of columns of the sites
    /// `first..first + w/q` into `table` (n×w, n = L·q), relative to the
    /// rows of the `reference` states as [`pll::pll_rows`] reads them.
    fn write_rows(
        &mut self,
        pool: &rayon::ThreadPool,
        present: &[u32],
        reference: &[u8],
        first: usize,
        table: &mut [f32],
    );

    /// Takes in the table's gradient in the rows marked in `present` of
    /// the block of columns of the sites `first..` (which may be
    /// overwritten).
    fn block_gradient(
        &mut self,
        pool: &rayon::ThreadPool,
        table: &mut [f32],
        present: &[u32],
        first: usize,
    );

    /// After the last block: the gradients of the model's coupling
    /// parameters with the coupling penalty's (`λ_J` = `lambda_j`)
    /// included; returns `Σ_{i≠j} ‖J_ij‖²`.
    fn finish(&mut self, pool: &rayon::ThreadPool, lambda_j: f64) -> f64;
}

impl RowKernels {
    /// The skeleton of a step on `table` (reused; at least one block of
    /// columns, n × sites·q): per block of sites, the rows the batch reads written by
    /// `model`, the data term and the table's gradient
    /// ([`pll::data_term_and_table_gradient`]), the model's share of the
    /// gradients; then the model's coupling gradients and the field
    /// penalty. Returns the objective's value and the fields' gradient.
    fn step(
        &mut self,
        model: &mut impl TableRows,
        table: &mut [f32],
        fields: &[f32],
        input: &StepInput,
    ) -> (f64, Vec<f32>) {
        let l = self.reference.len();
        let n = l * Q;
        let present = self.present(input.states);
        let batch = pll::Batch {
            reference: &self.reference,
            present: &present,
            states: input.states,
            weights: input.weights,
        };
        let sites = model.block_sites(l).clamp(1, l);
        assert!(
            table.len() >= n * sites * Q,
            "table buffer smaller than a block"
        );
        let mut data = 0.0;
        let mut d_fields = vec![0.0f32; n];
        for first in (0..l).step_by(sites) {
            let columns = first * Q..(first + sites).min(l) * Q;
            let block = &mut table[..n * columns.len()];
            model.write_rows(&self.pool, &present, &self.reference, first, block);
            let (block_data, block_fields) = pll::data_term_and_table_gradient(
                &self.pool,
                block,
                &fields[columns.clone()],
                &batch,
                first,
                &mut self.grad,
            );
            data += block_data;
            d_fields[columns].copy_from_slice(&block_fields);
            model.block_gradient(&self.pool, block, &present, first);
        }
        let norm2 = model.finish(&self.pool, input.lambda_j);
        let fields_norm2 = add_field_penalty(&mut d_fields, fields, input.lambda_h);
        let value = data + input.lambda_j * norm2 + input.lambda_h * fields_norm2;
        (value, d_fields)
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

/// Sites per block of columns of the factored model's table on the CPU
/// kernels (see [`FusedObjective::with_block_sites`]): a block is
/// `L·q × 64·q` floats (L = 1500: 170 MB; the whole table would be
/// 4.0 GB), and on the DEV benchmark a step in blocks of 64 sites takes
/// as long as one over the whole table (BENCHMARKS.md, "Factored model in
/// blocks of sites"). Fixed, so that results do not depend on the memory
/// of the machine.
pub const BLOCK_SITES: usize = 64;

/// Factored attention's part of a step: its factors on the host, the
/// attention already computed, and (after the step) the factors' gradients.
struct FactoredRows<'a> {
    query: Vec<f32>,
    key: Vec<f32>,
    /// The attention and the values in the table kernels' layouts.
    factors: table::TableFactors<'a>,
    block_sites: usize,
    /// The attention's gradient laid out `[j][i][h]`, filled block by
    /// block, then overwritten with the logits'.
    d_a: &'a mut [f32],
    d_query: Vec<f32>,
    d_key: Vec<f32>,
    /// The values' gradient laid out `[h][b][a]`, summed block by block.
    d_v_hba: Vec<f32>,
}

impl TableRows for FactoredRows<'_> {
    fn block_sites(&self, _l: usize) -> usize {
        self.block_sites
    }

    fn write_rows(
        &mut self,
        pool: &rayon::ThreadPool,
        present: &[u32],
        reference: &[u8],
        first: usize,
        rows: &mut [f32],
    ) {
        table::build_table(pool, &self.factors, present, reference, first, rows);
    }

    fn block_gradient(
        &mut self,
        pool: &rayon::ThreadPool,
        rows: &mut [f32],
        present: &[u32],
        first: usize,
    ) {
        let d_v = table::table_grads(pool, rows, &self.factors, present, first, self.d_a);
        if self.d_v_hba.is_empty() {
            self.d_v_hba = d_v;
        } else {
            for (x, y) in self.d_v_hba.iter_mut().zip(&d_v) {
                *x += *y;
            }
        }
    }

    fn finish(&mut self, pool: &rayon::ThreadPool, lambda_j: f64) -> f64 {
        let (a_jih, heads) = (self.factors.a_jih, self.factors.heads);
        // The coupling penalty from the factors (the table is never whole).
        let norm2 = table::coupling_penalty(
            pool,
            a_jih,
            &self.factors.v_hba,
            heads,
            lambda_j,
            self.d_a,
            &mut self.d_v_hba,
        );
        let (d_q, d_k) =
            attention::attention_backward(pool, a_jih, self.d_a, &self.query, &self.key, heads);
        (self.d_query, self.d_key) = (d_q, d_k);
        norm2
    }
}

/// The Potts model's part of a step: its (symmetric) table `w`, read in
/// place, whole (one block of all sites); the gradient is projected in the
/// step's own buffer, or left raw.
struct PottsRows<'a> {
    w: &'a [f32],
    lambda_j: f64,
    norm2: f64,
    /// For a raw gradient: `Σ W²` if known, and where the rows that hold a
    /// gradient go.
    raw: Option<(Option<f64>, &'a mut Vec<u32>)>,
}

impl TableRows for PottsRows<'_> {
    fn block_sites(&self, l: usize) -> usize {
        l
    }

    fn write_rows(
        &mut self,
        pool: &rayon::ThreadPool,
        present: &[u32],
        reference: &[u8],
        _first: usize,
        table: &mut [f32],
    ) {
        potts_kernels::copy_rows(pool, self.w, present, reference, table);
    }

    fn block_gradient(
        &mut self,
        pool: &rayon::ThreadPool,
        table: &mut [f32],
        present: &[u32],
        _first: usize,
    ) {
        self.norm2 = match &mut self.raw {
            Some((norm2, rows)) => {
                rows.clear();
                rows.extend_from_slice(present);
                norm2.unwrap_or_else(|| potts_kernels::table_norm2(pool, self.w))
            }
            None => potts_kernels::potts_gradient(pool, table, present, self.w, self.lambda_j),
        };
    }

    fn finish(&mut self, _pool: &rayon::ThreadPool, _lambda_j: f64) -> f64 {
        self.norm2
    }
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
            rows: RowKernels {
                pool: std::sync::Arc::new(pool),
                reference,
                grad: Vec::new(),
            },
            block_sites: BLOCK_SITES,
            factored: FactoredBuffers::default(),
            potts_buffer: None,
            potts_raw: false,
            potts_rows: Vec::new(),
            potts_norm2: None,
            lent: Vec::new(),
        })
    }

    /// From now on, lends the Potts table's gradient *raw*: the gradient of
    /// each row `(j,b)` the batch reads as if the entries were independent,
    /// not projected and without the penalty's, the other rows holding
    /// anything ([`FusedObjective::step`] says which hold it). For an
    /// optimiser that projects it in its own pass over the table (the
    /// trainer's, `Adam::symmetric_table`, set together with this), which
    /// saves the projection's pass: the Potts step is bound by memory
    /// traffic. The factored model is not affected.
    pub fn lend_raw_potts_gradient(&mut self) {
        self.potts_raw = true;
    }

    /// `Σ W²` of the Potts table the next step reads, as the optimiser that
    /// wrote it computed (the penalty's value, without a pass of its own);
    /// used by that step only. Without it a step reads the table.
    pub fn set_potts_norm2(&mut self, norm2: f64) {
        self.potts_norm2 = Some(norm2);
    }

    /// The same objective with the factored model's table built in blocks
    /// of `sites` sites instead of [`BLOCK_SITES`] (at least 1; L or more:
    /// the whole table at once). The value and the gradients are the same
    /// up to the order of the sum over blocks of the values' gradient (the
    /// tests compare block sizes).
    pub fn with_block_sites(mut self, sites: usize) -> FusedObjective {
        self.block_sites = sites.max(1);
        self
    }

    /// The objective and its gradients for either model (what the trainer
    /// calls): [`FusedObjective::batch`] or [`FusedObjective::potts_batch`].
    /// The gradients are lent until the next call (see `potts_batch`),
    /// with, for a raw Potts gradient
    /// ([`FusedObjective::lend_raw_potts_gradient`]), the rows that hold
    /// it (per site, bit b for the row `(j,b)`).
    pub fn step(
        &mut self,
        model: &Model,
        states: &[u8],
        weights: &[f32],
        lambda_j: f64,
        lambda_h: f64,
    ) -> (f64, &[Tensor], Option<&[u32]>) {
        // The whole step on the pool's threads: its parallel loops then
        // start from a worker instead of handing each over from this thread.
        let pool = std::sync::Arc::clone(&self.rows.pool);
        let shared = OnPool(model);
        let value = pool.install(|| match shared.get() {
            Model::Factored(m) => {
                let (value, gradients) = self.batch(m, states, weights, lambda_j, lambda_h);
                self.lent = gradients;
                value
            }
            Model::Potts(m) => self.potts_batch(m, states, weights, lambda_j, lambda_h).0,
        });
        let rows = match model {
            Model::Potts(_) => self.potts_raw.then_some(self.potts_rows.as_slice()),
            Model::Factored(_) => None,
        };
        (value, &self.lent, rows)
    }

    /// The objective of [`super::batch_loss`] on a batch (`states` B×L
    /// row-major, `weights` B) for a factored model on the CPU: returns its
    /// value and its gradients with respect to the model's parameters, in
    /// the order of [`Model::parameters`] (query, key, value, fields), as
    /// CPU tensors of the parameters' shapes and kind. Everything runs in
    /// the kernels of [`super::kernels`] on this objective's threads: the
    /// attention and its backward pass, the table, the logits, the penalty.
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
            self.rows.reference.len(),
            "model length and reference length differ"
        );
        let n = l * Q;
        let heads = model.heads();
        let block_sites = self.block_sites.min(l);
        let buffers = &mut self.factored;
        buffers.table.resize(n * block_sites * Q, 0.0);
        for buffer in [&mut buffers.a_jih, &mut buffers.d_a] {
            buffer.resize(l * l * heads, 0.0);
        }
        let query = to_vec(&model.query);
        let key = to_vec(&model.key);
        let fields = to_vec(&model.fields);
        let v_hba = swap_state_axes(&to_vec(&model.value));
        let pool = &self.rows.pool;
        attention::attention_forward(pool, &query, &key, heads, &mut buffers.a_jih);
        let mut factors = FactoredRows {
            query,
            key,
            factors: table::TableFactors::new(&buffers.a_jih, v_hba, heads),
            block_sites,
            d_a: &mut buffers.d_a,
            d_query: Vec::new(),
            d_key: Vec::new(),
            d_v_hba: Vec::new(),
        };
        let input = StepInput {
            states,
            weights,
            lambda_j,
            lambda_h,
        };
        let (value, d_fields) = self
            .rows
            .step(&mut factors, &mut buffers.table, &fields, &input);
        let grads = vec![
            tensor_like(&factors.d_query, &model.query),
            tensor_like(&factors.d_key, &model.key),
            tensor_like(&swap_state_axes(&factors.d_v_hba), &model.value),
            tensor_like(&d_fields, &model.fields),
        ];
        (value, grads)
    }

    /// The objective of [`super::batch_loss`] for a Potts model on the CPU
    /// (its table float32, read above its diagonal only), with the table's
    /// gradient projected onto symmetric tables with zero diagonal blocks
    /// plus the penalty's `2λ_J·W` (what [`Model::project_gradients`] makes
    /// of libtorch's; raw after [`FusedObjective::lend_raw_potts_gradient`])
    /// and the fields'. The rows the batch reads are copied into the
    /// objective's `(L·q)²` buffer, kept from step to step
    /// ([`potts_kernels::copy_rows`]); the row kernels turn them into the
    /// table's gradient, projected in place
    /// ([`potts_kernels::potts_gradient`]).
    ///
    /// The gradients are *lent*: the table's is the buffer itself (a new
    /// tensor every step would cost a table of memory, the allocator not
    /// handing the freed one back in time), which the next call
    /// overwrites. They are returned as a borrow of this objective, so the
    /// borrow checker refuses the next call while they are in use; copy
    /// one ([`Tensor::copy`]) to keep it (a `shallow_clone` would share
    /// the buffer and change with it).
    pub fn potts_batch(
        &mut self,
        model: &Potts,
        states: &[u8],
        weights: &[f32],
        lambda_j: f64,
        lambda_h: f64,
    ) -> (f64, &[Tensor]) {
        let l = self.rows.reference.len();
        let n = l * Q;
        assert_eq!(
            model.couplings.size(),
            [n as i64, n as i64],
            "Potts table and reference differ"
        );
        // The previous step's gradients, lent until now: the borrow they
        // were lent through has ended, and with them go the only other
        // handles to the buffer.
        self.lent.clear();
        // SAFETY: the parameter is only read while `w` lives: the optimiser
        // writes it after this function has returned.
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
        // SAFETY: the buffer is this objective's own, and no other handle
        // to it is left (the lent gradients were dropped above).
        let rows = unsafe { host_values_mut(buffer) }.expect("float32 CPU buffer");
        let fields = to_vec(&model.fields);
        let input = StepInput {
            states,
            weights,
            lambda_j,
            lambda_h,
        };
        let mut potts = PottsRows {
            w,
            lambda_j,
            norm2: 0.0,
            raw: self
                .potts_raw
                .then(|| (self.potts_norm2.take(), &mut self.potts_rows)),
        };
        let (value, d_fields) = self.rows.step(&mut potts, rows, &fields, &input);
        self.lent = vec![
            buffer.to_kind(model.couplings.kind()),
            tensor_like(&d_fields, &model.fields),
        ];
        (value, &self.lent)
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
