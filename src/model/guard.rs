//! The trainer's numerical guard: after a non-finite loss or gradient,
//! training goes back to a checkpoint of the last good epoch and restarts
//! with half the learning rate, at most [`MAX_RESTARTS`] times; a test hook
//! injects such failures.
use rayon::prelude::*;
use tch::Tensor;

use super::host::{host_values, host_values_mut};

/// How many times training restarts after a non-finite loss or gradient
/// before it gives up.
pub const MAX_RESTARTS: usize = 1;

/// A copy of the parameters at the end of the last good epoch (one more
/// copy of the parameters in memory, counted by [`super::memory`]).
pub(super) struct Checkpoint {
    params: Vec<Tensor>,
    /// Optimiser steps done when it was saved.
    pub(super) step: usize,
}

impl Checkpoint {
    /// A copy of `params` after `step` optimiser steps.
    pub(super) fn save(params: &[Tensor], step: usize) -> Checkpoint {
        let params = tch::no_grad(|| params.iter().map(|p| p.detach().copy()).collect());
        Checkpoint { params, step }
    }

    /// Overwrites the saved copy with `params` in place (no second copy of
    /// the parameters, even for a moment: the Potts model's is `(L·q)²`).
    pub(super) fn update(&mut self, params: &[Tensor], step: usize) {
        for (saved, p) in self.params.iter_mut().zip(params) {
            copy_into(saved, p);
        }
        self.step = step;
    }

    /// Writes the saved copy back into `params`, in place.
    pub(super) fn restore(&self, params: &mut [Tensor]) {
        for (p, saved) in params.iter_mut().zip(&self.params) {
            copy_into(p, saved);
        }
    }
}

/// `dst ← src` in place: CPU float32 tensors by rayon's threads (during
/// fused training libtorch runs on one, and a Potts table is copied every
/// epoch, every few steps for a small family), others by libtorch.
fn copy_into(dst: &mut Tensor, src: &Tensor) {
    // SAFETY: two distinct tensors (a parameter and its checkpoint), each
    // with a storage of its own; nothing else touches them meanwhile.
    if let (Some(d), Some(s)) = unsafe { (host_values_mut(dst), host_values(src)) }
        && d.len() == s.len()
    {
        d.par_chunks_mut(1 << 16)
            .zip(s.par_chunks(1 << 16))
            .for_each(|(d, s)| d.copy_from_slice(s));
        return;
    }
    tch::no_grad(|| dst.copy_(src));
}

/// Test hook: `FADCA_FAULT_NAN_AT_STEPS=3,7` makes the loss NaN once at each
/// listed optimiser step (0-based; a step redone after a restart has the same
/// number, so `3,3` fails step 3 on both tries). Unset in normal use.
pub(super) struct FaultInjection(Vec<usize>);

impl FaultInjection {
    /// The steps listed in `FADCA_FAULT_NAN_AT_STEPS` (none when unset).
    pub(super) fn from_env() -> FaultInjection {
        let steps = std::env::var("FADCA_FAULT_NAN_AT_STEPS")
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_default();
        FaultInjection(steps)
    }

    /// True (once per listing) when `step` is to be poisoned.
    pub(super) fn poisons(&mut self, step: usize) -> bool {
        match self.0.iter().position(|&s| s == step) {
            Some(i) => {
                self.0.swap_remove(i);
                true
            }
            None => false,
        }
    }
}
