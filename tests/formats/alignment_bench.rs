//! Reader + weights on every `*/msa.fasta` of the shared benchmark, compared
//! with an independent, straightforward implementation written here from
//! SPEC §2, and with the binary's `inspect --json`. Ignored unless asked for
//! (`cargo test --release -- --ignored`): it needs the DEV benchmark
//! (`common::bench_dir`), which CI and users do not have.
use std::path::{Path, PathBuf};

use fadca::alignment::{ReadOptions, read_alignment};
use fadca::weights::{effective_count, sequence_weights};

use crate::common;

fn bench_msas() -> Vec<PathBuf> {
    let dir = common::bench_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("msa.fasta"))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// The straightforward reference: (N kept, L, M_eff at 0.8, query).
fn reference(path: &Path) -> (usize, usize, f64, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut seqs: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with('>') {
            seqs.push(String::new());
        } else if let Some(last) = seqs.last_mut() {
            last.push_str(line.trim());
        }
    }
    // Insertions: lowercase and '.'.
    let seqs: Vec<Vec<char>> = seqs
        .iter()
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_ascii_lowercase() && *c != '.')
                .collect()
        })
        .collect();
    let query = &seqs[0];
    let cols: Vec<usize> = (0..query.len())
        .filter(|&k| query[k] != '-' && query[k] != '*')
        .collect();
    let alphabet = "ARNDCQEGHILKMFPSTWYV";
    let state = |c: char| alphabet.find(c).unwrap_or(20) as u8;
    let mut rows: Vec<Vec<u8>> = Vec::new();
    for (r, s) in seqs.iter().enumerate() {
        assert_eq!(s.len(), query.len());
        let row: Vec<u8> = cols.iter().map(|&k| state(s[k])).collect();
        let gaps = row.iter().filter(|&&x| x == 20).count();
        if r == 0 || gaps as f64 / cols.len() as f64 <= 0.9 {
            rows.push(row);
        }
    }
    let n = rows.len();
    let l = cols.len();
    let mut counts = vec![1usize; n];
    for i in 0..n {
        for j in i + 1..n {
            let same = rows[i].iter().zip(&rows[j]).filter(|(a, b)| a == b).count();
            if same as f64 / l as f64 >= 0.8 {
                counts[i] += 1;
                counts[j] += 1;
            }
        }
    }
    let meff = counts.iter().map(|&c| 1.0 / c as f64).sum();
    (n, l, meff, cols.iter().map(|&k| query[k]).collect())
}

#[test]
#[ignore = "needs the DEV benchmark (../shared/bench or FADCA_BENCH_DIR): cargo test --release -- --ignored"]
fn bench_families_match_the_reference() {
    let msas = bench_msas();
    assert!(!msas.is_empty(), "no */msa.fasta in the benchmark");
    for path in msas {
        let (n, l, meff, query) = reference(&path);
        let a = read_alignment(&path, &ReadOptions::default()).unwrap();
        let w = sequence_weights(a.states.view(), 0.8);
        let got = effective_count(&w);
        let name = path.display();
        assert_eq!((a.depth(), a.length()), (n, l), "{name}");
        assert_eq!(a.query_sequence, query, "{name}");
        assert!((got - meff).abs() <= 1e-6 * meff, "{name}: {got} vs {meff}");

        let out = common::fadca()
            .args(["inspect", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["n_kept"].as_u64(), Some(n as u64), "{name}");
        assert_eq!(v["length"].as_u64(), Some(l as u64), "{name}");
        let j = v["meff"].as_f64().unwrap();
        assert!(
            (j - meff).abs() <= 1e-6 * meff,
            "{name}: json {j} vs {meff}"
        );
    }
}
