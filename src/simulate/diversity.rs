//! How diverse a set of sampled sequences is: gap fraction, site entropy,
//! pairwise identity (reported in `simulate.json`).
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
}
