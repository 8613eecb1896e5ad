//! The command-line tests: every subcommand run through the binary on small
//! inputs (predict and contacts, inspect, score, batch and its Snakemake
//! workflow, simulate and its committed example), with the files it writes
//! and its one-line errors (exit code 2).
#[path = "../common/mod.rs"]
mod common;

mod batch;
mod inspect;
mod inspect_errors;
mod predict;
mod score;
mod simulate;
mod simulate_example;
mod snakemake;
mod stopping;
mod train_values;
