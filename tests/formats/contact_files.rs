//! The same contacts written as fadca tsv, CCMpred matrix, CASP RR and a plmc
//! EC file are read back (format detected from content) into the same ranking
//! and give the same precision table.
use std::fmt::Write as _;

use fadca::contacts::{
    ContactFormat, Prediction, ScoredPair, detect_format, read_prediction, write_mat, write_rr,
    write_tsv,
};
use fadca::score::precision_table;
use fadca::structure::NativeContacts;

use crate::common;

const L: usize = 48;

fn prediction() -> Prediction {
    let mut pairs = Vec::new();
    for i in 1..=L {
        for j in i + 1..=L {
            // Distinct, irregular scores, some negative (APC scores can be).
            let s = ((i * 7919 + j * 104_729) % 1009) as f64 / 997.0 - 0.25 + (j - i) as f64 * 1e-6;
            pairs.push(ScoredPair { i, j, score: s });
        }
    }
    Prediction { length: L, pairs }
}

fn native(dir: &std::path::Path) -> NativeContacts {
    let path = dir.join("native.txt");
    let mut text = String::new();
    for i in 1..=L {
        for j in i + 6..=L {
            if (i * j) % 7 == 1 || j == i + 6 {
                writeln!(text, "{i} {j}").unwrap();
            }
        }
    }
    std::fs::write(&path, text).unwrap();
    NativeContacts::from_list(&path, L).unwrap()
}

#[test]
fn four_formats_same_precision() {
    let dir = common::tempdir();
    let p = prediction();
    let native = native(dir.path());
    let reference = precision_table(&p, &native);
    assert!(
        reference
            .cells
            .iter()
            .any(|c| c.precision.is_some_and(|v| v > 0.0))
    );

    let tsv = dir.path().join("contacts.tsv");
    let mat = dir.path().join("contacts.mat");
    let rr = dir.path().join("contacts.rr");
    let ec = dir.path().join("model.ec");
    write_tsv(&tsv, &p).unwrap();
    write_mat(&mat, &p).unwrap();
    let seq: String = (0..L)
        .map(|k| b"ACDEFGHIKLMNPQRSTVWY"[k % 20] as char)
        .collect();
    write_rr(&rr, &p, Some(&seq)).unwrap();
    // plmc EC: `i A_i j A_j fn cn`; fn deliberately ranks differently from cn.
    let mut text = String::new();
    for q in &p.pairs {
        writeln!(text, "{} A {} C {} {}", q.i, q.j, -q.score, q.score).unwrap();
    }
    std::fs::write(&ec, text).unwrap();

    let expected_formats = [
        (&tsv, ContactFormat::Fadca),
        (&mat, ContactFormat::Ccmpred),
        (&rr, ContactFormat::CaspRr),
        (&ec, ContactFormat::Plmc),
    ];
    let order = |q: &Prediction| q.ranked().iter().map(|x| (x.i, x.j)).collect::<Vec<_>>();
    for (path, format) in expected_formats {
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(detect_format(&text), Some(format), "{}", path.display());
        let back = read_prediction(path, Some(L)).unwrap();
        assert_eq!(back.length, L);
        assert_eq!(back.pairs.len(), L * (L - 1) / 2, "{}", path.display());
        assert_eq!(order(&back), order(&p), "{}", path.display());
        assert_eq!(
            precision_table(&back, &native),
            reference,
            "{}",
            path.display()
        );
    }
    // tsv, mat and EC keep the exact scores.
    for path in [&tsv, &mat, &ec] {
        let back = read_prediction(path, Some(L)).unwrap();
        assert_eq!(back.ranked(), p.ranked(), "{}", path.display());
    }
}

#[test]
fn wrong_length_is_an_input_error() {
    let dir = common::tempdir();
    let p = prediction();
    let mat = dir.path().join("contacts.mat");
    write_mat(&mat, &p).unwrap();
    let e = read_prediction(&mat, Some(L + 1)).unwrap_err();
    assert!(fadca::error::is_input_error(&e));
    assert!(format!("{e:#}").contains("contacts.mat, line 1"), "{e:#}");
    let tsv = dir.path().join("contacts.tsv");
    write_tsv(&tsv, &p).unwrap();
    let e = read_prediction(&tsv, Some(L - 1)).unwrap_err();
    assert!(
        format!("{e:#}").contains(&format!("beyond the query length {}", L - 1)),
        "{e:#}"
    );
}
