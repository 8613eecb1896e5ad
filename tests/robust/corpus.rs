//! The malformed-input corpus (tests/data/malformed/, described by CASES.tsv)
//! driven through the binary: every case exits with code 2, prints exactly one
//! line on stderr that names the file (and line/record where CASES.tsv expects
//! it) and never panics. A huge single-line file is generated here rather than
//! committed.
use std::path::PathBuf;

use crate::common;

fn corpus_dir() -> PathBuf {
    common::data("malformed")
}

/// One row of CASES.tsv.
struct Case {
    file: String,
    command: String,
    expected: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("CASES.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "CASES.tsv row needs 3 columns: {l:?}");
            Case {
                file: cols[0].into(),
                command: cols[1].into(),
                expected: cols[2].into(),
            }
        })
        .collect()
}

/// Runs fadca with `args`, checks the bad-input contract and returns stderr.
fn fails_cleanly(args: &[String], named: &str) -> String {
    let out = common::fadca()
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{args:?} panicked: {stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: exit code; stderr: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr:?}");
    assert!(stderr.contains(named), "{args:?}: names {named}: {stderr}");
    stderr
}

#[test]
fn corpus_is_large_and_every_file_is_used() {
    let all = cases();
    assert!(all.len() >= 30, "{} cases", all.len());
    let dir = corpus_dir();
    for c in &all {
        assert!(
            dir.join(&c.file).is_file(),
            "missing corpus file {}",
            c.file
        );
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name == "CASES.tsv" || name == "make_corpus.py" || name.starts_with("ok.") {
            continue;
        }
        assert!(
            all.iter().any(|c| c.file == name),
            "{name} is not in CASES.tsv"
        );
    }
}

#[test]
fn every_corpus_case_fails_with_one_line_naming_the_file() {
    let dir = corpus_dir();
    let mut failures = Vec::new();
    for c in cases() {
        let out = common::tempdir();
        let file = dir.join(&c.file);
        let args: Vec<String> = c
            .command
            .split_whitespace()
            .map(|a| {
                a.replace("{file}", &file.display().to_string())
                    .replace("{dir}", &dir.display().to_string())
                    .replace("{out}", &out.path().display().to_string())
            })
            .collect();
        let result = std::panic::catch_unwind(|| fails_cleanly(&args, &c.file));
        match result {
            Ok(stderr) if stderr.contains(&c.expected) => {}
            Ok(stderr) => failures.push(format!(
                "{} ({}): expected {:?} in {stderr}",
                c.file, c.command, c.expected
            )),
            Err(_) => failures.push(format!("{} ({}): see the panic above", c.file, c.command)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn huge_single_line_is_an_error_not_a_crash() {
    // 20 MB on one line, with a bad character at the very end: the reader must
    // walk the whole line and name its column.
    let d = common::tempdir();
    let mut line = vec![b'A'; 20_000_000];
    line.push(b'!');
    let mut text = b">q\nACDEF\n>s\n".to_vec();
    text.extend_from_slice(&line);
    text.push(b'\n');
    let path = d.path().join("huge_line.fasta");
    std::fs::write(&path, &text).unwrap();
    let e = fails_cleanly(
        &["inspect".into(), path.display().to_string()],
        "huge_line.fasta",
    );
    assert!(e.contains("line 4, column 20000001"), "{e}");
    // The same line without the bad character: wrong length, named by record.
    text.truncate(text.len() - 2);
    text.push(b'\n');
    std::fs::write(&path, &text).unwrap();
    let e = fails_cleanly(
        &["inspect".into(), path.display().to_string()],
        "huge_line.fasta",
    );
    assert!(
        e.contains("record 2 's'") && e.contains("20000000 columns"),
        "{e}"
    );
}

#[test]
fn missing_file_and_directory_are_one_line_errors() {
    let d = common::tempdir();
    let missing = d.path().join("absent.fasta");
    let e = fails_cleanly(
        &["inspect".into(), missing.display().to_string()],
        "absent.fasta",
    );
    assert!(e.contains("no such file"), "{e}");
    let e = fails_cleanly(
        &["inspect".into(), d.path().display().to_string()],
        &d.path().display().to_string(),
    );
    assert!(e.contains("directory"), "{e}");
}
