//! Models and their training (SPEC §1).
//!
//! Two models share one trainer (weighted pseudo-likelihood + L2, Adam):
//! *factored attention* (attention from positions only, values from states
//! only) and the classical *full Potts* model (plmDCA).

/// Which model to train.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// One layer of factored self-attention: `J_ij = Σ_h A^h_ij V^h` (the default).
    Factored,
    /// Free symmetric couplings `J_ij(a,b)` with `J_ii = 0` (plmDCA).
    Potts,
}
