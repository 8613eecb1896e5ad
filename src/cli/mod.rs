//! Command-line definition (clap derive). One file per subcommand, each with
//! an `Args` struct and a `run` function; this file only dispatches.
use clap::{Parser, Subcommand};

mod inspect;
mod simulate;

/// Predict residue-residue contacts of a protein from a multiple sequence
/// alignment of its family, with a single layer of factored self-attention
/// trained as an inverse Potts model (pseudo-likelihood).
#[derive(Debug, Parser)]
#[command(name = "fadca", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report what was read from an alignment: sequences read, dropped and kept, L, M_eff, memory.
    Inspect(inspect::Args),
    /// Make a synthetic family: sample sequences from a planted factored-attention Potts model (a "teacher") whose contacts are known.
    Simulate(simulate::Args),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Simulate(args) => simulate::run(args),
    }
}
