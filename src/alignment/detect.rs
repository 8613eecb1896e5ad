//! Format detection from content, from the first non-empty line:
//!
//! - `# STOCKHOLM` → Stockholm;
//! - `>` → FASTA/A2M (reported as A3M afterwards when the records' raw
//!   lengths, insertions included, differ: A2M pads insertions with `.` so
//!   that all rows have the same raw length, A3M does not);
//! - another line starting with `#` → A3M (HH-suite's optional first line);
//! - a line of alignment characters only (letters, `-`, `.`, `*`) → `.aln`.
//!
//! Anything else cannot be detected and is an input error suggesting `--format`.
use super::Format;
use super::input::LineReader;
use crate::error::InputError;

/// Peeks at the first non-empty line (which is given back to the reader)
/// and names the format.
pub(crate) fn detect(lines: &mut LineReader) -> anyhow::Result<Format> {
    loop {
        if !lines.advance()? {
            return Err(InputError::in_named_file(
                "alignment",
                lines.file(),
                "the file is empty (no sequences)",
            )
            .into());
        }
        let line = lines.line();
        if line.is_empty() {
            continue;
        }
        let format = if line.starts_with(b"# STOCKHOLM") {
            Format::Stockholm
        } else if line.starts_with(b">") {
            Format::Fasta
        } else if line.starts_with(b"#") {
            Format::A3m
        } else if line
            .iter()
            .all(|&c| c.is_ascii_alphabetic() || c == b'-' || c == b'.' || c == b'*')
        {
            Format::Aln
        } else {
            return Err(lines.error(
                "cannot detect the alignment format: the first line is not a '>' header, \
                 '# STOCKHOLM 1.0', an A3M '#' line or a row of alignment characters \
                 (use --format to force one)",
            ));
        };
        lines.unread();
        return Ok(format);
    }
}
