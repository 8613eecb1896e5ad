//! End to end on a synthetic family (SPEC §6): `fadca simulate --length 40
//! --heads 4 --samples 3000 --seed 1` (default β = 0.4), then `fadca predict`
//! with the default hyper-parameters (the automatic schedule: about 400
//! Adam steps of 256 sequences), must recover the planted contacts: top-L
//! precision over pairs with separation ≥ 6 ≥ 0.9.
use fadca::simulate::{SampleOptions, TeacherParams, write_family};

use crate::common;

#[test]
fn predict_recovers_planted_contacts() {
    let dir = common::tempdir();
    let family = dir.path().join("family");
    let params = TeacherParams {
        length: 40,
        heads: 4,
        ..TeacherParams::default()
    };
    let opts = SampleOptions {
        samples: 3000,
        chains: 8,
        burn_in: None,
        thin: None,
        seed: 1,
    };
    let report = write_family(&family, &params, &opts).unwrap();
    assert!(
        report.teacher_summary.contacts_short
            + report.teacher_summary.contacts_medium
            + report.teacher_summary.contacts_long
            >= 40
    );
    let out = common::fadca()
        .args([
            "predict",
            "family/msa.fasta",
            "-o",
            "pred",
            "--model-out",
            "model.safetensors",
        ])
        // The factored student of a factored teacher (the default, auto,
        // would train the Potts model, whose L²q²/2 couplings fit the
        // training family far closer than the teacher: a gap of -0.76).
        .args(["--model", "factored"])
        .args(["--native-contacts", "family/contacts.tsv", "--quiet"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("pred/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["length"], 40);
    let precision = summary["precision"]["all"]["L"].as_f64().unwrap();
    assert!(
        precision >= 0.9,
        "top-L precision (|i-j| >= 6) = {precision}"
    );

    // evaluate finds teacher.safetensors next to the MSA; on the family it was
    // trained on the student's per-site NLL is within 0.1 nats of the teacher's.
    let out = common::fadca()
        .args([
            "evaluate",
            "model.safetensors",
            "family/msa.fasta",
            "--json",
            "--no-weights",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gap = eval["gap"].as_f64().unwrap();
    eprintln!("top-L precision {precision}, gap on the training family {gap:+.4} nats/site");
    assert!(
        gap.abs() < 0.1,
        "student-teacher gap on the training family: {gap}"
    );
}
