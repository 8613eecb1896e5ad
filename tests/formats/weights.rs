//! Sequence weights against a brute-force O(N²L) reference on random
//! alignments, including near-threshold pairs and long rows.
use ndarray::Array2;
use proptest::prelude::*;

use fadca::weights::{effective_count, sequence_weights};

fn brute_force(states: &Array2<u8>, theta: f64) -> Vec<f64> {
    let (n, l) = states.dim();
    if theta >= 1.0 {
        return vec![1.0; n];
    }
    (0..n)
        .map(|a| {
            let similar = (0..n)
                .filter(|&b| {
                    let same = (0..l).filter(|&k| states[[a, k]] == states[[b, k]]).count();
                    same as f64 / l as f64 >= theta
                })
                .count();
            1.0 / similar as f64
        })
        .collect()
}

/// An alignment of mutated copies of a few ancestors: many pairs near θ.
fn family() -> impl Strategy<Value = Array2<u8>> {
    (1usize..60, 1usize..300, 1usize..4, any::<u64>()).prop_map(|(n, l, k, seed)| {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ancestors: Vec<Vec<u8>> = (0..k)
            .map(|_| (0..l).map(|_| (next() % 21) as u8).collect())
            .collect();
        let mut rows = Vec::with_capacity(n * l);
        for _ in 0..n {
            let anc = &ancestors[(next() % k as u64) as usize];
            let rate = next() % 40;
            for &s in anc {
                rows.push(if next() % 100 < rate {
                    (next() % 21) as u8
                } else {
                    s
                });
            }
        }
        Array2::from_shape_vec((n, l), rows).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn equals_brute_force(states in family(), theta in prop_oneof![
        Just(0.8), Just(0.0), Just(1.0), Just(0.5), 0.0f64..1.0
    ]) {
        let got = sequence_weights(states.view(), theta);
        let expect = brute_force(&states, theta);
        prop_assert_eq!(&got, &expect);
        prop_assert!((effective_count(&got) - expect.iter().sum::<f64>()).abs() < 1e-9);
    }
}

#[test]
fn many_rows_cross_several_blocks() {
    // Enough rows for many cache blocks and both sides of the i<j split.
    let (n, l) = (700, 90);
    let mut x = 99u64;
    let states = Array2::from_shape_fn((n, l), |(i, k)| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 100 < 15 {
            (x % 21) as u8
        } else {
            ((i % 5) * 3 + k % 4) as u8
        }
    });
    assert_eq!(
        sequence_weights(states.view(), 0.8),
        brute_force(&states, 0.8)
    );
}
