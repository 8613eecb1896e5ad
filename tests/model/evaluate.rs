//! `fadca evaluate`: the per-site NLL of an alignment under a saved model and
//! under a saved teacher equals explicit softmax sums computed here by hand
//! on a tiny example (L = 3, one head), weighted and unweighted.
use std::collections::HashMap;
use std::path::Path;

use fadca::Q;
use fadca::alignment::state_of;
use fadca::model::{Model, ModelKind};
use fadca::simulate::Teacher;
use ndarray::{Array2, Array3};
use tch::Tensor;

use crate::common;

const L: usize = 3;
const QUERY: [f64; L] = [0.3, -0.5, 0.8];
const KEY: [f64; L] = [0.2, 0.7, -0.4];
/// Teacher attention (symmetric, zero diagonal).
const TEACHER_A: [[f64; L]; L] = [[0.0, 0.9, 0.6], [0.9, 0.0, 0.7], [0.6, 0.7, 0.0]];

fn value(a: usize, b: usize) -> f64 {
    // Symmetric, so that the same table can serve the teacher.
    0.5 * ((a + b) as f64).sin() + 0.2 * ((a * b) as f64 * 0.1).cos()
}

fn field(i: usize, a: usize) -> f64 {
    0.3 * ((i * Q + a) as f64).cos()
}

/// The student's attention A_ij = exp(q_i k_j) / Σ_{j'≠i} exp(q_i k_j') (d = 1).
fn student_attention() -> [[f64; L]; L] {
    let mut a = [[0.0; L]; L];
    for i in 0..L {
        let z: f64 = (0..L)
            .filter(|&j| j != i)
            .map(|j| (QUERY[i] * KEY[j]).exp())
            .sum();
        for j in 0..L {
            if j != i {
                a[i][j] = (QUERY[i] * KEY[j]).exp() / z;
            }
        }
    }
    a
}

/// −Σ_i log softmax_a(h_i(a) + Σ_{j≠i} A_ij V(a, x_j)) at a = x_i.
fn hand_sequence_nll(att: &[[f64; L]; L], x: &[usize; L]) -> f64 {
    let mut nll = 0.0;
    for i in 0..L {
        let logit = |a: usize| {
            field(i, a)
                + (0..L)
                    .filter(|&j| j != i)
                    .map(|j| att[i][j] * value(a, x[j]))
                    .sum::<f64>()
        };
        let z: f64 = (0..Q).map(|a| logit(a).exp()).sum();
        nll -= logit(x[i]) - z.ln();
    }
    nll
}

fn save_student(path: &Path) {
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let tensor = |v: Vec<f64>, shape: &[i64]| Tensor::from_slice(&f32s(v)).reshape(shape);
    let named = vec![
        (
            "query".to_string(),
            tensor(QUERY.to_vec(), &[1, L as i64, 1]),
        ),
        ("key".to_string(), tensor(KEY.to_vec(), &[1, L as i64, 1])),
        (
            "value".to_string(),
            tensor(
                (0..Q * Q).map(|k| value(k / Q, k % Q)).collect(),
                &[1, Q as i64, Q as i64],
            ),
        ),
        (
            "fields".to_string(),
            tensor(
                (0..L * Q).map(|k| field(k / Q, k % Q)).collect(),
                &[L as i64, Q as i64],
            ),
        ),
    ];
    let model = Model::from_named_tensors(ModelKind::Factored, named).unwrap();
    model.save(path, HashMap::new()).unwrap();
}

fn save_teacher(path: &Path) {
    let fields = Array2::from_shape_fn((L, Q), |(i, a)| field(i, a) as f32);
    let attention = Array3::from_shape_fn((1, L, L), |(_, i, j)| TEACHER_A[i][j] as f32);
    let values = Array3::from_shape_fn((1, Q, Q), |(_, a, b)| value(a, b) as f32);
    Teacher::from_parts(fields, attention, values)
        .unwrap()
        .save(path)
        .unwrap();
}

fn states(s: &str) -> [usize; L] {
    let v: Vec<usize> = s.bytes().map(|c| state_of(c).unwrap() as usize).collect();
    [v[0], v[1], v[2]]
}

fn evaluate_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = common::fadca()
        .args([
            "evaluate",
            "model.safetensors",
            "msa.fasta",
            "--json",
            "--threads",
            "1",
        ])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn evaluate_matches_explicit_softmax_sums() {
    let dir = common::tempdir();
    save_student(&dir.path().join("model.safetensors"));
    save_teacher(&dir.path().join("teacher.safetensors"));
    // Sequences 1 and 3 are identical: with theta 0.8 they weigh 1/2 each, sequence 2 weighs 1.
    std::fs::write(
        dir.path().join("msa.fasta"),
        ">q\nACD\n>s2\nWYV\n>s3\nACD\n",
    )
    .unwrap();
    let (x1, x2) = (states("ACD"), states("WYV"));
    let sa = student_attention();
    let (s1, s2) = (hand_sequence_nll(&sa, &x1), hand_sequence_nll(&sa, &x2));
    let (t1, t2) = (
        hand_sequence_nll(&TEACHER_A, &x1),
        hand_sequence_nll(&TEACHER_A, &x2),
    );
    let unweighted = |a: f64, b: f64| (2.0 * a + b) / (3.0 * L as f64);
    let weighted = |a: f64, b: f64| (0.5 * a + b + 0.5 * a) / (2.0 * L as f64);

    // teacher.safetensors next to the MSA is found without --teacher.
    let plain = evaluate_json(dir.path(), &["--no-weights"]);
    let got = |v: &serde_json::Value, k: &str| v[k]["nll_per_site"].as_f64().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 2e-5;
    assert!(close(got(&plain, "model"), unweighted(s1, s2)), "{plain}");
    assert!(close(got(&plain, "teacher"), unweighted(t1, t2)), "{plain}");
    assert!(close(
        plain["gap"].as_f64().unwrap(),
        unweighted(s1, s2) - unweighted(t1, t2)
    ));
    let ppl = plain["model"]["perplexity"].as_f64().unwrap();
    assert!((ppl - unweighted(s1, s2).exp()).abs() < 1e-4);
    assert_eq!(plain["sequences"], 3);
    assert_eq!(plain["weighted"], false);
    // A model file that records no alignment hash: unknown.
    assert!(plain["trained_on_this_alignment"].is_null(), "{plain}");

    let w = evaluate_json(dir.path(), &["--teacher", "teacher.safetensors"]);
    assert!(close(got(&w, "model"), weighted(s1, s2)), "{w}");
    assert!(close(got(&w, "teacher"), weighted(t1, t2)), "{w}");
    assert!((w["meff"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    // The weighting matters here (s1 ≠ s2), so the two numbers differ.
    assert!((weighted(s1, s2) - unweighted(s1, s2)).abs() > 1e-3);

    let none = evaluate_json(dir.path(), &["--no-teacher"]);
    assert!(
        none.get("teacher").is_none() && none.get("gap").is_none(),
        "{none}"
    );
}

#[test]
fn evaluate_rejects_a_length_mismatch_on_one_line() {
    let dir = common::tempdir();
    save_student(&dir.path().join("model.safetensors"));
    std::fs::write(dir.path().join("msa.fasta"), ">q\nACDE\n>s\nACDE\n").unwrap();
    let out = common::fadca()
        .args(["evaluate", "model.safetensors", "msa.fasta"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("4 columns") && err.contains("L = 3"), "{err}");
}
