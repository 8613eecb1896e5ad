//! The factored coupling table from its factors on the CPU: the table's rows
//! a batch reads ([`build_table`]), the factors' gradients from the table's
//! ([`table_grads`]) and the coupling penalty computed from the factors
//! without the table ([`coupling_penalty`]).
use std::borrow::Cow;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::tiles::{self, STATE_LANES, pad_heads, padded_heads};
use super::{QQ, states_of};
use crate::Q;

/// The factored table's factors in the layouts its kernels read, made
/// once per step and shared by every block of columns: the attention
/// `a_jih` (`[j][i][h]`, L·L·H) and the values `v_hba` (`[h][b][a]`,
/// H·q·q) as given, the values as [`build_table`] reads them (`[b][h][a]`,
/// the states padded to [`STATE_LANES`]) and as [`table_grads`] reads
/// them (`[b][a][h]`), and the attention with the heads padded to a
/// multiple of [`tiles::HEAD_LANES`] (borrowed when H is one).
pub struct TableFactors<'a> {
    /// The attention, `[j][i][h]`.
    pub a_jih: &'a [f32],
    /// The values, `[h][b][a]`.
    pub v_hba: Vec<f32>,
    /// The number of heads H.
    pub heads: usize,
    /// The heads padded: H rounded up to a multiple of 32.
    hp: usize,
    /// The attention with hp heads.
    a_lanes: Cow<'a, [f32]>,
    /// The values `[b][h][a]`, the states padded.
    v_bha: Vec<f32>,
    /// The values `[b][a][h]`, hp heads.
    v_bah: Vec<f32>,
}

impl<'a> TableFactors<'a> {
    /// The layouts of the attention `a_jih` (`[j][i][h]`) and the values
    /// `v_hba` (`[h][b][a]`) of `heads` heads.
    pub fn new(a_jih: &'a [f32], v_hba: Vec<f32>, heads: usize) -> TableFactors<'a> {
        assert_eq!(v_hba.len(), heads * QQ);
        let hp = padded_heads(heads);
        let a_lanes = if hp == heads {
            Cow::Borrowed(a_jih)
        } else {
            Cow::Owned(pad_heads(a_jih, heads, hp))
        };
        let mut v_bha = vec![0.0f32; Q * heads * STATE_LANES];
        let mut v_bah = vec![0.0f32; QQ * hp];
        for h in 0..heads {
            for b in 0..Q {
                let row = &v_hba[h * QQ + b * Q..h * QQ + (b + 1) * Q];
                v_bha[(b * heads + h) * STATE_LANES..][..Q].copy_from_slice(row);
                for (a, &x) in row.iter().enumerate() {
                    v_bah[(b * Q + a) * hp + h] = x;
                }
            }
        }
        TableFactors {
            a_jih,
            v_hba,
            heads,
            hp,
            a_lanes,
            v_bha,
            v_bah,
        }
    }
}

/// A block of columns of the factored coupling table
/// `W[(j,b),(i,a)] = Σ_h A^h_ij V^h(a,b)`, relative to the reference
/// states as [`super::pll::pll_rows`] reads it: the columns of the sites
/// `i ∈ [first, first + w/q)` into `table` (n×w, n = L·q rows, w columns;
/// see [`super::pll`]), the row `(j, r_j)` of the reference state as it is
/// and the rows `(j,b)` of the other states b marked in `present[j]` (the
/// states the batch holds at j) as `W[(j,b)] − W[(j,r_j)]`, computed as
/// `Σ_h A^h_ij (V^h(a,b) − V^h(a,r_j))`: no other row is read by
/// [`super::pll::pll_rows`], and in a batch of a family's sequences only
/// part of the 21 states occur at a position. Other rows are left as they
/// were. Per position the rows are written tile by tile
/// ([`tiles::position_rows`]); the masked diagonal (`A^h_jj = 0`) gives
/// zero blocks.
pub fn build_table(
    pool: &rayon::ThreadPool,
    factors: &TableFactors,
    present: &[u32],
    reference: &[u8],
    first: usize,
    table: &mut [f32],
) {
    let l = present.len();
    let n = l * Q;
    let w = table.len() / n;
    let sites = w / Q;
    let heads = factors.heads;
    assert_eq!(table.len(), n * sites * Q);
    assert!(first + sites <= l, "block of sites past the end");
    assert_eq!(factors.a_jih.len(), l * l * heads);
    assert_eq!(reference.len(), l);
    pool.install(|| {
        table
            .par_chunks_mut(Q * w)
            .enumerate()
            .for_each_init(Vec::new, |values, (j, rows)| {
                let states = states_of(present[j] | 1 << reference[j]);
                let r = usize::from(reference[j]);
                relative_values(&factors.v_bha, heads, &states, r, values);
                let start = (j * l + first) * heads;
                let a_ih = &factors.a_jih[start..start + sites * heads];
                tiles::position_rows(a_ih, values, &states, heads, rows);
            })
    });
}

// The values of `states` laid out `[k][h][a]` with the states padded to
// `STATE_LANES` lanes, relative to the reference state r: `V^h(·,r)` for r
// itself, `V^h(·,b) − V^h(·,r)` for the others (into `out`, resized), from
// all the states' values in that layout (`v_bha`).
dispatch!(relative_values(v_bha: &[f32], heads: usize, states: &[usize], r: usize, out: &mut Vec<f32>) -> () {
    let per_state = heads * STATE_LANES;
    out.clear();
    out.resize(states.len() * per_state, 0.0);
    let own = &v_bha[r * per_state..(r + 1) * per_state];
    for (dst, &b) in out.chunks_exact_mut(per_state).zip(states) {
        if b == r {
            dst.copy_from_slice(own);
        } else {
            let other = &v_bha[b * per_state..(b + 1) * per_state];
            for ((d, &x), &y) in dst.iter_mut().zip(other).zip(own) {
                *d = x - y;
            }
        }
    }
});

/// Gradients of the factored table's factors from the table's gradient in
/// a block of columns (the sites `first..first + w/q`, `d_table` n×w, as
/// [`build_table`] writes it): writes `dA[j][i][h] = Σ_{a,b} dW[(j,b),(i,a)]
/// V^h(a,b)` (0 on the diagonal) into `d_a` for the block's sites i (the
/// other entries are left as they are) and returns the block's share of
/// `dV[h][b][a] = Σ_{i,j} A^h_ij dW[(j,b),(i,a)]`, in the layouts of
/// [`build_table`]. Only the rows `(j,b)` with bit b of `present[j]` set are
/// read (the others have no gradient from the batch and hold whatever
/// [`super::pll::scatter_rows`] left there). `dA` position by position
/// ([`tiles::position_attention_gradient`]), `dV` state by state
/// ([`tiles::state_value_gradient`]), both read from the rows where they
/// lie.
pub fn table_grads(
    pool: &rayon::ThreadPool,
    d_table: &[f32],
    factors: &TableFactors,
    present: &[u32],
    first: usize,
    d_a: &mut [f32],
) -> Vec<f32> {
    let l = present.len();
    let n = l * Q;
    let w = d_table.len() / n;
    let sites = w / Q;
    let (heads, hp) = (factors.heads, factors.hp);
    assert_eq!(d_table.len(), n * sites * Q);
    assert!(first + sites <= l, "block of sites past the end");
    assert_eq!(d_a.len(), l * l * heads);
    let v_bah = &factors.v_bah;
    pool.install(|| {
        d_a.par_chunks_mut(l * heads)
            .enumerate()
            .for_each(|(j, d_a_ih)| {
                let out = &mut d_a_ih[first * heads..(first + sites) * heads];
                let rows = &d_table[j * Q * w..(j + 1) * Q * w];
                let states = states_of(present[j]);
                tiles::position_attention_gradient(rows, v_bah, &states, heads, out);
                if (first..first + sites).contains(&j) {
                    // The diagonal is not a parameter (A^h_jj = 0).
                    out[(j - first) * heads..(j - first + 1) * heads].fill(0.0);
                }
            })
    });
    let input = tiles::ValueGradientInput {
        table: d_table,
        attention: &factors.a_lanes,
        hp,
        present,
        first,
    };
    let per_state: Vec<Vec<f32>> = pool.install(|| {
        (0..Q)
            .into_par_iter()
            .map(|b| {
                let mut out = vec![0.0f32; Q * hp];
                tiles::state_value_gradient(&input, b, &mut out);
                out
            })
            .collect()
    });
    let mut d_v = vec![0.0f32; heads * QQ];
    for (b, out) in per_state.iter().enumerate() {
        for a in 0..Q {
            for h in 0..heads {
                d_v[h * QQ + b * Q + a] = out[a * hp + h];
            }
        }
    }
    d_v
}

/// Attention rows `(j,i)` per parallel task of [`coupling_penalty`], times L.
const PENALTY_ROWS: usize = 16;

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
    let block = PENALTY_ROWS * rows.isqrt().max(1);
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
    use crate::model::kernels::add;
    use crate::model::kernels::tests::pool;

    /// The rows of `table` (n×w) marked in `present` made absolute again:
    /// `W[(j,b)] = rel[(j,b)] + W[(j,r_j)]` for b ≠ r_j.
    fn absolute(table: &[f32], reference: &[u8], present: &[u32]) -> Vec<f32> {
        let w = table.len() / (reference.len() * Q);
        let mut out = table.to_vec();
        for (j, (&r, &mask)) in reference.iter().zip(present).enumerate() {
            let r = usize::from(r);
            for b in (0..Q).filter(|&b| b != r && mask & (1 << b) != 0) {
                for c in 0..w {
                    out[(j * Q + b) * w + c] += table[(j * Q + r) * w + c];
                }
            }
        }
        out
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
        // The reference states of the rows written relative to them.
        let reference = [7u8, 3, 5];
        let factors = TableFactors::new(&a_jih, v_hba.clone(), heads);
        build_table(&pool, &factors, &all, &reference, 0, &mut table);
        let absolute_table = absolute(&table, &reference, &all);
        let d_w = |r: usize, c: usize| ((r * 7 + c * 3) % 11) as f32 * 0.01;
        let d_table: Vec<f32> = (0..n * n).map(|k| d_w(k / n, k % n)).collect();
        let grads = |d_table: &[f32], present: &[u32]| {
            let mut d_a = vec![f32::NAN; l * l * heads];
            let d_v = table_grads(&pool, d_table, &factors, present, 0, &mut d_a);
            (d_a, d_v)
        };
        let (d_a, d_v) = grads(&d_table, &all);
        // With some states absent, their rows are neither written nor read
        // (the reference states are among the present ones).
        let some = vec![
            (1 << 0) | (1 << 7) | (1 << 20),
            1 << 3,
            (1 << 20) | (1 << 5),
        ];
        let mut partial = vec![7.0f32; n * n];
        build_table(&pool, &factors, &some, &reference, 0, &mut partial);
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
                    let got = absolute_table[(j * Q + bb) * n + i * Q + aa];
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
        let reference: Vec<u8> = (0..l).map(|j| (j % 2) as u8).collect();
        let pool = pool();
        let mut whole = vec![0.0f32; n * n];
        let factors = TableFactors::new(&a_jih, v_hba, heads);
        build_table(&pool, &factors, &present, &reference, 0, &mut whole);
        let d_whole: Vec<f32> = (0..n * n)
            .map(|k| ((k * 11 % 37) as f32 - 18.0) * 0.01)
            .collect();
        let mut d_a_whole = vec![0.0f32; l * l * heads];
        let d_v_whole = table_grads(&pool, &d_whole, &factors, &present, 0, &mut d_a_whole);
        let mut d_a_blocks = vec![f32::NAN; l * l * heads];
        let mut d_v_blocks = vec![0.0f32; heads * QQ];
        for first in (0..l).step_by(2) {
            let sites = 2.min(l - first);
            let w = sites * Q;
            let mut block = vec![0.0f32; n * w];
            build_table(&pool, &factors, &present, &reference, first, &mut block);
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
            let d_v = table_grads(&pool, &d_block, &factors, &present, first, &mut d_a_blocks);
            add(&mut d_v_blocks, &d_v);
        }
        assert_eq!(d_a_blocks, d_a_whole);
        for (x, y) in d_v_blocks.iter().zip(&d_v_whole) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
