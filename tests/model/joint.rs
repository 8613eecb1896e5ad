//! Values shared by many families (issue #19): the joint objective is the
//! weighted sum of the families' objectives, the shared values' gradient
//! matches finite differences of that sum, and fixed values do not move.
use std::sync::Arc;

use fadca::Q;
use fadca::model::factored::FactoredAttention;
use fadca::model::joint::{FamilyBatch, FamilyWeighting, JointFamily, JointModel, JointObjective};
use fadca::model::{
    FusedObjective, Model, ModelKind, StartValues, TrainConfig, batch_loss, reference_states, train,
};
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::common;

fn random_states(n: usize, l: usize, seed: u64) -> Array2<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, l), |_| rng.random_range(0..Q as u8))
}

/// Three small families of different lengths and depths, with weights.
fn families() -> Vec<(Array2<u8>, Vec<f64>)> {
    [(7, 5, 1u64), (4, 8, 2), (9, 3, 3)]
        .into_iter()
        .map(|(n, l, seed)| {
            let weights = (0..n).map(|k| 0.3 + 0.1 * k as f64).collect();
            (random_states(n, l, seed), weights)
        })
        .collect()
}

fn batches(data: &[(Array2<u8>, Vec<f64>)]) -> Vec<FamilyBatch> {
    data.iter()
        .map(|(s, w)| FamilyBatch {
            states: s.iter().copied().collect(),
            weights: w.iter().map(|&x| x as f32).collect(),
        })
        .collect()
}

/// The joint model with every parameter random (values included), so that
/// no gradient vanishes by symmetry.
fn random_joint(data: &[(Array2<u8>, Vec<f64>)]) -> JointModel {
    let fams: Vec<JointFamily> = data
        .iter()
        .map(|(s, w)| JointFamily {
            states: s,
            weights: w,
        })
        .collect();
    let model = JointModel::new(&fams, 3, 2, 5);
    tch::manual_seed(9);
    tch::no_grad(|| {
        for p in model.parameters() {
            let mut p = p.shallow_clone();
            p.copy_(&(Tensor::randn(p.size(), (Kind::Float, tch::Device::Cpu)) * 0.5));
        }
    });
    model
}

fn joint_families(data: &[(Array2<u8>, Vec<f64>)]) -> Vec<JointFamily<'_>> {
    data.iter()
        .map(|(s, w)| JointFamily {
            states: s,
            weights: w,
        })
        .collect()
}

/// The joint objective is exactly `Σ_f c_f · objective_f` with each family's
/// objective from its own [`FusedObjective`], `c_f` = M_eff share or `1/F`;
/// and it agrees with libtorch's `batch_loss` summed the same way.
#[test]
fn joint_objective_is_the_weighted_sum_of_the_families_objectives() {
    let _g = common::torch_globals();
    let data = families();
    let model = random_joint(&data);
    for weighting in [FamilyWeighting::Meff, FamilyWeighting::Equal] {
        let fams = joint_families(&data);
        let mut joint = JointObjective::new(&fams, 1, weighting).unwrap();
        let (value, _) = joint.evaluate(&model, &batches(&data), 0.01, 0.02);
        let meffs: Vec<f64> = data.iter().map(|(_, w)| w.iter().sum()).collect();
        let total: f64 = meffs.iter().sum();
        let mut expected = 0.0;
        let mut reference = 0.0;
        for (((s, w), layer), meff) in data.iter().zip(&model.families).zip(&meffs) {
            let c = match weighting {
                FamilyWeighting::Meff => meff / total,
                FamilyWeighting::Equal => 1.0 / data.len() as f64,
            };
            let mut single = FusedObjective::new(1, reference_states(s, w)).unwrap();
            let flat: Vec<u8> = s.iter().copied().collect();
            let wf: Vec<f32> = w.iter().map(|&x| x as f32).collect();
            let (v, _) = single.batch(layer, &flat, &wf, 0.01, 0.02);
            expected += c * v;
            let states = Tensor::from_slice(&s.iter().map(|&x| x as i64).collect::<Vec<_>>())
                .reshape([s.nrows() as i64, s.ncols() as i64]);
            let model = Model::Factored(FactoredAttention {
                query: layer.query.to_kind(Kind::Double),
                key: layer.key.to_kind(Kind::Double),
                value: layer.value.to_kind(Kind::Double),
                fields: layer.fields.to_kind(Kind::Double),
            });
            let loss = batch_loss(&model, &states, &Tensor::from_slice(w), 0.01, 0.02);
            reference += c * loss.double_value(&[]);
        }
        assert_eq!(value, expected, "{weighting:?}");
        assert!(
            (value - reference).abs() < 1e-5 * reference.abs(),
            "{value} vs libtorch {reference}"
        );
    }
}

/// The shared values' gradient (the sum over families) against central
/// finite differences of the joint objective in double precision.
#[test]
fn shared_values_gradient_matches_finite_differences() {
    let _g = common::torch_globals();
    let data = families();
    let model = random_joint(&data);
    let fams = joint_families(&data);
    let mut joint = JointObjective::new(&fams, 2, FamilyWeighting::Meff).unwrap();
    let (_, grads) = joint.evaluate(&model, &batches(&data), 0.01, 0.02);
    let d_value = grads[0].to_kind(Kind::Double).reshape([-1]);
    let coefficients = joint.coefficients().to_vec();
    // Double-precision copies of every family's layer, their values one
    // shared tensor to perturb.
    let value = model.value.detach().to_kind(Kind::Double);
    let layers: Vec<Model> = model
        .families
        .iter()
        .map(|l| {
            Model::Factored(FactoredAttention {
                query: l.query.detach().to_kind(Kind::Double),
                key: l.key.detach().to_kind(Kind::Double),
                value: value.shallow_clone(),
                fields: l.fields.detach().to_kind(Kind::Double),
            })
        })
        .collect();
    let objective = || -> f64 {
        data.iter()
            .zip(&layers)
            .zip(&coefficients)
            .map(|(((s, w), m), c)| {
                let states = Tensor::from_slice(&s.iter().map(|&x| x as i64).collect::<Vec<_>>())
                    .reshape([s.nrows() as i64, s.ncols() as i64]);
                c * batch_loss(m, &states, &Tensor::from_slice(w), 0.01, 0.02).double_value(&[])
            })
            .sum()
    };
    let flat = value.reshape([-1]);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let eps = 1e-5;
    for _ in 0..20 {
        let k = rng.random_range(0..(3 * Q * Q) as i64);
        let original = flat.double_value(&[k]);
        let at = |x: f64| {
            let _ = flat.get(k).fill_(x);
            objective()
        };
        let numeric = (at(original + eps) - at(original - eps)) / (2.0 * eps);
        at(original);
        let analytic = d_value.double_value(&[k]);
        assert!(
            (numeric - analytic).abs() < 1e-4 + 1e-3 * numeric.abs(),
            "dV[{k}]: analytic {analytic}, finite differences {numeric}"
        );
    }
}

/// `--values` without `--train-values`: the trained model's values are the
/// given ones bit for bit while its queries and keys move; with
/// `--train-values` the values move too.
#[test]
fn fixed_values_do_not_move_and_fine_tuned_ones_do() {
    let _g = common::torch_globals();
    let states = random_states(40, 6, 8);
    let weights = vec![1.0; 40];
    let start: Vec<f32> = (0..2 * Q * Q).map(|k| (k % 7) as f32 * 0.1 - 0.3).collect();
    for trained in [false, true] {
        let cfg = TrainConfig {
            heads: 2,
            head_dim: 3,
            epochs: Some(3),
            batch_size: Some(16),
            values: Some(StartValues {
                values: Arc::new(start.clone()),
                heads: 2,
                trained,
                source: "test".into(),
                sha256: String::new(),
            }),
            ..TrainConfig::defaults(ModelKind::Factored)
        };
        let (model, _) = train(&states, &weights, &cfg, &mut |_| {}).unwrap();
        let Model::Factored(m) = model else {
            panic!("a factored model")
        };
        let mut after = vec![0.0f32; start.len()];
        m.value
            .to_kind(Kind::Float)
            .copy_data(&mut after, start.len());
        if trained {
            assert_ne!(after, start, "fine-tuned values moved");
        } else {
            assert_eq!(after, start, "fixed values kept their bits");
        }
        assert!(m.query.abs().sum(Kind::Double).double_value(&[]) > 0.0);
    }
}
