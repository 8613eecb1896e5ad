//! `fadca train-values` and `fadca predict --values` (issue #19) on small
//! simulated families that share their values (`fadca simulate
//! --values-seed`): the values file and its figure, resume after a kill,
//! fixed values kept by predict, the model file's record of them, and the
//! one-line errors.
use std::path::Path;

use fadca::plot::Figure;
use fadca::plot::ValuesFigure;
use fadca::plot::values::{PANEL_PIXELS, panel_origin};

use crate::common::{self, decode_png, fadca};

/// Three simulated families (L = 10–14, 150 sequences) sharing values, a
/// folder each in `dir` (as `fadca batch` scans them).
fn families(dir: &Path) {
    for (k, l) in [(1, 10), (2, 12), (3, 14)] {
        fadca()
            .args([
                "simulate",
                "-L",
                &l.to_string(),
                "--heads",
                "2",
                "-M",
                "150",
            ])
            .args([
                "--seed",
                &k.to_string(),
                "--values-seed",
                "7",
                "--chains",
                "2",
            ])
            .arg("-o")
            .arg(dir.join(format!("fam{k}")))
            .assert()
            .success();
    }
}

fn train_values(families: &Path, out: &Path) -> assert_cmd::Command {
    let mut cmd = fadca();
    cmd.arg("train-values")
        .arg(families)
        .arg("-o")
        .arg(out)
        .args(["--heads", "3", "--head-dim", "2", "--steps", "7"])
        .args([
            "--batch-size",
            "32",
            "--checkpoint-every",
            "2",
            "--threads",
            "1",
        ])
        .arg("--quiet");
    cmd
}

#[test]
fn values_file_figure_and_resume_after_a_kill_gives_the_same_values() {
    let tmp = common::tempdir();
    let msas = tmp.path().join("families");
    families(&msas);

    // An uninterrupted run: the values file and its figure with 3 panels.
    let whole = tmp.path().join("whole.safetensors");
    train_values(&msas, &whole).assert().success();
    let (w, h, pixels) = decode_png(&tmp.path().join("whole.png"));
    let figure = ValuesFigure::new(&vec![0.0; 3 * 21 * 21]);
    assert_eq!(figure.panels(), 3);
    assert_eq!((w, h), figure.size());
    // Each of the 3 panels has its frame; the fourth slot of the 2×2 grid is empty.
    let pixel = |x: u32, y: u32| {
        let at = ((y * w + x) * 3) as usize;
        [pixels[at], pixels[at + 1], pixels[at + 2]]
    };
    for k in 0..4 {
        let (x0, y0) = panel_origin(3, k);
        let frame = pixel(x0 - 1, y0 + PANEL_PIXELS / 2);
        if k < 3 {
            assert_ne!(frame, [255, 255, 255], "panel {k} is drawn");
        } else {
            assert_eq!(frame, [255, 255, 255], "no fourth panel");
        }
    }
    assert!(!tmp.path().join("whole.safetensors.checkpoint").exists());

    // Killed (aborted) before step 5: the checkpoint of step 4 is left,
    // and no values file.
    let killed = tmp.path().join("killed.safetensors");
    train_values(&msas, &killed)
        .env("FADCA_ABORT_AT_STEP", "5")
        .assert()
        .failure();
    assert!(!killed.exists());
    assert!(tmp.path().join("killed.safetensors.checkpoint").exists());
    // Resumed: the same file, byte for byte.
    let out = train_values(&msas, &killed)
        .arg("--resume")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8_lossy(&out).contains("resumed at step 4"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        std::fs::read(&whole).unwrap(),
        std::fs::read(&killed).unwrap()
    );

    // A checkpoint made with other settings is refused under --resume.
    train_values(&msas, &killed)
        .env("FADCA_ABORT_AT_STEP", "3")
        .assert()
        .failure();
    train_values(&msas, &killed)
        .args(["--resume", "--seed", "5"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("other settings"));

    // predict --values with --model auto: the Potts model where it fits,
    // the values unused and the summary saying so.
    fadca()
        .arg("predict")
        .arg(msas.join("fam2/msa.fasta"))
        .arg("--values")
        .arg(&whole)
        .arg("-o")
        .arg(tmp.path().join("auto"))
        .arg("--model-out")
        .arg(tmp.path().join("auto.safetensors"))
        .args(["--epochs", "2", "--threads", "1", "--quiet"])
        .assert()
        .success();
    let auto: serde_json::Value =
        serde_json::from_str(&common::read(&tmp.path().join("auto/summary.json"))).unwrap();
    assert_eq!(auto["model"], "potts");
    assert!(
        auto["model_reason"]
            .as_str()
            .unwrap()
            .contains("--values not used")
    );
    assert!(auto["hyperparameters"].get("values").is_none());

    // predict --values --model factored: the values kept bit for bit, and
    // the model file records where they came from.
    let model = tmp.path().join("m.safetensors");
    fadca()
        .arg("predict")
        .arg(msas.join("fam2/msa.fasta"))
        .args(["--model", "factored", "--values"])
        .arg(&whole)
        .arg("-o")
        .arg(tmp.path().join("pred"))
        .arg("--model-out")
        .arg(&model)
        .args(["--epochs", "2", "--threads", "1", "--quiet"])
        .assert()
        .success();
    let (trained, metadata) = fadca::model::Model::load(&model).unwrap();
    let (values, _) = fadca::model::load_values(&whole, false).unwrap();
    let fadca::model::Model::Factored(m) = trained else {
        panic!("a factored model")
    };
    let mut kept = vec![0.0f32; values.values.len()];
    let n = kept.len();
    m.value.copy_data(&mut kept, n);
    assert_eq!(&kept, values.values.as_ref());
    assert_eq!(metadata["values_sha256"], values.sha256);
    assert_eq!(metadata["values_trained"], "fixed");
    assert_eq!(metadata["values_source"], whole.display().to_string());

    // batch --values: every family's child predict starts from them.
    let batch = tmp.path().join("batch");
    fadca()
        .arg("batch")
        .arg(&msas)
        .args(["--model", "factored", "--values"])
        .arg(&whole)
        .arg("-o")
        .arg(&batch)
        .args(["--epochs", "2", "--threads", "1", "--jobs", "1"])
        .assert()
        .success();
    for k in 1..=3 {
        let summary: serde_json::Value =
            serde_json::from_str(&common::read(&batch.join(format!("fam{k}/summary.json"))))
                .unwrap();
        assert_eq!(summary["model"], "factored");
        assert_eq!(
            summary["hyperparameters"]["values"]["sha256"],
            values.sha256.as_str()
        );
        assert_eq!(summary["hyperparameters"]["values"]["trained"], false);
    }

    // Errors: --model potts with --values; a model file given as values.
    fadca()
        .arg("predict")
        .arg(msas.join("fam2/msa.fasta"))
        .args(["--model", "potts", "--values"])
        .arg(&whole)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--model potts"));
    fadca()
        .arg("predict")
        .arg(msas.join("fam2/msa.fasta"))
        .arg("--values")
        .arg(&model)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a file of shared values"));
}
