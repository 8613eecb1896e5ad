//! What the pair-list readers (fadca tsv, CASP RR, plmc EC) share: the data
//! lines of a file, their tokens, and [`PairReader`], which checks residue
//! numbers and scores, merges duplicate pairs and builds the [`Prediction`].
use std::collections::HashMap;
use std::path::Path;

use super::{Prediction, ScoredPair, rank_order};
use crate::error::InputError;

/// The largest residue number a contact file may name (the longest known
/// protein has about 35 000 residues); a larger one is an input error rather
/// than an L×L matrix that cannot be allocated (found by fuzzing).
pub const MAX_RESIDUE: usize = 100_000;

/// The lines that carry data, trimmed, with their 1-based line numbers:
/// blank lines and lines starting with `#` are skipped.
pub(super) fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// The tokens of a line: separated by whitespace or commas.
pub(super) fn tokens(line: &str) -> Vec<&str> {
    line.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect()
}

/// Collects the pairs of one file, checking numbering and merging duplicates
/// (a pair listed twice keeps its higher score; `j i` is read as `i j`).
/// Its errors are input errors naming the file and line.
pub(super) struct PairReader<'a> {
    /// The file, for messages.
    path: &'a Path,
    /// The query length L, when known: residue numbers must be ≤ L.
    expected_length: Option<usize>,
    /// Sequence length declared by the file (RR sequence lines).
    declared_length: Option<usize>,
    /// Score of each pair `(i, j)`, `i < j`.
    scores: HashMap<(usize, usize), f64>,
    /// The largest residue number seen.
    max_index: usize,
}

impl<'a> PairReader<'a> {
    /// A reader for file `path` (used only in messages) of a query of
    /// `expected_length` residues, when known.
    pub(super) fn new(path: &'a Path, expected_length: Option<usize>) -> Self {
        PairReader {
            path,
            expected_length,
            declared_length: None,
            scores: HashMap::new(),
            max_index: 0,
        }
    }

    /// An input error about line `line` of the file.
    pub(super) fn error(&self, line: usize, why: impl std::fmt::Display) -> anyhow::Error {
        InputError::in_file("contact file", self.path, why.to_string())
            .at_line(line)
            .into()
    }

    /// Records the sequence length the file declares (CASP RR sequence
    /// lines); when the query length is known they must agree. `line` is
    /// where the contact lines start, `None` when the file has none.
    pub(super) fn declare_length(
        &mut self,
        length: usize,
        line: Option<usize>,
    ) -> anyhow::Result<()> {
        self.declared_length = Some(length);
        match self.expected_length {
            Some(e) if e != length => {
                let error = InputError::in_file(
                    "contact file",
                    self.path,
                    format!("its sequence has {length} residues but the query has {e}"),
                );
                Err(match line {
                    Some(line) => error.at_line(line),
                    None => error,
                }
                .into())
            }
            _ => Ok(()),
        }
    }

    /// Token `token` of line `line` read as residue `what` (1-based, at most
    /// [`MAX_RESIDUE`] and the query length).
    pub(super) fn index(
        &self,
        line: usize,
        token: Option<&str>,
        what: &str,
    ) -> anyhow::Result<usize> {
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

    /// Token `token` of line `line` read as the finite number `what`.
    pub(super) fn score(
        &self,
        line: usize,
        token: Option<&str>,
        what: &str,
    ) -> anyhow::Result<f64> {
        let token = token.ok_or_else(|| self.error(line, format!("missing {what}")))?;
        let v: f64 = token
            .parse()
            .map_err(|_| self.error(line, format!("{what} {token:?} is not a number")))?;
        if !v.is_finite() {
            return Err(self.error(line, format!("{what} {token:?} is not finite")));
        }
        Ok(v)
    }

    /// Adds pair `a b` (either order) with `score`, read on line `line`.
    pub(super) fn add(
        &mut self,
        line: usize,
        a: usize,
        b: usize,
        score: f64,
    ) -> anyhow::Result<()> {
        if a == b {
            return Err(self.error(line, format!("pair {a} {b} pairs a residue with itself")));
        }
        let key = (a.min(b), a.max(b));
        self.max_index = self.max_index.max(key.1);
        let entry = self.scores.entry(key).or_insert(score);
        *entry = entry.max(score);
        Ok(())
    }

    /// The prediction read: its length is the query length when known, else
    /// the declared sequence length, else the largest residue number; pairs
    /// in rank order.
    pub(super) fn finish(self) -> Prediction {
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
        Prediction { length, pairs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::{ContactFormat, parse_prediction};

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
}
