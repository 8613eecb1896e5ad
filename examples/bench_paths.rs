//! Times the three ways to compute the conditional logits of a batch, forward
//! and backward (see BENCHMARKS.md, "Logits paths"):
//!
//! 1. embedding bag over the coupling table `W` ((Lq)×(Lq)): `B·L²·q` adds;
//! 2. one-hot matrix product `X (B×Lq) · W`: `2·B·(Lq)²` flops;
//! 3. per head, `A^h (L×L) · V^h[:, x]` gathered values: `2·H·B·L²·q` flops,
//!    no `(Lq)²` table at all (what very long proteins would need).
//!
//! `cargo run --release --example bench_paths -- B L H THREADS`
use std::time::Instant;

use tch::{Device, Kind, Tensor};

const Q: i64 = 21;

fn time(label: &str, reps: usize, mut f: impl FnMut()) {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    println!(
        "{label:<28} {:>9.1} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}

fn main() {
    let a: Vec<i64> = std::env::args()
        .skip(1)
        .map(|x| x.parse().expect("integer"))
        .collect();
    let (b, l, h, threads) = (a[0], a[1], a[2], a[3]);
    tch::set_num_threads(threads as i32);
    let opts = (Kind::Float, Device::Cpu);
    let states = Tensor::randint(Q, [b, l], (Kind::Int64, Device::Cpu));
    let table = Tensor::randn([l * Q, l * Q], opts).set_requires_grad(true);
    let attention = Tensor::rand([h, l, l], opts).set_requires_grad(true);
    let values = Tensor::randn([h, Q, Q], opts).set_requires_grad(true);
    println!("B = {b}, L = {l}, H = {h}, q = {Q}, threads = {threads}");
    time("embedding bag (table)", 5, || {
        let index = (&states + Tensor::arange(l, (Kind::Int64, Device::Cpu)) * Q).reshape([-1]);
        let offsets = Tensor::arange(b, (Kind::Int64, Device::Cpu)) * l;
        let (out, _, _, _) =
            Tensor::embedding_bag::<Tensor>(&table, &index, &offsets, false, 0, false, None, false);
        out.sum(Kind::Float).backward();
    });
    time("one-hot matmul (table)", 5, || {
        let onehot = states.one_hot(Q).to_kind(Kind::Float).reshape([b, l * Q]);
        onehot.matmul(&table).sum(Kind::Float).backward();
    });
    time("per-head gather + matmul", 2, || {
        // E[(h,j),(n,a)] = V^h(a, x_nj); logits (L × B·q) = A_cat (L × H·L) · E
        let vt = values.permute([2, 0, 1]).reshape([Q, h * Q]);
        let e = vt
            .index_select(0, &states.reshape([-1]))
            .reshape([b, l, h, Q]);
        let e = e.permute([2, 1, 0, 3]).reshape([h * l, b * Q]);
        let a_cat = attention.permute([1, 0, 2]).reshape([l, h * l]);
        a_cat.matmul(&e).sum(Kind::Float).backward();
    });
}
