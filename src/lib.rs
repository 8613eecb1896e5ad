//! fadca — Factored-Attention Direct Coupling Analysis.
//!
//! Data flows one way: alignment → weights → trained model → couplings →
//! contact scores → files/report. Each stage is one module.
pub mod alignment;
pub mod error;
pub mod model;
pub mod output;
pub mod simulate;
pub mod weights;

pub use error::{InputError, input_error};

/// Number of states per position: 20 amino acids and the gap.
pub const Q: usize = 21;
