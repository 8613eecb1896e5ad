//! Scoring predicted contacts against known ones (SPEC §3): the native contact
//! map (from a structure or a contact list), the precision table, the JSON
//! report and the plot.
//!
//! Precision at top-k for a separation class: the prediction's pairs of that
//! class whose two residues both have a known distance, in rank order
//! (descending score, ties by `i` then `j`); the first `k` of them; the fraction
//! of those in contact. `k = max(1, floor(L / x))` for x = 1, 2, 5, 10 with L the
//! query length. When fewer than `k` pairs qualify, the fraction is over those
//! there are; when none qualify the precision is `null`.
use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::ser::SerializeMap;

use crate::input_error;
use crate::output::contact_files::{Prediction, ScoredPair, rank_order};
use crate::structure::{
    AtomSelection, ResidueMapping, map_to_query, read_structure, residue_distance,
};

/// Default contact cutoff in Å (distance strictly below it is a contact).
pub const DEFAULT_CUTOFF: f64 = 8.0;
/// Minimum sequence identity (identical / aligned pairs) of the
/// structure-to-query mapping; below it scoring stops unless `--force-mapping`.
pub const MIN_IDENTITY: f64 = 0.9;
/// Minimum coverage (aligned pairs / residues of the shorter of query and
/// chain): with free end gaps a wrong chain can still align a few residues
/// perfectly, so identity alone does not catch it.
pub const MIN_COVERAGE: f64 = 0.5;

/// Sequence-separation classes of SPEC §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeparationClass {
    /// |i − j| ≥ 6.
    All,
    /// 6 ≤ |i − j| ≤ 11.
    Short,
    /// 12 ≤ |i − j| ≤ 23.
    Medium,
    /// |i − j| ≥ 24.
    Long,
}

impl SeparationClass {
    /// The four classes in report order.
    pub const ALL: [SeparationClass; 4] = [
        SeparationClass::All,
        SeparationClass::Short,
        SeparationClass::Medium,
        SeparationClass::Long,
    ];

    /// Smallest and (if bounded) largest separation of the class.
    pub fn range(self) -> (usize, Option<usize>) {
        match self {
            SeparationClass::All => (6, None),
            SeparationClass::Short => (6, Some(11)),
            SeparationClass::Medium => (12, Some(23)),
            SeparationClass::Long => (24, None),
        }
    }

    /// True when separation `sep` belongs to the class.
    pub fn contains(self, sep: usize) -> bool {
        let (lo, hi) = self.range();
        sep >= lo && hi.is_none_or(|h| sep <= h)
    }

    /// Lowercase name (`all`, `short`, `medium`, `long`).
    pub fn name(self) -> &'static str {
        match self {
            SeparationClass::All => "all",
            SeparationClass::Short => "short",
            SeparationClass::Medium => "medium",
            SeparationClass::Long => "long",
        }
    }
}

/// The divisors x of "top L/x" and their labels.
pub const TOP_DIVISORS: [(usize, &str); 4] = [(1, "L"), (2, "L/2"), (5, "L/5"), (10, "L/10")];

/// `k = max(1, floor(L / x))`.
pub fn top_k(length: usize, divisor: usize) -> usize {
    (length / divisor).max(1)
}

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
        structure: &crate::structure::ChainStructure,
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
        let text = crate::output::contact_files::read_text(path)?;
        let mut contact = Array2::from_elem((length, length), false);
        let err = |line: usize, why: String| {
            input_error(format!(
                "contact list {}, line {line}: {why}",
                path.display()
            ))
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

/// One cell of the precision table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PrecisionCell {
    /// Separation class.
    pub class: SeparationClass,
    /// `L`, `L/2`, `L/5` or `L/10`.
    pub top: &'static str,
    /// Number of pairs asked for, `max(1, floor(L/x))`.
    pub k: usize,
    /// Pairs actually evaluated (fewer than `k` when the class has fewer known pairs).
    pub evaluated: usize,
    /// Of those, pairs in contact.
    pub correct: usize,
    /// `correct / evaluated`, `None` when nothing was evaluated.
    pub precision: Option<f64>,
}

/// Precision at top L, L/2, L/5, L/10 for the four separation classes.
/// Serialises as `{class: {top: precision}}` (e.g. `precision.long["L/5"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionTable {
    /// Query length L.
    pub length: usize,
    /// Cells, class-major in [`SeparationClass::ALL`] × [`TOP_DIVISORS`] order.
    pub cells: Vec<PrecisionCell>,
}

impl serde::Serialize for PrecisionTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut outer = serializer.serialize_map(Some(SeparationClass::ALL.len()))?;
        for class in SeparationClass::ALL {
            let inner: serde_json::Map<String, serde_json::Value> = self
                .cells
                .iter()
                .filter(|c| c.class == class)
                .map(|c| (c.top.to_string(), serde_json::json!(c.precision)))
                .collect();
            outer.serialize_entry(class.name(), &inner)?;
        }
        outer.end()
    }
}

impl PrecisionTable {
    /// Precision of one cell (`top` is `"L"`, `"L/2"`, `"L/5"` or `"L/10"`).
    pub fn get(&self, class: SeparationClass, top: &str) -> Option<f64> {
        self.cells
            .iter()
            .find(|c| c.class == class && c.top == top)
            .and_then(|c| c.precision)
    }

    /// A small text table for the terminal.
    pub fn render(&self) -> String {
        let mut out = format!(
            "precision (L = {}; top-k pairs with both residues mapped)\n{:<8}{:<8}",
            self.length, "class", "sep"
        );
        for (_, label) in TOP_DIVISORS {
            out.push_str(&format!("{:>10}", format!("top-{label}")));
        }
        out.push('\n');
        for class in SeparationClass::ALL {
            let sep = match class.range() {
                (lo, Some(hi)) => format!("{lo}-{hi}"),
                (lo, None) => format!(">={lo}"),
            };
            out.push_str(&format!("{:<8}{:<8}", class.name(), sep));
            for (_, label) in TOP_DIVISORS {
                let v = self
                    .get(class, label)
                    .map_or_else(|| "-".to_string(), |p| format!("{p:.3}"));
                out.push_str(&format!("{v:>9}"));
            }
            out.push('\n');
        }
        out
    }
}

/// Computes the precision table of `prediction` against `native`
/// (L = `native.length`).
pub fn precision_table(prediction: &Prediction, native: &NativeContacts) -> PrecisionTable {
    let length = native.length;
    let kmax = top_k(length, 1);
    let mut ranked: Vec<ScoredPair> = prediction.pairs.clone();
    ranked.sort_by(rank_order);
    let mut cells = Vec::new();
    for class in SeparationClass::ALL {
        // The best kmax known pairs of the class, with their contact flags.
        let flags: Vec<bool> = ranked
            .iter()
            .filter(|p| p.i < p.j && class.contains(p.j - p.i))
            .filter_map(|p| native.is_contact(p.i, p.j))
            .take(kmax)
            .collect();
        for (divisor, label) in TOP_DIVISORS {
            let k = top_k(length, divisor);
            let taken = &flags[..k.min(flags.len())];
            let correct = taken.iter().filter(|&&c| c).count();
            cells.push(PrecisionCell {
                class,
                top: label,
                k,
                evaluated: taken.len(),
                correct,
                precision: (!taken.is_empty()).then(|| correct as f64 / taken.len() as f64),
            });
        }
    }
    PrecisionTable { length, cells }
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

/// Counts of known native contacts per separation class.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NativeCounts {
    /// Known pairs in contact with separation ≥ 6.
    pub all: usize,
    /// … 6–11.
    pub short: usize,
    /// … 12–23.
    pub medium: usize,
    /// … ≥ 24.
    pub long: usize,
}

/// The result of scoring a prediction (what `score.json` holds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScoreReport {
    /// Extra entries for the JSON (e.g. `prediction`, `msa` paths), written first.
    #[serde(flatten)]
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Query length L.
    #[serde(rename = "L")]
    pub length: usize,
    /// Where the known contacts came from (the chain actually used is filled in).
    pub native_source: NativeSource,
    /// Structure-to-query mapping statistics (structures only).
    pub mapping: Option<ResidueMapping>,
    /// Number of known native contacts per class.
    pub native_contacts: NativeCounts,
    /// `precision.<class>.<top>`.
    pub precision: PrecisionTable,
    /// The same with k, pairs evaluated and pairs correct.
    pub precision_details: Vec<PrecisionCell>,
    /// The native map (for the plot).
    #[serde(skip)]
    pub native: NativeContacts,
}

/// Loads the native contacts for a query: reads the structure, maps it onto
/// `query_sequence` (the query row over the kept columns, 1..L), checks the
/// identity (below [`MIN_IDENTITY`] is an input error unless `force_mapping`),
/// or reads the contact list. Returns the source with the chain filled in.
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

/// Scores `prediction` (numbered 1..L along `query_sequence`) against a
/// structure or contact list. The library entry point `predict` and `score` share.
pub fn score_against_structure(
    query_sequence: &str,
    prediction: &Prediction,
    source: &NativeSource,
    force_mapping: bool,
) -> anyhow::Result<ScoreReport> {
    let length = query_sequence.len();
    if prediction.length != length {
        return Err(input_error(format!(
            "the prediction covers {} residues but the query has {length}",
            prediction.length
        )));
    }
    let (native, mapping, used) = load_native(query_sequence, source, force_mapping)?;
    Ok(score_with_native(prediction, native, mapping, used))
}

/// Builds the report from an already loaded native map.
pub fn score_with_native(
    prediction: &Prediction,
    native: NativeContacts,
    mapping: Option<ResidueMapping>,
    source: NativeSource,
) -> ScoreReport {
    let precision = precision_table(prediction, &native);
    ScoreReport {
        inputs: serde_json::Map::new(),
        length: native.length,
        native_source: source,
        mapping,
        native_contacts: NativeCounts {
            all: native.count(SeparationClass::All),
            short: native.count(SeparationClass::Short),
            medium: native.count(SeparationClass::Medium),
            long: native.count(SeparationClass::Long),
        },
        precision_details: precision.cells.clone(),
        precision,
        native,
    }
}

impl ScoreReport {
    /// Mapping line(s) and the precision table, for the terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(m) = &self.mapping {
            out.push_str(&format!(
                "mapping: {} of {} query positions mapped to {} observed residues ({:.1} % identity over {} aligned), {} unmapped\n",
                m.query_length - m.unmapped,
                m.query_length,
                m.structure_residues,
                100.0 * m.identity,
                m.aligned,
                m.unmapped
            ));
        }
        out.push_str(&format!(
            "native contacts: {} (short {}, medium {}, long {})\n",
            self.native_contacts.all,
            self.native_contacts.short,
            self.native_contacts.medium,
            self.native_contacts.long
        ));
        out.push_str(&self.precision.render());
        out
    }
}

/// Writes `score.json` (the report) and `contact_map.png` (native map and the
/// top-L predictions) into `dir` (created if needed).
pub fn write_score_outputs(
    dir: &Path,
    report: &ScoreReport,
    prediction: &Prediction,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        input_error(format!(
            "cannot create output folder {}: {e}",
            dir.display()
        ))
    })?;
    crate::output::write_atomic(&dir.join("score.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, report)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    crate::output::png::write_contact_map(
        &dir.join("contact_map.png"),
        prediction,
        &report.native,
        report.precision.get(SeparationClass::All, "L"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(i: usize, j: usize, score: f64) -> ScoredPair {
        ScoredPair { i, j, score }
    }

    /// L = 30; contacts (all known): (1,10) (1,20) (2,40?) ...
    fn native_30(contacts: &[(usize, usize)]) -> NativeContacts {
        let l = 30;
        let mut contact = Array2::from_elem((l, l), false);
        for &(i, j) in contacts {
            contact[[i - 1, j - 1]] = true;
            contact[[j - 1, i - 1]] = true;
        }
        NativeContacts {
            length: l,
            known: vec![true; l],
            distances: None,
            contact,
        }
    }

    #[test]
    fn k_values() {
        assert_eq!(top_k(30, 1), 30);
        assert_eq!(top_k(30, 2), 15);
        assert_eq!(top_k(30, 5), 6);
        assert_eq!(top_k(30, 10), 3);
        assert_eq!(top_k(7, 10), 1);
    }

    #[test]
    fn hand_computed_precision() {
        // Contacts: (1,8) short, (2,20) medium, (1,30) long, (3,28) long.
        let native = native_30(&[(1, 8), (2, 20), (1, 30), (3, 28)]);
        let prediction = Prediction {
            length: 30,
            pairs: vec![
                pair(1, 30, 9.0),  // long, TP
                pair(1, 2, 8.5),   // separation 1: no class
                pair(4, 29, 8.0),  // long, FP
                pair(1, 8, 7.0),   // short, TP
                pair(2, 20, 7.0),  // medium, TP (tie with (1,8): i=1 first)
                pair(5, 15, 6.0),  // short (10), FP
                pair(3, 28, 5.0),  // long, TP
                pair(6, 30, 4.0),  // long, FP
                pair(10, 12, 3.0), // separation 2: no class
            ],
        };
        let t = precision_table(&prediction, &native);
        // all: ranked (1,30)T (4,29)F (1,8)T (2,20)T (5,15)F (3,28)T (6,30)F
        // top-3 (L/10): T F T = 2/3; top-6 (L/5): 4/6; L/2=15 and L=30: 4/7.
        assert_eq!(t.get(SeparationClass::All, "L/10"), Some(2.0 / 3.0));
        assert_eq!(t.get(SeparationClass::All, "L/5"), Some(4.0 / 6.0));
        assert_eq!(t.get(SeparationClass::All, "L/2"), Some(4.0 / 7.0));
        assert_eq!(t.get(SeparationClass::All, "L"), Some(4.0 / 7.0));
        // long: (1,30)T (4,29)F (3,28)T (6,30)F
        assert_eq!(t.get(SeparationClass::Long, "L/10"), Some(2.0 / 3.0));
        assert_eq!(t.get(SeparationClass::Long, "L/5"), Some(0.5));
        // short: (1,8)T (5,15)F
        assert_eq!(t.get(SeparationClass::Short, "L/10"), Some(0.5));
        // medium: (2,20)T only
        assert_eq!(t.get(SeparationClass::Medium, "L"), Some(1.0));
        let cell = t
            .cells
            .iter()
            .find(|c| c.class == SeparationClass::Long && c.top == "L/5")
            .unwrap();
        assert_eq!((cell.k, cell.evaluated, cell.correct), (6, 4, 2));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["long"]["L/5"], serde_json::json!(0.5));
        assert_eq!(json["medium"]["L/10"], serde_json::json!(1.0));
    }

    #[test]
    fn unknown_pairs_are_skipped_and_empty_class_is_null() {
        let mut native = native_30(&[(1, 30), (2, 29)]);
        native.known[0] = false; // residue 1 unmapped
        let prediction = Prediction {
            length: 30,
            pairs: vec![pair(1, 30, 9.0), pair(2, 29, 8.0), pair(3, 28, 7.0)],
        };
        let t = precision_table(&prediction, &native);
        // (1,30) unknown → skipped; (2,29) T, (3,28) F.
        assert_eq!(t.get(SeparationClass::Long, "L/10"), Some(0.5));
        assert_eq!(t.get(SeparationClass::Short, "L"), None);
        let json = serde_json::to_value(&t).unwrap();
        assert!(json["short"]["L"].is_null());
        assert!(t.render().contains("long    >=24"), "{}", t.render());
    }

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
