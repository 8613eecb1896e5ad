//! `fadca contacts`: contact scores again from a saved model, without
//! training. Writes the same `contacts.tsv`, `contacts.mat`, `contacts.rr`
//! and `contacts.ec` as `fadca predict` (identical bytes for the same thread
//! count and list flags).
use std::path::{Path, PathBuf};

use fadca::contacts::{Prediction, Provenance, write_contact_files};
use fadca::io::{FolderLock, create_dir};
use fadca::model::Model;
use fadca::predict::{check_output_folder, default_output_dir, top_contacts};
use fadca::runtime::{configure_threads, default_threads};

use super::common::ListArgs;

/// Arguments of `fadca contacts`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Writes DIR/contacts.tsv, DIR/contacts.mat, DIR/contacts.rr and DIR/contacts.ec (the \
RR and EC files carry the query sequence stored in the model, the RR file its family name as \
TARGET). DIR defaults to predictions/<model stem>, the folder \
`fadca predict` wrote for the same family (its contact files are replaced by identical ones; \
summary.json and the other files are left alone)."
)]
pub struct Args {
    /// A model saved by `fadca predict` (safetensors).
    pub model: PathBuf,
    /// Output folder [default: predictions/<model file name without .safetensors>].
    #[arg(short, long, value_name = "DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub lists: ListArgs,
    /// CPU threads for libtorch [default: all cores].
    #[arg(long, value_name = "N", help_heading = "Resources")]
    pub threads: Option<usize>,
    /// Write into DIR even when its prediction was made from another input than the model's.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
}

/// Runs `fadca contacts`.
pub fn run(args: Args) -> anyhow::Result<()> {
    configure_threads(args.threads.unwrap_or_else(default_threads))?;
    let (model, metadata) = Model::load(&args.model)?;
    let l = model.length();
    let sequence = metadata
        .get("query_sequence")
        .filter(|s| s.chars().count() == l);
    if sequence.is_none() {
        eprintln!(
            "fadca: warning: model {} carries no query sequence of length {l}; contacts.rr is written without one",
            args.model.display()
        );
    }
    let stem = args
        .model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let dir = match &args.output {
        Some(d) => d.clone(),
        None => default_output_dir(&stem),
    };
    create_dir(&dir)?;
    // One run per folder at a time, and never contact files of this model
    // beside the summary of another input.
    let _lock = FolderLock::acquire(&dir)?;
    if !args.force
        && let (Some(msa), Some(sha256)) = (metadata.get("msa"), metadata.get("msa_sha256"))
    {
        check_output_folder(&dir, Path::new(msa), sha256)?;
    }
    let prediction = Prediction::of_model(&model);
    let provenance = Provenance {
        target: metadata.get("name").unwrap_or(&stem),
        model: model.kind(),
        sequence: sequence.map(String::as_str),
    };
    let written = write_contact_files(&dir, &prediction, &provenance, &args.lists.options())?;
    println!(
        "model     {} ({}, L = {l})",
        args.model.display(),
        model.kind().name()
    );
    if let Some(seq) = sequence {
        println!("top contacts (|i-j| >= 6):");
        for c in top_contacts(&prediction, seq).contacts {
            println!(
                "{:>6} {:>6}  {}-{}   {:>10.4}",
                c.i, c.j, c.residue_i, c.residue_j, c.score
            );
        }
    }
    println!("output    {} ({})", dir.display(), written.join(", "));
    Ok(())
}
