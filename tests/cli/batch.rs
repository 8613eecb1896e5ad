//! `fadca batch` through the binary on tiny families cut from
//! tests/data/predict/small.fasta (30 columns), two of them with a
//! hand-made hairpin structure. Training is cut to 2 epochs of 4 small heads
//! on one thread so that each family takes well under a second.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use crate::common::{self, hairpin_pdb, read, write};

/// Fast training flags shared by every run.
const FAST: [&str; 12] = [
    "--epochs",
    "2",
    "--heads",
    "4",
    "--head-dim",
    "4",
    "--batch-size",
    "64",
    "--device",
    "cpu",
    "--seed",
    "3",
];

fn small_fasta() -> String {
    read(&common::data("predict/small.fasta"))
}

/// The query plus records `from..to` (0-based, query excluded) of small.fasta.
fn subset(from: usize, to: usize) -> String {
    let text = small_fasta();
    let records: Vec<&str> = text.split('>').filter(|r| !r.is_empty()).collect();
    let mut out = format!(">{}", records[0]);
    for r in &records[1 + from..1 + to] {
        out.push('>');
        out.push_str(r);
    }
    out
}

/// Five families in folder layout, in name order: alpha (structure), beta,
/// delta (structure, gzipped alignment name), epsilon, gamma (structure).
fn make_folder(root: &Path) -> PathBuf {
    let fams = root.join("families");
    write(&fams.join("alpha/alpha.fasta"), &small_fasta());
    write(&fams.join("alpha/1abc_B.pdb"), &hairpin_pdb('B'));
    write(&fams.join("beta/msa.a2m"), &subset(0, 100));
    write(&fams.join("delta/x.fa"), &subset(50, 199));
    write(&fams.join("delta/structure.pdb"), &hairpin_pdb('B'));
    write(&fams.join("epsilon/e.fasta"), &subset(0, 60));
    write(&fams.join("gamma/g.fasta"), &subset(100, 199));
    write(&fams.join("gamma/g.pdb"), &hairpin_pdb('B'));
    // Not families: hidden folders and plain files at the top.
    write(&fams.join(".hidden/h.fasta"), &small_fasta());
    write(&fams.join("README.txt"), "notes\n");
    fams
}

const NAMES: [&str; 5] = ["alpha", "beta", "delta", "epsilon", "gamma"];

fn batch(cwd: &Path) -> Command {
    let mut cmd = common::fadca();
    cmd.current_dir(cwd).arg("batch").args(FAST);
    cmd
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows and aggregate of a batch summary without what may differ
/// between equivalent runs: timings, folders, and skipped-vs-ok.
fn normalized(summary: &Value) -> (Vec<Value>, Value) {
    let rows = summary["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let o = r.as_object_mut().unwrap();
            o.remove("wall_s");
            o.remove("dir");
            if o["status"] == "skipped" {
                o.insert("status".into(), "ok".into());
            }
            r
        })
        .collect();
    let mut aggregate = summary["aggregate"].clone();
    let a = aggregate.as_object_mut().unwrap();
    let done = a["ok"].as_u64().unwrap() + a["skipped"].as_u64().unwrap();
    a.insert("ok".into(), done.into());
    a.insert("skipped".into(), 0.into());
    (rows, aggregate)
}

/// Per-family contacts.tsv contents, by name.
fn contacts(dir: &Path) -> Vec<(String, String)> {
    NAMES
        .iter()
        .map(|n| (n.to_string(), read(&dir.join(n).join("contacts.tsv"))))
        .collect()
}

/// Temporary files left anywhere under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name().to_string_lossy().contains(".tmp-") {
                found.push(p);
            }
        }
    }
    found
}

/// One uninterrupted sequential run on the folder families, shared by the
/// tests that compare against it: (temp root, families folder, output).
fn reference() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static REF: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    REF.get_or_init(|| {
        let tmp = common::tempdir();
        let fams = make_folder(tmp.path());
        let out = tmp.path().join("reference");
        batch(tmp.path())
            .arg(&fams)
            .args(["--jobs", "1", "--threads", "1", "-o"])
            .arg(&out)
            .assert()
            .success();
        (tmp, fams, out)
    })
}

#[test]
fn folder_batch_writes_every_family_and_a_summary() {
    let (tmp, fams, out) = reference();
    let summary = json(&out.join("summary.json"));
    let rows = summary["families"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, NAMES);
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["index"], k);
        assert_eq!(r["L"], 30);
        // `--model auto` (the default): the Potts model fits at L = 30.
        assert_eq!(r["model"], "potts");
        let dir = out.join(names[k]);
        // The family folder is what `fadca predict` writes, plus the model and the log.
        for file in [
            "contacts.tsv",
            "contacts.mat",
            "contacts.rr",
            "summary.json",
        ] {
            assert!(dir.join(file).is_file(), "{}/{file}", dir.display());
        }
        assert!(dir.join("model.safetensors").is_file());
        assert!(dir.join("predict.log").is_file());
        let family = json(&dir.join("summary.json"));
        assert_eq!(r["n_read"], family["n_read"]);
        assert_eq!(r["meff"], family["meff"]);
        let ratio = family["meff"].as_f64().unwrap() / 30.0;
        assert!((r["meff_per_l"].as_f64().unwrap() - ratio).abs() < 1e-12);
        assert_eq!(family["hyperparameters"]["epochs"], 2);
        assert_eq!(family["threads"], 1);
    }
    // n_read: query + the records of each subset.
    let n_read: Vec<u64> = rows.iter().map(|r| r["n_read"].as_u64().unwrap()).collect();
    assert_eq!(n_read, [200, 101, 150, 61, 100]);
    // Scored exactly when a structure is there; precision read from the family summary.
    for (r, scored) in rows.iter().zip([true, false, true, false, true]) {
        assert_eq!(r["precision"].is_object(), scored, "{r}");
        if scored {
            let family = json(&out.join(r["name"].as_str().unwrap()).join("summary.json"));
            assert_eq!(r["precision"]["all"]["L"], family["precision"]["all"]["L"]);
            assert_eq!(
                r["precision"]["long"]["L/5"],
                family["precision"]["long"]["L/5"]
            );
            assert_eq!(r["chain"], "B");
        }
    }
    // Aggregate: mean and median of the three scored families.
    let p: Vec<f64> = [0, 2, 4]
        .iter()
        .map(|&k| rows[k]["precision"]["all"]["L"].as_f64().unwrap())
        .collect();
    let agg = &summary["aggregate"];
    assert_eq!(agg["scored"], 3);
    assert_eq!(agg["families"], 5);
    let mean = (p[0] + p[1] + p[2]) / 3.0;
    assert!((agg["mean"]["all"]["L"].as_f64().unwrap() - mean).abs() < 1e-12);
    let mut sorted = p.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(agg["median"]["all"]["L"].as_f64().unwrap(), sorted[1]);
    // The TSV: header, five rows, two aggregate rows; NA where not scored.
    let tsv = read(&out.join("summary.tsv"));
    let lines: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0][0], "name");
    assert_eq!(lines[0][9], "P@L");
    assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    assert_eq!(lines[2][0], "beta");
    assert_eq!(lines[2][9], "NA");
    assert_eq!(lines[1][9], format!("{:.4}", p[0]));
    assert_eq!(lines[6][0], "(mean)");
    assert_eq!(lines[6][9], format!("{mean:.4}"));
    assert_eq!(lines[7][0], "(median)");
    // The plot is a PNG.
    let png = std::fs::read(out.join("summary.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // Nothing leaked outside the output folder (no models/ or predictions/ in the cwd).
    assert!(!tmp.path().join("models").exists());
    assert!(!tmp.path().join("predictions").exists());
    assert!(temp_files(out).is_empty());
    // The folder itself is untouched apart from the families.
    assert!(fams.join("README.txt").is_file());
}

#[test]
fn a_family_equals_fadca_predict_with_the_same_flags() {
    let (_, fams, out) = reference();
    let tmp = common::tempdir();
    let direct = tmp.path().join("direct");
    let mut cmd = common::fadca();
    cmd.current_dir(tmp.path())
        .arg("predict")
        .arg(fams.join("alpha/alpha.fasta"))
        .args(FAST)
        .args(["--threads", "1", "--quiet", "--pdb"])
        .arg(fams.join("alpha/1abc_B.pdb"))
        .arg("-o")
        .arg(&direct)
        .assert()
        .success();
    assert_eq!(
        read(&direct.join("contacts.tsv")),
        read(&out.join("alpha/contacts.tsv"))
    );
    assert_eq!(
        json(&direct.join("summary.json"))["precision"],
        json(&out.join("alpha/summary.json"))["precision"]
    );
}

#[test]
fn manifest_with_extra_columns_and_a_family_without_structure() {
    let tmp = common::tempdir();
    let data = tmp.path().join("data");
    write(&data.join("fam1/msa.fasta"), &subset(0, 80));
    write(&data.join("fam1/s.pdb"), &hairpin_pdb('B'));
    write(&data.join("fam2/msa.fasta"), &subset(80, 160));
    // Columns in another order, extra columns, a comment, CRLF line ends,
    // an empty structure and chain, and a row shorter than the header.
    write(
        &data.join("families.tsv"),
        "# a comment\r\nmsa\tname\tn_seqs\tstructure\tchain\tlicense\r\n\
         fam2/msa.fasta\tsecond\t81\t\t\tMIT\r\n\
         fam1/msa.fasta\tfirst\t81\tfam1/s.pdb\tB\tMIT\r\n\
         fam2/msa.fasta\tthird\r\n",
    );
    let out = tmp.path().join("out");
    // Run from another folder: paths are relative to the manifest.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    batch(&elsewhere)
        .arg("../data/families.tsv")
        .args(["--threads", "1", "-o"])
        .arg(&out)
        .assert()
        .success();
    let summary = json(&out.join("summary.json"));
    let rows = summary["families"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["second", "first", "third"]);
    assert!(rows.iter().all(|r| r["status"] == "ok"));
    assert!(rows[0]["precision"].is_null());
    assert!(rows[1]["precision"]["all"]["L"].is_number());
    assert_eq!(rows[1]["chain"], "B");
    assert!(rows[2]["precision"].is_null());
    // second and third are the same alignment with the same seed.
    assert_eq!(
        read(&out.join("second/contacts.tsv")),
        read(&out.join("third/contacts.tsv"))
    );
    assert_eq!(summary["aggregate"]["scored"], 1);
    assert!(!elsewhere.join("models").exists());
}

#[test]
fn bad_manifests_stop_before_running_with_one_line_and_exit_2() {
    let tmp = common::tempdir();
    for (content, needle) in [
        (
            "name\tstructure\nx\ty\n",
            "line 1: the header must name the columns name and msa",
        ),
        (
            "name\tmsa\na\ta.fa\nb\tb.fa\na\tc.fa\n",
            "line 4: family \"a\" is already on line 2",
        ),
        ("name\tmsa\n\ta.fa\n", "line 2: the name is empty"),
        ("name\tmsa\na/b\ta.fa\n", "line 2: family name \"a/b\""),
        ("name\tmsa\nsummary.tsv\ta.fa\n", "reserved"),
        ("name\tmsa\nx\t\n", "line 2: the msa of \"x\" is empty"),
        ("", "empty"),
    ] {
        let manifest = tmp.path().join("m.tsv");
        write(&manifest, content);
        let output = batch(tmp.path())
            .arg(&manifest)
            .args(["-o", "out"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{content:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{content:?}: {stderr}");
        assert!(!tmp.path().join("out").exists(), "{content:?}");
    }
    // A missing FAMILIES and a bad shard.
    let output = batch(tmp.path()).arg("nowhere").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere"));
    let output = batch(tmp.path())
        .args(["m.tsv", "--shard", "4/3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_broken_family_is_recorded_and_the_others_continue() {
    let tmp = common::tempdir();
    let fams = tmp.path().join("fams");
    write(&fams.join("good/msa.fasta"), &subset(0, 60));
    write(&fams.join("good/s.pdb"), &hairpin_pdb('B'));
    write(&fams.join("garbled/msa.fasta"), ">q\nACDE\n>r\nAC\n");
    write(&fams.join("badpdb/msa.fasta"), &subset(0, 60));
    write(&fams.join("badpdb/s.pdb"), "this is not a structure\n");
    write(&fams.join("empty/notes.txt"), "no alignment here\n");
    write(&fams.join("twomsa/a.fasta"), &subset(0, 60));
    write(&fams.join("twomsa/b.fasta"), &subset(0, 60));
    let out = tmp.path().join("out");
    let output = batch(tmp.path())
        .arg(&fams)
        .args(["--jobs", "2", "--threads", "1", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fadca: error: 4 of 5 families failed (4 for bad input)"),
        "{stderr}"
    );
    let summary = json(&out.join("summary.json"));
    let rows = summary["families"].as_array().unwrap();
    let by_name = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap();
    assert_eq!(by_name("good")["status"], "ok");
    assert!(by_name("good")["precision"]["all"]["L"].is_number());
    for (name, needle) in [
        ("garbled", "garbled/msa.fasta"),
        ("badpdb", "s.pdb"),
        ("empty", "no alignment file"),
        ("twomsa", "several alignment files (a.fasta, b.fasta)"),
    ] {
        let r = by_name(name);
        assert_eq!(r["status"], "failed", "{r}");
        assert_eq!(r["error_kind"], "input", "{r}");
        let error = r["error"].as_str().unwrap();
        assert!(error.contains(needle), "{name}: {error}");
        assert!(!error.contains('\n'));
    }
    assert_eq!(summary["aggregate"]["failed"], 4);
    assert_eq!(summary["aggregate"]["scored"], 1);
    // The failed families' logs keep what fadca predict said.
    assert!(read(&out.join("badpdb/predict.log")).contains("s.pdb"));
    let tsv = read(&out.join("summary.tsv"));
    assert!(
        tsv.lines().any(|l| l.starts_with("garbled\tfailed\t")),
        "{tsv}"
    );
}

#[test]
fn resume_skips_complete_families_and_redoes_the_others() {
    let (_, fams, reference_out) = reference();
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    batch(tmp.path())
        .arg(fams)
        .args(["--threads", "1", "-o"])
        .arg(&out)
        .assert()
        .success();
    // Simulate a kill: beta lost its summary.json (incomplete), gamma has a
    // stale temp file and a wrong contacts file, alpha and delta are complete.
    std::fs::remove_file(out.join("beta/summary.json")).unwrap();
    write(&out.join("gamma/.contacts.tsv.tmp-999999"), "half");
    std::fs::remove_file(out.join("gamma/summary.json")).unwrap();
    write(&out.join("gamma/contacts.tsv"), "i\tj\tscore\n1\t2\t0.5\n");
    write(&out.join(".summary.json.tmp-999999"), "{");
    // epsilon lost a file its summary.json lists: not complete either.
    std::fs::remove_file(out.join("epsilon/contacts.rr")).unwrap();
    // A marker that a rerun of alpha would overwrite.
    write(&out.join("alpha/predict.log"), "marker\n");
    let assert = batch(tmp.path())
        .arg(fams)
        .args(["--threads", "1", "--resume", "-o"])
        .arg(&out)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("alpha skipped"), "{stderr}");
    assert!(stderr.contains("beta ok"), "{stderr}");
    assert_eq!(read(&out.join("alpha/predict.log")), "marker\n");
    assert!(temp_files(&out).is_empty());
    let summary = json(&out.join("summary.json"));
    let status: Vec<&str> = summary["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["skipped", "ok", "skipped", "ok", "ok"]);
    assert_eq!(summary["aggregate"]["skipped"], 2);
    assert_eq!(contacts(&out), contacts(reference_out));
    assert_eq!(
        normalized(&summary),
        normalized(&json(&reference_out.join("summary.json")))
    );
    // Other hyper-parameters: nothing is reused.
    let assert = batch(tmp.path())
        .arg(fams)
        .args(["--threads", "1", "--resume", "--lambda-h", "0.02", "-o"])
        .arg(&out)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(!stderr.contains("skipped"), "{stderr}");
}

#[test]
fn resume_redoes_a_family_whose_alignment_or_structure_changed() {
    let (_, fams, reference_out) = reference();
    let tmp = common::tempdir();
    let copy = tmp.path().join("families");
    for name in NAMES {
        for entry in std::fs::read_dir(fams.join(name)).unwrap() {
            let path = entry.unwrap().path();
            write(
                &copy.join(name).join(path.file_name().unwrap()),
                &read(&path),
            );
        }
    }
    let out = tmp.path().join("out");
    let run = |resume: bool| {
        let mut cmd = batch(tmp.path());
        cmd.arg(&copy).args(["--threads", "1", "-o"]).arg(&out);
        if resume {
            cmd.arg("--resume");
        }
        let assert = cmd.assert().success();
        String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
    };
    run(false);
    assert_eq!(contacts(&out), contacts(reference_out));
    // beta's alignment is cut from 101 to 41 sequences; alpha's structure
    // file changes (a remark line: the same contacts, another file).
    write(&copy.join("beta/msa.a2m"), &subset(0, 40));
    let pdb = copy.join("alpha/1abc_B.pdb");
    write(&pdb, &format!("REMARK   1 EDITED\n{}", read(&pdb)));
    let stderr = run(true);
    assert!(
        stderr.contains("beta ok") && stderr.contains("(redone: input changed)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("alpha ok") && stderr.contains("(redone: structure changed)"),
        "{stderr}"
    );
    for name in ["delta", "epsilon", "gamma"] {
        assert!(stderr.contains(&format!("{name} skipped")), "{stderr}");
    }
    let summary = json(&out.join("summary.json"));
    let families = summary["families"].as_array().unwrap();
    assert_eq!(families[1]["n_read"], 41);
    assert_eq!(families[1]["note"], "redone: input changed");
    assert_eq!(json(&out.join("beta/summary.json"))["n_read"], 41);
    // Unchanged inputs: everything is skipped.
    let stderr = run(true);
    assert!(
        !stderr.contains(" ok") && !stderr.contains("redone"),
        "{stderr}"
    );
}

#[test]
fn sigkill_midway_then_resume_matches_an_uninterrupted_run() {
    let (_, fams, reference_out) = reference();
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    let exe = common::fadca_exe();
    let mut child = std::process::Command::new(&exe)
        .current_dir(tmp.path())
        .arg("batch")
        .args(FAST)
        .arg(fams)
        .args(["--threads", "1", "--quiet", "-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the first family is complete (or after 60 s).
    let start = Instant::now();
    while !out.join("alpha/summary.json").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed_early = !out.join("summary.json").exists();
    // Whatever is there is either complete or marked incomplete: every
    // family with a summary.json has all the files it lists.
    std::thread::sleep(Duration::from_millis(300));
    for name in NAMES {
        let dir = out.join(name);
        if let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) {
            let s: Value = serde_json::from_str(&text).unwrap();
            for f in s["outputs"].as_array().unwrap() {
                assert!(dir.join(f.as_str().unwrap()).is_file(), "{name}: {f}");
            }
        }
    }
    // The children died with the batch: nothing changes any more.
    let snapshot = |d: &Path| {
        let mut v: Vec<(PathBuf, u64)> = Vec::new();
        let mut stack = vec![d.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    v.push((e.path(), e.metadata().unwrap().len()));
                }
            }
        }
        v.sort();
        v
    };
    let before = snapshot(&out);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(before, snapshot(&out), "files changed after the kill");
    batch(tmp.path())
        .arg(fams)
        .args(["--threads", "1", "--resume", "--quiet", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert!(temp_files(&out).is_empty());
    assert_eq!(contacts(&out), contacts(reference_out));
    let summary = json(&out.join("summary.json"));
    assert_eq!(
        normalized(&summary),
        normalized(&json(&reference_out.join("summary.json")))
    );
    // The kill came midway (the batch had not finished), and alpha, complete
    // before the kill, was reused.
    assert!(killed_early, "the batch finished before it was killed");
    assert_eq!(summary["families"][0]["status"], "skipped");
}

#[test]
fn three_shards_merged_equal_the_unsharded_summary() {
    let (_, fams, reference_out) = reference();
    let tmp = common::tempdir();
    let mut dirs = Vec::new();
    for k in 1..=3 {
        let dir = tmp.path().join(format!("shard-{k}"));
        batch(tmp.path())
            .arg(fams)
            .args(["--threads", "1", "--shard", &format!("{k}/3"), "-o"])
            .arg(&dir)
            .assert()
            .success();
        let names: Vec<String> = json(&dir.join("summary.json"))["families"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        // Index i goes to shard i mod 3 + 1.
        let expected: Vec<String> = NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == k - 1)
            .map(|(_, n)| n.to_string())
            .collect();
        assert_eq!(names, expected, "shard {k}");
        assert_eq!(json(&dir.join("summary.json"))["shard"], format!("{k}/3"));
        dirs.push(dir);
    }
    let merged = tmp.path().join("merged");
    // Shards given out of order.
    let mut cmd = common::fadca();
    cmd.current_dir(tmp.path())
        .args(["batch", "--merge"])
        .args([&dirs[2], &dirs[0], &dirs[1]])
        .arg("-o")
        .arg(&merged)
        .assert()
        .success();
    let summary = json(&merged.join("summary.json"));
    assert_eq!(
        normalized(&summary),
        normalized(&json(&reference_out.join("summary.json")))
    );
    assert!(merged.join("summary.png").is_file());
    // The merged TSV equals the unsharded one but for the wall times.
    let strip = |t: String| -> Vec<String> {
        t.lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split('\t').collect();
                f[8] = "";
                f.join("\t")
            })
            .collect()
    };
    assert_eq!(
        strip(read(&merged.join("summary.tsv"))),
        strip(read(&reference_out.join("summary.tsv")))
    );
    // A family in two folders is an error.
    let mut cmd = common::fadca();
    let output = cmd
        .current_dir(tmp.path())
        .args(["batch", "--merge"])
        .args([&dirs[0], &dirs[0]])
        .args(["-o", "twice"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is in both"));
}

#[test]
fn merge_of_a_killed_shard_reads_the_family_folders() {
    let (_, fams, _) = reference();
    let tmp = common::tempdir();
    let dir = tmp.path().join("shard");
    batch(tmp.path())
        .arg(fams)
        .args(["--threads", "1", "--shard", "1/2", "-o"])
        .arg(&dir)
        .assert()
        .success();
    // As if killed before the batch summary was written.
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    let mut cmd = common::fadca();
    cmd.current_dir(tmp.path())
        .args(["batch", "--merge"])
        .arg(&dir)
        .args(["-o", "merged"])
        .assert()
        .success();
    let summary = json(&tmp.path().join("merged/summary.json"));
    let names: Vec<&str> = summary["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "delta", "gamma"]);
    assert_eq!(summary["aggregate"]["scored"], 3);
}

#[test]
fn two_jobs_give_the_same_results_as_one() {
    let (_, fams, reference_out) = reference();
    let tmp = common::tempdir();
    let out = tmp.path().join("out");
    batch(tmp.path())
        .arg(fams)
        .args(["--jobs", "2", "--threads", "1", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(contacts(&out), contacts(reference_out));
    assert_eq!(
        normalized(&json(&out.join("summary.json"))),
        normalized(&json(&reference_out.join("summary.json")))
    );
}

#[test]
fn a_family_folder_with_a_contact_list_is_scored_against_it() {
    let tmp = common::tempdir();
    let fams = tmp.path().join("simulated");
    // As `fadca simulate` leaves a family: msa.fasta and contacts.tsv.
    write(&fams.join("sim1/msa.fasta"), &small_fasta());
    write(
        &fams.join("sim1/contacts.tsv"),
        &read(&common::data("predict/small.contacts.tsv")),
    );
    let out = tmp.path().join("out");
    batch(tmp.path())
        .arg(&fams)
        .args(["--threads", "1", "--svg", "--min-separation", "6", "-o"])
        .arg(&out)
        .assert()
        .success();
    let summary = json(&out.join("summary.json"));
    let row = &summary["families"][0];
    assert!(row["precision"]["all"]["L"].is_number(), "{row}");
    assert_eq!(summary["aggregate"]["scored"], 1);
    // --svg and --min-separation reach the family's run and the summary.
    assert!(out.join("sim1/contact_map.svg").is_file());
    let (width, height, _) = common::decode_png(&out.join("summary.png"));
    assert_eq!((width, height), (900, 640));
    let svg = read(&out.join("summary.svg"));
    assert!(svg.contains("out: contact precision against alignment depth"));
    let tsv = read(&out.join("sim1/contacts.tsv"));
    assert!(tsv.lines().skip(1).all(|l| {
        let f: Vec<usize> = l.split('\t').take(2).map(|x| x.parse().unwrap()).collect();
        f[1] - f[0] >= 6
    }));
}
