//! Stockholm reader: `# STOCKHOLM 1.0` header, `name sequence` lines, the
//! alignment possibly split into several blocks (each name's pieces are
//! concatenated in order), markup lines (`#=GF`, `#=GS`, `#=GR`, `#=GC`) and
//! other `#` lines ignored, `//` ends the alignment (anything after the first
//! `//` is ignored). Records are in order of first appearance.
//!
//! The whole file must be read before any record is complete, so the match
//! characters of every record are held once; each is turned into its final
//! row and freed in turn, so the peak stays about one copy of the alignment.
use std::collections::HashMap;

use super::input::LineReader;
use super::rows::{Builder, invalid_char_message, scan};

struct Record {
    name: String,
    matches: Vec<u8>,
    raw_len: usize,
    line: usize,
}

/// Reads a Stockholm alignment into `builder`.
pub(crate) fn read(lines: &mut LineReader, builder: &mut Builder) -> anyhow::Result<()> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut records: Vec<Record> = Vec::new();
    while lines.advance()? {
        let line = lines.line();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        if line.starts_with(b"//") {
            break;
        }
        let split = line
            .iter()
            .position(|c| c.is_ascii_whitespace())
            .ok_or_else(|| lines.error("expected 'name sequence', found a single word"))?;
        let name = String::from_utf8_lossy(&line[..split]).into_owned();
        let rest = &line[split..];
        let offset = split + rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
        let seq = &line[offset..];
        let line_no = lines.line_no();
        let slot = match index.get(&name) {
            Some(&i) => i,
            None => {
                index.insert(name.clone(), records.len());
                records.push(Record {
                    name,
                    matches: Vec::new(),
                    raw_len: 0,
                    line: line_no,
                });
                records.len() - 1
            }
        };
        let rec = &mut records[slot];
        match scan(seq, &mut rec.matches) {
            Ok(n) => rec.raw_len += n,
            Err((i, c)) => return Err(lines.error_at(offset + i + 1, invalid_char_message(c))),
        }
    }
    drop(index);
    for rec in &mut records {
        let matches = std::mem::take(&mut rec.matches);
        builder.push(&rec.name, &matches, rec.raw_len, rec.line)?;
    }
    Ok(())
}
