//! Contact-score files: writers for fadca's own outputs and readers for the
//! formats other predictors write, all converted to one [`Prediction`].
//!
//! | format | written by | layout |
//! |---|---|---|
//! | [`ContactFormat::Fadca`] | fadca `contacts.tsv` | header `i\tj\tscore`, one pair per line |
//! | [`ContactFormat::Ccmpred`] | CCMpred `.mat`, fadca `contacts.mat` | L lines of L scores (tabs or spaces) |
//! | [`ContactFormat::CaspRr`] | CASP RR, fadca `contacts.rr` | `PFRMAT RR`, sequence lines, `i j d1 d2 p` (or `i j p`), `END` |
//! | [`ContactFormat::Plmc`] | plmc / EVcouplings EC files | `i A_i j A_j fn cn` (the `cn` column is used) |
//!
//! Residue numbers are 1-based along the query. Pairs are stored with `i < j`;
//! a file listing `j i` is read as `i j`. When a pair occurs twice, the higher
//! score is kept. A CCMpred matrix is read from its upper triangle (row `i`,
//! column `j > i`). plmc/EVcouplings EC files are read with their APC-corrected
//! `cn` column as the score; their residue numbers are taken as query numbers
//! (run plmc with the query as focus sequence and region start 1).
//!
//! Every reader accepts gzipped files. Errors name the file and line.
use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use ndarray::Array2;

use crate::couplings::model_contact_scores;
use crate::error::{InputError, input_error};
use crate::io::read_bytes;
use crate::io::write_atomic;
use crate::model::Model;

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

/// The largest residue number a contact file may name (the longest known
/// protein has about 35 000 residues); a larger one is an input error rather
/// than an L×L matrix that cannot be allocated (found by fuzzing).
pub const MAX_RESIDUE: usize = 100_000;

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
}

/// Writes `contacts.tsv`, `contacts.mat` and `contacts.rr` (with `sequence`
/// when known) into `dir`; returns the file names.
pub fn write_contact_files(
    dir: &Path,
    prediction: &Prediction,
    sequence: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    write_tsv(&dir.join(files::CONTACTS_TSV), prediction)?;
    write_mat(&dir.join(files::CONTACTS_MAT), prediction)?;
    write_rr(&dir.join(files::CONTACTS_RR), prediction, sequence)?;
    Ok(vec![
        files::CONTACTS_TSV.into(),
        files::CONTACTS_MAT.into(),
        files::CONTACTS_RR.into(),
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

// ---------------------------------------------------------------- writers

/// Writes fadca's `contacts.tsv`: header `i\tj\tscore`, then every pair in rank
/// order. Scores are written with Rust's shortest exact representation so that
/// reading the file back gives the same numbers.
pub fn write_tsv(path: &Path, prediction: &Prediction) -> anyhow::Result<()> {
    let ranked = prediction.ranked();
    write_atomic(path, |w| {
        writeln!(w, "i\tj\tscore")?;
        for p in &ranked {
            writeln!(w, "{}\t{}\t{}", p.i, p.j, p.score)?;
        }
        Ok(())
    })
}

/// Writes a CCMpred-compatible L×L tab-separated matrix (symmetric, zero
/// diagonal, pairs not in the prediction 0).
pub fn write_mat(path: &Path, prediction: &Prediction) -> anyhow::Result<()> {
    let m = prediction.to_matrix();
    write_atomic(path, |w| {
        for row in m.rows() {
            let mut first = true;
            for v in row {
                if !first {
                    w.write_all(b"\t")?;
                }
                first = false;
                write!(w, "{v}")?;
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Maps scores to the probabilities a CASP RR file carries: min–max scaling
/// over the prediction's pairs, `p = (s − min) / (max − min)`, which keeps the
/// ranking and lands in [0, 1]; when all scores are equal every `p` is 0.5.
/// (Scores are relative coupling strengths, not calibrated probabilities; the
/// scaling only makes them fit the format.)
pub fn rr_probabilities(prediction: &Prediction) -> Vec<f64> {
    let min = prediction
        .pairs
        .iter()
        .map(|p| p.score)
        .fold(f64::INFINITY, f64::min);
    let max = prediction
        .pairs
        .iter()
        .map(|p| p.score)
        .fold(f64::NEG_INFINITY, f64::max);
    prediction
        .pairs
        .iter()
        .map(|p| {
            if max > min {
                ((p.score - min) / (max - min)).clamp(0.0, 1.0)
            } else {
                0.5
            }
        })
        .collect()
}

/// Writes a CASP RR file: `PFRMAT RR`, `MODEL 1`, the query sequence (when
/// given; gaps written as `X`) in lines of 50 letters as CASP does, then every
/// pair in rank order as `i j 0 8 p` (p from [`rr_probabilities`]), then `END`.
pub fn write_rr(
    path: &Path,
    prediction: &Prediction,
    sequence: Option<&str>,
) -> anyhow::Result<()> {
    let probabilities = rr_probabilities(prediction);
    let mut lines: Vec<(ScoredPair, f64)> = prediction
        .pairs
        .iter()
        .zip(&probabilities)
        .map(|(p, &prob)| (*p, prob))
        .collect();
    lines.sort_by(|a, b| rank_order(&a.0, &b.0));
    write_atomic(path, |w| {
        writeln!(w, "PFRMAT RR")?;
        writeln!(w, "MODEL  1")?;
        if let Some(seq) = sequence {
            let letters: Vec<u8> = seq
                .bytes()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        c.to_ascii_uppercase()
                    } else {
                        b'X'
                    }
                })
                .collect();
            for chunk in letters.chunks(50) {
                w.write_all(chunk)?;
                w.write_all(b"\n")?;
            }
        }
        for (p, prob) in &lines {
            writeln!(w, "{} {} 0 8 {}", p.i, p.j, prob)?;
        }
        writeln!(w, "END")?;
        Ok(())
    })
}

// ---------------------------------------------------------------- readers

/// Reads a whole text file, gunzipping it when it starts with the gzip magic
/// ([`crate::io::read_bytes`]); invalid UTF-8 is an input error.
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    String::from_utf8(read_bytes(path, "")?)
        .map_err(|_| InputError::in_file("", path, "not a text file (invalid UTF-8)").into())
}

/// Reads a contact-score file of any supported format (detected from content,
/// see [`detect_format`]). With `expected_length` (the query length L) every
/// residue number must be ≤ L and a matrix or RR sequence must have length L.
pub fn read_prediction(path: &Path, expected_length: Option<usize>) -> anyhow::Result<Prediction> {
    let text = read_text(path)?;
    let format = detect_format(&text).ok_or_else(|| {
        input_error(format!(
            "{}: cannot tell the contact file format (expected fadca tsv, CCMpred matrix, CASP RR or plmc EC)",
            path.display()
        ))
    })?;
    parse_prediction(&text, format, path, expected_length)
}

/// Reads a contact-score file in the given format.
pub fn read_prediction_as(
    path: &Path,
    format: ContactFormat,
    expected_length: Option<usize>,
) -> anyhow::Result<Prediction> {
    let text = read_text(path)?;
    parse_prediction(&text, format, path, expected_length)
}

/// Parses contact-file text; `path` is only used in messages.
pub fn parse_prediction(
    text: &str,
    format: ContactFormat,
    path: &Path,
    expected_length: Option<usize>,
) -> anyhow::Result<Prediction> {
    let mut reader = PairReader::new(path, expected_length);
    match format {
        ContactFormat::Fadca => parse_tsv(text, &mut reader)?,
        ContactFormat::Ccmpred => return parse_mat(text, path, expected_length),
        ContactFormat::CaspRr => parse_rr(text, &mut reader)?,
        ContactFormat::Plmc => parse_ec(text, &mut reader)?,
    }
    reader.finish()
}

const RR_KEYWORDS: &[&str] = &[
    "PFRMAT", "TARGET", "AUTHOR", "METHOD", "MODEL", "REMARK", "SEQRES", "END", "RMSD", "SCORE",
    "QMODE", "PARENT",
];

fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn is_uint(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|c| c.is_ascii_digit())
}

/// Guesses the format from content (first data lines):
/// - a first word that is an RR keyword (`PFRMAT`, `TARGET`, `MODEL`, …) or a
///   line of letters only → CASP RR;
/// - a header `i j score` (tabs or spaces) → fadca tsv;
/// - lines `int letter int letter number number` (optionally a header starting
///   `i A_i` / `i,A_i`) → plmc EC;
/// - every line with the same number n of numbers, n lines in all, and not
///   `int int number` with a first number ≥ 1 → CCMpred matrix
///   (its first entry is the zero diagonal);
/// - lines `int int number` or `int int d1 d2 p` → CASP RR contact lines /
///   header-less tsv (read the same way: `i j score`).
pub fn detect_format(text: &str) -> Option<ContactFormat> {
    let mut lines = data_lines(text);
    let (_, first) = lines.next()?;
    let tokens: Vec<&str> = first
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let head = *tokens.first()?;
    if RR_KEYWORDS.contains(&head.to_ascii_uppercase().as_str()) {
        return Some(ContactFormat::CaspRr);
    }
    if tokens.len() == 1 && head.bytes().all(|c| c.is_ascii_alphabetic()) {
        return Some(ContactFormat::CaspRr);
    }
    if tokens.len() >= 3 && tokens[0] == "i" && tokens[1] == "j" {
        return Some(ContactFormat::Fadca);
    }
    if tokens.len() >= 2 && tokens[0] == "i" && tokens[1].eq_ignore_ascii_case("A_i") {
        return Some(ContactFormat::Plmc);
    }
    if tokens.len() >= 6
        && is_uint(tokens[0])
        && !is_uint(tokens[1])
        && is_uint(tokens[2])
        && !is_uint(tokens[3])
    {
        return Some(ContactFormat::Plmc);
    }
    let all_numbers = tokens.iter().all(|t| t.parse::<f64>().is_ok());
    if !all_numbers {
        return None;
    }
    let n = tokens.len();
    let looks_like_pair = n >= 3 && is_uint(tokens[0]) && is_uint(tokens[1]) && tokens[0] != "0";
    if n != 3 && n != 5 || !looks_like_pair {
        // A matrix: n lines of n numbers.
        let rows = 1 + lines.count();
        return (rows == n).then_some(ContactFormat::Ccmpred);
    }
    if n == 3 {
        Some(ContactFormat::Fadca)
    } else {
        Some(ContactFormat::CaspRr)
    }
}

/// Collects pairs, checking numbering and merging duplicates.
struct PairReader<'a> {
    path: &'a Path,
    expected_length: Option<usize>,
    /// Sequence length declared by the file (RR sequence lines).
    declared_length: Option<usize>,
    scores: HashMap<(usize, usize), f64>,
    max_index: usize,
}

impl<'a> PairReader<'a> {
    fn new(path: &'a Path, expected_length: Option<usize>) -> Self {
        PairReader {
            path,
            expected_length,
            declared_length: None,
            scores: HashMap::new(),
            max_index: 0,
        }
    }

    fn error(&self, line: usize, why: impl std::fmt::Display) -> anyhow::Error {
        InputError::in_file("contact file", self.path, why.to_string())
            .at_line(line)
            .into()
    }

    fn index(&self, line: usize, token: Option<&str>, what: &str) -> anyhow::Result<usize> {
        let token = token.ok_or_else(|| self.error(line, format!("missing {what}")))?;
        let v: usize = token
            .parse()
            .map_err(|_| self.error(line, format!("{what} {token:?} is not a residue number")))?;
        if v == 0 {
            return Err(self.error(line, format!("{what} is 0 (residues are numbered from 1)")));
        }
        if v > MAX_RESIDUE {
            return Err(self.error(
                line,
                format!("{what} {v} is implausibly large (at most {MAX_RESIDUE})"),
            ));
        }
        if let Some(l) = self.expected_length.or(self.declared_length)
            && v > l
        {
            return Err(self.error(line, format!("{what} {v} is beyond the query length {l}")));
        }
        Ok(v)
    }

    fn score(&self, line: usize, token: Option<&str>, what: &str) -> anyhow::Result<f64> {
        let token = token.ok_or_else(|| self.error(line, format!("missing {what}")))?;
        let v: f64 = token
            .parse()
            .map_err(|_| self.error(line, format!("{what} {token:?} is not a number")))?;
        if !v.is_finite() {
            return Err(self.error(line, format!("{what} {token:?} is not finite")));
        }
        Ok(v)
    }

    fn add(&mut self, line: usize, a: usize, b: usize, score: f64) -> anyhow::Result<()> {
        if a == b {
            return Err(self.error(line, format!("pair {a} {b} pairs a residue with itself")));
        }
        let key = (a.min(b), a.max(b));
        self.max_index = self.max_index.max(key.1);
        let entry = self.scores.entry(key).or_insert(score);
        *entry = entry.max(score);
        Ok(())
    }

    fn finish(self) -> anyhow::Result<Prediction> {
        if let (Some(e), Some(d)) = (self.expected_length, self.declared_length)
            && e != d
        {
            return Err(input_error(format!(
                "contact file {}: its sequence has {d} residues but the query has {e}",
                self.path.display()
            )));
        }
        let length = self
            .expected_length
            .or(self.declared_length)
            .unwrap_or(self.max_index);
        let mut pairs: Vec<ScoredPair> = self
            .scores
            .into_iter()
            .map(|((i, j), score)| ScoredPair { i, j, score })
            .collect();
        pairs.sort_by(rank_order);
        Ok(Prediction { length, pairs })
    }
}

fn split(line: &str) -> Vec<&str> {
    line.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_tsv(text: &str, reader: &mut PairReader) -> anyhow::Result<()> {
    for (n, line) in data_lines(text) {
        let t = split(line);
        if t.first() == Some(&"i") {
            continue; // header
        }
        let i = reader.index(n, t.first().copied(), "residue i")?;
        let j = reader.index(n, t.get(1).copied(), "residue j")?;
        let s = reader.score(n, t.get(2).copied(), "score")?;
        reader.add(n, i, j, s)?;
    }
    Ok(())
}

fn parse_rr(text: &str, reader: &mut PairReader) -> anyhow::Result<()> {
    let mut sequence = String::new();
    let mut in_contacts = false;
    for (n, line) in data_lines(text) {
        let t = split(line);
        let Some(first) = t.first() else {
            return Err(reader.error(n, "a line of separators only (expected `i j d1 d2 p`)"));
        };
        let head = first.to_ascii_uppercase();
        if head == "END" {
            break;
        }
        if head == "SEQRES" {
            // Either `SEQRES ACDEF...` or PDB-style three-letter SEQRES records.
            for tok in &t[1..] {
                if tok.len() > 3 && tok.bytes().all(|c| c.is_ascii_alphabetic()) {
                    sequence.push_str(tok);
                }
            }
            continue;
        }
        if RR_KEYWORDS.contains(&head.as_str()) {
            continue;
        }
        if !in_contacts && t.len() == 1 && t[0].bytes().all(|c| c.is_ascii_alphabetic()) {
            sequence.push_str(t[0]);
            continue;
        }
        if !in_contacts {
            in_contacts = true;
            if !sequence.is_empty() {
                reader.declared_length = Some(sequence.len());
                if let Some(e) = reader.expected_length
                    && e != sequence.len()
                {
                    return Err(reader.error(
                        n,
                        format!(
                            "its sequence has {} residues but the query has {e}",
                            sequence.len()
                        ),
                    ));
                }
            }
        }
        let i = reader.index(n, t.first().copied(), "residue i")?;
        let j = reader.index(n, t.get(1).copied(), "residue j")?;
        let s = match t.len() {
            3 => reader.score(n, t.get(2).copied(), "probability")?,
            5.. => {
                // The distance bounds are not used, but must be numbers.
                reader.score(n, t.get(2).copied(), "distance bound d1")?;
                reader.score(n, t.get(3).copied(), "distance bound d2")?;
                reader.score(n, t.get(4).copied(), "probability")?
            }
            _ => {
                return Err(reader.error(n, "expected `i j d1 d2 p` or `i j p`"));
            }
        };
        reader.add(n, i, j, s)?;
    }
    if !in_contacts && !sequence.is_empty() {
        reader.declared_length = Some(sequence.len());
    }
    Ok(())
}

fn parse_ec(text: &str, reader: &mut PairReader) -> anyhow::Result<()> {
    // Column positions, from a header when there is one.
    let (mut ci, mut cj, mut cs) = (0, 2, 5);
    // The `fn` score column is not used, but must be a number when present.
    let mut cf = Some(4);
    for (n, line) in data_lines(text) {
        let t = split(line);
        if t.first() == Some(&"i") {
            let find = |name: &str| t.iter().position(|c| *c == name);
            match (find("i"), find("j"), find("cn")) {
                (Some(a), Some(b), Some(c)) => (ci, cj, cs, cf) = (a, b, c, find("fn")),
                _ => return Err(reader.error(n, "EC header without columns i, j and cn")),
            }
            continue;
        }
        let i = reader.index(n, t.get(ci).copied(), "residue i")?;
        let j = reader.index(n, t.get(cj).copied(), "residue j")?;
        let s = reader.score(n, t.get(cs).copied(), "cn score")?;
        if let Some(f) = cf
            && t.len() > f
        {
            reader.score(n, t.get(f).copied(), "fn score")?;
        }
        reader.add(n, i, j, s)?;
    }
    Ok(())
}

fn parse_mat(
    text: &str,
    path: &Path,
    expected_length: Option<usize>,
) -> anyhow::Result<Prediction> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let err = |line: usize, why: String| {
        anyhow::Error::from(InputError::in_file("contact matrix", path, why).at_line(line))
    };
    for (n, line) in data_lines(text) {
        let mut row = Vec::new();
        for (col, tok) in split(line).into_iter().enumerate() {
            let v: f64 = tok
                .parse()
                .map_err(|_| err(n, format!("column {}: {tok:?} is not a number", col + 1)))?;
            if !v.is_finite() {
                return Err(err(n, format!("column {}: {tok:?} is not finite", col + 1)));
            }
            row.push(v);
        }
        if let Some(first) = rows.first()
            && row.len() != first.len()
        {
            return Err(err(
                n,
                format!(
                    "{} values where the first row has {}",
                    row.len(),
                    first.len()
                ),
            ));
        }
        if let Some(l) = expected_length
            && row.len() != l
        {
            return Err(err(
                n,
                format!("{} values but the query length is {l}", row.len()),
            ));
        }
        rows.push(row);
    }
    let l = rows.len();
    if l == 0 {
        return Err(input_error(format!(
            "contact matrix {}: no data",
            path.display()
        )));
    }
    if rows[0].len() != l {
        return Err(input_error(format!(
            "contact matrix {}: {l} rows of {} values, not square",
            path.display(),
            rows[0].len()
        )));
    }
    let flat: Vec<f64> = rows.into_iter().flatten().collect();
    let m = Array2::from_shape_vec((l, l), flat).context("matrix shape")?;
    let mut prediction = Prediction::from_matrix(&m);
    prediction.pairs.sort_by(rank_order);
    Ok(prediction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn example() -> Prediction {
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
    fn rr_probabilities_are_min_max_scaled() {
        let p = rr_probabilities(&example());
        assert_eq!(p, vec![0.625 / 2.375, 1.0, 0.0, 0.625 / 2.375]);
    }

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect_format("i\tj\tscore\n1\t2\t0.5\n"),
            Some(ContactFormat::Fadca)
        );
        assert_eq!(detect_format("1 2 0.5\n"), Some(ContactFormat::Fadca));
        assert_eq!(
            detect_format("PFRMAT RR\n1 2 0 8 0.5\nEND\n"),
            Some(ContactFormat::CaspRr)
        );
        assert_eq!(
            detect_format("ACDE\n1 2 0 8 0.5\n"),
            Some(ContactFormat::CaspRr)
        );
        assert_eq!(detect_format("1 2 0 8 0.5\n"), Some(ContactFormat::CaspRr));
        assert_eq!(
            detect_format("1 M 5 K 0.1 0.2\n"),
            Some(ContactFormat::Plmc)
        );
        assert_eq!(
            detect_format("0\t1\t2\n1\t0\t3\n2\t3\t0\n"),
            Some(ContactFormat::Ccmpred)
        );
        assert_eq!(detect_format("0 1\n1 0\n"), Some(ContactFormat::Ccmpred));
        assert_eq!(detect_format("hello world\n"), None);
        assert_eq!(detect_format(""), None);
    }

    #[test]
    fn tsv_errors_name_file_and_line() {
        let path = Path::new("x.tsv");
        let e = parse_prediction(
            "i\tj\tscore\n1\t2\t0.5\n1\t9\t0.2\n",
            ContactFormat::Fadca,
            path,
            Some(5),
        )
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("x.tsv, line 3") && msg.contains("beyond the query length 5"),
            "{msg}"
        );
        assert!(crate::error::is_input_error(&e));
        let e = parse_prediction("1\tb\t0.5\n", ContactFormat::Fadca, path, None).unwrap_err();
        assert!(format!("{e:#}").contains("line 1"));
        let e = parse_prediction("1\t2\tnan\n", ContactFormat::Fadca, path, None).unwrap_err();
        assert!(format!("{e:#}").contains("not finite"));
        let e = parse_prediction("2\t2\t1\n", ContactFormat::Fadca, path, None).unwrap_err();
        assert!(format!("{e:#}").contains("itself"));
        let e =
            parse_prediction("0\t1\n1\t0\t2\n", ContactFormat::Ccmpred, path, None).unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }

    #[test]
    fn rr_reads_header_sequence_and_both_line_styles() {
        let text =
            "PFRMAT RR\nTARGET T1\nMODEL 1\nACDEF\nGHIK\n1 8 0 8 0.7\n2 5 0.4\n8 3 0 8 0.9\nEND\n";
        let p = parse_prediction(text, ContactFormat::CaspRr, Path::new("a.rr"), None).unwrap();
        assert_eq!(p.length, 9);
        let got: Vec<_> = p.ranked().iter().map(|q| (q.i, q.j, q.score)).collect();
        assert_eq!(got, vec![(3, 8, 0.9), (1, 8, 0.7), (2, 5, 0.4)]);
        let e =
            parse_prediction(text, ContactFormat::CaspRr, Path::new("a.rr"), Some(8)).unwrap_err();
        assert!(
            format!("{e:#}")
                .contains("a.rr, line 6: its sequence has 9 residues but the query has 8"),
            "{e:#}"
        );
        let short = "PFRMAT RR\nACDEF\n1 8 0 8 0.7\n";
        let e =
            parse_prediction(short, ContactFormat::CaspRr, Path::new("a.rr"), None).unwrap_err();
        assert!(format!("{e:#}").contains("a.rr, line 3"), "{e:#}");
    }

    #[test]
    fn ec_uses_cn_column_and_header() {
        let text = "1 M 5 K 0.9 0.1\n2 A 6 L 0.2 0.3\n";
        let p = parse_prediction(text, ContactFormat::Plmc, Path::new("e"), None).unwrap();
        assert_eq!(p.length, 6);
        assert_eq!(
            p.ranked()[0],
            ScoredPair {
                i: 2,
                j: 6,
                score: 0.3
            }
        );
        let csv = "i,A_i,j,A_j,fn,cn,segment_i\n1,M,5,K,0.9,0.7,A\n";
        assert_eq!(detect_format(csv), Some(ContactFormat::Plmc));
        let p = parse_prediction(csv, ContactFormat::Plmc, Path::new("e"), Some(10)).unwrap();
        assert_eq!(p.length, 10);
        assert_eq!(
            p.pairs,
            vec![ScoredPair {
                i: 1,
                j: 5,
                score: 0.7
            }]
        );
    }

    #[test]
    fn duplicates_keep_highest_and_swap_order() {
        let p = parse_prediction(
            "5 1 0.2\n1 5 0.8\n1 5 0.3\n",
            ContactFormat::Fadca,
            Path::new("d"),
            None,
        )
        .unwrap();
        assert_eq!(
            p.pairs,
            vec![ScoredPair {
                i: 1,
                j: 5,
                score: 0.8
            }]
        );
    }

    #[test]
    fn writers_round_trip_through_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = example();
        let tsv = dir.path().join("c.tsv");
        write_tsv(&tsv, &p).unwrap();
        let text = std::fs::read_to_string(&tsv).unwrap();
        assert_eq!(
            text,
            "i\tj\tscore\n1\t5\t2.25\n1\t2\t0.5\n3\t5\t0.5\n2\t4\t-0.125\n"
        );
        let back = read_prediction(&tsv, Some(5)).unwrap();
        assert_eq!(back.ranked(), p.ranked());

        let mat = dir.path().join("c.mat");
        write_mat(&mat, &p).unwrap();
        let back = read_prediction(&mat, Some(5)).unwrap();
        assert_eq!(back.length, 5);
        assert_eq!(back.to_matrix(), p.to_matrix());

        let rr = dir.path().join("c.rr");
        write_rr(&rr, &p, Some("ACDEF")).unwrap();
        let text = std::fs::read_to_string(&rr).unwrap();
        assert!(
            text.starts_with("PFRMAT RR\nMODEL  1\nACDEF\n1 5 0 8 1\n"),
            "{text}"
        );
        assert!(text.ends_with("2 4 0 8 0\nEND\n"), "{text}");
        let back = read_prediction(&rr, Some(5)).unwrap();
        let order = |q: &Prediction| q.ranked().iter().map(|x| (x.i, x.j)).collect::<Vec<_>>();
        assert_eq!(order(&back), order(&p));
        assert!(read_prediction(&rr, Some(6)).is_err());
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
