//! Benchmark of `fadca::weights::sequence_weights`.
//!
//! ```text
//! cargo run --release --example bench_weights -- [N] [L] [THETA]
//! ```
//!
//! Generates a seeded, realistic-looking alignment (default N = 100 000,
//! L = 200): 40 ancestors, each sequence a mutated copy of one ancestor at a
//! per-sequence mutation rate of 5–35 % (so many same-family pairs lie near
//! θ = 0.8) with occasional gap runs at the ends, then times the weights.
use std::time::Instant;

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let l: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let theta: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0.8);
    let mut rng = ChaCha8Rng::seed_from_u64(20261130);
    let ancestors: Vec<Vec<u8>> = (0..40)
        .map(|_| (0..l).map(|_| rng.random_range(0..20u8)).collect())
        .collect();
    let mut states = Array2::<u8>::zeros((n, l));
    for mut row in states.outer_iter_mut() {
        let anc = &ancestors[rng.random_range(0..ancestors.len())];
        let rate: f64 = rng.random_range(0.05..0.35);
        for (k, s) in row.iter_mut().enumerate() {
            *s = if rng.random::<f64>() < rate {
                rng.random_range(0..21u8)
            } else {
                anc[k]
            };
        }
        // Ragged ends: a gap run at the start or end of some sequences.
        if rng.random::<f64>() < 0.3 {
            let run = rng.random_range(0..l / 5 + 1);
            let at_start = rng.random::<bool>();
            for k in 0..run {
                let idx = if at_start { k } else { l - 1 - k };
                row[idx] = fadca::alignment::GAP;
            }
        }
    }
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let w = fadca::weights::sequence_weights(states.view(), theta);
    let secs = t.elapsed().as_secs_f64();
    let meff = fadca::weights::effective_count(&w);
    println!(
        "sequence_weights: N = {n}, L = {l}, theta = {theta}, threads = {threads}: {secs:.2} s (M_eff = {meff:.1})"
    );
}
