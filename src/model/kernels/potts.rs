//! The Potts model's part of a training step on the CPU: its table's rows
//! a batch reads, copied out of the parameter ([`copy_rows`]), and the
//! table's gradient projected onto symmetric tables with zero diagonal
//! blocks plus the penalty's gradient, in place ([`potts_gradient`]).
use rayon::prelude::*;

use super::states_of;
use crate::Q;

/// The rows `(j,b)` of the Potts model's table `w` (n×n, n = L·q) marked
/// in `present` (see [`super::pll::pll_rows`]) copied into `table`, which
/// [`super::pll::pll_rows`] then turns into differences in place: the Potts model's
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
/// With `mirror` false only the blocks `(j,i)` above the diagonal are
/// written (the blocks below keep the unprojected gradient): what an
/// update that reads only those needs (`kernels::adam::symmetric_update`),
/// one transposed pass fewer.
pub fn potts_gradient(
    pool: &rayon::ThreadPool,
    d_table: &mut [f32],
    present: &[u32],
    w: &[f32],
    lambda: f64,
    mirror: bool,
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
                |columns, j| unsafe {
                    potts_block_pairs(j, &table, present, w, penalty, columns, mirror)
                },
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
    mirror: bool,
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
    if mirror {
        for c in first..n {
            for (b, x) in run(c * n + j * Q, Q).iter_mut().enumerate() {
                *x = columns[b * n + c];
            }
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

#[cfg(test)]
mod tests {
    use super::super::tests::pool;
    use super::*;

    /// Without the mirror, the blocks above the diagonal (and the zeroed
    /// diagonal blocks) are those of the whole projection.
    #[test]
    fn the_gradient_above_the_diagonal_is_the_whole_projections() {
        let l = 5;
        let n = l * Q;
        let value = |k: usize| ((k * 7919 % 1000) as f32 - 500.0) / 250.0;
        let mut w = vec![0.0f32; n * n];
        for r in 0..n {
            for c in r + 1..n {
                if r / Q != c / Q {
                    w[r * n + c] = value(r * n + c);
                    w[c * n + r] = w[r * n + c];
                }
            }
        }
        // Every state present at every site but one state at site 2.
        let mut present = vec![(1u32 << Q) - 1; l];
        present[2] &= !(1 << 4);
        let d: Vec<f32> = (0..n * n).map(|k| value(k + 3)).collect();
        let (mut whole, mut upper) = (d.clone(), d.clone());
        let pool = pool();
        let a = potts_gradient(&pool, &mut whole, &present, &w, 0.01, true);
        let b = potts_gradient(&pool, &mut upper, &present, &w, 0.01, false);
        assert_eq!(a, b);
        for r in 0..n {
            for c in 0..n {
                if c / Q >= r / Q {
                    assert_eq!(whole[r * n + c], upper[r * n + c], "({r}, {c})");
                } else {
                    assert_eq!(upper[r * n + c], d[r * n + c], "({r}, {c}) left as it was");
                    assert_eq!(whole[r * n + c], whole[c * n + r], "({r}, {c}) symmetric");
                }
            }
        }
    }
}
