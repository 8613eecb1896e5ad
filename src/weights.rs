//! Sequence weights (SPEC §2): `w_n = 1 / |{m : identity(n, m) ≥ θ}|`.
//!
//! `identity(n, m)` is the fraction of all L columns where the two sequences
//! have the same state, gaps included; `m` runs over every sequence, `n`
//! itself included, so every weight is in `(0, 1]`. `M_eff = Σ w_n`.
//!
//! **θ ≥ 1 turns weighting off** (all weights 1): this is how SPEC's
//! "`--theta 1` turns it off" is read, even though θ = 1 would otherwise
//! down-weight exact duplicates.
//!
//! # How it is fast
//!
//! The count is exact; every pair is compared once (i < j, both ends
//! credited). A pair is similar when its number of mismatching columns is
//! at most `max_mismatch = L − m*`, where `m*` is the smallest number of
//! matches with `m*/L ≥ θ` (found with the same floating-point test a naive
//! implementation uses, so both agree at the boundary). Rows are copied once
//! into a padded, 64-byte aligned layout (padding is equal in every row, so
//! it never mismatches) and compared in blocks of rows that fit the L1
//! cache; each pair is compared 64 (AVX-512BW) or 32 (AVX2) bytes at a time
//! with a popcount of the inequality mask, stopping as soon as the mismatch
//! count exceeds `max_mismatch` (most pairs of a family stop after the
//! first chunk or two). Blocks of rows are spread over threads with rayon.
//! A portable 8-bytes-at-a-time fallback serves other CPUs.
use std::sync::atomic::{AtomicU32, Ordering};

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::alignment::Alignment;

/// Default identity threshold θ.
pub const DEFAULT_THETA: f64 = 0.8;

/// How the sequences of an alignment are weighted: the identity threshold θ
/// of SPEC §2, where θ ≥ 1 means no weighting (all weights 1). Every
/// command turns its `--theta` / `--no-weights` flags into one of these, and
/// the library turns it into weights ([`Weighting::weights`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighting {
    theta: f64,
}

impl Default for Weighting {
    /// θ = [`DEFAULT_THETA`].
    fn default() -> Weighting {
        Weighting::at(DEFAULT_THETA)
    }
}

impl Weighting {
    /// Weights at identity threshold `theta` (≥ 1: none).
    pub fn at(theta: f64) -> Weighting {
        Weighting { theta }
    }

    /// No weighting: every sequence weighs 1 (θ = 1).
    pub fn none() -> Weighting {
        Weighting::at(1.0)
    }

    /// What the command-line flags `--theta T` and `--no-weights` ask for
    /// (`--no-weights` wins).
    pub fn from_flags(theta: f64, no_weights: bool) -> Weighting {
        if no_weights {
            Weighting::none()
        } else {
            Weighting::at(theta)
        }
    }

    /// The identity threshold in effect (1 when unweighted), as reports
    /// record it.
    pub fn theta(&self) -> f64 {
        self.theta
    }

    /// The weights of `alignment`'s sequences ([`sequence_weights`]).
    pub fn weights(&self, alignment: &Alignment) -> Vec<f64> {
        sequence_weights(alignment.states.view(), self.theta)
    }
}

/// Computes the sequence weights of an N×L state matrix at identity threshold
/// `theta` (identity = fraction of all L columns with equal states, gaps
/// included). `theta >= 1.0` (or NaN) turns weighting off (all weights 1);
/// `theta <= 0` makes every pair similar (all weights 1/N).
pub fn sequence_weights(states: ArrayView2<u8>, theta: f64) -> Vec<f64> {
    neighbour_counts(states, theta)
        .into_iter()
        .map(|c| 1.0 / f64::from(c))
        .collect()
}

/// `M_eff`: the sum of the weights.
pub fn effective_count(weights: &[f64]) -> f64 {
    weights.iter().sum()
}

/// Picks `k` of the sequences at random with probability proportional to
/// their weight, without replacement (Efraimidis–Spirakis: the `k` largest
/// keys `u^(1/w)`), seeded; the query (index 0) is always kept. Returns the
/// chosen indices in increasing order (all of them when `k ≥ N`). Sequences
/// of weight 0 are only taken when nothing else is left.
pub fn sample_by_weight(weights: &[f64], k: usize, seed: u64) -> Vec<usize> {
    use rand::{RngExt, SeedableRng};
    let n = weights.len();
    if k >= n {
        return (0..n).collect();
    }
    if k == 0 {
        return Vec::new();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // log key = ln(u) / w (larger is better); the query gets +inf.
    let mut keyed: Vec<(f64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            let key = if i == 0 {
                f64::INFINITY
            } else if w > 0.0 {
                u.ln() / w
            } else {
                f64::NEG_INFINITY
            };
            (key, i)
        })
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<usize> = keyed[..k].iter().map(|&(_, i)| i).collect();
    chosen.sort_unstable();
    chosen
}

/// The smallest number of matching columns `m` with `m / L ≥ θ`, computed
/// with exactly that floating-point comparison; `None` when no `m ≤ L`
/// qualifies (θ > 1).
pub fn min_matches(l: usize, theta: f64) -> Option<usize> {
    let ok = |m: usize| (m as f64 / l as f64) >= theta;
    if l == 0 {
        return None;
    }
    let guess = (theta * l as f64).ceil().clamp(0.0, l as f64) as usize;
    let mut m = guess;
    while m > 0 && ok(m - 1) {
        m -= 1;
    }
    while m <= l && !ok(m) {
        m += 1;
    }
    (m <= l).then_some(m)
}

/// For each sequence, the number of sequences (itself included) whose
/// identity with it is at least θ. All ones when θ ≥ 1, NaN, or L = 0.
pub fn neighbour_counts(states: ArrayView2<u8>, theta: f64) -> Vec<u32> {
    let (n, l) = states.dim();
    if theta.is_nan() || theta >= 1.0 || l == 0 || n <= 1 {
        return vec![1; n];
    }
    let Some(m_star) = min_matches(l, theta) else {
        return vec![1; n];
    };
    let max_mismatch = (l - m_star) as u32;
    let rows = Padded::new(states);
    let counts: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(1)).collect();
    let kernel = Kernel::detect();
    let block = rows.block_rows();
    let n_blocks = n.div_ceil(block);
    (0..n_blocks).into_par_iter().for_each(|bi| {
        let mut local_i = vec![0u32; block];
        let mut local_j = vec![0u32; block];
        for bj in bi..n_blocks {
            local_j.iter_mut().for_each(|c| *c = 0);
            kernel.block_pair(
                &rows,
                bi,
                bj,
                block,
                max_mismatch,
                &mut local_i,
                &mut local_j,
            );
            let j0 = bj * block;
            for (k, &c) in local_j.iter().enumerate() {
                if c > 0 {
                    counts[j0 + k].fetch_add(c, Ordering::Relaxed);
                }
            }
        }
        let i0 = bi * block;
        for (k, &c) in local_i.iter().enumerate() {
            if c > 0 {
                counts[i0 + k].fetch_add(c, Ordering::Relaxed);
            }
        }
    });
    counts.into_iter().map(AtomicU32::into_inner).collect()
}

/// Width of the padding unit and alignment of each row, in bytes.
const CHUNK: usize = 64;

/// Rows copied into a padded layout: row `r` occupies bytes
/// `r*stride .. r*stride + stride` of `data`, 64-byte aligned, zero padded.
struct Padded {
    data: Vec<Aligned64>,
    n: usize,
    stride: usize,
}

/// A 64-byte aligned unit of storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Aligned64([u8; CHUNK]);

impl Padded {
    fn new(states: ArrayView2<u8>) -> Self {
        let (n, l) = states.dim();
        let chunks = l.div_ceil(CHUNK);
        let mut data = vec![Aligned64([0; CHUNK]); n * chunks];
        for (r, row) in states.outer_iter().enumerate() {
            for (c, &s) in row.iter().enumerate() {
                data[r * chunks + c / CHUNK].0[c % CHUNK] = s;
            }
        }
        Padded {
            data,
            n,
            stride: chunks * CHUNK,
        }
    }

    /// Rows per block: two blocks together stay within about 32 KiB.
    fn block_rows(&self) -> usize {
        (16 * 1024 / self.stride).clamp(8, 256)
    }

    /// The padded bytes of row `r`.
    fn row(&self, r: usize) -> &[u8] {
        let chunks = self.stride / CHUNK;
        let units = &self.data[r * chunks..(r + 1) * chunks];
        // SAFETY: `Aligned64` is `repr(C)` around `[u8; 64]` with no padding
        // (size 64, align 64), so `chunks` units are `stride` contiguous bytes.
        unsafe { std::slice::from_raw_parts(units.as_ptr().cast::<u8>(), self.stride) }
    }
}

/// Which pair-comparison implementation the CPU supports.
#[derive(Clone, Copy)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Kernel {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512bw") && std::is_x86_feature_detected!("avx512f")
            {
                return Kernel::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Compares every pair (i in block `bi`, j in block `bj`, i < j) and
    /// credits similar pairs to `ci[i - start_i]` and `cj[j - start_j]`.
    #[allow(clippy::too_many_arguments)]
    fn block_pair(
        self,
        rows: &Padded,
        bi: usize,
        bj: usize,
        block: usize,
        max_mismatch: u32,
        ci: &mut [u32],
        cj: &mut [u32],
    ) {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU features were detected at run time.
            Kernel::Avx512 => unsafe {
                x86::block_pair_avx512(rows, bi, bj, block, max_mismatch, ci, cj)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU features were detected at run time.
            Kernel::Avx2 => unsafe {
                x86::block_pair_avx2(rows, bi, bj, block, max_mismatch, ci, cj)
            },
            Kernel::Portable => block_pair_generic(
                rows,
                bi,
                bj,
                block,
                max_mismatch,
                ci,
                cj,
                mismatches_portable,
            ),
        }
    }
}

/// The block-pair loop, generic over the pair kernel so that each
/// instruction-set entry point gets its own inlined copy.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_pair_generic(
    rows: &Padded,
    bi: usize,
    bj: usize,
    block: usize,
    max_mismatch: u32,
    ci: &mut [u32],
    cj: &mut [u32],
    mismatches: impl Fn(&[u8], &[u8], u32) -> u32,
) {
    let i0 = bi * block;
    let i1 = (i0 + block).min(rows.n);
    let j0 = bj * block;
    let j1 = (j0 + block).min(rows.n);
    for i in i0..i1 {
        let a = rows.row(i);
        let start = if bi == bj { i + 1 } else { j0 };
        let mut hits = 0u32;
        for j in start..j1 {
            if mismatches(a, rows.row(j), max_mismatch) <= max_mismatch {
                hits += 1;
                cj[j - j0] += 1;
            }
        }
        ci[i - i0] += hits;
    }
}

/// Mismatching bytes of two equally long rows, 8 bytes at a time; may stop
/// early once the count exceeds `max` (the result is then some value > max).
#[inline(always)]
fn mismatches_portable(a: &[u8], b: &[u8], max: u32) -> u32 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut count = 0u32;
    for (ca, cb) in a.chunks_exact(CHUNK).zip(b.chunks_exact(CHUNK)) {
        for (wa, wb) in ca.chunks_exact(8).zip(cb.chunks_exact(8)) {
            let x = u64::from_ne_bytes(wa.try_into().unwrap_or([0; 8]))
                ^ u64::from_ne_bytes(wb.try_into().unwrap_or([0; 8]));
            // High bit of each byte set iff that byte of x is non-zero.
            let nonzero = ((x & LOW7).wrapping_add(LOW7) | x) & !LOW7;
            count += nonzero.count_ones();
        }
        if count > max {
            return count;
        }
    }
    count
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CHUNK, Padded, block_pair_generic};
    use std::arch::x86_64::*;

    /// AVX-512BW pair kernel: one 64-byte compare + popcount per chunk.
    #[inline(always)]
    fn mismatches_avx512(a: &[u8], b: &[u8], max: u32) -> u32 {
        let mut count = 0u32;
        let mut k = 0;
        while k + CHUNK <= a.len() && k + CHUNK <= b.len() {
            // SAFETY: 64 bytes are in bounds at offset k of both slices; the
            // loads are unaligned-tolerant; the caller enabled AVX-512BW.
            unsafe {
                let va = _mm512_loadu_si512(a.as_ptr().add(k).cast());
                let vb = _mm512_loadu_si512(b.as_ptr().add(k).cast());
                count += _mm512_cmpneq_epi8_mask(va, vb).count_ones();
            }
            if count > max {
                return count;
            }
            k += CHUNK;
        }
        count
    }

    /// AVX2 pair kernel: two 32-byte compares + popcount per 64-byte chunk.
    #[inline(always)]
    fn mismatches_avx2(a: &[u8], b: &[u8], max: u32) -> u32 {
        let mut count = 0u32;
        let mut k = 0;
        while k + CHUNK <= a.len() && k + CHUNK <= b.len() {
            // SAFETY: 64 bytes are in bounds at offset k of both slices; the
            // caller enabled AVX2 and POPCNT.
            unsafe {
                let pa = a.as_ptr().add(k);
                let pb = b.as_ptr().add(k);
                let e0 =
                    _mm256_cmpeq_epi8(_mm256_loadu_si256(pa.cast()), _mm256_loadu_si256(pb.cast()));
                let e1 = _mm256_cmpeq_epi8(
                    _mm256_loadu_si256(pa.add(32).cast()),
                    _mm256_loadu_si256(pb.add(32).cast()),
                );
                let eq = (_mm256_movemask_epi8(e0) as u32 as u64)
                    | ((_mm256_movemask_epi8(e1) as u32 as u64) << 32);
                count += (!eq).count_ones();
            }
            if count > max {
                return count;
            }
            k += CHUNK;
        }
        count
    }

    /// Block-pair loop compiled for AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw,popcnt")]
    pub(super) fn block_pair_avx512(
        rows: &Padded,
        bi: usize,
        bj: usize,
        block: usize,
        max_mismatch: u32,
        ci: &mut [u32],
        cj: &mut [u32],
    ) {
        block_pair_generic(rows, bi, bj, block, max_mismatch, ci, cj, mismatches_avx512)
    }

    /// Block-pair loop compiled for AVX2.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) fn block_pair_avx2(
        rows: &Padded,
        bi: usize,
        bj: usize,
        block: usize,
        max_mismatch: u32,
        ci: &mut [u32],
        cj: &mut [u32],
    ) {
        block_pair_generic(rows, bi, bj, block, max_mismatch, ci, cj, mismatches_avx2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn brute(states: &Array2<u8>, theta: f64) -> Vec<f64> {
        let (n, l) = states.dim();
        (0..n)
            .map(|a| {
                let c = (0..n)
                    .filter(|&b| {
                        let same = (0..l).filter(|&k| states[[a, k]] == states[[b, k]]).count();
                        same as f64 / l as f64 >= theta
                    })
                    .count();
                1.0 / c as f64
            })
            .collect()
    }

    #[test]
    fn hand_computed_example() {
        // Rows 0 and 1 differ in 1 of 5 columns (identity 0.8), row 2 differs
        // from both in every column.
        let s = array![[0u8, 1, 2, 3, 4], [0, 1, 2, 3, 5], [6, 6, 6, 6, 6]];
        assert_eq!(sequence_weights(s.view(), 0.8), vec![0.5, 0.5, 1.0]);
        assert_eq!(sequence_weights(s.view(), 0.81), vec![1.0, 1.0, 1.0]);
        assert_eq!(sequence_weights(s.view(), 0.0), vec![1.0 / 3.0; 3]);
        assert_eq!(sequence_weights(s.view(), 1.0), vec![1.0; 3]);
        assert!((effective_count(&sequence_weights(s.view(), 0.8)) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn min_matches_matches_float_test() {
        for l in 1..300 {
            for t in [0.0, 0.1, 0.3, 0.62, 0.7, 0.8, 0.9, 0.95, 0.999, 1.0] {
                let m = min_matches(l, t).unwrap();
                assert!(m as f64 / l as f64 >= t);
                assert!(m == 0 || ((m - 1) as f64 / l as f64) < t);
            }
        }
        assert_eq!(min_matches(10, 1.5), None);
    }

    #[test]
    fn all_kernels_agree_with_brute_force() {
        // Long rows (several chunks), many near-threshold pairs.
        let (n, l) = (70, 150);
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let base: Vec<u8> = (0..l).map(|_| (next() % 21) as u8).collect();
        let s = Array2::from_shape_fn((n, l), |(i, k)| {
            if (next() % 100) < (i as u64 % 40) {
                (next() % 21) as u8
            } else {
                base[k]
            }
        });
        for theta in [0.3, 0.7, 0.8, 0.9] {
            let expect = brute(&s, theta);
            assert_eq!(sequence_weights(s.view(), theta), expect, "theta {theta}");
            let m = min_matches(l, theta).unwrap();
            let rows = Padded::new(s.view());
            for kernel in all_kernels() {
                let mut counts = vec![1u32; n];
                let mut ci = vec![0u32; n];
                let mut cj = vec![0u32; n];
                kernel.block_pair(&rows, 0, 0, n, (l - m) as u32, &mut ci, &mut cj);
                for k in 0..n {
                    counts[k] += ci[k] + cj[k];
                }
                let w: Vec<f64> = counts.iter().map(|&c| 1.0 / c as f64).collect();
                assert_eq!(w, expect);
            }
        }
    }

    fn all_kernels() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512bw") {
                v.push(Kernel::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") {
                v.push(Kernel::Avx2);
            }
        }
        v
    }

    #[test]
    fn sample_by_weight_keeps_query_and_prefers_heavy_sequences() {
        let weights = [0.1, 0.01, 1.0, 0.01, 1.0, 0.01];
        assert_eq!(sample_by_weight(&weights, 10, 1), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(sample_by_weight(&weights, 0, 1), Vec::<usize>::new());
        let mut heavy = 0;
        for seed in 0..200 {
            let s = sample_by_weight(&weights, 3, seed);
            assert_eq!(s.len(), 3);
            assert_eq!(s[0], 0, "the query is always kept");
            assert!(s.windows(2).all(|w| w[0] < w[1]));
            heavy += s.iter().filter(|&&i| i == 2 || i == 4).count();
            assert_eq!(s, sample_by_weight(&weights, 3, seed), "seeded");
        }
        // Two draws besides the query: weight 1.0 vs 0.01 sequences, so nearly
        // always the two heavy ones.
        assert!(heavy > 380, "{heavy}");
    }
}
