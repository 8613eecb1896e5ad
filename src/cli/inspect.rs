//! `fadca inspect`.
use std::path::PathBuf;

/// Arguments of `fadca inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alignment file (FASTA/A2M, A3M, Stockholm, PSICOV .aln; optionally gzipped).
    pub msa: PathBuf,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `fadca inspect`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(fadca::input_error("inspect: not implemented yet"))
}
