//! The CCMpred matrix, fadca's `contacts.mat` ([`super::ContactFormat::Ccmpred`]):
//! L lines of L scores (tabs or spaces), symmetric with a zero diagonal. It
//! is read from its upper triangle (row `i`, column `j > i`).
use std::path::Path;

use anyhow::Context;
use ndarray::Array2;

use super::pairs::{data_lines, tokens};
use super::{Prediction, rank_order};
use crate::error::InputError;
use crate::io::write_atomic;

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

/// Reads a matrix from `text` (`path` only for messages); with
/// `expected_length` every row must have that many values. Pairs in rank
/// order.
pub(super) fn parse(
    text: &str,
    path: &Path,
    expected_length: Option<usize>,
) -> anyhow::Result<Prediction> {
    let error = |why: String| InputError::in_file("contact matrix", path, why);
    let at = |line: usize, why: String| anyhow::Error::from(error(why).at_line(line));
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (n, line) in data_lines(text) {
        let mut row = Vec::new();
        for (col, tok) in tokens(line).into_iter().enumerate() {
            let v: f64 = tok
                .parse()
                .map_err(|_| at(n, format!("column {}: {tok:?} is not a number", col + 1)))?;
            if !v.is_finite() {
                return Err(at(n, format!("column {}: {tok:?} is not finite", col + 1)));
            }
            row.push(v);
        }
        if let Some(first) = rows.first()
            && row.len() != first.len()
        {
            return Err(at(
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
            return Err(at(
                n,
                format!("{} values but the query length is {l}", row.len()),
            ));
        }
        rows.push(row);
    }
    let l = rows.len();
    if l == 0 {
        return Err(error("no data".into()).into());
    }
    if rows[0].len() != l {
        return Err(error(format!("{l} rows of {} values, not square", rows[0].len())).into());
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
    use crate::contacts::tests::example;
    use crate::contacts::{ContactFormat, parse_prediction, read_prediction};

    #[test]
    fn mat_errors_name_file_and_line() {
        let path = Path::new("x.tsv");
        let e =
            parse_prediction("0\t1\n1\t0\t2\n", ContactFormat::Ccmpred, path, None).unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }

    #[test]
    fn mat_round_trips_through_detection() {
        let dir = tempfile::tempdir().unwrap();
        let p = example();
        let mat = dir.path().join("c.mat");
        write_mat(&mat, &p).unwrap();
        let back = read_prediction(&mat, Some(5)).unwrap();
        assert_eq!(back.length, 5);
        assert_eq!(back.to_matrix(), p.to_matrix());
    }
}
