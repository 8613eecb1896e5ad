//! A random compact chain on the face-centred cubic (FCC) lattice, the
//! geometry behind the planted contact map.
//!
//! The FCC lattice is used because every site has 12 nearest neighbours (like
//! the packing of residues in a protein core), so a compact walk has several
//! non-bonded neighbours per residue, and self-avoidance is exact and cheap to
//! check. Lattice vectors are scaled so that a bond (nearest-neighbour step)
//! is [`BOND_LENGTH`] = 3.8 Å, the Cα–Cα virtual bond of a protein.
use std::collections::HashSet;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Cα–Cα virtual bond length in Å; the FCC nearest-neighbour distance.
pub const BOND_LENGTH: f64 = 3.8;

/// The 12 FCC nearest-neighbour steps in integer coordinates (the lattice is
/// the set of integer points with an even coordinate sum).
const STEPS: [[i32; 3]; 12] = [
    [1, 1, 0],
    [1, -1, 0],
    [-1, 1, 0],
    [-1, -1, 0],
    [1, 0, 1],
    [1, 0, -1],
    [-1, 0, 1],
    [-1, 0, -1],
    [0, 1, 1],
    [0, 1, -1],
    [0, -1, 1],
    [0, -1, -1],
];

/// Integer lattice step length (√2) → Å.
fn scale() -> f64 {
    BOND_LENGTH / 2f64.sqrt()
}

fn add(a: [i32; 3], b: [i32; 3]) -> [i32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// Grows a self-avoiding walk of `n` residues biased towards compactness and
/// returns the coordinates in Å.
///
/// Growth is sequential: the next residue goes to a free neighbour site of the
/// chain end chosen with probability ∝ exp(`compactness` · (number of occupied
/// lattice neighbours of that site) − 0.1 · (squared distance, in lattice
/// units, from the centre of mass so far)). The first term rewards packing
/// against the existing chain, the second keeps the globule round instead of
/// a long, flat sheet. A walk that runs into a dead end is restarted (on the
/// FCC lattice this is rare). The result is a compact globule comparable to a
/// small protein.
pub fn compact_walk(n: usize, compactness: f64, rng: &mut ChaCha8Rng) -> Vec<[f64; 3]> {
    'restart: loop {
        let mut chain: Vec<[i32; 3]> = Vec::with_capacity(n);
        let mut occupied: HashSet<[i32; 3]> = HashSet::with_capacity(2 * n);
        let mut sum = [0f64; 3];
        if n > 0 {
            chain.push([0, 0, 0]);
            occupied.insert([0, 0, 0]);
        }
        while chain.len() < n {
            let end = chain[chain.len() - 1];
            let k = chain.len() as f64;
            let com = [sum[0] / k, sum[1] / k, sum[2] / k];
            let mut weights = [0f64; 12];
            let mut total = 0.0;
            for (w, step) in weights.iter_mut().zip(STEPS.iter()) {
                let site = add(end, *step);
                if occupied.contains(&site) {
                    continue;
                }
                let contacts = STEPS
                    .iter()
                    .filter(|s| occupied.contains(&add(site, **s)))
                    .count() as f64;
                let d2: f64 = (0..3).map(|d| (site[d] as f64 - com[d]).powi(2)).sum();
                *w = (compactness * contacts - 0.1 * d2).exp();
                total += *w;
            }
            if total <= 0.0 || !total.is_finite() {
                continue 'restart;
            }
            let mut u = rng.random::<f64>() * total;
            let mut chosen = 11;
            for (s, w) in weights.iter().enumerate() {
                if *w > 0.0 {
                    chosen = s;
                    if u < *w {
                        break;
                    }
                    u -= *w;
                }
            }
            let site = add(end, STEPS[chosen]);
            occupied.insert(site);
            for (d, s) in sum.iter_mut().enumerate() {
                *s += site[d] as f64;
            }
            chain.push(site);
        }
        let s = scale();
        return chain
            .iter()
            .map(|p| [p[0] as f64 * s, p[1] as f64 * s, p[2] as f64 * s])
            .collect();
    }
}

/// Euclidean distance between two points.
pub fn distance(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Radius of gyration in Å.
pub fn radius_of_gyration(coords: &[[f64; 3]]) -> f64 {
    if coords.is_empty() {
        return 0.0;
    }
    let n = coords.len() as f64;
    let mut c = [0f64; 3];
    for p in coords {
        for d in 0..3 {
            c[d] += p[d] / n;
        }
    }
    (coords.iter().map(|p| distance(p, &c).powi(2)).sum::<f64>() / n).sqrt()
}

/// Contact rule: pairs `i < j` (0-based) with `j − i ≥ min_separation` and
/// distance `< cutoff` Å.
pub fn contacts(coords: &[[f64; 3]], cutoff: f64, min_separation: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..coords.len() {
        for j in (i + min_separation.max(1))..coords.len() {
            if distance(&coords[i], &coords[j]) < cutoff {
                out.push((i, j));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn walk_is_self_avoiding_with_unit_bonds() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let c = compact_walk(80, 1.0, &mut rng);
        assert_eq!(c.len(), 80);
        for w in c.windows(2) {
            assert!((distance(&w[0], &w[1]) - BOND_LENGTH).abs() < 1e-9);
        }
        for i in 0..c.len() {
            for j in (i + 1)..c.len() {
                // Distinct FCC sites are at least one bond apart.
                assert!(distance(&c[i], &c[j]) > BOND_LENGTH - 1e-9);
            }
        }
    }

    #[test]
    fn walk_is_compact() {
        // A random (non-compact) walk of 80 bonds of 3.8 Å has Rg ≈ 3.8·√(80/6) ≈ 14 Å;
        // a compact globule of 80 residues is about 2.2·80^0.38 ≈ 11 Å (Flory-like fit
        // for proteins), and a lattice globule smaller still.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let c = compact_walk(80, 1.0, &mut rng);
        let rg = radius_of_gyration(&c);
        assert!(rg < 10.0, "Rg = {rg}");
    }

    #[test]
    fn contacts_by_hand() {
        let c = [
            [0.0, 0.0, 0.0],
            [3.8, 0.0, 0.0],
            [7.6, 0.0, 0.0],
            [3.8, 3.8, 0.0],
            [0.0, 3.8, 0.0],
        ];
        // Pairs at distance < 4: (0,1),(1,2),(1,3),(3,4),(0,4). Separation ≥ 3: (0,4) only... and (1,4)? d=5.37 no.
        assert_eq!(contacts(&c, 4.0, 3), vec![(0, 4)]);
        assert_eq!(
            contacts(&c, 4.0, 1),
            vec![(0, 1), (0, 4), (1, 2), (1, 3), (3, 4)]
        );
    }
}
