//! fadca's own contact list, `contacts.tsv` ([`super::ContactFormat::Fadca`]):
//! a header `i\tj\tscore`, then one pair per line in rank order. Read with
//! tabs, spaces or commas between the columns; the header is optional.
use std::path::Path;

use super::Prediction;
use super::pairs::{PairReader, data_lines, tokens};
use crate::io::write_atomic;

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

/// Reads the `i j score` lines of `text` into `reader` (a line whose first
/// word is `i` is the header).
pub(super) fn parse(text: &str, reader: &mut PairReader) -> anyhow::Result<()> {
    for (n, line) in data_lines(text) {
        let t = tokens(line);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::tests::example;
    use crate::contacts::{ContactFormat, parse_prediction, read_prediction};

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
    }

    #[test]
    fn tsv_round_trips_through_detection() {
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
    }
}
