//! The factored model's attention on the CPU: forward
//! ([`attention_forward`], a softmax over positions per head and row), the
//! layout change between its two orders ([`transpose`]) and the backward
//! pass to the queries and keys ([`attention_backward`]).
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

use super::exp_nonpositive;

/// Attention rows `i` per parallel task of [`attention_forward`] and
/// [`attention_backward`].
pub(super) const ATTENTION_ROWS: usize = 16;

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
    use crate::model::kernels::tests::pool;

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
}
