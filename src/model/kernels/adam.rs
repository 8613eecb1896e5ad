//! Adam's update on float32 memory (the optimiser is `model::adam`): the
//! whole of a parameter ([`plain_update`]) or, for a symmetric table with
//! zero diagonal blocks (the Potts model's), the blocks above the diagonal
//! (those below are left stale until `kernels::potts::mirror_upper`), its
//! gradient projected onto such tables in the same pass
//! ([`symmetric_update`]). Each checks the gradient for infinities and
//! NaNs in the same pass. Compiled for the CPU's best
//! instruction set (the arithmetic is the same, without fused
//! multiply-adds, so the results are identical on every level).
use rayon::prelude::*;

use super::SharedFloats;
use crate::Q;

/// The constants of one Adam step.
pub struct AdamStep {
    /// β1.
    pub beta1: f32,
    /// β2.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// `−lr / (1 − β1^t)`.
    pub step: f32,
    /// `1 / √(1 − β2^t)`.
    pub inv_bc2_sqrt: f32,
}

/// The exponent bits of a float32: all set for an infinity or a NaN.
const EXPONENT: u32 = 0x7f80_0000;

/// Values per parallel task of [`plain_update`].
const CHUNK: usize = 1 << 14;

dispatch!(update_run(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) -> bool {
    let mut bad = false;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        bad |= g.to_bits() & EXPONENT == EXPONENT;
        *m += (1.0 - s.beta1) * (g - *m);
        *v += (1.0 - s.beta2) * (g * g - *v);
        *p += *m * s.step / (v.sqrt() * s.inv_bc2_sqrt + s.eps);
    }
    bad
});

/// Updates `p` and the moments `m`, `v` with the gradient `g` (equal
/// lengths), in chunks on rayon's pool; true when `g` holds an infinity
/// or a NaN (the update is then done anyway: the caller restores).
pub fn plain_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) -> bool {
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .map(|(((p, g), m), v)| update_run(p, g, m, v, s))
        .reduce(|| false, |a, b| a | b)
}

/// The gradient of a symmetric table's rows as a training step leaves it
/// (the Potts model's on the CPU kernels, `model::kernels::pll`), which
/// [`symmetric_update`] projects.
pub struct TableGradient<'a> {
    /// `dW`, n×n: the gradient with respect to each entry of the table as
    /// if the entries were independent.
    pub raw: &'a [f32],
    /// Per site j, bit b set for the rows `(j,b)` that hold a gradient;
    /// the others are read as zero (the batch holds no state b at j).
    pub rows: &'a [u32],
    /// `2λ`: the coupling penalty's gradient is `2λ·W`.
    pub penalty: f32,
}

/// [`plain_update`] of a symmetric `(L·q)×(L·q)` table `p` with zero
/// diagonal blocks, with the gradient `G = ½(dW + dWᵀ) + 2λ·W` (0 in the
/// diagonal blocks) computed from the raw one in the same pass, never
/// stored: what `model::kernels::potts::potts_gradient` followed by the
/// plain update of the whole table computes above the diagonal, to the
/// bit, in about half the memory traffic (the step is bound by it). Each
/// site j's strip of rows `(j,·)` right of its diagonal block is updated
/// (one task per site on rayon's pool; the transposed blocks `(i,j)`,
/// i > j, of `dW` are gathered first). The diagonal blocks and everything
/// below the diagonal are not touched: `p`'s blocks there are stale until
/// `kernels::potts::mirror_upper` copies the upper ones over (the step's
/// copy of the rows reads the upper ones only). Returns whether the
/// gradient held an infinity or a NaN, and `Σ W²` of the updated
/// (symmetric) table.
pub fn symmetric_update(
    l: usize,
    p: &mut [f32],
    gradient: &TableGradient,
    m: &mut [f32],
    v: &mut [f32],
    s: &AdamStep,
) -> (bool, f64) {
    let n = l * Q;
    let g = gradient.raw;
    assert!(p.len() == n * n && g.len() == n * n && m.len() == n * n && v.len() == n * n);
    assert_eq!(gradient.rows.len(), l);
    let (p, m, v) = (
        SharedFloats(p.as_mut_ptr()),
        SharedFloats(m.as_mut_ptr()),
        SharedFloats(v.as_mut_ptr()),
    );
    let (bad, norm2) = (0..l)
        .into_par_iter()
        .map_init(
            || vec![0.0f32; Q * n],
            |columns, j| {
                let first = (j + 1) * Q;
                gather_transposed(g, gradient.rows, j, columns);
                // SAFETY: the task of site j alone touches the rows (j,b)
                // right of column `first`; every run is inside the n×n
                // tables.
                let run = |t: &SharedFloats, offset: usize| unsafe {
                    std::slice::from_raw_parts_mut(t.0.add(offset), n - first)
                };
                let (mut bad, mut norm2) = (false, 0.0f64);
                for b in 0..Q {
                    let span = (j * Q + b) * n + first;
                    let held = gradient.rows[j] & (1 << b) != 0;
                    let (row_bad, row_norm2) = project_update_run(
                        run(&p, span),
                        &g[span..span + n - first],
                        &columns[b * n + first..(b + 1) * n],
                        RowProjection {
                            held,
                            penalty: gradient.penalty,
                        },
                        run(&m, span),
                        run(&v, span),
                        s,
                    );
                    bad |= row_bad;
                    norm2 += row_norm2;
                }
                (bad, norm2)
            },
        )
        .reduce(|| (false, 0.0), |a, b| (a.0 | b.0, a.1 + b.1));
    // Each block above the diagonal counted for itself and its transpose.
    (bad, 2.0 * norm2)
}

/// How [`project_update_run`] reads a row's gradient: `held` false for a
/// row without one (read as 0), and `2λ`.
#[derive(Clone, Copy)]
struct RowProjection {
    held: bool,
    penalty: f32,
}

// Adam's update of one run of a symmetric table's strip with the projected
// gradient `½(own + transposed) + penalty·p` (`own` read as 0 unless
// `projection.held`), the arithmetic of `potts_gradient` then `update_run`;
// returns whether the gradient was not finite and `Σ p²` after the update
// (summed in sixteen float32 lanes, then in float64).
dispatch!(project_update_run(
    p: &mut [f32],
    own: &[f32],
    transposed: &[f32],
    projection: RowProjection,
    m: &mut [f32],
    v: &mut [f32],
    s: &AdamStep
) -> (bool, f64) {
    #[inline(always)]
    fn entry(p: &mut f32, (d, t): (f32, f32), m: &mut f32, v: &mut f32, penalty: f32, s: &AdamStep) -> bool {
        let g = 0.5 * (d + t) + penalty * *p;
        *m += (1.0 - s.beta1) * (g - *m);
        *v += (1.0 - s.beta2) * (g * g - *v);
        *p += *m * s.step / (v.sqrt() * s.inv_bc2_sqrt + s.eps);
        g.to_bits() & EXPONENT == EXPONENT
    }
    let len = p.len();
    let (own, transposed, m, v) = (&own[..len], &transposed[..len], &mut m[..len], &mut v[..len]);
    let penalty = projection.penalty;
    let mut bad = false;
    let mut lanes = [0.0f32; 16];
    let full = len / 16 * 16;
    // A row without a gradient is not read: its own part is 0.
    for c in (0..full).step_by(16) {
        let p: &mut [f32; 16] = (&mut p[c..c + 16]).try_into().expect("16");
        let t: &[f32; 16] = transposed[c..c + 16].try_into().expect("16");
        let m: &mut [f32; 16] = (&mut m[c..c + 16]).try_into().expect("16");
        let v: &mut [f32; 16] = (&mut v[c..c + 16]).try_into().expect("16");
        if projection.held {
            let d: &[f32; 16] = own[c..c + 16].try_into().expect("16");
            for k in 0..16 {
                bad |= entry(&mut p[k], (d[k], t[k]), &mut m[k], &mut v[k], penalty, s);
                lanes[k] += p[k] * p[k];
            }
        } else {
            for k in 0..16 {
                bad |= entry(&mut p[k], (0.0, t[k]), &mut m[k], &mut v[k], penalty, s);
                lanes[k] += p[k] * p[k];
            }
        }
    }
    let mut norm2 = 0.0f64;
    for k in full..len {
        let d = if projection.held { own[k] } else { 0.0 };
        bad |= entry(&mut p[k], (d, transposed[k]), &mut m[k], &mut v[k], penalty, s);
        norm2 += f64::from(p[k]) * f64::from(p[k]);
    }
    (bad, norm2 + lanes.iter().map(|&x| f64::from(x)).sum::<f64>())
});

// columns[b][c] = dW[c, (j,b)] for the rows c = (i,a), i > j, of the n×n
// gradient `g` (0 where the row holds no gradient, which is not read), a
// q×q block at a time through a tile, so that both the reads and the
// writes are runs of q floats.
dispatch!(gather_transposed(g: &[f32], rows: &[u32], j: usize, columns: &mut [f32]) -> () {
    let l = rows.len();
    let n = l * Q;
    let mut tile = [[0.0f32; Q]; Q];
    for (i, &mask) in rows.iter().enumerate().skip(j + 1) {
        for (a, t) in tile.iter_mut().enumerate() {
            if mask & (1 << a) != 0 {
                let c = i * Q + a;
                t.copy_from_slice(&g[c * n + j * Q..c * n + (j + 1) * Q]);
            } else {
                *t = [0.0; Q];
            }
        }
        for b in 0..Q {
            let out: &mut [f32; Q] = (&mut columns[b * n + i * Q..b * n + (i + 1) * Q]).try_into().expect("q");
            for (a, o) in out.iter_mut().enumerate() {
                *o = tile[a][b];
            }
        }
    }
});
