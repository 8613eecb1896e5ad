//! The numbers `simulate.json` reports about a teacher ([`TeacherSummary`])
//! and about a sample ([`diversity`]: gap fraction, site entropy, pairwise
//! identity).
use serde::Serialize;

use super::{Teacher, lattice};
use crate::Q;
use crate::alignment::GAP;

/// Gap fraction, mean site entropy (nats) and mean pairwise identity (over the
/// ≤ 500 sequences taken at a regular stride) of sequences of length `l`.
pub fn diversity(seqs: &[Vec<u8>], l: usize) -> (f64, f64, f64) {
    if seqs.is_empty() || l == 0 {
        return (0.0, 0.0, 0.0);
    }
    let n = seqs.len() as f64;
    let mut counts = vec![[0usize; Q]; l];
    let mut gaps = 0usize;
    for s in seqs {
        for (i, &a) in s.iter().enumerate() {
            counts[i][a as usize] += 1;
            gaps += usize::from(a == GAP);
        }
    }
    let entropy = counts
        .iter()
        .map(|c| {
            c.iter()
                .filter(|&&k| k > 0)
                .map(|&k| {
                    let p = k as f64 / n;
                    -p * p.ln()
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / l as f64;
    // ≤ 500 sequences spread evenly over the set (hence over the chains, not
    // consecutive samples of one chain).
    let stride = seqs.len().div_ceil(500);
    let sub: Vec<&Vec<u8>> = seqs.iter().step_by(stride).collect();
    let mut ident = 0.0;
    let mut pairs = 0usize;
    for a in 0..sub.len() {
        for b in (a + 1)..sub.len() {
            ident += sub[a]
                .iter()
                .zip(sub[b].iter())
                .filter(|(x, y)| x == y)
                .count() as f64
                / l as f64;
            pairs += 1;
        }
    }
    (
        gaps as f64 / (n * l as f64),
        entropy,
        if pairs > 0 { ident / pairs as f64 } else { 1.0 },
    )
}

/// Numbers that describe a teacher.
#[derive(Debug, Clone, Serialize)]
pub struct TeacherSummary {
    /// Number of planted contacts.
    pub contacts: usize,
    /// Planted contacts by SPEC §3 separation class: 6–11, 12–23, ≥ 24, and below 6.
    pub contacts_short: usize,
    /// Separation 12–23.
    pub contacts_medium: usize,
    /// Separation ≥ 24.
    pub contacts_long: usize,
    /// Separation below 6 (not in any scored class).
    pub contacts_local: usize,
    /// Radius of gyration of the chain (Å).
    pub radius_of_gyration: Option<f64>,
    /// Mean Frobenius norm of `J_ij` over planted contacts (20 amino-acid states).
    pub mean_contact_coupling_norm: f64,
}

impl Teacher {
    /// Summary numbers for the report.
    pub fn summary(&self) -> TeacherSummary {
        let sep = |lo: usize, hi: usize| {
            self.contacts
                .iter()
                .filter(|(i, j)| (lo..hi).contains(&(j - i)))
                .count()
        };
        let rg = self.coords.as_ref().map(|c| {
            let pts: Vec<[f64; 3]> = c
                .rows()
                .into_iter()
                .map(|r| [r[0] as f64, r[1] as f64, r[2] as f64])
                .collect();
            lattice::radius_of_gyration(&pts)
        });
        let mut norm = 0.0;
        for (i, nb) in self.sparse.neighbours.iter().enumerate() {
            for (j, t) in nb {
                if *j > i {
                    let mut s = 0.0;
                    for a in 0..Q - 1 {
                        for b in 0..Q - 1 {
                            s += t[b * Q + a].powi(2);
                        }
                    }
                    norm += s.sqrt();
                }
            }
        }
        TeacherSummary {
            contacts: self.contacts.len(),
            contacts_short: sep(6, 12),
            contacts_medium: sep(12, 24),
            contacts_long: sep(24, usize::MAX),
            contacts_local: sep(0, 6),
            radius_of_gyration: rg,
            mean_contact_coupling_norm: norm / self.contacts.len().max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diversity_by_hand() {
        // Site 0 conserved, sites 1 and 2 split 2:1; two gaps in nine sites.
        let seqs = vec![vec![0, 0, GAP], vec![0, 1, GAP], vec![0, 1, 1]];
        let (gaps, entropy, identity) = diversity(&seqs, 3);
        assert!((gaps - 2.0 / 9.0).abs() < 1e-12);
        let split = -(1.0f64 / 3.0 * (1.0f64 / 3.0).ln() + 2.0 / 3.0 * (2.0f64 / 3.0).ln());
        assert!((entropy - 2.0 * split / 3.0).abs() < 1e-12, "{entropy}");
        // Pairs share 2, 1 and 2 of 3 sites.
        assert!((identity - 5.0 / 9.0).abs() < 1e-12, "{identity}");
    }

    #[test]
    fn diversity_of_degenerate_sets() {
        assert_eq!(diversity(&[], 5), (0.0, 0.0, 0.0));
        assert_eq!(diversity(&[vec![3, 4]], 2), (0.0, 0.0, 1.0));
    }

    #[test]
    fn identity_uses_at_most_500_sequences_spread_evenly() {
        // 501 sequences: every second one (0, 2, …, 500) is used, all equal.
        let seqs: Vec<Vec<u8>> = (0..501).map(|k| vec![(k % 2) as u8]).collect();
        let (_, entropy, identity) = diversity(&seqs, 1);
        assert_eq!(identity, 1.0);
        assert!(entropy > 0.69, "the entropy uses every sequence: {entropy}");
    }

    #[test]
    fn summary_counts_contacts_by_separation() {
        let params = crate::simulate::TeacherParams {
            length: 12,
            heads: 2,
            ..Default::default()
        };
        let t = Teacher::generate(&params, 5).unwrap();
        let s = t.summary();
        assert_eq!(s.contacts, t.contacts().len());
        assert_eq!(
            s.contacts_local + s.contacts_short + s.contacts_medium + s.contacts_long,
            s.contacts
        );
        let local = t.contacts().iter().filter(|(i, j)| j - i < 6).count();
        assert_eq!(s.contacts_local, local);
        assert!(s.radius_of_gyration.is_some_and(|r| r > 0.0));
        assert!(s.mean_contact_coupling_norm > 0.0);
    }
}
