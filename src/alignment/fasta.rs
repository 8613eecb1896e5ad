//! FASTA / A2M reader: `>` header lines, each followed by the record's
//! sequence, possibly wrapped over several lines. The record name is the
//! header's first word. Lowercase letters and `.` (A2M insert states) are
//! removed like everywhere else. Also used for A3M, which is the same
//! layout plus an optional first line starting with `#`.
use super::input::LineReader;
use super::rows::{Builder, invalid_char_message, scan};

/// Reads FASTA-layout records into `builder`. With `allow_hash_line`, a
/// first non-empty line starting with `#` (A3M) is skipped.
pub(crate) fn read(
    lines: &mut LineReader,
    builder: &mut Builder,
    allow_hash_line: bool,
) -> anyhow::Result<()> {
    let mut name: Option<String> = None;
    let mut start_line = 0usize;
    let mut matches: Vec<u8> = Vec::new();
    let mut raw_len = 0usize;
    let mut seen_content = false;
    while lines.advance()? {
        let line = lines.line();
        if line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix(b">") {
            if let Some(prev) = name.take() {
                builder.push(&prev, &matches, raw_len, start_line)?;
            }
            // Valid UTF-8 is checked by the line reader.
            let header = String::from_utf8_lossy(header);
            let first = header.split_whitespace().next().unwrap_or("");
            name = Some(first.to_string());
            start_line = lines.line_no();
            matches.clear();
            raw_len = 0;
            seen_content = true;
            continue;
        }
        if name.is_none() {
            if allow_hash_line && !seen_content && line.starts_with(b"#") {
                seen_content = true;
                continue;
            }
            return Err(lines.error("expected a '>' header line before sequence data"));
        }
        match scan(line, &mut matches) {
            Ok(n) => raw_len += n,
            Err((i, c)) => return Err(lines.error_at(i + 1, invalid_char_message(c))),
        }
    }
    if let Some(prev) = name.take() {
        builder.push(&prev, &matches, raw_len, start_line)?;
    }
    Ok(())
}
