//! `fadca predict` and `fadca contacts` through the binary, on the tiny
//! alignment tests/data/predict/small.fasta (200 sequences × 30 columns with
//! four planted co-varying pairs; made by make_small.py next to it). Training
//! is cut to 2 epochs and 2 heads so that the whole file runs in seconds.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use fadca::model::{Model, ModelKind};
use ndarray::Array4;
use predicates::prelude::*;

use crate::common::{self, SMALL_QUERY as QUERY, hairpin_pdb, read};

const L: usize = 30;

fn data(name: &str) -> PathBuf {
    common::data("predict").join(name)
}

/// `fadca predict small.fasta` with fast settings, run in `cwd`: the
/// factored model (with 2 heads of dimension 4) unless `extra` names one.
fn predict(cwd: &Path, extra: &[&str]) -> Command {
    let mut cmd = common::fadca();
    cmd.current_dir(cwd).arg("predict").arg(data("small.fasta"));
    if !extra.contains(&"--model") {
        cmd.args(["--model", "factored"]);
    }
    cmd.args([
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
    ]);
    cmd.args(extra);
    cmd
}

/// Parses contacts.tsv and checks its layout: header, every pair i<j once,
/// sorted by descending score. Returns the pairs in file order.
fn check_tsv(path: &Path) -> Vec<(usize, usize, f64)> {
    let text = read(path);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("i\tj\tscore"));
    let rows: Vec<(usize, usize, f64)> = lines
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 3, "line {line:?}");
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), L * (L - 1) / 2);
    let pairs: HashSet<(usize, usize)> = rows.iter().map(|&(i, j, _)| (i, j)).collect();
    assert_eq!(pairs.len(), rows.len(), "a pair is listed twice");
    for &(i, j, s) in &rows {
        assert!(1 <= i && i < j && j <= L, "pair {i} {j}");
        assert!(s.is_finite());
    }
    for w in rows.windows(2) {
        assert!(w[0].2 >= w[1].2, "not sorted: {:?} then {:?}", w[0], w[1]);
    }
    rows
}

/// Names in a folder that look like temporary files.
/// Hidden or temporary files in `dir`, except the lock files that output
/// folders keep beside them (`.<folder>.lock`, see README).
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| (n.starts_with('.') && !n.ends_with(".lock")) || n.contains(".tmp"))
        .collect()
}

#[test]
fn predict_writes_every_file_and_contacts_reproduces_them() {
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    let model_path = tmp.path().join("m").join("small.safetensors");
    let assert = predict(tmp.path(), &["-o"])
        .arg(&out)
        .arg("--model-out")
        .arg(&model_path)
        .args([
            "--save-couplings",
            "--svg",
            "--rr-author",
            "tester",
            "--native-contacts",
        ])
        .arg(data("small.contacts.tsv"))
        .assert()
        .success()
        .stdout(predicate::str::contains("top 10 contacts"))
        .stdout(predicate::str::contains("M_eff"))
        .stdout(predicate::str::contains("precision"));
    // Progress, plain text (not a terminal): with fewer than ten epochs a
    // line closes each epoch and one comes every tenth of the steps (here 2
    // epochs of 4 batches: every step).
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("epoch 1/2  loss "), "{stderr}");
    assert!(stderr.contains("epoch 2/2  loss "), "{stderr}");
    assert!(
        stderr.contains("step 1/8  epoch 1/2 so far: loss "),
        "{stderr}"
    );
    assert!(
        stderr.contains("step 7/8  epoch 2/2 so far: loss "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("step 4/8"),
        "an epoch's last step is reported as the epoch: {stderr}"
    );

    // contacts.tsv
    let rows = check_tsv(&out.join("contacts.tsv"));
    let score_of: std::collections::HashMap<(usize, usize), f64> =
        rows.iter().map(|&(i, j, s)| ((i, j), s)).collect();

    // contacts.mat: L×L, symmetric, zero diagonal, same numbers as the tsv.
    let mat: Vec<Vec<f64>> = read(&out.join("contacts.mat"))
        .lines()
        .map(|l| l.split('\t').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(mat.len(), L);
    for (i, row) in mat.iter().enumerate() {
        assert_eq!(row.len(), L);
        assert_eq!(row[i], 0.0);
        for (j, &v) in row.iter().enumerate() {
            assert_eq!(v, mat[j][i]);
            if i < j {
                assert_eq!(v, score_of[&(i + 1, j + 1)]);
            }
        }
    }

    // contacts.rr: header, the query, every pair with p in [0,1], END.
    let rr = read(&out.join("contacts.rr"));
    let lines: Vec<&str> = rr.lines().collect();
    assert_eq!(lines[..3], ["PFRMAT RR", "TARGET small", "AUTHOR tester"]);
    assert!(lines[3].starts_with("METHOD fadca "), "{}", lines[3]);
    assert_eq!(lines[4], "MODEL  1");
    assert!(lines.contains(&QUERY));
    assert_eq!(lines.last(), Some(&"END"));
    let rr_pairs: Vec<(usize, usize, f64)> = lines
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5).then(|| {
                assert_eq!((f[2], f[3]), ("0", "8"));
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[4].parse().unwrap(),
                )
            })
        })
        .collect();
    assert_eq!(rr_pairs.len(), L * (L - 1) / 2);
    assert!(rr_pairs.iter().all(|&(_, _, p)| (0.0..=1.0).contains(&p)));
    assert_eq!(rr_pairs[0].2, 1.0);
    assert_eq!((rr_pairs[0].0, rr_pairs[0].1), (rows[0].0, rows[0].1));
    // p with four decimals.
    assert!(
        lines
            .iter()
            .filter(|l| l.split_whitespace().count() == 5)
            .all(|l| l.rsplit(' ').next().unwrap().len() == 6),
        "{rr}"
    );

    // contacts.ec: plmc's layout, the same scores as the tsv.
    let ec = read(&out.join("contacts.ec"));
    let query: Vec<char> = QUERY.chars().collect();
    let mut ec_pairs = 0;
    for line in ec.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 6, "{line}");
        let (i, j): (usize, usize) = (f[0].parse().unwrap(), f[2].parse().unwrap());
        assert_eq!(f[1], query[i - 1].to_string());
        assert_eq!(f[3], query[j - 1].to_string());
        assert_eq!(f[4], "0");
        assert_eq!(f[5].parse::<f64>().unwrap(), score_of[&(i, j)]);
        ec_pairs += 1;
    }
    assert_eq!(ec_pairs, L * (L - 1) / 2);

    // summary.json
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    for key in [
        "msa",
        "n_read",
        "n_kept",
        "n_dropped_gappy",
        "length",
        "meff",
        "theta",
        "query",
        "model",
        "hyperparameters",
        "loss_curve",
        "steps",
        "timings",
        "device",
        "threads",
        "version",
        "model_path",
        "outputs",
        "precision",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    for key in ["path", "format", "keep_query_gaps", "max_gap_fraction"] {
        assert!(
            summary["msa"].get(key).is_some(),
            "summary.json lacks msa.{key}"
        );
    }
    for key in ["read", "weights", "train", "contacts", "write", "score"] {
        assert!(
            summary["timings"][key].as_f64().unwrap() >= 0.0,
            "timings.{key}"
        );
    }
    assert_eq!(summary["n_read"], 200);
    assert_eq!(summary["n_kept"], 200);
    assert_eq!(summary["length"], L);
    assert_eq!(summary["query"]["sequence"], QUERY);
    assert_eq!(summary["model"], "factored");
    assert_eq!(summary["hyperparameters"]["heads"], 2);
    assert_eq!(summary["hyperparameters"]["epochs"], 2);
    assert_eq!(summary["device"], "cpu");
    assert_eq!(summary["threads"], 1);
    assert_eq!(summary["loss_curve"].as_array().unwrap().len(), 2);
    assert_eq!(summary["steps"], 2 * 200usize.div_ceil(64));
    assert!(summary["precision"]["all"]["L"].is_number());
    assert_eq!(summary["top_contacts"]["min_separation"], 6);
    let top = summary["top_contacts"]["contacts"].as_array().unwrap();
    assert_eq!(top.len(), 10);
    assert!(
        top.iter()
            .all(|c| c["j"].as_u64().unwrap() - c["i"].as_u64().unwrap() >= 6)
    );
    let meff = summary["meff"].as_f64().unwrap();
    assert!(meff > 1.0 && meff <= 200.0);
    let outputs: Vec<&str> = summary["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        outputs,
        [
            "contacts.tsv",
            "contacts.mat",
            "contacts.rr",
            "contacts.ec",
            "couplings.npy",
            "score.json",
            "contact_map.png",
            "contact_map.svg",
            "summary.json"
        ]
    );
    for name in &outputs {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));

    // The model loads, with its metadata.
    let (model, meta) = Model::load(&model_path).unwrap();
    assert_eq!(model.kind(), ModelKind::Factored);
    assert_eq!(model.length(), L);
    assert_eq!(meta["query_sequence"], QUERY);
    assert_eq!(meta["heads"], "2");
    assert_eq!(meta["head_dim"], "4");
    assert_eq!(meta["L"], "30");
    assert_eq!(meta["alphabet"], "ARNDCQEGHILKMFPSTWYV-");
    assert!(meta.contains_key("fadca_version") && meta.contains_key("msa"));

    // couplings.npy: the raw J; the contact pipeline on it gives the tsv scores.
    let j: Array4<f32> = ndarray_npy::read_npy(out.join("couplings.npy")).unwrap();
    assert_eq!(j.dim(), (L, L, 21, 21));
    let scores = fadca::couplings::contact_scores(j.view());
    for &(i, k, s) in &rows {
        assert_eq!(scores[[i - 1, k - 1]], s, "pair {i} {k}");
    }

    // fadca contacts MODEL: the same four files, byte for byte.
    let again = tmp.path().join("again");
    common::fadca()
        .current_dir(tmp.path())
        .arg("contacts")
        .arg(&model_path)
        .arg("-o")
        .arg(&again)
        .args(["--threads", "1", "--rr-author", "tester"])
        .assert()
        .success();
    for name in ["contacts.tsv", "contacts.mat", "contacts.rr", "contacts.ec"] {
        assert_eq!(
            std::fs::read(out.join(name)).unwrap(),
            std::fs::read(again.join(name)).unwrap(),
            "{name} differs"
        );
    }
    assert!(temp_files(&again).is_empty());
}

#[test]
fn same_seed_same_files_and_default_locations() {
    let tmp = common::tempdir();
    // Defaults: predictions/<stem>/ and models/<stem>.safetensors under the working folder.
    predict(tmp.path(), &["--quiet"])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    let default_dir = tmp.path().join("predictions/small");
    assert!(default_dir.join("summary.json").is_file());
    assert!(tmp.path().join("models/small.safetensors").is_file());
    assert!(!default_dir.join("couplings.npy").exists());
    let first = std::fs::read(default_dir.join("contacts.tsv")).unwrap();

    let second_dir = tmp.path().join("second");
    predict(tmp.path(), &["--quiet", "--name", "other", "-o"])
        .arg(&second_dir)
        .assert()
        .success();
    assert!(tmp.path().join("models/other.safetensors").is_file());
    assert_eq!(
        first,
        std::fs::read(second_dir.join("contacts.tsv")).unwrap()
    );

    let third_dir = tmp.path().join("third");
    predict(
        tmp.path(),
        &["--quiet", "--seed", "7", "--name", "seven", "-o"],
    )
    .arg(&third_dir)
    .assert()
    .success();
    assert_ne!(
        first,
        std::fs::read(third_dir.join("contacts.tsv")).unwrap()
    );

    // fadca contacts without -o writes to predictions/<model stem>/.
    common::fadca()
        .current_dir(tmp.path())
        .args(["contacts", "models/other.safetensors", "--threads", "1"])
        .assert()
        .success();
    assert_eq!(
        first,
        std::fs::read(tmp.path().join("predictions/other/contacts.tsv")).unwrap()
    );
}

#[test]
fn potts_model_works() {
    let tmp = common::tempdir();
    let out = tmp.path().join("potts");
    predict(tmp.path(), &["--model", "potts", "--quiet", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("model     potts"));
    check_tsv(&out.join("contacts.tsv"));
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["model"], "potts");
    assert!(summary.get("precision").is_none());
    let (model, meta) = Model::load(&tmp.path().join("models/small.safetensors")).unwrap();
    assert_eq!(model.kind(), ModelKind::Potts);
    assert!(!meta.contains_key("heads"));
}

#[test]
fn predict_with_pdb_writes_the_same_score_as_fadca_score() {
    let tmp = common::tempdir();
    let pdb = tmp.path().join("hairpin.pdb");
    std::fs::write(&pdb, hairpin_pdb('A')).unwrap();
    let out = tmp.path().join("out");
    predict(tmp.path(), &["--quiet", "--pdb"])
        .arg(&pdb)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("mapping: 30 of 30"));
    assert!(out.join("contact_map.png").is_file());
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["mapping"]["unmapped"], 0);
    assert!(summary["precision"]["long"]["L"].is_number());
    let from_predict: serde_json::Value =
        serde_json::from_str(&read(&out.join("score.json"))).unwrap();
    // fadca score on the prediction folder (alignment taken from summary.json).
    let rescored = tmp.path().join("rescored");
    common::fadca()
        .current_dir(tmp.path())
        .arg("score")
        .arg(&out)
        .arg("--pdb")
        .arg(&pdb)
        .arg("-o")
        .arg(&rescored)
        .assert()
        .success();
    let from_score: serde_json::Value =
        serde_json::from_str(&read(&rescored.join("score.json"))).unwrap();
    assert_eq!(from_predict, from_score);
    assert_eq!(summary["precision"], from_score["precision"]);
}

/// Runs a failing command: exit code 2, one line on stderr containing `needle`.
fn assert_input_error(mut cmd: Command, needle: &str) {
    let output = cmd.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(needle), "stderr: {stderr}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let tmp = common::tempdir();
    let mut missing = common::fadca();
    missing
        .current_dir(tmp.path())
        .args(["predict", "no-such.fasta"]);
    assert_input_error(missing, "no-such.fasta");
    let bare = |extra: &[&str]| {
        let mut cmd = common::fadca();
        cmd.current_dir(tmp.path())
            .arg("predict")
            .arg(data("small.fasta"))
            .args(extra);
        cmd
    };
    assert_input_error(bare(&["--heads", "0"]), "--heads");
    assert_input_error(bare(&["--epochs", "0"]), "--epochs");
    assert_input_error(bare(&["--learning-rate=0"]), "--learning-rate");
    assert_input_error(bare(&["--threads", "0"]), "--threads");
    assert_input_error(predict(tmp.path(), &["--name", "a/b"]), "--name");
    // A contact list that does not fit the query fails before anything is written.
    let list = tmp.path().join("bad.tsv");
    std::fs::write(&list, "1 31\n").unwrap();
    let mut bad_list = predict(tmp.path(), &["--contacts-true"]);
    bad_list.arg(&list);
    assert_input_error(bad_list, "line 1");
    let mut not_a_model = common::fadca();
    not_a_model
        .current_dir(tmp.path())
        .args(["contacts"])
        .arg(&list);
    assert_input_error(not_a_model, "bad.tsv");
    assert!(!tmp.path().join("predictions").exists());
    assert!(!tmp.path().join("models").exists());
}

/// A run that fails after training (here: its model cannot be saved) leaves
/// the output folder as it was: no file of the failed run appears beside the
/// previous results (which a later run of another input could mistake for
/// its own), and no temporary file is left.
#[test]
fn failed_run_leaves_the_previous_folder_as_it_was() {
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("summary.json"), "{}").unwrap();
    std::fs::write(out.join("contacts.tsv"), "i\tj\tscore\n").unwrap();
    // The model path is a folder: saving fails after training.
    let blocked = tmp.path().join("blocked");
    std::fs::create_dir_all(&blocked).unwrap();
    let output = predict(tmp.path(), &["--quiet", "-o"])
        .arg(&out)
        .arg("--model-out")
        .arg(&blocked)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["contacts.tsv", "summary.json"]);
    assert_eq!(read(&out.join("summary.json")), "{}");
    assert_eq!(read(&out.join("contacts.tsv")), "i\tj\tscore\n");
    assert!(temp_files(&out).is_empty());
    assert!(temp_files(tmp.path()).is_empty());
}

#[test]
fn evaluate_says_when_the_model_was_trained_on_another_alignment() {
    let dir = common::tempdir();
    predict(
        dir.path(),
        &["-o", "out", "--model-out", "m.safetensors", "-q"],
    )
    .assert()
    .success();
    let evaluate = |msa: &Path, json: bool| {
        let mut cmd = common::fadca();
        cmd.current_dir(dir.path())
            .args(["evaluate", "m.safetensors"])
            .arg(msa)
            .args(["--threads", "1"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let same: serde_json::Value =
        serde_json::from_str(&evaluate(&data("small.fasta"), true)).unwrap();
    assert_eq!(same["trained_on_this_alignment"], true);
    assert!(!evaluate(&data("small.fasta"), false).contains("another alignment"));
    // The first 50 records of the same family: another alignment.
    let text = read(&data("small.fasta"));
    let cut: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
    let other = dir.path().join("other.fasta");
    std::fs::write(&other, cut).unwrap();
    let json: serde_json::Value = serde_json::from_str(&evaluate(&other, true)).unwrap();
    assert_eq!(json["trained_on_this_alignment"], false);
    let text = evaluate(&other, false);
    assert!(
        text.contains("trained on another alignment") && text.contains("small.fasta"),
        "{text}"
    );
}

/// `--model auto` (the default) trains the Potts model where its estimated
/// memory fits, factored attention where only that fits (a `--max-memory`
/// between the two estimates) and refuses below both; summary.json and the
/// one-screen summary say which and why, and `fadca inspect` says what it
/// would train.
#[test]
fn model_auto_takes_the_potts_model_where_it_fits_else_factored_attention() {
    use fadca::model::choice::estimate_for;
    use fadca::model::{ModelKind, TrainConfig};
    let tmp = common::tempdir();
    // The estimates for small.fasta (N = 200, L = 30) with the test's settings.
    let mut config = TrainConfig::defaults(ModelKind::Potts);
    (config.heads, config.head_dim, config.batch_size) = (2, 4, Some(64));
    let potts = estimate_for(&config, ModelKind::Potts, 200, L);
    let factored = estimate_for(&config, ModelKind::Factored, 200, L);
    assert!(factored < potts);
    let run = |out: &str, max_memory: Option<u64>| {
        let mut cmd = predict(tmp.path(), &["--model", "auto", "-o", out]);
        if let Some(bytes) = max_memory {
            cmd.args(["--max-memory", &bytes.to_string()]);
        }
        cmd.output().unwrap()
    };
    let summary_of = |out: &str| -> serde_json::Value {
        serde_json::from_str(&read(&tmp.path().join(out).join("summary.json"))).unwrap()
    };
    // The memory available: the Potts model (L = 30 fits anywhere).
    let done = run("auto", None);
    assert!(done.status.success());
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        stdout.contains("choice    auto: the Potts model"),
        "{stdout}"
    );
    let s = summary_of("auto");
    assert_eq!(s["model_requested"], "auto");
    assert_eq!(s["model"], "potts");
    assert!(
        s["model_reason"]
            .as_str()
            .unwrap()
            .starts_with("auto: the Potts model")
    );
    // Between the two estimates: factored attention, and why.
    assert!(
        run("between", Some((potts + factored) / 2))
            .status
            .success()
    );
    let s = summary_of("between");
    assert_eq!(s["model_requested"], "auto");
    assert_eq!(s["model"], "factored");
    let reason = s["model_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("auto: factored attention") && reason.contains("more than"),
        "{reason}"
    );
    assert_eq!(s["hyperparameters"]["heads"], 2);
    // Below both: refused before anything is written, with both estimates.
    let refused = run("below", Some(factored - 1));
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("with the Potts model") && stderr.contains("with factored attention"),
        "{stderr}"
    );
    assert!(!tmp.path().join("below").exists());
    // A forced model is recorded as such.
    assert!(
        run_forced(tmp.path(), "forced", "factored")
            .status
            .success()
    );
    let s = summary_of("forced");
    assert_eq!(s["model_requested"], "factored");
    assert!(
        s["model_reason"]
            .as_str()
            .unwrap()
            .starts_with("requested with --model factored")
    );
    // inspect says what auto would train.
    common::fadca()
        .args(["inspect"])
        .arg(data("small.fasta"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "auto        would train potts: auto: the Potts model",
        ));
}

fn run_forced(cwd: &Path, out: &str, model: &str) -> std::process::Output {
    predict(cwd, &["--model", model, "-o", out])
        .output()
        .unwrap()
}

/// Factored attention's contacts are extracted pair by pair from its
/// factors, without the L×L×21×21 array: on the embedded example (L = 60)
/// and a simulated family of L = 80 (trained in two blocks of sites), every
/// score in contacts.tsv is exactly the score of the whole array written
/// to couplings.npy (symmetrise, gauge, Frobenius, APC), so the contact
/// files are those the whole array gives, byte for byte.
#[test]
fn factored_contacts_equal_those_of_the_whole_coupling_array() {
    let tmp = common::tempdir();
    common::fadca()
        .current_dir(tmp.path())
        .args([
            "simulate",
            "-L",
            "80",
            "--samples",
            "300",
            "--seed",
            "4",
            "-o",
            "sim",
        ])
        .assert()
        .success();
    let families = [
        common::root().join("msa/example.fasta"),
        tmp.path().join("sim/msa.fasta"),
    ];
    for (k, msa) in families.iter().enumerate() {
        let out = tmp.path().join(format!("out{k}"));
        common::fadca()
            .current_dir(tmp.path())
            .arg("predict")
            .arg(msa)
            .args([
                "--model",
                "factored",
                "--heads",
                "4",
                "--head-dim",
                "8",
                "--epochs",
                "2",
            ])
            .args(["--threads", "2", "--quiet", "--save-couplings", "-o"])
            .arg(&out)
            .assert()
            .success();
        let j: Array4<f32> = ndarray_npy::read_npy(out.join("couplings.npy")).unwrap();
        let whole = fadca::couplings::contact_scores(j.view());
        let rows = check_tsv_of_length(&out.join("contacts.tsv"), j.dim().0);
        for (i, jj, score) in rows {
            assert_eq!(
                score,
                whole[[i - 1, jj - 1]],
                "{} pair {i} {jj}",
                msa.display()
            );
        }
    }
}

/// `contacts.tsv` as (i, j, score) rows, for a query of length `l`.
fn check_tsv_of_length(path: &Path, l: usize) -> Vec<(usize, usize, f64)> {
    let text = read(path);
    let rows: Vec<(usize, usize, f64)> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), l * (l - 1) / 2);
    rows
}
