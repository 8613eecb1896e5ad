//! `fadca score` through the binary: the table on stdout, score.json and
//! contact_map.png in the output folder, the prediction-folder form that finds
//! its alignment in summary.json, and one-line input errors with exit code 2.
use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::common;

fn fixture(name: &str) -> PathBuf {
    common::data("score").join(name)
}

/// An alignment whose query (first row) is 30 residues; its gap column is dropped.
fn write_msa(dir: &Path) -> PathBuf {
    let path = dir.join("msa.fasta");
    let query = "ACDEFGHIKL-MNPQRSTVWYACDEFGHIKL";
    let other = "ACDEFGHIKLAMNPQRSTVWYACDEFGHIKV";
    std::fs::write(&path, format!(">query\n{query}\n>other\n{other}\n")).unwrap();
    path
}

/// Prediction with (i, i+6) best, then everything else by 1/(i+j).
fn write_prediction(path: &Path) {
    let mut text = String::from("i\tj\tscore\n");
    for i in 1..=30usize {
        for j in i + 1..=30usize {
            let s = if j == i + 6 {
                10.0
            } else {
                1.0 / (i + j) as f64
            };
            text.push_str(&format!("{i}\t{j}\t{s}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn scores_against_contact_list() {
    let dir = common::tempdir();
    let msa = write_msa(dir.path());
    let pred = dir.path().join("contacts.tsv");
    write_prediction(&pred);
    // Native: every (i, i+6) with i odd.
    let list = dir.path().join("native.tsv");
    let text: String = (1..=24)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("{i} {}\n", i + 6))
        .collect();
    std::fs::write(&list, format!("i j separation\n{text}")).unwrap();
    let out = dir.path().join("out");
    common::fadca()
        .args([
            "score",
            pred.to_str().unwrap(),
            "--msa",
            msa.to_str().unwrap(),
        ])
        .args([
            "--contacts",
            list.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("precision (L = 30").and(predicate::str::contains("short")),
        );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("score.json")).unwrap()).unwrap();
    // 24 pairs (i, i+6), ranked by i: top-15 (L/2) has 8 odd i → 8/15; top-3 (L/10) 2/3.
    assert_eq!(
        json["precision"]["short"]["L/2"],
        serde_json::json!(8.0 / 15.0)
    );
    assert_eq!(
        json["precision"]["all"]["L/10"],
        serde_json::json!(2.0 / 3.0)
    );
    assert_eq!(json["L"], 30);
    assert!(out.join("contact_map.png").is_file());
}

#[test]
fn prediction_folder_finds_msa_in_summary() {
    let dir = common::tempdir();
    let msa = write_msa(dir.path());
    let folder = dir.path().join("pred");
    std::fs::create_dir(&folder).unwrap();
    write_prediction(&folder.join("contacts.tsv"));
    std::fs::write(
        folder.join("summary.json"),
        serde_json::json!({"msa": {"path": msa.to_str().unwrap()}}).to_string(),
    )
    .unwrap();
    let list = dir.path().join("native.tsv");
    std::fs::write(&list, "1 7\n").unwrap();
    common::fadca()
        .args([
            "score",
            folder.to_str().unwrap(),
            "--contacts",
            list.to_str().unwrap(),
        ])
        .assert()
        .success();
    assert!(folder.join("score.json").is_file());
    assert!(folder.join("contact_map.png").is_file());
}

#[test]
fn structure_with_wrong_sequence_exits_2() {
    let dir = common::tempdir();
    let msa = write_msa(dir.path());
    let pred = dir.path().join("contacts.tsv");
    write_prediction(&pred);
    let assert = common::fadca()
        .args([
            "score",
            pred.to_str().unwrap(),
            "--msa",
            msa.to_str().unwrap(),
        ])
        .args([
            "--pdb",
            fixture("tiny.pdb").to_str().unwrap(),
            "-o",
            dir.path().to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force-mapping"));
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    // With --force-mapping it runs.
    common::fadca()
        .args([
            "score",
            pred.to_str().unwrap(),
            "--msa",
            msa.to_str().unwrap(),
        ])
        .args([
            "--pdb",
            fixture("tiny.pdb").to_str().unwrap(),
            "--force-mapping",
        ])
        .args(["-o", dir.path().to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("mapping:"));
}

#[test]
fn bad_prediction_line_exits_2_naming_line() {
    let dir = common::tempdir();
    let msa = write_msa(dir.path());
    let pred = dir.path().join("contacts.tsv");
    std::fs::write(&pred, "i\tj\tscore\n1\t2\t0.5\n1\t31\t0.4\n").unwrap();
    let list = dir.path().join("native.tsv");
    std::fs::write(&list, "1 7\n").unwrap();
    common::fadca()
        .args([
            "score",
            pred.to_str().unwrap(),
            "--msa",
            msa.to_str().unwrap(),
        ])
        .args(["--contacts", list.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("contacts.tsv, line 3").and(predicate::str::contains("31")),
        );
}
