//! Scoring against the hand-built structure fixture through the library:
//! mapping onto a query with extra residues, the identity check, --atoms and
//! --cutoff, and the report written to a folder.
use std::path::PathBuf;

use fadca::contacts::{Prediction, ScoredPair, SeparationClass};
use fadca::score::{score_against_structure, write_score_outputs};
use fadca::structure::{AtomSelection, NativeSource};

use crate::common;

fn tiny() -> PathBuf {
    common::data("score/tiny.pdb")
}

fn source(atoms: AtomSelection, cutoff: f64) -> NativeSource {
    NativeSource::Structure {
        path: tiny(),
        chain: None,
        atoms,
        cutoff,
    }
}

fn uniform(l: usize) -> Prediction {
    let mut pairs = Vec::new();
    for i in 1..=l {
        for j in i + 1..=l {
            pairs.push(ScoredPair {
                i,
                j,
                score: 1.0 / (i + j) as f64,
            });
        }
    }
    Prediction { length: l, pairs }
}

#[test]
fn maps_chain_inside_longer_query() {
    // Structure chain A = AGSLMV; the query has 4 extra residues before and 3 after.
    let query = "WWWWAGSLMVWWW";
    let report =
        score_against_structure(query, &uniform(13), &source(AtomSelection::Cb, 8.0), false)
            .unwrap();
    let m = report.mapping.as_ref().unwrap();
    assert_eq!(
        (
            m.query_length,
            m.structure_residues,
            m.aligned,
            m.identical,
            m.unmapped
        ),
        (13, 6, 6, 6, 7)
    );
    assert_eq!(m.identity, 1.0);
    let d = report.native.distances.as_ref().unwrap();
    // Query 5 = ALA 1 (CB 0,-1,0), query 7 = SER 3 altloc B (CB 6,-1,0).
    assert_eq!(d[[4, 6]], 6.0);
    assert!(d[[0, 6]].is_nan());
    assert_eq!(report.native.is_contact(5, 7), Some(true));
    assert_eq!(report.native.is_contact(1, 7), None);
    // Query 5 (ALA CB) – 10 (VAL, no CB: CA 15,0,0): sqrt(225 + 1) > 8.
    assert_eq!(report.native.is_contact(5, 10), Some(false));
    // Only pairs 5..10 are known and no known pair has separation >= 6.
    assert_eq!(report.precision.get(SeparationClass::All, "L"), None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["mapping"]["unmapped"], 7);
    assert_eq!(json["native_source"]["chain"], "A");
    assert!(json["precision"]["long"]["L/5"].is_null());
}

#[test]
fn cutoff_and_atoms_change_contacts() {
    let query = "AGSLMV";
    let cb = score_against_structure(query, &uniform(6), &source(AtomSelection::Cb, 8.0), false)
        .unwrap();
    // ALA CB (0,-1,0) – MSE CB (12,-1,0): 12 Å, no contact at 8 Å, contact at 12.5 Å.
    assert_eq!(cb.native.is_contact(1, 5), Some(false));
    let wide = score_against_structure(query, &uniform(6), &source(AtomSelection::Cb, 12.5), false)
        .unwrap();
    assert_eq!(wide.native.is_contact(1, 5), Some(true));
    // Heavy atoms: ALA C (0.5,1,0) – MSE N (11,0,0) = sqrt(110.25 + 1) > 8; ALA C – LEU N (8,0,0) = sqrt(57.25) < 8.
    let heavy = score_against_structure(
        query,
        &uniform(6),
        &source(AtomSelection::Heavy, 8.0),
        false,
    )
    .unwrap();
    assert_eq!(heavy.native.is_contact(1, 4), Some(true));
    let cb_14 = cb.native.distances.as_ref().unwrap()[[0, 3]];
    assert_eq!(cb_14, 9.0); // ALA CB (0,-1,0) – LEU CB (9,-1,0)
    assert_eq!(cb.native.is_contact(1, 4), Some(false));
}

#[test]
fn low_identity_or_coverage_needs_force_mapping() {
    // Unrelated query: low identity. Query sharing only "AG": identity 100 % but
    // 2 of the chain's 6 residues aligned.
    for query in ["WWWWQQQQRRRRTT", "AGQWWWWWWWWW"] {
        let l = query.len();
        let e = score_against_structure(query, &uniform(l), &source(AtomSelection::Cb, 8.0), false)
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(fadca::error::is_input_error(&e), "{msg}");
        assert!(
            msg.contains("identity") && msg.contains("--force-mapping") && msg.contains("tiny.pdb"),
            "{msg}"
        );
        let forced =
            score_against_structure(query, &uniform(l), &source(AtomSelection::Cb, 8.0), true)
                .unwrap();
        let m = forced.mapping.unwrap();
        assert!(m.identity < 0.9 || m.coverage < 0.5, "{query}: {m:?}");
    }
}

#[test]
fn prediction_length_must_match_query() {
    let e = score_against_structure(
        "AGSLMV",
        &uniform(7),
        &source(AtomSelection::Cb, 8.0),
        false,
    )
    .unwrap_err();
    assert!(
        fadca::error::is_input_error(&e) && format!("{e:#}").contains("7 residues"),
        "{e:#}"
    );
}

#[test]
fn writes_score_json_and_png() {
    let dir = common::tempdir();
    let report = score_against_structure(
        "AGSLMV",
        &uniform(6),
        &source(AtomSelection::Cb, 8.0),
        false,
    )
    .unwrap();
    let out = dir.path().join("nested/out");
    write_score_outputs(&out, &report, &uniform(6), "uniform", false).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("score.json")).unwrap()).unwrap();
    assert_eq!(json["L"], 6);
    for class in ["all", "short", "medium", "long"] {
        for top in ["L", "L/2", "L/5", "L/10"] {
            assert!(json["precision"][class].get(top).is_some(), "{class} {top}");
        }
    }
    assert!(out.join("contact_map.png").is_file());
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}
