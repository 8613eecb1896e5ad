//! `fadca simulate` end to end: files, formats, reproducibility across thread
//! counts, and errors for bad input.
use crate::common;

fn simulate(dir: &std::path::Path, threads: &str, extra: &[&str]) {
    let mut cmd = common::fadca();
    cmd.env("RAYON_NUM_THREADS", threads)
        .args([
            "simulate",
            "--length",
            "30",
            "--heads",
            "3",
            "--samples",
            "400",
            "--seed",
            "42",
            "-o",
        ])
        .arg(dir)
        .args(extra)
        .assert()
        .success();
}

#[test]
fn simulate_writes_files_and_is_reproducible_across_threads() {
    let tmp = common::tempdir();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    simulate(&a, "1", &[]);
    simulate(&b, "3", &[]);
    for name in ["msa.fasta", "contacts.tsv", "teacher.safetensors"] {
        let x = std::fs::read(a.join(name)).unwrap();
        let y = std::fs::read(b.join(name)).unwrap();
        assert!(x == y, "{name} differs between 1 and 3 threads");
    }
    // No temporary files left behind.
    for entry in std::fs::read_dir(&a).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.starts_with('.'), "leftover {name}");
    }

    // FASTA: query + 400 samples of 30 letters of the alphabet; the query has no gap.
    let fasta = std::fs::read_to_string(a.join("msa.fasta")).unwrap();
    let lines: Vec<&str> = fasta.lines().collect();
    assert_eq!(lines.len(), 2 * 401);
    assert!(lines[0].starts_with(">query"));
    assert!(!lines[1].contains('-'));
    for pair in lines.chunks(2) {
        assert!(pair[0].starts_with('>'));
        assert_eq!(pair[1].len(), 30);
        assert!(
            pair[1]
                .bytes()
                .all(|c| b"ARNDCQEGHILKMFPSTWYV-".contains(&c))
        );
    }

    // contacts.tsv: header, 1-based i < j, separation column consistent.
    let tsv = std::fs::read_to_string(a.join("contacts.tsv")).unwrap();
    let mut rows = tsv.lines();
    assert_eq!(rows.next(), Some("i\tj\tseparation"));
    let mut n = 0;
    for row in rows {
        let v: Vec<usize> = row.split('\t').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v.len(), 3);
        assert!(v[0] >= 1 && v[0] < v[1] && v[1] <= 30);
        assert_eq!(v[2], v[1] - v[0]);
        assert!(v[2] >= 3);
        n += 1;
    }
    assert!(n > 0);

    // simulate.json reports what was chosen.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("simulate.json")).unwrap()).unwrap();
    assert_eq!(json["teacher"]["length"], 30);
    assert_eq!(json["records"], 401);
    assert_eq!(json["teacher_summary"]["contacts"], n);
    assert!(json["sampler"]["burn_in"].as_u64().unwrap() >= 200);
    assert!(json["sampler"]["thin"].as_u64().unwrap() >= 1);
    assert!(json["sampler"]["tau_energy"].as_f64().unwrap() >= 1.0);
    assert_eq!(json["sampler"]["burn_in_auto"], true);

    // Explicit burn-in and thinning are used as given.
    let c = tmp.path().join("c");
    simulate(
        &c,
        "2",
        &["--burn-in", "150", "--thin", "3", "--chains", "2"],
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.join("simulate.json")).unwrap()).unwrap();
    assert_eq!(json["sampler"]["burn_in"], 150);
    assert_eq!(json["sampler"]["thin"], 3);
    assert_eq!(json["sampler"]["sweeps_per_chain"], 150 + 200 * 3);
}

#[test]
fn simulate_bad_input_exits_2_with_one_line() {
    let tmp = common::tempdir();
    for args in [
        vec!["--coupling-strength", "-1"],
        vec!["--cutoff", "0"],
        vec!["--thin", "0"],
        vec!["--length", "1"],
        vec!["--chains", "0"],
    ] {
        let out = common::fadca()
            .args(["simulate", "-o"])
            .arg(tmp.path().join("x"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn simulate_help_explains_parameters() {
    let out = common::fadca()
        .args(["simulate", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--coupling-strength",
        "--burn-in",
        "--thin",
        "--chains",
        "contacts.tsv",
        "[default: 0.4]",
        "RAYON_NUM_THREADS",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}
