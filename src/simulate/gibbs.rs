//! Gibbs sampling of a sparse Potts model (the teacher's couplings as
//! per-site neighbour tables) and the autocorrelation analysis that chooses
//! burn-in and thinning.
use ndarray::{Array2, Array3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::Q;
use crate::alignment::GAP;

/// A Potts model stored for fast single-site updates: fields per site and,
/// per site, the list of coupled partners with the coupling table laid out as
/// `table[b * Q + a] = J_ij(a, b)` (so the 21 values needed for the
/// conditional of site `i` given `x_j = b` are contiguous).
#[derive(Debug, Clone)]
pub(crate) struct SparsePotts {
    /// `h_i(a)` per site.
    pub fields: Vec<[f64; Q]>,
    /// Per site `i`: each partner `j` with `J_ij ≠ 0` and its table.
    pub neighbours: Vec<Vec<(usize, Box<[f64; Q * Q]>)>>,
}

impl SparsePotts {
    /// The per-site neighbour tables of factored parameters: `fields` L×21,
    /// `attention` H×L×L, `values` H×21×21 (`J_ij = Σ_h A^h_ij V^h`, summed in
    /// `f32` as the dense couplings are).
    pub fn from_factored(
        fields: &Array2<f32>,
        attention: &Array3<f32>,
        values: &Array3<f32>,
    ) -> SparsePotts {
        let (nh, l) = (attention.shape()[0], fields.nrows());
        let mut neighbours = vec![Vec::new(); l];
        for (i, nb) in neighbours.iter_mut().enumerate() {
            for j in 0..l {
                if j == i || (0..nh).all(|h| attention[[h, i, j]] == 0.0) {
                    continue;
                }
                let mut table = Box::new([0f64; Q * Q]);
                for a in 0..Q {
                    for b in 0..Q {
                        // J_ij(a,b) in f32 arithmetic, exactly as couplings() computes it.
                        let mut v = 0f32;
                        for h in 0..nh {
                            v += attention[[h, i, j]] * values[[h, a, b]];
                        }
                        table[b * Q + a] = v as f64;
                    }
                }
                nb.push((j, table));
            }
        }
        let fields = (0..l)
            .map(|i| {
                let mut f = [0f64; Q];
                for (a, v) in f.iter_mut().enumerate() {
                    *v = fields[[i, a]] as f64;
                }
                f
            })
            .collect();
        SparsePotts { fields, neighbours }
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// `h_i(a) + Σ_j J_ij(a, x_j)` for all `a`.
    pub fn local_fields(&self, x: &[u8], i: usize) -> [f64; Q] {
        let mut logits = self.fields[i];
        for (j, table) in &self.neighbours[i] {
            let b = x[*j] as usize;
            let row = &table[b * Q..(b + 1) * Q];
            for (l, v) in logits.iter_mut().zip(row) {
                *l += *v;
            }
        }
        logits
    }

    /// Energy `−(Σ_i h_i(x_i) + Σ_{i<j} J_ij(x_i, x_j))`.
    pub fn energy(&self, x: &[u8]) -> f64 {
        let mut e = 0.0;
        for i in 0..self.len() {
            let a = x[i] as usize;
            e -= self.fields[i][a];
            for (j, table) in &self.neighbours[i] {
                if *j > i {
                    e -= table[x[*j] as usize * Q + a];
                }
            }
        }
        e
    }

    /// One systematic-scan Gibbs sweep (sites 0…L−1 in order, each redrawn
    /// from its exact conditional). With `forbid_gap` the gap state is
    /// excluded (sampling the model conditioned on having no gaps). Returns
    /// the number of sites whose state changed.
    pub fn sweep(&self, x: &mut [u8], rng: &mut ChaCha8Rng, forbid_gap: bool) -> usize {
        let mut flips = 0;
        for i in 0..self.len() {
            let mut w = self.local_fields(x, i);
            if forbid_gap {
                w[GAP as usize] = f64::NEG_INFINITY;
            }
            let max = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for v in w.iter_mut() {
                *v = (*v - max).exp();
                total += *v;
            }
            let mut u = rng.random::<f64>() * total;
            let mut new = Q - 1;
            for (a, v) in w.iter().enumerate() {
                if *v > 0.0 {
                    new = a;
                    if u < *v {
                        break;
                    }
                    u -= *v;
                }
            }
            if new as u8 != x[i] {
                flips += 1;
                x[i] = new as u8;
            }
        }
        flips
    }

    /// A uniformly random state (gap excluded when `forbid_gap`).
    pub fn random_state(&self, rng: &mut ChaCha8Rng, forbid_gap: bool) -> Vec<u8> {
        let n = if forbid_gap { Q - 1 } else { Q };
        (0..self.len())
            .map(|_| rng.random_range(0..n) as u8)
            .collect()
    }
}

/// Integrated autocorrelation time of one or more equally long series (one
/// per chain), pooled: the autocovariance at lag `t` is averaged over chains
/// (each centred on its own mean), `τ = 1 + 2 Σ_{t=1}^{W} ρ(t)` with Sokal's
/// automatic window: the smallest `W ≥ 5 τ(W)`. Returns `(τ, W)`; τ ≥ 1 for
/// any series with positive variance, 1 for constant series.
pub fn integrated_autocorrelation_time(series: &[Vec<f64>]) -> (f64, usize) {
    let n = series.iter().map(|s| s.len()).min().unwrap_or(0);
    if n < 4 || series.is_empty() {
        return (1.0, 0);
    }
    let centred: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            let m = s[..n].iter().sum::<f64>() / n as f64;
            s[..n].iter().map(|v| v - m).collect()
        })
        .collect();
    let cov = |t: usize| -> f64 {
        let mut c = 0.0;
        for s in &centred {
            c += s[..n - t]
                .iter()
                .zip(&s[t..])
                .map(|(a, b)| a * b)
                .sum::<f64>();
        }
        c / (centred.len() * (n - t)) as f64
    };
    let c0 = cov(0);
    if c0 <= 0.0 {
        return (1.0, 0);
    }
    let mut tau = 1.0;
    for t in 1..n / 2 {
        tau += 2.0 * cov(t) / c0;
        if t as f64 >= 5.0 * tau {
            return (tau.max(1.0), t);
        }
    }
    (tau.max(1.0), n / 2)
}

/// Gelman–Rubin potential scale reduction factor R̂ of a scalar over chains
/// (values near 1 mean the chains agree; > 1.1 signals poor mixing). `None`
/// with fewer than two chains or fewer than two values per chain.
pub fn gelman_rubin(chains: &[Vec<f64>]) -> Option<f64> {
    let n = chains.iter().map(|c| c.len()).min()?;
    if chains.len() < 2 || n < 2 {
        return None;
    }
    let m = chains.len() as f64;
    let nf = n as f64;
    let means: Vec<f64> = chains
        .iter()
        .map(|c| c[..n].iter().sum::<f64>() / nf)
        .collect();
    let grand = means.iter().sum::<f64>() / m;
    let b = nf / (m - 1.0) * means.iter().map(|x| (x - grand).powi(2)).sum::<f64>();
    let w = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c[..n].iter().map(|x| (x - mu).powi(2)).sum::<f64>() / (nf - 1.0))
        .sum::<f64>()
        / m;
    if w <= 0.0 {
        return Some(1.0);
    }
    let var = (nf - 1.0) / nf * w + b / nf;
    Some((var / w).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn tau_of_white_noise_is_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s: Vec<f64> = (0..20000).map(|_| rng.random::<f64>()).collect();
        let (tau, _) = integrated_autocorrelation_time(&[s]);
        assert!((tau - 1.0).abs() < 0.15, "tau = {tau}");
    }

    #[test]
    fn tau_of_ar1_matches_theory() {
        // AR(1) x_t = φ x_{t−1} + ε_t has τ = (1 + φ)/(1 − φ) = 9 for φ = 0.8.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let phi = 0.8;
        let series: Vec<Vec<f64>> = (0..4)
            .map(|_| {
                let mut x = 0.0;
                (0..50000)
                    .map(|_| {
                        x = phi * x + (rng.random::<f64>() - 0.5);
                        x
                    })
                    .collect()
            })
            .collect();
        let (tau, _) = integrated_autocorrelation_time(&series);
        assert!((tau - 9.0).abs() < 0.9, "tau = {tau}");
    }

    #[test]
    fn gelman_rubin_by_hand() {
        // Two chains with equal within-chain variance and different means.
        let a = vec![0.0, 2.0];
        let b = vec![2.0, 4.0];
        // means 1, 3; grand 2; B = 2/1 * (1 + 1) = 4; W = 2; var = 1/2*2 + 4/2 = 3.
        let r = gelman_rubin(&[a, b]).unwrap();
        assert!((r - (1.5f64).sqrt()).abs() < 1e-12);
        assert_eq!(gelman_rubin(&[vec![1.0, 2.0]]), None);
    }
}
