//! Protein structures (SPEC §3) and the known contacts they give: one chain
//! of a PDB or mmCIF file reduced to its observed amino-acid residues with
//! the heavy-atom coordinates that contact definitions need
//! ([`read_structure`], in `read`), the global alignment that maps them onto
//! the query ([`map_to_query`], in `mapping`), residue–residue distances
//! (here), and the native contacts a prediction is scored against
//! ([`native`]).
use std::path::PathBuf;

mod mapping;
pub mod native;
mod read;

pub use mapping::{ResidueMapping, map_to_query};
pub use native::{
    DEFAULT_CUTOFF, MIN_COVERAGE, MIN_IDENTITY, NativeContacts, NativeSource, load_native,
};
pub use read::{one_letter, parse_structure, read_structure};

/// File extensions of structures (each also with `.gz`), as `fadca batch`
/// recognises them in a family folder.
pub const EXTENSIONS: [&str; 4] = ["pdb", "cif", "mmcif", "ent"];

/// Which atoms define the distance between two residues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AtomSelection {
    /// Cβ–Cβ, Cα for glycine or when Cβ is missing (the default).
    #[default]
    Cb,
    /// Cα–Cα.
    Ca,
    /// Minimum distance over all heavy (non-hydrogen) atoms.
    Heavy,
}

/// One heavy atom of a residue.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureAtom {
    /// Atom name (`CA`, `CB`, `OG1`, …).
    pub name: String,
    /// Cartesian coordinates in Å.
    pub pos: [f64; 3],
}

/// One observed amino-acid residue of the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureResidue {
    /// Residue name as in the file (`ALA`, `MSE`, …).
    pub name: String,
    /// One-letter code (`MSE` → `M`).
    pub letter: u8,
    /// Residue sequence number in the file.
    pub number: isize,
    /// Insertion code, if any.
    pub insertion_code: Option<String>,
    /// Heavy atoms (the chosen alternate location).
    pub atoms: Vec<StructureAtom>,
}

impl StructureResidue {
    /// Coordinates of the atom called `name`, if present.
    pub fn atom(&self, name: &str) -> Option<[f64; 3]> {
        self.atoms.iter().find(|a| a.name == name).map(|a| a.pos)
    }

    /// The residue's representative point for Cα or Cβ distances: Cβ (Cα for
    /// glycine or a missing Cβ) for [`AtomSelection::Cb`], Cα for
    /// [`AtomSelection::Ca`]; `None` for `Heavy` (which uses all atoms).
    pub fn representative(&self, selection: AtomSelection) -> Option<[f64; 3]> {
        match selection {
            AtomSelection::Ca => self.atom("CA"),
            AtomSelection::Cb => {
                if self.letter == b'G' {
                    self.atom("CA")
                } else {
                    self.atom("CB").or_else(|| self.atom("CA"))
                }
            }
            AtomSelection::Heavy => None,
        }
    }

    /// Label such as `52A` (number plus insertion code).
    pub fn label(&self) -> String {
        format!(
            "{}{}",
            self.number,
            self.insertion_code.as_deref().unwrap_or("")
        )
    }
}

/// Euclidean distance.
fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Distance between two residues under `selection`; `None` when an atom is missing.
pub fn residue_distance(
    a: &StructureResidue,
    b: &StructureResidue,
    selection: AtomSelection,
) -> Option<f64> {
    match selection {
        AtomSelection::Heavy => {
            let mut best: Option<f64> = None;
            for x in &a.atoms {
                for y in &b.atoms {
                    let d = dist(x.pos, y.pos);
                    best = Some(best.map_or(d, |m: f64| m.min(d)));
                }
            }
            best
        }
        _ => Some(dist(
            a.representative(selection)?,
            b.representative(selection)?,
        )),
    }
}

/// The observed residues of one chain.
#[derive(Debug, Clone)]
pub struct ChainStructure {
    /// The file read.
    pub path: PathBuf,
    /// The chain identifier.
    pub chain: String,
    /// Observed residues in file order.
    pub residues: Vec<StructureResidue>,
}

impl ChainStructure {
    /// The observed sequence (one letter per residue).
    pub fn sequence(&self) -> String {
        self.residues.iter().map(|r| r.letter as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cb_falls_back_to_ca() {
        let r = |letter: u8, atoms: &[(&str, [f64; 3])]| StructureResidue {
            name: "X".into(),
            letter,
            number: 1,
            insertion_code: None,
            atoms: atoms
                .iter()
                .map(|(n, p)| StructureAtom {
                    name: n.to_string(),
                    pos: *p,
                })
                .collect(),
        };
        let gly = r(b'G', &[("CA", [0.0, 0.0, 0.0]), ("CB", [9.0, 9.0, 9.0])]);
        let ala = r(
            b'A',
            &[
                ("CA", [1.0, 0.0, 0.0]),
                ("CB", [3.0, 0.0, 0.0]),
                ("O", [0.5, 0.0, 0.0]),
            ],
        );
        let ala_no_cb = r(b'A', &[("CA", [0.0, 4.0, 0.0])]);
        assert_eq!(residue_distance(&gly, &ala, AtomSelection::Cb), Some(3.0));
        assert_eq!(residue_distance(&gly, &ala, AtomSelection::Ca), Some(1.0));
        assert_eq!(
            residue_distance(&gly, &ala_no_cb, AtomSelection::Cb),
            Some(4.0)
        );
        assert_eq!(
            residue_distance(&gly, &ala, AtomSelection::Heavy),
            Some(0.5)
        );
    }
}
