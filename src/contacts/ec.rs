//! plmc / EVcouplings EC files ([`super::ContactFormat::Plmc`]): lines
//! `i A_i j A_j fn cn` (spaces, or commas with a header naming the columns).
//! The APC-corrected `cn` column is the score; residue numbers are taken as
//! query numbers (run plmc with the query as focus sequence and region
//! start 1). fadca writes `contacts.ec` in plmc's layout ([`write_ec`]).
use std::path::Path;

use super::Prediction;
use super::pairs::{PairReader, data_lines, tokens};
use crate::io::write_atomic;

/// Writes an EC file in plmc's layout, which EVcouplings' readers load:
/// one line `i A_i j A_j 0 score` per pair, ordered by `i` then `j`
/// (1-based query numbering, `i < j`), `A_i` the query letter at `i` (`-`
/// for a gap column of `--keep-query-gaps`, `X` without a sequence), the
/// `fn` column 0 and the contact score (fadca's APC score, Rust's shortest
/// exact representation) in the `cn` column. No header, as plmc writes it.
pub fn write_ec(
    path: &Path,
    prediction: &Prediction,
    sequence: Option<&str>,
) -> anyhow::Result<()> {
    let letters: Vec<char> = sequence.map(|s| s.chars().collect()).unwrap_or_default();
    let letter = |k: usize| match letters.get(k - 1) {
        Some(c) if c.is_ascii_alphabetic() => c.to_ascii_uppercase(),
        Some(_) => '-',
        None => 'X',
    };
    let mut pairs = prediction.pairs.clone();
    pairs.sort_by_key(|p| (p.i, p.j));
    write_atomic(path, |w| {
        for p in &pairs {
            writeln!(
                w,
                "{} {} {} {} 0 {}",
                p.i,
                letter(p.i),
                p.j,
                letter(p.j),
                p.score
            )?;
        }
        Ok(())
    })
}

/// Reads the EC lines of `text` into `reader`. A line whose first word is
/// `i` is a header: it must name columns `i`, `j` and `cn`, whose positions
/// are used from then on; without one they are 1, 3 and 6.
pub(super) fn parse(text: &str, reader: &mut PairReader) -> anyhow::Result<()> {
    // Column positions, from a header when there is one.
    let (mut ci, mut cj, mut cs) = (0, 2, 5);
    // The `fn` score column is not used, but must be a number when present.
    let mut cf = Some(4);
    for (n, line) in data_lines(text) {
        let t = tokens(line);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::tests::example;
    use crate::contacts::{
        ContactFormat, ScoredPair, detect_format, parse_prediction, read_prediction,
    };

    #[test]
    fn ec_writes_plmc_layout_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.ec");
        write_ec(&path, &example(), Some("AC-EF")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "1 A 2 C 0 0.5\n1 A 5 F 0 2.25\n2 C 4 E 0 -0.125\n3 - 5 F 0 0.5\n"
        );
        assert_eq!(detect_format(&text), Some(ContactFormat::Plmc));
        let back = read_prediction(&path, Some(5)).unwrap();
        assert_eq!(back.ranked(), example().ranked());
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
}
