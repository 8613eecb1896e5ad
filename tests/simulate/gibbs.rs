//! The Gibbs sampler against exact enumeration: a 3-site, 21-state teacher has
//! 21³ = 9261 states, so its marginals can be computed exactly and compared
//! with the frequencies of many samples.
use fadca::Q;
use fadca::simulate::{SampleOptions, Teacher};
use ndarray::{Array2, Array3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const L: usize = 3;

/// A fully coupled 3-site teacher with 2 heads, couplings of order 1 (strong
/// enough that pair frequencies differ clearly from products of single-site
/// ones) and fields in [−1, 1] (gap included) so that every state has
/// non-negligible probability.
fn tiny_teacher() -> Teacher {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut u = || 2.0 * rng.random::<f32>() - 1.0;
    let fields = Array2::from_shape_fn((L, Q), |_| u());
    let mut attention = Array3::<f32>::zeros((2, L, L));
    for (h, i, j, w) in [
        (0, 0, 1, 1.0),
        (0, 1, 2, 0.5),
        (1, 0, 2, 0.8),
        (1, 1, 2, 0.7),
    ] {
        attention[[h, i, j]] = w;
        attention[[h, j, i]] = w;
    }
    let mut values = Array3::<f32>::zeros((2, Q, Q));
    for h in 0..2 {
        for a in 0..Q {
            for b in a..Q {
                let v = 1.5 * u();
                values[[h, a, b]] = v;
                values[[h, b, a]] = v;
            }
        }
    }
    Teacher::from_parts(fields, attention, values).unwrap()
}

/// Exact probabilities of all 9261 states, from `fields` and `couplings()`
/// (independent of the sampler's own tables).
fn exact_distribution(t: &Teacher) -> Vec<f64> {
    let j = t.couplings();
    let h = t.fields();
    let mut logw = Vec::with_capacity(Q * Q * Q);
    for a in 0..Q {
        for b in 0..Q {
            for c in 0..Q {
                let s = h[[0, a]] as f64
                    + h[[1, b]] as f64
                    + h[[2, c]] as f64
                    + j[[0, 1, a, b]] as f64
                    + j[[0, 2, a, c]] as f64
                    + j[[1, 2, b, c]] as f64;
                logw.push(s);
            }
        }
    }
    let max = logw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logw.iter().map(|v| (v - max).exp()).collect();
    let z: f64 = w.iter().sum();
    w.into_iter().map(|v| v / z).collect()
}

fn index(x: &[u8]) -> usize {
    (x[0] as usize * Q + x[1] as usize) * Q + x[2] as usize
}

#[test]
fn simulate_energy_and_conditionals_match_enumeration() {
    let t = tiny_teacher();
    let p = exact_distribution(&t);
    // P(x) ∝ exp(−E(x)): ratios of probabilities are exp of energy differences.
    let x0 = [3u8, 7, 20];
    let x1 = [0u8, 19, 5];
    let lhs = (p[index(&x0)] / p[index(&x1)]).ln();
    let rhs = t.energy(&x1) - t.energy(&x0);
    assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    // Conditionals: P(x_1 = a | x_0, x_2) from the joint.
    let lp = t.conditional_log_probs(&x0, 1);
    let norm: f64 = (0..Q).map(|a| p[index(&[x0[0], a as u8, x0[2]])]).sum();
    for a in 0..Q {
        let exact = (p[index(&[x0[0], a as u8, x0[2]])] / norm).ln();
        assert!(
            (lp[a] - exact).abs() < 1e-4,
            "state {a}: {} vs {exact}",
            lp[a]
        );
    }
}

/// Sample frequencies against exact single-site and pair marginals.
///
/// Tolerance: with N samples that are (after thinning at ≥ 2τ) close to
/// independent, a frequency estimate of a cell with probability p has standard
/// deviation σ = √(p(1−p)/N_eff). We take N_eff = N/2 (a factor-2 allowance
/// for residual autocorrelation) and require every one of the 3·21 + 3·441 =
/// 1386 cells to be within 5σ + 1e-5 (the 1e-5 covers the f32 storage of
/// parameters). For independent Gaussian errors a 5σ excursion has probability
/// 5.7e-7, so a correct sampler fails with probability < 1e-3 (and the test is
/// seeded, so it is deterministic). The same bound is then shown to *reject*
/// the product of exact single-site marginals as a pair distribution, i.e. the
/// test has the power to see the couplings.
#[test]
fn simulate_gibbs_matches_exact_marginals() {
    let t = tiny_teacher();
    let p = exact_distribution(&t);
    let n = 200_000;
    let run = t
        .sample(&SampleOptions {
            samples: n,
            chains: 8,
            burn_in: None,
            thin: None,
            seed: 5,
        })
        .unwrap();
    assert_eq!(run.sequences.len(), n);
    assert!(run.stats.thin as f64 >= 2.0 * run.stats.tau_energy.max(run.stats.tau_overlap) - 1e-9);
    let n_eff = n as f64 / 2.0;
    let z_of = |freq: f64, exact: f64| {
        (freq - exact).abs() / ((exact * (1.0 - exact) / n_eff).sqrt() + 1e-12)
    };

    // Exact marginals.
    let mut single = [[0f64; Q]; L];
    let mut pair = vec![vec![0f64; Q * Q]; 3]; // pairs (0,1), (0,2), (1,2)
    let pairs = [(0usize, 1usize), (0, 2), (1, 2)];
    for a in 0..Q {
        for b in 0..Q {
            for c in 0..Q {
                let x = [a, b, c];
                let pr = p[index(&[a as u8, b as u8, c as u8])];
                for i in 0..L {
                    single[i][x[i]] += pr;
                }
                for (k, &(i, j)) in pairs.iter().enumerate() {
                    pair[k][x[i] * Q + x[j]] += pr;
                }
            }
        }
    }
    // Sample frequencies.
    let mut fs = [[0f64; Q]; L];
    let mut fp = vec![vec![0f64; Q * Q]; 3];
    for s in &run.sequences {
        for i in 0..L {
            fs[i][s[i] as usize] += 1.0 / n as f64;
        }
        for (k, &(i, j)) in pairs.iter().enumerate() {
            fp[k][s[i] as usize * Q + s[j] as usize] += 1.0 / n as f64;
        }
    }
    let tol = |exact: f64| 5.0 * (exact * (1.0 - exact) / n_eff).sqrt() + 1e-5;
    let mut worst_z: f64 = 0.0;
    for i in 0..L {
        for a in 0..Q {
            assert!(
                (fs[i][a] - single[i][a]).abs() <= tol(single[i][a]),
                "site {i} state {a}: {} vs {}",
                fs[i][a],
                single[i][a]
            );
            worst_z = worst_z.max(z_of(fs[i][a], single[i][a]));
        }
    }
    for k in 0..3 {
        for c in 0..Q * Q {
            assert!(
                (fp[k][c] - pair[k][c]).abs() <= tol(pair[k][c]),
                "pair {:?} cell {c}: {} vs {}",
                pairs[k],
                fp[k][c],
                pair[k][c]
            );
            worst_z = worst_z.max(z_of(fp[k][c], pair[k][c]));
        }
    }
    // Power: the product of exact single-site marginals is far outside the bound.
    let mut product_z: f64 = 0.0;
    for (k, &(i, j)) in pairs.iter().enumerate() {
        for a in 0..Q {
            for b in 0..Q {
                product_z = product_z.max(z_of(single[i][a] * single[j][b], pair[k][a * Q + b]));
            }
        }
    }
    eprintln!(
        "worst z of sampled frequencies {worst_z:.2}, z of the independent-site product {product_z:.1}"
    );
    assert!(
        product_z > 20.0,
        "couplings too weak for the test to have power: {product_z}"
    );
    assert!(worst_z < 5.0, "worst z {worst_z}");
}
