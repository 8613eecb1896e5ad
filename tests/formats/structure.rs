//! Reading the hand-built fixtures `tests/data/score/tiny.{pdb,cif}(.gz)`:
//! chain A = ALA 1, GLY 2, SER 3 (altlocs A 0.4 / B 0.6), LEU 3A (insertion
//! code), HETATM MSE 4, VAL 5 (no CB), LYS 6 (N only: not observed), HOH;
//! chain B = TRP 1, TYR 2. The mmCIF file has a second model that must be ignored.
use std::path::PathBuf;

use fadca::structure::{AtomSelection, read_structure, residue_distance};

use crate::common;

fn fixture(name: &str) -> PathBuf {
    common::data("score").join(name)
}

fn check_chain_a(name: &str) {
    let s = read_structure(&fixture(name), None).unwrap();
    assert_eq!(s.chain, "A", "{name}");
    assert_eq!(s.sequence(), "AGSLMV", "{name}");
    let labels: Vec<String> = s.residues.iter().map(|r| r.label()).collect();
    assert_eq!(labels, vec!["1", "2", "3", "3A", "4", "5"], "{name}");
    assert_eq!(s.residues[4].name, "MSE");
    // Hydrogen dropped: N CA C O CB.
    assert_eq!(s.residues[0].atoms.len(), 5, "{name}");
    // Altloc B (occupancy 0.6) kept: CB at (6, -1, 0).
    assert_eq!(s.residues[2].atom("CB"), Some([6.0, -1.0, 0.0]), "{name}");
    assert_eq!(s.residues[2].atoms.len(), 4, "{name}");
    let d =
        |a: usize, b: usize, sel| residue_distance(&s.residues[a], &s.residues[b], sel).unwrap();
    // ALA CB (0,-1,0) – SER CB (6,-1,0).
    assert_eq!(d(0, 2, AtomSelection::Cb), 6.0);
    // GLY uses CA (3,0,0); ALA CB (0,-1,0).
    assert_eq!(d(0, 1, AtomSelection::Cb), 10f64.sqrt());
    // VAL has no CB: CA (15,0,0); MSE CB (12,-1,0).
    assert_eq!(d(4, 5, AtomSelection::Cb), 10f64.sqrt());
    assert_eq!(d(4, 5, AtomSelection::Ca), 3.0);
    // Heavy: ALA C (0.5,1,0) – GLY N (2,0,0).
    assert_eq!(d(0, 1, AtomSelection::Heavy), 3.25f64.sqrt());
}

#[test]
fn reads_pdb_chain_a() {
    check_chain_a("tiny.pdb");
}

#[test]
fn reads_gzipped_pdb() {
    check_chain_a("tiny.pdb.gz");
}

#[test]
fn reads_mmcif_first_model_only() {
    check_chain_a("tiny.cif");
}

#[test]
fn reads_gzipped_mmcif() {
    check_chain_a("tiny.cif.gz");
}

#[test]
fn chain_option_selects_chain_b() {
    for name in ["tiny.pdb", "tiny.cif"] {
        let s = read_structure(&fixture(name), Some("B")).unwrap();
        assert_eq!(s.sequence(), "WY", "{name}");
        assert_eq!(s.chain, "B");
    }
}

#[test]
fn missing_chain_is_input_error_naming_file() {
    let e = read_structure(&fixture("tiny.pdb"), Some("Z")).unwrap_err();
    let msg = format!("{e:#}");
    assert!(fadca::error::is_input_error(&e));
    assert!(
        msg.contains("tiny.pdb") && msg.contains("no chain \"Z\"") && msg.contains("A, B"),
        "{msg}"
    );
}

#[test]
fn garbage_and_missing_files_are_input_errors() {
    let dir = common::tempdir();
    let bad = dir.path().join("bad.pdb");
    std::fs::write(&bad, "this is not a structure\n").unwrap();
    let e = read_structure(&bad, None).unwrap_err();
    assert!(fadca::error::is_input_error(&e), "{e:#}");
    assert!(format!("{e:#}").contains("bad.pdb"), "{e:#}");
    assert!(!format!("{e:#}").contains('\n'));
    let e = read_structure(&dir.path().join("absent.pdb"), None).unwrap_err();
    assert!(fadca::error::is_input_error(&e) && format!("{e:#}").contains("absent.pdb"));
}
