//! CASP RR, fadca's `contacts.rr` ([`super::ContactFormat::CaspRr`]):
//! `PFRMAT RR` and other keyword lines, the query sequence in lines of
//! letters (or `SEQRES` records), contact lines `i j d1 d2 p` (or `i j p`),
//! then `END`. The sequence, when present, sets the query length.
use std::path::Path;

use super::pairs::{PairReader, data_lines, tokens};
use super::{Prediction, ScoredPair, rank_order};
use crate::io::write_atomic;

/// The keywords that may start a line of an RR file other than a contact
/// line (upper case; matched case-insensitively).
pub(super) const RR_KEYWORDS: &[&str] = &[
    "PFRMAT", "TARGET", "AUTHOR", "METHOD", "MODEL", "REMARK", "SEQRES", "END", "RMSD", "SCORE",
    "QMODE", "PARENT",
];

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

/// Reads the RR file `text` into `reader`: keyword lines are skipped, the
/// sequence lines before the first contact line declare the query length,
/// contact lines give `i j` and the probability `p` as the score (the
/// distance bounds must be numbers but are not used); reading stops at `END`.
pub(super) fn parse(text: &str, reader: &mut PairReader) -> anyhow::Result<()> {
    let mut sequence = String::new();
    let mut in_contacts = false;
    for (n, line) in data_lines(text) {
        let t = tokens(line);
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
    if !in_contacts && !sequence.is_empty() {
        reader.declare_length(sequence.len(), None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::tests::example;
    use crate::contacts::{ContactFormat, parse_prediction, read_prediction};

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
    fn rr_round_trips_through_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = example();
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
}
