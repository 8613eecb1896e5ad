//! How long `fadca predict` trains (issue #17): by default until the
//! stopping rule says the contacts have settled, recorded in summary.json
//! (steps, the most it could take, why it stopped, every check) and in the
//! one-screen summary; `--steps N` trains exactly N steps; bad lengths are
//! one-line errors.
use crate::common;

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&common::read(&dir.join("out/summary.json"))).unwrap()
}

fn predict(dir: &std::path::Path, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = common::fadca();
    cmd.current_dir(dir)
        .arg("predict")
        .arg(common::data("predict/small.fasta"))
        .args([
            "-o",
            "out",
            "--model-out",
            "m.safetensors",
            "--threads",
            "1",
        ])
        .args(["--device", "cpu", "--model", "potts", "--force"])
        .args(extra);
    cmd
}

#[test]
fn the_default_stops_by_the_rule_and_says_so() {
    let dir = common::tempdir();
    let out = predict(dir.path(), &[]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(dir.path());
    let (steps, max) = (
        s["steps"].as_u64().unwrap(),
        s["max_steps"].as_u64().unwrap(),
    );
    // 200 sequences: one batch per pass, 350 passes at most (the Potts
    // model's schedule).
    assert_eq!(max, 350);
    let reason = s["stop_reason"].as_str().unwrap();
    let checks = s["convergence_checks"].as_array().unwrap();
    assert_eq!(checks.len() as u64, steps.min(max - 1) / 25);
    match reason {
        "converged" => {
            assert!((150..max).contains(&steps), "{steps}");
            let last = checks.last().unwrap();
            assert_eq!(last["step"].as_u64(), Some(steps));
            assert!(last["kept"].as_f64().unwrap() >= 0.95);
            assert!(last["decrease"].as_f64().unwrap() <= 0.01);
        }
        "max_steps" => assert_eq!(steps, max),
        other => panic!("stop_reason {other}"),
    }
    assert!(checks[0]["kept"].is_null() && checks[0]["decrease"].is_null());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&format!("stopped   after {steps} of at most {max} steps: ")),
        "{stdout}"
    );
    // The loss curve has an entry per pass begun.
    assert_eq!(s["loss_curve"].as_array().unwrap().len() as u64, steps);
}

#[test]
fn steps_fix_the_length() {
    let dir = common::tempdir();
    let out = predict(dir.path(), &["--steps", "30"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(dir.path());
    assert_eq!(s["steps"], 30);
    assert_eq!(s["max_steps"], 30);
    assert_eq!(s["stop_reason"], "fixed_length");
    assert_eq!(s["convergence_checks"].as_array().unwrap().len(), 0);
    assert_eq!(s["hyperparameters"]["steps"], 30);
}

#[test]
fn bad_lengths_are_one_line_errors() {
    let dir = common::tempdir();
    for (args, needle) in [
        (&["--steps", "0"][..], "--steps"),
        (&["--steps", "5", "--epochs", "3"][..], "--epochs"),
        (&["--steps", "x"][..], "--steps"),
    ] {
        let out = predict(dir.path(), args).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!dir.path().join("out/summary.json").exists());
    }
}
