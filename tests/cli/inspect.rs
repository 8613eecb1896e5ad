//! `fadca inspect` on hand-written fixtures: text report and --json.
use crate::common::{self, data};

fn inspect(args: &[&str]) -> String {
    let out = common::fadca().arg("inspect").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn inspect_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&inspect(&all)).unwrap()
}

#[test]
fn json_report_of_the_a3m_fixture() {
    let path = data("insertions.a3m");
    let v = inspect_json(&[path.to_str().unwrap()]);
    assert_eq!(v["format"], "a3m");
    assert_eq!(v["n_read"], 5);
    assert_eq!(v["n_dropped_gappy"], 1);
    assert_eq!(v["n_kept"], 4);
    assert_eq!(v["n_columns"], 7);
    assert_eq!(v["n_columns_dropped"], 1);
    assert_eq!(v["length"], 6);
    assert_eq!(v["query"]["name"], "query");
    assert_eq!(v["query"]["sequence"], "MKVLAG");
    assert_eq!(v["theta"], 0.8);
    // Three identical rows (1/3 each) and one distinct row.
    assert!((v["meff"].as_f64().unwrap() - 2.0).abs() < 1e-12);
    // Gaps: only "-KVLA-" has 2 of the 24 kept positions.
    assert!((v["mean_gap_fraction"].as_f64().unwrap() - 2.0 / 24.0).abs() < 1e-12);
    // On the device `predict --device auto` would use (the fused kernels on
    // the CPU).
    let device = fadca::runtime::resolve_device(fadca::runtime::DeviceChoice::Auto).unwrap();
    let fused = fadca::model::uses_fused_kernels(device, fadca::model::Objective::Pll);
    let expect = fadca::model::memory::estimate_training_bytes(
        4,
        6,
        fadca::model::ModelKind::Factored,
        fused,
        fadca::model::TrainConfig::defaults(fadca::model::ModelKind::Factored).heads,
        fadca::model::TrainConfig::defaults(fadca::model::ModelKind::Factored).head_dim,
        4,
    );
    assert_eq!(v["memory"]["factored_bytes"].as_u64(), Some(expect));
    // The Potts model's estimate on the same path, above the 200 MiB
    // runtime base of the estimate.
    let potts = fadca::model::memory::estimate_training_bytes(
        4,
        6,
        fadca::model::ModelKind::Potts,
        fused,
        32,
        23,
        4,
    );
    assert_eq!(v["memory"]["potts_bytes"].as_u64(), Some(potts));
    assert!(potts > 200 * 1024 * 1024);
}

#[test]
fn flags_change_the_report() {
    let path = data("insertions.a3m");
    let p = path.to_str().unwrap();
    let v = inspect_json(&[p, "--no-weights"]);
    assert_eq!(v["meff"], 4.0);
    assert_eq!(v["theta"], 1.0);
    let v = inspect_json(&[p, "--theta", "0.6"]);
    assert_eq!(v["meff"], 1.0);
    let v = inspect_json(&[p, "--keep-query-gaps", "--max-gap-fraction", "1"]);
    assert_eq!(
        (v["length"].as_u64(), v["n_kept"].as_u64()),
        (Some(7), Some(5))
    );
    assert_eq!(v["query"]["sequence"], "MKV-LAG");
    let wrapped = data("wrapped.fasta");
    let v = inspect_json(&[wrapped.to_str().unwrap(), "--format", "a3m"]);
    assert_eq!(v["format"], "a3m");
}

#[test]
fn text_report_says_what_was_read_dropped_and_kept() {
    let path = data("two_blocks.sto");
    let out = inspect(&[path.to_str().unwrap()]);
    assert!(out.contains("format      stockholm"), "{out}");
    assert!(
        out.contains("3 read, 0 dropped (more than 90% gaps), 3 kept"),
        "{out}"
    );
    assert!(
        out.contains("11 read, 2 dropped (query gaps), L = 9"),
        "{out}"
    );
    assert!(
        out.contains("query/1-9") && out.contains("MKVLAGWYD"),
        "{out}"
    );
    assert!(out.contains("M_eff 3.0 at theta 0.8"), "{out}");
    assert!(out.contains("memory      factored ~"), "{out}");
}
