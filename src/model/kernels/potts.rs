//! The Potts model's part of a training step on the CPU: its table's rows
//! a batch reads, copied out of the parameter ([`copy_rows`]), the table's
//! gradient projected onto symmetric tables with zero diagonal blocks plus
//! the penalty's gradient, in place ([`potts_gradient`]; the trainer's
//! update does the same in its own pass, `kernels::adam::symmetric_update`),
//! and the penalty's `Σ W²` ([`table_norm2`]).
use rayon::prelude::*;

use super::SharedFloats;
use super::pll::others_of;
use crate::Q;

/// The rows `(j,b)` of the Potts model's table `w` (n×n, n = L·q) marked
/// in `present` (see [`super::pll::pll_rows`]) copied into `table` as
/// [`super::pll::pll_rows`] reads them: the reference rows `(j, r_j)` as
/// they are, the others as differences from them, `W[(j,b)] − W[(j,r_j)]`
/// (in the same pass as the copy).
/// Only the blocks of `w` above the diagonal are read (those below are
/// their transposes, which the trainer leaves stale until training ends:
/// [`mirror_upper`]): the blocks `(j,i)`, i < j, of a row are read
/// transposed from the blocks `(i,j)`, a q×q tile at a time. The diagonal
/// blocks are 0. The Potts model's table is its parameter, which the step
/// must leave as it is. Other rows of `table` are left as they were.
pub fn copy_rows(
    pool: &rayon::ThreadPool,
    w: &[f32],
    present: &[u32],
    reference: &[u8],
    table: &mut [f32],
) {
    let n = present.len() * Q;
    assert_eq!(w.len(), n * n);
    assert_eq!(table.len(), n * n);
    assert_eq!(reference.len(), present.len());
    pool.install(|| {
        table
            .par_chunks_mut(Q * n)
            .enumerate()
            .for_each(|(j, rows)| copy_site_rows(w, present[j], reference[j] as usize, j, rows))
    });
}

// The rows `(j,·)` of `copy_rows` (`rows`: q×n) from the blocks of `w` at
// and above the diagonal.
dispatch!(copy_site_rows(w: &[f32], mask: u32, r: usize, j: usize, rows: &mut [f32]) -> () {
    let n = rows.len() / Q;
    let first = j * Q;
    // At and right of the diagonal block: the rows of `w` themselves.
    let own = &w[(first + r) * n + first..(first + r + 1) * n];
    rows[r * n + first..(r + 1) * n].copy_from_slice(own);
    for b in others_of(mask, r) {
        let source = &w[(first + b) * n + first..(first + b + 1) * n];
        for ((o, &x), &y) in rows[b * n + first..(b + 1) * n].iter_mut().zip(source).zip(own) {
            *o = x - y;
        }
    }
    // Left of it: block (j,i) = block (i,j)ᵀ, i < j.
    let mut tile = [[0.0f32; Q]; Q];
    for i in 0..j {
        // tile[a][b] = W[(i,a),(j,b)]
        for (a, t) in tile.iter_mut().enumerate() {
            let row = (i * Q + a) * n + first;
            t.copy_from_slice(&w[row..row + Q]);
        }
        for b in 0..Q {
            if mask & (1 << b) == 0 {
                continue;
            }
            let out: &mut [f32; Q] = (&mut rows[b * n + i * Q..b * n + (i + 1) * Q]).try_into().expect("q");
            if b == r {
                for (a, o) in out.iter_mut().enumerate() {
                    *o = tile[a][r];
                }
            } else {
                for (a, o) in out.iter_mut().enumerate() {
                    *o = tile[a][b] - tile[a][r];
                }
            }
        }
    }
});

/// Copies the blocks above the diagonal of a table `w` (n×n, n = L·q)
/// into those below, transposed: what the trainer's update
/// (`kernels::adam::symmetric_update`) leaves stale, done once before the
/// table is read whole (a convergence check, the end of training). One
/// task per site on rayon's pool.
pub fn mirror_upper(w: &mut [f32], l: usize) {
    let n = l * Q;
    assert_eq!(w.len(), n * n);
    let table = SharedFloats(w.as_mut_ptr());
    let table = &table;
    (0..l)
        .into_par_iter()
        .for_each(|j| mirror_kernel(table, n, j));
}

// Copies the strip of rows `(j,·)` right of the diagonal block into the
// blocks `(i,j)` below it, transposed, a q×q tile at a time. The task of
// site j alone touches that strip (read) and those blocks (written).
dispatch!(mirror_kernel(table: &SharedFloats, n: usize, j: usize) -> () {
    let mut tile = [[0.0f32; Q]; Q];
    for i in j + 1..n / Q {
        for (b, t) in tile.iter_mut().enumerate() {
            // SAFETY: row (j,b), columns (i,·): inside the n×n table, in
            // the strip of this task (see `mirror_upper`).
            let row = unsafe { std::slice::from_raw_parts(table.0.add((j * Q + b) * n + i * Q), Q) };
            t.copy_from_slice(row);
        }
        #[allow(clippy::needless_range_loop)] // a indexes the tile's columns
        for a in 0..Q {
            // SAFETY: row (i,a), columns (j,·): as above.
            let row = unsafe { std::slice::from_raw_parts_mut(table.0.add((i * Q + a) * n + j * Q), Q) };
            for (b, x) in row.iter_mut().enumerate() {
                *x = tile[b][a];
            }
        }
    }
});

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
    let table = SharedFloats(d_table.as_mut_ptr());
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

/// `Σ w²` of a table (rows in parallel, each summed in sixteen float32
/// lanes, then in float64): the coupling penalty's value when the
/// optimiser has not reported it.
pub fn table_norm2(pool: &rayon::ThreadPool, w: &[f32]) -> f64 {
    let rows: Vec<f64> = pool.install(|| w.par_chunks(1 << 14).map(sum_of_squares).collect());
    rows.iter().sum()
}

dispatch!(sum_of_squares(x: &[f32]) -> f64 {
    let mut lanes = [0.0f32; 16];
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        for k in 0..16 {
            lanes[k] += c[k] * c[k];
        }
    }
    let rest: f64 = chunks.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    rest + lanes.iter().map(|&v| f64::from(v)).sum::<f64>()
});

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
    table: &SharedFloats,
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

#[cfg(test)]
mod tests {
    use super::super::tests::pool;
    use super::*;

    /// The copied rows are the table's rows relative to the reference
    /// rows, read from the blocks above the diagonal only: a table whose
    /// blocks below hold anything gives the same rows.
    #[test]
    fn rows_are_copied_relative_to_the_reference_from_the_upper_half() {
        let l = 4;
        let n = l * Q;
        let mut w = vec![0.0f32; n * n];
        for r in 0..n {
            for c in r + 1..n {
                if r / Q != c / Q {
                    w[r * n + c] = ((r * 31 + c * 7) % 19) as f32 * 0.25 - 2.0;
                    w[c * n + r] = w[r * n + c];
                }
            }
        }
        let mut stale = w.clone();
        for r in 0..n {
            for c in 0..(r / Q) * Q {
                stale[r * n + c] = 1e6;
            }
        }
        let reference = [3u8, 0, 20, 7];
        let mut present: Vec<u32> = reference.iter().map(|&r| 1 << r).collect();
        present[0] |= (1 << 5) | (1 << 9);
        present[2] |= 1 << 1;
        present[3] |= (1 << 0) | (1 << 20);
        let pool = pool();
        let (mut from_whole, mut from_upper) = (vec![f32::NAN; n * n], vec![f32::NAN; n * n]);
        copy_rows(&pool, &w, &present, &reference, &mut from_whole);
        copy_rows(&pool, &stale, &present, &reference, &mut from_upper);
        for (j, &mask) in present.iter().enumerate() {
            let r = reference[j] as usize;
            for b in (0..Q).filter(|&b| mask & (1 << b) != 0) {
                for c in 0..n {
                    let own = w[(j * Q + b) * n + c];
                    let want = if b == r {
                        own
                    } else {
                        own - w[(j * Q + r) * n + c]
                    };
                    assert_eq!(
                        from_upper[(j * Q + b) * n + c],
                        want,
                        "({j},{b}) column {c}"
                    );
                    assert_eq!(from_whole[(j * Q + b) * n + c], want);
                }
            }
            for b in (0..Q).filter(|&b| mask & (1 << b) == 0) {
                assert!(
                    from_upper[(j * Q + b) * n].is_nan(),
                    "row ({j},{b}) left as it was"
                );
            }
        }
    }

    #[test]
    fn table_norm_is_the_sum_of_squares() {
        let w: Vec<f32> = (0..40_000)
            .map(|k| ((k * 7919 % 1000) as f32 - 500.0) / 250.0)
            .collect();
        let want: f64 = w.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let got = table_norm2(&pool(), &w);
        assert!((got - want).abs() < 1e-6 * want, "{got} against {want}");
    }
}
