//! `fadca experiment sample-complexity`: the paper's sample-complexity claim
//! on a planted teacher. The work is done by
//! [`fadca::experiment::sample_complexity`].
use std::path::PathBuf;

use fadca::experiment::{SampleComplexityConfig, plot, sample_complexity, write_tsv};
use fadca::runtime::{configure_threads, default_threads};
use fadca::simulate;

/// Arguments of `fadca experiment`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Experiment,
}

#[derive(Debug, clap::Subcommand)]
enum Experiment {
    /// Students trained on M = alpha L sequences of a planted teacher, alpha on a geometric
    /// grid: held-out NLL gap to the teacher and planted-contact precision against alpha.
    SampleComplexity(SampleComplexityArgs),
}

/// Arguments of `fadca experiment sample-complexity`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Protocol: one teacher (as `fadca simulate` builds it); one pool of --held-out + M_max samples, \
shuffled; the first --held-out are the test set, training sets are nested prefixes of the rest. \
Each student is a factored model (--student-heads heads) trained with the trainer's defaults, \
every sequence weight 1 (i.i.d. samples), for max(epochs, ceil(--min-steps / batches per epoch)) \
epochs. NLLs are mean per-site -log P(x_i | x_rest) on the held-out set, unweighted.\n\
Output in DIR: sample_complexity.tsv (alpha, M, student_nll, teacher_nll, gap, precision_top_l, \
train_seconds, epochs, steps), sample_complexity.png (and .svg with --svg), sample_complexity.json \
(settings and rows).\n\
precision_top_l: fraction of planted contacts among the top k predicted pairs with |i-j| >= 6, \
k = min(L, planted contacts with |i-j| >= 6).")]
pub struct SampleComplexityArgs {
    /// Output folder (created if needed).
    #[arg(short, long, value_name = "DIR", default_value = "sample_complexity")]
    pub output: PathBuf,
    /// Teacher length L.
    #[arg(long, short = 'L', default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..=2000))]
    pub length: u64,
    /// Teacher heads H.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub heads: u64,
    /// Seed of the teacher, the sampler and the shuffle.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Coupling strength beta of the teacher.
    #[arg(long = "coupling-strength", short = 'b', default_value_t = simulate::DEFAULT_BETA)]
    pub beta: f64,
    /// Smallest alpha = M / L.
    #[arg(long, default_value_t = 1.0)]
    pub alpha_min: f64,
    /// Largest alpha.
    #[arg(long, default_value_t = 100.0)]
    pub alpha_max: f64,
    /// Number of alpha values (geometric grid).
    #[arg(long, default_value_t = 6)]
    pub points: usize,
    /// Explicit training-set sizes M instead of the alpha grid (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "M,...")]
    pub sizes: Vec<usize>,
    /// Held-out sequences.
    #[arg(long, default_value_t = 1000)]
    pub held_out: usize,
    /// Student heads [default: the teacher's H].
    #[arg(long)]
    pub student_heads: Option<usize>,
    /// Student query/key dimension [default: as for `fadca predict`].
    #[arg(long)]
    pub head_dim: Option<usize>,
    /// Minimum epochs per student [default: as for `fadca predict`].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Minimum optimiser steps per student.
    #[arg(long, default_value_t = 300)]
    pub min_steps: usize,
    /// CPU threads for libtorch and the sampler [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Also write sample_complexity.svg beside sample_complexity.png.
    #[arg(long)]
    pub svg: bool,
    /// No per-point progress on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `fadca experiment`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Experiment::SampleComplexity(a) => run_sample_complexity(a),
    }
}

fn run_sample_complexity(a: SampleComplexityArgs) -> anyhow::Result<()> {
    configure_threads(a.threads.unwrap_or_else(default_threads))?;
    let mut cfg = SampleComplexityConfig::defaults();
    cfg.teacher.length = a.length as usize;
    cfg.teacher.heads = a.heads as usize;
    cfg.teacher.beta = a.beta;
    cfg.seed = a.seed;
    cfg.alpha_min = a.alpha_min;
    cfg.alpha_max = a.alpha_max;
    cfg.points = a.points;
    cfg.sizes = a.sizes;
    cfg.held_out = a.held_out;
    cfg.train.heads = a.student_heads.unwrap_or(a.heads as usize);
    if let Some(d) = a.head_dim {
        cfg.train.head_dim = d;
    }
    if let Some(e) = a.epochs {
        cfg.train.epochs = Some(e);
    }
    cfg.min_steps = a.min_steps;
    cfg.validate()?;
    std::fs::create_dir_all(&a.output).map_err(|e| {
        fadca::input_error(format!("cannot create folder {}: {e}", a.output.display()))
    })?;
    if !a.quiet {
        eprintln!(
            "teacher L = {}, H = {}, beta = {}, seed {}; M = {:?}",
            cfg.teacher.length,
            cfg.teacher.heads,
            cfg.teacher.beta,
            cfg.seed,
            cfg.grid()
        );
    }
    let quiet = a.quiet;
    let report = sample_complexity(&cfg, &mut |r| {
        if !quiet {
            eprintln!(
                "alpha {:>8.2}  M {:>6}  gap {:+.4}  precision {:.3}  ({:.1} s)",
                r.alpha, r.m, r.gap, r.precision_top_l, r.train_seconds
            );
        }
    })?;
    write_tsv(&a.output.join("sample_complexity.tsv"), &report.rows)?;
    plot::write_png(&a.output.join("sample_complexity.png"), &report, a.svg)?;
    fadca::io::write_atomic(&a.output.join("sample_complexity.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &report)?;
        writeln!(w)?;
        Ok(())
    })?;
    println!("alpha\tM\tstudent_nll\tteacher_nll\tgap\tprecision_top_l\ttrain_seconds");
    for r in &report.rows {
        println!(
            "{:.2}\t{}\t{:.4}\t{:.4}\t{:+.4}\t{:.3}\t{:.1}",
            r.alpha, r.m, r.student_nll, r.teacher_nll, r.gap, r.precision_top_l, r.train_seconds
        );
    }
    println!(
        "output    {} (sample_complexity.tsv, sample_complexity.png, sample_complexity.json)",
        a.output.display()
    );
    Ok(())
}
