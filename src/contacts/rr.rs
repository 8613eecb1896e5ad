//! CASP RR, fadca's `contacts.rr` ([`super::ContactFormat::CaspRr`]).
//!
//! A file is a header (`PFRMAT RR`, `TARGET`, `AUTHOR`, `REMARK`, `METHOD`,
//! `RMODE`, … records), then one or more models: `MODEL n`, the query
//! sequence in lines of letters (or `SEQRES` records), contact lines
//! `i j d1 d2 p` (or `i j p`), `ENDMDL`; the file ends with `END`. Older
//! files have no `MODEL`/`ENDMDL` lines: their contacts are model 1. A
//! sequence before the first `MODEL` applies to every model without its own.
//! The sequence, when present, sets the query length.
use std::path::Path;

use super::pairs::{PairReader, data_lines, tokens};
use super::{Prediction, ScoredPair, rank_order};
use crate::io::write_atomic;

/// The keywords that may start a line of an RR file other than a contact
/// or sequence line (upper case; matched case-insensitively). `MODEL`,
/// `ENDMDL` and `END` delimit models and the file; the others are skipped.
pub(super) const RR_KEYWORDS: &[&str] = &[
    "PFRMAT", "TARGET", "AUTHOR", "METHOD", "MODEL", "ENDMDL", "REMARK", "SEQRES", "END", "RMSD",
    "SCORE", "QMODE", "RMODE", "PARENT",
];

/// Decimals of the `p` column fadca writes: `p` is a rank-preserving
/// scaled score, not a calibrated probability, and more digits carry no
/// information.
pub const RR_DECIMALS: usize = 4;

/// Maps scores to the `p` a CASP RR file carries: min–max scaling over the
/// prediction's pairs, `p = (s − min) / (max − min)`, which keeps the
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

/// The header records of an RR file fadca writes.
#[derive(Debug, Clone, Copy)]
pub struct RrHeader<'a> {
    /// `TARGET`: the family name (whitespace becomes `_`).
    pub target: &'a str,
    /// `AUTHOR`.
    pub author: &'a str,
    /// `METHOD`: one line naming the program, version and model.
    pub method: &'a str,
    /// The query sequence (residues 1..L), written after `MODEL 1` when
    /// known; letters other than A–Z (gaps of `--keep-query-gaps`) as `X`.
    pub sequence: Option<&'a str>,
}

/// One header record's value on one line (no line breaks), never empty.
fn record_value(value: &str) -> String {
    let one_line = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        "unknown".into()
    } else {
        one_line
    }
}

/// Writes a CASP RR file: `PFRMAT RR`, `TARGET`, `AUTHOR`, `METHOD`,
/// `MODEL  1`, the query sequence (when given) in lines of 50 letters as
/// CASP does, then every pair in rank order as `i j 0 8 p` (p from
/// [`rr_probabilities`], [`RR_DECIMALS`] decimals), then `END`.
pub fn write_rr(path: &Path, prediction: &Prediction, header: &RrHeader) -> anyhow::Result<()> {
    let probabilities = rr_probabilities(prediction);
    let mut lines: Vec<(ScoredPair, f64)> = prediction
        .pairs
        .iter()
        .zip(&probabilities)
        .map(|(p, &prob)| (*p, prob))
        .collect();
    lines.sort_by(|a, b| rank_order(&a.0, &b.0));
    let target = record_value(header.target).replace(' ', "_");
    write_atomic(path, |w| {
        writeln!(w, "PFRMAT RR")?;
        writeln!(w, "TARGET {target}")?;
        writeln!(w, "AUTHOR {}", record_value(header.author))?;
        writeln!(w, "METHOD {}", record_value(header.method))?;
        writeln!(w, "MODEL  1")?;
        if let Some(seq) = header.sequence {
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
            writeln!(w, "{} {} 0 8 {prob:.RR_DECIMALS$}", p.i, p.j)?;
        }
        writeln!(w, "END")?;
        Ok(())
    })
}

/// True when `token` is a line of sequence: letters (and `-` for gaps).
fn is_sequence(token: &str) -> bool {
    token.bytes().any(|c| c.is_ascii_alphabetic())
        && token.bytes().all(|c| c.is_ascii_alphabetic() || c == b'-')
}

/// Where the parser is in the file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Block {
    /// Before the first `MODEL` (a file without `MODEL` lines: model 1).
    Header,
    /// Inside the `n`-th `MODEL` block (1-based, in file order).
    Model(usize),
    /// After an `ENDMDL`, before the next `MODEL`.
    Between,
}

/// Reads the RR file `text` into `reader`, taking the contacts and sequence
/// of the `model`-th model (1-based, in file order; contacts before any
/// `MODEL` line are model 1). Header records are skipped; sequence lines
/// declare the query length when that model's contacts start (or at the
/// end); contact lines give `i j` and `p` as the score (distance bounds must
/// be numbers but are not used); reading stops at `END`. Returns the
/// sequence of that model and the `TARGET`, where the file has them.
pub(super) fn parse(text: &str, reader: &mut PairReader, model: usize) -> anyhow::Result<RrInfo> {
    let mut target = None;
    let mut block = Block::Header;
    let mut models = 0;
    let mut header_sequence = String::new();
    let mut model_sequence = String::new();
    let mut declared = false;
    let mut last_line = 0;
    // Whether a line of block `b` belongs to the chosen model.
    let chosen = |b: Block| match b {
        Block::Header => model == 1,
        Block::Model(n) => n == model,
        Block::Between => false,
    };
    for (n, line) in data_lines(text) {
        last_line = n;
        let t = tokens(line);
        let Some(first) = t.first() else {
            return Err(reader.error(n, "a line of separators only (expected `i j d1 d2 p`)"));
        };
        let head = first.to_ascii_uppercase();
        match head.as_str() {
            "END" => break,
            "MODEL" => {
                models += 1;
                block = Block::Model(models);
                continue;
            }
            "ENDMDL" => {
                block = Block::Between;
                continue;
            }
            "TARGET" => {
                target = (t.len() > 1).then(|| t[1..].join(" "));
                continue;
            }
            "SEQRES" => {
                // `SEQRES ACDEF...`; PDB-style three-letter records are skipped.
                let letters: String = t[1..]
                    .iter()
                    .filter(|tok| tok.len() > 3 && is_sequence(tok))
                    .copied()
                    .collect();
                match block {
                    Block::Header => header_sequence.push_str(&letters),
                    b if chosen(b) => model_sequence.push_str(&letters),
                    _ => {}
                }
                continue;
            }
            h if RR_KEYWORDS.contains(&h) => continue,
            _ => {}
        }
        if t.len() == 1 && is_sequence(t[0]) {
            match block {
                Block::Header => header_sequence.push_str(t[0]),
                b if chosen(b) => model_sequence.push_str(t[0]),
                Block::Between => {
                    return Err(reader.error(n, "a sequence line outside a MODEL block"));
                }
                _ => {}
            }
            continue;
        }
        if block == Block::Between {
            return Err(reader.error(
                n,
                format!(
                    "{:?} after ENDMDL: expected MODEL, END or a header record",
                    t[0]
                ),
            ));
        }
        if !chosen(block) {
            continue; // a contact line of another model
        }
        if !declared {
            declared = true;
            let sequence = sequence_of(&header_sequence, &model_sequence);
            if !sequence.is_empty() {
                reader.declare_length(sequence.len(), Some(n))?;
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
    if model > models.max(1) {
        let found = match models {
            0 => "no MODEL block (its contacts are model 1)".to_string(),
            1 => "1 MODEL block".to_string(),
            k => format!("{k} MODEL blocks"),
        };
        return Err(reader.error(
            last_line.max(1),
            format!("model {model} asked for, but the file has {found}"),
        ));
    }
    let sequence = sequence_of(&header_sequence, &model_sequence);
    if !declared && !sequence.is_empty() {
        reader.declare_length(sequence.len(), None)?;
    }
    Ok(RrInfo {
        sequence: (!sequence.is_empty()).then(|| sequence.to_ascii_uppercase()),
        target,
    })
}

/// What an RR file says besides its contacts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct RrInfo {
    /// The chosen model's sequence (or the file's), upper case.
    pub(super) sequence: Option<String>,
    /// The `TARGET` record.
    pub(super) target: Option<String>,
}

/// The model's own sequence, else the one before the first `MODEL`.
fn sequence_of<'a>(header: &'a str, model: &'a str) -> &'a str {
    if model.is_empty() { header } else { model }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::tests::example;
    use crate::contacts::{
        ContactFormat, ContactReadOptions, parse_contact_file, parse_prediction, read_prediction,
    };

    const HEADER: RrHeader = RrHeader {
        target: "fam ily",
        author: "me",
        method: "fadca 0.1.0, factored model",
        sequence: Some("ACDEF"),
    };

    #[test]
    fn rr_probabilities_are_min_max_scaled() {
        let p = rr_probabilities(&example());
        assert_eq!(p, vec![0.625 / 2.375, 1.0, 0.0, 0.625 / 2.375]);
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
    fn rr_models_endmdl_and_remarks() {
        let text = "PFRMAT RR\nTARGET T1\nAUTHOR A\nREMARK two models\nMETHOD m\nRMODE 2\n\
MODEL  1\nACDEFG\n1 6 0 8 0.9\n2 5 0 8 0.3\nENDMDL\n\
MODEL  2\nACDEFG\n1 6 0 8 0.1\n3 6 0 8 0.8\nENDMDL\nEND\n";
        let path = Path::new("m.rr");
        let read = |model| {
            let options = ContactReadOptions {
                format: Some(ContactFormat::CaspRr),
                rr_model: model,
                ..ContactReadOptions::default()
            };
            parse_contact_file(text, path, &options)
        };
        let first = read(1).unwrap();
        assert_eq!(first.sequence.as_deref(), Some("ACDEFG"));
        assert_eq!(first.target.as_deref(), Some("T1"));
        let pairs = |f: &crate::contacts::ContactFile| {
            f.prediction
                .ranked()
                .iter()
                .map(|q| (q.i, q.j, q.score))
                .collect::<Vec<_>>()
        };
        assert_eq!(pairs(&first), vec![(1, 6, 0.9), (2, 5, 0.3)]);
        assert_eq!(first.prediction.length, 6);
        let second = read(2).unwrap();
        assert_eq!(pairs(&second), vec![(3, 6, 0.8), (1, 6, 0.1)]);
        let e = read(3).unwrap_err();
        assert!(
            format!("{e:#}").contains("model 3 asked for, but the file has 2 MODEL blocks"),
            "{e:#}"
        );
        let stray = "PFRMAT RR\nMODEL 1\n1 2 0 8 0.5\nENDMDL\n3 4 0 8 0.5\nEND\n";
        let e = parse_prediction(stray, ContactFormat::CaspRr, path, None).unwrap_err();
        assert!(format!("{e:#}").contains("m.rr, line 5"), "{e:#}");
    }

    #[test]
    fn rr_writes_header_records_and_short_p() {
        let dir = tempfile::tempdir().unwrap();
        let p = example();
        let rr = dir.path().join("c.rr");
        write_rr(&rr, &p, &HEADER).unwrap();
        let text = std::fs::read_to_string(&rr).unwrap();
        assert!(
            text.starts_with(
                "PFRMAT RR\nTARGET fam_ily\nAUTHOR me\nMETHOD fadca 0.1.0, factored model\n\
MODEL  1\nACDEF\n1 5 0 8 1.0000\n1 2 0 8 0.2632\n3 5 0 8 0.2632\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("2 4 0 8 0.0000\nEND\n"), "{text}");
        let back = read_prediction(&rr, Some(5)).unwrap();
        let order = |q: &Prediction| q.ranked().iter().map(|x| (x.i, x.j)).collect::<Vec<_>>();
        assert_eq!(order(&back), order(&p));
        assert!(read_prediction(&rr, Some(6)).is_err());
    }
}
