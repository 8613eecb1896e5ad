//! From couplings to contact scores (SPEC §1, the same for both models):
//! symmetrise, zero-sum gauge, Frobenius norm over the 20 amino-acid states,
//! average product correction (APC); and the couplings themselves as
//! `couplings.npy` ([`write_couplings_npy`]).
//!
//! Neither needs the `L×L×q×q` coupling array (at L = 1500, 4 GB; at
//! L = 3000, 16 GB): the Potts model's couplings are read in place from its
//! table, factored attention's computed pair by pair, or row by row, from
//! its attention and values ([`crate::model::factored::HostFactors`]).
use std::io::Write;

use anyhow::{Context, Result};
use ndarray::{Array2, Array4, ArrayView2, ArrayView4, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::Q;
use crate::model::Model;
use crate::model::factored::HostFactors;

/// `J_ij(a,b) ← ½(J_ij(a,b) + J_ji(b,a))` for an L×L×q×q coupling array.
pub fn symmetrise(j: ArrayView4<f32>) -> Array4<f64> {
    let (l, _, q, _) = j.dim();
    Array4::from_shape_fn((l, l, q, q), |(i, k, a, b)| {
        0.5 * (j[[i, k, a, b]] as f64 + j[[k, i, b, a]] as f64)
    })
}

/// Zero-sum gauge of every pair block, over all q states:
/// `J(a,b) − mean_a J(·,b) − mean_b J(a,·) + mean_ab J`.
pub fn zero_sum_gauge(mut j: Array4<f64>) -> Array4<f64> {
    let (l, _, _, _) = j.dim();
    for i in 0..l {
        for k in 0..l {
            gauge_block(j.slice_mut(ndarray::s![i, k, .., ..]));
        }
    }
    j
}

/// The zero-sum gauge of one q×q pair block, in place.
fn gauge_block(mut block: ArrayViewMut2<f64>) {
    let q = block.nrows();
    let row_means = block.mean_axis(Axis(1)).expect("q > 0");
    let col_means = block.mean_axis(Axis(0)).expect("q > 0");
    let mean = row_means.mean().expect("q > 0");
    for a in 0..q {
        for b in 0..q {
            block[[a, b]] += mean - row_means[a] - col_means[b];
        }
    }
}

/// Frobenius norm of each pair block over the 20 amino-acid states (the gap,
/// state 20, is left out); the diagonal is 0.
pub fn frobenius(j: &Array4<f64>) -> Array2<f64> {
    let (l, _, _, _) = j.dim();
    Array2::from_shape_fn((l, l), |(i, k)| {
        if i == k {
            return 0.0;
        }
        frobenius_block(j.slice(ndarray::s![i, k, .., ..]))
    })
}

/// Frobenius norm of one q×q pair block over the 20 amino-acid states.
fn frobenius_block(block: ArrayView2<f64>) -> f64 {
    let aa = Q - 1;
    let mut s = 0.0;
    for a in 0..aa {
        for b in 0..aa {
            s += block[[a, b]].powi(2);
        }
    }
    s.sqrt()
}

/// Average product correction `S_ij = F_ij − F_i· F_·j / F_··`, with the
/// means taken over j ≠ i (and over all i ≠ j for `F_··`); diagonal 0.
pub fn apc(f: &Array2<f64>) -> Array2<f64> {
    let l = f.nrows();
    if l < 2 {
        return Array2::zeros((l, l));
    }
    let off = |i: usize, k: usize| if i == k { 0.0 } else { f[[i, k]] };
    let row: Vec<f64> = (0..l)
        .map(|i| (0..l).map(|k| off(i, k)).sum::<f64>() / (l - 1) as f64)
        .collect();
    let col: Vec<f64> = (0..l)
        .map(|k| (0..l).map(|i| off(i, k)).sum::<f64>() / (l - 1) as f64)
        .collect();
    let all = row.iter().sum::<f64>() / l as f64;
    Array2::from_shape_fn((l, l), |(i, k)| {
        if i == k || all == 0.0 {
            0.0
        } else {
            f[[i, k]] - row[i] * col[k] / all
        }
    })
}

/// Contact scores of a coupling array (L×L×q×q, asymmetric as trained):
/// symmetrise → gauge → Frobenius (20 states) → APC. The first three steps
/// are done pair by pair (the same arithmetic as [`symmetrise`],
/// [`zero_sum_gauge`] and [`frobenius`]), so that no second L×L×q×q array
/// is made: for long proteins that array, in f64, would be twice the size of
/// the couplings and set the peak memory of a run.
pub fn contact_scores(j: ArrayView4<f32>) -> Array2<f64> {
    let (l, _, q, _) = j.dim();
    gauged_block_scores(l, q, |block, i, k| {
        for a in 0..q {
            for b in 0..q {
                block[[a, b]] = 0.5 * (j[[i, k, a, b]] as f64 + j[[k, i, b, a]] as f64);
            }
        }
    })
}

/// APC of the Frobenius norms (20 states) of the zero-sum-gauged q×q
/// blocks that `fill(block, i, k)` writes for the pairs i < k.
fn gauged_block_scores(
    l: usize,
    q: usize,
    fill: impl Fn(&mut Array2<f64>, usize, usize) + Sync + Send,
) -> Array2<f64> {
    apc_of_pair_scores(
        l,
        || Array2::<f64>::zeros((q, q)),
        |block, i, k| {
            fill(block, i, k);
            gauge_block(block.view_mut());
            frobenius_block(block.view())
        },
    )
}

/// APC of the symmetric L×L matrix of `score(buffer, i, k)` for the pairs
/// i < k: rows in parallel on rayon's pool, each task with a `buffer` of
/// its own made by `init` (the pair-by-pair scores of every model share it).
fn apc_of_pair_scores<S>(
    l: usize,
    init: impl Fn() -> S + Sync + Send,
    score: impl Fn(&mut S, usize, usize) -> f64 + Sync + Send,
) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = (0..l)
        .into_par_iter()
        .map_init(&init, |buffer, i| {
            (i + 1..l).map(|k| score(buffer, i, k)).collect()
        })
        .collect();
    apc(&upper_rows_to_matrix(l, &rows))
}

/// The symmetric L×L matrix of the rows `i` of its upper triangle
/// (`rows[i][k − i − 1]` = entry `(i,k)`, k > i), diagonal 0.
fn upper_rows_to_matrix(l: usize, rows: &[Vec<f64>]) -> Array2<f64> {
    let mut f = Array2::<f64>::zeros((l, l));
    for (i, row) in rows.iter().enumerate() {
        for (k, &norm) in (i + 1..l).zip(row) {
            f[[i, k]] = norm;
            f[[k, i]] = norm;
        }
    }
    f
}

/// One pair's symmetrised, gauged q×q block from `J_ik(a,b)` and
/// `J_ki(a',b')` (both `[a][b]`), into `block`: the arithmetic of
/// [`contact_scores`].
fn symmetric_block(j_ik: &[f32], j_ki: &[f32], block: &mut Array2<f64>) {
    for a in 0..Q {
        for b in 0..Q {
            block[[a, b]] = 0.5 * (j_ik[a * Q + b] as f64 + j_ki[b * Q + a] as f64);
        }
    }
    gauge_block(block.view_mut());
}

/// Contact scores of factored attention from its factors, pair by pair
/// (the couplings `J_ik` and `J_ki` of each pair computed from the
/// attention and the values, [`HostFactors::pair`]), rows in parallel on
/// rayon's pool: the same numbers as [`contact_scores`] of the whole
/// array ([`Model::couplings`]) without making it.
pub fn factored_contact_scores(factors: &HostFactors) -> Array2<f64> {
    apc_of_pair_scores(
        factors.length(),
        || {
            (
                vec![0.0f32; Q * Q],
                vec![0.0f32; Q * Q],
                Array2::zeros((Q, Q)),
            )
        },
        |(j_ik, j_ki, block), i, k| {
            factors.pair(i, k, j_ik);
            factors.pair(k, i, j_ki);
            symmetric_block(j_ik, j_ki, block);
            frobenius_block(block.view())
        },
    )
}

/// The contact scores of [`factored_contact_scores`] up to rounding, from
/// the heads' Gram matrices instead of each pair's couplings: gauge and
/// the restriction to the 20 amino-acid states are linear, so the
/// symmetrised, gauged block of a pair is `½ Σ_h (α_h W_h + β_h W_hᵀ)`
/// with `W_h` the gauged values of head h (20×20), `α_h = A^h_ik`,
/// `β_h = A^h_ki`, and its squared norm is
/// `¼ (αᵀ M α + 2 αᵀ N β + βᵀ M β)` with `M_hg = ⟨W_h, W_g⟩` and
/// `N_hg = ⟨W_h, W_gᵀ⟩`: `3H²` operations per pair instead of `2H·q²`.
/// What the stopping rule reads at each check ([`check_scores`]); the
/// files keep the pair-by-pair numbers.
pub fn factored_contact_scores_from_gram(factors: &HostFactors) -> Array2<f64> {
    let (l, heads) = (factors.length(), factors.heads());
    let aa = Q - 1;
    let gauged: Vec<Array2<f64>> = factors
        .values()
        .chunks_exact(Q * Q)
        .map(|v| {
            let mut block = Array2::from_shape_fn((Q, Q), |(a, b)| f64::from(v[a * Q + b]));
            gauge_block(block.view_mut());
            block.slice(ndarray::s![..aa, ..aa]).to_owned()
        })
        .collect();
    let m = Array2::from_shape_fn((heads, heads), |(h, g)| (&gauged[h] * &gauged[g]).sum());
    let n = Array2::from_shape_fn((heads, heads), |(h, g)| (&gauged[h] * &gauged[g].t()).sum());
    // αᵀMα + 2αᵀNβ + βᵀMβ = Σ_h α_h (Mα + 2Nβ)_h + Σ_h β_h (Mβ)_h, in
    // buffers reused along a row (no allocation per pair).
    apc_of_pair_scores(
        l,
        || (vec![0.0f64; heads], vec![0.0f64; heads]),
        |(alpha, beta), i, k| {
            for (x, &a) in alpha.iter_mut().zip(factors.attention(i, k)) {
                *x = f64::from(a);
            }
            for (x, &b) in beta.iter_mut().zip(factors.attention(k, i)) {
                *x = f64::from(b);
            }
            let mut norm2 = 0.0;
            for h in 0..heads {
                let (mut ma, mut nb, mut mb) = (0.0, 0.0, 0.0);
                for g in 0..heads {
                    ma += m[[h, g]] * alpha[g];
                    nb += n[[h, g]] * beta[g];
                    mb += m[[h, g]] * beta[g];
                }
                norm2 += alpha[h] * (ma + 2.0 * nb) + beta[h] * mb;
            }
            (0.25 * norm2).max(0.0).sqrt()
        },
    )
}

/// The contact scores the stopping rule reads at each check
/// ([`crate::model::train_until_converged`]): [`model_contact_scores`]
/// for the Potts model, [`factored_contact_scores_from_gram`] (the same
/// up to rounding, several times faster) for factored attention.
///
/// The Potts model's table is read above its diagonal only: during
/// training the blocks below are stale (the optimiser updates the upper
/// ones, `model::kernels::adam::symmetric_update`). For a symmetric table
/// the scores are [`contact_scores`]'s to the bit (`½(x + x) = x`).
pub fn check_scores(model: &Model) -> Array2<f64> {
    match model {
        Model::Factored(m) => factored_contact_scores_from_gram(&m.host_factors()),
        Model::Potts(_) => model.with_couplings(upper_contact_scores),
    }
}

/// [`contact_scores`] of a symmetric coupling array read from the blocks
/// `J_ki`, k > i, only (the Potts table's blocks above its diagonal).
fn upper_contact_scores(j: ArrayView4<f32>) -> Array2<f64> {
    let (l, _, q, _) = j.dim();
    gauged_block_scores(l, q, |block, i, k| {
        for a in 0..q {
            for b in 0..q {
                block[[a, b]] = j[[k, i, b, a]] as f64;
            }
        }
    })
}

/// Contact scores of a trained model: [`factored_contact_scores`] for
/// factored attention, [`contact_scores`] of the Potts model's couplings
/// read in place ([`Model::with_couplings`]).
pub fn model_contact_scores(model: &Model) -> Array2<f64> {
    match model {
        Model::Factored(m) => factored_contact_scores(&m.host_factors()),
        Model::Potts(_) => model.with_couplings(contact_scores),
    }
}

/// Bytes of `couplings.npy` for length `l`: the header (128 bytes) and
/// `L²q²` float32 values.
pub fn couplings_npy_bytes(l: usize) -> u64 {
    128 + (l as u64).pow(2) * (Q * Q) as u64 * 4
}

/// Writes the couplings `J[i][j][a][b]` (float32 L×L×q×q, asymmetric as
/// trained) as a `.npy` file (format 1.0, little-endian, C order) one row
/// i at a time: no `L×L×q×q` array is made.
pub fn write_couplings_npy(model: &Model, out: &mut dyn Write) -> Result<()> {
    let l = model.length();
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({l}, {l}, {Q}, {Q})}}");
    // magic (6) + version (2) + header length (2) + dict, padded with spaces
    // and a newline to 128 bytes (more for absurd L; a multiple of 64).
    let total = (10 + dict.len() + 1).div_ceil(64).max(2) * 64;
    let mut header = Vec::with_capacity(total);
    header.extend_from_slice(b"\x93NUMPY\x01\x00");
    header.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header.resize(total - 1, b' ');
    header.push(b'\n');
    out.write_all(&header)?;
    let mut row = vec![0.0f32; l * Q * Q];
    let mut bytes = Vec::with_capacity(row.len() * 4);
    let mut write_row = |row: &[f32]| -> Result<()> {
        bytes.clear();
        for x in row {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        out.write_all(&bytes)
            .context("writing the couplings as .npy")
    };
    match model {
        Model::Factored(m) => {
            let factors = m.host_factors();
            for i in 0..l {
                factors.row(i, &mut row);
                write_row(&row)?;
            }
            Ok(())
        }
        Model::Potts(_) => model.with_couplings(|j| {
            for i in 0..l {
                for (x, &v) in row
                    .iter_mut()
                    .zip(j.slice(ndarray::s![i, .., .., ..]).iter())
                {
                    *x = v;
                }
                write_row(&row)?;
            }
            Ok(())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_of_a_hand_example() {
        // One pair block with q = 21 where only J(0,0) = 21: means are
        // row 0: 1, column 0: 1, overall 21/441 = 1/21.
        let mut j = Array4::<f64>::zeros((2, 2, Q, Q));
        j[[0, 1, 0, 0]] = 21.0;
        let g = zero_sum_gauge(j);
        let m = 1.0 / 21.0;
        assert!((g[[0, 1, 0, 0]] - (21.0 - 1.0 - 1.0 + m)).abs() < 1e-12);
        assert!((g[[0, 1, 0, 5]] - (0.0 - 1.0 - 0.0 + m)).abs() < 1e-12);
        assert!((g[[0, 1, 3, 5]] - m).abs() < 1e-12);
        // every row and column of the block sums to zero
        for a in 0..Q {
            let r: f64 = (0..Q).map(|b| g[[0, 1, a, b]]).sum();
            let c: f64 = (0..Q).map(|b| g[[0, 1, b, a]]).sum();
            assert!(r.abs() < 1e-9 && c.abs() < 1e-9);
        }
    }

    #[test]
    fn symmetrise_averages_transposed_blocks() {
        let mut j = Array4::<f32>::zeros((2, 2, Q, Q));
        j[[0, 1, 2, 3]] = 4.0;
        j[[1, 0, 3, 2]] = 2.0;
        let s = symmetrise(j.view());
        assert_eq!(s[[0, 1, 2, 3]], 3.0);
        assert_eq!(s[[1, 0, 3, 2]], 3.0);
        assert_eq!(s[[0, 1, 3, 2]], 0.0);
    }

    #[test]
    fn frobenius_leaves_out_the_gap_state() {
        let mut j = Array4::<f64>::zeros((2, 2, Q, Q));
        j[[0, 1, 0, 0]] = 3.0;
        j[[0, 1, 0, 1]] = 4.0;
        j[[0, 1, 20, 0]] = 100.0; // gap row: ignored
        j[[0, 1, 5, 20]] = 100.0; // gap column: ignored
        j[[0, 0, 1, 1]] = 7.0; // diagonal: ignored
        let f = frobenius(&j);
        assert_eq!(f[[0, 1]], 5.0);
        assert_eq!(f[[1, 0]], 0.0);
        assert_eq!(f[[0, 0]], 0.0);
    }

    #[test]
    fn apc_of_a_hand_example() {
        // F (symmetric, L = 3): F01 = 1, F02 = 2, F12 = 3.
        // row means over j≠i: r0 = 1.5, r1 = 2, r2 = 2.5; overall = 2.
        let f = ndarray::arr2(&[[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]]);
        let s = apc(&f);
        assert!((s[[0, 1]] - (1.0 - 1.5 * 2.0 / 2.0)).abs() < 1e-12);
        assert!((s[[0, 2]] - (2.0 - 1.5 * 2.5 / 2.0)).abs() < 1e-12);
        assert!((s[[1, 2]] - (3.0 - 2.0 * 2.5 / 2.0)).abs() < 1e-12);
        assert_eq!(s[[1, 1]], 0.0);
    }

    #[test]
    fn pairwise_scores_equal_the_composed_steps() {
        let l = 5;
        let j = Array4::<f32>::from_shape_fn((l, l, Q, Q), |(i, k, a, b)| {
            if i == k {
                0.0
            } else {
                ((i * 7 + k * 13 + a * 3 + b * 5) % 17) as f32 * 0.1 - 0.8
            }
        });
        let composed = apc(&frobenius(&zero_sum_gauge(symmetrise(j.view()))));
        let pairwise = contact_scores(j.view());
        for (x, y) in composed.iter().zip(pairwise.iter()) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }

    #[test]
    fn scores_are_gauge_invariant() {
        // Adding J_ij(a,b) += u(a) + v(b) (a gauge change) leaves the scores unchanged.
        let l = 4;
        let mut j = Array4::<f32>::from_shape_fn((l, l, Q, Q), |(i, k, a, b)| {
            if i == k {
                0.0
            } else {
                ((i * 7 + k * 3 + a * 5 + b * 11) % 13) as f32 / 13.0
            }
        });
        let before = contact_scores(j.view());
        for i in 0..l {
            for k in 0..l {
                for a in 0..Q {
                    for b in 0..Q {
                        if i != k {
                            j[[i, k, a, b]] += 0.1 * a as f32 - 0.05 * b as f32;
                        }
                    }
                }
            }
        }
        let after = contact_scores(j.view());
        for (x, y) in before.iter().zip(after.iter()) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }

    /// The Gram route gives the pair-by-pair scores of a factored model
    /// (made-up queries, keys and signed values) up to rounding.
    /// On a symmetric array the scores read from the upper blocks are the
    /// whole array's, to the bit; the lower blocks are not read.
    #[test]
    fn upper_scores_of_a_symmetric_array_are_the_scores() {
        let (l, q) = (5, Q);
        let mut j = ndarray::Array4::<f32>::zeros((l, l, q, q));
        for i in 0..l {
            for k in i + 1..l {
                for a in 0..q {
                    for b in 0..q {
                        let x = ((i * 31 + k * 17 + a * 7 + b * 3) % 23) as f32 * 0.1 - 1.1;
                        j[[i, k, a, b]] = x;
                        j[[k, i, b, a]] = x;
                    }
                }
            }
        }
        let want = contact_scores(j.view());
        let mut stale = j.clone();
        for i in 0..l {
            for k in i + 1..l {
                stale[[i, k, 0, 0]] = 99.0;
            }
        }
        assert_eq!(upper_contact_scores(stale.view()), want);
    }

    #[test]
    fn gram_scores_equal_the_pair_by_pair_scores() {
        let (l, h, d) = (9usize, 3usize, 4usize);
        let fields = tch::Tensor::zeros([l as i64, Q as i64], (tch::Kind::Float, tch::Device::Cpu));
        let mut model = crate::model::factored::FactoredAttention::new(l, h, d, fields);
        // Deterministic factors, signed values.
        let wave = |n: usize, f: f64| -> Vec<f32> {
            (0..n)
                .map(|k| ((k as f64 * f).sin() * 1.5) as f32)
                .collect()
        };
        model.query =
            tch::Tensor::from_slice(&wave(h * l * d, 0.37)).reshape([h as i64, l as i64, d as i64]);
        model.key =
            tch::Tensor::from_slice(&wave(h * l * d, 0.71)).reshape([h as i64, l as i64, d as i64]);
        model.value =
            tch::Tensor::from_slice(&wave(h * Q * Q, 1.13)).reshape([h as i64, Q as i64, Q as i64]);
        let factors = model.host_factors();
        let exact = factored_contact_scores(&factors);
        let gram = factored_contact_scores_from_gram(&factors);
        let scale = exact.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 1e-3);
        for (x, y) in exact.iter().zip(gram.iter()) {
            assert!((x - y).abs() <= 1e-5 * scale, "{x} vs {y}");
        }
    }
}
