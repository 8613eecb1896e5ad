//! fadca — Factored-Attention Direct Coupling Analysis.
//!
//! Data flows one way: alignment → weights → trained model → couplings →
//! contact scores → files/report. Each stage is one module.
pub mod alignment;
pub mod couplings;
pub mod error;
pub mod evaluate;
pub mod interrupt;
pub mod memory;
pub mod model;
pub mod output;
pub mod predict;
pub mod simulate;
pub mod structure;
pub mod weights;

pub use error::{InputError, input_error};

/// Number of states per position: 20 amino acids and the gap.
pub const Q: usize = 21;
