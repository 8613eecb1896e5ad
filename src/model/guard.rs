//! The trainer's numerical guard: after a non-finite loss or gradient,
//! training goes back to a checkpoint of the last good epoch and restarts
//! with half the learning rate, at most [`MAX_RESTARTS`] times; a test hook
//! injects such failures.
use tch::Tensor;

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
        tch::no_grad(|| {
            for (saved, p) in self.params.iter_mut().zip(params) {
                saved.copy_(p);
            }
        });
        self.step = step;
    }

    /// Writes the saved copy back into `params`, in place.
    pub(super) fn restore(&self, params: &mut [Tensor]) {
        tch::no_grad(|| {
            for (p, saved) in params.iter_mut().zip(&self.params) {
                p.copy_(saved);
            }
        });
    }
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
