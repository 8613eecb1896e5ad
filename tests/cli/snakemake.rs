//! Runs workflow/Snakefile for real on two tiny families (one with a
//! structure) and checks that the merged summary equals a direct
//! `fadca batch` run (see the test for what happens without Snakemake).
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{self, read};

fn snakemake() -> Option<PathBuf> {
    let cached = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/fadca/venv-torch-2.13.0/bin/snakemake"));
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("snakemake"))
            .find(|p| p.is_file())
    });
    on_path.or(cached.filter(|p| p.is_file()))
}

/// Rows without timings and folders.
fn rows(summary: &Path) -> Vec<Value> {
    let v: Value = serde_json::from_str(&read(summary)).unwrap();
    v["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let o = r.as_object_mut().unwrap();
            o.remove("wall_s");
            o.remove("dir");
            r
        })
        .collect()
}

/// Snakemake is looked for on `PATH` (`scripts/torch-env.sh`, which `make
/// test` runs, installs it into the libtorch venv and puts that on `PATH`),
/// then in `~/.cache/fadca/venv-torch-2.13.0/bin`. When it is in neither:
/// with the environment variable `CI` set, the test fails (CI must run the
/// workflow); otherwise (a user's machine may lack Snakemake) it passes after
/// writing why it did not run to stderr, past the harness's output capture,
/// so that the line shows in `cargo test`'s output.
#[test]
fn snakefile_runs_shards_and_merges_them() {
    let Some(snakemake) = snakemake() else {
        let why = "snakemake is neither on PATH nor in ~/.cache/fadca/venv-torch-2.13.0/bin \
                   (scripts/torch-env.sh installs it; or: ~/.cache/fadca/venv-torch-2.13.0/bin/pip \
                   install snakemake)";
        assert!(std::env::var_os("CI").is_none(), "CI is set and {why}");
        // Not eprintln!: the harness would capture it and show it only on failure.
        let _ = writeln!(std::io::stderr(), "cli::snakemake: skipped: {why}");
        return;
    };
    let root = common::root();
    let small = read(&common::data("predict/small.fasta"));
    let tmp = common::tempdir();
    let fams = tmp.path().join("fams");
    std::fs::create_dir_all(fams.join("one")).unwrap();
    std::fs::write(fams.join("one/msa.fasta"), &small).unwrap();
    std::fs::create_dir_all(fams.join("two")).unwrap();
    // The query and the next 99 records.
    let half: String = small.split_inclusive('\n').take(200).collect();
    std::fs::write(fams.join("two/msa.fasta"), half).unwrap();
    std::fs::write(
        fams.join("families.tsv"),
        "name\tmsa\tstructure\tchain\textra\none\tone/msa.fasta\t\t\tx\ntwo\ttwo/msa.fasta\t\t\ty\n",
    )
    .unwrap();
    let fadca = common::fadca_exe();
    let extra = "--epochs 2 --heads 4 --head-dim 4 --batch-size 64 --device cpu --seed 5";
    let output = std::process::Command::new(&snakemake)
        .current_dir(tmp.path())
        .arg("-s")
        .arg(root.join("workflow/Snakefile"))
        .args(["--cores", "2", "--quiet", "--config"])
        .arg(format!("families={}", fams.join("families.tsv").display()))
        .arg("out=out")
        .arg("shards=2")
        .arg(format!("fadca={}", fadca.display()))
        .arg(format!("extra={extra}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "snakemake failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let out = tmp.path().join("out");
    for file in ["summary.tsv", "summary.json", "summary.png"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    assert!(out.join("shards/1/one/contacts.tsv").is_file());
    assert!(out.join("shards/2/two/contacts.tsv").is_file());
    // The same with fadca batch directly.
    let direct = tmp.path().join("direct");
    let status = std::process::Command::new(&fadca)
        .current_dir(tmp.path())
        .arg("batch")
        .arg(fams.join("families.tsv"))
        .args(extra.split(' '))
        .args(["--threads", "1", "--quiet", "-o"])
        .arg(&direct)
        .status()
        .unwrap();
    assert!(status.success());
    let merged = rows(&out.join("summary.json"));
    assert_eq!(merged.len(), 2);
    assert_eq!(merged, rows(&direct.join("summary.json")));
    assert_eq!(
        read(&out.join("shards/2/two/contacts.tsv")),
        read(&direct.join("two/contacts.tsv"))
    );
}
