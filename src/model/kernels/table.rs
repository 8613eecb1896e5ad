//! The factored coupling table from its factors on the CPU: the table's rows
//! a batch reads ([`build_table`]), the factors' gradients from the table's
//! ([`table_grads`]) and the coupling penalty computed from the factors
//! without the table ([`coupling_penalty`]).
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::attention::ATTENTION_ROWS;
use super::{QQ, add, states_of};
use crate::Q;

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
/// row is read by [`super::pll::pll_rows`], and in a batch of a family's sequences only
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

/// Positions per parallel task of [`table_grads`].
const GRAD_POSITIONS: usize = 4;

/// Gradients of the factored table's factors from the table's gradient:
/// `dA[j][i][h] = Σ_{a,b} dW[(j,b),(i,a)] V^h(a,b)` (0 on the diagonal) and
/// `dV[h][b][a] = Σ_{i,j} A^h_ij dW[(j,b),(i,a)]`, in the layouts of
/// [`build_table`], reading only the rows `(j,b)` with bit b of
/// `present[j]` set (the others have no gradient from the batch and hold
/// whatever [`super::pll::scatter_rows`] left there). Per position j those rows are
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::tests::pool;

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
        for (j, &mask) in some.iter().enumerate() {
            for bb in 0..Q {
                let rows = (j * Q + bb) * n..(j * Q + bb + 1) * n;
                if mask & (1 << bb) != 0 {
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
}
