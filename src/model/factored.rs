//! Factored attention (SPEC §1): attention weights from positions only,
//! values from states only.
//!
//! `A^h = softmax_j(Q^h_i · K^h_j / √d)` with the diagonal masked before the
//! softmax, `J_ij(a,b) = Σ_h A^h_ij V^h(a,b)`.
use tch::{Kind, Tensor};

use super::host::to_vec;
use super::kernels::attention::attention_forward;
use super::kernels::table::pair_couplings;
use crate::Q;

/// Parameters of one layer of factored attention.
#[derive(Debug)]
pub struct FactoredAttention {
    /// Queries `Q^h_i` (H×L×d).
    pub query: Tensor,
    /// Keys `K^h_j` (H×L×d).
    pub key: Tensor,
    /// Values `V^h(a,b)` (H×q×q).
    pub value: Tensor,
    /// Fields `h_i(a)` (L×q).
    pub fields: Tensor,
}

impl FactoredAttention {
    /// A new layer with `heads` heads of dimension `head_dim` for length `l`.
    /// Queries and keys start uniform in [0, d^¼) so that the attention
    /// logits `Q·K/√d` start like AttentionDCA's unscaled `Q·K` with entries
    /// uniform in [0, 1) (spread but not flat attention), values uniform in
    /// [0, 1); the caller seeds libtorch's generator first.
    pub fn new(l: usize, heads: usize, head_dim: usize, fields: Tensor) -> FactoredAttention {
        let (h, l, d, q) = (heads as i64, l as i64, head_dim as i64, Q as i64);
        let opts = (fields.kind(), fields.device());
        let scale = (head_dim as f64).powf(0.25);
        FactoredAttention {
            query: (Tensor::rand([h, l, d], opts) * scale).set_requires_grad(true),
            key: (Tensor::rand([h, l, d], opts) * scale).set_requires_grad(true),
            value: Tensor::rand([h, q, q], opts).set_requires_grad(true),
            fields: fields.set_requires_grad(true),
        }
    }

    /// Number of heads H.
    pub fn heads(&self) -> usize {
        self.query.size()[0] as usize
    }

    /// Head dimension d.
    pub fn head_dim(&self) -> usize {
        self.query.size()[2] as usize
    }

    /// Attention `A^h_ij` (H×L×L): rows sum to one, zero diagonal.
    pub fn attention(&self) -> Tensor {
        let l = self.query.size()[1];
        let scale = (self.head_dim() as f64).sqrt();
        let logits = self.query.matmul(&self.key.transpose(1, 2)) / scale;
        let eye = Tensor::eye(l, (Kind::Bool, logits.device()));
        let kind = logits.kind();
        logits
            .masked_fill(&eye, f64::NEG_INFINITY)
            .softmax(-1, kind)
    }

    /// Coupling table `W[(j,b),(i,a)] = Σ_h A^h_ij V^h(a,b)` ((L·q)×(L·q)):
    /// one matrix product `(L²×H)·(H×q²)` then one permuting copy (an einsum
    /// with the interleaved output order is several times slower).
    pub fn coupling_table(&self) -> Tensor {
        self.table_from(&self.attention())
    }

    /// The coupling table and `Σ_{i≠j} ‖J_ij‖²` from one evaluation of the
    /// attention (what a training step needs). The norm is
    /// `Σ_{h,g} ⟨V^h, V^g⟩ Σ_ij A^h_ij A^g_ij`, computed from the factors in
    /// `O(H²(L² + q²))` without touching the table.
    pub fn coupling_table_and_norm2(&self) -> (Tensor, Tensor) {
        let attention = self.attention();
        let (h, l) = (self.query.size()[0], self.query.size()[1]);
        let a = attention.reshape([h, l * l]);
        let v = self.value.reshape([h, (Q * Q) as i64]);
        let norm2 = (a.matmul(&a.tr()) * v.matmul(&v.tr())).sum(a.kind());
        (self.table_from(&attention), norm2)
    }

    /// The factors on the host in the layout pair-by-pair reading of the
    /// couplings needs ([`HostFactors`]): no `L×L×q×q` array. The
    /// attention is computed by the CPU kernel the trainer uses
    /// ([`attention_forward`]) on rayon's current number of threads.
    pub fn host_factors(&self) -> HostFactors {
        let (heads, l) = (self.heads(), self.query.size()[1] as usize);
        let (query, key) = (to_vec(&self.query), to_vec(&self.key));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .build()
            .expect("a thread pool");
        // A^h_ik at (k·L + i)·H + h.
        let mut a_jih = vec![0.0f32; l * l * heads];
        attention_forward(&pool, &query, &key, heads, &mut a_jih);
        HostFactors {
            length: l,
            heads,
            a_jih,
            v_hab: to_vec(&self.value),
        }
    }

    fn table_from(&self, attention: &Tensor) -> Tensor {
        let (h, l) = (self.query.size()[0], self.query.size()[1]);
        let q = Q as i64;
        // pairs[(j,i),(b,a)]: the product's output already has the states'
        // 21 contiguous values innermost, so the permute to W moves runs of q
        // floats instead of single ones.
        let a_ji = attention.transpose(1, 2).reshape([h, l * l]);
        let v_ba = self.value.transpose(1, 2).reshape([h, q * q]);
        let pairs = a_ji.tr().matmul(&v_ba);
        // pairs[(j,i),(b,a)] -> W[(j,b),(i,a)]
        pairs
            .reshape([l, l, q, q])
            .permute([0, 2, 1, 3])
            .contiguous()
            .reshape([l * q, l * q])
    }
}

/// A layer's attention and values on the host, read pair by pair: the
/// couplings `J_ik(a,b) = Σ_h A^h_ik V^h(a,b)` of one pair
/// ([`HostFactors::pair`]) or of one row i ([`HostFactors::row`]) without
/// the `L×L×q×q` array (at L = 3000 it would be 16 GB; the attention is
/// `H·L²` floats). Every reader of a factored model's couplings — contact
/// extraction, `couplings.npy`, [`super::Model::couplings`] — goes through
/// [`pair_couplings`], so they all read the same float32 numbers.
pub struct HostFactors {
    length: usize,
    heads: usize,
    /// `A^h_ik` laid out `[k][i][h]`.
    a_jih: Vec<f32>,
    /// `V^h(a,b)` laid out `[h][a][b]`.
    v_hab: Vec<f32>,
}

impl HostFactors {
    /// Sequence length L.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Heads H.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// `A^h_ik` for every head h.
    pub fn attention(&self, i: usize, k: usize) -> &[f32] {
        let start = (k * self.length + i) * self.heads;
        &self.a_jih[start..start + self.heads]
    }

    /// The values `V^h(a,b)`, laid out `[h][a][b]`.
    pub fn values(&self) -> &[f32] {
        &self.v_hab
    }

    /// `J_ik(a,b)` into `out` (q×q, `[a][b]`); zero for `i == k`.
    pub fn pair(&self, i: usize, k: usize, out: &mut [f32]) {
        let start = (k * self.length + i) * self.heads;
        pair_couplings(&self.a_jih[start..start + self.heads], &self.v_hab, out);
    }

    /// Row i of the coupling array, `J[i][k][a][b]` for every k, into
    /// `out` (L·q·q).
    pub fn row(&self, i: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.length * Q * Q);
        for (k, block) in out.chunks_exact_mut(Q * Q).enumerate() {
            self.pair(i, k, block);
        }
    }
}
