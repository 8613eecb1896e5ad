//! What each fuzz target checks on one input, in one place: the targets in
//! fuzz_targets/ call these, and so does the regression test
//! tests/robust/fuzz_regressions.rs, which replays the inputs the fuzzer
//! found (tests/data/fuzz-regressions/<target>/) on every `cargo test`. Both
//! include this file with `#[path = …] mod checks;`.
//!
//! The first byte of an input is the selector (which reader, which options);
//! the rest is the file. Any outcome but a panic is fine; an error must be
//! an input error (exit code 2 in the CLI).

// Each fuzz target uses one of these.
#![allow(dead_code)]

use std::path::Path;

use fadca::alignment::{Format, ReadOptions, parse_alignment_bytes};
use fadca::contacts::{ContactFormat, detect_format, parse_prediction};
use fadca::structure::{map_to_query, parse_structure};

/// Every alignment reader on arbitrary bytes (gzip included: the magic
/// bytes switch decompression on). Selector: `% 5` auto-detection or one
/// forced format; bit 3 `keep_query_gaps`; bit 4 `max_gap_fraction = 0`.
pub fn alignment(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = match selector % 5 {
        0 => None,
        1 => Some(Format::Fasta),
        2 => Some(Format::A3m),
        3 => Some(Format::Stockholm),
        _ => Some(Format::Aln),
    };
    let options = ReadOptions {
        format,
        keep_query_gaps: selector & 0x08 != 0,
        max_gap_fraction: if selector & 0x10 != 0 { 0.0 } else { 0.9 },
    };
    match parse_alignment_bytes("fuzz.input", body, &options) {
        Ok(a) => {
            assert_eq!(a.states.nrows(), a.names.len());
            assert_eq!(a.states.ncols(), a.query_sequence.len());
            assert!(a.states.iter().all(|&s| s < 21));
        }
        Err(e) => assert!(
            fadca::error::is_input_error(&e),
            "not an input error: {e:#}"
        ),
    }
}

/// The contact-file readers (fadca tsv, CCMpred matrix, CASP RR, plmc EC)
/// on arbitrary text. Selector: `% 5` detection or one forced format; bit 3
/// an expected query length `(selector >> 4) + 1`.
pub fn prediction(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let format = match selector % 5 {
        0 => match detect_format(text) {
            Some(f) => f,
            None => return,
        },
        1 => ContactFormat::Fadca,
        2 => ContactFormat::Ccmpred,
        3 => ContactFormat::CaspRr,
        _ => ContactFormat::Plmc,
    };
    let expected = (selector & 0x08 != 0).then_some((selector >> 4) as usize + 1);
    match parse_prediction(text, format, Path::new("fuzz.input"), expected) {
        Ok(p) => {
            // A legitimate L of tens of thousands would need gigabytes here.
            if p.length <= 2000 {
                let m = p.to_matrix();
                assert_eq!(m.nrows(), m.ncols());
            }
            let _ = p.top(5, 6, None);
        }
        Err(e) => assert!(
            fadca::error::is_input_error(&e),
            "not an input error: {e:#}"
        ),
    }
}

/// Structure loading (PDB or mmCIF, detected from content) on arbitrary
/// text, then the mapping onto a fixed query. Selector: bit 0 chain `A`
/// instead of the default chain.
pub fn structure(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let chain = (selector & 1 == 1).then_some("A");
    match parse_structure(&text, Path::new("fuzz.input"), chain) {
        Ok(s) => {
            let _ = map_to_query("ACDEFGHIKLMNPQRSTVWY", &s);
        }
        Err(e) => assert!(
            fadca::error::is_input_error(&e),
            "not an input error: {e:#}"
        ),
    }
}
