//! The teacher: planted contacts follow the chain geometry rule, attention and
//! couplings are symmetric and supported on the contacts, and the saved model
//! round-trips exactly.
use fadca::Q;
use fadca::simulate::lattice::{BOND_LENGTH, distance};
use fadca::simulate::{SampleOptions, Teacher, TeacherParams};
use ndarray::{Array2, Array3};

use crate::common;

fn teacher(seed: u64) -> Teacher {
    Teacher::generate(
        &TeacherParams {
            length: 50,
            heads: 3,
            ..TeacherParams::default()
        },
        seed,
    )
    .unwrap()
}

fn coords(t: &Teacher) -> Vec<[f64; 3]> {
    t.coords()
        .unwrap()
        .rows()
        .into_iter()
        .map(|r| [r[0] as f64, r[1] as f64, r[2] as f64])
        .collect()
}

#[test]
fn simulate_contacts_follow_geometry_rule() {
    let params = TeacherParams {
        length: 50,
        heads: 3,
        ..TeacherParams::default()
    };
    for seed in 0..5 {
        let t = teacher(seed);
        let c = coords(&t);
        assert_eq!(c.len(), 50);
        // A chain with 3.8 Å bonds (f32 storage: 1e-4 Å) that never overlaps itself.
        for w in c.windows(2) {
            assert!((distance(&w[0], &w[1]) - BOND_LENGTH).abs() < 1e-4);
        }
        for i in 0..50 {
            for j in (i + 1)..50 {
                assert!(
                    distance(&c[i], &c[j]) > BOND_LENGTH - 1e-4,
                    "residues {i}, {j} overlap"
                );
            }
        }
        // Contacts are exactly the pairs within the cutoff and separation rule.
        let mut expected = Vec::new();
        for i in 0..50 {
            for j in (i + params.min_separation)..50 {
                if distance(&c[i], &c[j]) < params.cutoff {
                    expected.push((i, j));
                }
            }
        }
        assert_eq!(t.contacts(), expected.as_slice(), "seed {seed}");
        // Compact: several contacts per residue.
        assert!(
            t.contacts().len() >= 2 * 50,
            "seed {seed}: {} contacts",
            t.contacts().len()
        );
    }
}

#[test]
fn simulate_attention_and_couplings_symmetric_on_contacts() {
    let t = teacher(3);
    let l = t.len();
    let a = t.attention();
    let contacts: std::collections::HashSet<(usize, usize)> =
        t.contacts().iter().copied().collect();
    for i in 0..l {
        for j in 0..l {
            let in_contact = contacts.contains(&(i.min(j), i.max(j)));
            let any = (0..t.heads()).any(|h| a[[h, i, j]] > 0.0);
            assert_eq!(any, in_contact && i != j, "pair ({i}, {j})");
            for h in 0..t.heads() {
                assert_eq!(a[[h, i, j]], a[[h, j, i]]);
                assert!(a[[h, i, j]] >= 0.0);
            }
        }
    }
    let v = t.values();
    for h in 0..t.heads() {
        for x in 0..Q {
            for y in 0..Q {
                assert_eq!(v[[h, x, y]], v[[h, y, x]]);
            }
        }
    }
    let j4 = t.couplings();
    assert_eq!(j4.shape(), &[l, l, Q, Q]);
    for i in 0..l {
        for j in 0..l {
            let in_contact = contacts.contains(&(i.min(j), i.max(j)));
            for x in 0..Q {
                for y in 0..Q {
                    assert_eq!(j4[[i, j, x, y]], j4[[j, i, y, x]], "J[{i},{j},{x},{y}]");
                    if !in_contact {
                        assert_eq!(j4[[i, j, x, y]], 0.0);
                    }
                }
            }
        }
    }
    // J is the factored sum, checked on one entry by hand.
    let (i, j) = t.contacts()[0];
    let manual: f32 = (0..t.heads()).map(|h| a[[h, i, j]] * v[[h, 2, 5]]).sum();
    assert!((j4[[i, j, 2, 5]] - manual).abs() < 1e-6);
}

#[test]
fn simulate_teacher_save_load_round_trip() {
    let dir = common::tempdir();
    let path = dir.path().join("teacher.safetensors");
    let t = teacher(9);
    t.save(&path).unwrap();
    let u = Teacher::load(&path).unwrap();
    assert_eq!(t.fields(), u.fields());
    assert_eq!(t.attention(), u.attention());
    assert_eq!(t.values(), u.values());
    assert_eq!(t.coords(), u.coords());
    assert_eq!(t.contacts(), u.contacts());
    assert_eq!(u.metadata().get("seed").map(String::as_str), Some("9"));
    let opts = SampleOptions {
        samples: 50,
        chains: 2,
        burn_in: Some(20),
        thin: Some(2),
        seed: 4,
    };
    assert_eq!(
        t.sample(&opts).unwrap().sequences,
        u.sample(&opts).unwrap().sequences
    );
    let seq = vec![3u8; t.len()];
    assert_eq!(t.energy(&seq), u.energy(&seq));
}

#[test]
fn simulate_load_rejects_bad_files() {
    let dir = common::tempdir();
    let path = dir.path().join("junk.safetensors");
    std::fs::write(&path, b"not a safetensors file").unwrap();
    let err = Teacher::load(&path).unwrap_err();
    assert!(fadca::error::is_input_error(&err));
    assert!(format!("{err:#}").contains("junk.safetensors"));
}

#[test]
fn simulate_from_parts_rejects_asymmetry() {
    let fields = Array2::<f32>::zeros((3, Q));
    let mut attention = Array3::<f32>::zeros((1, 3, 3));
    attention[[0, 0, 1]] = 1.0; // A[1,0] stays 0: not symmetric
    let values = Array3::<f32>::zeros((1, Q, Q));
    let err = Teacher::from_parts(fields.clone(), attention, values.clone()).unwrap_err();
    assert!(format!("{err}").contains("symmetric"), "{err}");
    let mut values_asym = values;
    values_asym[[0, 1, 2]] = 0.5;
    let err = Teacher::from_parts(fields, Array3::zeros((1, 3, 3)), values_asym).unwrap_err();
    assert!(format!("{err}").contains("V[1,2]"), "{err}");
}

#[test]
fn simulate_query_has_no_gaps_and_samples_are_valid() {
    let t = teacher(2);
    let run = t
        .sample(&SampleOptions {
            samples: 101,
            chains: 4,
            burn_in: None,
            thin: None,
            seed: 2,
        })
        .unwrap();
    assert_eq!(run.sequences.len(), 101);
    assert!(run.query.iter().all(|&s| s < 20));
    assert!(
        run.sequences
            .iter()
            .all(|s| s.len() == t.len() && s.iter().all(|&x| (x as usize) < Q))
    );
    // 101 samples over 4 chains: 26, 25, 25, 25 in chain order.
    let counts: Vec<usize> = (0..4)
        .map(|k| run.chain_of.iter().filter(|&&c| c == k).count())
        .collect();
    assert_eq!(counts, vec![26, 25, 25, 25]);
    assert!(run.chain_of.windows(2).all(|w| w[0] <= w[1]));
}

/// `values_seed`: teachers of different seeds share their values (and only
/// them); without it the values follow the seed, as before.
#[test]
fn simulate_values_seed_shares_values_across_teachers() {
    let shared = |seed, values_seed| {
        let params = TeacherParams {
            length: 16,
            heads: 3,
            values_seed,
            ..TeacherParams::default()
        };
        Teacher::generate(&params, seed).unwrap()
    };
    let (a, b) = (shared(1, Some(9)), shared(2, Some(9)));
    assert_eq!(a.values(), b.values());
    assert_ne!(a.fields(), b.fields());
    assert_ne!(a.values(), shared(1, Some(10)).values());
    // The teacher's other draws are those of its seed alone.
    let plain = shared(1, None);
    assert_eq!(a.fields(), plain.fields());
    assert_eq!(a.attention(), plain.attention());
    assert_ne!(a.values(), plain.values());
}
