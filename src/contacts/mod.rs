//! Contact-score files: writers for fadca's own outputs and readers for the
//! formats other predictors write, all converted to one [`Prediction`].
//!
//! | format | written by | layout | module |
//! |---|---|---|---|
//! | [`ContactFormat::Fadca`] | fadca `contacts.tsv` | header `i\tj\tscore`, one pair per line | `tsv` |
//! | [`ContactFormat::Ccmpred`] | CCMpred `.mat`, fadca `contacts.mat` | L lines of L scores (tabs or spaces) | `mat` |
//! | [`ContactFormat::CaspRr`] | CASP RR, fadca `contacts.rr` | `PFRMAT RR`, header records, `MODEL n`, sequence lines, `i j d1 d2 p` (or `i j p`), `ENDMDL`, `END` | `rr` |
//! | [`ContactFormat::Plmc`] | plmc / EVcouplings EC files, fadca `contacts.ec` | `i A_i j A_j fn cn` (the `cn` column is used) | `ec` |
//!
//! Residue numbers are 1-based along the query. Pairs are stored with `i < j`;
//! a file listing `j i` is read as `i j`. When a pair occurs twice, the higher
//! score is kept. A CCMpred matrix is read from its upper triangle (row `i`,
//! column `j > i`). plmc/EVcouplings EC files are read with their APC-corrected
//! `cn` column as the score; their residue numbers are taken as query numbers
//! (run plmc with the query as focus sequence and region start 1). A CASP
//! RR file with several models is read from its first model unless another
//! is asked for ([`ContactReadOptions::rr_model`]); its sequence, when it
//! has one, comes back with the prediction ([`ContactFile::sequence`]).
//!
//! This module holds the prediction, its ranking and the separation classes;
//! one submodule per format holds its reader (and its writer, where fadca
//! writes that format), `pairs` what the pair-list readers share and
//! `detect` the format detection. Every reader accepts gzipped files. Errors
//! are input errors naming the file and line.
use std::path::Path;

use ndarray::Array2;

use crate::couplings::{check_scores, model_contact_scores};
use crate::error::InputError;
use crate::io::read_bytes;
use crate::model::{Model, ModelKind};

mod detect;
mod ec;
mod mat;
mod pairs;
mod rr;
mod tsv;

pub use detect::detect_format;
pub use ec::write_ec;
pub use mat::write_mat;
pub use pairs::MAX_RESIDUE;
pub use rr::{RR_DECIMALS, RrHeader, rr_probabilities, write_rr};
pub use tsv::write_tsv;

/// One scored residue pair, 1-based, `i < j`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredPair {
    /// First residue (1-based), `i < j`.
    pub i: usize,
    /// Second residue (1-based).
    pub j: usize,
    /// Contact score: higher means more likely in contact.
    pub score: f64,
}

impl ScoredPair {
    /// Sequence separation `j - i`.
    pub fn separation(&self) -> usize {
        self.j - self.i
    }
}

/// Orders pairs by descending score, ties by ascending `i`, then `j` (the
/// ranking used everywhere: files, precision, plot).
pub fn rank_order(a: &ScoredPair, b: &ScoredPair) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.i.cmp(&b.i))
        .then(a.j.cmp(&b.j))
}

/// Contact scores for a query of `length` residues.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Query length L (residues are numbered 1..=L).
    pub length: usize,
    /// Scored pairs (`i < j`, all `≤ length`), in no particular order.
    pub pairs: Vec<ScoredPair>,
}

impl Prediction {
    /// The contact scores of a trained model (SPEC §1: symmetrise, gauge,
    /// Frobenius, APC; [`crate::couplings::model_contact_scores`]) over
    /// residues 1..L.
    pub fn of_model(model: &Model) -> Prediction {
        Prediction::from_matrix(&model_contact_scores(model))
    }

    /// The top-L pairs `(i, j)` (separation ≥ 6, the "all" class that
    /// precision is reported on) of a model in training, scored by
    /// [`check_scores`]: what the stopping rule watches
    /// ([`crate::model::train_until_converged`]).
    pub fn top_l_pairs(model: &Model) -> anyhow::Result<Vec<(usize, usize)>> {
        // Read in place on the CPU: a copy would also make a Potts table
        // symmetric, whose blocks below the diagonal are stale in training.
        let on_cpu = model
            .parameters()
            .iter()
            .all(|t| t.device() == tch::Device::Cpu && t.kind() == tch::Kind::Float);
        let copy;
        let model = if on_cpu {
            model
        } else {
            copy = model.to_cpu()?;
            &copy
        };
        let prediction = Prediction::from_matrix(&check_scores(model));
        let (min_sep, _) = SeparationClass::All.range();
        Ok(prediction
            .top(prediction.length, min_sep, None)
            .into_iter()
            .map(|p| (p.i, p.j))
            .collect())
    }

    /// All pairs `i < j` (separation ≥ 1) of a square score matrix (0-based
    /// rows/columns become 1-based residues); the upper triangle is read.
    pub fn from_matrix(scores: &Array2<f64>) -> Prediction {
        let length = scores.nrows().min(scores.ncols());
        let mut pairs = Vec::with_capacity(length * length.saturating_sub(1) / 2);
        for i in 0..length {
            for j in i + 1..length {
                pairs.push(ScoredPair {
                    i: i + 1,
                    j: j + 1,
                    score: scores[[i, j]],
                });
            }
        }
        Prediction { length, pairs }
    }

    /// The symmetric L×L score matrix (0-based); pairs not listed and the
    /// diagonal are 0.
    pub fn to_matrix(&self) -> Array2<f64> {
        let mut m = Array2::zeros((self.length, self.length));
        for p in &self.pairs {
            m[[p.i - 1, p.j - 1]] = p.score;
            m[[p.j - 1, p.i - 1]] = p.score;
        }
        m
    }

    /// All pairs in rank order (descending score, ties by `i` then `j`).
    pub fn ranked(&self) -> Vec<ScoredPair> {
        let mut pairs = self.pairs.clone();
        pairs.sort_by(rank_order);
        pairs
    }

    /// The same prediction without the pairs closer than `min_separation`
    /// along the sequence (`j − i < min_separation`).
    pub fn with_min_separation(&self, min_separation: usize) -> Prediction {
        Prediction {
            length: self.length,
            pairs: self
                .pairs
                .iter()
                .filter(|p| p.separation() >= min_separation)
                .copied()
                .collect(),
        }
    }

    /// The `k` best pairs whose separation `j - i` is at least `min_sep` and,
    /// when given, at most `max_sep`, in rank order.
    pub fn top(&self, k: usize, min_sep: usize, max_sep: Option<usize>) -> Vec<ScoredPair> {
        let mut pairs: Vec<ScoredPair> = self
            .pairs
            .iter()
            .filter(|p| p.separation() >= min_sep && max_sep.is_none_or(|m| p.separation() <= m))
            .copied()
            .collect();
        pairs.sort_by(rank_order);
        pairs.truncate(k);
        pairs
    }
}

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

/// File names of the contact files in a prediction folder.
pub mod files {
    /// Ranked contact list.
    pub const CONTACTS_TSV: &str = "contacts.tsv";
    /// CCMpred-style matrix.
    pub const CONTACTS_MAT: &str = "contacts.mat";
    /// CASP RR.
    pub const CONTACTS_RR: &str = "contacts.rr";
    /// plmc / EVcouplings EC file.
    pub const CONTACTS_EC: &str = "contacts.ec";
}

/// Default of [`ListOptions::min_separation`]: every pair `i < j`.
pub const DEFAULT_MIN_SEPARATION: usize = 1;
/// Default of [`ListOptions::rr_author`].
pub const DEFAULT_RR_AUTHOR: &str = "fadca";

/// How the contact lists (`contacts.tsv`, `contacts.rr`, `contacts.ec`)
/// are written; `contacts.mat` always holds every pair.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOptions {
    /// Pairs with `j − i` below this are left out of the lists
    /// ([`DEFAULT_MIN_SEPARATION`]: none).
    pub min_separation: usize,
    /// The `AUTHOR` record of `contacts.rr` ([`DEFAULT_RR_AUTHOR`]).
    pub rr_author: String,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            min_separation: DEFAULT_MIN_SEPARATION,
            rr_author: DEFAULT_RR_AUTHOR.into(),
        }
    }
}

/// What the contact files record about where a prediction comes from.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    /// The family name (`TARGET` of `contacts.rr`).
    pub target: &'a str,
    /// The model that made the prediction (`METHOD` of `contacts.rr`).
    pub model: ModelKind,
    /// The query sequence (residues 1..L), when known.
    pub sequence: Option<&'a str>,
}

/// The `METHOD` line of `contacts.rr`: program, version, model and score.
pub fn rr_method(model: ModelKind) -> String {
    let name = match model {
        ModelKind::Factored => "factored self-attention",
        ModelKind::Potts => "full Potts model",
    };
    format!(
        "fadca {}, {name} trained by pseudo-likelihood; p = APC-corrected coupling norm, min-max scaled",
        env!("CARGO_PKG_VERSION")
    )
}

/// Writes `contacts.tsv`, `contacts.mat`, `contacts.rr` and `contacts.ec`
/// into `dir` (the lists without the pairs closer than
/// `options.min_separation`); returns the file names.
pub fn write_contact_files(
    dir: &Path,
    prediction: &Prediction,
    provenance: &Provenance,
    options: &ListOptions,
) -> anyhow::Result<Vec<String>> {
    let listed = prediction.with_min_separation(options.min_separation);
    let method = rr_method(provenance.model);
    let header = RrHeader {
        target: provenance.target,
        author: &options.rr_author,
        method: &method,
        sequence: provenance.sequence,
    };
    write_tsv(&dir.join(files::CONTACTS_TSV), &listed)?;
    write_mat(&dir.join(files::CONTACTS_MAT), prediction)?;
    write_rr(&dir.join(files::CONTACTS_RR), &listed, &header)?;
    write_ec(&dir.join(files::CONTACTS_EC), &listed, provenance.sequence)?;
    Ok(vec![
        files::CONTACTS_TSV.into(),
        files::CONTACTS_MAT.into(),
        files::CONTACTS_RR.into(),
        files::CONTACTS_EC.into(),
    ])
}

/// The contact-file formats fadca reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ContactFormat {
    /// fadca `contacts.tsv`: `i j score` with a header line.
    Fadca,
    /// CCMpred `.mat`: an L×L matrix.
    Ccmpred,
    /// CASP RR.
    #[value(name = "rr")]
    #[serde(rename = "rr")]
    CaspRr,
    /// plmc / EVcouplings EC file (`i A_i j A_j fn cn`).
    Plmc,
}

impl std::fmt::Display for ContactFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContactFormat::Fadca => "fadca tsv",
            ContactFormat::Ccmpred => "CCMpred matrix",
            ContactFormat::CaspRr => "CASP RR",
            ContactFormat::Plmc => "plmc/EVcouplings EC",
        })
    }
}

// ---------------------------------------------------------------- reading

/// Reads a whole text file, gunzipping it when it starts with the gzip magic
/// ([`crate::io::read_bytes`]); invalid UTF-8 is an input error.
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    String::from_utf8(read_bytes(path, "")?)
        .map_err(|_| InputError::in_file("", path, "not a text file (invalid UTF-8)").into())
}

/// How to read a contact file.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactReadOptions {
    /// The format; `None`: detected from content ([`detect_format`]).
    pub format: Option<ContactFormat>,
    /// The query length L, when known: every residue number must be ≤ L and
    /// a matrix or RR sequence must have length L.
    pub expected_length: Option<usize>,
    /// Which model of a CASP RR file to read (1-based, in file order).
    pub rr_model: usize,
}

impl Default for ContactReadOptions {
    fn default() -> Self {
        ContactReadOptions {
            format: None,
            expected_length: None,
            rr_model: 1,
        }
    }
}

/// A contact file read.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactFile {
    /// The scores.
    pub prediction: Prediction,
    /// The format it was read as.
    pub format: ContactFormat,
    /// The query sequence the file carries (CASP RR), upper case.
    pub sequence: Option<String>,
    /// The target it names (the `TARGET` of a CASP RR file).
    pub target: Option<String>,
}

/// Reads a contact file (gzipped or not) as `options` say.
pub fn read_contact_file(path: &Path, options: &ContactReadOptions) -> anyhow::Result<ContactFile> {
    parse_contact_file(&read_text(path)?, path, options)
}

/// Parses contact-file text as `options` say; `path` is only used in messages.
pub fn parse_contact_file(
    text: &str,
    path: &Path,
    options: &ContactReadOptions,
) -> anyhow::Result<ContactFile> {
    let format = match options.format {
        Some(f) => f,
        None => detect_format(text).ok_or_else(|| {
            InputError::in_file(
                "",
                path,
                "cannot tell the contact file format (expected fadca tsv, CCMpred matrix, CASP RR or plmc EC)",
            )
        })?,
    };
    let expected_length = options.expected_length;
    let mut reader = pairs::PairReader::new(path, expected_length);
    let mut info = rr::RrInfo::default();
    match format {
        ContactFormat::Fadca => tsv::parse(text, &mut reader)?,
        ContactFormat::Ccmpred => {
            return Ok(ContactFile {
                prediction: mat::parse(text, path, expected_length)?,
                format,
                sequence: None,
                target: None,
            });
        }
        ContactFormat::CaspRr => info = rr::parse(text, &mut reader, options.rr_model)?,
        ContactFormat::Plmc => ec::parse(text, &mut reader)?,
    }
    Ok(ContactFile {
        prediction: reader.finish(),
        format,
        sequence: info.sequence,
        target: info.target,
    })
}

/// Reads a contact-score file of any supported format (detected from
/// content, the first model of an RR file); see [`ContactReadOptions`].
pub fn read_prediction(path: &Path, expected_length: Option<usize>) -> anyhow::Result<Prediction> {
    let options = ContactReadOptions {
        expected_length,
        ..ContactReadOptions::default()
    };
    Ok(read_contact_file(path, &options)?.prediction)
}

/// Parses contact-file text in the given format (the first model of an RR
/// file); `path` is only used in messages.
pub fn parse_prediction(
    text: &str,
    format: ContactFormat,
    path: &Path,
    expected_length: Option<usize>,
) -> anyhow::Result<Prediction> {
    let options = ContactReadOptions {
        format: Some(format),
        expected_length,
        ..ContactReadOptions::default()
    };
    Ok(parse_contact_file(text, path, &options)?.prediction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A prediction of L = 5 with a tie, used by the format tests.
    pub(super) fn example() -> Prediction {
        Prediction {
            length: 5,
            pairs: vec![
                ScoredPair {
                    i: 1,
                    j: 2,
                    score: 0.5,
                },
                ScoredPair {
                    i: 1,
                    j: 5,
                    score: 2.25,
                },
                ScoredPair {
                    i: 2,
                    j: 4,
                    score: -0.125,
                },
                ScoredPair {
                    i: 3,
                    j: 5,
                    score: 0.5,
                },
            ],
        }
    }

    #[test]
    fn ranking_breaks_ties_by_i_then_j() {
        let r = example().ranked();
        let order: Vec<_> = r.iter().map(|p| (p.i, p.j)).collect();
        assert_eq!(order, vec![(1, 5), (1, 2), (3, 5), (2, 4)]);
        let top = example().top(2, 2, Some(3));
        assert_eq!(
            top.iter().map(|p| (p.i, p.j)).collect::<Vec<_>>(),
            vec![(3, 5), (2, 4)]
        );
    }

    #[test]
    fn matrix_round_trip() {
        let p = example();
        let m = p.to_matrix();
        assert_eq!(m[[4, 0]], 2.25);
        assert_eq!(m[[0, 4]], 2.25);
        let back = Prediction::from_matrix(&m);
        assert_eq!(back.length, 5);
        assert_eq!(back.pairs.len(), 10);
        assert_eq!(
            back.top(1, 1, None)[0],
            ScoredPair {
                i: 1,
                j: 5,
                score: 2.25
            }
        );
    }

    #[test]
    fn reads_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tsv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"i\tj\tscore\n1\t3\t0.5\n").unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let p = read_prediction(&path, None).unwrap();
        assert_eq!(
            p.pairs,
            vec![ScoredPair {
                i: 1,
                j: 3,
                score: 0.5
            }]
        );
    }
}
