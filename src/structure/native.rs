//! The known contacts a prediction is scored against (SPEC §3): from a
//! structure mapped onto the query ([`super::map_to_query`]) or from a
//! contact list, as a [`NativeContacts`] map; [`load_native`] reads either
//! from a [`NativeSource`].
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{
    AtomSelection, ChainStructure, ResidueMapping, map_to_query, read_structure, residue_distance,
};
use crate::contacts::SeparationClass;
use crate::error::{InputError, input_error};

/// Default contact cutoff in Å (distance strictly below it is a contact).
pub const DEFAULT_CUTOFF: f64 = 8.0;
/// Minimum sequence identity (identical / aligned pairs) of the
/// structure-to-query mapping; below it scoring stops unless `--force-mapping`.
pub const MIN_IDENTITY: f64 = 0.9;
/// Minimum coverage (aligned pairs / residues of the shorter of query and
/// chain): with free end gaps a wrong chain can still align a few residues
/// perfectly, so identity alone does not catch it.
pub const MIN_COVERAGE: f64 = 0.5;

/// Which residue pairs are in contact, for the pairs whose answer is known.
#[derive(Debug, Clone)]
pub struct NativeContacts {
    /// Query length L.
    pub length: usize,
    /// Per query position (index 0 = residue 1): whether it has coordinates
    /// (or, for a contact list, always true).
    pub known: Vec<bool>,
    /// Distances in Å, L×L (0-based), NaN where unknown; `None` for a contact list.
    pub distances: Option<Array2<f64>>,
    /// Contact flags, L×L (0-based), symmetric; false where unknown.
    pub contact: Array2<bool>,
}

impl NativeContacts {
    /// Whether residues `i` and `j` (1-based) are in contact; `None` when unknown.
    pub fn is_contact(&self, i: usize, j: usize) -> Option<bool> {
        if i == 0 || j == 0 || i > self.length || j > self.length {
            return None;
        }
        if !(self.known[i - 1] && self.known[j - 1]) {
            return None;
        }
        if let Some(d) = &self.distances
            && d[[i - 1, j - 1]].is_nan()
        {
            return None;
        }
        Some(self.contact[[i - 1, j - 1]])
    }

    /// Number of known contacts `i < j` in a separation class.
    pub fn count(&self, class: SeparationClass) -> usize {
        let mut n = 0;
        for i in 1..=self.length {
            for j in i + 1..=self.length {
                if class.contains(j - i) && self.is_contact(i, j) == Some(true) {
                    n += 1;
                }
            }
        }
        n
    }

    /// Native contacts from a structure mapped onto the query: pairs of mapped
    /// residues at distance `< cutoff` under `atoms`.
    pub fn from_structure(
        structure: &ChainStructure,
        mapping: &ResidueMapping,
        atoms: AtomSelection,
        cutoff: f64,
    ) -> NativeContacts {
        let l = mapping.structure_index.len();
        let known: Vec<bool> = mapping
            .structure_index
            .iter()
            .map(Option::is_some)
            .collect();
        let mut distances = Array2::from_elem((l, l), f64::NAN);
        let mut contact = Array2::from_elem((l, l), false);
        for a in 0..l {
            let Some(ra) = mapping.structure_index[a] else {
                continue;
            };
            for b in a + 1..l {
                let Some(rb) = mapping.structure_index[b] else {
                    continue;
                };
                let (Some(x), Some(y)) = (structure.residues.get(ra), structure.residues.get(rb))
                else {
                    continue;
                };
                if let Some(d) = residue_distance(x, y, atoms) {
                    distances[[a, b]] = d;
                    distances[[b, a]] = d;
                    contact[[a, b]] = d < cutoff;
                    contact[[b, a]] = d < cutoff;
                }
            }
        }
        NativeContacts {
            length: l,
            known,
            distances: Some(distances),
            contact,
        }
    }

    /// Native contacts from a list file: `i j` per line (1-based; `#` starts a
    /// comment; further columns are ignored; a header line whose first word is
    /// `i` is skipped, as in the synthetic generator's `i j separation`). Listed
    /// pairs are contacts, every other pair is a known non-contact.
    pub fn from_list(path: &Path, length: usize) -> anyhow::Result<NativeContacts> {
        let text = crate::contacts::read_text(path)?;
        let mut contact = Array2::from_elem((length, length), false);
        let err = |line: usize, why: String| {
            anyhow::Error::from(InputError::in_file("contact list", path, why).at_line(line))
        };
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let line = raw.split('#').next().unwrap_or("").trim();
            let tokens: Vec<&str> = line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|t| !t.is_empty())
                .collect();
            if tokens.is_empty() || tokens[0] == "i" {
                continue;
            }
            let index = |k: usize, what: &str| -> anyhow::Result<usize> {
                let tok = tokens
                    .get(k)
                    .ok_or_else(|| err(line_no, format!("missing {what} (expected `i j`)")))?;
                let v: usize = tok
                    .parse()
                    .map_err(|_| err(line_no, format!("{what} {tok:?} is not a residue number")))?;
                if v == 0 || v > length {
                    return Err(err(
                        line_no,
                        format!("{what} {v} is outside the query (residues 1..{length})"),
                    ));
                }
                Ok(v)
            };
            let i = index(0, "residue i")?;
            let j = index(1, "residue j")?;
            if i == j {
                return Err(err(
                    line_no,
                    format!("pair {i} {j} pairs a residue with itself"),
                ));
            }
            contact[[i - 1, j - 1]] = true;
            contact[[j - 1, i - 1]] = true;
        }
        Ok(NativeContacts {
            length,
            known: vec![true; length],
            distances: None,
            contact,
        })
    }
}

/// Where the known contacts come from.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NativeSource {
    /// A PDB/mmCIF file.
    Structure {
        /// The structure file.
        path: PathBuf,
        /// Chain identifier; `None` = first chain with amino acids.
        chain: Option<String>,
        /// Atoms that define residue distances.
        atoms: AtomSelection,
        /// Contact cutoff in Å.
        cutoff: f64,
    },
    /// A contact list (`i j` per line).
    Contacts {
        /// The list file.
        path: PathBuf,
    },
}

impl NativeSource {
    /// The file the known contacts come from.
    pub fn path(&self) -> &Path {
        match self {
            NativeSource::Structure { path, .. } | NativeSource::Contacts { path } => path,
        }
    }
}

/// Loads the native contacts for a query: reads the structure, maps it onto
/// `query_sequence` (the query row over the kept columns, 1..L) and checks
/// the mapping (identity below [`MIN_IDENTITY`] or coverage below
/// [`MIN_COVERAGE`] is an input error unless `force_mapping`), or reads the
/// contact list. Returns the native contacts, the mapping (structures only)
/// and the source with the chain actually used filled in.
pub fn load_native(
    query_sequence: &str,
    source: &NativeSource,
    force_mapping: bool,
) -> anyhow::Result<(NativeContacts, Option<ResidueMapping>, NativeSource)> {
    match source {
        NativeSource::Contacts { path } => Ok((
            NativeContacts::from_list(path, query_sequence.len())?,
            None,
            source.clone(),
        )),
        NativeSource::Structure {
            path,
            chain,
            atoms,
            cutoff,
        } => {
            if !(cutoff.is_finite() && *cutoff > 0.0) {
                return Err(input_error(format!(
                    "--cutoff {cutoff}: must be a positive distance in Å"
                )));
            }
            let structure = read_structure(path, chain.as_deref())?;
            let mapping = map_to_query(query_sequence, &structure);
            if (mapping.identity < MIN_IDENTITY || mapping.coverage < MIN_COVERAGE)
                && !force_mapping
            {
                // The location names the chain, which `InputError` has no
                // field for, so it is written into the message.
                return Err(input_error(format!(
                    "structure {} chain {}: its {} observed residues align to the query with {:.1} % identity over {} aligned pairs, covering {:.1} % of the shorter sequence (at least {:.0} % identity and {:.0} % coverage needed); check --chain, or pass --force-mapping to score anyway",
                    path.display(),
                    structure.chain,
                    mapping.structure_residues,
                    100.0 * mapping.identity,
                    mapping.aligned,
                    100.0 * mapping.coverage,
                    100.0 * MIN_IDENTITY,
                    100.0 * MIN_COVERAGE
                )));
            }
            let native = NativeContacts::from_structure(&structure, &mapping, *atoms, *cutoff);
            let used = NativeSource::Structure {
                path: path.clone(),
                chain: Some(structure.chain.clone()),
                atoms: *atoms,
                cutoff: *cutoff,
            };
            Ok((native, Some(mapping), used))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_list_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contacts.tsv");
        std::fs::write(&path, "i j separation\n# comment\n1 10 9\n12 3 9 extra\n").unwrap();
        let n = NativeContacts::from_list(&path, 12).unwrap();
        assert_eq!(n.is_contact(1, 10), Some(true));
        assert_eq!(n.is_contact(3, 12), Some(true));
        assert_eq!(n.is_contact(2, 10), Some(false));
        assert_eq!(n.count(SeparationClass::All), 2);
        std::fs::write(&path, "1 10\n1 13\n").unwrap();
        let e = NativeContacts::from_list(&path, 12).unwrap_err();
        assert!(
            format!("{e:#}").contains("line 2") && crate::error::is_input_error(&e),
            "{e:#}"
        );
    }
}
