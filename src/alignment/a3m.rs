//! A3M reader (HH-suite). A3M is FASTA with lowercase insertions that need no
//! padding (rows differ in raw length) and an optional first line starting
//! with `#`; once insertions are removed it is read exactly like FASTA/A2M.
use super::fasta;
use super::input::LineReader;
use super::rows::Builder;

/// Reads A3M records into `builder`.
pub(crate) fn read(lines: &mut LineReader, builder: &mut Builder) -> anyhow::Result<()> {
    fasta::read(lines, builder, true)
}
