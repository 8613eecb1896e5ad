//! The full Potts model (plmDCA): free couplings, symmetric, `J_ii = 0`.
use tch::Tensor;

use crate::Q;

/// Parameters of a full Potts model.
#[derive(Debug)]
pub struct Potts {
    /// The coupling table `W[(j,b),(i,a)] = J_ij(a,b)` ((L·q)×(L·q)),
    /// symmetric (`J_ij(a,b) = J_ji(b,a)`) with zero diagonal blocks
    /// (`J_ii = 0`). Training keeps it so by projecting each gradient onto
    /// such tables ([`Potts::project_gradient`]) instead of deriving the
    /// table from free parameters every step: the same trajectory (Adam's
    /// moments and updates of a symmetric gradient are symmetric), without a
    /// dozen `(L·q)²` operations per step.
    pub couplings: Tensor,
    /// Fields `h_i(a)` (L×q).
    pub fields: Tensor,
}

impl Potts {
    /// A new model for length `l` with zero couplings.
    pub fn new(l: usize, fields: Tensor) -> Potts {
        let n = (l * Q) as i64;
        Potts {
            couplings: Tensor::zeros([n, n], (fields.kind(), fields.device()))
                .set_requires_grad(true),
            fields: fields.set_requires_grad(true),
        }
    }

    /// Makes the table symmetric with zero diagonal blocks, `½(C + Cᵀ)`
    /// with `C_ii = 0` (for a table read from a file). The tables fadca
    /// saves and trains are already so: checked in place first, and left
    /// as they are without the two `(L·q)²` temporaries of the
    /// symmetrisation. The table must be square.
    pub fn make_symmetric(&mut self) {
        if self.is_symmetric() {
            return;
        }
        let table = &self.couplings;
        let requires_grad = table.requires_grad();
        let w = tch::no_grad(|| {
            let mut w = (table + table.tr()) * 0.5;
            zero_diagonal_blocks(&mut w);
            w
        });
        self.couplings = w.set_requires_grad(requires_grad);
    }

    /// Whether the table is (exactly) symmetric with zero diagonal blocks,
    /// read in place q×q tile by tile when it is a contiguous CPU float32
    /// tensor (otherwise reported as not, which only costs the
    /// symmetrisation).
    fn is_symmetric(&self) -> bool {
        // SAFETY: read-only; nothing writes the table meanwhile.
        let Some(w) = (unsafe { super::host::host_values(&self.couplings) }) else {
            return false;
        };
        let n = self.couplings.size()[0] as usize;
        if !n.is_multiple_of(Q) || w.len() != n * n {
            return false;
        }
        use rayon::prelude::*;
        // Row r against column r from its diagonal block on.
        (0..n).into_par_iter().all(|r| {
            let block_end = (r / Q + 1) * Q;
            (r / Q * Q..n).all(|c| {
                let x = w[r * n + c];
                if c < block_end {
                    x == 0.0
                } else {
                    x == w[c * n + r]
                }
            })
        })
    }

    /// The coupling table `W[(j,b),(i,a)] = J_ij(a,b)`: the parameter itself.
    pub fn coupling_table(&self) -> Tensor {
        self.couplings.shallow_clone()
    }

    /// `Σ ‖W‖²` over the whole table (`Σ_{i≠j} ‖J_ij‖²`), outside autograd.
    pub fn couplings_norm2(&self) -> f64 {
        tch::no_grad(|| {
            let w = self.couplings.detach().reshape([-1]);
            w.dot(&w).double_value(&[])
        })
    }

    /// The gradient the trainer applies to the table: the gradient `G` of
    /// the objective's data term with respect to the table projected onto
    /// symmetric tables with zero diagonal blocks, `½(G + Gᵀ)` with
    /// `G_ii = 0` (the gradient with respect to the model's free couplings,
    /// each `J_ij = J_ji` entering the objective through both blocks), plus
    /// the coupling penalty's `2·λ_J·W` (the penalty is kept out of the
    /// autograd graph: three `(L·q)²` passes here instead of seven there).
    pub fn project_gradient(&self, gradient: &Tensor, lambda_j: f64) -> Tensor {
        tch::no_grad(|| {
            let mut g = gradient + gradient.tr();
            let _ = g.g_mul_scalar_(0.5);
            if lambda_j != 0.0 {
                let scale = Tensor::from(2.0 * lambda_j)
                    .to_kind(g.kind())
                    .to_device(g.device());
                let _ = g.addcmul_(&self.couplings.detach(), &scale);
            }
            zero_diagonal_blocks(&mut g);
            g
        })
    }
}

/// Sets the q×q blocks on the diagonal of an (L·q)×(L·q) table to zero.
fn zero_diagonal_blocks(table: &mut Tensor) {
    let q = Q as i64;
    let l = table.size()[0] / q;
    for i in 0..l {
        let _ = table.narrow(0, i * q, q).narrow(1, i * q, q).zero_();
    }
}
