//! Steps 2 and 3 of a training step, shared by both models: the
//! conditional logits of a batch summed from table rows, the weighted
//! negative log pseudo-likelihood and its gradient ([`pll_rows`]), and the
//! table's gradient scattered back into the same rows ([`scatter_rows`]),
//! both relative to a reference sequence; [`data_term_and_table_gradient`]
//! runs the two on one buffer.
//!
//! The kernels work on a *block of columns* of the table: the columns
//! `(i,a)` of the sites `i ∈ [first, first + sites)`, an `n × w` array
//! (`n = L·q` rows `(j,b)`, `w = sites·q` columns). The logits of a site
//! need only its own columns, so a step may go over the table a block of
//! sites at a time (the factored model does, [`crate::model::FusedObjective`])
//! or in one block of all L sites (the Potts model, whose table is its
//! parameter). Every value the kernels compute for a column is the same
//! whatever the block it is computed in.
use rayon::prelude::*;

use super::{add, exp_nonpositive, lane_max, lane_sum};
use crate::Q;

/// Sequences per parallel task of [`pll_rows`]: they are summed together,
/// one block of columns at a time, so that the table rows they share (a
/// family's sequences agree at most positions) are read once per block.
const SEQ_CHUNK: usize = 32;

/// Columns per block of [`pll_rows`] (a multiple of 16 floats).
const COLUMN_BLOCK: usize = 256;

/// Columns summed in registers at a time by [`pll_rows`] (four 16-float
/// vectors).
const LANES: usize = 64;

/// A mini-batch as the row kernels see it.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    /// The reference sequence r (L states): logits and gradients are
    /// computed relative to its rows.
    pub reference: &'a [u8],
    /// Per position j, bit b set for every state b the batch holds at j and
    /// for the reference state: the table rows the kernels read and write.
    pub present: &'a [u32],
    /// The sequences, B×L row-major.
    pub states: &'a [u8],
    /// Their weights (B).
    pub weights: &'a [f32],
}

/// The data term of the objective on a batch and its gradient with respect
/// to the logits, for the sites `first..first + w/q` of a block of columns
/// `table` (n×w, see the module documentation; `fields` are the block's,
/// w), whose rows `(j,b)`, b ≠ r_j, hold differences from the reference
/// rows, `W[(j,b)] − W[(j,r_j)]`, the rows `(j, r_j)` as they are (the
/// factored model builds them so, the Potts model copies them so). Only the table
/// rows marked in `batch.present` are read; the others may hold anything.
/// Writes
/// `grad[n,(i,a)] = (w_n/Σw)(P(x_i = a | x_\i) − [a = x_ni])` (B×w) and
/// returns `(−(1/Σw) Σ_n w_n Σ_{i in block} log P(x_ni | x_n\i), Σ_n grad[n])`,
/// the second being the gradient with respect to the block's fields.
pub fn pll_rows(
    pool: &rayon::ThreadPool,
    table: &[f32],
    fields: &[f32],
    batch: &Batch,
    first: usize,
    grad: &mut [f32],
) -> (f64, Vec<f32>) {
    let Batch {
        reference,
        present,
        states,
        weights,
    } = *batch;
    let l = reference.len();
    let n = l * Q;
    let w = fields.len();
    let b = weights.len();
    assert_eq!(w % Q, 0);
    assert!(first + w / Q <= l, "block of sites past the end");
    assert_eq!(table.len(), n * w);
    assert_eq!(states.len(), b * l);
    assert_eq!(grad.len(), b * w);
    assert_eq!(present.len(), l);
    // The reference sequence's sum.
    let mut base = fields.to_vec();
    for (j, &r) in reference.iter().enumerate() {
        let row = (j * Q + r as usize) * w;
        add(&mut base, &table[row..row + w]);
    }
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let inv_total = if total > 0.0 { 1.0 / total } else { 0.0 };
    let coefs: Vec<f32> = weights
        .iter()
        .map(|&w| (w as f64 * inv_total) as f32)
        .collect();
    let partials: Vec<(f64, Vec<f32>)> = pool.install(|| {
        grad.par_chunks_mut(SEQ_CHUNK * w)
            .enumerate()
            .map(|(c, rows)| {
                let start = c * SEQ_CHUNK;
                let count = rows.len() / w;
                let x = &states[start * l..(start + count) * l];
                let nll = chunk_rows(
                    table,
                    &base,
                    reference,
                    x,
                    &coefs[start..start + count],
                    first,
                    rows,
                );
                let loss: f64 = nll
                    .iter()
                    .zip(&weights[start..start + count])
                    .map(|(v, &w)| v * w as f64)
                    .sum();
                let mut d_fields = vec![0.0f32; w];
                for row in rows.chunks_exact(w) {
                    add(&mut d_fields, row);
                }
                (loss, d_fields)
            })
            .collect()
    });
    let mut d_fields = vec![0.0f32; w];
    let mut loss = 0.0;
    for (part, d) in partials {
        loss += part;
        add(&mut d_fields, &d);
    }
    (loss * inv_total, d_fields)
}

/// The states of `mask` other than `r`.
pub(super) fn others_of(mask: u32, r: usize) -> impl Iterator<Item = usize> {
    (0..Q).filter(move |&b| b != r && mask & (1 << b) != 0)
}

dispatch!(chunk_rows(table: &[f32], base: &[f32], reference: &[u8], x: &[u8], coefs: &[f32], first: usize, rows: &mut [f32]) -> Vec<f64> {
    let count = coefs.len();
    let l = reference.len();
    let w = base.len();
    // Logits: the reference sequence's (`base`) plus the difference rows of
    // the positions where the sequence differs from it, a block of columns
    // at a time (the block's rows stay in cache across the sequences), in
    // runs of `LANES` columns summed in registers over the rows (each
    // column's sum in the order of the positions, as one at a time).
    let offsets: Vec<Vec<usize>> = x
        .chunks_exact(l)
        .map(|seq| {
            seq.iter()
                .zip(reference)
                .enumerate()
                .filter(|(_, (state, r))| state != r)
                .map(|(j, (&state, _))| (j * Q + state as usize) * w)
                .collect()
        })
        .collect();
    let mut c0 = 0;
    while c0 < w {
        let c1 = (c0 + COLUMN_BLOCK).min(w);
        for (s, rows_of) in offsets.iter().enumerate() {
            let out = &mut rows[s * w..(s + 1) * w];
            let mut c = c0;
            while c + LANES <= c1 {
                let mut acc: [f32; LANES] = base[c..c + LANES].try_into().expect("lanes");
                for &row in rows_of {
                    let x: &[f32; LANES] = table[row + c..row + c + LANES].try_into().expect("lanes");
                    for (a, &x) in acc.iter_mut().zip(x) {
                        *a += x;
                    }
                }
                out[c..c + LANES].copy_from_slice(&acc);
                c += LANES;
            }
            if c < c1 {
                let acc = &mut out[c..c1];
                acc.copy_from_slice(&base[c..c1]);
                for &row in rows_of {
                    add(acc, &table[row + c..row + c1]);
                }
            }
        }
        c0 = c1;
    }
    // Per site: −log P(target) and the gradient (softmax − one-hot)·coef.
    let mut nll = vec![0.0f64; count];
    for (s, seq) in x.chunks_exact(l).enumerate() {
        let coef = coefs[s];
        // Σ_i log Σ_a: the sums (each in [1, 21]) multiplied eight at a
        // time, one logarithm per eight sites.
        let mut product = 1.0f64;
        for (i, logits) in rows[s * w..(s + 1) * w].chunks_exact_mut(Q).enumerate() {
            // The maximum, the exponentials and their sum in vectorised
            // loops (one running sum waited on each addition).
            let max = lane_max(logits);
            let logits: &mut [f32; Q] = logits.try_into().expect("q logits");
            let target = seq[first + i] as usize;
            let target_logit = logits[target] - max;
            for v in logits.iter_mut() {
                *v = exp_nonpositive(*v - max);
            }
            let sum = lane_sum(logits);
            // −log P(target) = log Σ e^{v−max} − (v_target − max)
            product *= f64::from(sum);
            if i % 8 == 7 {
                nll[s] += product.ln();
                product = 1.0;
            }
            nll[s] -= f64::from(target_logit);
            let scale = coef / sum;
            for v in logits.iter_mut() {
                *v *= scale;
            }
            logits[target] -= coef;
        }
        nll[s] += product.ln();
    }
    nll
});

/// Bytes of table rows one task of [`scatter_rows`] accumulates into (kept
/// within a core's L2 cache while the batch's gradient rows stream past).
const SCATTER_BLOCK_BYTES: usize = 512 * 1024;

/// The table's gradient `d_table[(j,b),·] = Σ_{n: x_nj = b} grad[n,·]`
/// for a block of columns (n×w, overwritten) from the logits' gradient
/// `grad` (B×w) and its sum over the batch `total` (w, the fields'
/// gradient). Only the sequences that differ from the reference state at j
/// are added; the reference row is `total` minus the position's other rows.
/// Only the rows marked in `batch.present` are written; the others are left
/// as they are (mark every state to get a whole, zero-filled gradient).
pub fn scatter_rows(
    pool: &rayon::ThreadPool,
    grad: &[f32],
    total: &[f32],
    batch: &Batch,
    d_table: &mut [f32],
) {
    let Batch {
        reference,
        present,
        states,
        ..
    } = *batch;
    let l = reference.len();
    let n = l * Q;
    let w = total.len();
    let b = grad.len() / w;
    assert_eq!(d_table.len(), n * w);
    assert_eq!(states.len(), b * l);
    assert_eq!(present.len(), l);
    let positions = (SCATTER_BLOCK_BYTES / (Q * w * 4)).max(1);
    pool.install(|| {
        d_table
            .par_chunks_mut(positions * Q * w)
            .enumerate()
            .for_each(|(c, rows)| {
                scatter_block(grad, total, reference, present, states, c * positions, rows)
            })
    });
}

dispatch!(scatter_block(grad: &[f32], total: &[f32], reference: &[u8], present: &[u32], states: &[u8], first: usize, rows: &mut [f32]) -> () {
    let l = reference.len();
    let w = total.len();
    let count = rows.len() / (Q * w);
    let reference = &reference[first..first + count];
    let present = &present[first..first + count];
    for (p, &mask) in present.iter().enumerate() {
        for b in 0..Q {
            if mask & (1 << b) != 0 {
                rows[(p * Q + b) * w..(p * Q + b + 1) * w].fill(0.0);
            }
        }
    }
    for (s, g) in grad.chunks_exact(w).enumerate() {
        let x = &states[s * l + first..s * l + first + count];
        for (p, (&state, &r)) in x.iter().zip(reference).enumerate() {
            if state != r {
                let row = (p * Q + state as usize) * w;
                add(&mut rows[row..row + w], g);
            }
        }
    }
    for (p, (&r, &mask)) in reference.iter().zip(present).enumerate() {
        let block = &mut rows[p * Q * w..(p + 1) * Q * w];
        let mut own = total.to_vec();
        for b in others_of(mask, r as usize) {
            for (x, y) in own.iter_mut().zip(&block[b * w..(b + 1) * w]) {
                *x -= *y;
            }
        }
        block[r as usize * w..(r as usize + 1) * w].copy_from_slice(&own);
    }
});

/// Steps 2 and 3 on one buffer, for the block of columns of the sites
/// `first..first + fields.len()/q`: [`pll_rows`] on `table` (n×w), then
/// [`scatter_rows`] of the table's gradient into the same rows (nothing
/// reads a table row again once the logits are summed: one array instead
/// of two). Returns the data term and the block's fields' gradient; the
/// rows marked in `batch.present` then hold the table's gradient, and
/// `grad` the logits' gradient (resized to B×w).
pub fn data_term_and_table_gradient(
    pool: &rayon::ThreadPool,
    table: &mut [f32],
    fields: &[f32],
    batch: &Batch,
    first: usize,
    grad: &mut Vec<f32>,
) -> (f64, Vec<f32>) {
    grad.resize(batch.weights.len() * fields.len(), 0.0);
    let (data, d_fields) = pll_rows(pool, table, fields, batch, first, grad);
    scatter_rows(pool, grad, &d_fields, batch, table);
    (data, d_fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::tests::pool;

    /// The rows `(j,b)`, b ≠ r_j, of `table` (n×w) made differences from
    /// the reference rows, in place: what [`pll_rows`] reads.
    fn relative_rows(table: &mut [f32], reference: &[u8]) {
        let w = table.len() / (reference.len() * Q);
        for (rows, &r) in table.chunks_exact_mut(Q * w).zip(reference) {
            let own = rows[r as usize * w..(r as usize + 1) * w].to_vec();
            for b in (0..Q).filter(|&b| b != r as usize) {
                for (x, y) in rows[b * w..(b + 1) * w].iter_mut().zip(&own) {
                    *x -= *y;
                }
            }
        }
    }

    #[test]
    fn pll_of_a_hand_example_and_its_scatter() {
        // L = 2, zero table except W[(1,x1),(0,·)] = e_a · 2 for a = 4: sequence (4, 7)
        // sees logit 2 at state 4 of site 0 plus fields 0; site 1 sees only zeros.
        let (l, n) = (2, 2 * Q);
        let mut table = vec![0.0f32; n * n];
        table[(Q + 7) * n + 4] = 2.0;
        let fields = vec![0.0f32; n];
        let states = [4u8, 7, 4, 7];
        let weights = [1.0f32, 3.0];
        let mut grad = vec![0.0f32; 2 * n];
        let pool = pool();
        // Reference state 4 at site 0 (what both sequences hold), 0 at site 1 (what neither holds).
        let reference = [4u8, 0];
        let all = vec![(1u32 << Q) - 1; l];
        let batch = Batch {
            reference: &reference,
            present: &all,
            states: &states,
            weights: &weights,
        };
        relative_rows(&mut table, &reference);
        let (loss, d_fields) = pll_rows(&pool, &table, &fields, &batch, 0, &mut grad);
        let z0 = 20.0 + 2.0f64.exp();
        let nll = (z0.ln() - 2.0) + (21.0f64).ln();
        assert!((loss - nll).abs() < 1e-5, "loss {loss} want {nll}");
        // Sequence 2 (weight 3/4): site 0, state 4: (e²/z0 − 1)·0.75.
        let g = (2.0f64.exp() / z0 - 1.0) * 0.75;
        assert!((grad[n + 4] as f64 - g).abs() < 1e-6);
        assert!((d_fields[4] as f64 - (2.0f64.exp() / z0 - 1.0)).abs() < 1e-6);
        let mut d_table = vec![1.0f32; n * n];
        scatter_rows(&pool, &grad, &d_fields, &batch, &mut d_table);
        // Rows (0, 4) and (1, 7) hold both sequences' gradients, rows (0, 5) and (1, 0) nothing.
        for c in 0..n {
            let both = grad[c] + grad[n + c];
            assert!((d_table[4 * n + c] - both).abs() < 1e-6);
            assert!((d_table[(Q + 7) * n + c] - both).abs() < 1e-6);
            assert!(d_table[5 * n + c].abs() < 1e-6);
            assert!(d_table[Q * n + c].abs() < 1e-6);
        }
    }
}
