//! Synthetic families through the library: the teacher's planted geometry
//! and files, the Gibbs sampler against exact enumeration, and the strength
//! of the planted signal.
#[path = "../common/mod.rs"]
mod common;

mod gibbs;
mod signal;
mod teacher;
