//! Inputs found by the fuzz targets (fuzz/, see FUZZING.md), replayed through
//! the same checks as the targets: tests/data/fuzz-regressions/<target>/<file>,
//! where the file's first byte is the target's selector byte. Any outcome
//! but a panic is fine; an error must be an input error. CI runs these, not
//! the fuzzer.
use std::path::{Path, PathBuf};

use fadca::alignment::{Format, ReadOptions, parse_alignment_bytes};
use fadca::contacts::{ContactFormat, detect_format, parse_prediction};
use fadca::structure::{map_to_query, parse_structure};

use crate::common;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = common::data("fuzz-regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Same as fuzz/fuzz_targets/alignment.rs.
fn alignment(data: &[u8]) {
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

/// Same as fuzz/fuzz_targets/prediction.rs.
fn prediction(data: &[u8]) {
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

/// Same as fuzz/fuzz_targets/structure.rs.
fn structure(data: &[u8]) {
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

fn replay(target: &str, check: fn(&[u8])) {
    let mut failed = Vec::new();
    for (path, bytes) in inputs(target) {
        if std::panic::catch_unwind(|| check(&bytes)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "panicked on: {failed:?}");
}

#[test]
fn alignment_regressions() {
    replay("alignment", alignment);
}

#[test]
fn prediction_regressions() {
    replay("prediction", prediction);
}

#[test]
fn structure_regressions() {
    replay("structure", structure);
}
