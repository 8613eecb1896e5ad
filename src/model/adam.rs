//! Adam (Kingma & Ba), the trainer's optimiser, over plain tensors: a Rust
//! loop over the memory of CPU float32 parameters, libtorch operators for
//! the others.
use tch::Tensor;

use super::host::{host_values, host_values_mut};
use super::kernels::adam::{AdamStep, plain_update, symmetric_update};

/// Adam (Kingma & Ba) over a list of leaf tensors; kept here rather than
/// `tch::nn::Adam` because the models hold plain tensors, not a VarStore.
pub(super) struct Adam {
    /// The learning rate of the next step.
    pub(super) lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: i32,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Per parameter: `Some(L)` for a symmetric `(L·q)×(L·q)` table with
    /// zero diagonal blocks whose gradients are symmetric too (the Potts
    /// model's on the fused path): updated above the diagonal and mirrored.
    symmetric: Vec<Option<usize>>,
}

impl Adam {
    /// An optimiser for `params` at learning rate `lr`, with zero moments.
    pub(super) fn new(params: &[Tensor], lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: params.iter().map(|p| p.zeros_like()).collect(),
            v: params.iter().map(|p| p.zeros_like()).collect(),
            symmetric: vec![None; params.len()],
        }
    }

    /// Declares parameter `index` a symmetric `(L·q)×(L·q)` table with zero
    /// diagonal blocks, `l` = L, whose every gradient is symmetric with
    /// zero diagonal blocks (the Potts model's, projected by the fused
    /// kernels): Adam then updates its blocks above the diagonal and
    /// mirrors them, the same numbers in half the moment traffic (the
    /// moments below the diagonal stay zero, unused).
    pub(super) fn symmetric_table(&mut self, index: usize, l: usize) {
        self.symmetric[index] = Some(l);
    }

    /// Starts again at `lr` with zero moments, overwriting them in place
    /// (a new optimiser would hold two sets for a moment: two `(L·q)²`
    /// tables for the Potts model).
    pub(super) fn reset(&mut self, lr: f64) {
        self.lr = lr;
        self.t = 0;
        tch::no_grad(|| {
            for moment in self.m.iter_mut().chain(self.v.iter_mut()) {
                let _ = moment.zero_();
            }
        });
    }

    /// Steps taken and the two moments (what a checkpoint saves).
    pub(super) fn moments(&self) -> (i32, &[Tensor], &[Tensor]) {
        (self.t, &self.m, &self.v)
    }

    /// Takes up the steps and moments of a checkpoint ([`Adam::moments`]),
    /// copied in place.
    pub(super) fn set_moments(&mut self, t: i32, m: &[Tensor], v: &[Tensor]) {
        self.t = t;
        tch::no_grad(|| {
            for (dst, src) in self.m.iter_mut().zip(m).chain(self.v.iter_mut().zip(v)) {
                dst.copy_(src);
            }
        });
    }

    /// One step with given gradients (one per parameter, undefined ones
    /// skipped); returns false when one is not finite, and then the
    /// parameters and moments are left part-updated: the caller must go
    /// back to a saved state (the trainer restores its checkpoint and
    /// resets the moments; joint training stops). CPU float32 tensors
    /// (every parameter on the CPU) are updated in place by a Rust loop
    /// over their memory on rayon's pool, which checks the gradient in the
    /// same pass (a separate pass over a Potts table's gradient cost a
    /// tenth of a step); others by libtorch operators, checked first. The
    /// same arithmetic either way, without a dozen libtorch operator calls
    /// per parameter per step (about a tenth of a small family's training
    /// time on the fused path).
    pub(super) fn apply(&mut self, grads: &[Tensor], params: &mut [Tensor]) -> bool {
        let finite = grads.iter().all(|g| {
            // SAFETY: read-only view of a gradient nothing writes meanwhile.
            match unsafe { host_values(g) } {
                Some(_) => true, // checked during the update
                None => !g.defined() || g.isfinite().all().int64_value(&[]) != 0,
            }
        });
        if !finite {
            return false;
        }
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t);
        let bc2 = 1.0 - self.beta2.powi(self.t);
        let mut all_finite = true;
        tch::no_grad(|| {
            for ((((p, g), m), v), symmetric) in params
                .iter_mut()
                .zip(grads)
                .zip(&mut self.m)
                .zip(&mut self.v)
                .zip(&self.symmetric)
            {
                if !g.defined() {
                    continue;
                }
                // SAFETY: p, g, m and v are four tensors with storages of
                // their own (a parameter, its gradient, Adam's two moments);
                // nothing else touches them during the update, and only the
                // gradient is shared (read-only) with its maker.
                let host = unsafe {
                    (
                        host_values_mut(p),
                        host_values(g),
                        host_values_mut(m),
                        host_values_mut(v),
                    )
                };
                if let (Some(p), Some(g), Some(m), Some(v)) = host {
                    let update = AdamStep {
                        beta1: self.beta1 as f32,
                        beta2: self.beta2 as f32,
                        eps: self.eps as f32,
                        step: (-self.lr / bc1) as f32,
                        inv_bc2_sqrt: (1.0 / bc2.sqrt()) as f32,
                    };
                    let bad = match *symmetric {
                        Some(l) => symmetric_update(l, p, g, m, v, &update),
                        None => plain_update(p, g, m, v, &update),
                    };
                    all_finite &= !bad;
                    continue;
                }
                // m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
                let _ = m.lerp_(g, 1.0 - self.beta1);
                let _ = v.lerp_(&g.square(), 1.0 - self.beta2);
                // p ← p − lr · (m/bc1) / (√(v/bc2) + ε)
                let mut denom = v.sqrt();
                let _ = denom
                    .g_mul_scalar_(1.0 / bc2.sqrt())
                    .g_add_scalar_(self.eps);
                let _ = p.addcdiv_(&(&*m * (-self.lr / bc1)), &denom);
            }
        });
        all_finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Q;
    use tch::{Device, Kind};

    /// Adam's Rust loop (float32 CPU tensors) and its libtorch operators
    /// (taken for float64) give the same parameters over a few steps,
    /// including a zero-size and a skipped (undefined) gradient.
    #[test]
    fn adam_loop_matches_the_libtorch_operators() {
        let start = |kind| -> Vec<Tensor> {
            vec![
                Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.0, 3.0]).to_kind(kind),
                Tensor::from_slice(&[1.5f32; 40_000]).to_kind(kind),
                Tensor::zeros([0], (kind, Device::Cpu)),
                Tensor::from_slice(&[7.0f32]).to_kind(kind),
            ]
        };
        let grads = |step: usize, kind| -> Vec<Tensor> {
            let s = step as f32;
            vec![
                Tensor::from_slice(&[0.1f32 * s, -0.2, 0.3, 1e-3, -4.0 + s]).to_kind(kind),
                // Away from 0, where m/√v is ill-conditioned in float32.
                Tensor::arange(40_000, (kind, Device::Cpu)) * (1e-4 * (s as f64 + 1.0)) + 0.5,
                Tensor::zeros([0], (kind, Device::Cpu)),
                Tensor::new(),
            ]
        };
        let mut fast = start(Kind::Float);
        let mut slow = start(Kind::Double);
        let mut adam_fast = Adam::new(&fast, 0.05);
        let mut adam_slow = Adam::new(&slow, 0.05);
        for step in 0..5 {
            assert!(adam_fast.apply(&grads(step, Kind::Float), &mut fast));
            assert!(adam_slow.apply(&grads(step, Kind::Double), &mut slow));
        }
        for (f, s) in fast.iter().zip(&slow) {
            if f.numel() == 0 {
                continue;
            }
            let diff = (f.to_kind(Kind::Double) - s).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "parameters differ by {diff}");
        }
        // The skipped parameter kept its value; the others moved.
        assert_eq!(fast[3].double_value(&[0]), 7.0);
        assert!((fast[0].double_value(&[0]) - 0.5).abs() > 0.1);
        // A non-finite gradient, NaN or infinite, anywhere in a tensor, is
        // reported, on either path (the caller then restores its state).
        for (index, value) in [
            (17, f64::NAN),
            (39_999, f64::INFINITY),
            (0, f64::NEG_INFINITY),
        ] {
            let bad = grads(9, Kind::Float);
            let _ = bad[1].get(index).fill_(value);
            assert!(!adam_fast.apply(&bad, &mut fast), "{index} {value}");
            let bad = grads(9, Kind::Double);
            let _ = bad[1].get(index).fill_(value);
            assert!(!adam_slow.apply(&bad, &mut slow), "{index} {value}");
        }
        assert!(adam_fast.apply(&grads(9, Kind::Float), &mut fast));
    }

    /// A symmetric table with zero diagonal blocks and symmetric gradients:
    /// the update above the diagonal, mirrored, gives exactly the plain
    /// update of the whole table, and a NaN above the diagonal is reported.
    #[test]
    fn symmetric_tables_update_as_the_whole_table() {
        let l = 4;
        let n = l * Q;
        let symmetric = |seed: u64| -> Tensor {
            let mut x = vec![0.0f32; n * n];
            let mut state = seed;
            for r in 0..n {
                for c in r + 1..n {
                    if r / Q == c / Q {
                        continue;
                    }
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let value = ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                    x[r * n + c] = value;
                    x[c * n + r] = value;
                }
            }
            Tensor::from_slice(&x).reshape([n as i64, n as i64])
        };
        let mut whole = vec![symmetric(1)];
        let mut halves = vec![whole[0].copy()];
        let mut plain = Adam::new(&whole, 0.05);
        let mut mirrored = Adam::new(&halves, 0.05);
        mirrored.symmetric_table(0, l);
        for step in 0..4 {
            let g = vec![symmetric(10 + step)];
            assert!(plain.apply(&g, &mut whole));
            assert!(mirrored.apply(&g, &mut halves));
            assert_eq!(whole[0], halves[0], "step {step}");
        }
        let bad = vec![symmetric(99)];
        let _ = bad[0].get(1).get((n - 1) as i64).fill_(f64::NAN);
        assert!(!mirrored.apply(&bad, &mut halves));
    }
}
