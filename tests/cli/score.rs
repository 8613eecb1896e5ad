//! `fadca score` through the binary: the table on stdout, score.json and
//! contact_map.png in the output folder (by default a new `.score` folder
//! beside the prediction, never over existing files without --force), the
//! prediction-folder form that finds its alignment in summary.json, an RR
//! file numbered by its own sequence (no --msa), and one-line input errors
//! with exit code 2.
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
            "--native-contacts",
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
    // `--contacts`, the old name, still works.
    common::fadca()
        .args([
            "score",
            folder.to_str().unwrap(),
            "--contacts",
            list.to_str().unwrap(),
        ])
        .assert()
        .success();
    let out = dir.path().join("pred.score");
    assert!(out.join("score.json").is_file());
    assert!(out.join("contact_map.png").is_file());
    assert!(
        !folder.join("score.json").exists(),
        "the prediction folder is left alone"
    );
}

#[test]
fn rr_file_numbers_its_own_residues_and_is_not_overwritten() {
    let dir = common::tempdir();
    let rr = dir.path().join("c.rr");
    std::fs::copy(common::data("contacts").join("conkit.rr"), &rr).unwrap();
    // Native: (1, 9) and (3, 20); (2, 15) and (4, 10) are not.
    let list = dir.path().join("native.tsv");
    std::fs::write(&list, "1 9\n3 20\n").unwrap();
    let score = || {
        let mut cmd = common::fadca();
        cmd.args([
            "score",
            rr.to_str().unwrap(),
            "--native-contacts",
            list.to_str().unwrap(),
            "--svg",
        ]);
        cmd
    };
    score()
        .assert()
        .success()
        .stdout(predicate::str::contains("precision (L = 20"));
    let out = dir.path().join("c.rr.score");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("score.json")).unwrap()).unwrap();
    assert_eq!(json["L"], 20);
    // all, top L/5 = 4 pairs with |i-j| >= 6: (1,9) T, (2,15) F, (3,20) T, (4,10) F.
    assert_eq!(json["precision"]["all"]["L/5"], serde_json::json!(0.5));
    assert_eq!(json["prediction"]["rr_model"], 1);
    // The title names the RR file's TARGET.
    let svg = std::fs::read_to_string(out.join("contact_map.svg")).unwrap();
    assert!(svg.contains("example: top-L contacts"), "{}", &svg[..200]);
    // Again: refused, nothing changed; with --force it runs.
    let before = std::fs::read(out.join("score.json")).unwrap();
    std::fs::write(out.join("score.json"), b"mine").unwrap();
    score()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exist").and(predicate::str::contains("--force")));
    assert_eq!(std::fs::read(out.join("score.json")).unwrap(), b"mine");
    score().arg("--force").assert().success();
    assert_eq!(std::fs::read(out.join("score.json")).unwrap(), before);
}

#[test]
fn file_without_sequence_needs_msa() {
    let dir = common::tempdir();
    let pred = dir.path().join("contacts.tsv");
    write_prediction(&pred);
    let list = dir.path().join("native.tsv");
    std::fs::write(&list, "1 7\n").unwrap();
    common::fadca()
        .args(["score", pred.to_str().unwrap()])
        .args(["--native-contacts", list.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--msa"));
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
