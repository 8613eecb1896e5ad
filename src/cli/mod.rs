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
mod train_values;

/// One example per command, shown by `fadca --help`.
const EXAMPLES: &str = "\
Examples:
  fadca inspect family.a3m                          what is read, L, M_eff, memory, auto's model
  fadca predict family.a3m --pdb 1abc.cif.gz        train, write predictions/family/, score
  fadca contacts models/family.safetensors          the contact files again from a saved model
  fadca score predictions/family/contacts.rr --pdb 1abc.pdb
                                                    precision of any contact file
  fadca batch families/ --jobs 2 -o out             many families, one summary table
  fadca train-values families/ -o values.safetensors  values shared by many families
  fadca simulate -L 60 --seed 1 -o sim              a synthetic family with known contacts
  fadca evaluate models/sim.safetensors sim/msa.fasta
                                                    per-site NLL under a model (and its teacher)
  fadca experiment sample-complexity -o sc          precision and NLL gap against M/L

Each command's --help lists its flags and defaults.

Exit codes: 0 done; 1 internal failure or I/O error while writing; 2 bad input or a refused run \
(the message names the file and line or record, or the flag); 130 / 143 stopped by SIGINT / \
SIGTERM, nothing half-written. `fadca batch`: 0 when every family succeeded, 2 when a family \
failed for bad input, 1 when one failed otherwise.";

/// Predict which residues of a protein touch from a multiple sequence
/// alignment of its family.
///
/// fadca trains, by pseudo-likelihood, the full Potts model where it fits in
/// memory (the more precise) or one layer of factored self-attention (few
/// parameters, long proteins): `--model auto`, the default, says which and
/// why. It reads contact scores off the learned couplings and writes them as
/// a ranked list, a CCMpred matrix, a CASP RR and an EVcouplings EC file;
/// given a structure it scores them.
#[derive(Debug, Parser)]
#[command(
    name = "fadca",
    version,
    about,
    propagate_version = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report what was read from an alignment: sequences read, dropped and kept, L, M_eff, memory,
    /// and which model `--model auto` would train.
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
    /// Train one set of values (21x21 per head) shared by many families, each with its own attention: the file `predict --values` starts from, and its figure.
    TrainValues(train_values::Args),
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
        Command::TrainValues(args) => train_values::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Experiment(args) => experiment::run(args),
    }
}
