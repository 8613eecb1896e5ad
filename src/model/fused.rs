//! The CPU fast path of the pseudo-likelihood objective, for both models:
//! the coupling table, the conditional logits of a batch, the loss and its
//! gradients in a few fused, cache-aware loops instead of a chain of
//! libtorch operators.
//!
//! A training step needs, for a batch of B sequences of length L (n = L·q):
//!
//! 1. the table `W[(j,b),(i,a)] = Σ_h A^h_ij V^h(a,b)` — [`build_table`];
//! 2. per sequence the logits `h_i(a) + Σ_j W[(j,x_j),(i,a)]` (the sum of L
//!    table rows), the weighted negative log pseudo-likelihood and its
//!    gradient `G[n,(i,a)] = c_n (softmax − one-hot)` — [`pll_rows`];
//! 3. the table's gradient `dW[(j,b),·] = Σ_{n: x_nj = b} G[n,·]` — [`scatter_rows`];
//! 4. `dA^h_ij = ⟨dW_ij, V^h⟩` and `dV^h = Σ_ij A^h_ij dW_ij` — [`table_grads`].
//!
//! The Potts model's table is its parameter: its rows are copied
//! ([`copy_rows`]) instead of built, steps 2 and 3 are the same, and
//! step 4 is the projection of `dW` onto symmetric tables with zero
//! diagonal blocks plus the penalty's gradient ([`potts_gradient`]).
//!
//! Only the rows `(j,b)` of states b that the batch holds at j (and of the
//! reference state) are built, read and differentiated. Steps 2 and 3 read
//! and write whole rows of n floats per sequence and position and are bound
//! by memory traffic. Both work relative to a reference sequence r (the
//! column-wise most frequent states): the logits are those of r plus the
//! rows `W[(j,x_j)] − W[(j,r_j)]` of the positions where the sequence
//! differs from r, and the gradient row of `(j, r_j)` is the batch's total
//! minus the position's other rows; in a protein family about half of the
//! positions agree with r, so half the rows are touched.
//!
//! Around them, the attention itself ([`attention_forward`], one small
//! matrix product per head and block of rows, then a softmax per row), the
//! coupling penalty from the factors ([`coupling_penalty`]) and the
//! back-propagation of `dA` through the softmax to Q and K
//! ([`attention_backward`]), all `O(H·L²·d + H²·L²)`; Adam's update is a
//! Rust loop too (see `model::FusedObjective`). These used to be
//! libtorch operators on one thread (its OpenMP workers slow the kernels'
//! threads down): a quarter of a step's wall time with two threads, and
//! the part that did not scale with more.
//!
//! Done with libtorch operators the same step materialises and permutes
//! several `(L·q)²` tensors and runs a generic embedding bag; these loops
//! touch each table entry a few times with contiguous, vectorised accesses
//! (BENCHMARKS.md, "Training step").
//!
//! Work is split into fixed chunks and partial sums are added in chunk order,
//! so the results do not depend on the number of threads or on scheduling.
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

use crate::Q;

const QQ: usize = Q * Q;

/// Instruction-set level chosen once per process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Avx512,
    Avx2,
    Generic,
}

fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                return Level::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Level::Avx2;
            }
        }
        Level::Generic
    })
}

/// Calls `$body` (an expression using only inlined helpers) compiled for the
/// best instruction set of this CPU.
macro_rules! dispatch {
    ($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty $body:block) => {
        fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn generic($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,fma")]
            fn avx512($($arg: $ty),*) -> $ret { generic($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) -> $ret { generic($($arg),*) }
            match level() {
                // SAFETY: the features were detected at run time.
                #[cfg(target_arch = "x86_64")]
                Level::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => unsafe { avx2($($arg),*) },
                _ => generic($($arg),*),
            }
        }
    };
}

/// `y += x`.
#[inline(always)]
fn add(y: &mut [f32], x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += *x;
    }
}

/// `e^x` for x ≤ 0 to about 2 ulp, branch-free so that loops over it
/// vectorise (Cody–Waite range reduction and a degree-6 polynomial);
/// arguments below −87 give ≈ 0.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    let x = x.max(-87.0);
    let k = (x * std::f32::consts::LOG2_E).round();
    let r = k.mul_add(-0.693_145_75, x);
    let r = k.mul_add(-1.428_606_8e-6, r);
    let mut p = 1.0 / 720.0f32;
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let scale = f32::from_bits((((k as i32) + 127) as u32) << 23);
    p * scale
}

/// The states of `mask` (bit b set = state b), in increasing order.
fn states_of(mask: u32) -> Vec<usize> {
    (0..Q).filter(|&b| mask & (1 << b) != 0).collect()
}

/// `V` restricted to the states `states` as second index: `[h][(k,a)]`
/// for `b = states[k]` (H × |states|·q).
fn values_of(v_hba: &[f32], heads: usize, states: &[usize]) -> Array2<f32> {
    let width = states.len() * Q;
    let mut out = Array2::<f32>::zeros((heads, width));
    for h in 0..heads {
        let row = out.row_mut(h).into_slice().expect("contiguous");
        for (k, &b) in states.iter().enumerate() {
            row[k * Q..(k + 1) * Q].copy_from_slice(&v_hba[h * QQ + b * Q..h * QQ + (b + 1) * Q]);
        }
    }
    out
}

/// The factored coupling table `W[(j,b),(i,a)] = Σ_h A^h_ij V^h(a,b)` into
/// `table` (n×n, n = L·q), for the rows `(j,b)` with bit b of `present[j]`
/// set (the states the batch holds at j, and the reference state): no other
/// row is read by [`pll_rows`], and in a batch of a family's sequences only
/// part of the 21 states occur at a position. Other rows are left as they
/// were. `a_jih` is the attention laid out `[j][i][h]` (L·L·H), `v_hba` the
/// values laid out `[h][b][a]` (H·q·q). Per position j one matrix product
/// `(L×H)·(H×|S_j|q)` gives the blocks `[i][(b,a)]`, copied into the rows;
/// the masked diagonal (`A^h_jj = 0`) gives zero blocks.
pub fn build_table(
    pool: &rayon::ThreadPool,
    a_jih: &[f32],
    v_hba: &[f32],
    present: &[u32],
    heads: usize,
    table: &mut [f32],
) {
    let l = present.len();
    let n = l * Q;
    assert_eq!(table.len(), n * n);
    assert_eq!(a_jih.len(), l * l * heads);
    assert_eq!(v_hba.len(), heads * QQ);
    pool.install(|| {
        table.par_chunks_mut(Q * n).enumerate().for_each_init(
            || vec![0.0f32; l * QQ],
            |buffer, (j, rows)| {
                let states = states_of(present[j]);
                let width = states.len() * Q;
                let v = values_of(v_hba, heads, &states);
                let a =
                    ArrayView2::from_shape((l, heads), &a_jih[j * l * heads..(j + 1) * l * heads])
                        .expect("L×H attention");
                let mut block = ArrayViewMut2::from_shape((l, width), &mut buffer[..l * width])
                    .expect("L×|S|q block");
                // β = 0: the product overwrites the reused buffer.
                general_mat_mul(1.0, &a, &v, 0.0, &mut block);
                let block = block.into_slice().expect("contiguous");
                for i in 0..l {
                    for (k, &b) in states.iter().enumerate() {
                        let r = b * n + i * Q;
                        rows[r..r + Q]
                            .copy_from_slice(&block[i * width + k * Q..i * width + (k + 1) * Q]);
                    }
                }
            },
        )
    });
}

/// Sequences per parallel task of [`pll_rows`]: they are summed together,
/// one block of columns at a time, so that the table rows they share (a
/// family's sequences agree at most positions) are read once per block.
const SEQ_CHUNK: usize = 32;

/// Columns per block of [`pll_rows`] (a multiple of 16 floats).
const COLUMN_BLOCK: usize = 256;

/// The data term of the objective on a batch and its gradient with respect
/// to the logits. `states` is B×L (row-major), `weights` B. `present[j]`
/// has bit b set for every state b the batch holds at j and for the
/// reference state; the table's other rows are not read (they may hold
/// anything) and are left as they are. The table is turned into
/// differences from the reference rows in place. Writes
/// `grad[n,(i,a)] = (w_n/Σw)(P(x_i = a | x_\i) − [a = x_ni])` (B×n) and
/// returns `(−(1/Σw) Σ_n w_n Σ_i log P(x_ni | x_n\i), Σ_n grad[n])`, the
/// second being the gradient with respect to the fields.
pub fn pll_rows(
    pool: &rayon::ThreadPool,
    table: &mut [f32],
    fields: &[f32],
    reference: &[u8],
    present: &[u32],
    states: &[u8],
    weights: &[f32],
    grad: &mut [f32],
) -> (f64, Vec<f32>) {
    let l = reference.len();
    let n = l * Q;
    let b = weights.len();
    assert_eq!(table.len(), n * n);
    assert_eq!(fields.len(), n);
    assert_eq!(states.len(), b * l);
    assert_eq!(grad.len(), b * n);
    assert_eq!(present.len(), l);
    // Differences from the reference rows, and the reference sequence's sum.
    pool.install(|| {
        table
            .par_chunks_mut(Q * n)
            .zip(reference.par_iter().zip(present.par_iter()))
            .for_each(|(rows, (&r, &mask))| subtract_reference(rows, r as usize, mask))
    });
    let mut base = fields.to_vec();
    for (j, &r) in reference.iter().enumerate() {
        let row = (j * Q + r as usize) * n;
        add(&mut base, &table[row..row + n]);
    }
    let table = &*table;
    let total: f64 = weights.iter().map(|&w| w as f64).sum();
    let inv_total = if total > 0.0 { 1.0 / total } else { 0.0 };
    let coefs: Vec<f32> = weights
        .iter()
        .map(|&w| (w as f64 * inv_total) as f32)
        .collect();
    let partials: Vec<(f64, Vec<f32>)> = pool.install(|| {
        grad.par_chunks_mut(SEQ_CHUNK * n)
            .enumerate()
            .map(|(c, rows)| {
                let first = c * SEQ_CHUNK;
                let count = rows.len() / n;
                let x = &states[first * l..(first + count) * l];
                let nll = chunk_rows(
                    table,
                    &base,
                    reference,
                    x,
                    &coefs[first..first + count],
                    rows,
                );
                let loss: f64 = nll
                    .iter()
                    .zip(&weights[first..first + count])
                    .map(|(v, &w)| v * w as f64)
                    .sum();
                let mut d_fields = vec![0.0f32; n];
                for row in rows.chunks_exact(n) {
                    add(&mut d_fields, row);
                }
                (loss, d_fields)
            })
            .collect()
    });
    let mut d_fields = vec![0.0f32; n];
    let mut loss = 0.0;
    for (part, d) in partials {
        loss += part;
        add(&mut d_fields, &d);
    }
    (loss * inv_total, d_fields)
}

/// The states of `mask` other than `r`.
fn others_of(mask: u32, r: usize) -> impl Iterator<Item = usize> {
    (0..Q).filter(move |&b| b != r && mask & (1 << b) != 0)
}

dispatch!(subtract_reference(rows: &mut [f32], r: usize, mask: u32) -> () {
    let n = rows.len() / Q;
    let reference = rows[r * n..(r + 1) * n].to_vec();
    for b in others_of(mask, r) {
        for (x, y) in rows[b * n..(b + 1) * n].iter_mut().zip(&reference) {
            *x -= *y;
        }
    }
});

dispatch!(chunk_rows(table: &[f32], base: &[f32], reference: &[u8], x: &[u8], coefs: &[f32], rows: &mut [f32]) -> Vec<f64> {
    let count = coefs.len();
    let l = reference.len();
    let n = l * Q;
    // Logits: the reference sequence's (`base`) plus the difference rows of
    // the positions where the sequence differs from it, a block of columns
    // at a time.
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + COLUMN_BLOCK).min(n);
        for (s, seq) in x.chunks_exact(l).enumerate() {
            let acc = &mut rows[s * n + c0..s * n + c1];
            acc.copy_from_slice(&base[c0..c1]);
            for (j, (&state, &r)) in seq.iter().zip(reference).enumerate() {
                if state != r {
                    let row = (j * Q + state as usize) * n;
                    add(acc, &table[row + c0..row + c1]);
                }
            }
        }
        c0 = c1;
    }
    // Per site: −log P(target) and the gradient (softmax − one-hot)·coef.
    let mut nll = vec![0.0f64; count];
    for (s, seq) in x.chunks_exact(l).enumerate() {
        let coef = coefs[s];
        for (i, logits) in rows[s * n..(s + 1) * n].chunks_exact_mut(Q).enumerate() {
            let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0f32;
            for v in logits.iter_mut() {
                *v = exp_nonpositive(*v - max);
                sum += *v;
            }
            let target = seq[i] as usize;
            // −log P(target) = log Σ e^{v−max} − (v_target − max)
            nll[s] += (sum as f64).ln() - (logits[target] as f64).ln();
            let scale = coef / sum;
            for v in logits.iter_mut() {
                *v *= scale;
            }
            logits[target] -= coef;
        }
    }
    nll
});

/// Bytes of table rows one task of [`scatter_rows`] accumulates into (kept
/// within a core's L2 cache while the batch's gradient rows stream past).
const SCATTER_BLOCK_BYTES: usize = 512 * 1024;

/// The table's gradient `d_table[(j,b),·] = Σ_{n: x_nj = b} grad[n,·]`
/// (n×n, overwritten) from the logits' gradient `grad` (B×n) and its sum
/// over the batch `total` (the fields' gradient). Only the sequences that
/// differ from the `reference` state at j are added; the reference row is
/// `total` minus the position's other rows. Only the rows marked in
/// `present` (see [`pll_rows`]) are written; the others are left as they
/// are (mark every state to get a whole, zero-filled gradient).
pub fn scatter_rows(
    pool: &rayon::ThreadPool,
    grad: &[f32],
    total: &[f32],
    reference: &[u8],
    present: &[u32],
    states: &[u8],
    d_table: &mut [f32],
) {
    let l = reference.len();
    let n = l * Q;
    let b = grad.len() / n;
    assert_eq!(d_table.len(), n * n);
    assert_eq!(states.len(), b * l);
    assert_eq!(total.len(), n);
    assert_eq!(present.len(), l);
    let positions = (SCATTER_BLOCK_BYTES / (Q * n * 4)).max(1);
    pool.install(|| {
        d_table
            .par_chunks_mut(positions * Q * n)
            .enumerate()
            .for_each(|(c, rows)| {
                scatter_block(grad, total, reference, present, states, c * positions, rows)
            })
    });
}

dispatch!(scatter_block(grad: &[f32], total: &[f32], reference: &[u8], present: &[u32], states: &[u8], first: usize, rows: &mut [f32]) -> () {
    let l = reference.len();
    let n = l * Q;
    let count = rows.len() / (Q * n);
    let reference = &reference[first..first + count];
    let present = &present[first..first + count];
    for (p, &mask) in present.iter().enumerate() {
        for b in 0..Q {
            if mask & (1 << b) != 0 {
                rows[(p * Q + b) * n..(p * Q + b + 1) * n].fill(0.0);
            }
        }
    }
    for (s, g) in grad.chunks_exact(n).enumerate() {
        let x = &states[s * l + first..s * l + first + count];
        for (p, (&state, &r)) in x.iter().zip(reference).enumerate() {
            if state != r {
                let row = (p * Q + state as usize) * n;
                add(&mut rows[row..row + n], g);
            }
        }
    }
    for (p, (&r, &mask)) in reference.iter().zip(present).enumerate() {
        let block = &mut rows[p * Q * n..(p + 1) * Q * n];
        let mut own = total.to_vec();
        for b in others_of(mask, r as usize) {
            for (x, y) in own.iter_mut().zip(&block[b * n..(b + 1) * n]) {
                *x -= *y;
            }
        }
        block[r as usize * n..(r as usize + 1) * n].copy_from_slice(&own);
    }
});

/// Steps 2 and 3 on one buffer: [`pll_rows`] on `table`, then
/// [`scatter_rows`] of the table's gradient into the same rows (nothing
/// reads a table row again once the logits are summed: one `(L·q)²` array
/// instead of two). Returns the data term and the fields' gradient; the
/// rows marked in `present` then hold the table's gradient, and `grad` the
/// logits' gradient (resized to B×n).
#[allow(clippy::too_many_arguments)]
pub fn data_term_and_table_gradient(
    pool: &rayon::ThreadPool,
    table: &mut [f32],
    fields: &[f32],
    reference: &[u8],
    present: &[u32],
    states: &[u8],
    weights: &[f32],
    grad: &mut Vec<f32>,
) -> (f64, Vec<f32>) {
    grad.resize(weights.len() * reference.len() * Q, 0.0);
    let (data, d_fields) = pll_rows(
        pool, table, fields, reference, present, states, weights, grad,
    );
    scatter_rows(pool, grad, &d_fields, reference, present, states, table);
    (data, d_fields)
}

/// The rows `(j,b)` of the Potts model's table `w` (n×n, n = L·q) marked
/// in `present` (see [`pll_rows`]) copied into `table`, which
/// [`pll_rows`] then turns into differences in place: the Potts model's
/// table is its parameter, which the step must leave as it is. Other rows
/// of `table` are left as they were.
pub fn copy_rows(pool: &rayon::ThreadPool, w: &[f32], present: &[u32], table: &mut [f32]) {
    let n = present.len() * Q;
    assert_eq!(w.len(), n * n);
    assert_eq!(table.len(), n * n);
    pool.install(|| {
        table
            .par_chunks_mut(Q * n)
            .zip(w.par_chunks(Q * n))
            .zip(present.par_iter())
            .for_each(|((rows, source), &mask)| {
                for b in states_of(mask) {
                    rows[b * n..(b + 1) * n].copy_from_slice(&source[b * n..(b + 1) * n]);
                }
            })
    });
}

/// The Potts model's gradient, in place of the table's gradient `d_table`
/// (n×n, of which only the rows marked in `present` are read: the others
/// are taken as zero, the batch holding none of their states), projected
/// onto symmetric tables with zero diagonal blocks, plus the coupling
/// penalty's gradient: `dW[r][c] ← ½(dW[r][c] + dW[c][r]) + 2λ·w[r][c]`, 0
/// in the blocks `(i,i)` (what `Potts::project_gradient` computes with
/// libtorch). `w` must be symmetric (the trainer keeps it so): the block
/// `(i,j)` is written as the transpose of the block `(j,i)`, so that the
/// result is exactly symmetric. Returns `Σ w²`, the penalty's norm, read in
/// the same pass. Each q×q block pair `{(j,i), (i,j)}` is read and written
/// once, by the task of the smaller position: no second `(L·q)²` array.
pub fn potts_gradient(
    pool: &rayon::ThreadPool,
    d_table: &mut [f32],
    present: &[u32],
    w: &[f32],
    lambda: f64,
) -> f64 {
    let l = present.len();
    let n = l * Q;
    assert_eq!(d_table.len(), n * n);
    assert_eq!(w.len(), n * n);
    let penalty = (2.0 * lambda) as f32;
    let table = SharedTable(d_table.as_mut_ptr());
    let norms: Vec<f64> = pool.install(|| {
        (0..l)
            .into_par_iter()
            // SAFETY: the task of position j reads and writes only the
            // blocks (j,i) and (i,j) with i ≥ j, which no other task touches,
            // and `d_table` is borrowed mutably for the whole call.
            .map_init(
                || vec![0.0f32; Q * n],
                |columns, j| unsafe { potts_block_pairs(j, &table, present, w, penalty, columns) },
            )
            .collect()
    });
    norms.iter().sum()
}

/// The table's start, shared by the tasks of [`potts_gradient`], which
/// touch disjoint blocks of it.
struct SharedTable(*mut f32);

// SAFETY: see `potts_gradient`: the tasks write disjoint blocks.
unsafe impl Sync for SharedTable {}

/// Block pairs `{(j,i), (i,j)}`, i > j, and the block `(j,j)` of
/// [`potts_gradient`]; returns their share of `Σ w²`. The blocks `(i,j)`
/// are gathered transposed into `columns` (q rows of n), each row of the
/// strip `(j,·)` right of the diagonal is then one vectorised pass, and the
/// result goes back transposed.
///
/// # Safety
/// `table` must point at an n×n table (n = L·q, L = `present.len()`)
/// whose blocks in row and column j, from j on, nothing else touches.
unsafe fn potts_block_pairs(
    j: usize,
    table: &SharedTable,
    present: &[u32],
    w: &[f32],
    penalty: f32,
    columns: &mut [f32],
) -> f64 {
    let l = present.len();
    let n = l * Q;
    let first = (j + 1) * Q;
    // SAFETY: `len` consecutive floats of the table inside the caller's blocks.
    let run = |offset: usize, len: usize| unsafe {
        std::slice::from_raw_parts_mut(table.0.add(offset), len)
    };
    let square = |x: &[f32]| x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
    let mut norm2 = 0.0f64;
    for b in 0..Q {
        let row = (j * Q + b) * n + j * Q;
        run(row, Q).fill(0.0);
        norm2 += square(&w[row..row + Q]);
    }
    // columns[b][c] = dW[c, (j,b)] for the rows c = (i,a), i > j (0 where
    // the batch holds no a at i).
    for c in first..n {
        let (i, a) = (c / Q, c % Q);
        if present[i] & (1 << a) != 0 {
            for (b, &x) in run(c * n + j * Q, Q).iter().enumerate() {
                columns[b * n + c] = x;
            }
        } else {
            for b in 0..Q {
                columns[b * n + c] = 0.0;
            }
        }
    }
    let mut off_diagonal = 0.0f64;
    for b in 0..Q {
        let row = (j * Q + b) * n;
        let own = run(row + first, n - first);
        if present[j] & (1 << b) == 0 {
            own.fill(0.0);
        }
        let w_row = &w[row + first..row + n];
        project_run(
            own,
            &mut columns[b * n + first..(b + 1) * n],
            w_row,
            penalty,
        );
        off_diagonal += square(w_row);
    }
    for c in first..n {
        for (b, x) in run(c * n + j * Q, Q).iter_mut().enumerate() {
            *x = columns[b * n + c];
        }
    }
    // Each off-diagonal block's w counted for itself and its transpose.
    norm2 + 2.0 * off_diagonal
}

dispatch!(project_run(own: &mut [f32], transposed: &mut [f32], w: &[f32], penalty: f32) -> () {
    for ((d, t), &w) in own.iter_mut().zip(transposed.iter_mut()).zip(w) {
        let g = 0.5 * (*d + *t) + penalty * w;
        *d = g;
        *t = g;
    }
});

/// Positions per parallel task of [`table_grads`].
const GRAD_POSITIONS: usize = 4;

/// Gradients of the factored table's factors from the table's gradient:
/// `dA[j][i][h] = Σ_{a,b} dW[(j,b),(i,a)] V^h(a,b)` (0 on the diagonal) and
/// `dV[h][b][a] = Σ_{i,j} A^h_ij dW[(j,b),(i,a)]`, in the layouts of
/// [`build_table`], reading only the rows `(j,b)` with bit b of
/// `present[j]` set (the others have no gradient from the batch and hold
/// whatever [`scatter_rows`] left there). Per position j those rows are
/// gathered into a block
/// `B_j[i][(b,a)]` (L×|S_j|q), then `dA_j = B_j·V_jᵀ` and `dV_j += A_jᵀ·B_j`.
pub fn table_grads(
    pool: &rayon::ThreadPool,
    d_table: &[f32],
    a_jih: &[f32],
    v_hba: &[f32],
    present: &[u32],
    heads: usize,
) -> (Vec<f32>, Vec<f32>) {
    let l = present.len();
    let n = l * Q;
    assert_eq!(d_table.len(), n * n);
    let mut d_a = vec![0.0f32; l * l * heads];
    let partials: Vec<Vec<f32>> = pool.install(|| {
        d_a.par_chunks_mut(GRAD_POSITIONS * l * heads)
            .enumerate()
            .map_init(
                || vec![0.0f32; l * QQ],
                |buffer, (c, d_a_chunk)| {
                    let mut d_v = vec![0.0f32; heads * QQ];
                    for (p, d_a_ih) in d_a_chunk.chunks_exact_mut(l * heads).enumerate() {
                        let j = c * GRAD_POSITIONS + p;
                        let states = states_of(present[j]);
                        let width = states.len() * Q;
                        let rows = &d_table[j * Q * n..(j + 1) * Q * n];
                        for i in 0..l {
                            let k0 = i * width;
                            if i == j {
                                // The diagonal block is not a parameter (A^h_jj = 0).
                                buffer[k0..k0 + width].fill(0.0);
                                continue;
                            }
                            for (k, &b) in states.iter().enumerate() {
                                buffer[k0 + k * Q..k0 + (k + 1) * Q]
                                    .copy_from_slice(&rows[b * n + i * Q..b * n + i * Q + Q]);
                            }
                        }
                        let block = ArrayView2::from_shape((l, width), &buffer[..l * width])
                            .expect("L×|S|q block");
                        let v = values_of(v_hba, heads, &states);
                        let a = ArrayView2::from_shape(
                            (l, heads),
                            &a_jih[j * l * heads..(j + 1) * l * heads],
                        )
                        .expect("L×H attention");
                        let mut d_a_j = ArrayViewMut2::from_shape((l, heads), d_a_ih).expect("L×H");
                        general_mat_mul(1.0, &block, &v.t(), 0.0, &mut d_a_j);
                        let mut d_v_j = Array2::<f32>::zeros((heads, width));
                        general_mat_mul(1.0, &a.t(), &block, 0.0, &mut d_v_j);
                        for h in 0..heads {
                            let src = d_v_j.row(h);
                            let src = src.as_slice().expect("contiguous");
                            for (k, &b) in states.iter().enumerate() {
                                add(
                                    &mut d_v[h * QQ + b * Q..h * QQ + (b + 1) * Q],
                                    &src[k * Q..(k + 1) * Q],
                                );
                            }
                        }
                    }
                    d_v
                },
            )
            .collect()
    });
    let mut d_v = vec![0.0f32; heads * QQ];
    for part in partials {
        add(&mut d_v, &part);
    }
    (d_a, d_v)
}

/// Attention rows `i` per parallel task of [`attention_forward`] and
/// [`attention_backward`].
const ATTENTION_ROWS: usize = 16;

/// The factored attention `A^h_ij = softmax_{j≠i}(Q^h_i·K^h_j/√d)` (the
/// diagonal masked out, `A^h_ii = 0`) from the queries and keys (both
/// `[h][i][k]`, H×L×d, as the model holds them), laid out `[i][h][j]` in
/// `a_ihj` (L·H·L, overwritten): per block of rows i and head h one matrix
/// product `Q^h_I·K^hᵀ`, then a softmax per row.
pub fn attention_forward(
    pool: &rayon::ThreadPool,
    query: &[f32],
    key: &[f32],
    heads: usize,
    a_ihj: &mut [f32],
) {
    let l = (a_ihj.len() / heads).isqrt();
    assert_eq!(a_ihj.len(), l * heads * l);
    assert_eq!(query.len(), key.len());
    let d = query.len() / (heads * l);
    assert_eq!(query.len(), heads * l * d);
    let scale = 1.0 / (d as f32).sqrt();
    pool.install(|| {
        a_ihj
            .par_chunks_mut(ATTENTION_ROWS * heads * l)
            .enumerate()
            .for_each(|(c, chunk)| {
                let i0 = c * ATTENTION_ROWS;
                let rows = chunk.len() / (heads * l);
                for h in 0..heads {
                    let q = ArrayView2::from_shape(
                        (rows, d),
                        &query[(h * l + i0) * d..(h * l + i0 + rows) * d],
                    )
                    .expect("rows×d queries");
                    let k = head_matrix(key, h, l, d);
                    let mut logits = ArrayViewMut2::from_shape(
                        (rows, l).strides((heads * l, 1)),
                        &mut chunk[h * l..],
                    )
                    .expect("rows×L logits of head h");
                    general_mat_mul(scale, &q, &k.t(), 0.0, &mut logits);
                }
                for (ii, row_block) in chunk.chunks_exact_mut(heads * l).enumerate() {
                    for row in row_block.chunks_exact_mut(l) {
                        softmax_off_diagonal(row, i0 + ii);
                    }
                }
            })
    });
}

dispatch!(softmax_off_diagonal(row: &mut [f32], diagonal: usize) -> () {
    row[diagonal] = f32::NEG_INFINITY;
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for x in row.iter_mut() {
        *x = exp_nonpositive(*x - max);
    }
    row[diagonal] = 0.0;
    let total: f32 = row.iter().sum();
    let inv = 1.0 / total;
    for x in row.iter_mut() {
        *x *= inv;
    }
});

/// Source columns per parallel task of [`transpose`] for a square or tall
/// source (a multiple for a wide one).
const TRANSPOSE_COLUMNS: usize = 16;

/// The transpose of the `rows × cols` matrix `src` into `dst` (`cols ×
/// rows`, overwritten). The attention's two layouts are transposes of each
/// other: `[i][h][j]` is an `(L·H) × L` matrix and `[j][i][h]` its
/// `L × (L·H)` transpose.
pub fn transpose(pool: &rayon::ThreadPool, src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    assert_eq!(src.len(), rows * cols);
    assert_eq!(dst.len(), src.len());
    // Each task writes `block` whole rows of the result, reading runs of
    // `block` values from every row of the source; a wide source gets
    // proportionally longer runs, so that both directions of the
    // attention's layout change split into the same tasks.
    let block = TRANSPOSE_COLUMNS * (cols / rows.max(1)).max(1);
    pool.install(|| {
        dst.par_chunks_mut(block * rows)
            .enumerate()
            .for_each(|(t, chunk)| {
                let c0 = t * block;
                let count = chunk.len() / rows;
                for r in 0..rows {
                    for (k, &x) in src[r * cols + c0..r * cols + c0 + count].iter().enumerate() {
                        chunk[k * rows + r] = x;
                    }
                }
            })
    });
}

/// The coupling penalty's part of a step: returns `Σ_{i≠j} ‖J_ij‖² =
/// Σ_{h,g} ⟨V^h, V^g⟩ M_hg` with `M_hg = Σ_ij A^h_ij A^g_ij`, and adds
/// `λ` times its gradients to `d_a` (`[j][i][h]`, like `a_jih`) and `d_v`
/// (`[h][b][a]`, like `v_hba`): `2λ Σ_g ⟨V^h, V^g⟩ A^g_ij` and
/// `2λ Σ_g M_hg V^g`. `O(H²(L² + q²))`: the table is never formed.
pub fn coupling_penalty(
    pool: &rayon::ThreadPool,
    a_jih: &[f32],
    v_hba: &[f32],
    heads: usize,
    lambda: f64,
    d_a: &mut [f32],
    d_v: &mut [f32],
) -> f64 {
    let rows = a_jih.len() / heads;
    assert_eq!(d_a.len(), a_jih.len());
    assert_eq!(v_hba.len(), heads * QQ);
    assert_eq!(d_v.len(), v_hba.len());
    let v = ArrayView2::from_shape((heads, QQ), v_hba).expect("H×q² values");
    let mut gram_v = Array2::<f32>::zeros((heads, heads));
    general_mat_mul(1.0, &v, &v.t(), 0.0, &mut gram_v);
    // Scaled for the attention's gradient: 2λ⟨V^h, V^g⟩.
    let coupling = gram_v.mapv(|x| (2.0 * lambda) as f32 * x);
    let block = ATTENTION_ROWS * rows.isqrt().max(1);
    let partials: Vec<Array2<f32>> = pool.install(|| {
        d_a.par_chunks_mut(block * heads)
            .zip(a_jih.par_chunks(block * heads))
            .map(|(d_chunk, a_chunk)| {
                let count = a_chunk.len() / heads;
                let a = ArrayView2::from_shape((count, heads), a_chunk).expect("rows×H");
                let mut d = ArrayViewMut2::from_shape((count, heads), d_chunk).expect("rows×H");
                general_mat_mul(1.0, &a, &coupling, 1.0, &mut d);
                let mut gram_a = Array2::<f32>::zeros((heads, heads));
                general_mat_mul(1.0, &a.t(), &a, 0.0, &mut gram_a);
                gram_a
            })
            .collect()
    });
    let mut gram_a = Array2::<f32>::zeros((heads, heads));
    for part in &partials {
        gram_a += part;
    }
    let mut d_v_view = ArrayViewMut2::from_shape((heads, QQ), d_v).expect("H×q²");
    general_mat_mul((2.0 * lambda) as f32, &gram_a, &v, 1.0, &mut d_v_view);
    gram_a
        .iter()
        .zip(gram_v.iter())
        .map(|(&m, &g)| f64::from(m) * f64::from(g))
        .sum()
}

/// Gradients of the queries and keys (`[h][i][k]`, like the model's) from
/// the attention `a_ihj` ([`attention_forward`]) and the gradient with
/// respect to it, `d_ihj` (same layout; overwritten with the gradient of the
/// logits): through the softmax, `dlogit_ij = A_ij (dA_ij − Σ_j' A_ij' dA_ij')/√d`,
/// then `dQ^h = dlogit^h·K^h` and `dK^h = dlogit^hᵀ·Q^h`.
pub fn attention_backward(
    pool: &rayon::ThreadPool,
    a_ihj: &[f32],
    d_ihj: &mut [f32],
    query: &[f32],
    key: &[f32],
    heads: usize,
) -> (Vec<f32>, Vec<f32>) {
    let l = (a_ihj.len() / heads).isqrt();
    assert_eq!(d_ihj.len(), a_ihj.len());
    let d = query.len() / (heads * l);
    assert_eq!(query.len(), heads * l * d);
    assert_eq!(key.len(), query.len());
    let scale = 1.0 / (d as f32).sqrt();
    // dQ, first laid out [i][h][k] so that each task owns its rows.
    let mut d_q_ihk = vec![0.0f32; l * heads * d];
    pool.install(|| {
        d_ihj
            .par_chunks_mut(ATTENTION_ROWS * heads * l)
            .zip(a_ihj.par_chunks(ATTENTION_ROWS * heads * l))
            .zip(d_q_ihk.par_chunks_mut(ATTENTION_ROWS * heads * d))
            .for_each(|((d_chunk, a_chunk), d_q_chunk)| {
                let rows = a_chunk.len() / (heads * l);
                for (d_row, a_row) in d_chunk.chunks_exact_mut(l).zip(a_chunk.chunks_exact(l)) {
                    softmax_backward(d_row, a_row, scale);
                }
                for h in 0..heads {
                    let dlogit = ArrayView2::from_shape(
                        (rows, l).strides((heads * l, 1)),
                        &d_chunk[h * l..],
                    )
                    .expect("rows×L logits' gradient of head h");
                    let k = head_matrix(key, h, l, d);
                    let mut out = ArrayViewMut2::from_shape(
                        (rows, d).strides((heads * d, 1)),
                        &mut d_q_chunk[h * d..],
                    )
                    .expect("rows×d");
                    general_mat_mul(1.0, &dlogit, &k, 0.0, &mut out);
                }
            })
    });
    // dK, laid out [j][h][k]: per block of positions j, dlogit^h[:, J]ᵀ·Q^h.
    let d_ihj = &*d_ihj;
    let mut d_k_jhk = vec![0.0f32; l * heads * d];
    pool.install(|| {
        d_k_jhk
            .par_chunks_mut(ATTENTION_ROWS * heads * d)
            .enumerate()
            .for_each(|(c, d_k_chunk)| {
                let j0 = c * ATTENTION_ROWS;
                let count = d_k_chunk.len() / (heads * d);
                for h in 0..heads {
                    let dlogit = ArrayView2::from_shape(
                        (l, count).strides((heads * l, 1)),
                        &d_ihj[h * l + j0..],
                    )
                    .expect("L×J logits' gradient of head h");
                    let q = head_matrix(query, h, l, d);
                    let mut out = ArrayViewMut2::from_shape(
                        (count, d).strides((heads * d, 1)),
                        &mut d_k_chunk[h * d..],
                    )
                    .expect("J×d");
                    general_mat_mul(1.0, &dlogit.t(), &q, 0.0, &mut out);
                }
            })
    });
    (
        xhk_to_hxk(&d_q_ihk, heads, l),
        xhk_to_hxk(&d_k_jhk, heads, l),
    )
}

dispatch!(softmax_backward(d_row: &mut [f32], a_row: &[f32], scale: f32) -> () {
    let inner: f32 = d_row.iter().zip(a_row).map(|(&d, &a)| d * a).sum();
    for (d, &a) in d_row.iter_mut().zip(a_row) {
        *d = a * (*d - inner) * scale;
    }
});

/// Head `h`'s L×d matrix of queries or keys laid out `[h][i][k]`.
fn head_matrix(x: &[f32], h: usize, l: usize, d: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((l, d), &x[h * l * d..(h + 1) * l * d]).expect("L×d per head")
}

/// `[x][h][k]` → `[h][x][k]` for L positions x (H·L·d values, small).
fn xhk_to_hxk(src: &[f32], heads: usize, l: usize) -> Vec<f32> {
    let d = src.len() / (heads * l);
    let mut dst = vec![0.0f32; src.len()];
    for x in 0..l {
        for h in 0..heads {
            dst[(h * l + x) * d..(h * l + x + 1) * d]
                .copy_from_slice(&src[(x * heads + h) * d..(x * heads + h + 1) * d]);
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    #[test]
    fn attention_matches_its_definition_and_layouts_invert() {
        // L = 20 (two blocks of rows, the second partial), H = 3, d = 4.
        let (l, heads, d) = (20, 3, 4);
        let query: Vec<f32> = (0..heads * l * d)
            .map(|k| ((k * 37 % 23) as f32 - 11.0) * 0.1)
            .collect();
        let key: Vec<f32> = (0..heads * l * d)
            .map(|k| ((k * 29 % 19) as f32 - 9.0) * 0.1)
            .collect();
        let pool = pool();
        let mut a_ihj = vec![f32::NAN; l * heads * l];
        attention_forward(&pool, &query, &key, heads, &mut a_ihj);
        for h in 0..heads {
            for i in 0..l {
                let logit = |j: usize| -> f64 {
                    (0..d)
                        .map(|k| {
                            f64::from(query[(h * l + i) * d + k])
                                * f64::from(key[(h * l + j) * d + k])
                        })
                        .sum::<f64>()
                        / (d as f64).sqrt()
                };
                let total: f64 = (0..l).filter(|&j| j != i).map(|j| logit(j).exp()).sum();
                for j in 0..l {
                    let want = if i == j { 0.0 } else { logit(j).exp() / total };
                    let got = f64::from(a_ihj[(i * heads + h) * l + j]);
                    assert!(
                        (got - want).abs() < 1e-6,
                        "A[{h},{i},{j}] = {got}, want {want}"
                    );
                }
            }
        }
        let mut a_jih = vec![0.0; a_ihj.len()];
        transpose(&pool, &a_ihj, l * heads, l, &mut a_jih);
        assert_eq!(
            a_jih[(7 * l + 18) * heads + 2],
            a_ihj[(18 * heads + 2) * l + 7]
        );
        let mut back = vec![0.0; a_ihj.len()];
        transpose(&pool, &a_jih, l, l * heads, &mut back);
        assert_eq!(back, a_ihj);
    }

    #[test]
    fn exp_matches_the_library_on_its_range() {
        for k in 0..=8700 {
            let x = -(k as f32) * 0.01;
            let (got, want) = (exp_nonpositive(x), x.exp());
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON * want + 1e-37,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert!(exp_nonpositive(-1000.0) < 1e-37);
    }

    #[test]
    fn table_and_its_gradients_match_the_definitions() {
        // L = 3, H = 2: W[(j,b),(i,a)] = Σ_h A[h][i][j] V[h][a][b], checked entry by entry,
        // and the factors' gradients against Σ over the table.
        let (l, heads, n) = (3, 2, 3 * Q);
        let a = |h: usize, i: usize, j: usize| {
            if i == j {
                0.0
            } else {
                0.1 + (h * 9 + i * 3 + j) as f32 * 0.05
            }
        };
        let v = |h: usize, x: usize, y: usize| ((h * 441 + x * 21 + y) % 17) as f32 * 0.1 - 0.8;
        let mut a_jih = vec![0.0; l * l * heads];
        for j in 0..l {
            for i in 0..l {
                for h in 0..heads {
                    a_jih[(j * l + i) * heads + h] = a(h, i, j);
                }
            }
        }
        let mut v_hba = vec![0.0; heads * QQ];
        for h in 0..heads {
            for bb in 0..Q {
                for aa in 0..Q {
                    v_hba[h * QQ + bb * Q + aa] = v(h, aa, bb);
                }
            }
        }
        let pool = pool();
        let mut table = vec![0.0; n * n];
        let all = vec![(1u32 << Q) - 1; l];
        build_table(&pool, &a_jih, &v_hba, &all, heads, &mut table);
        let d_w = |r: usize, c: usize| ((r * 7 + c * 3) % 11) as f32 * 0.01;
        let d_table: Vec<f32> = (0..n * n).map(|k| d_w(k / n, k % n)).collect();
        let (d_a, d_v) = table_grads(&pool, &d_table, &a_jih, &v_hba, &all, heads);
        // With some states absent, their rows are neither written nor read.
        let some = vec![
            (1 << 0) | (1 << 7) | (1 << 20),
            1 << 3,
            (1 << 20) | (1 << 5),
        ];
        let mut partial = vec![7.0f32; n * n];
        build_table(&pool, &a_jih, &v_hba, &some, heads, &mut partial);
        let mut zeroed = d_table.clone();
        for j in 0..l {
            for bb in 0..Q {
                let rows = (j * Q + bb) * n..(j * Q + bb + 1) * n;
                if some[j] & (1 << bb) != 0 {
                    assert_eq!(partial[rows.clone()], table[rows]);
                } else {
                    assert!(partial[rows.clone()].iter().all(|&x| x == 7.0));
                    zeroed[rows].fill(0.0);
                }
            }
        }
        let (d_a_some, d_v_some) = table_grads(&pool, &d_table, &a_jih, &v_hba, &some, heads);
        let (d_a_zeroed, d_v_zeroed) = table_grads(&pool, &zeroed, &a_jih, &v_hba, &all, heads);
        for (x, y) in d_a_some
            .iter()
            .zip(&d_a_zeroed)
            .chain(d_v_some.iter().zip(&d_v_zeroed))
        {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
        for j in 0..l {
            for i in 0..l {
                for (aa, bb) in [(0, 0), (3, 20), (20, 7)] {
                    let want: f32 = (0..heads).map(|h| a(h, i, j) * v(h, aa, bb)).sum();
                    let got = table[(j * Q + bb) * n + i * Q + aa];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "W[{j},{bb},{i},{aa}] = {got}, want {want}"
                    );
                }
                for h in 0..heads {
                    let mut want = 0.0f64;
                    if i != j {
                        for aa in 0..Q {
                            for bb in 0..Q {
                                want += (d_w(j * Q + bb, i * Q + aa) * v(h, aa, bb)) as f64;
                            }
                        }
                    }
                    let got = d_a[(j * l + i) * heads + h] as f64;
                    assert!(
                        (got - want).abs() < 1e-4,
                        "dA[{h},{i},{j}] = {got}, want {want}"
                    );
                }
            }
        }
        for h in 0..heads {
            for (aa, bb) in [(0, 0), (5, 9), (20, 20)] {
                let mut want = 0.0f64;
                for i in 0..l {
                    for j in 0..l {
                        want += (a(h, i, j) * d_w(j * Q + bb, i * Q + aa)) as f64;
                    }
                }
                let got = d_v[h * QQ + bb * Q + aa] as f64;
                assert!(
                    (got - want).abs() < 1e-4,
                    "dV[{h},{aa},{bb}] = {got}, want {want}"
                );
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
        let (loss, d_fields) = pll_rows(
            &pool, &mut table, &fields, &reference, &all, &states, &weights, &mut grad,
        );
        let z0 = 20.0 + 2.0f64.exp();
        let nll = (z0.ln() - 2.0) + (21.0f64).ln();
        assert!((loss - nll).abs() < 1e-5, "loss {loss} want {nll}");
        // Sequence 2 (weight 3/4): site 0, state 4: (e²/z0 − 1)·0.75.
        let g = (2.0f64.exp() / z0 - 1.0) * 0.75;
        assert!((grad[n + 4] as f64 - g).abs() < 1e-6);
        assert!((d_fields[4] as f64 - (2.0f64.exp() / z0 - 1.0)).abs() < 1e-6);
        let mut d_table = vec![1.0f32; n * n];
        scatter_rows(
            &pool,
            &grad,
            &d_fields,
            &reference,
            &all,
            &states,
            &mut d_table,
        );
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
