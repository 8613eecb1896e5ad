//! Gibbs sampling of a teacher ([`Teacher::sample`](super::Teacher::sample)):
//! independent chains, each on its own RNG stream, an automatic burn-in that
//! doubles until it is long against the measured autocorrelation time, the
//! thinning chosen from it, the gap-free query chain, and the sampler report.
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::gibbs::{self, SparsePotts};
use super::stats::diversity;
use super::{STREAM_CHAIN0, STREAM_QUERY, rng_for};

/// How to sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleOptions {
    /// Number of sequences M (not counting the query).
    pub samples: usize,
    /// Number of independent chains C; chain `k` has its own RNG stream.
    pub chains: usize,
    /// Sweeps discarded at the start of every chain; `None` = chosen from the
    /// measured autocorrelation time.
    pub burn_in: Option<usize>,
    /// Sweeps between kept samples; `None` = chosen from the measured
    /// autocorrelation time.
    pub thin: Option<usize>,
    /// Seed of all RNG streams.
    pub seed: u64,
}

/// Sampler report (written to `simulate.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SamplerStats {
    /// Number of chains.
    pub chains: usize,
    /// Sweeps discarded per chain.
    pub burn_in: usize,
    /// True when the burn-in was chosen automatically.
    pub burn_in_auto: bool,
    /// Sweeps between kept samples.
    pub thin: usize,
    /// True when the thinning was chosen automatically.
    pub thin_auto: bool,
    /// Integrated autocorrelation time (sweeps) of the energy, measured on the
    /// second half of the burn-in, pooled over chains.
    pub tau_energy: f64,
    /// Same for the overlap (fraction of identical sites) with the state at
    /// the start of the measurement window: a proxy for the slowest single sites.
    pub tau_overlap: f64,
    /// Sweeps the τ estimate was measured on (per chain).
    pub tau_window_sweeps: usize,
    /// Integrated autocorrelation time of the energy during sampling (every
    /// sweep, pooled over chains): a check of the burn-in estimate.
    pub tau_energy_sampling: f64,
    /// Effective sample size: kept samples / max(1, 2 τ / thin) summed over chains.
    pub effective_samples: f64,
    /// Fraction of single-site Gibbs updates that changed the state, over all
    /// sweeps (for a Gibbs sampler every update is accepted; this is its mobility).
    pub flip_rate: f64,
    /// Mean and standard deviation of the energy over kept samples.
    pub energy_mean: f64,
    /// Standard deviation of the energy over kept samples.
    pub energy_std: f64,
    /// Gelman–Rubin R̂ of the energy over chains (≈ 1 when chains agree).
    pub r_hat_energy: Option<f64>,
    /// Fraction of gap states in the kept samples.
    pub gap_fraction: f64,
    /// Mean over sites of the entropy (nats) of the sampled single-site
    /// frequencies (ln 21 ≈ 3.04 is uniform, 0 frozen).
    pub mean_site_entropy: f64,
    /// Mean identity between pairs of samples (≤ 500 spread evenly over all, all pairs).
    pub mean_pairwise_identity: f64,
    /// Total Gibbs sweeps per chain (burn-in + sampling).
    pub sweeps_per_chain: usize,
    /// Wall time of burn-in (s).
    pub time_burn_in_s: f64,
    /// Wall time of sampling (s).
    pub time_sampling_s: f64,
}

/// What [`Teacher::sample`](super::Teacher::sample) returns.
#[derive(Debug, Clone)]
pub struct SampleRun {
    /// A gap-free sequence drawn from the teacher conditioned on no gaps.
    pub query: Vec<u8>,
    /// The M samples, chain by chain, each chain's in sweep order.
    pub sequences: Vec<Vec<u8>>,
    /// The chain that produced each sample.
    pub chain_of: Vec<usize>,
    /// Report.
    pub stats: SamplerStats,
}

/// Default burn-in measurement: the burn-in starts at this many sweeps and is
/// doubled until its second half is at least [`TAU_FACTOR`] τ long.
const MIN_BURN_IN: usize = 200;
/// Largest automatic burn-in (a family this slow to mix is frozen anyway).
const MAX_BURN_IN: usize = 1 << 14;
/// Largest automatic thinning.
const MAX_AUTO_THIN: usize = 50;
/// The measurement window must be this many τ long for a reliable τ (Sokal).
const TAU_FACTOR: f64 = 50.0;

/// One chain's kept sequences, their energies, and the energy after every sweep.
type ChainOutput = (Vec<Vec<u8>>, Vec<f64>, Vec<f64>);

struct ChainState {
    x: Vec<u8>,
    rng: ChaCha8Rng,
    flips: usize,
    updates: usize,
}

/// Draws `opts.samples` sequences from `model` (see [`SampleOptions`]).
pub(super) fn sample(model: &SparsePotts, opts: &SampleOptions) -> anyhow::Result<SampleRun> {
    let l = model.len();
    if opts.chains == 0 {
        return Err(crate::input_error("--chains 0: need at least one chain"));
    }
    if opts.thin == Some(0) {
        return Err(crate::input_error("--thin 0: must be at least 1"));
    }
    let t0 = Instant::now();
    let mut chains: Vec<ChainState> = (0..opts.chains)
        .map(|k| {
            let mut rng = rng_for(opts.seed, STREAM_CHAIN0 + k as u64);
            let x = model.random_state(&mut rng, false);
            ChainState {
                x,
                rng,
                flips: 0,
                updates: 0,
            }
        })
        .collect();

    // Burn-in, measuring τ on its second half. Automatic: double until the
    // second half is ≥ TAU_FACTOR·τ.
    let mut done = 0usize;
    let mut target = opts.burn_in.unwrap_or(MIN_BURN_IN);
    let (tau_energy, tau_overlap, window) = loop {
        let first = target / 2;
        // Sweeps `done..first` need no recording.
        let todo_first = first.saturating_sub(done);
        chains.par_iter_mut().for_each(|c| {
            for _ in 0..todo_first {
                c.flips += model.sweep(&mut c.x, &mut c.rng, false);
                c.updates += l;
            }
        });
        done = done.max(first);
        let n = target - done;
        let traces: Vec<(Vec<f64>, Vec<f64>)> = chains
            .par_iter_mut()
            .map(|c| {
                let reference = c.x.clone();
                let mut e = Vec::with_capacity(n);
                let mut o = Vec::with_capacity(n);
                for _ in 0..n {
                    c.flips += model.sweep(&mut c.x, &mut c.rng, false);
                    c.updates += l;
                    e.push(model.energy(&c.x));
                    o.push(
                        c.x.iter().zip(&reference).filter(|(a, b)| a == b).count() as f64
                            / l as f64,
                    );
                }
                (e, o)
            })
            .collect();
        done = target;
        let (e, o): (Vec<_>, Vec<_>) = traces.into_iter().unzip();
        let (te, _) = gibbs::integrated_autocorrelation_time(&e);
        let (to, _) = gibbs::integrated_autocorrelation_time(&o);
        let tau = te.max(to);
        if opts.burn_in.is_some() || (n as f64) >= TAU_FACTOR * tau || target >= MAX_BURN_IN {
            break (te, to, n);
        }
        target *= 2;
    };
    let burn_in = done;
    let tau = tau_energy.max(tau_overlap);
    let thin = opts
        .thin
        .unwrap_or_else(|| ((2.0 * tau).ceil().max(1.0) as usize).min(MAX_AUTO_THIN));
    let time_burn_in_s = t0.elapsed().as_secs_f64();

    // Sampling.
    let t1 = Instant::now();
    let per_chain: Vec<usize> = (0..opts.chains)
        .map(|k| opts.samples / opts.chains + usize::from(k < opts.samples % opts.chains))
        .collect();
    let outputs: Vec<ChainOutput> = chains
        .par_iter_mut()
        .zip(per_chain.par_iter())
        .map(|(c, &m)| {
            let mut seqs = Vec::with_capacity(m);
            let mut kept_e = Vec::with_capacity(m);
            let mut trace = Vec::with_capacity(m * thin);
            for _ in 0..m {
                for _ in 0..thin {
                    c.flips += model.sweep(&mut c.x, &mut c.rng, false);
                    c.updates += l;
                    trace.push(model.energy(&c.x));
                }
                seqs.push(c.x.clone());
                kept_e.push(*trace.last().unwrap_or(&0.0));
            }
            (seqs, kept_e, trace)
        })
        .collect();
    let time_sampling_s = t1.elapsed().as_secs_f64();

    // Query: a chain that never visits the gap state, same burn-in.
    let mut qrng = rng_for(opts.seed, STREAM_QUERY);
    let mut query = model.random_state(&mut qrng, true);
    for _ in 0..burn_in.max(1) {
        model.sweep(&mut query, &mut qrng, true);
    }

    let mut sequences = Vec::with_capacity(opts.samples);
    let mut chain_of = Vec::with_capacity(opts.samples);
    let mut kept_energies = Vec::new();
    let mut traces = Vec::new();
    for (k, (seqs, e, trace)) in outputs.into_iter().enumerate() {
        chain_of.extend(std::iter::repeat_n(k, seqs.len()));
        sequences.extend(seqs);
        kept_energies.push(e);
        traces.push(trace);
    }
    let (tau_energy_sampling, _) = gibbs::integrated_autocorrelation_time(&traces);
    let all_e: Vec<f64> = kept_energies.iter().flatten().copied().collect();
    let n_e = all_e.len().max(1) as f64;
    let energy_mean = all_e.iter().sum::<f64>() / n_e;
    let energy_std = (all_e.iter().map(|e| (e - energy_mean).powi(2)).sum::<f64>() / n_e).sqrt();
    let flips: usize = chains.iter().map(|c| c.flips).sum();
    let updates: usize = chains.iter().map(|c| c.updates).sum();
    let (gap_fraction, mean_site_entropy, mean_pairwise_identity) = diversity(&sequences, l);
    let stats = SamplerStats {
        chains: opts.chains,
        burn_in,
        burn_in_auto: opts.burn_in.is_none(),
        thin,
        thin_auto: opts.thin.is_none(),
        tau_energy,
        tau_overlap,
        tau_window_sweeps: window,
        tau_energy_sampling,
        effective_samples: sequences.len() as f64 / (2.0 * tau / thin as f64).max(1.0),
        flip_rate: flips as f64 / updates.max(1) as f64,
        energy_mean,
        energy_std,
        r_hat_energy: gibbs::gelman_rubin(&kept_energies),
        gap_fraction,
        mean_site_entropy,
        mean_pairwise_identity,
        sweeps_per_chain: burn_in + per_chain.iter().max().copied().unwrap_or(0) * thin,
        time_burn_in_s,
        time_sampling_s,
    };
    Ok(SampleRun {
        query,
        sequences,
        chain_of,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alignment::GAP;
    use crate::simulate::{Teacher, TeacherParams};

    fn teacher() -> Teacher {
        let params = TeacherParams {
            length: 10,
            heads: 2,
            ..TeacherParams::default()
        };
        Teacher::generate(&params, 2).unwrap()
    }

    fn options(seed: u64) -> SampleOptions {
        SampleOptions {
            samples: 23,
            chains: 4,
            burn_in: Some(20),
            thin: Some(2),
            seed,
        }
    }

    /// Runs `f` on a rayon pool of `threads` threads.
    fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn a_seed_gives_the_same_samples_on_any_number_of_threads() {
        let t = teacher();
        let one = with_threads(1, || t.sample(&options(7)).unwrap());
        let three = with_threads(3, || t.sample(&options(7)).unwrap());
        assert_eq!(one.query, three.query);
        assert_eq!(one.sequences, three.sequences);
        assert_eq!(one.chain_of, three.chain_of);
        let other = t.sample(&options(8)).unwrap();
        assert_ne!(one.sequences, other.sequences);
    }

    #[test]
    fn fixed_burn_in_and_thinning_are_kept_and_samples_split_over_chains() {
        let t = teacher();
        let run = t.sample(&options(1)).unwrap();
        let s = &run.stats;
        assert_eq!((s.burn_in, s.thin, s.chains), (20, 2, 4));
        assert!(!s.burn_in_auto && !s.thin_auto);
        // 23 samples over 4 chains: 6, 6, 6, 5; each chain 20 + 6·2 sweeps at most.
        assert_eq!(run.sequences.len(), 23);
        let per_chain: Vec<usize> = (0..4)
            .map(|k| run.chain_of.iter().filter(|&&c| c == k).count())
            .collect();
        assert_eq!(per_chain, [6, 6, 6, 5]);
        assert_eq!(s.sweeps_per_chain, 20 + 6 * 2);
        assert_eq!(s.tau_window_sweeps, 10, "τ is measured on the second half");
        assert!(run.query.iter().all(|&a| a != GAP));
        assert!(run.sequences.iter().all(|x| x.len() == 10));
        assert!((0.0..=1.0).contains(&s.flip_rate));
    }

    #[test]
    fn automatic_burn_in_is_long_against_tau() {
        let t = teacher();
        let opts = SampleOptions {
            burn_in: None,
            thin: None,
            ..options(3)
        };
        let s = t.sample(&opts).unwrap().stats;
        assert!(s.burn_in_auto && s.thin_auto);
        assert!(s.burn_in >= MIN_BURN_IN && s.burn_in <= MAX_BURN_IN);
        let tau = s.tau_energy.max(s.tau_overlap);
        assert!(s.tau_window_sweeps as f64 >= TAU_FACTOR * tau || s.burn_in == MAX_BURN_IN);
        assert!(s.thin >= 1 && s.thin <= MAX_AUTO_THIN);
    }

    #[test]
    fn no_chain_or_no_thinning_is_an_input_error() {
        let t = teacher();
        for opts in [
            SampleOptions {
                chains: 0,
                ..options(1)
            },
            SampleOptions {
                thin: Some(0),
                ..options(1)
            },
        ] {
            let err = t.sample(&opts).unwrap_err();
            assert!(crate::error::is_input_error(&err), "{err}");
        }
    }
}
