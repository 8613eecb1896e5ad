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

/// A block of columns of the factored coupling table
/// `W[(j,b),(i,a)] = Σ_h A^h_ij V^h(a,b)`: the columns of the sites
/// `i ∈ [first, first + w/q)` into `table` (n×w, n = L·q rows, w columns;
/// see [`super::pll`]), for the rows `(j,b)` with bit b of `present[j]`
/// set (the states the batch holds at j, and the reference state): no other
/// row is read by [`super::pll::pll_rows`], and in a batch of a family's
/// sequences only part of the 21 states occur at a position. Other rows
/// are left as they were. `a_jih` is the attention laid out `[j][i][h]`
/// (L·L·H), `v_hba` the values laid out `[h][b][a]` (H·q·q). Per position
/// j one matrix product `(sites×H)·(H×|S_j|q)` gives the blocks
/// `[i][(b,a)]`, copied into the rows; the masked diagonal (`A^h_jj = 0`)
/// gives zero blocks.
pub fn build_table(
    pool: &rayon::ThreadPool,
    a_jih: &[f32],
    v_hba: &[f32],
    present: &[u32],
    heads: usize,
    first: usize,
    table: &mut [f32],
) {
    let l = present.len();
    let n = l * Q;
    let w = table.len() / n;
    let sites = w / Q;
    assert_eq!(table.len(), n * sites * Q);
    assert!(first + sites <= l, "block of sites past the end");
    assert_eq!(a_jih.len(), l * l * heads);
    assert_eq!(v_hba.len(), heads * QQ);
    pool.install(|| {
        table.par_chunks_mut(Q * w).enumerate().for_each_init(
            || vec![0.0f32; sites * QQ],
            |buffer, (j, rows)| {
                let states = states_of(present[j]);
                let width = states.len() * Q;
                let v = values_of(v_hba, heads, &states);
                let a = block_attention(a_jih, j, l, heads, first, sites);
                let mut block =
                    ArrayViewMut2::from_shape((sites, width), &mut buffer[..sites * width])
                        .expect("sites×|S|q block");
                // β = 0: the product overwrites the reused buffer.
                general_mat_mul(1.0, &a, &v, 0.0, &mut block);
                let block = block.into_slice().expect("contiguous");
                for i in 0..sites {
                    for (k, &b) in states.iter().enumerate() {
                        let r = b * w + i * Q;
                        rows[r..r + Q]
                            .copy_from_slice(&block[i * width + k * Q..i * width + (k + 1) * Q]);
                    }
                }
            },
        )
    });
}

/// `A^h_ij` for one position j and the block's sites i, `[i][h]`
/// (sites×H), read from the attention laid out `[j][i][h]`.
fn block_attention(
    a_jih: &[f32],
    j: usize,
    l: usize,
    heads: usize,
    first: usize,
    sites: usize,
) -> ArrayView2<'_, f32> {
    let start = (j * l + first) * heads;
    ArrayView2::from_shape((sites, heads), &a_jih[start..start + sites * heads])
        .expect("sites×H attention")
}

/// Positions per parallel task of [`table_grads`].
const GRAD_POSITIONS: usize = 4;

/// Gradients of the factored table's factors from the table's gradient in
/// a block of columns (the sites `first..first + w/q`, `d_table` n×w, as
/// [`build_table`] writes it): writes `dA[j][i][h] = Σ_{a,b} dW[(j,b),(i,a)]
/// V^h(a,b)` (0 on the diagonal) into `d_a` for the block's sites i (the
/// other entries are left as they are) and returns the block's share of
/// `dV[h][b][a] = Σ_{i,j} A^h_ij dW[(j,b),(i,a)]`, in the layouts of
/// [`build_table`]. Only the rows `(j,b)` with bit b of `present[j]` set are
/// read (the others have no gradient from the batch and hold whatever
/// [`super::pll::scatter_rows`] left there). Per position j those rows are
/// gathered into a block `B_j[i][(b,a)]` (sites×|S_j|q), then
/// `dA_j = B_j·V_jᵀ` and `dV += A_jᵀ·B_j`.
#[allow(clippy::too_many_arguments)]
pub fn table_grads(
    pool: &rayon::ThreadPool,
    d_table: &[f32],
    a_jih: &[f32],
    v_hba: &[f32],
    present: &[u32],
    heads: usize,
    first: usize,
    d_a: &mut [f32],
) -> Vec<f32> {
    let l = present.len();
    let n = l * Q;
    let w = d_table.len() / n;
    let sites = w / Q;
    assert_eq!(d_table.len(), n * sites * Q);
    assert!(first + sites <= l, "block of sites past the end");
    assert_eq!(d_a.len(), l * l * heads);
    let partials: Vec<Vec<f32>> = pool.install(|| {
        d_a.par_chunks_mut(GRAD_POSITIONS * l * heads)
            .enumerate()
            .map_init(
                || vec![0.0f32; sites * QQ],
                |buffer, (c, d_a_chunk)| {
                    let mut d_v = vec![0.0f32; heads * QQ];
                    for (p, d_a_ih) in d_a_chunk.chunks_exact_mut(l * heads).enumerate() {
                        let j = c * GRAD_POSITIONS + p;
                        let states = states_of(present[j]);
                        let width = states.len() * Q;
                        let rows = &d_table[j * Q * w..(j + 1) * Q * w];
                        for i in 0..sites {
                            let k0 = i * width;
                            if first + i == j {
                                // The diagonal block is not a parameter (A^h_jj = 0).
                                buffer[k0..k0 + width].fill(0.0);
                                continue;
                            }
                            for (k, &b) in states.iter().enumerate() {
                                buffer[k0 + k * Q..k0 + (k + 1) * Q]
                                    .copy_from_slice(&rows[b * w + i * Q..b * w + i * Q + Q]);
                            }
                        }
                        let block =
                            ArrayView2::from_shape((sites, width), &buffer[..sites * width])
                                .expect("sites×|S|q block");
                        let v = values_of(v_hba, heads, &states);
                        let a = block_attention(a_jih, j, l, heads, first, sites);
                        let mut d_a_j = ArrayViewMut2::from_shape(
                            (sites, heads),
                            &mut d_a_ih[first * heads..(first + sites) * heads],
                        )
                        .expect("sites×H");
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
    d_v
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

/// One pair's couplings from the factors: `out[(a,b)] = Σ_h a_h[h] ·
/// V^h(a,b)` (q×q, overwritten) for the attention weights `a_h` of the pair
/// over the heads (H) and the values `v_hab` laid out `[h][a][b]`
/// (H·q·q), summed over the heads in order with separate multiplications
/// and additions: the same float32 result on every instruction set, so
/// that the couplings written to `couplings.npy` and those contact
/// extraction reads pair by pair ([`crate::couplings`]) are the same
/// numbers.
pub fn pair_couplings(a_h: &[f32], v_hab: &[f32], out: &mut [f32]) {
    assert_eq!(v_hab.len(), a_h.len() * QQ);
    assert_eq!(out.len(), QQ);
    pair_couplings_kernel(a_h, v_hab, out);
}

dispatch!(pair_couplings_kernel(a_h: &[f32], v_hab: &[f32], out: &mut [f32]) -> () {
    out.fill(0.0);
    for (&a, v) in a_h.iter().zip(v_hab.chunks_exact(QQ)) {
        for (o, &x) in out.iter_mut().zip(v) {
            *o += a * x;
        }
    }
});

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
        build_table(&pool, &a_jih, &v_hba, &all, heads, 0, &mut table);
        let d_w = |r: usize, c: usize| ((r * 7 + c * 3) % 11) as f32 * 0.01;
        let d_table: Vec<f32> = (0..n * n).map(|k| d_w(k / n, k % n)).collect();
        let grads = |d_table: &[f32], present: &[u32]| {
            let mut d_a = vec![f32::NAN; l * l * heads];
            let d_v = table_grads(&pool, d_table, &a_jih, &v_hba, present, heads, 0, &mut d_a);
            (d_a, d_v)
        };
        let (d_a, d_v) = grads(&d_table, &all);
        // With some states absent, their rows are neither written nor read.
        let some = vec![
            (1 << 0) | (1 << 7) | (1 << 20),
            1 << 3,
            (1 << 20) | (1 << 5),
        ];
        let mut partial = vec![7.0f32; n * n];
        build_table(&pool, &a_jih, &v_hba, &some, heads, 0, &mut partial);
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
        let (d_a_some, d_v_some) = grads(&d_table, &some);
        let (d_a_zeroed, d_v_zeroed) = grads(&zeroed, &all);
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
    fn blocks_of_columns_equal_the_whole_table() {
        // L = 5 in blocks of 2 sites (the last of 1): each block's rows are
        // the whole table's columns of its sites, dA is the same and the
        // blocks' shares of dV add up to the whole table's.
        let (l, heads) = (5, 3);
        let n = l * Q;
        let a_jih: Vec<f32> = (0..l * l * heads)
            .map(|k| ((k * 13 % 29) as f32) * 0.03)
            .collect();
        let v_hba: Vec<f32> = (0..heads * QQ)
            .map(|k| ((k * 7 % 31) as f32 - 15.0) * 0.05)
            .collect();
        let present: Vec<u32> = (0..l).map(|j| 0x1F_FFFF >> (j * 3)).collect();
        let pool = pool();
        let mut whole = vec![0.0f32; n * n];
        build_table(&pool, &a_jih, &v_hba, &present, heads, 0, &mut whole);
        let d_whole: Vec<f32> = (0..n * n)
            .map(|k| ((k * 11 % 37) as f32 - 18.0) * 0.01)
            .collect();
        let mut d_a_whole = vec![0.0f32; l * l * heads];
        let d_v_whole = table_grads(
            &pool,
            &d_whole,
            &a_jih,
            &v_hba,
            &present,
            heads,
            0,
            &mut d_a_whole,
        );
        let mut d_a_blocks = vec![f32::NAN; l * l * heads];
        let mut d_v_blocks = vec![0.0f32; heads * QQ];
        for first in (0..l).step_by(2) {
            let sites = 2.min(l - first);
            let w = sites * Q;
            let mut block = vec![0.0f32; n * w];
            build_table(&pool, &a_jih, &v_hba, &present, heads, first, &mut block);
            let mut d_block = vec![0.0f32; n * w];
            for r in 0..n {
                let (j, b) = (r / Q, r % Q);
                if present[j] & (1 << b) == 0 {
                    continue;
                }
                let cols = first * Q..first * Q + w;
                assert_eq!(
                    block[r * w..(r + 1) * w],
                    whole[r * n..(r + 1) * n][cols.clone()]
                );
                d_block[r * w..(r + 1) * w].copy_from_slice(&d_whole[r * n..(r + 1) * n][cols]);
            }
            let d_v = table_grads(
                &pool,
                &d_block,
                &a_jih,
                &v_hba,
                &present,
                heads,
                first,
                &mut d_a_blocks,
            );
            add(&mut d_v_blocks, &d_v);
        }
        assert_eq!(d_a_blocks, d_a_whole);
        for (x, y) in d_v_blocks.iter().zip(&d_v_whole) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
