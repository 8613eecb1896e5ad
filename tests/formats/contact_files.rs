//! Round trips through every contact format fadca writes and reads: the same
//! contacts written as fadca tsv, CCMpred matrix, CASP RR and plmc EC file
//! are read back (format detected from content) into the same ranking and
//! give the same precision table; `write_contact_files` with a minimum
//! separation; CASP RR files with REMARK records, two MODEL blocks and
//! ENDMDL, and one laid out as ConKit's CASP RR writer lays it out.
use std::fmt::Write as _;
use std::path::Path;

use fadca::contacts::{
    ContactFormat, ContactReadOptions, ListOptions, Prediction, Provenance, RrHeader, ScoredPair,
    detect_format, read_contact_file, read_prediction, rr_probabilities, write_contact_files,
    write_ec, write_mat, write_rr, write_tsv,
};
use fadca::model::ModelKind;
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

fn sequence() -> String {
    (0..L)
        .map(|k| b"ACDEFGHIKLMNPQRSTVWY"[k % 20] as char)
        .collect()
}

fn native(dir: &Path) -> NativeContacts {
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

fn order(q: &Prediction) -> Vec<(usize, usize)> {
    q.ranked().iter().map(|x| (x.i, x.j)).collect()
}

#[test]
fn four_formats_round_trip() {
    let dir = common::tempdir();
    let p = prediction();
    let seq = sequence();
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
    let ec = dir.path().join("contacts.ec");
    write_tsv(&tsv, &p).unwrap();
    write_mat(&mat, &p).unwrap();
    let header = RrHeader {
        target: "test",
        author: "fadca",
        method: "fadca test",
        sequence: Some(&seq),
    };
    write_rr(&rr, &p, &header).unwrap();
    write_ec(&ec, &p, Some(&seq)).unwrap();

    let formats = [
        (&tsv, ContactFormat::Fadca),
        (&mat, ContactFormat::Ccmpred),
        (&rr, ContactFormat::CaspRr),
        (&ec, ContactFormat::Plmc),
    ];
    for (path, format) in formats {
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(detect_format(&text), Some(format), "{}", path.display());
        let back = read_contact_file(path, &ContactReadOptions::default()).unwrap();
        assert_eq!(back.format, format);
        assert_eq!(back.prediction.length, L);
        assert_eq!(
            back.prediction.pairs.len(),
            L * (L - 1) / 2,
            "{}",
            path.display()
        );
        // The RR and EC files carry the query sequence; only RR gives it back.
        let carried = (format == ContactFormat::CaspRr).then(|| seq.clone());
        assert_eq!(back.sequence, carried, "{}", path.display());
    }
    // tsv, mat and EC keep the exact scores, so the ranking and the
    // precision table.
    for path in [&tsv, &mat, &ec] {
        let back = read_prediction(path, Some(L)).unwrap();
        assert_eq!(back.ranked(), p.ranked(), "{}", path.display());
        assert_eq!(order(&back), order(&p));
        assert_eq!(
            precision_table(&back, &native),
            reference,
            "{}",
            path.display()
        );
    }
    // RR keeps p = min-max scaled score to 4 decimals, in rank order.
    let back = read_prediction(&rr, Some(L)).unwrap();
    let scaled = rr_probabilities(&p);
    for (q, expected) in p.pairs.iter().zip(&scaled) {
        let got = back
            .pairs
            .iter()
            .find(|b| (b.i, b.j) == (q.i, q.j))
            .unwrap();
        assert!((got.score - expected).abs() <= 5e-5, "{q:?}: {}", got.score);
    }
    let text = std::fs::read_to_string(&rr).unwrap();
    let ps: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4)?.parse().ok())
        .collect();
    assert_eq!(ps.len(), L * (L - 1) / 2);
    assert!(ps.windows(2).all(|w| w[0] >= w[1]), "best first");
}

#[test]
fn contact_files_with_min_separation() {
    let dir = common::tempdir();
    let p = prediction();
    let seq = sequence();
    let provenance = Provenance {
        target: "my family",
        model: ModelKind::Potts,
        sequence: Some(&seq),
    };
    let options = ListOptions {
        min_separation: 6,
        rr_author: "1234-5678-9000".into(),
    };
    let written = write_contact_files(dir.path(), &p, &provenance, &options).unwrap();
    assert_eq!(
        written,
        vec!["contacts.tsv", "contacts.mat", "contacts.rr", "contacts.ec"]
    );
    let expected_pairs = (1..=L).map(|i| L.saturating_sub(i + 5)).sum::<usize>();
    for name in ["contacts.tsv", "contacts.rr", "contacts.ec"] {
        let back = read_prediction(&dir.path().join(name), Some(L)).unwrap();
        assert_eq!(back.pairs.len(), expected_pairs, "{name}");
        assert!(back.pairs.iter().all(|q| q.j - q.i >= 6), "{name}");
    }
    // The first L lines of contacts.tsv are the top L of separation >= 6.
    let tsv = std::fs::read_to_string(dir.path().join("contacts.tsv")).unwrap();
    let first: Vec<(usize, usize)> = tsv
        .lines()
        .skip(1)
        .take(L)
        .map(|l| {
            let t: Vec<usize> = l.split('\t').take(2).map(|x| x.parse().unwrap()).collect();
            (t[0], t[1])
        })
        .collect();
    let top: Vec<(usize, usize)> = p.top(L, 6, None).iter().map(|q| (q.i, q.j)).collect();
    assert_eq!(first, top);
    // The matrix keeps every pair.
    let mat = read_prediction(&dir.path().join("contacts.mat"), Some(L)).unwrap();
    assert_eq!(mat.to_matrix(), p.to_matrix());
    // The RR header.
    let rr = std::fs::read_to_string(dir.path().join("contacts.rr")).unwrap();
    let head: Vec<&str> = rr.lines().take(5).collect();
    assert_eq!(head[0], "PFRMAT RR");
    assert_eq!(head[1], "TARGET my_family");
    assert_eq!(head[2], "AUTHOR 1234-5678-9000");
    assert!(
        head[3].starts_with(&format!("METHOD fadca {}", env!("CARGO_PKG_VERSION")))
            && head[3].contains("Potts"),
        "{}",
        head[3]
    );
    assert_eq!(head[4], "MODEL  1");
    assert!(rr.ends_with("\nEND\n"));
}

#[test]
fn rr_with_remarks_two_models_and_endmdl() {
    let path = common::data("contacts").join("two_models.rr");
    let read = |model| {
        let options = ContactReadOptions {
            rr_model: model,
            ..ContactReadOptions::default()
        };
        read_contact_file(&path, &options)
    };
    let triples = |p: &Prediction| {
        p.ranked()
            .iter()
            .map(|q| (q.i, q.j, q.score))
            .collect::<Vec<_>>()
    };
    let first = read(1).unwrap();
    assert_eq!(first.format, ContactFormat::CaspRr);
    assert_eq!(first.sequence.as_deref(), Some("ACDEFGHIKLMNPQ"));
    assert_eq!(first.target.as_deref(), Some("two"));
    assert_eq!(first.prediction.length, 14);
    assert_eq!(
        triples(&first.prediction),
        vec![(1, 8, 0.9), (2, 12, 0.7), (3, 12, 0.2)]
    );
    let second = read(2).unwrap();
    assert_eq!(
        triples(&second.prediction),
        vec![(3, 12, 0.95), (1, 8, 0.6), (4, 14, 0.1)]
    );
    let e = read(3).unwrap_err();
    assert!(fadca::error::is_input_error(&e));
    assert!(format!("{e:#}").contains("2 MODEL blocks"), "{e:#}");
    // The default reader takes the first model.
    assert_eq!(read_prediction(&path, Some(14)).unwrap(), first.prediction);
}

#[test]
fn rr_as_conkit_writes_it() {
    let path = common::data("contacts").join("conkit.rr");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(detect_format(&text), Some(ContactFormat::CaspRr));
    let file = read_contact_file(&path, &ContactReadOptions::default()).unwrap();
    assert_eq!(file.sequence.as_deref(), Some("MKTAYIAKQRQISFVKSHFS"));
    assert_eq!(file.target.as_deref(), Some("example"));
    assert_eq!(file.prediction.length, 20);
    let got: Vec<(usize, usize, f64)> = file
        .prediction
        .ranked()
        .iter()
        .map(|q| (q.i, q.j, q.score))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 9, 1.0),
            (2, 15, 0.8125),
            (3, 20, 0.5),
            (4, 10, 0.25),
            (5, 6, 0.0)
        ]
    );
    // A query of another length is refused, naming the first contact line.
    let options = ContactReadOptions {
        expected_length: Some(21),
        ..ContactReadOptions::default()
    };
    let e = read_contact_file(&path, &options).unwrap_err();
    assert!(
        format!("{e:#}").contains("conkit.rr, line 8: its sequence has 20 residues"),
        "{e:#}"
    );
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
