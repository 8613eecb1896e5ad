//! `fadca train-values`: one set of values V^h trained on many families,
//! each with its own queries, keys and fields; the values file that
//! `fadca predict --values` starts from, and its figure.
use std::path::PathBuf;

use fadca::model::joint::{FamilyWeighting, JointConfig};
use fadca::runtime::{configure_threads, default_threads};
use fadca::values::{TrainValuesRequest, default_figure_path, train_values};

use super::common::AlignmentArgs;

/// Arguments of `fadca train-values`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each optimiser step takes one mini-batch from every family; the objective is the sum of the \
families' pseudo-likelihood objectives, each weighted by its share of M_eff (--family-weighting \
meff) or equally. The run checkpoints to OUTPUT.checkpoint every --checkpoint-every steps; after \
a kill, the same command with --resume ends with the values an uninterrupted run makes. \
Example (leave PF00014 out, apply to it):
  fadca train-values families.tsv --exclude PF00014 -o values.safetensors
  fadca predict PF00014.fasta --model factored --values values.safetensors")]
pub struct Args {
    /// A folder of alignments or a TSV manifest (name, msa, ...), as `fadca batch` takes them.
    pub families: PathBuf,
    /// The values file to write (safetensors: tensor `value`, H x 21 x 21, and metadata).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The figure of the values [default: OUTPUT with extension .png].
    #[arg(long, value_name = "PNG")]
    pub figure: Option<PathBuf>,
    /// Leave these families out (comma-separated names; e.g. the family to predict).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub exclude: Vec<String>,
    /// Heads H of the shared values. 64 by the DEV benchmark (4 folds, fixed values: mean top-L
    /// 0.476 / 0.112 / 0.175 / 0.321 on full alignments / 30 / 100 / 300 sequences against
    /// 0.458 / 0.096 / 0.171 / 0.310 with 32 heads, each family about 1.5x slower to train;
    /// 128 not tried): docs/VALUES.md.
    #[arg(long, default_value_t = 64)]
    pub heads: usize,
    /// Query/key dimension d of every family.
    #[arg(long, default_value_t = 23)]
    pub head_dim: usize,
    /// Optimiser steps; each takes one mini-batch from every family.
    #[arg(long, default_value_t = 400)]
    pub steps: usize,
    /// Sequences per family per step (at most the family's N).
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam learning rate (cosine decay to 0).
    #[arg(long, default_value_t = 0.05)]
    pub learning_rate: f64,
    /// L2 strength on every family's couplings, lambda_J (the factored model's default).
    #[arg(long, default_value_t = 1e-3)]
    pub lambda_j: f64,
    /// L2 strength on every family's fields, lambda_h.
    #[arg(long, default_value_t = 1e-4)]
    pub lambda_h: f64,
    /// How much each family's objective counts: meff = its share of the families' M_eff; equal = 1/F.
    /// On DEV (4 folds) meff gave the more precise shared values on the full alignments and at
    /// 100 and 300 sequences (0.458 / 0.171 / 0.310 against 0.452 / 0.163 / 0.290), equal at 30
    /// (0.100 against 0.096): docs/VALUES.md.
    #[arg(long, value_enum, default_value_t = FamilyWeighting::Meff)]
    pub family_weighting: FamilyWeighting,
    /// Train on at most this many sequences per family, sampled by weight with the seed.
    #[arg(long, value_name = "N")]
    pub max_seqs: Option<usize>,
    /// Seed of the initialisation, the batch order and --max-seqs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Steps between checkpoints (OUTPUT.checkpoint).
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: usize,
    /// Take up the checkpoint of an earlier run of the same command that was stopped.
    #[arg(long)]
    pub resume: bool,
    /// CPU threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No progress on stderr.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub alignment: AlignmentArgs,
}

/// Runs `fadca train-values`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.checkpoint_every == 0 {
        return Err(fadca::input_error("--checkpoint-every must be at least 1"));
    }
    if !(args.learning_rate > 0.0 && args.learning_rate.is_finite()) {
        return Err(fadca::input_error(
            "--learning-rate must be a positive number",
        ));
    }
    if !(args.lambda_j >= 0.0 && args.lambda_h >= 0.0) {
        return Err(fadca::input_error(
            "--lambda-j and --lambda-h must be non-negative",
        ));
    }
    if args.max_seqs == Some(0) {
        return Err(fadca::input_error("--max-seqs must be at least 1"));
    }
    let threads = args.threads.unwrap_or_else(default_threads);
    configure_threads(threads)?;
    let request = TrainValuesRequest {
        families: args.families.clone(),
        exclude: args.exclude.clone(),
        figure: args
            .figure
            .clone()
            .unwrap_or_else(|| default_figure_path(&args.output)),
        output: args.output.clone(),
        read_options: args.alignment.read_options(),
        weighting: args.alignment.weighting(),
        max_seqs: args.max_seqs,
        config: JointConfig {
            heads: args.heads,
            head_dim: args.head_dim,
            lambda_j: args.lambda_j,
            lambda_h: args.lambda_h,
            learning_rate: args.learning_rate,
            steps: args.steps,
            batch_size: args.batch_size,
            seed: args.seed,
            weighting: args.family_weighting,
            checkpoint_every: args.checkpoint_every,
        },
        threads,
        resume: args.resume,
    };
    let quiet = args.quiet;
    let mut on_step = |step: usize, steps: usize, loss: f64| {
        if !quiet && (step.is_multiple_of(10) || step == steps) {
            eprintln!("step {step}/{steps}  loss {loss:.4}");
        }
    };
    let outcome = train_values(&request, &mut on_step)?;
    println!(
        "{} families, {} steps in {:.1} s{}: values {} ({} heads), figure {}",
        outcome.families.len(),
        outcome.report.steps,
        outcome.report.seconds,
        outcome
            .report
            .resumed_from
            .map_or(String::new(), |s| format!(" (resumed at step {s})")),
        args.output.display(),
        args.heads,
        request.figure.display()
    );
    Ok(())
}
