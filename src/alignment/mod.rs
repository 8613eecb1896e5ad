//! Reading multiple sequence alignments (SPEC §2).
//!
//! One reader per format (FASTA/A2M, A3M, Stockholm, PSICOV `.aln`), each
//! optionally gzipped, with the format detected from content. The result is a
//! compact N×L matrix of states (`u8`, index into [`ALPHABET`]) plus names.
//!
//! Rules shared by all formats (SPEC §2):
//!
//! - Uppercase letters, `-` and `*` are alignment (match) columns; lowercase
//!   letters and `.` are insertions and are removed, in every format (this is
//!   the A2M/A3M convention; FASTA and A2M/A3M therefore share one reader and
//!   differ only in the format name reported, see [`detect`]). Any other
//!   character is an error naming file, line and column.
//! - The 20 amino acids map to states 0..20; `-`, `*` and the other letters
//!   (`X B Z J O U`…) map to the gap state.
//! - After insertions are removed every record must have the query's length;
//!   otherwise an error names the record (number and name) and both lengths.
//! - The first record is the query. Focus mode drops the columns where the
//!   query has `-` or `*`; letters such as `X` are query residues (their
//!   state is the gap, but the column is kept and shown with its letter in
//!   [`Alignment::query_sequence`]).
//! - Then sequences whose gap fraction over the kept columns is larger than
//!   [`ReadOptions::max_gap_fraction`] are dropped (never the query).
//!
//! Files are read line by line (one reusable buffer); rows are reduced to
//! their kept columns as they arrive (Stockholm: once the file is read), so
//! only one compact copy of the alignment is held.
use std::path::{Path, PathBuf};

mod a3m;
mod aln;
mod detect;
mod fasta;
mod input;
mod rows;
mod stockholm;

use ndarray::Array2;

/// State alphabet in index order; the gap is state 20.
pub const ALPHABET: &[u8; 21] = b"ARNDCQEGHILKMFPSTWYV-";
/// Index of the gap state.
pub const GAP: u8 = 20;

/// Alignment file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// FASTA or A2M (`>` headers, sequences possibly wrapped over several lines).
    Fasta,
    /// HH-suite A3M (FASTA-like, lowercase insertions, optional first `#` line).
    A3m,
    /// Stockholm (`# STOCKHOLM 1.0`, `name sequence` lines, several blocks, `//`).
    Stockholm,
    /// PSICOV / CCMpred `.aln`: one sequence per line, no headers.
    Aln,
}

impl Format {
    /// The format's name as used by `--format` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Fasta => "fasta",
            Format::A3m => "a3m",
            Format::Stockholm => "stockholm",
            Format::Aln => "aln",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to read an alignment.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Force a format instead of detecting it from content.
    pub format: Option<Format>,
    /// Keep columns where the query has a gap (default: drop them, focus mode).
    pub keep_query_gaps: bool,
    /// Drop sequences with a larger fraction of gaps than this (over the kept columns).
    pub max_gap_fraction: f64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { format: None, keep_query_gaps: false, max_gap_fraction: 0.9 }
    }
}

/// What happened while reading: counts for the report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReadStats {
    /// Sequence records read from the file (query included).
    pub n_read: usize,
    /// Sequences dropped because their gap fraction exceeded the maximum.
    pub n_dropped_gappy: usize,
    /// Sequences kept (query included).
    pub n_kept: usize,
    /// Alignment columns after insertions were removed.
    pub n_columns: usize,
    /// Columns dropped because the query has a gap there.
    pub n_columns_dropped: usize,
}

/// A multiple sequence alignment ready for training.
#[derive(Debug, Clone)]
pub struct Alignment {
    /// The file it was read from.
    pub path: PathBuf,
    /// The format it was read as.
    pub format: Format,
    /// Names of the kept sequences, in file order; the query is first.
    pub names: Vec<String>,
    /// States of the kept sequences, N×L, values in `0..21`; row 0 is the query.
    pub states: Array2<u8>,
    /// The query's residues (uppercase letters, `-` at a gap) over the kept
    /// columns: residue numbering 1…L of every output.
    pub query_sequence: String,
    /// Counts for the report.
    pub stats: ReadStats,
}

impl Alignment {
    /// Number of kept sequences N.
    pub fn depth(&self) -> usize {
        self.states.nrows()
    }

    /// Number of kept columns L.
    pub fn length(&self) -> usize {
        self.states.ncols()
    }

    /// Name of the query (first) sequence.
    pub fn query_name(&self) -> &str {
        &self.names[0]
    }

    /// Fraction of gap states over all kept sequences and columns (0 when empty).
    pub fn mean_gap_fraction(&self) -> f64 {
        let total = self.states.len();
        if total == 0 {
            return 0.0;
        }
        let gaps = self.states.iter().filter(|&&s| s == GAP).count();
        gaps as f64 / total as f64
    }
}

/// Maps an alignment character to its state: the 20 amino acids (either case)
/// to 0..20, `-`, `.`, `*` and any other letter to the gap. Returns `None` for
/// a character that is neither a letter, `-`, `.` nor `*`.
pub fn state_of(c: u8) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    match ALPHABET[..20].iter().position(|&a| a == upper) {
        Some(i) => Some(i as u8),
        None if c.is_ascii_alphabetic() || c == b'-' || c == b'.' || c == b'*' => Some(GAP),
        None => None,
    }
}

/// Checks the options; an out-of-range value is an input error.
pub fn validate_options(options: &ReadOptions) -> anyhow::Result<()> {
    let x = options.max_gap_fraction;
    if !(0.0..=1.0).contains(&x) {
        return Err(crate::input_error(format!(
            "--max-gap-fraction must be between 0 and 1, got {x}"
        )));
    }
    Ok(())
}

/// Reads an alignment file (any supported format, optionally gzipped; the
/// gzip is recognised by its magic bytes, not its name). Bad input (missing
/// or unreadable file, directory, binary data, truncated gzip, invalid
/// characters, unequal row lengths, no sequences) is a one-line
/// [`crate::InputError`] naming the file and, where it applies, the line and
/// column or the record.
pub fn read_alignment(path: &Path, options: &ReadOptions) -> anyhow::Result<Alignment> {
    validate_options(options)?;
    let mut lines = input::LineReader::open(path)?;
    let detected = match options.format {
        Some(f) => f,
        None => detect::detect(&mut lines)?,
    };
    let mut builder = rows::Builder::new(lines.file(), options);
    match detected {
        Format::Fasta => fasta::read(&mut lines, &mut builder, false)?,
        Format::A3m => a3m::read(&mut lines, &mut builder)?,
        Format::Stockholm => stockholm::read(&mut lines, &mut builder)?,
        Format::Aln => aln::read(&mut lines, &mut builder)?,
    }
    let format = if options.format.is_none()
        && detected == Format::Fasta
        && builder.raw_lengths_differ()
    {
        Format::A3m
    } else {
        detected
    };
    builder.finish(path, format)
}
