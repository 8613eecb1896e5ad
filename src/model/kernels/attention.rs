//! The factored model's attention on the CPU: forward
//! ([`attention_forward`], a softmax over positions per head and row) and
//! the backward pass to the queries and keys ([`attention_backward`]),
//! both in the layout `[j][i][h]` the table's kernels read (`A^h_ij` at
//! `(j·L + i)·H + h`): the softmax over j is then a reduction over rows of
//! L·H contiguous floats, vectorised along (i,h), and no transpose is
//! needed (one took 5 % of a factored step).
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis};
use rayon::prelude::*;

use super::{SharedFloats, exp_nonpositive};

/// Columns `(i,h)` per parallel task of the softmax and its backward pass
/// (each task walks its columns down the L rows j: L·1 KiB).
const SOFTMAX_COLUMNS: usize = 256;

/// The factored attention `A^h_ij = softmax_{j≠i}(Q^h_i·K^h_j/√d)` (the
/// diagonal masked out, `A^h_ii = 0`) from the queries and keys (both
/// `[h][i][k]`, H×L×d, as the model holds them), laid out `[j][i][h]` in
/// `a_jih` (L·L·H, overwritten): per head one matrix product `K^h·Q^hᵀ`
/// (the heads in parallel), then the softmax over j of every column
/// `(i,h)`, in blocks of columns. (The products with the heads on the
/// vector lanes, the way [`super::tiles`] computes the table, were slower
/// here: each product's operands are both vectors, one load per
/// multiply-add.)
pub fn attention_forward(
    pool: &rayon::ThreadPool,
    query: &[f32],
    key: &[f32],
    heads: usize,
    a_jih: &mut [f32],
) {
    let l = (a_jih.len() / heads).isqrt();
    assert_eq!(a_jih.len(), l * l * heads);
    assert_eq!(query.len(), key.len());
    let d = query.len() / (heads * l);
    assert_eq!(query.len(), heads * l * d);
    let scale = 1.0 / (d as f32).sqrt();
    pool.install(|| {
        let mut logits = ArrayViewMut3::from_shape((l, l, heads), &mut *a_jih).expect("L×L×H");
        let per_head: Vec<_> = logits.axis_iter_mut(Axis(2)).collect();
        per_head
            .into_par_iter()
            .enumerate()
            .for_each(|(h, mut logits)| {
                let q = head_matrix(query, h, l, d);
                let k = head_matrix(key, h, l, d);
                general_mat_mul(scale, &k, &q.t(), 0.0, &mut logits);
            });
    });
    let columns = SharedFloats(a_jih.as_mut_ptr());
    let width = l * heads;
    pool.install(|| {
        (0..width.div_ceil(SOFTMAX_COLUMNS))
            .into_par_iter()
            .for_each(|c| {
                let c0 = c * SOFTMAX_COLUMNS;
                // SAFETY: each task owns the columns c0.. of every row.
                unsafe {
                    softmax_columns(&columns, l, heads, c0..(c0 + SOFTMAX_COLUMNS).min(width))
                }
            })
    });
}

/// The softmax over j of the columns `(i,h)` in `columns` of the L×(L·H)
/// logits: the diagonal `j = i` masked out (−∞ in the maximum, 0 after).
///
/// # Safety
/// `a` must point at L·L·H floats whose `columns` nothing else touches.
unsafe fn softmax_columns(
    a: &SharedFloats,
    l: usize,
    heads: usize,
    columns: std::ops::Range<usize>,
) {
    let width = l * heads;
    let count = columns.len();
    // SAFETY: the rows' parts in `columns` are this task's (caller).
    let row = |j: usize| unsafe {
        std::slice::from_raw_parts_mut(a.0.add(j * width + columns.start), count)
    };
    let diagonal = |j: usize| {
        // The columns (i,h) with i = j in this block.
        let start = (j * heads).max(columns.start).min(columns.end);
        let end = ((j + 1) * heads).max(columns.start).min(columns.end);
        start - columns.start..end - columns.start
    };
    for j in 0..l {
        row(j)[diagonal(j)].fill(f32::NEG_INFINITY);
    }
    let mut max = vec![f32::NEG_INFINITY; count];
    for j in 0..l {
        column_max(&mut max, row(j));
    }
    let mut sum = vec![0.0f32; count];
    for j in 0..l {
        exp_and_sum(row(j), &max, &mut sum);
    }
    for s in sum.iter_mut() {
        *s = 1.0 / *s;
    }
    for j in 0..l {
        let r = row(j);
        scale_by(r, &sum);
        r[diagonal(j)].fill(0.0);
    }
}

dispatch!(column_max(max: &mut [f32], row: &[f32]) -> () {
    for (m, &x) in max.iter_mut().zip(row) {
        *m = m.max(x);
    }
});

dispatch!(exp_and_sum(row: &mut [f32], max: &[f32], sum: &mut [f32]) -> () {
    // exp(−∞ − max) underflows to about 1e-38, nothing next to the
    // maximum's 1 in the sum; the diagonal is set to 0 afterwards.
    for ((x, &m), s) in row.iter_mut().zip(max).zip(sum.iter_mut()) {
        *x = exp_nonpositive(*x - m);
        *s += *x;
    }
});

dispatch!(scale_by(row: &mut [f32], inv: &[f32]) -> () {
    for (x, &k) in row.iter_mut().zip(inv) {
        *x *= k;
    }
});

/// Gradients of the queries and keys (`[h][i][k]`, like the model's) from
/// the attention `a_jih` ([`attention_forward`]) and the gradient with
/// respect to it, `d_jih` (same layout; overwritten with the gradient of the
/// logits): through the softmax, `dlogit_ij = A_ij (dA_ij − Σ_j' A_ij' dA_ij')/√d`
/// (in blocks of columns `(i,h)`), then per head (the heads in parallel)
/// `dQ^h = dlogit^h·K^h` and `dK^h = dlogit^hᵀ·Q^h`.
pub fn attention_backward(
    pool: &rayon::ThreadPool,
    a_jih: &[f32],
    d_jih: &mut [f32],
    query: &[f32],
    key: &[f32],
    heads: usize,
) -> (Vec<f32>, Vec<f32>) {
    let l = (a_jih.len() / heads).isqrt();
    assert_eq!(a_jih.len(), l * l * heads);
    assert_eq!(d_jih.len(), a_jih.len());
    let d = query.len() / (heads * l);
    assert_eq!(query.len(), heads * l * d);
    assert_eq!(key.len(), query.len());
    let scale = 1.0 / (d as f32).sqrt();
    let width = l * heads;
    let gradient = SharedFloats(d_jih.as_mut_ptr());
    pool.install(|| {
        (0..width.div_ceil(SOFTMAX_COLUMNS))
            .into_par_iter()
            .for_each(|c| {
                let columns = c * SOFTMAX_COLUMNS..((c + 1) * SOFTMAX_COLUMNS).min(width);
                // SAFETY: each task owns the columns of its block.
                unsafe { softmax_backward_columns(a_jih, &gradient, heads, columns, scale) }
            })
    });
    let mut d_query = vec![0.0f32; heads * l * d];
    let mut d_key = vec![0.0f32; heads * l * d];
    let dlogits = ArrayView3::from_shape((l, l, heads), &*d_jih).expect("L×L×H");
    pool.install(|| {
        d_query
            .par_chunks_mut(l * d)
            .zip(d_key.par_chunks_mut(l * d))
            .enumerate()
            .for_each(|(h, (d_q, d_k))| {
                // dlogit^h[j][i]
                let dlogit = dlogits.index_axis(Axis(2), h);
                let mut d_q = ArrayViewMut2::from_shape((l, d), d_q).expect("L×d");
                let mut d_k = ArrayViewMut2::from_shape((l, d), d_k).expect("L×d");
                general_mat_mul(1.0, &dlogit.t(), &head_matrix(key, h, l, d), 0.0, &mut d_q);
                general_mat_mul(1.0, &dlogit, &head_matrix(query, h, l, d), 0.0, &mut d_k);
            })
    });
    (d_query, d_key)
}

/// The softmax's backward pass for the columns `(i,h)` in `columns`: the
/// gradient `g` (L×(L·H), at `gradient`) becomes `A (g − Σ_j A g)·scale`.
///
/// # Safety
/// `gradient` must point at `a_jih.len()` floats whose `columns` nothing
/// else touches.
unsafe fn softmax_backward_columns(
    a_jih: &[f32],
    gradient: &SharedFloats,
    heads: usize,
    columns: std::ops::Range<usize>,
    scale: f32,
) {
    let l = (a_jih.len() / heads).isqrt();
    let width = l * heads;
    let count = columns.len();
    let mut inner = vec![0.0f32; count];
    for j in 0..l {
        let a = &a_jih[j * width + columns.start..j * width + columns.end];
        // SAFETY: these columns of row j are this task's (caller).
        let g =
            unsafe { std::slice::from_raw_parts(gradient.0.add(j * width + columns.start), count) };
        column_dot(&mut inner, a, g);
    }
    for j in 0..l {
        let a = &a_jih[j * width + columns.start..j * width + columns.end];
        // SAFETY: as above.
        let g = unsafe {
            std::slice::from_raw_parts_mut(gradient.0.add(j * width + columns.start), count)
        };
        softmax_backward(g, a, &inner, scale);
    }
}

dispatch!(column_dot(inner: &mut [f32], a: &[f32], g: &[f32]) -> () {
    for ((s, &x), &y) in inner.iter_mut().zip(a).zip(g) {
        *s = x.mul_add(y, *s);
    }
});

dispatch!(softmax_backward(g: &mut [f32], a: &[f32], inner: &[f32], scale: f32) -> () {
    for ((g, &a), &s) in g.iter_mut().zip(a).zip(inner) {
        *g = a * (*g - s) * scale;
    }
});

/// Head `h`'s L×d matrix of queries or keys laid out `[h][i][k]`.
fn head_matrix(x: &[f32], h: usize, l: usize, d: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((l, d), &x[h * l * d..(h + 1) * l * d]).expect("L×d per head")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::tests::pool;

    #[test]
    fn attention_and_its_backward_match_their_definitions() {
        // L = 20, H = 3, d = 4: 60 columns (i,h), less than a block; H = 13,
        // d = 2: 260 columns, two blocks, the second starting inside the
        // diagonal of i = 19.
        for (heads, d) in [(3, 4), (13, 2)] {
            check_attention(20, heads, d);
        }
    }

    fn check_attention(l: usize, heads: usize, d: usize) {
        let query: Vec<f32> = (0..heads * l * d)
            .map(|k| ((k * 37 % 23) as f32 - 11.0) * 0.1)
            .collect();
        let key: Vec<f32> = (0..heads * l * d)
            .map(|k| ((k * 29 % 19) as f32 - 9.0) * 0.1)
            .collect();
        let pool = pool();
        let mut a_jih = vec![f32::NAN; l * l * heads];
        attention_forward(&pool, &query, &key, heads, &mut a_jih);
        let logit = |h: usize, i: usize, j: usize| -> f64 {
            (0..d)
                .map(|k| {
                    f64::from(query[(h * l + i) * d + k]) * f64::from(key[(h * l + j) * d + k])
                })
                .sum::<f64>()
                / (d as f64).sqrt()
        };
        let want_a = |h: usize, i: usize, j: usize| -> f64 {
            let total: f64 = (0..l)
                .filter(|&j| j != i)
                .map(|j| logit(h, i, j).exp())
                .sum();
            if i == j {
                0.0
            } else {
                logit(h, i, j).exp() / total
            }
        };
        for h in 0..heads {
            for i in 0..l {
                for j in 0..l {
                    let got = f64::from(a_jih[(j * l + i) * heads + h]);
                    let want = want_a(h, i, j);
                    assert!(
                        (got - want).abs() < 1e-6,
                        "A[{h},{i},{j}] = {got}, want {want}"
                    );
                }
            }
        }
        // Backward: the loss Σ c_jih A_jih, its gradient against central
        // differences of the forward pass in float64.
        let c = |k: usize| ((k * 13 % 17) as f64 - 8.0) * 0.1;
        let mut d_jih: Vec<f32> = (0..a_jih.len()).map(|k| c(k) as f32).collect();
        let (d_q, d_k) = attention_backward(&pool, &a_jih, &mut d_jih, &query, &key, heads);
        let loss = |q: &[f32], k: &[f32]| -> f64 {
            let mut a = vec![0.0f32; l * l * heads];
            attention_forward(&pool, q, k, heads, &mut a);
            a.iter()
                .enumerate()
                .map(|(n, &x)| c(n) * f64::from(x))
                .sum()
        };
        for (which, grad) in [(0, &d_q), (1, &d_k)] {
            for n in [0, 7, 45, 101, heads * l * d - 1] {
                let (mut qp, mut kp) = (query.clone(), key.clone());
                let (mut qm, mut km) = (query.clone(), key.clone());
                let eps = 1e-2f32;
                if which == 0 {
                    qp[n] += eps;
                    qm[n] -= eps;
                } else {
                    kp[n] += eps;
                    km[n] -= eps;
                }
                let numeric = (loss(&qp, &kp) - loss(&qm, &km)) / (2.0 * f64::from(eps));
                let got = f64::from(grad[n]);
                assert!(
                    (got - numeric).abs() < 2e-3 * (1.0 + numeric.abs()),
                    "d{which}[{n}] = {got}, numeric {numeric}"
                );
            }
        }
    }
}
