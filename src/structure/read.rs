//! Reading one chain of a PDB or mmCIF file (optionally gzipped) with
//! `pdbtbx` into a [`ChainStructure`].
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
use std::path::Path;

use super::{ChainStructure, StructureAtom, StructureResidue};
use crate::error::InputError;
use crate::io::read_bytes;

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
    let (format, format_name) = if looks_like_mmcif(text) {
        (pdbtbx::Format::Mmcif, "mmCIF")
    } else {
        (pdbtbx::Format::Pdb, "PDB")
    };
    let error = |message: String| InputError::in_file("structure", path, message);
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
        error(format!(
            "cannot read it as {format_name}: the file is malformed (the parser failed)"
        ))
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
            return Err(error(format!("cannot read it as {format_name}: {why}")).into());
        }
    };
    let model = pdb
        .models()
        .next()
        .ok_or_else(|| error("no atoms (no model)".into()))?;
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
            error(format!(
                "no chain {id:?} (chains with amino acids: {})",
                available()
            ))
        })?,
        None => chains
            .iter()
            .find(|(_, r)| !r.is_empty())
            .ok_or_else(|| error("no chain with amino-acid residues".into()))?,
    };
    if found.1.is_empty() {
        return Err(error(format!(
            "chain {:?} has no amino-acid residue with a CA atom",
            found.0
        ))
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
