//! Command-line definition (clap derive). One file per subcommand, each with
//! an `Args` struct and a `run` function; this file only dispatches.
use clap::{Parser, Subcommand};

mod batch;
mod common;
mod contacts;
mod evaluate;
mod experiment;
mod inspect;
mod predict;
mod score;
mod simulate;

/// Predict residue-residue contacts of a protein from a multiple sequence
/// alignment of its family, with a single layer of factored self-attention
/// trained as an inverse Potts model (pseudo-likelihood).
#[derive(Debug, Parser)]
#[command(
    name = "fadca",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Exit codes: 0 done; 1 internal failure or I/O error while writing; 2 bad input or a \
refused run (the message names the file and line or record, or the flag); 130 / 143 stopped by \
SIGINT / SIGTERM, nothing half-written. `fadca batch`: 0 when every family succeeded, 2 when a family \
failed for bad input, 1 when one failed otherwise."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report what was read from an alignment: sequences read, dropped and kept, L, M_eff, memory.
    Inspect(inspect::Args),
    /// Score a contact prediction against a structure or a list of known contacts.
    Score(score::Args),
    /// Train a model on an alignment and write its contact predictions (and score them).
    Predict(predict::Args),
    /// Contact scores again from a saved model, without training.
    Contacts(contacts::Args),
    /// Make a synthetic family: sample sequences from a planted factored-attention Potts model (a "teacher") whose contacts are known.
    Simulate(simulate::Args),
    /// Predict many families (a folder or a TSV manifest): parallel, resumable, shardable; one summary table.
    Batch(batch::Args),
    /// Mean per-site negative log-likelihood and perplexity of an alignment under a saved model (and under its planted teacher).
    Evaluate(evaluate::Args),
    /// The paper's claims as experiments on synthetic families.
    Experiment(experiment::Args),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Score(args) => score::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Contacts(args) => contacts::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Experiment(args) => experiment::run(args),
    }
}
