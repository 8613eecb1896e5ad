//! The trainer's mathematics: analytic gradients against finite differences,
//! the masked-language-model ↔ pseudo-likelihood equivalence, the Potts
//! model's symmetry, and seed reproducibility.
use fadca::Q;
use fadca::model::{
    FusedObjective, Model, ModelKind, TrainConfig, batch_loss, neg_log_likelihood, train,
};
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::common;

fn random_states(n: usize, l: usize, seed: u64) -> Array2<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, l), |_| rng.random_range(0..Q as u8))
}

fn to_tensor(states: &Array2<u8>) -> Tensor {
    let (n, l) = states.dim();
    let flat: Vec<i64> = states.iter().map(|&s| s as i64).collect();
    Tensor::from_slice(&flat).reshape([n as i64, l as i64])
}

/// A double-precision model with every parameter random (values too, so
/// that no gradient vanishes by symmetry).
fn random_model(kind: ModelKind, l: usize, seed: i64) -> Model {
    tch::manual_seed(seed);
    let opts = (Kind::Double, Device::Cpu);
    let fields = Tensor::randn([l as i64, Q as i64], opts) * 0.3;
    let model = Model::new(kind, l, 2, 3, fields);
    tch::no_grad(|| {
        for p in model.parameters() {
            let mut p = p.shallow_clone();
            p.copy_(&(Tensor::randn(p.size(), opts) * 0.5));
        }
    });
    model
}

fn check_gradients(kind: ModelKind) {
    let (n, l) = (6, 5);
    let states = to_tensor(&random_states(n, l, 7));
    let weights = Tensor::from_slice(&[1.0, 0.5, 0.25, 1.0, 0.2, 0.7]).to_kind(Kind::Double);
    let model = random_model(kind, l, 3);
    let (lj, lh) = (0.03, 0.02);
    let loss = batch_loss(&model, &states, &weights, lj, lh);
    loss.backward();
    let eps = 1e-6;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut checked = 0;
    for p in model.parameters() {
        let grad = p.grad().reshape([-1]);
        let count = p.numel() as i64;
        for _ in 0..8 {
            let k = rng.random_range(0..count);
            let flat = p.reshape([-1]);
            let original = flat.double_value(&[k]);
            let at = |x: f64| {
                tch::no_grad(|| {
                    let _ = flat.get(k).fill_(x);
                    batch_loss(&model, &states, &weights, lj, lh).double_value(&[])
                })
            };
            let numeric = (at(original + eps) - at(original - eps)) / (2.0 * eps);
            tch::no_grad(|| {
                let _ = flat.get(k).fill_(original);
            });
            let analytic = grad.double_value(&[k]);
            let tol = 1e-6 * (1.0 + numeric.abs());
            assert!(
                (numeric - analytic).abs() < tol,
                "{kind:?}: parameter entry {k}: numeric {numeric} vs analytic {analytic}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 16);
}

#[test]
fn factored_gradient_matches_finite_differences() {
    let _torch = common::torch_globals();
    check_gradients(ModelKind::Factored);
}

#[test]
fn potts_gradient_matches_finite_differences() {
    let _torch = common::torch_globals();
    check_gradients(ModelKind::Potts);
}

/// A batch for the fused-kernel tests: `n` random sequences of length `l`
/// with unequal weights (libtorch's float64 and the kernels' float32).
fn weighted_batch(n: usize, l: usize, seed: u64) -> (Array2<u8>, Vec<f64>, Vec<u8>, Vec<f32>) {
    let states = random_states(n, l, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f64> = (0..n).map(|_| rng.random_range(0.1..1.0)).collect();
    let flat: Vec<u8> = states.iter().copied().collect();
    let w32: Vec<f32> = w.iter().map(|&x| x as f32).collect();
    (states, w, flat, w32)
}

/// The kernels' objective and gradients (`value`, `grads`) against
/// libtorch's (`expected`, `want`, float64).
fn assert_same_objective(l: usize, value: f64, expected: f64, grads: &[Tensor], want: &[Tensor]) {
    assert!(
        (value - expected).abs() < 1e-5 * expected.abs(),
        "L = {l}: objective {value} vs {expected}"
    );
    assert_eq!(grads.len(), want.len());
    for (got, want) in grads.iter().zip(want) {
        assert_eq!(got.size(), want.size());
        let got = got.to_kind(Kind::Double);
        let scale = want.abs().max().double_value(&[]);
        let diff = (&got - want).abs().max().double_value(&[]);
        assert!(
            scale > 0.0 && diff < 1e-4 * scale,
            "L = {l}: gradient differs by {diff} (scale {scale})"
        );
    }
}

/// The CPU training path of the factored model (fused kernels, float32)
/// computes the same objective and gradients as the libtorch operators of
/// `batch_loss` (float64 here), on a batch with unequal weights; at L = 35
/// the attention kernels split the positions into several blocks, the last
/// one partial. The table is built in blocks of sites (the whole table at
/// once, blocks of 4 sites with a partial last one, single sites): each
/// gives libtorch's objective and gradients, and the same as the whole
/// table's up to float32 rounding (only the values' gradient is summed
/// over blocks).
#[test]
fn fused_cpu_objective_matches_libtorch() {
    let _torch = common::torch_globals();
    for (n, l) in [(37, 9), (23, 35)] {
        let (states, w, flat, w32) = weighted_batch(n, l, 2);
        let (lj, lh) = (0.01, 0.003);
        let model = random_model(ModelKind::Factored, l, 9);
        let reference = batch_loss(&model, &to_tensor(&states), &Tensor::from_slice(&w), lj, lh);
        reference.backward();
        let want: Vec<Tensor> = model.parameters().iter().map(|p| p.grad().copy()).collect();
        let Model::Factored(factored) = &model else {
            unreachable!()
        };
        let mut whole: Option<(f64, Vec<Tensor>)> = None;
        for sites in [l, 4, 1] {
            // Any reference gives the same objective; this one matches some sites and not others.
            let mut fused = FusedObjective::new(2, (0..l).map(|i| (i * 5 % Q) as u8).collect())
                .unwrap()
                .with_block_sites(sites);
            let (value, grads) = fused.batch(factored, &flat, &w32, lj, lh);
            assert_same_objective(l, value, reference.double_value(&[]), &grads, &want);
            for (p, got) in model.parameters().iter().zip(&grads) {
                assert_eq!(got.size(), p.size());
                assert_eq!(got.kind(), p.kind());
            }
            match &whole {
                None => whole = Some((value, grads)),
                Some((whole_value, whole_grads)) => {
                    assert!(
                        (value - whole_value).abs() < 1e-9 * whole_value.abs(),
                        "blocks of {sites}: {value} vs {whole_value}"
                    );
                    for (got, want) in grads.iter().zip(whole_grads) {
                        let scale = want.abs().max().double_value(&[]);
                        let diff = (got - want).abs().max().double_value(&[]);
                        assert!(
                            diff <= 1e-6 * scale,
                            "blocks of {sites}: gradient differs by {diff} (scale {scale})"
                        );
                    }
                }
            }
        }
    }
}

/// The CPU training path of the Potts model (fused kernels on its float32
/// table) computes the same objective as the libtorch operators and the
/// gradient the trainer applies there: libtorch's gradient of the data term
/// projected by `Model::project_gradients` (symmetrised, zero diagonal
/// blocks, plus 2λ_J·W), with the penalty added outside the graph.
#[test]
fn fused_cpu_potts_objective_matches_libtorch() {
    let _torch = common::torch_globals();
    for (n, l) in [(37, 9), (23, 35)] {
        let (states, w, flat, w32) = weighted_batch(n, l, 3);
        let (lj, lh) = (0.01, 0.003);
        let mut model = random_model(ModelKind::Potts, l, 9);
        let Model::Potts(potts) = &mut model else {
            unreachable!()
        };
        potts.make_symmetric();
        let reference = batch_loss(
            &model,
            &to_tensor(&states),
            &Tensor::from_slice(&w),
            0.0,
            lh,
        );
        let params = model.parameters();
        let mut want = Tensor::run_backward(&[&reference], &params, false, false);
        model.project_gradients(&mut want, lj);
        let expected = reference.double_value(&[]) + model.penalty_outside_graph(lj).unwrap();
        // The kernels read the float32 table in place.
        let Model::Potts(potts) = &model else {
            unreachable!()
        };
        let single = fadca::model::potts::Potts {
            couplings: potts.couplings.detach().to_kind(Kind::Float),
            fields: potts.fields.detach().to_kind(Kind::Float),
        };
        let mut fused =
            FusedObjective::new(2, (0..l).map(|i| (i * 5 % Q) as u8).collect()).unwrap();
        // The gradients are lent by the objective until its next call.
        let (value, grads) = fused.potts_batch(&single, &flat, &w32, lj, lh);
        assert_same_objective(l, value, expected, grads, &want);
        // The table's gradient keeps the table symmetric with J_ii = 0.
        let g = grads[0].to_kind(Kind::Double);
        assert_eq!((&g - g.tr()).abs().max().double_value(&[]), 0.0);
        let q = Q as i64;
        for i in 0..l as i64 {
            let block = g.narrow(0, i * q, q).narrow(1, i * q, q);
            assert_eq!(block.abs().max().double_value(&[]), 0.0);
        }
    }
}

/// Masking each site in turn and predicting it with the attention layer
/// (values of the masked token are zero, and the attention diagonal is
/// masked) gives, summed over sites, exactly the pseudo-likelihood computed
/// through the coupling table: the paper's equivalence.
#[test]
fn masked_language_model_summed_over_sites_is_the_pseudo_likelihood() {
    let _torch = common::torch_globals();
    let (n, l) = (4, 6);
    let states_arr = random_states(n, l, 5);
    let states = to_tensor(&states_arr);
    let model = random_model(ModelKind::Factored, l, 9);
    let Model::Factored(layer) = &model else {
        unreachable!()
    };
    let attention = layer.attention(); // H×L×L
    let heads = layer.heads() as i64;
    // values with an extra all-zero column for the mask token (state q)
    let values = Tensor::cat(
        &[
            layer.value.detach(),
            Tensor::zeros([heads, Q as i64, 1], (Kind::Double, Device::Cpu)),
        ],
        2,
    );
    let mask = Q as i64;
    let mut mlm_total = vec![0.0; n];
    for (seq, total) in mlm_total.iter_mut().enumerate() {
        for site in 0..l {
            let mut tokens: Vec<i64> = states_arr.row(seq).iter().map(|&s| s as i64).collect();
            let target = tokens[site];
            tokens[site] = mask;
            // output at the masked site: h_i + Σ_h Σ_j A^h_ij V^h[:, token_j]
            let mut logits = layer.fields.detach().get(site as i64).copy();
            for (j, &tok) in tokens.iter().enumerate() {
                let a = attention
                    .detach()
                    .select(1, site as i64)
                    .select(1, j as i64); // H
                let v = values.select(2, tok); // H×q
                logits +=
                    (a.unsqueeze(1) * v).sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
            }
            *total -= logits.log_softmax(0, Kind::Double).double_value(&[target]);
        }
    }
    let table = model.coupling_table();
    let pll = neg_log_likelihood(&model.logits(&table, &states), &states);
    for (seq, &mlm) in mlm_total.iter().enumerate() {
        let p = pll.double_value(&[seq as i64]);
        assert!(
            (p - mlm).abs() < 1e-9,
            "sequence {seq}: PLL {p} vs MLM {mlm}"
        );
    }
}

#[test]
fn couplings_match_the_definition_and_the_table_and_give_the_scores() {
    let _torch = common::torch_globals();
    let l = 5;
    for kind in [ModelKind::Factored, ModelKind::Potts] {
        let model = random_model(kind, l, 7);
        let j = model.couplings();
        // The table the training reads: W[(j,b),(i,a)] = J_ij(a,b).
        let table: Vec<f64> =
            Vec::<f64>::try_from(tch::no_grad(|| model.coupling_table()).reshape([-1])).unwrap();
        let n = l * Q;
        for ((i, k, a, b), &v) in j.indexed_iter() {
            let w = table[(k * Q + b) * n + i * Q + a];
            assert!(
                (f64::from(v) - w).abs() < 1e-5,
                "{kind:?} J[{i},{k},{a},{b}] {v} vs table {w}"
            );
        }
        if let Model::Factored(m) = &model {
            // J_ij(a,b) = Σ_h A^h_ij V^h(a,b), term by term.
            let attention = m.attention();
            let heads = m.heads() as i64;
            for (i, k, a, b) in [(0, 1, 2, 3), (4, 0, 20, 7), (2, 3, 5, 5), (3, 3, 1, 1)] {
                let want: f64 = (0..heads)
                    .map(|h| {
                        attention.double_value(&[h, i as i64, k as i64])
                            * m.value.double_value(&[h, a as i64, b as i64])
                    })
                    .sum();
                let got = f64::from(j[[i, k, a, b]]);
                assert!(
                    (got - want).abs() < 1e-5,
                    "J[{i},{k},{a},{b}] {got} vs {want}"
                );
            }
        }
        // Scores read in place equal those of the copied array.
        let in_place = fadca::couplings::model_contact_scores(&model);
        let copied = fadca::couplings::contact_scores(j.view());
        assert_eq!(in_place, copied, "{kind:?}");
        assert!(in_place.iter().any(|&x| x != 0.0));
        // As float32 on the CPU (how trained models are scored), the Potts
        // model's scores are read from its table through strides, factored
        // attention's pair by pair from its factors: the same numbers as
        // those of the whole array.
        let single = model.to_cpu().unwrap();
        let copied = fadca::couplings::contact_scores(single.couplings().view());
        assert_eq!(
            fadca::couplings::model_contact_scores(&single),
            copied,
            "{kind:?} float32"
        );
        // couplings.npy, written row by row, is the whole array's .npy file.
        let mut streamed = Vec::new();
        fadca::couplings::write_couplings_npy(&single, &mut streamed).unwrap();
        let mut whole = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(&single.couplings(), &mut whole).unwrap();
        let parsed: ndarray::Array4<f32> =
            ndarray_npy::ReadNpyExt::read_npy(std::io::Cursor::new(&streamed)).unwrap();
        assert_eq!(parsed, single.couplings(), "{kind:?} couplings.npy");
        assert_eq!(
            streamed.len() as u64,
            fadca::couplings::couplings_npy_bytes(l),
            "{kind:?}"
        );
        let header = |b: &[u8]| String::from_utf8_lossy(&b[..128.min(b.len())]).into_owned();
        assert_eq!(header(&streamed), header(&whole), "{kind:?} .npy header");
        assert!(streamed == whole, "{kind:?} .npy values");
    }
}

fn small_config(kind: ModelKind, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: Some(3),
        batch_size: Some(16),
        heads: 4,
        head_dim: 4,
        seed,
        ..TrainConfig::defaults(kind)
    }
}

/// Every entry of J symmetric (`J_ij(a,b) = J_ji(b,a)`, exactly) with
/// `J_ii = 0`; returns how many entries are not zero.
pub(crate) fn assert_symmetric_without_self_couplings(j: &ndarray::Array4<f32>) -> usize {
    let l = j.dim().0;
    let mut nonzero = 0;
    for ((i, k, a, b), &v) in j.indexed_iter() {
        assert_eq!(v, j[[k, i, b, a]], "J[{i},{k},{a},{b}]");
        if i == k {
            assert_eq!(v, 0.0);
        } else if v != 0.0 {
            nonzero += 1;
        }
    }
    assert!(l > 1);
    nonzero
}

#[test]
fn potts_training_keeps_couplings_symmetric_with_zero_self_couplings() {
    let _torch = common::torch_globals();
    // Trained: the projected gradients keep the table symmetric, exactly.
    let states = random_states(40, 5, 6);
    let cfg = TrainConfig {
        lambda_j: Some(1e-3),
        ..small_config(ModelKind::Potts, 0)
    };
    let (model, _) = train(&states, &vec![1.0; 40], &cfg, &mut |_| {}).unwrap();
    assert!(assert_symmetric_without_self_couplings(&model.couplings()) > 0);

    // The projection: ½(G + Gᵀ) + 2λW with zero diagonal blocks.
    let n = 3 * Q as i64;
    let opts = (Kind::Double, Device::Cpu);
    let mut potts = fadca::model::potts::Potts::new(3, Tensor::zeros([3, Q as i64], opts));
    potts.couplings = Tensor::randn([n, n], opts);
    potts.make_symmetric();
    let g = Tensor::randn([n, n], opts);
    let lambda = 0.3;
    let p = potts.project_gradient(&g, lambda);
    for (r, c) in [
        (0, 30),
        (5, 50),
        (22, 61),
        (40, 3),
        (7, 7),
        (25, 41),
        (62, 44),
    ] {
        let want = if r / Q as i64 == c / Q as i64 {
            0.0
        } else {
            0.5 * (g.double_value(&[r, c]) + g.double_value(&[c, r]))
                + 2.0 * lambda * potts.couplings.double_value(&[r, c])
        };
        assert!((p.double_value(&[r, c]) - want).abs() < 1e-12, "({r}, {c})");
    }

    // A table read from a file is made symmetric the same way.
    let model = random_model(ModelKind::Potts, 4, 1);
    let dir = common::tempdir();
    let path = dir.path().join("p.safetensors");
    model.save(&path, Default::default()).unwrap();
    let (loaded, _) = Model::load(&path).unwrap();
    let raw = model.couplings();
    let sym = loaded.couplings();
    assert!(assert_symmetric_without_self_couplings(&sym) > 0);
    for ((i, k, a, b), &v) in sym.indexed_iter() {
        let want = if i == k {
            0.0
        } else {
            0.5 * (raw[[i, k, a, b]] + raw[[k, i, b, a]])
        };
        assert!((v - want).abs() < 1e-6);
    }
}

#[test]
fn same_seed_gives_identical_couplings_and_a_new_seed_does_not() {
    let _torch = common::torch_globals();
    tch::set_num_threads(1);
    let states = random_states(50, 8, 3);
    let weights = vec![1.0; 50];
    let run = |seed| {
        let (model, report) = train(
            &states,
            &weights,
            &small_config(ModelKind::Factored, seed),
            &mut |_| {},
        )
        .unwrap();
        (model.couplings(), report.loss_curve)
    };
    let (a, curve_a) = run(1);
    let (b, curve_b) = run(1);
    let (c, _) = run(2);
    assert_eq!(a, b);
    assert_eq!(curve_a, curve_b);
    assert_ne!(a, c);
}

#[test]
fn training_lowers_the_objective() {
    let _torch = common::torch_globals();
    let states = random_states(60, 6, 4);
    let weights = vec![1.0; 60];
    for kind in [ModelKind::Factored, ModelKind::Potts] {
        let cfg = TrainConfig {
            epochs: Some(8),
            ..small_config(kind, 0)
        };
        let (_, report) = train(&states, &weights, &cfg, &mut |_| {}).unwrap();
        let first = report.loss_curve[0];
        let last = *report.loss_curve.last().unwrap();
        assert!(last < first, "{kind:?}: loss went from {first} to {last}");
    }
}

#[test]
fn potts_penalty_outside_the_graph_gives_the_same_objective_and_step() {
    let _torch = common::torch_globals();
    let (n, l) = (6, 4);
    let mut model = random_model(ModelKind::Potts, l, 9);
    if let Model::Potts(p) = &mut model {
        p.make_symmetric();
    }
    let states = to_tensor(&random_states(n, l, 2));
    let weights = Tensor::from_slice(&[1.0, 0.5, 2.0, 1.0, 0.25, 1.5]);
    let lambda = 0.2;
    let params: Vec<Tensor> = model
        .parameters()
        .into_iter()
        .map(|t| t.shallow_clone())
        .collect();
    // Everything in the graph, the gradient projected afterwards.
    let full = batch_loss(&model, &states, &weights, lambda, 1e-3);
    let mut want = Tensor::run_backward(&[&full], &params, false, false);
    model.project_gradients(&mut want, 0.0);
    // The trainer's way: the penalty outside the graph.
    let outside = model
        .penalty_outside_graph(lambda)
        .expect("Potts keeps its penalty out of the graph");
    let data = batch_loss(&model, &states, &weights, 0.0, 1e-3);
    let value = data.double_value(&[]) + outside;
    assert!((value - full.double_value(&[])).abs() < 1e-10 * value.abs());
    let mut got = Tensor::run_backward(&[&data], &params, false, false);
    model.project_gradients(&mut got, lambda);
    for (a, b) in got.iter().zip(&want) {
        let diff = (a - b).abs().max().double_value(&[]);
        assert!(diff < 1e-10, "gradients differ by {diff}");
    }
}

#[test]
fn progress_comes_after_every_step_and_closes_every_epoch() {
    let _torch = common::torch_globals();
    // 40 sequences in batches of 16: 3 steps per epoch, 3 epochs.
    let states = random_states(40, 6, 5);
    let weights = vec![1.0; 40];
    for kind in [ModelKind::Factored, ModelKind::Potts] {
        let mut seen = Vec::new();
        let (_, report) = train(&states, &weights, &small_config(kind, 0), &mut |p| {
            seen.push(p.clone())
        })
        .unwrap();
        let steps: Vec<usize> = seen.iter().map(|p| p.step).collect();
        assert_eq!(steps, (1..=9).collect::<Vec<_>>(), "{kind:?}");
        for p in &seen {
            assert_eq!((p.epochs, p.steps), (3, 9));
            assert_eq!(p.end_of_epoch, p.step % 3 == 0, "{kind:?} step {}", p.step);
            // Epochs done: the running epoch is not counted until it closes.
            assert_eq!(p.epoch, p.step / 3);
            assert!(p.loss.is_finite() && p.loss > 0.0);
        }
        // The epochs' reports carry the loss curve.
        let closing: Vec<f64> = seen
            .iter()
            .filter(|p| p.end_of_epoch)
            .map(|p| p.loss)
            .collect();
        assert_eq!(closing, report.loss_curve, "{kind:?}");
    }
}

#[test]
fn saved_model_loads_back_with_the_same_couplings() {
    let _torch = common::torch_globals();
    let model = random_model(ModelKind::Factored, 5, 2);
    let dir = common::tempdir();
    let path = dir.path().join("m.safetensors");
    let mut meta = std::collections::HashMap::new();
    meta.insert("query".to_string(), "ACDEF".to_string());
    model.save(&path, meta).unwrap();
    let (loaded, meta) = Model::load(&path).unwrap();
    assert_eq!(meta.get("query").map(String::as_str), Some("ACDEF"));
    assert_eq!(loaded.kind(), ModelKind::Factored);
    let a = model.couplings();
    let b = loaded.couplings();
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() < 1e-5);
    }
    // The same model and metadata give the same bytes, whatever the order
    // in which the metadata's map (a HashMap) yields its entries: saved
    // with many keys, several times (each map has its own random order).
    let many: std::collections::HashMap<String, String> = (0..24)
        .map(|k| (format!("key{k}"), format!("value {k}")))
        .collect();
    let files: Vec<Vec<u8>> = (0..4)
        .map(|k| {
            let p = dir.path().join(format!("same{k}.safetensors"));
            let meta: std::collections::HashMap<String, String> =
                many.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
            model.save(&p, meta).unwrap();
            std::fs::read(&p).unwrap()
        })
        .collect();
    assert!(
        files.iter().all(|f| f == &files[0]),
        "saving the same model twice gave different files"
    );
    let (_, meta) = Model::load(&dir.path().join("same0.safetensors")).unwrap();
    assert_eq!(meta.get("key17").map(String::as_str), Some("value 17"));
}

/// Writes a safetensors file of float32 tensors (all values 0.5) with the
/// given shapes and metadata.
fn write_model_file(path: &std::path::Path, tensors: &[(&str, Vec<usize>)], kind: Option<&str>) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, shape)| {
            let n: usize = shape.iter().product();
            (0..n).flat_map(|_| 0.5f32.to_le_bytes()).collect()
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape), data)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (name.to_string(), view)
        })
        .collect();
    let metadata =
        kind.map(|k| std::collections::HashMap::from([("fadca_model".to_string(), k.to_string())]));
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

#[test]
fn malformed_model_files_are_input_errors() {
    let _torch = common::torch_globals();
    let dir = common::tempdir();
    let factored = |l: usize, value_heads: usize| {
        vec![
            ("query", vec![2, l, 3]),
            ("key", vec![2, l, 3]),
            ("value", vec![value_heads, Q, Q]),
            ("fields", vec![l, Q]),
        ]
    };
    // (file name, tensors, model kind in the metadata, expected message)
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, Vec<usize>)>,
        Option<&'a str>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        ("zero_length", factored(0, 2), Some("factored"), "L = 0"),
        ("one_position", factored(1, 2), Some("factored"), "L = 1"),
        (
            "heads_disagree",
            factored(4, 3),
            Some("factored"),
            "inconsistent factored-attention shapes",
        ),
        ("no_metadata", factored(4, 2), None, "not a fadca model"),
        (
            "missing_tensor",
            factored(4, 2)[..3].to_vec(),
            Some("factored"),
            "'fields' is missing",
        ),
        (
            "potts_shape",
            vec![("couplings", vec![84, 80]), ("fields", vec![4, Q])],
            Some("potts"),
            "couplings have shape",
        ),
    ];
    for (name, tensors, kind, expect) in cases {
        let path = dir.path().join(format!("{name}.safetensors"));
        write_model_file(&path, &tensors, kind);
        let err = Model::load(&path).map(|_| ()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            fadca::error::is_input_error(&err),
            "{name}: not an input error: {msg}"
        );
        assert!(
            msg.contains(expect) && msg.contains(&format!("{name}.safetensors")),
            "{name}: {msg}"
        );
    }
    // And a well-formed one loads.
    let path = dir.path().join("good.safetensors");
    write_model_file(&path, &factored(4, 2), Some("factored"));
    let (model, _) = Model::load(&path).unwrap();
    assert_eq!((model.kind(), model.length()), (ModelKind::Factored, 4));
}

/// The byte range of tensor `name`'s data in a safetensors file.
fn tensor_bytes(file: &[u8], name: &str) -> std::ops::Range<usize> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&file[8..8 + n]).unwrap();
    let offsets = header[name]["data_offsets"].as_array().unwrap();
    let start = 8 + n + offsets[0].as_u64().unwrap() as usize;
    let end = 8 + n + offsets[1].as_u64().unwrap() as usize;
    start..end
}

#[test]
fn model_files_carry_checksums_and_a_damaged_tensor_is_refused_by_name() {
    let _torch = common::torch_globals();
    let dir = common::tempdir();
    for (kind, tensors) in [
        (
            ModelKind::Factored,
            &["query", "key", "value", "fields"][..],
        ),
        (ModelKind::Potts, &["couplings", "fields"][..]),
    ] {
        let path = dir.path().join(format!("{}.safetensors", kind.name()));
        random_model(kind, 5, 3)
            .save(&path, Default::default())
            .unwrap();
        let (_, meta) = Model::load(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        for name in tensors {
            let sum = &meta[&format!("sha256.{name}")];
            assert_eq!(sum.len(), 64, "{name}");
            // One flipped byte in the tensor's data, header intact.
            let mut bad = good.clone();
            let range = tensor_bytes(&bad, name);
            bad[range.start + range.len() / 2] ^= 0x10;
            let damaged = dir
                .path()
                .join(format!("{}-{name}.safetensors", kind.name()));
            std::fs::write(&damaged, &bad).unwrap();
            let err = Model::load(&damaged).map(|_| ()).unwrap_err();
            let msg = format!("{err:#}");
            assert!(fadca::error::is_input_error(&err), "{msg}");
            assert!(
                msg.contains(&format!("tensor '{name}'")) && msg.contains("checksum"),
                "{msg}"
            );
        }
    }
}

#[test]
fn model_files_without_checksums_still_load_but_not_with_non_finite_values() {
    let _torch = common::torch_globals();
    let dir = common::tempdir();
    let shapes = |l: usize| {
        vec![
            ("query", vec![2, l, 3]),
            ("key", vec![2, l, 3]),
            ("value", vec![2, Q, Q]),
            ("fields", vec![l, Q]),
        ]
    };
    // A file of the previous format (no checksums) loads.
    let old = dir.path().join("old.safetensors");
    write_model_file(&old, &shapes(4), Some("factored"));
    let (model, meta) = Model::load(&old).unwrap();
    assert_eq!(model.length(), 4);
    assert!(!meta.keys().any(|k| k.starts_with("sha256.")));
    // A NaN in a tensor is refused, naming it.
    let mut bytes = std::fs::read(&old).unwrap();
    let range = tensor_bytes(&bytes, "value");
    bytes[range.start..range.start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan = dir.path().join("nan.safetensors");
    std::fs::write(&nan, &bytes).unwrap();
    let err = Model::load(&nan).map(|_| ()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        fadca::error::is_input_error(&err)
            && msg.contains("tensor 'value'")
            && msg.contains("non-finite"),
        "{msg}"
    );
}
