//! PSICOV / CCMpred `.aln` reader: one sequence per line, no headers. Records
//! are named `seq1`, `seq2`, … in file order. Blank lines are skipped.
use super::input::LineReader;
use super::rows::{Builder, invalid_char_message, scan};

/// Reads `.aln` rows into `builder`.
pub(crate) fn read(lines: &mut LineReader, builder: &mut Builder) -> anyhow::Result<()> {
    let mut matches: Vec<u8> = Vec::new();
    while lines.advance()? {
        let line = lines.line();
        if line.is_empty() {
            continue;
        }
        matches.clear();
        let raw_len = match scan(line, &mut matches) {
            Ok(n) => n,
            Err((i, c)) => return Err(lines.error_at(i + 1, invalid_char_message(c))),
        };
        let name = format!("seq{}", builder.n_read() + 1);
        let line_no = lines.line_no();
        builder.push(&name, &matches, raw_len, line_no)?;
    }
    Ok(())
}
