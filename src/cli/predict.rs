//! `fadca predict`: train a model on an alignment, save it, write the contact
//! files and `summary.json`, print a one-screen summary. The work is done by
//! [`fadca::predict::run_prediction`]; this file parses flags and shows
//! progress.
use std::io::IsTerminal;
use std::path::PathBuf;

use fadca::alignment::family_name;
use fadca::model::{Progress, StopReason};
use fadca::predict::{
    Limits, PredictRequest, default_model_path, default_output_dir, run_prediction_with,
    validate_name,
};
use fadca::runtime::{configure_threads, default_threads};
use fadca::structure::NativeSource;

use super::common::{AlignmentArgs, ListArgs, StructureArgs, TrainingArgs};

/// Arguments of `fadca predict`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Output, each file written atomically, summary.json last:\n  \
DIR/contacts.tsv   i j score, best first (every pair i<j, or those with j-i >= --min-separation)\n  \
DIR/contacts.mat   LxL symmetric scores (CCMpred layout), every pair\n  \
DIR/contacts.rr    CASP RR: TARGET, AUTHOR, METHOD, the query sequence, i j 0 8 p with p the \
min-max scaled score\n  \
DIR/contacts.ec    plmc/EVcouplings EC file: i A_i j A_j 0 score, ordered by i then j\n  \
DIR/couplings.npy  with --save-couplings: the raw trained asymmetric J[i][j][a][b] = J_ij(a,b), \
float32 LxLx21x21, states ARNDCQEGHILKMFPSTWYV- (before symmetrising and gauging)\n  \
DIR/score.json, DIR/contact_map.png   with --pdb or --native-contacts, as `fadca score` writes them \
(contact_map.svg too with --svg)\n  \
DIR/summary.json   inputs, counts, M_eff, hyper-parameters, loss curve, timings, device, the top 10 \
pairs with |i-j| >= 6, precision\n  \
MODEL              `fadca contacts MODEL` re-extracts the contacts from it\n\
Precision counts the top-k pairs with |i-j| >= 6 whose residues both have a known distance.\n\
DIR defaults to predictions/<name> (see --name). A prediction of another input is never replaced \
without --force; one run writes into a folder at a time, and its files appear together at the \
end (a failed or killed run leaves the previous ones as they were).\n\
Which model: --model auto (the default) trains the full Potts model when its estimated peak \
memory fits --max-memory (default: the memory available), else factored attention, and refuses \
when neither fits; the summary and summary.json (model_requested, model, model_reason) say which \
and why, and `fadca inspect` tells beforehand. The Potts model is the more precise wherever it \
fits; factored attention holds its coupling table a block of 64 sites at a time and trains on \
long proteins (L = 3000).\n\
The hyper-parameter defaults are the ones tuned on the DEV benchmark (README, docs/MODEL.md)."
)]
pub struct Args {
    /// Alignment file (FASTA/A2M, A3M, Stockholm, PSICOV .aln; optionally gzipped).
    pub msa: PathBuf,
    #[command(flatten)]
    pub alignment: AlignmentArgs,
    #[command(flatten)]
    pub training: TrainingArgs,
    /// Output folder [default: predictions/<name>].
    #[arg(short, long, value_name = "DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Family name: names the default output folder and model file, and is the TARGET of
    /// contacts.rr and the title of contact_map.png [default: the MSA file name without .gz and
    /// its alignment extension; when that names no family (msa, alignment, query, ...) the
    /// nearest folder above it that does: famA/msa.fasta -> famA, T1/msas/uniref90_hits.sto ->
    /// T1_uniref90_hits].
    #[arg(long, help_heading = "Output")]
    pub name: Option<String>,
    /// Where to save the model [default: models/<name>.safetensors].
    #[arg(long, value_name = "PATH", help_heading = "Output")]
    pub model_out: Option<PathBuf>,
    /// Also write the trained couplings as DIR/couplings.npy (float32 LxLx21x21, can be large:
    /// 1764 L^2 bytes).
    #[arg(long, help_heading = "Output")]
    pub save_couplings: bool,
    #[command(flatten)]
    pub lists: ListArgs,
    /// Also write contact_map.svg beside contact_map.png.
    #[arg(long, help_heading = "Output")]
    pub svg: bool,
    /// No progress output on stderr.
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,
    /// Replace the prediction in the output folder (and the model file) even when it was made
    /// from another input. Without it such a run is refused, so that two alignments with the
    /// same default name never overwrite each other's results; re-running the same input
    /// replaces its own results either way.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
    /// Score against a structure (PDB or mmCIF, optionally gzipped): writes score.json and
    /// contact_map.png and adds the precision table to summary.json.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Scoring",
        conflicts_with = "native_contacts"
    )]
    pub pdb: Option<PathBuf>,
    /// Chain of the structure [default: the first chain with amino acids].
    #[arg(long, requires = "pdb", help_heading = "Scoring")]
    pub chain: Option<String>,
    /// Score against a list of native contacts (`i j` per line, 1-based, as `fadca simulate`
    /// writes); every other pair counts as a non-contact.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Scoring",
        alias = "contacts-true"
    )]
    pub native_contacts: Option<PathBuf>,
    #[command(flatten)]
    pub structure: StructureArgs,
    /// CPU threads for training (fused kernels and libtorch) and the weights [default: all
    /// cores].
    #[arg(long, value_name = "N", help_heading = "Resources")]
    pub threads: Option<usize>,
    /// Memory a run may use: --model auto trains the Potts model only when its estimated peak
    /// fits, and a run whose model does not fit is refused (e.g. 8G, 512M; binary units)
    /// [default: the available memory: MemAvailable on the CPU, free GPU memory on CUDA].
    #[arg(long, value_name = "SIZE", help_heading = "Resources")]
    pub max_memory: Option<String>,
    /// Train on at most N sequences, sampled with probability proportional to their weight
    /// (seeded by --seed; the query is always kept), then re-weighted [default: all].
    #[arg(long, value_name = "N", help_heading = "Resources")]
    pub max_seqs: Option<usize>,
}

/// Progress on stderr: an indicatif bar over the optimiser steps on a
/// terminal, else log lines. With ten epochs or more (the usual case) a
/// line closes about every tenth epoch; with fewer (long proteins, deep
/// alignments: an epoch can take minutes) a line also comes about every
/// tenth of the steps, with the epoch's running mean loss, and one closes
/// each epoch. The number of epochs and steps is known only once training
/// starts (it may depend on N).
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Reporter {
    fn new(quiet: bool) -> Reporter {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "training {bar:30} step {pos}/{len}  {msg}  {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Reporter { bar, quiet }
    }

    fn report(&self, p: &Progress) {
        if self.quiet {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_length(p.steps as u64);
            bar.set_position(p.step as u64);
            bar.set_message(format!(
                "epoch {}/{}  loss {:.3}",
                p.epoch, p.epochs, p.loss
            ));
            return;
        }
        if let Some(line) = progress_line(p) {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The log line for one report of the trainer, if it gets one (see
/// [`Reporter`]).
fn progress_line(p: &Progress) -> Option<String> {
    if p.end_of_epoch {
        let every = if p.epochs >= 10 {
            p.epochs.div_ceil(10)
        } else {
            1
        };
        if let Some(reason) = p.stopped {
            let why = match reason {
                StopReason::Converged => "converged",
                StopReason::MaxSteps => "maximum reached",
                StopReason::FixedLength => "fixed length",
            };
            return Some(format!(
                "epoch {}/{}  loss {:.3}  {:.1} s  (stopped after {} of at most {} steps: {why})",
                p.epoch, p.epochs, p.loss, p.elapsed, p.step, p.steps
            ));
        }
        (p.epoch.is_multiple_of(every) || p.epoch == p.epochs).then(|| {
            format!(
                "epoch {}/{}  loss {:.3}  {:.1} s",
                p.epoch, p.epochs, p.loss, p.elapsed
            )
        })
    } else {
        let every = p.steps.div_ceil(10).max(1);
        (p.epochs < 10 && p.step.is_multiple_of(every)).then(|| {
            format!(
                "step {}/{}  epoch {}/{} so far: loss {:.3}  {:.1} s",
                p.step,
                p.steps,
                p.epoch + 1,
                p.epochs,
                p.loss,
                p.elapsed
            )
        })
    }
}

/// Runs `fadca predict`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.training.train_config()?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => family_name(&args.msa),
    };
    validate_name(&name)?;
    let threads = args.threads.unwrap_or_else(default_threads);
    configure_threads(threads)?;
    args.structure
        .check_given_with(args.pdb.is_some(), "--pdb")?;
    let native = match (&args.pdb, &args.native_contacts) {
        (Some(pdb), _) => Some(args.structure.source(pdb.clone(), args.chain.clone())),
        (None, Some(list)) => Some(NativeSource::Contacts { path: list.clone() }),
        (None, None) => None,
    };
    let request = PredictRequest {
        msa: args.msa.clone(),
        read_options: args.alignment.read_options(),
        weighting: args.alignment.weighting(),
        output_dir: args
            .output
            .clone()
            .unwrap_or_else(|| default_output_dir(&name)),
        model_path: args
            .model_out
            .clone()
            .unwrap_or_else(|| default_model_path(&name)),
        name,
        model: args.training.model,
        config,
        threads,
        save_couplings: args.save_couplings,
        native,
        force_mapping: args.structure.force_mapping,
        lists: args.lists.options(),
        svg: args.svg,
        force: args.force,
    };
    let limits = Limits {
        max_memory: args
            .max_memory
            .as_deref()
            .map(fadca::model::memory::parse_size)
            .transpose()?,
        max_seqs: args.max_seqs,
    };
    // SIGINT/SIGTERM stop the run between steps, leaving no partial output.
    fadca::runtime::interrupt::install_handlers()?;
    let reporter = Reporter::new(args.quiet);
    let outcome = run_prediction_with(&request, &limits, &mut |p| reporter.report(p));
    reporter.finish();
    let outcome = outcome?;
    print!("{}", outcome.summary.render(outcome.score.as_ref()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        epoch: usize,
        epochs: usize,
        step: usize,
        steps: usize,
        end_of_epoch: bool,
    ) -> Progress {
        Progress {
            epoch,
            epochs,
            step,
            steps,
            loss: 1.5,
            elapsed: 2.0,
            end_of_epoch,
            stopped: None,
        }
    }

    #[test]
    fn the_last_report_says_why_training_stopped() {
        // The rule stopped training in epoch 120 of at most 134.
        let last = Progress {
            stopped: Some(StopReason::Converged),
            ..report(120, 134, 358, 402, true)
        };
        assert_eq!(
            progress_line(&last).as_deref(),
            Some(
                "epoch 120/134  loss 1.500  2.0 s  (stopped after 358 of at most 402 steps: converged)"
            )
        );
        assert_eq!(progress_line(&report(119, 134, 357, 402, true)), None);
    }

    #[test]
    fn many_epochs_log_about_every_tenth_epoch_and_no_steps() {
        // 19 epochs of 22 batches: a line every second epoch and at the last.
        assert_eq!(progress_line(&report(1, 19, 22, 418, true)), None);
        assert_eq!(
            progress_line(&report(2, 19, 44, 418, true)).as_deref(),
            Some("epoch 2/19  loss 1.500  2.0 s")
        );
        assert!(progress_line(&report(19, 19, 418, 418, true)).is_some());
        for step in [1, 42, 84, 100] {
            assert_eq!(progress_line(&report(0, 19, step, 418, false)), None);
        }
    }

    #[test]
    fn few_long_epochs_log_every_tenth_of_the_steps() {
        // One epoch of 79 steps (L = 1500, N = 20 000): a line every 8 steps.
        assert_eq!(
            progress_line(&report(0, 1, 8, 79, false)).as_deref(),
            Some("step 8/79  epoch 1/1 so far: loss 1.500  2.0 s")
        );
        assert_eq!(progress_line(&report(0, 1, 7, 79, false)), None);
        assert_eq!(progress_line(&report(0, 1, 9, 79, false)), None);
        assert_eq!(
            progress_line(&report(1, 1, 79, 79, true)).as_deref(),
            Some("epoch 1/1  loss 1.500  2.0 s")
        );
        // Three epochs: each one closes with a line.
        for epoch in 1..=3 {
            assert!(progress_line(&report(epoch, 3, 10 * epoch, 30, true)).is_some());
        }
    }
}
