//! Scoring predicted contacts against known ones (SPEC §3; what `fadca
//! score` runs): the precision table, the JSON report and the contact-map
//! figure. The known contacts come from [`crate::structure`].
//!
//! Precision at top-k for a separation class: the prediction's pairs of that
//! class whose two residues both have a known distance, in rank order
//! (descending score, ties by `i` then `j`); the first `k` of them; the fraction
//! of those in contact. `k = max(1, floor(L / x))` for x = 1, 2, 5, 10 with L the
//! query length. When fewer than `k` pairs qualify, the fraction is over those
//! there are; when none qualify the precision is `null`.
use std::path::{Path, PathBuf};

use serde::ser::SerializeMap;

use crate::alignment::{Format, ReadOptions, read_alignment};
use crate::contacts::{
    ContactFormat, ContactReadOptions, Prediction, ScoredPair, SeparationClass, TOP_DIVISORS,
    rank_order, read_contact_file, top_k,
};
use crate::error::input_error;
use crate::plot::{ContactMapFigure, write_contact_map};
use crate::structure::{NativeContacts, NativeSource, ResidueMapping, load_native};

/// File names `fadca score` (and `fadca predict`, when scoring) writes.
pub mod files {
    /// Score report.
    pub const SCORE_JSON: &str = "score.json";
    /// Contact map plot.
    pub const CONTACT_MAP_PNG: &str = "contact_map.png";
    /// The same as SVG (with `--svg`).
    pub const CONTACT_MAP_SVG: &str = "contact_map.svg";
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

/// Counts of known native contacts per separation class.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NativeCounts {
    /// Known pairs in contact with separation ≥ 6.
    pub all: usize,
    /// Known pairs in contact with separation 6–11.
    pub short: usize,
    /// Known pairs in contact with separation 12–23.
    pub medium: usize,
    /// Known pairs in contact with separation ≥ 24.
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
    /// SHA-256 of the structure or contact-list file, when the caller
    /// recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_sha256: Option<String>,
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

/// Scores `prediction` (numbered 1..L along `query_sequence`) against a
/// structure or contact list (what `fadca score` runs; `fadca predict` loads
/// the native contacts earlier and calls [`score_with_native`]).
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

/// Builds the report from an already loaded native map (`mapping` and
/// `source` as [`load_native`] returns them).
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
        native_sha256: None,
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

/// A prediction given as files, as `fadca score` takes it.
#[derive(Debug, Clone)]
pub struct PredictionFiles {
    /// A fadca prediction folder (its `contacts.tsv` is scored) or a
    /// contact file of any format [`read_contact_file`] reads.
    pub prediction: PathBuf,
    /// Its format (default: detected from content).
    pub format: Option<ContactFormat>,
    /// Which model of a CASP RR file with several MODEL blocks (1-based).
    pub rr_model: usize,
    /// The alignment whose query numbers the residues; `None`: the one a
    /// prediction folder's `summary.json` records ([`recorded_alignment`]),
    /// or the query sequence a CASP RR file carries.
    pub msa: Option<PathBuf>,
    /// How to read `msa` (`format` and `keep_query_gaps` matter).
    pub msa_options: ReadOptions,
}

impl PredictionFiles {
    /// The contact file scored: `contacts.tsv` of a folder, else the file.
    pub fn contact_file(&self) -> PathBuf {
        if self.prediction.is_dir() {
            self.prediction.join(crate::contacts::files::CONTACTS_TSV)
        } else {
            self.prediction.clone()
        }
    }
}

/// What [`score_files`] gives back.
#[derive(Debug)]
pub struct ScoredFiles {
    /// The report (what `score.json` holds), inputs recorded.
    pub report: ScoreReport,
    /// The prediction read.
    pub prediction: Prediction,
    /// The target the contact file names (a CASP RR file's `TARGET`).
    pub target: Option<String>,
}

/// Scores a prediction given as files against a structure or contact list
/// (everything `fadca score` does but print and write): reads the
/// alignment (given, or recorded by a prediction folder) and the
/// prediction, numbers the residues by the alignment's query or, without
/// one, by the query sequence a CASP RR file carries, scores, and records
/// the inputs and the SHA-256 of the known contacts' file.
pub fn score_files(
    files: &PredictionFiles,
    source: &NativeSource,
    force_mapping: bool,
) -> anyhow::Result<ScoredFiles> {
    let contact_file = files.contact_file();
    let msa = match &files.msa {
        Some(p) => Some((p.clone(), files.msa_options.clone())),
        None if files.prediction.is_dir() => Some(recorded_alignment(&files.prediction)?),
        None => None,
    };
    let alignment = msa
        .as_ref()
        .map(|(path, options)| read_alignment(path, options))
        .transpose()?;
    let read_options = ContactReadOptions {
        format: files.format,
        expected_length: alignment.as_ref().map(|a| a.query_sequence.len()),
        rr_model: files.rr_model,
    };
    let file = read_contact_file(&contact_file, &read_options)?;
    let query = match (&alignment, &file.sequence) {
        (Some(a), _) => a.query_sequence.clone(),
        (None, Some(sequence)) => sequence.clone(),
        (None, None) => {
            return Err(input_error(format!(
                "{}: this {} file does not carry the query sequence; give the alignment with --msa \
                 to number the residues",
                contact_file.display(),
                file.format
            )));
        }
    };
    let mut report = score_against_structure(&query, &file.prediction, source, force_mapping)?;
    report.native_sha256 = Some(crate::io::sha256_file(source.path())?);
    let mut prediction_entry = serde_json::json!({ "path": contact_file.display().to_string() });
    if file.format == ContactFormat::CaspRr {
        prediction_entry["rr_model"] = serde_json::json!(files.rr_model);
    }
    report.inputs.insert("prediction".into(), prediction_entry);
    match (&msa, &alignment) {
        (Some((path, options)), Some(a)) => {
            report.record_inputs(None, path, options.keep_query_gaps, a.query_name())
        }
        _ => {
            report.inputs.insert(
                "msa".into(),
                serde_json::json!({ "path": null, "query_from": "the RR file's sequence" }),
            );
        }
    }
    Ok(ScoredFiles {
        report,
        prediction: file.prediction,
        target: file.target,
    })
}

/// The alignment recorded in a fadca prediction folder's `summary.json`
/// (`msa.path`, and the read options `msa.format` / `msa.keep_query_gaps`
/// when present). A relative path is tried as given, then relative to the
/// folder.
pub fn recorded_alignment(dir: &Path) -> anyhow::Result<(PathBuf, ReadOptions)> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        input_error(format!(
            "{}: cannot read it ({e}); give the alignment with --msa",
            path.display()
        ))
    })?;
    let summary: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| input_error(format!("{}: not valid JSON: {e}", path.display())))?;
    let msa = &summary["msa"];
    let recorded = msa["path"].as_str().ok_or_else(|| {
        input_error(format!(
            "{}: no \"msa\": {{\"path\": ...}} entry; give the alignment with --msa",
            path.display()
        ))
    })?;
    let mut msa_path = PathBuf::from(recorded);
    if msa_path.is_relative() && !msa_path.exists() && dir.join(&msa_path).exists() {
        msa_path = dir.join(msa_path);
    }
    let mut options = ReadOptions::default();
    if let Some(f) = msa["format"].as_str() {
        options.format = <Format as clap::ValueEnum>::from_str(f, true).ok();
    }
    if let Some(k) = msa["keep_query_gaps"].as_bool() {
        options.keep_query_gaps = k;
    }
    Ok((msa_path, options))
}

impl ScoreReport {
    /// Records what was scored as the report's first entries: `prediction`
    /// (the contact file, when there is one) and `msa` (the alignment
    /// numbering it, how it was read, its query).
    pub fn record_inputs(
        &mut self,
        prediction: Option<&Path>,
        msa: &Path,
        keep_query_gaps: bool,
        query_name: &str,
    ) {
        if let Some(file) = prediction {
            self.inputs.insert(
                "prediction".into(),
                serde_json::json!({ "path": file.display().to_string() }),
            );
        }
        self.inputs.insert(
            "msa".into(),
            serde_json::json!({
                "path": msa.display().to_string(),
                "keep_query_gaps": keep_query_gaps,
                "query": query_name,
            }),
        );
    }

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

/// Writes `score.json` (the report) and `contact_map.png` (the native map,
/// the top-L predictions and the scores, titled with the family `name`;
/// with `svg` also `contact_map.svg`) into `dir` (created if needed);
/// returns the names of the files written.
pub fn write_score_outputs(
    dir: &Path,
    report: &ScoreReport,
    prediction: &Prediction,
    name: &str,
    svg: bool,
) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| {
        input_error(format!(
            "cannot create output folder {}: {e}",
            dir.display()
        ))
    })?;
    crate::io::write_atomic(&dir.join(files::SCORE_JSON), |w| {
        serde_json::to_writer_pretty(&mut *w, report)?;
        w.write_all(b"\n")?;
        Ok(())
    })?;
    let figure = ContactMapFigure {
        name,
        prediction,
        native: &report.native,
        precision_at_l: report.precision.get(SeparationClass::All, "L"),
    };
    let mut written = vec![files::SCORE_JSON.to_string()];
    for path in write_contact_map(&dir.join(files::CONTACT_MAP_PNG), &figure, svg)? {
        if let Some(file) = path.file_name() {
            written.push(file.to_string_lossy().into_owned());
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn pair(i: usize, j: usize, score: f64) -> ScoredPair {
        ScoredPair { i, j, score }
    }

    /// A native map of L = 30 residues, every pair known, with `contacts`
    /// (1-based) in contact and every other pair not.
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
}
