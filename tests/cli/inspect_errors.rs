//! Every bad-input path through the binary: exit code 2, exactly one line on
//! stderr naming the file (and line/column or record where it applies), no
//! panic.
use std::path::{Path, PathBuf};

use crate::common::{self, gzip};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs `fadca inspect PATH`, checks the failure contract, returns stderr.
fn fails(path: &Path, extra: &[&str]) -> String {
    let out = common::fadca()
        .arg("inspect")
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout should be empty");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()),
        "names the file: {stderr}"
    );
    stderr
}

#[test]
fn mixed_row_lengths_name_record_and_lengths() {
    let d = common::tempdir();
    let p = write(
        d.path(),
        "mixed.fasta",
        b">q\nACDEF\n>a\nACDEF\n>short one\nACD\n",
    );
    let e = fails(&p, &[]);
    assert!(
        e.contains("record 3 'short'") && e.contains("line 5"),
        "{e}"
    );
    assert!(e.contains("3 columns") && e.contains("has 5"), "{e}");
}

#[test]
fn bad_character_names_line_and_column() {
    let d = common::tempdir();
    let p = write(d.path(), "bad.fasta", b">q\nACDEF\n>a\nAC\nD3F\n");
    let e = fails(&p, &[]);
    assert!(e.contains("line 5, column 2") && e.contains("'3'"), "{e}");
    let p = write(
        d.path(),
        "bad.sto",
        b"# STOCKHOLM 1.0\nq  ACD\na  A+D\n//\n",
    );
    let e = fails(&p, &[]);
    assert!(e.contains("line 3, column 5") && e.contains("'+'"), "{e}");
}

#[test]
fn empty_file_and_blank_file() {
    let d = common::tempdir();
    let e = fails(&write(d.path(), "empty.fasta", b""), &[]);
    assert!(e.contains("empty"), "{e}");
    let e = fails(&write(d.path(), "blank.fasta", b"\n  \n\n"), &[]);
    assert!(e.contains("empty"), "{e}");
    let e = fails(&write(d.path(), "empty.gz", &gzip(b"")), &[]);
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn file_with_no_sequences() {
    let d = common::tempdir();
    let e = fails(
        &write(d.path(), "nothing.sto", b"# STOCKHOLM 1.0\n#=GF ID x\n//\n"),
        &[],
    );
    assert!(e.contains("no sequences"), "{e}");
    let e = fails(&write(d.path(), "hash_only.a3m", b"#only a comment\n"), &[]);
    assert!(e.contains("no sequences"), "{e}");
}

#[test]
fn truncated_gzip() {
    let d = common::tempdir();
    let mut text = Vec::new();
    for i in 0..2000 {
        text.extend_from_slice(format!(">s{i}\nACDEFGHIKLMNPQRSTVWY\n").as_bytes());
    }
    let gz = gzip(&text);
    let p = write(d.path(), "cut.fasta.gz", &gz[..gz.len() / 2]);
    let e = fails(&p, &[]);
    assert!(e.contains("gzip"), "{e}");
    // Only the 8-byte trailer (CRC, size) missing.
    let p = write(d.path(), "cut_trailer.fasta.gz", &gz[..gz.len() - 4]);
    let e = fails(&p, &[]);
    assert!(e.contains("gzip"), "{e}");
}

#[test]
fn binary_garbage_and_invalid_utf8() {
    let d = common::tempdir();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let e = fails(&write(d.path(), "garbage.bin", &garbage), &[]);
    assert!(e.contains("line 1"), "{e}");
    let e = fails(&write(d.path(), "nul.fasta", b">q\nAC\0D\n"), &[]);
    assert!(e.contains("line 2") && e.contains("NUL"), "{e}");
    let e = fails(
        &write(d.path(), "latin1.fasta", b">q\nACD\n>caf\xe9\nACD\n"),
        &[],
    );
    assert!(e.contains("line 3") && e.contains("UTF-8"), "{e}");
}

#[test]
fn directory_and_missing_path() {
    let d = common::tempdir();
    let e = fails(d.path(), &[]);
    assert!(e.contains("directory"), "{e}");
    let e = fails(&d.path().join("no_such.fasta"), &[]);
    assert!(e.contains("no such file"), "{e}");
}

#[test]
fn undetectable_format_and_forced_mismatch() {
    let d = common::tempdir();
    let e = fails(&write(d.path(), "prose.txt", b"Hello, world.\n"), &[]);
    assert!(e.contains("--format"), "{e}");
    let p = write(d.path(), "plain.aln", b"ACD\nACD\n");
    let e = fails(&p, &["--format", "fasta"]);
    assert!(e.contains("line 1") && e.contains("'>'"), "{e}");
}

#[test]
fn out_of_range_flag_is_a_usage_error() {
    let out = common::fadca()
        .args(["inspect", "x.fasta", "--max-gap-fraction", "1.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("between 0 and 1") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
