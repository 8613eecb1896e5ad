//! The committed example in `msa/` is exactly what the command in
//! `msa/README.md` produces: a change to the teacher or the sampler must
//! regenerate it (and the README stays true).
use crate::common;

#[test]
fn simulate_embedded_example_is_reproducible() {
    let tmp = common::tempdir();
    common::fadca()
        .args([
            "simulate",
            "--length",
            "60",
            "--heads",
            "4",
            "--samples",
            "2000",
            "--seed",
            "1",
            "-o",
        ])
        .arg(tmp.path())
        .assert()
        .success();
    let root = common::root().join("msa");
    for (made, committed) in [
        ("msa.fasta", "example.fasta"),
        ("contacts.tsv", "example.contacts.tsv"),
    ] {
        let a = std::fs::read(tmp.path().join(made)).unwrap();
        let b = std::fs::read(root.join(committed)).unwrap();
        assert!(
            a == b,
            "msa/{committed} is not what `fadca simulate` makes now; regenerate it (msa/README.md)"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("fadca simulate --length 60 --heads 4 --samples 2000 --seed 1 -o sim"));
}
