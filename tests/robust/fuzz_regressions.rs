//! Inputs found by the fuzz targets (fuzz/, see FUZZING.md), replayed through
//! the targets' own checks (fuzz/checks.rs, included below):
//! tests/data/fuzz-regressions/<target>/<file>, where the file's first byte
//! is the target's selector byte. Any outcome but a panic is fine; an error
//! must be an input error. CI runs these, not the fuzzer.
use std::path::PathBuf;

use crate::common;

#[path = "../../fuzz/checks.rs"]
mod checks;

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
    replay("alignment", checks::alignment);
}

#[test]
fn prediction_regressions() {
    replay("prediction", checks::prediction);
}

#[test]
fn structure_regressions() {
    replay("structure", checks::structure);
}
