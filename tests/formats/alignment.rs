//! Every reader on small hand-written files (tests/data), plain and gzipped,
//! with the expected matrices worked out by hand.
use std::io::Write;
use std::path::{Path, PathBuf};

use fadca::alignment::{ALPHABET, Alignment, Format, ReadOptions, read_alignment};

use crate::common::{self, data};

fn read(path: &Path, options: &ReadOptions) -> Alignment {
    match read_alignment(path, options) {
        Ok(a) => a,
        Err(e) => panic!("{}: {e:#}", path.display()),
    }
}

fn rows(a: &Alignment) -> Vec<String> {
    a.states
        .outer_iter()
        .map(|r| r.iter().map(|&s| ALPHABET[s as usize] as char).collect())
        .collect()
}

/// Gzips `src` into `dir`, as `members` concatenated gzip members.
fn gzip_copy(src: &Path, dir: &Path, members: usize) -> PathBuf {
    let bytes = std::fs::read(src).unwrap();
    let out = dir.join(format!("{}.gz", src.file_name().unwrap().to_string_lossy()));
    let mut file = std::fs::File::create(&out).unwrap();
    let step = bytes.len().div_ceil(members).max(1);
    for part in bytes.chunks(step) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(part).unwrap();
        file.write_all(&enc.finish().unwrap()).unwrap();
    }
    out
}

#[test]
fn a3m_with_hash_line_and_insertions() {
    let a = read(&data("insertions.a3m"), &ReadOptions::default());
    assert_eq!(a.format, Format::A3m);
    assert_eq!(a.names, vec!["query", "hit1", "hit2", "hit3"]);
    assert_eq!(rows(&a), vec!["MKVLAG", "MKVLAG", "MKVLAG", "-KVLA-"]);
    assert_eq!(a.query_sequence, "MKVLAG");
    let s = &a.stats;
    assert_eq!((s.n_read, s.n_dropped_gappy, s.n_kept), (5, 1, 4));
    assert_eq!((s.n_columns, s.n_columns_dropped), (7, 1));
}

#[test]
fn stockholm_two_blocks_with_markup() {
    let a = read(&data("two_blocks.sto"), &ReadOptions::default());
    assert_eq!(a.format, Format::Stockholm);
    assert_eq!(a.names, vec!["query/1-9", "hit/3-10", "other/1-7"]);
    assert_eq!(rows(&a), vec!["MKVLAGWYD", "MRVLSGWYD", "-KVLAGWF-"]);
    assert_eq!(a.query_sequence, "MKVLAGWYD");
    assert_eq!((a.stats.n_columns, a.stats.n_columns_dropped), (11, 2));
}

#[test]
fn psicov_aln_unknown_letters_are_gaps() {
    let a = read(&data("psicov.aln"), &ReadOptions::default());
    assert_eq!(a.format, Format::Aln);
    assert_eq!(a.names, vec!["seq1", "seq2", "seq3", "seq4"]);
    assert_eq!(rows(&a), vec!["MKVLAG", "MRVLSG", "MKV-AG", "-KVLA-"]);
}

#[test]
fn wrapped_fasta_focus_mode_and_keep_query_gaps() {
    let a = read(&data("wrapped.fasta"), &ReadOptions::default());
    assert_eq!(a.format, Format::Fasta);
    assert_eq!(a.names, vec!["q", "s1", "s2"]);
    assert_eq!(rows(&a), vec!["MKVLAGW", "MKVLAGW", "-KVLAG-"]);
    assert_eq!((a.length(), a.stats.n_columns_dropped), (7, 1));

    let keep = ReadOptions {
        keep_query_gaps: true,
        ..ReadOptions::default()
    };
    let a = read(&data("wrapped.fasta"), &keep);
    assert_eq!(rows(&a), vec!["MKV-LAGW", "MKVILAGW", "-KV-LAG-"]);
    assert_eq!(a.query_sequence, "MKV-LAGW");
    assert_eq!((a.length(), a.stats.n_columns_dropped), (8, 0));
}

#[test]
fn gap_fraction_threshold_counts_drops() {
    // hit3 "-KVLA-" has 2/6 gaps: kept at 0.9 and 1/3, dropped at 0.3.
    let path = data("insertions.a3m");
    let at = |x: f64| {
        let a = read(
            &path,
            &ReadOptions {
                max_gap_fraction: x,
                ..ReadOptions::default()
            },
        );
        (a.stats.n_dropped_gappy, a.stats.n_kept)
    };
    assert_eq!(at(0.9), (1, 4));
    assert_eq!(at(1.0 / 3.0), (1, 4));
    assert_eq!(at(0.3), (2, 3));
    assert_eq!(at(1.0), (0, 5));
    assert_eq!(at(0.0), (2, 3));
}

#[test]
fn forced_format_overrides_detection() {
    let opts = ReadOptions {
        format: Some(Format::Fasta),
        ..ReadOptions::default()
    };
    // The A3M '#' line is not allowed in plain FASTA.
    let err = read_alignment(&data("insertions.a3m"), &opts).unwrap_err();
    assert!(format!("{err:#}").contains("line 1"), "{err:#}");
    let opts = ReadOptions {
        format: Some(Format::A3m),
        ..ReadOptions::default()
    };
    assert_eq!(read(&data("wrapped.fasta"), &opts).format, Format::A3m);
}

#[test]
fn gzipped_files_read_like_plain_ones() {
    let dir = common::tempdir();
    for name in [
        "insertions.a3m",
        "two_blocks.sto",
        "psicov.aln",
        "wrapped.fasta",
    ] {
        let plain = read(&data(name), &ReadOptions::default());
        for members in [1, 3] {
            let gz = gzip_copy(&data(name), dir.path(), members);
            let a = read(&gz, &ReadOptions::default());
            assert_eq!(a.format, plain.format, "{name}");
            assert_eq!(a.names, plain.names, "{name}");
            assert_eq!(a.states, plain.states, "{name}");
            assert_eq!(a.query_sequence, plain.query_sequence, "{name}");
            assert_eq!(a.stats.n_read, plain.stats.n_read, "{name}");
        }
    }
}

#[test]
fn weights_of_the_a3m_fixture() {
    // query, hit1, hit2 identical; hit3 shares 4/6 columns with them.
    let a = read(&data("insertions.a3m"), &ReadOptions::default());
    let w = fadca::weights::sequence_weights(a.states.view(), 0.8);
    assert_eq!(w, vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0]);
    assert!((fadca::weights::effective_count(&w) - 2.0).abs() < 1e-12);
    let w = fadca::weights::sequence_weights(a.states.view(), 0.6);
    assert_eq!(w, vec![0.25; 4]);
}
