//! Nothing a user has is lost, mixed or stale: default names that do not
//! collide, a prediction of another input never replaced without
//! `--force`, one run per output folder at a time, and a failed run that
//! leaves the previous complete results as they were.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

use crate::common;

/// The first `n` records of tests/data/predict/small.fasta.
fn records(n: usize) -> String {
    let text = common::read(&common::data("predict/small.fasta"));
    let mut out = String::new();
    let mut seen = 0;
    for line in text.lines() {
        if line.starts_with('>') {
            seen += 1;
        }
        if seen > n {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `fadca predict MSA` with fast settings, run in `cwd`.
fn predict(cwd: &Path, msa: &Path, extra: &[&str]) -> Command {
    let mut cmd = common::fadca();
    cmd.current_dir(cwd).arg("predict").arg(msa).args([
        "--heads",
        "2",
        "--head-dim",
        "4",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--threads",
        "1",
        "--device",
        "cpu",
        "-q",
    ]);
    cmd.args(extra);
    cmd
}

/// Every file under `dir` (relative path → bytes), hidden ones included.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&common::read(&dir.join("summary.json"))).unwrap()
}

#[test]
fn alignments_laid_out_one_folder_per_family_get_distinct_names() {
    let d = common::tempdir();
    for (family, n) in [("famA", 120), ("famB", 80)] {
        common::write(&d.path().join(family).join("msa.fasta"), &records(n));
        predict(d.path(), &Path::new(family).join("msa.fasta"), &[])
            .assert()
            .success();
    }
    for (family, n) in [("famA", 120), ("famB", 80)] {
        let s = summary(&d.path().join("predictions").join(family));
        assert_eq!(s["name"], family);
        assert_eq!(s["n_read"], n);
        assert!(
            d.path()
                .join("models")
                .join(format!("{family}.safetensors"))
                .is_file()
        );
    }
}

#[test]
fn a_prediction_of_another_input_is_refused_unless_forced() {
    let d = common::tempdir();
    let (a, b) = (d.path().join("a.fasta"), d.path().join("b.fasta"));
    common::write(&a, &records(120));
    common::write(&b, &records(80));
    let out = d.path().join("out");
    let model = |name: &str| d.path().join(name);
    predict(d.path(), &a, &["-o", "out", "--model-out", "a.safetensors"])
        .assert()
        .success();
    let before = snapshot(&out);
    let model_before = std::fs::read(model("a.safetensors")).unwrap();

    // Another input into the same folder: refused, nothing changed.
    let run = predict(d.path(), &b, &["-o", "out", "--model-out", "b.safetensors"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for needle in ["out", "a.fasta", "-o", "--name", "--force"] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert_eq!(snapshot(&out), before);
    assert!(!model("b.safetensors").exists());

    // Another input into the same model file: refused too.
    let run = predict(
        d.path(),
        &b,
        &["-o", "other", "--model-out", "a.safetensors"],
    )
    .output()
    .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("a.safetensors"));
    assert_eq!(std::fs::read(model("a.safetensors")).unwrap(), model_before);

    // The same input again replaces its own results (another seed: new files).
    predict(
        d.path(),
        &a,
        &["-o", "out", "--model-out", "a.safetensors", "--seed", "5"],
    )
    .assert()
    .success();
    assert_ne!(snapshot(&out), before);

    // --force replaces a prediction of another input.
    predict(
        d.path(),
        &b,
        &["-o", "out", "--model-out", "a.safetensors", "--force"],
    )
    .assert()
    .success();
    let s = summary(&out);
    assert_eq!(s["msa"]["path"], b.display().to_string());
    assert_eq!(s["n_read"], 80);
    let sha = s["msa"]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    let (_, meta) = fadca::model::Model::load(&model("a.safetensors")).unwrap();
    assert_eq!(meta["msa_sha256"], sha);
}

/// Starts a long `fadca predict` into `out` in the background.
fn long_run(msa: &Path, out: &Path, cwd: &Path) -> std::process::Child {
    StdCommand::new(common::fadca_exe())
        .current_dir(cwd)
        .arg("predict")
        .arg(msa)
        .arg("-o")
        .arg(out)
        .args([
            "--model-out",
            "long.safetensors",
            "-q",
            "--threads",
            "1",
            "--epochs",
            "200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_second_run_into_a_folder_in_use_fails_at_once_with_the_holders_pid() {
    let d = common::tempdir();
    let msa = crate::guards::big_msa(d.path());
    let out = d.path().join("out");
    let first = long_run(&msa, &out, d.path());
    // Wait until the first run holds the lock (its pid is in the lock file).
    let lock = d.path().join(".out.lock");
    let start = Instant::now();
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != first.id().to_string() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = predict(
        d.path(),
        &common::data("predict/small.fasta"),
        &["-o", "out"],
    )
    .timeout(Duration::from_secs(30))
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("in use") && stderr.contains(&first.id().to_string()),
        "{stderr}"
    );
    // The first run is killed outright: the OS drops its lock, nothing to clean.
    StdCommand::new("kill")
        .arg("-KILL")
        .arg(first.id().to_string())
        .status()
        .unwrap();
    first.wait_with_output().unwrap();
    assert!(!out.exists(), "a killed run published nothing");
    predict(
        d.path(),
        &common::data("predict/small.fasta"),
        &["-o", "out"],
    )
    .assert()
    .success();
    assert_eq!(summary(&out)["n_read"], 200);
    // No temporary folder is left beside it.
    let hidden: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn two_runs_started_on_one_folder_leave_one_complete_run() {
    let d = common::tempdir();
    let (a, b) = (d.path().join("a.fasta"), d.path().join("b.fasta"));
    common::write(&a, &records(200));
    common::write(&b, &records(150));
    let spawn = |msa: &Path, model: &str| {
        StdCommand::new(common::fadca_exe())
            .current_dir(d.path())
            .arg("predict")
            .arg(msa)
            .args([
                "-o",
                "same",
                "--model-out",
                model,
                "-q",
                "--threads",
                "1",
                "--epochs",
                "20",
            ])
            .args(["--heads", "2", "--head-dim", "4", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let runs = [spawn(&a, "a.safetensors"), spawn(&b, "b.safetensors")];
    let codes: Vec<Option<i32>> = runs
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code())
        .collect();
    let ok: Vec<usize> = (0..2).filter(|&k| codes[k] == Some(0)).collect();
    // Either one was refused (exit 2) while the other ran, or the second
    // started after the first had finished; the folder holds one run.
    assert!(
        codes.iter().all(|c| *c == Some(0) || *c == Some(2)),
        "{codes:?}"
    );
    assert!(!ok.is_empty(), "{codes:?}");
    let s = summary(&d.path().join("same"));
    let last = *ok.last().unwrap();
    if ok.len() == 1 {
        assert_eq!(s["n_read"], [200, 150][last]);
    }
    // Whatever ran last, the folder's files are that run's own.
    let files: Vec<String> = s["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().into())
        .collect();
    let mut present: Vec<String> = std::fs::read_dir(d.path().join("same"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    let mut expected = files.clone();
    expected.sort();
    assert_eq!(present, expected);
}

#[test]
fn a_write_failure_at_any_file_leaves_the_previous_results_in_place() {
    let d = common::tempdir();
    let msa = common::data("predict/small.fasta");
    let contacts = common::data("predict/small.contacts.tsv");
    let args = |seed: &str| -> Vec<String> {
        [
            "-o",
            "out",
            "--model-out",
            "models/m.safetensors",
            "--save-couplings",
            "--contacts-true",
            contacts.to_str().unwrap(),
            "--seed",
            seed,
        ]
        .map(String::from)
        .to_vec()
    };
    let first: Vec<String> = args("1");
    predict(
        d.path(),
        &msa,
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .assert()
    .success();
    let out = d.path().join("out");
    let before = snapshot(&out);
    let model_before = std::fs::read(d.path().join("models/m.safetensors")).unwrap();
    assert!(before.len() >= 7, "{:?}", before.keys());
    let names = [
        "m.safetensors",
        "contacts.tsv",
        "contacts.mat",
        "contacts.rr",
        "couplings.npy",
        "score.json",
        "contact_map.png",
        "summary.json",
    ];
    for name in names {
        let again: Vec<String> = args("2");
        let run = predict(
            d.path(),
            &msa,
            &again.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .env("FADCA_FAULT_WRITE", name)
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("injected write failure"),
            "{name}: {stderr}"
        );
        assert_eq!(
            snapshot(&out),
            before,
            "{name}: the previous results changed"
        );
        assert_eq!(
            std::fs::read(d.path().join("models/m.safetensors")).unwrap(),
            model_before,
            "{name}"
        );
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-") || n.contains(".old-"))
            .collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
    // And without a failure the second run replaces the first as a whole.
    let again: Vec<String> = args("2");
    predict(
        d.path(),
        &msa,
        &again.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .assert()
    .success();
    assert_ne!(
        snapshot(&out)[Path::new("contacts.tsv")],
        before[Path::new("contacts.tsv")]
    );
}
