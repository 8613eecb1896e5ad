//! The models and their training: gradients, objectives and the CPU kernels
//! against libtorch and explicit sums, model files, `fadca evaluate`, and on
//! synthetic families the recovery of planted contacts and the sample
//! complexity. Tests that use libtorch in this process hold
//! `common::torch_globals()`.
#[path = "../common/mod.rs"]
mod common;

mod evaluate;
mod joint;
mod objectives;
mod recovery;
mod sample_complexity;
mod stopping;
mod training;
