//! Adam (Kingma & Ba), the trainer's optimiser, over plain tensors: a Rust
//! loop over the memory of CPU float32 parameters, libtorch operators for
//! the others.
use tch::Tensor;

use super::host::{host_values, host_values_mut};
use super::kernels::adam::{AdamStep, TableGradient, plain_update, symmetric_update};

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
    /// Per parameter: the symmetric tables' projection (see
    /// [`Adam::symmetric_table`]).
    symmetric: Vec<Option<SymmetricTable>>,
}

/// A symmetric `(L·q)×(L·q)` table with zero diagonal blocks whose update
/// projects its raw gradient ([`Adam::symmetric_table`]).
struct SymmetricTable {
    /// L.
    l: usize,
    /// The rows of the next gradient that hold one, per site (bits).
    rows: Vec<u32>,
    /// `2λ_J` of the next step.
    penalty: f32,
    /// `Σ W²` after the last update.
    norm2: Option<f64>,
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
            symmetric: params.iter().map(|_| None).collect(),
        }
    }

    /// Declares parameter `index` a symmetric `(L·q)×(L·q)` table with zero
    /// diagonal blocks, `l` = L, whose gradients are the raw ones of the
    /// table's rows (the Potts model's on the fused kernels): each update
    /// projects them onto symmetric tables with zero diagonal blocks and
    /// adds the coupling penalty's gradient, in its own pass, given the
    /// rows that hold a gradient and λ_J first ([`Adam::table_rows`]); it
    /// updates the blocks above the diagonal only: those below are stale
    /// until `kernels::potts::mirror_upper` (the moments below the
    /// diagonal stay zero, unused).
    pub(super) fn symmetric_table(&mut self, index: usize, l: usize) {
        self.symmetric[index] = Some(SymmetricTable {
            l,
            rows: Vec::new(),
            penalty: 0.0,
            norm2: None,
        });
    }

    /// For the next update of the symmetric table `index`: the rows of its
    /// gradient that hold one (per site, bit b for the row `(j,b)`) and
    /// the coupling penalty's λ_J.
    pub(super) fn table_rows(&mut self, index: usize, rows: &[u32], lambda_j: f64) {
        let table = self.symmetric[index]
            .as_mut()
            .expect("table_rows of a parameter not declared a symmetric table");
        table.rows.clear();
        table.rows.extend_from_slice(rows);
        table.penalty = (2.0 * lambda_j) as f32;
    }

    /// L, when parameter `index` is a symmetric table
    /// ([`Adam::symmetric_table`]).
    pub(super) fn symmetric_length(&self, index: usize) -> Option<usize> {
        self.symmetric.get(index)?.as_ref().map(|t| t.l)
    }

    /// `Σ W²` of the symmetric table `index` after the last update (once;
    /// `None` before the first).
    pub(super) fn take_table_norm2(&mut self, index: usize) -> Option<f64> {
        self.symmetric[index].as_mut().and_then(|t| t.norm2.take())
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
                .zip(&mut self.symmetric)
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
                    let bad = match symmetric {
                        Some(table) => {
                            assert_eq!(table.rows.len(), table.l, "table rows not given");
                            let gradient = TableGradient {
                                raw: g,
                                rows: &table.rows,
                                penalty: table.penalty,
                            };
                            let (bad, norm2) =
                                symmetric_update(table.l, p, &gradient, m, v, &update);
                            table.norm2 = Some(norm2);
                            bad
                        }
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

    /// A symmetric table with zero diagonal blocks updated from raw
    /// gradients (some rows marked as holding none) is updated, to the bit,
    /// as the whole table is by the plain update with the gradient that
    /// `potts_gradient` projects (penalty included); the norm it reports is
    /// the table's; a NaN in a row that holds a gradient is reported.
    #[test]
    fn symmetric_tables_update_as_the_whole_table_with_the_projected_gradient() {
        use crate::model::kernels::potts::{mirror_upper, potts_gradient};
        let l = 4;
        let n = l * Q;
        let lambda = 0.01;
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let mut w = vec![0.0f32; n * n];
        for r in 0..n {
            for c in r + 1..n {
                if r / Q != c / Q {
                    w[r * n + c] = next();
                    w[c * n + r] = w[r * n + c];
                }
            }
        }
        let table = |x: &[f32]| Tensor::from_slice(x).reshape([n as i64, n as i64]);
        let mut whole = vec![table(&w)];
        let mut halves = vec![table(&w)];
        let mut plain = Adam::new(&whole, 0.05);
        let mut mirrored = Adam::new(&halves, 0.05);
        mirrored.symmetric_table(0, l);
        let mut rows = vec![(1u32 << Q) - 1; l];
        rows[2] &= !(1 << 4);
        rows[0] &= !((1 << 7) | (1 << 20));
        let pool = crate::model::kernels::tests::pool();
        for step in 0..4 {
            let raw: Vec<f32> = (0..n * n).map(|_| next()).collect();
            let mut projected = raw.clone();
            let current = Vec::<f32>::try_from(whole[0].reshape([-1])).unwrap();
            potts_gradient(&pool, &mut projected, &rows, &current, lambda);
            assert!(plain.apply(&[table(&projected)], &mut whole));
            mirrored.table_rows(0, &rows, lambda);
            assert!(mirrored.apply(&[table(&raw)], &mut halves));
            let mut mirror = halves[0].copy();
            // SAFETY: the test's own tensor.
            mirror_upper(unsafe { host_values_mut(&mut mirror) }.unwrap(), l);
            assert_eq!(whole[0], mirror, "step {step}");
            let norm2 = mirrored.take_table_norm2(0).unwrap();
            let want = whole[0].square().sum(Kind::Double).double_value(&[]);
            assert!((norm2 - want).abs() < 1e-5 * want, "{norm2} against {want}");
        }
        let mut bad: Vec<f32> = (0..n * n).map(|_| next()).collect();
        bad[Q * n + n - 1] = f32::NAN;
        mirrored.table_rows(0, &rows, lambda);
        assert!(!mirrored.apply(&[table(&bad)], &mut halves));
    }
}
