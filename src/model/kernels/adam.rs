//! Adam's update on float32 memory (the optimiser is `model::adam`): the
//! whole of a parameter ([`plain_update`]) or, for a symmetric table with
//! zero diagonal blocks (the Potts model's), the blocks above the diagonal
//! mirrored below ([`symmetric_update`]). Each checks the gradient for
//! infinities and NaNs in the same pass. Compiled for the CPU's best
//! instruction set (the arithmetic is the same, without fused
//! multiply-adds, so the results are identical on every level).
use rayon::prelude::*;

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

/// [`plain_update`] of a symmetric `(L·q)×(L·q)` table `p` with zero
/// diagonal blocks and a gradient `g` of the same kind: each site j's
/// strip of rows `(j,·)` right of its diagonal block is updated (one task
/// per site on rayon's pool), then written transposed into the blocks
/// `(i,j)`, i > j. The diagonal blocks and the moments below the diagonal
/// are not touched. True when the part of `g` read holds an infinity or a
/// NaN.
pub fn symmetric_update(
    l: usize,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    s: &AdamStep,
) -> bool {
    let n = l * Q;
    assert!(p.len() == n * n && g.len() == n * n && m.len() == n * n && v.len() == n * n);
    let (p, m, v) = (
        SharedFloats(p.as_mut_ptr()),
        SharedFloats(m.as_mut_ptr()),
        SharedFloats(v.as_mut_ptr()),
    );
    (0..l)
        .into_par_iter()
        .map(|j| {
            let first = (j + 1) * Q;
            // SAFETY: the task of site j alone touches the rows (j,b) right
            // of column `first` and the columns (j,·) of the rows below
            // them; every run is inside the n×n tables.
            let run = |t: &SharedFloats, offset: usize| unsafe {
                std::slice::from_raw_parts_mut(t.0.add(offset), n - first)
            };
            let mut bad = false;
            for b in 0..Q {
                let span = (j * Q + b) * n + first;
                bad |= update_run(
                    run(&p, span),
                    &g[span..span + n - first],
                    run(&m, span),
                    run(&v, span),
                    s,
                );
            }
            // SAFETY: as above.
            unsafe { mirror_strip(p.0, n, j) };
            bad
        })
        .reduce(|| false, |a, b| a | b)
}

/// Copies the strip of rows `(j,·)` right of the diagonal block into the
/// blocks `(i,j)` below it, transposed, a q×q block at a time.
///
/// # Safety
/// `p` must point at an n×n table (n a multiple of q, j < n/q) whose strip
/// and blocks nothing else touches meanwhile.
unsafe fn mirror_strip(p: *mut f32, n: usize, j: usize) {
    let mut block = [0.0f32; Q * Q];
    for i in j + 1..n / Q {
        for b in 0..Q {
            // SAFETY: row (j,b), columns (i,·): inside the table.
            let row = unsafe { std::slice::from_raw_parts(p.add((j * Q + b) * n + i * Q), Q) };
            block[b * Q..(b + 1) * Q].copy_from_slice(row);
        }
        for a in 0..Q {
            // SAFETY: row (i,a), columns (j,·): inside the table.
            let row = unsafe { std::slice::from_raw_parts_mut(p.add((i * Q + a) * n + j * Q), Q) };
            for (b, x) in row.iter_mut().enumerate() {
                *x = block[b * Q + a];
            }
        }
    }
}

/// A table's start, shared by the tasks of [`symmetric_update`], which
/// touch disjoint parts of it.
struct SharedFloats(*mut f32);

// SAFETY: see `symmetric_update`: the tasks touch disjoint parts.
unsafe impl Sync for SharedFloats {}
