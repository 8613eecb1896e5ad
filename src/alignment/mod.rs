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
//!   differ only in the format name reported, see below). Any other
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
//! Format detection (unless [`ReadOptions::format`] forces one), from the
//! first non-empty line: `# STOCKHOLM` → Stockholm; `>` → FASTA, reported as
//! A3M when the records' raw lengths (insertions included) differ (A2M pads
//! insertions with `.` so that raw lengths are equal, A3M does not); another
//! `#` line → A3M; a row of letters, `-`, `.`, `*` only → `.aln`. Stockholm
//! reading stops at the first `//`.
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
        ReadOptions {
            format: None,
            keep_query_gaps: false,
            max_gap_fraction: 0.9,
        }
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
        return Err(crate::error::input_error(format!(
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
    let lines = input::LineReader::open(path)?;
    read_lines(lines, path, options)
}

/// Parses an alignment held in memory (optionally gzipped), exactly as
/// [`read_alignment`] parses a file; `name` stands for the file in messages
/// and in [`Alignment::path`]. Used by the fuzz targets (fuzz/).
pub fn parse_alignment_bytes(
    name: &str,
    bytes: &[u8],
    options: &ReadOptions,
) -> anyhow::Result<Alignment> {
    let lines = input::LineReader::from_bytes(name, bytes.to_vec());
    read_lines(lines, Path::new(name), options)
}

/// Reads an alignment from an opened line reader.
fn read_lines(
    mut lines: input::LineReader,
    path: &Path,
    options: &ReadOptions,
) -> anyhow::Result<Alignment> {
    validate_options(options)?;
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
    let format =
        if options.format.is_none() && detected == Format::Fasta && builder.raw_lengths_differ() {
            Format::A3m
        } else {
            detected
        };
    builder.finish(path, format)
}

/// File extensions of alignments (each also with `.gz`): what `fadca batch`
/// recognises in a family folder, and what [`family_name`] strips.
pub const EXTENSIONS: [&str; 9] = [
    "fasta",
    "fa",
    "fas",
    "faa",
    "a3m",
    "a2m",
    "sto",
    "stockholm",
    "aln",
];

/// Generic extensions that [`family_name`] strips as well (`x.msa`,
/// `x.txt`), though they do not name a format.
pub const GENERIC_EXTENSIONS: [&str; 2] = ["msa", "txt"];

/// File stems that name no family (`famA/msa.fasta`): the family is
/// named after the nearest folder above that does.
pub const GENERIC_STEMS: [&str; 10] = [
    "msa",
    "alignment",
    "aln",
    "align",
    "query",
    "input",
    "seqs",
    "sequences",
    "output",
    "out",
];

/// Stems of the per-database alignments that AlphaFold and ColabFold write
/// for each target (`T1/msas/uniref90_hits.sto`): named after the target's
/// folder and the stem (`T1_uniref90_hits`), so that the several
/// alignments of one target stay apart.
pub const DATABASE_STEMS: [&str; 9] = [
    "bfd_uniclust_hits",
    "bfd_uniref_hits",
    "small_bfd_hits",
    "uniref90_hits",
    "uniref30_hits",
    "uniclust30_hits",
    "mgnify_hits",
    "uniprot_hits",
    "pdb_hits",
];

/// Folder names that name no family (`T1/msas/…`, `data/msa.fasta`): the
/// name is taken from a folder further up.
pub const GENERIC_FOLDERS: [&str; 10] = [
    "msas",
    "msa",
    "alignments",
    "alignment",
    "aln",
    "data",
    "input",
    "inputs",
    "output",
    "outputs",
];

/// The family name of an alignment file, which names its default output
/// folder and model file: the file name without `.gz` and without one
/// alignment extension ([`EXTENSIONS`], [`GENERIC_EXTENSIONS`]), e.g.
/// `PF00014.a3m.gz` → `PF00014`. When that stem names no family
/// ([`GENERIC_STEMS`]: `famA/msa.fasta` → `famA`) the nearest folder above
/// the file whose name is not generic ([`GENERIC_FOLDERS`]) names it; a
/// per-database alignment of AlphaFold or ColabFold ([`DATABASE_STEMS`])
/// gets that folder's name and its stem (`T1/msas/uniref90_hits.sto` →
/// `T1_uniref90_hits`). So alignments laid out one folder per family get
/// distinct names.
pub fn family_name(msa: &Path) -> String {
    let mut name = msa
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "msa".into());
    if let Some(stem) = name.strip_suffix(".gz") {
        name = stem.to_string();
    }
    if let Some((stem, ext)) = name.rsplit_once('.')
        && !stem.is_empty()
    {
        let ext = ext.to_ascii_lowercase();
        if EXTENSIONS.contains(&ext.as_str()) || GENERIC_EXTENSIONS.contains(&ext.as_str()) {
            name = stem.to_string();
        }
    }
    if name.is_empty() {
        name = "msa".into();
    }
    let stem = name.to_ascii_lowercase();
    let generic = GENERIC_STEMS.contains(&stem.as_str());
    let database = DATABASE_STEMS.contains(&stem.as_str());
    if !(generic || database) {
        return name;
    }
    match family_folder(msa) {
        Some(folder) if generic => folder,
        Some(folder) => format!("{folder}_{name}"),
        None => name,
    }
}

/// The nearest folder above `msa` whose name is not in [`GENERIC_FOLDERS`]
/// (the real folder names when the path can be resolved, so that
/// `msa.fasta` in the current folder is named after it).
fn family_folder(msa: &Path) -> Option<String> {
    let parent = match msa.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent = parent.canonicalize().unwrap_or(parent);
    parent
        .ancestors()
        .filter_map(|a| a.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .find(|n| {
            !GENERIC_FOLDERS.contains(&n.to_ascii_lowercase().as_str()) && n != "." && n != ".."
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str, options: &ReadOptions) -> anyhow::Result<Alignment> {
        let lines = input::LineReader::from_reader("t.txt", std::io::Cursor::new(text.to_string()));
        read_lines(lines, Path::new("t.txt"), options)
    }

    fn read_default(text: &str) -> Alignment {
        match read_str(text, &ReadOptions::default()) {
            Ok(a) => a,
            Err(e) => panic!("reading failed: {e:#}"),
        }
    }

    fn letters(a: &Alignment, row: usize) -> String {
        a.states
            .row(row)
            .iter()
            .map(|&s| ALPHABET[s as usize] as char)
            .collect()
    }

    fn err(text: &str, options: &ReadOptions) -> String {
        match read_str(text, options) {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => {
                assert!(crate::error::is_input_error(&e));
                format!("{e:#}")
            }
        }
    }

    #[test]
    fn state_of_maps_alphabet_and_gaps() {
        for (i, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(state_of(c), Some(i as u8));
            assert_eq!(state_of(c.to_ascii_lowercase()), Some(i as u8));
        }
        for c in *b"XBZJOU*.xbzjou" {
            assert_eq!(state_of(c), Some(GAP));
        }
        for c in *b"1 >#\t" {
            assert_eq!(state_of(c), None);
        }
    }

    #[test]
    fn wrapped_fasta() {
        let a = read_default(">q desc\nACD\nEF\n\n>s2\nAC-\nEF\n");
        assert_eq!(a.format, Format::Fasta);
        assert_eq!(a.names, vec!["q", "s2"]);
        assert_eq!(letters(&a, 0), "ACDEF");
        assert_eq!(letters(&a, 1), "AC-EF");
        assert_eq!(a.query_sequence, "ACDEF");
    }

    #[test]
    fn a3m_insertions_and_hash_line() {
        let text = "#A3M header\n>q\nAC-DE\n>s1\nAgggC-DE\n>s2\nA.C-..DEk\n";
        let a = read_default(text);
        assert_eq!(a.format, Format::A3m);
        assert_eq!(a.stats.n_columns, 5);
        assert_eq!(a.stats.n_columns_dropped, 1);
        assert_eq!(letters(&a, 0), "ACDE");
        assert_eq!(letters(&a, 1), "ACDE");
        assert_eq!(letters(&a, 2), "ACDE");
    }

    #[test]
    fn a2m_with_padded_inserts_is_reported_as_fasta() {
        let a = read_default(">q\nAC..D\n>s\nA-ggD\n");
        assert_eq!(a.format, Format::Fasta);
        assert_eq!(letters(&a, 1), "A-D");
    }

    #[test]
    fn stockholm_blocks_and_markup() {
        let text = "# STOCKHOLM 1.0\n#=GF ID test\n#=GS q DE query\n\nq   AC-D.\ns1  A-CDk\n#=GC SS_cons .....\n\nq   EF\ns1  EF\n//\nafter the end\n";
        let a = read_default(text);
        assert_eq!(a.format, Format::Stockholm);
        assert_eq!(a.names, vec!["q", "s1"]);
        assert_eq!(a.query_sequence, "ACDEF");
        assert_eq!(letters(&a, 1), "A-DEF");
        assert_eq!(a.stats.n_columns, 6);
    }

    #[test]
    fn aln_rows_are_named_in_order() {
        let a = read_default("ACDE\nA-DE\n\nAXDE\n");
        assert_eq!(a.format, Format::Aln);
        assert_eq!(a.names, vec!["seq1", "seq2", "seq3"]);
        assert_eq!(letters(&a, 2), "A-DE");
    }

    #[test]
    fn query_x_is_kept_with_its_letter_and_gap_state() {
        let a = read_default(">q\nAX-C*D\n>s\nAAAAAA\n");
        assert_eq!(a.query_sequence, "AXCD");
        assert_eq!(letters(&a, 0), "A-CD");
        assert_eq!(letters(&a, 1), "AAAA");
        let keep = ReadOptions {
            keep_query_gaps: true,
            ..ReadOptions::default()
        };
        let a = read_str(">q\nAX-C*D\n>s\nAAAAAA\n", &keep).unwrap();
        assert_eq!(a.query_sequence, "AX-C-D");
        assert_eq!(a.length(), 6);
    }

    #[test]
    fn gappy_sequences_are_dropped_but_never_the_query() {
        // Query 10 columns, 1 gap; s1: 9 gaps (0.9, kept); s2: 10 gaps after focus (1.0, dropped).
        let text = ">q\nACDEFGHIK-\n>s1\nA---------\n>s2\n---------A\n";
        let a = read_default(text);
        assert_eq!(a.stats.n_read, 3);
        assert_eq!(a.stats.n_dropped_gappy, 1);
        assert_eq!(a.stats.n_kept, 2);
        assert_eq!(a.names, vec!["q", "s1"]);
        let strict = ReadOptions {
            max_gap_fraction: 0.5,
            ..ReadOptions::default()
        };
        let a = read_str(">q\n--A\n>s\n--C\n", &strict).unwrap();
        assert_eq!(a.stats.n_kept, 2);
        let a = read_str(">q\nAC\n>s\n-C\n>t\n--\n", &strict).unwrap();
        assert_eq!((a.stats.n_kept, a.stats.n_dropped_gappy), (2, 1));
    }

    #[test]
    fn forced_format_is_reported() {
        let opts = ReadOptions {
            format: Some(Format::A3m),
            ..ReadOptions::default()
        };
        assert_eq!(read_str(">q\nAC\n", &opts).unwrap().format, Format::A3m);
    }

    #[test]
    fn errors_name_line_column_and_record() {
        let o = ReadOptions::default();
        let e = err(">q\nACD\n>s\nA1D\n", &o);
        assert!(
            e.contains("t.txt, line 4, column 2") && e.contains("'1'"),
            "{e}"
        );
        let e = err(">q\nACD\n>s\nAD\n", &o);
        assert!(
            e.contains("record 2 's'") && e.contains("2 columns") && e.contains("has 3"),
            "{e}"
        );
        let e = err("# STOCKHOLM 1.0\nq AC\ns A_\n//\n", &o);
        assert!(e.contains("line 3, column 4"), "{e}");
        let e = err("", &o);
        assert!(e.contains("empty"), "{e}");
        let e = err("\n\n", &o);
        assert!(e.contains("empty"), "{e}");
        let e = err("# STOCKHOLM 1.0\n//\n", &o);
        assert!(e.contains("no sequences"), "{e}");
        let e = err("ACD\nxx?\n", &o);
        assert!(e.contains("line 2, column 3"), "{e}");
        let e = err("hello world!\n", &o);
        assert!(e.contains("cannot detect"), "{e}");
        let e = err(">q\n---\n", &o);
        assert!(e.contains("only gaps"), "{e}");
        let e = err(">q\nacd\n", &o);
        assert!(e.contains("no alignment columns"), "{e}");
        let bad = ReadOptions {
            max_gap_fraction: 1.5,
            ..ReadOptions::default()
        };
        let e = err(">q\nA\n", &bad);
        assert!(e.contains("--max-gap-fraction"), "{e}");
    }

    #[test]
    fn family_names() {
        assert_eq!(family_name(Path::new("a/b/PF00014.a3m.gz")), "PF00014");
        assert_eq!(family_name(Path::new("example.fasta")), "example");
        assert_eq!(family_name(Path::new("x.FASTA")), "x");
        assert_eq!(family_name(Path::new("1abc.A.sto")), "1abc.A");
        assert_eq!(family_name(Path::new("family")), "family");
        assert_eq!(family_name(Path::new("data.v2")), "data.v2");
        assert_eq!(family_name(Path::new(".fasta")), ".fasta");
        // Generic stems: named after the family's folder.
        assert_eq!(family_name(Path::new("/x/famA/msa.fasta")), "famA");
        assert_eq!(family_name(Path::new("/x/famB/msa.fasta")), "famB");
        assert_eq!(
            family_name(Path::new("/x/famA/data/alignment.a3m.gz")),
            "famA"
        );
        // AlphaFold / ColabFold per-database alignments of one target.
        assert_eq!(
            family_name(Path::new("/out/T1/msas/uniref90_hits.sto")),
            "T1_uniref90_hits"
        );
        assert_eq!(
            family_name(Path::new("/out/T1/msas/bfd_uniclust_hits.a3m")),
            "T1_bfd_uniclust_hits"
        );
        // In the current folder: named after it.
        let here = std::env::current_dir().unwrap();
        let here = here.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(family_name(Path::new("msa.fasta")), here);
    }
}
