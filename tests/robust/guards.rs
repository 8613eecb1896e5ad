//! Robustness of `fadca predict`: the numerical guard (restart once from the
//! last good epoch at half the learning rate, then a clear error, the loss
//! curve in summary.json either way), clean stops on SIGINT/SIGTERM (exit
//! 130/143, nothing partial written), the memory guard (--max-memory,
//! --max-seqs) and determinism (same seed and thread count, byte-identical
//! contact files).
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;

use crate::common;

fn small_msa() -> PathBuf {
    common::data("predict/small.fasta")
}

/// `fadca predict` of the factored model (written for it: the default,
/// auto, would train the Potts model here) unless `extra` names a model.
fn predict(msa: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = common::fadca();
    cmd.arg("predict")
        .arg(msa)
        .arg("-o")
        .arg(out)
        .arg("--model-out")
        .arg(out.join("model.safetensors"))
        .arg("-q")
        .args(extra);
    if !extra.contains(&"--model") {
        cmd.args(["--model", "factored"]);
    }
    cmd
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn one_non_finite_loss_restarts_from_the_last_epoch_at_half_the_rate() {
    let d = common::tempdir();
    let out = d.path().join("out");
    // small.fasta: 200 sequences, batch 128 -> 2 steps per epoch; step 3 is in epoch 2.
    let run = predict(
        &small_msa(),
        &out,
        &["--epochs", "3", "--batch-size", "128"],
    )
    .env("FADCA_FAULT_NAN_AT_STEPS", "3")
    .output()
    .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s = summary(&out);
    assert_eq!(s["status"], "ok");
    assert_eq!(s["loss_curve"].as_array().unwrap().len(), 3);
    assert_eq!(s["steps"], 6, "the failed epoch is done again in full");
    let restarts = s["restarts"].as_array().unwrap();
    assert_eq!(restarts.len(), 1);
    assert_eq!(restarts[0]["epoch"], 2);
    assert_eq!(restarts[0]["learning_rate"], 0.025);
    assert!(out.join("contacts.tsv").is_file());
}

#[test]
fn repeated_divergence_is_a_clear_error_with_the_loss_curve_in_summary() {
    let d = common::tempdir();
    let out = d.path().join("out");
    let run = predict(
        &small_msa(),
        &out,
        &["--epochs", "3", "--batch-size", "128"],
    )
    .env("FADCA_FAULT_NAN_AT_STEPS", "3,3")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("training diverged") && stderr.contains("again after restarting"),
        "{stderr}"
    );
    let s = summary(&out);
    assert_eq!(s["status"], "diverged");
    assert_eq!(
        s["loss_curve"].as_array().unwrap().len(),
        1,
        "epoch 1 was good"
    );
    assert_eq!(s["restarts"].as_array().unwrap().len(), 1);
    assert!(!out.join("contacts.tsv").exists());
}

#[test]
fn a_huge_learning_rate_diverges_for_good() {
    // Adam moves every parameter by about the learning rate per step: 1e30
    // overflows the f32 logits at the second step, and so does 5e29.
    let d = common::tempdir();
    let out = d.path().join("out");
    let run = predict(
        &small_msa(),
        &out,
        &["--epochs", "2", "--learning-rate", "1e30"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("training diverged"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(summary(&out)["status"], "diverged");
}

/// A random alignment big enough that training lasts well over a second.
pub(crate) fn big_msa(dir: &Path) -> PathBuf {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let alphabet = b"ACDEFGHIKLMNPQRSTVWY-";
    let l = 120;
    let query: Vec<u8> = (0..l).map(|_| alphabet[rng.random_range(0..20)]).collect();
    let mut text = format!(">q\n{}\n", String::from_utf8_lossy(&query));
    for n in 0..3000 {
        let row: Vec<u8> = query
            .iter()
            .map(|&c| {
                if rng.random::<f64>() < 0.3 {
                    alphabet[rng.random_range(0..21)]
                } else {
                    c
                }
            })
            .collect();
        text.push_str(&format!(">s{n}\n{}\n", String::from_utf8_lossy(&row)));
    }
    let path = dir.join("big.fasta");
    std::fs::write(&path, text).unwrap();
    path
}

fn interrupted_run(signal: &str, code: i32, name: &str) {
    let d = common::tempdir();
    let msa = big_msa(d.path());
    let out = d.path().join("out");
    let models = d.path().join("models");
    let child = StdCommand::new(common::fadca_exe())
        .arg("predict")
        .arg(&msa)
        .arg("-o")
        .arg(&out)
        .arg("--model-out")
        .arg(models.join("m.safetensors"))
        .args(["-q", "--threads", "1", "--epochs", "200"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let status = StdCommand::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("interrupted by {name}")),
        "{stderr}"
    );
    assert!(stderr.contains("no partial output"), "{stderr}");
    // Nothing written: no contact files, no summary, no model, no temp files.
    for dir in [&out, &models] {
        if dir.exists() {
            let left: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(left.is_empty(), "{} holds {left:?}", dir.display());
        }
    }
}

#[test]
fn sigint_stops_cleanly_with_code_130() {
    interrupted_run("INT", 130, "SIGINT");
}

#[test]
fn sigterm_stops_cleanly_with_code_143() {
    interrupted_run("TERM", 143, "SIGTERM");
}

#[test]
fn memory_guard_refuses_with_the_estimate_and_the_ways_out() {
    let d = common::tempdir();
    let out = d.path().join("out");
    for model in ["factored", "potts"] {
        let run = predict(
            &small_msa(),
            &out,
            &["--model", model, "--max-memory", "10M"],
        )
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("small.fasta") && stderr.contains("needs about"),
            "{stderr}"
        );
        assert!(
            stderr.contains("10.0 MiB") && stderr.contains("--max-seqs"),
            "{stderr}"
        );
        if model == "potts" {
            assert!(stderr.contains("--model factored"), "{stderr}");
        }
        assert!(!out.exists(), "nothing is created before the check");
    }
    let run = predict(&small_msa(), &out, &["--max-memory", "lots"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--max-memory"));
}

#[test]
fn max_seqs_trains_on_a_weighted_sample_including_the_query() {
    let d = common::tempdir();
    let out = d.path().join("out");
    predict(
        &small_msa(),
        &out,
        &["--epochs", "1", "--max-seqs", "50", "--seed", "3"],
    )
    .assert()
    .success();
    let s = summary(&out);
    assert_eq!(s["n_kept"], 50);
    assert_eq!(s["subsampled_from"], 200);
    assert_eq!(s["query"]["name"], "seq0");
}

fn contact_files(out: &Path) -> Vec<Vec<u8>> {
    ["contacts.tsv", "contacts.mat", "contacts.rr"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect()
}

#[test]
fn same_seed_and_threads_give_byte_identical_contacts() {
    let d = common::tempdir();
    for threads in ["1", "2"] {
        let runs: Vec<Vec<Vec<u8>>> = (0..2)
            .map(|k| {
                let out = d.path().join(format!("t{threads}-{k}"));
                predict(
                    &small_msa(),
                    &out,
                    &["--epochs", "3", "--threads", threads, "--seed", "11"],
                )
                .assert()
                .success();
                contact_files(&out)
            })
            .collect();
        assert_eq!(runs[0], runs[1], "threads {threads}: contact files differ");
        for model in ["potts"] {
            let a = d.path().join(format!("p{threads}-a"));
            let b = d.path().join(format!("p{threads}-b"));
            for out in [&a, &b] {
                predict(
                    &small_msa(),
                    out,
                    &["--model", model, "--epochs", "2", "--threads", threads],
                )
                .assert()
                .success();
            }
            assert_eq!(
                contact_files(&a),
                contact_files(&b),
                "potts, threads {threads}"
            );
        }
    }
    // The CPU kernels (both models, `pll`) split their work into fixed chunks
    // and add partial sums in chunk order: the thread count does not matter
    // either.
    assert_eq!(
        contact_files(&d.path().join("t1-0")),
        contact_files(&d.path().join("t2-0")),
        "factored: 1 and 2 threads give different contact files"
    );
    assert_eq!(
        contact_files(&d.path().join("p1-a")),
        contact_files(&d.path().join("p2-a")),
        "potts: 1 and 2 threads give different contact files"
    );
}

/// Every file fadca writes goes through `fadca::io::write_atomic`: no
/// other direct file creation in the library or CLI code (test modules aside).
#[test]
fn every_writer_goes_through_write_atomic() {
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = common::root().join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20);
    let forbidden = ["fs::write(", "File::create(", "OpenOptions", "fs::copy("];
    let mut offenders = Vec::new();
    for f in files {
        if f == src.join("io.rs") {
            continue; // write_atomic itself
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            if forbidden.iter().any(|w| line.contains(w)) && !line.trim_start().starts_with("//") {
                offenders.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}
