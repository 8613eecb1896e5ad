//! Mapping a chain onto the query: an optimal global alignment of the
//! chain's observed residues with the query's residues, which says which
//! structure residue (if any) each query position is.
use bio::alignment::AlignmentOperation;
use bio::alignment::pairwise::{Aligner, Scoring};

use super::ChainStructure;

/// How the chain's residues map onto the query (1-based query positions).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResidueMapping {
    /// Query length L (alignment columns, gaps included).
    pub query_length: usize,
    /// Query residues that are not gaps.
    pub query_residues: usize,
    /// Observed residues of the chain.
    pub structure_residues: usize,
    /// Aligned pairs (query residue ↔ structure residue).
    pub aligned: usize,
    /// Aligned pairs with the same letter.
    pub identical: usize,
    /// `identical / aligned` (0 when nothing aligned).
    pub identity: f64,
    /// `aligned / min(query residues, structure residues)` (0 when either is empty).
    pub coverage: f64,
    /// Query positions 1..L without a structure residue (gaps included).
    pub unmapped: usize,
    /// For each query position 1..L (index 0 = position 1): the index into
    /// [`ChainStructure::residues`] it maps to.
    #[serde(skip)]
    pub structure_index: Vec<Option<usize>>,
}

/// Maps the structure onto the query by an optimal global alignment with
/// affine gaps and free end gaps (BLOSUM62, gap open 11 + 1 per residue; the
/// ends of either sequence can be left unaligned at no cost). Query positions
/// that are gaps (`-`/`.`) take no part and stay unmapped.
pub fn map_to_query(query_sequence: &str, structure: &ChainStructure) -> ResidueMapping {
    let query_positions: Vec<usize> = query_sequence
        .bytes()
        .enumerate()
        .filter(|(_, c)| c.is_ascii_alphabetic())
        .map(|(k, _)| k)
        .collect();
    let x: Vec<u8> = query_positions
        .iter()
        .map(|&k| query_sequence.as_bytes()[k].to_ascii_uppercase())
        .collect();
    let y: Vec<u8> = structure.residues.iter().map(|r| r.letter).collect();
    let mut structure_index = vec![None; query_sequence.len()];
    let (mut aligned, mut identical) = (0, 0);
    if !x.is_empty() && !y.is_empty() {
        let scoring = Scoring::new(-11, -1, |a: u8, b: u8| bio::scores::blosum62(a, b))
            .xclip(0)
            .yclip(0);
        let mut aligner = Aligner::with_capacity_and_scoring(x.len(), y.len(), scoring);
        let alignment = aligner.custom(&x, &y);
        let (mut xi, mut yi) = (0, 0);
        for op in &alignment.operations {
            match op {
                AlignmentOperation::Match | AlignmentOperation::Subst => {
                    structure_index[query_positions[xi]] = Some(yi);
                    aligned += 1;
                    if x[xi] == y[yi] {
                        identical += 1;
                    }
                    xi += 1;
                    yi += 1;
                }
                AlignmentOperation::Del => yi += 1,
                AlignmentOperation::Ins => xi += 1,
                AlignmentOperation::Xclip(n) => xi += n,
                AlignmentOperation::Yclip(n) => yi += n,
            }
        }
    }
    let mapped = structure_index.iter().filter(|m| m.is_some()).count();
    ResidueMapping {
        query_length: query_sequence.len(),
        query_residues: x.len(),
        structure_residues: y.len(),
        aligned,
        identical,
        identity: if aligned > 0 {
            identical as f64 / aligned as f64
        } else {
            0.0
        },
        coverage: if x.is_empty() || y.is_empty() {
            0.0
        } else {
            aligned as f64 / x.len().min(y.len()) as f64
        },
        unmapped: query_sequence.len() - mapped,
        structure_index,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::structure::StructureResidue;

    fn chain_of(seq: &str) -> ChainStructure {
        ChainStructure {
            path: PathBuf::from("x.pdb"),
            chain: "A".into(),
            residues: seq
                .bytes()
                .enumerate()
                .map(|(k, c)| StructureResidue {
                    name: "XXX".into(),
                    letter: c,
                    number: k as isize + 1,
                    insertion_code: None,
                    atoms: vec![],
                })
                .collect(),
        }
    }

    fn mapped(m: &ResidueMapping) -> Vec<Option<usize>> {
        m.structure_index.clone()
    }

    #[test]
    fn mapping_with_offset() {
        // Structure has 3 extra residues before and 2 after the query.
        let m = map_to_query("MKTAYIAKQR", &chain_of("GSHMKTAYIAKQRLE"));
        assert_eq!(mapped(&m), (3..13).map(Some).collect::<Vec<_>>());
        assert_eq!((m.aligned, m.identical, m.unmapped), (10, 10, 0));
        assert_eq!((m.identity, m.coverage), (1.0, 1.0));
    }

    #[test]
    fn mapping_with_deletion_and_insertion() {
        // Query residues 6-8 (WWW) are missing in the structure (disordered),
        // and the structure has an extra residue G between query 12 and 13.
        let query = "ACDEFWWWHIKLMNPQRSTV";
        let structure = "ACDEFHIKLGMNPQRSTV";
        let m = map_to_query(query, &chain_of(structure));
        let mut expected: Vec<Option<usize>> = vec![None; 20];
        for (k, slot) in expected.iter_mut().enumerate().take(5) {
            *slot = Some(k);
        }
        for (q, s) in (8..12).zip(5..9) {
            expected[q] = Some(s);
        }
        for (q, s) in (12..20).zip(10..18) {
            expected[q] = Some(s);
        }
        assert_eq!(mapped(&m), expected);
        assert_eq!((m.aligned, m.identical, m.unmapped), (17, 17, 3));
    }

    #[test]
    fn mapping_skips_query_gaps_and_counts_mismatches() {
        let m = map_to_query("AC-DEFGHIK", &chain_of("ACDEFAHIK"));
        assert_eq!(m.structure_index[2], None);
        assert_eq!(m.structure_index[3], Some(2));
        assert_eq!(m.structure_index[7], Some(6));
        assert_eq!(
            (m.aligned, m.identical, m.unmapped, m.query_residues),
            (9, 8, 1, 9)
        );
    }
}
