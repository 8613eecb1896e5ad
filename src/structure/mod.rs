//! Protein structures (SPEC §3): one chain of a PDB or mmCIF file (optionally
//! gzipped) read with `pdbtbx`, reduced to its observed amino-acid residues
//! with the heavy-atom coordinates that contact definitions need; the global
//! alignment that maps them onto the query; residue–residue distances.
//!
//! Conventions:
//! - only the first model is read; the chain is the one named by `--chain`, or
//!   else the first chain that has an amino-acid residue;
//! - a residue is *observed* when it is an amino acid (the 20 standard ones,
//!   plus a few modified residues read as their parent, e.g. HETATM `MSE` as
//!   `MET`) and has a Cα atom; residues are kept in file order, insertion codes
//!   included (`52`, `52A`, `53` are three residues);
//! - alternate locations: atoms without an altloc label are always kept; of the
//!   labelled alternatives the one with the highest mean occupancy is kept (the
//!   first one on ties); hydrogens are dropped;
//! - files are read with pdbtbx's loose strictness so that real files load; a
//!   file that still fails gives a one-line input error naming it.
use std::path::{Path, PathBuf};

use bio::alignment::AlignmentOperation;
use bio::alignment::pairwise::{Aligner, Scoring};

use crate::error::InputError;
use crate::io::read_bytes;

pub mod native;

pub use native::{
    DEFAULT_CUTOFF, MIN_COVERAGE, MIN_IDENTITY, NativeContacts, NativeSource, load_native,
};

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

/// One-letter code of an amino-acid residue name; a few common modified
/// residues map to their parent amino acid. `None` for anything else.
pub fn one_letter(name: &str) -> Option<u8> {
    Some(match name {
        "ALA" => b'A',
        "ARG" => b'R',
        "ASN" => b'N',
        "ASP" => b'D',
        "CYS" => b'C',
        "GLN" => b'Q',
        "GLU" => b'E',
        "GLY" => b'G',
        "HIS" => b'H',
        "ILE" => b'I',
        "LEU" => b'L',
        "LYS" => b'K',
        "MET" => b'M',
        "PHE" => b'F',
        "PRO" => b'P',
        "SER" => b'S',
        "THR" => b'T',
        "TRP" => b'W',
        "TYR" => b'Y',
        "VAL" => b'V',
        // Modified residues read as their parent amino acid.
        "MSE" => b'M',
        "SEP" => b'S',
        "TPO" => b'T',
        "PTR" => b'Y',
        "CSO" | "CSD" | "CME" | "CSS" => b'C',
        "MLY" | "M3L" | "KCX" => b'K',
        "HYP" => b'P',
        "HIC" => b'H',
        "SEC" => b'C',
        "UNK" => b'X',
        _ => return None,
    })
}

/// Reads the whole file, gunzipping it when it starts with the gzip magic
/// ([`crate::io::read_bytes`]).
fn read_structure_text(path: &Path) -> anyhow::Result<String> {
    let bytes = read_bytes(path, "structure ")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs `f` (a third-party parser) and turns a panic inside it into `None`,
/// without the panic message on stderr: bad input must give one error line,
/// never a panic (the default hook is restored afterwards).
fn without_panics<T>(f: impl FnOnce() -> T) -> Option<T> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.ok()
}

/// True when the text looks like mmCIF (a `data_` block or `_atom_site.` items).
fn looks_like_mmcif(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("data_"))
        || text.contains("\n_atom_site.")
}

/// Reads one chain of a PDB or mmCIF file (plain or gzipped; the format is
/// detected from content). `chain`: the chain identifier; by default the first
/// chain of the first model that has an amino-acid residue.
pub fn read_structure(path: &Path, chain: Option<&str>) -> anyhow::Result<ChainStructure> {
    let text = read_structure_text(path)?;
    parse_structure(&text, path, chain)
}

/// Parses the (decompressed) text of a PDB or mmCIF file as
/// [`read_structure`] does; `path` is only used in messages. Used by the
/// fuzz targets (fuzz/).
pub fn parse_structure(
    text: &str,
    path: &Path,
    chain: Option<&str>,
) -> anyhow::Result<ChainStructure> {
    let mmcif = looks_like_mmcif(text);
    let format = if mmcif {
        pdbtbx::Format::Mmcif
    } else {
        pdbtbx::Format::Pdb
    };
    // PDB and mmCIF are ASCII; pdbtbx 0.12 slices lines by byte offsets and
    // panics inside a multi-byte character (found by fuzzing), so any
    // non-ASCII character is replaced by '?' first.
    let ascii: std::borrow::Cow<str> = if text.is_ascii() {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(
            text.chars()
                .map(|c| if c.is_ascii() { c } else { '?' })
                .collect(),
        )
    };
    let result = without_panics(|| {
        pdbtbx::ReadOptions::new()
            .set_format(format)
            .set_level(pdbtbx::StrictnessLevel::Loose)
            .set_only_first_model(true)
            .set_discard_hydrogens(true)
            .read_raw(std::io::BufReader::new(ascii.as_bytes()))
    })
    .ok_or_else(|| {
        InputError::in_file(
            "structure",
            path,
            format!(
                "cannot read it as {}: the file is malformed (the parser failed)",
                if mmcif { "mmCIF" } else { "PDB" }
            ),
        )
    })?;
    let pdb = match result {
        Ok((pdb, _warnings)) => pdb,
        Err(errors) => {
            let first = errors
                .iter()
                .find(|e| e.fails(pdbtbx::StrictnessLevel::Loose))
                .or(errors.first());
            let why = first.map_or_else(
                || "unreadable".to_string(),
                |e| {
                    format!("{}: {}", e.short_description(), e.long_description())
                        .replace('\n', " ")
                },
            );
            return Err(InputError::in_file(
                "structure",
                path,
                format!(
                    "cannot read it as {}: {why}",
                    if mmcif { "mmCIF" } else { "PDB" }
                ),
            )
            .into());
        }
    };
    let model = pdb
        .models()
        .next()
        .ok_or_else(|| InputError::in_file("structure", path, "no atoms (no model)"))?;
    let chains: Vec<(String, Vec<StructureResidue>)> = model
        .chains()
        .map(|c| {
            (
                c.id().to_string(),
                c.residues().filter_map(observed_residue).collect(),
            )
        })
        .collect();
    let available = || {
        chains
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match chain {
        Some(id) => chains.iter().find(|(c, _)| c == id).ok_or_else(|| {
            InputError::in_file(
                "structure",
                path,
                format!("no chain {id:?} (chains with amino acids: {})", available()),
            )
        })?,
        None => chains.iter().find(|(_, r)| !r.is_empty()).ok_or_else(|| {
            InputError::in_file("structure", path, "no chain with amino-acid residues")
        })?,
    };
    if found.1.is_empty() {
        return Err(InputError::in_file(
            "structure",
            path,
            format!(
                "chain {:?} has no amino-acid residue with a CA atom",
                found.0
            ),
        )
        .into());
    }
    Ok(ChainStructure {
        path: path.to_path_buf(),
        chain: found.0.clone(),
        residues: found.1.clone(),
    })
}

/// The residue's chosen conformer as a [`StructureResidue`], or `None` when it
/// is not an observed amino acid.
fn observed_residue(residue: &pdbtbx::Residue) -> Option<StructureResidue> {
    // Alternatives labelled A, B, …: pick the highest mean occupancy.
    let mut best: Option<(&str, f64)> = None;
    for conformer in residue.conformers() {
        if let Some(alt) = conformer.alternative_location() {
            let n = conformer.atom_count().max(1) as f64;
            let occupancy = conformer.atoms().map(|a| a.occupancy()).sum::<f64>() / n;
            if best.is_none_or(|(_, o)| occupancy > o) {
                best = Some((alt, occupancy));
            }
        }
    }
    let chosen_alt = best.map(|(alt, _)| alt);
    let kept: Vec<&pdbtbx::Conformer> = residue
        .conformers()
        .filter(|c| c.alternative_location().is_none() || c.alternative_location() == chosen_alt)
        .collect();
    // The residue name: that of the chosen alternative (point mutations can
    // differ between alternatives), else of the unlabelled atoms.
    let name = kept
        .iter()
        .find(|c| c.alternative_location().is_some())
        .or(kept.first())
        .map(|c| c.name().to_string())?;
    let letter = one_letter(&name)?;
    let mut atoms: Vec<StructureAtom> = Vec::new();
    for conformer in &kept {
        for atom in conformer.atoms() {
            let hydrogen = matches!(atom.element(), Some(pdbtbx::Element::H))
                || (atom.element().is_none() && atom.name().starts_with('H'));
            if hydrogen || atoms.iter().any(|a| a.name == atom.name()) {
                continue;
            }
            let (x, y, z) = atom.pos();
            atoms.push(StructureAtom {
                name: atom.name().to_string(),
                pos: [x, y, z],
            });
        }
    }
    atoms
        .iter()
        .any(|a| a.name == "CA")
        .then(|| StructureResidue {
            name,
            letter,
            number: residue.serial_number(),
            insertion_code: residue.insertion_code().map(str::to_string),
            atoms,
        })
}

// ---------------------------------------------------------------- mapping

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
    use super::*;

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
        for k in 0..5 {
            expected[k] = Some(k);
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
