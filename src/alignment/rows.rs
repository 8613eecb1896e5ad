//! What every format shares once a record's characters are known: the
//! column rule (uppercase letters, `-` and `*` are match columns; lowercase
//! letters and `.` are insertions and removed; anything else is an error),
//! the equal-length check against the query, focus mode (dropping the
//! query's gap columns), the gap-fraction filter, and the compact N×L
//! state matrix that is built row by row without a second copy.
use ndarray::Array2;

use super::{Alignment, Format, GAP, ReadOptions, ReadStats, state_of};
use crate::error::InputError;

/// Class of an input byte inside a sequence.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A match column: uppercase letter, `-` or `*`.
    Match,
    /// An insertion: lowercase letter or `.`; removed.
    Insert,
    /// Not allowed in a sequence.
    Invalid,
}

const fn class_table() -> [Class; 256] {
    let mut t = [Class::Invalid; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_uppercase() || b == b'-' || b == b'*' {
            Class::Match
        } else if b.is_ascii_lowercase() || b == b'.' {
            Class::Insert
        } else {
            Class::Invalid
        };
        c += 1;
    }
    t
}

static CLASS: [Class; 256] = class_table();

/// State of each match character (others map to the gap; never looked up).
fn state_table() -> [u8; 256] {
    let mut t = [GAP; 256];
    for (c, slot) in t.iter_mut().enumerate() {
        if let Some(s) = state_of(c as u8) {
            *slot = s;
        }
    }
    t
}

/// Appends the match characters of `seq` to `out`, skipping insertions.
/// Returns the number of raw characters (insertions included), or the
/// 0-based index and value of the first invalid byte.
pub(crate) fn scan(seq: &[u8], out: &mut Vec<u8>) -> Result<usize, (usize, u8)> {
    for (i, &c) in seq.iter().enumerate() {
        match CLASS[c as usize] {
            Class::Match => out.push(c),
            Class::Insert => {}
            Class::Invalid => return Err((i, c)),
        }
    }
    Ok(seq.len())
}

/// The message for an invalid byte found by [`scan`].
pub(crate) fn invalid_char_message(c: u8) -> String {
    let shown: String = if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("byte 0x{c:02x}")
    };
    format!("invalid character {shown} in a sequence (allowed: letters, '-', '.', '*')")
}

/// True for the characters that make a query column a gap column (dropped in
/// focus mode): `-` and `*`. Letters, including `X`, are residues.
fn is_query_gap(c: u8) -> bool {
    c == b'-' || c == b'*'
}

/// Collects records one at a time into the final alignment.
pub(crate) struct Builder<'a> {
    options: &'a ReadOptions,
    file: String,
    states: [u8; 256],
    n_read: usize,
    /// Match columns of the query (and so of every record).
    width: usize,
    /// Indices of the kept match columns.
    keep: Vec<usize>,
    query_sequence: String,
    names: Vec<String>,
    data: Vec<u8>,
    row: Vec<u8>,
    n_dropped_gappy: usize,
    first_raw_len: Option<usize>,
    raw_lengths_differ: bool,
}

impl<'a> Builder<'a> {
    /// A builder for the file named `file` in messages.
    pub(crate) fn new(file: &str, options: &'a ReadOptions) -> Self {
        Builder {
            options,
            file: file.to_string(),
            states: state_table(),
            n_read: 0,
            width: 0,
            keep: Vec::new(),
            query_sequence: String::new(),
            names: Vec::new(),
            data: Vec::new(),
            row: Vec::new(),
            n_dropped_gappy: 0,
            first_raw_len: None,
            raw_lengths_differ: false,
        }
    }

    /// Records read so far.
    pub(crate) fn n_read(&self) -> usize {
        self.n_read
    }

    /// True when records had different lengths before insertions were
    /// removed (the mark of A3M as opposed to FASTA/A2M).
    pub(crate) fn raw_lengths_differ(&self) -> bool {
        self.raw_lengths_differ
    }

    /// Adds one record: `name`, its match characters (insertions already
    /// removed), its raw length, and the line it started on (for messages).
    pub(crate) fn push(
        &mut self,
        name: &str,
        matches: &[u8],
        raw_len: usize,
        line: usize,
    ) -> anyhow::Result<()> {
        self.n_read += 1;
        match self.first_raw_len {
            None => self.first_raw_len = Some(raw_len),
            Some(r) if r != raw_len => self.raw_lengths_differ = true,
            Some(_) => {}
        }
        if self.n_read == 1 {
            return self.push_query(name, matches, line);
        }
        if matches.len() != self.width {
            return Err(self
                .record_error(
                    self.n_read,
                    name,
                    line,
                    format!(
                        "{} columns after removing insertions (lowercase letters and '.'), \
                         but the query (record 1) has {}",
                        matches.len(),
                        self.width
                    ),
                )
                .into());
        }
        self.row.clear();
        let mut gaps = 0usize;
        for &k in &self.keep {
            let s = self.states[matches[k] as usize];
            gaps += usize::from(s == GAP);
            self.row.push(s);
        }
        let l = self.keep.len();
        if gaps as f64 / l as f64 > self.options.max_gap_fraction {
            self.n_dropped_gappy += 1;
            return Ok(());
        }
        self.data.extend_from_slice(&self.row);
        self.names.push(name.to_string());
        Ok(())
    }

    /// An input error about record `number` named `name`, at line `line`.
    fn record_error(
        &self,
        number: usize,
        name: &str,
        line: usize,
        message: impl Into<String>,
    ) -> InputError {
        InputError::in_named_file("alignment", self.file.clone(), message)
            .in_record(number, name)
            .at_line(line)
    }

    fn push_query(&mut self, name: &str, matches: &[u8], line: usize) -> anyhow::Result<()> {
        if matches.is_empty() {
            return Err(self
                .record_error(
                    1,
                    name,
                    line,
                    "the query has no alignment columns \
                     (empty, or only insertions: lowercase letters and '.')",
                )
                .into());
        }
        self.width = matches.len();
        let keep_all = self.options.keep_query_gaps;
        self.keep = (0..matches.len())
            .filter(|&k| keep_all || !is_query_gap(matches[k]))
            .collect();
        if self.keep.is_empty() {
            return Err(self
                .record_error(
                    1,
                    name,
                    line,
                    "the query has only gaps; \
                     nothing is left in focus mode (use --keep-query-gaps to keep its gap columns)",
                )
                .into());
        }
        self.query_sequence = self
            .keep
            .iter()
            .map(|&k| {
                if is_query_gap(matches[k]) {
                    '-'
                } else {
                    matches[k] as char
                }
            })
            .collect();
        self.data
            .extend(self.keep.iter().map(|&k| self.states[matches[k] as usize]));
        self.names.push(name.to_string());
        Ok(())
    }

    /// Finishes the alignment. `path` and `format` are recorded in it.
    pub(crate) fn finish(
        self,
        path: &std::path::Path,
        format: Format,
    ) -> anyhow::Result<Alignment> {
        if self.n_read == 0 {
            return Err(InputError::in_named_file(
                "alignment",
                self.file.clone(),
                format!("no sequences found (format {})", format.name()),
            )
            .into());
        }
        let l = self.keep.len();
        let n = self.names.len();
        let states = Array2::from_shape_vec((n, l), self.data)
            .map_err(|e| anyhow::anyhow!("internal: building the state matrix: {e}"))?;
        Ok(Alignment {
            path: path.to_path_buf(),
            format,
            names: self.names,
            states,
            query_sequence: self.query_sequence,
            stats: ReadStats {
                n_read: self.n_read,
                n_dropped_gappy: self.n_dropped_gappy,
                n_kept: n,
                n_columns: self.width,
                n_columns_dropped: self.width - l,
            },
        })
    }
}
