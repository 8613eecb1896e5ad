//! Times the parts of one training step (dev tool): the libtorch path, then
//! the fused CPU path (`FUSED_ONLY=1` skips the former). Random states, so
//! the fused path sees no conserved columns (slower than on a real family).
//!
//! `cargo run --release --example step_profile -- L B H THREADS`
//! (`BLOCK_SITES=S` builds the factored table in blocks of S sites instead
//! of the default 64; S ≥ L: the whole table at once).
use fadca::model::{FusedObjective, Model, ModelKind, batch_loss};
use std::time::Instant;
use tch::{Device, Kind, Tensor};
fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (l, b, h, threads) = (args[0], args[1], args[2], args[3]);
    tch::set_num_threads(threads as i32);
    let fields = Tensor::zeros([l as i64, 21], (Kind::Float, Device::Cpu));
    let model = Model::new(ModelKind::Factored, l, h, 23, fields);
    let states = Tensor::randint(21, [b as i64, l as i64], (Kind::Int64, Device::Cpu));
    let w = Tensor::ones([b as i64], (Kind::Float, Device::Cpu));
    let reps = 10;
    if std::env::var("FUSED_ONLY").is_err() {
        for _ in 0..3 {
            let loss = batch_loss(&model, &states, &w, 1e-3, 1e-4);
            loss.backward();
        }
        let t = Instant::now();
        for _ in 0..reps {
            let _ = tch::no_grad(|| model.coupling_table());
        }
        println!(
            "table fwd       {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
        let table = tch::no_grad(|| model.coupling_table());
        let t = Instant::now();
        for _ in 0..reps {
            let _ = tch::no_grad(|| model.logits(&table, &states));
        }
        println!(
            "bag fwd         {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
        let t = Instant::now();
        for _ in 0..reps {
            let _ = tch::no_grad(|| batch_loss(&model, &states, &w, 1e-3, 1e-4));
        }
        println!(
            "loss fwd        {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
        let t = Instant::now();
        for _ in 0..reps {
            let loss = batch_loss(&model, &states, &w, 1e-3, 1e-4);
            loss.backward();
        }
        println!(
            "loss fwd+bwd    {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
    }
    let mut fused = FusedObjective::new(threads, vec![0; l]).unwrap();
    if let Some(sites) = std::env::var("BLOCK_SITES")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        fused = fused.with_block_sites(sites);
    }
    let Model::Factored(factored) = &model else {
        unreachable!()
    };
    let flat: Vec<u8> = Vec::<i64>::try_from(states.reshape([-1]))
        .unwrap()
        .iter()
        .map(|&x| x as u8)
        .collect();
    let w32 = vec![1.0f32; b];
    for _ in 0..2 {
        let _ = fused.batch(factored, &flat, &w32, 1e-3, 1e-4);
    }
    let t = Instant::now();
    for _ in 0..reps {
        let _ = fused.batch(factored, &flat, &w32, 1e-3, 1e-4);
    }
    println!(
        "fused fwd+bwd   {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}
