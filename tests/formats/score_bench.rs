//! Bench check (ignored unless asked for, `cargo test --release -- --ignored`:
//! it needs the DEV benchmark, `common::bench_dir`): for several
//! families, the precision of a fixed pseudo-random prediction computed by
//! fadca (pdbtbx reader, alignment mapping, evaluate) equals the one computed
//! here by an independent fixed-column PDB reader that numbers query residue k
//! as the k-th structure residue after the place where the gap-free query row
//! occurs inside the structure sequence (bench README).
use std::collections::HashMap;
use std::path::Path;

use fadca::contacts::{Prediction, ScoredPair, SeparationClass, TOP_DIVISORS};
use fadca::score::score_against_structure;
use fadca::structure::{AtomSelection, NativeSource};

use crate::common;

/// A fixed pseudo-random score in [0, 1) for pair (i, j) (splitmix64).
fn score(i: usize, j: usize) -> f64 {
    let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (j as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // Coarse scores (100 levels) so that ties occur and tie-breaking is tested.
    (z % 100) as f64 / 100.0
}

fn one_letter(name: &str) -> Option<char> {
    let table = [
        ("ALA", 'A'),
        ("ARG", 'R'),
        ("ASN", 'N'),
        ("ASP", 'D'),
        ("CYS", 'C'),
        ("GLN", 'Q'),
        ("GLU", 'E'),
        ("GLY", 'G'),
        ("HIS", 'H'),
        ("ILE", 'I'),
        ("LEU", 'L'),
        ("LYS", 'K'),
        ("MET", 'M'),
        ("PHE", 'F'),
        ("PRO", 'P'),
        ("SER", 'S'),
        ("THR", 'T'),
        ("TRP", 'W'),
        ("TYR", 'Y'),
        ("VAL", 'V'),
        ("MSE", 'M'),
    ];
    table.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// Residue of the independent reader: letter, CA, CB.
struct Res {
    letter: char,
    ca: [f64; 3],
    cb: Option<[f64; 3]>,
}

/// Fixed-column PDB reader: first model, one chain, residues with a CA in file
/// order, altloc with the highest mean occupancy per residue (first on ties).
fn read_pdb(path: &Path, chain: char) -> Vec<Res> {
    // (resseq+icode) -> (name, altloc -> atoms [(name, xyz, occ)])
    let mut order: Vec<String> = Vec::new();
    type Atoms = Vec<(String, [f64; 3], f64)>;
    let mut residues: HashMap<String, (String, Vec<(char, Atoms)>)> = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        if line.starts_with("ENDMDL") {
            break;
        }
        if !(line.starts_with("ATOM  ") || line.starts_with("HETATM")) || line.len() < 54 {
            continue;
        }
        if line.as_bytes()[21] as char != chain {
            continue;
        }
        let atom = line[12..16].trim().to_string();
        let alt = line.as_bytes()[16] as char;
        let name = line[17..20].trim().to_string();
        let key = line[22..27].to_string();
        let f = |a: usize, b: usize| line[a..b].trim().parse::<f64>().unwrap();
        let xyz = [f(30, 38), f(38, 46), f(46, 54)];
        let occ = if line.len() >= 60 { f(54, 60) } else { 1.0 };
        let entry = residues.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            (name.clone(), Vec::new())
        });
        match entry.1.iter_mut().find(|(a, _)| *a == alt) {
            Some((_, atoms)) => atoms.push((atom, xyz, occ)),
            None => entry.1.push((alt, vec![(atom, xyz, occ)])),
        }
    }
    let mut out = Vec::new();
    for key in order {
        let (name, groups) = &residues[&key];
        let Some(letter) = one_letter(name) else {
            continue;
        };
        let mean = |atoms: &Vec<(String, [f64; 3], f64)>| {
            atoms.iter().map(|a| a.2).sum::<f64>() / atoms.len() as f64
        };
        let mut best: Option<(char, f64)> = None;
        for (alt, atoms) in groups {
            if *alt != ' ' && best.is_none_or(|(_, o)| mean(atoms) > o) {
                best = Some((*alt, mean(atoms)));
            }
        }
        let find = |n: &str| {
            groups
                .iter()
                .filter(|(a, _)| *a == ' ' || Some(*a) == best.map(|b| b.0))
                .flat_map(|(_, atoms)| atoms.iter())
                .find(|a| a.0 == n)
                .map(|a| a.1)
        };
        if let Some(ca) = find("CA") {
            out.push(Res {
                letter,
                ca,
                cb: find("CB"),
            });
        }
    }
    out
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[test]
#[ignore = "needs the DEV benchmark (../shared/bench or FADCA_BENCH_DIR): cargo test --release -- --ignored"]
fn bench_precision_matches_independent_reader() {
    let bench = common::bench_dir();
    let manifest = std::fs::read_to_string(bench.join("families.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 || f[2].is_empty() {
            continue;
        }
        let msa = std::fs::read_to_string(bench.join(f[1])).unwrap();
        let query_row = msa.lines().nth(1).unwrap();
        let query: String = query_row
            .chars()
            .filter(|c| c.is_ascii_alphabetic())
            .collect();
        let l = query.len();
        let pdb = bench.join(f[2]);
        let chain = f[3].chars().next().unwrap();

        // Independent reference.
        let residues = read_pdb(&pdb, chain);
        let structure_seq: String = residues.iter().map(|r| r.letter).collect();
        let offset = structure_seq
            .find(&query)
            .unwrap_or_else(|| panic!("{}: query not in structure", f[0]));
        let point = |k: usize| {
            let r = &residues[offset + k - 1];
            if r.letter == 'G' {
                r.ca
            } else {
                r.cb.unwrap_or(r.ca)
            }
        };
        let mut pairs = Vec::new();
        for i in 1..=l {
            for j in i + 1..=l {
                pairs.push(ScoredPair {
                    i,
                    j,
                    score: score(i, j),
                });
            }
        }
        let mut ranked = pairs.clone();
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.i.cmp(&b.i))
                .then(a.j.cmp(&b.j))
        });
        let expected = |class: SeparationClass, k: usize| -> f64 {
            let (lo, hi) = class.range();
            let top: Vec<&ScoredPair> = ranked
                .iter()
                .filter(|p| p.j - p.i >= lo && hi.is_none_or(|h| p.j - p.i <= h))
                .take(k)
                .collect();
            let hits = top
                .iter()
                .filter(|p| dist(point(p.i), point(p.j)) < 8.0)
                .count();
            hits as f64 / top.len() as f64
        };

        // fadca.
        let prediction = Prediction { length: l, pairs };
        let source = NativeSource::Structure {
            path: pdb.clone(),
            chain: Some(f[3].to_string()),
            atoms: AtomSelection::Cb,
            cutoff: 8.0,
        };
        let report = score_against_structure(&query, &prediction, &source, false).unwrap();
        let m = report.mapping.as_ref().unwrap();
        assert_eq!((m.unmapped, m.identical, m.aligned), (0, l, l), "{}", f[0]);
        for class in SeparationClass::ALL {
            for (divisor, label) in TOP_DIVISORS {
                if divisor == 10 {
                    continue;
                }
                let k = (l / divisor).max(1);
                let got = report.precision.get(class, label).unwrap();
                assert_eq!(
                    got,
                    expected(class, k),
                    "{} {} top-{label}",
                    f[0],
                    class.name()
                );
            }
        }
        eprintln!(
            "{}: L = {l}, P@L(all) = {:.3}",
            f[0],
            report.precision.get(SeparationClass::All, "L").unwrap()
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} families with structures");
}
