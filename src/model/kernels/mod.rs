//! The CPU kernels of the pseudo-likelihood objective, for both models:
//! the coupling table, the conditional logits of a batch, the loss and its
//! gradients in a few fused, cache-aware loops instead of a chain of
//! libtorch operators.
//!
//! A training step needs, for a batch of B sequences of length L (n = L·q):
//!
//! 1. the table `W[(j,b),(i,a)] = Σ_h A^h_ij V^h(a,b)` — [`table::build_table`],
//!    a block of sites' columns `(i,·)` at a time (the logits of site i read
//!    only its columns; steps 2–4 work on the same block, see [`pll`]);
//! 2. per sequence the logits `h_i(a) + Σ_j W[(j,x_j),(i,a)]` (the sum of L
//!    table rows), the weighted negative log pseudo-likelihood and its
//!    gradient `G[n,(i,a)] = c_n (softmax − one-hot)` — [`pll::pll_rows`];
//! 3. the table's gradient `dW[(j,b),·] = Σ_{n: x_nj = b} G[n,·]` — [`pll::scatter_rows`];
//! 4. `dA^h_ij = ⟨dW_ij, V^h⟩` and `dV^h = Σ_ij A^h_ij dW_ij` — [`table::table_grads`].
//!
//! Steps 1 and 4 are products H deep, computed in register tiles on the
//! table's rows where they lie ([`tiles`], over the explicit vectors of
//! `vector`): as general matrix products on gathered blocks, packing
//! their operands took as long as the arithmetic.
//!
//! The Potts model's table is its parameter: its rows are copied
//! ([`potts::copy_rows`]) instead of built, steps 2 and 3 are the same, and
//! step 4 is the projection of `dW` onto symmetric tables with zero
//! diagonal blocks plus the penalty's gradient ([`potts::potts_gradient`]),
//! which the trainer does inside Adam's update ([`adam::symmetric_update`]):
//! the Potts step is bound by memory traffic, and each pass over the
//! `(L·q)²` table saved is time saved.
//!
//! Only the rows `(j,b)` of states b that the batch holds at j (and of the
//! reference state) are built, read and differentiated. Steps 2 and 3 read
//! and write whole rows of n floats per sequence and position and are bound
//! by memory traffic. Both work relative to a reference sequence r (the
//! column-wise most frequent states): the logits are those of r plus the
//! rows `W[(j,x_j)] − W[(j,r_j)]` of the positions where the sequence
//! differs from r (step 1 writes the rows as these differences: the
//! factored model builds them from differences of the values, the Potts
//! model's copy subtracts), and the gradient row of `(j, r_j)` is the batch's total
//! minus the position's other rows; in a protein family about half of the
//! positions agree with r, so half the rows are touched.
//!
//! Around them, the attention itself ([`attention::attention_forward`], one small
//! matrix product per head, then a softmax over j in the layout `[j][i][h]`
//! the table's kernels read), the
//! coupling penalty from the factors ([`table::coupling_penalty`]) and the
//! back-propagation of `dA` through the softmax to Q and K
//! ([`attention::attention_backward`]), all `O(H·L²·d + H²·L²)`; Adam's update is a
//! kernel too ([`adam`]: the plain update, and the symmetric Potts table's
//! above its diagonal, mirrored). These used to be
//! libtorch operators on one thread (its OpenMP workers slow the kernels'
//! threads down): a quarter of a step's wall time with two threads, and
//! the part that did not scale with more.
//!
//! Done with libtorch operators the same step materialises and permutes
//! several `(L·q)²` tensors and runs a generic embedding bag; these loops
//! touch each table entry a few times with contiguous, vectorised accesses
//! (BENCHMARKS.md, "Training step").
//!
//! Work is split into fixed chunks and partial sums are added in chunk order,
//! so the results do not depend on the number of threads or on scheduling.
//!
//! The kernels are grouped by what they compute: [`attention`] (the
//! factored model's attention, forward and backward), [`table`] (the
//! factored table from its factors and the factors' gradients from the
//! table's, in the tiles of [`tiles`]), [`pll`] (steps 2 and 3, shared by
//! both models), [`potts`]
//! (the Potts model's rows and projected gradient) and [`adam`] (the
//! optimiser's update). They are put together
//! into a training step by `model::FusedObjective`.
use crate::Q;

/// Entries of one q×q block.
const QQ: usize = Q * Q;

/// Instruction-set level chosen once per process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Avx512,
    Avx2,
    Generic,
}

/// The best instruction-set level of this CPU.
fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                return Level::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Level::Avx2;
            }
        }
        Level::Generic
    })
}

/// Calls `$body` (an expression using only inlined helpers) compiled for the
/// best instruction set of this CPU. Defined before the kernel modules,
/// which use it.
macro_rules! dispatch {
    ($name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty $body:block) => {
        fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn generic($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,fma")]
            fn avx512($($arg: $ty),*) -> $ret { generic($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) -> $ret { generic($($arg),*) }
            use $crate::model::kernels::{Level, level};
            match level() {
                // SAFETY: the features were detected at run time.
                #[cfg(target_arch = "x86_64")]
                Level::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => unsafe { avx2($($arg),*) },
                _ => generic($($arg),*),
            }
        }
    };
}

#[macro_use]
mod vector;
pub mod adam;
pub mod attention;
pub mod pll;
pub mod potts;
pub mod table;
pub mod tiles;

/// The start of a float table shared by parallel tasks that touch
/// disjoint parts of it (each user says which parts, and why they are
/// disjoint, where it reads or writes through it).
struct SharedFloats(*mut f32);

// SAFETY: the tasks that share it touch disjoint parts of the table (each
// user's safety comment says which).
unsafe impl Sync for SharedFloats {}

/// `y += x`.
#[inline(always)]
fn add(y: &mut [f32], x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += *x;
    }
}

/// `Σ_k x_k` summed in sixteen lanes (then the lanes in order, then the
/// remainder): a sum in one float would wait on each addition's latency;
/// this one vectorises. The same order on every machine.
#[inline(always)]
fn lane_sum(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = x.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for k in 0..16 {
            lanes[k] += c[k];
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// `max_k x_k` (−∞ for none) in sixteen lanes.
#[inline(always)]
fn lane_max(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for k in 0..16 {
            lanes[k] = lanes[k].max(c[k]);
        }
    }
    lanes.iter().fold(rest, |m, &v| m.max(v))
}

/// `e^x` for x ≤ 0 to about 2 ulp, branch-free so that loops over it
/// vectorise (Cody–Waite range reduction and a degree-6 polynomial);
/// arguments below −87 give ≈ 0.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    let x = x.max(-87.0);
    let k = (x * std::f32::consts::LOG2_E).round();
    let r = k.mul_add(-0.693_145_75, x);
    let r = k.mul_add(-1.428_606_8e-6, r);
    let mut p = 1.0 / 720.0f32;
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let scale = f32::from_bits((((k as i32) + 127) as u32) << 23);
    p * scale
}

/// The states of `mask` (bit b set = state b), in increasing order.
fn states_of(mask: u32) -> Vec<usize> {
    (0..Q).filter(|&b| mask & (1 << b) != 0).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The two-thread pool the kernels' tests run on.
    pub(crate) fn pool() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    #[test]
    fn exp_matches_the_library_on_its_range() {
        for k in 0..=8700 {
            let x = -(k as f32) * 0.01;
            let (got, want) = (exp_nonpositive(x), x.exp());
            assert!(
                (got - want).abs() <= 4.0 * f32::EPSILON * want + 1e-37,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert!(exp_nonpositive(-1000.0) < 1e-37);
    }
}
