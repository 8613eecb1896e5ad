//! The full Potts model (plmDCA): free couplings, symmetric, `J_ii = 0`.
use tch::Tensor;

use crate::Q;

/// Parameters of a full Potts model.
#[derive(Debug)]
pub struct Potts {
    /// Raw couplings `C[(j,b),(i,a)]` ((L·q)×(L·q)); the model's couplings are
    /// their symmetric part with the diagonal blocks zeroed.
    pub couplings: Tensor,
    /// Fields `h_i(a)` (L×q).
    pub fields: Tensor,
}

impl Potts {
    /// A new model for length `l` with zero couplings.
    pub fn new(l: usize, fields: Tensor) -> Potts {
        let n = (l * Q) as i64;
        Potts {
            couplings: Tensor::zeros([n, n], (fields.kind(), fields.device())).set_requires_grad(true),
            fields: fields.set_requires_grad(true),
        }
    }

    /// Coupling table `W = ½(C + Cᵀ)` with zero diagonal blocks, so that
    /// `J_ij(a,b) = J_ji(b,a)` and `J_ii = 0`.
    pub fn coupling_table(&self) -> Tensor {
        let n = self.couplings.size()[0];
        let l = n / Q as i64;
        let opts = (self.couplings.kind(), self.couplings.device());
        let off_diagonal = (Tensor::ones([l, l], opts) - Tensor::eye(l, opts))
        .repeat_interleave_self_int(Q as i64, 0, None)
        .repeat_interleave_self_int(Q as i64, 1, None);
        (&self.couplings + self.couplings.tr()) * 0.5 * off_diagonal
    }
}
