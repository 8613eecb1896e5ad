//! plmc / EVcouplings EC files ([`super::ContactFormat::Plmc`]): lines
//! `i A_i j A_j fn cn` (spaces, or commas with a header naming the columns).
//! The APC-corrected `cn` column is the score; residue numbers are taken as
//! query numbers (run plmc with the query as focus sequence and region
//! start 1). fadca does not write this format.
use super::pairs::{PairReader, data_lines, tokens};

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
    use std::path::Path;

    use crate::contacts::{ContactFormat, ScoredPair, detect_format, parse_prediction};

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
