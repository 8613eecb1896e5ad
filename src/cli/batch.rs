//! `fadca batch`: predict many families (a folder or a TSV manifest), in
//! parallel child processes, resumable and shardable; `fadca batch --merge`
//! gathers shard outputs. The work is done by [`fadca::batch`]; this file
//! parses flags, builds each family's `fadca predict` command line and shows
//! progress.
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use fadca::batch::{
    BatchSummary, Family, RunOptions, Shard, merge, outputs, predict_in_child, progress_line,
    read_families, run_families,
};
use fadca::input_error;
use fadca::runtime::{DeviceChoice, default_threads};

use super::common::{AlignmentArgs, ListArgs, StructureArgs, TrainingArgs};

/// Default batch output folder.
pub const DEFAULT_OUTPUT: &str = "predictions/batch";

/// Arguments of `fadca batch`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Families:\n  \
FOLDER    one subfolder per family (its name), holding one alignment (*.fasta, *.fa, *.fas, *.faa, \
*.a3m, *.a2m, *.sto, *.stockholm, *.aln, optionally .gz) and optionally one structure (*.pdb, \
*.cif, *.mmcif, *.ent, optionally .gz; first chain with amino acids) or, without one, a list of \
native contacts named contacts.tsv (as `fadca simulate` writes it). With several files of a kind \
the one named <family>.<ext>, else msa.<ext> / structure.<ext>, is used; otherwise the family fails.\n  \
MANIFEST  TSV with a header naming the columns name, msa and optionally structure, chain, contacts \
(any order, other columns ignored; paths relative to the manifest; empty structure = none).\n\
Output (DIR, default predictions/batch): DIR/<name>/ holds what `fadca predict` writes (summary.json \
last), its model (model.safetensors) and predict.log; DIR/summary.tsv, summary.json and summary.png \
(P@L against M_eff/L; summary.svg too with --svg) sum up the families. All files are written \
atomically.\n\
Each family runs in its own `fadca predict` process with --threads T [default: cores / jobs], so \
results do not depend on --jobs. On a GPU families run one after another.\n\
Exit code: 0 when every family succeeded, 2 when a family failed for bad input, 1 when families \
failed otherwise (crash, out of memory). --merge exits 0 once the summary is written.\n\
Cluster: run `fadca batch FAMILIES --shard $SLURM_ARRAY_TASK_ID/N -o out/shard-$SLURM_ARRAY_TASK_ID` \
per array task, then `fadca batch --merge out/shard-* -o out`.")]
pub struct Args {
    /// Families: a folder with one subfolder per family, or a TSV manifest.
    #[arg(required_unless_present = "merge")]
    pub families: Option<PathBuf>,
    /// Output folder [default: predictions/batch].
    #[arg(short, long, value_name = "DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Families predicted at the same time on the CPU (ignored on a GPU: one at a time).
    #[arg(long, value_name = "N", default_value_t = 1, help_heading = "Batch")]
    pub jobs: usize,
    /// Run only shard K of N: the families whose position i (0-based, in folder or manifest
    /// order) has i mod N = K-1.
    #[arg(long, value_name = "K/N", help_heading = "Batch")]
    pub shard: Option<Shard>,
    /// Skip the families whose folder already holds a complete summary.json from a run with
    /// the same hyper-parameters; redo the others.
    #[arg(long, help_heading = "Batch")]
    pub resume: bool,
    /// Gather the results of these batch output folders (e.g. shards) into one summary in -o.
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["families", "shard", "resume"], help_heading = "Batch")]
    pub merge: Option<Vec<PathBuf>>,
    #[command(flatten)]
    pub training: TrainingArgs,
    /// CPU threads of each family's run [default: cores / jobs, at least 1; on a GPU all
    /// cores].
    #[arg(long, value_name = "N", help_heading = "Resources")]
    pub threads: Option<usize>,
    /// Memory each family's run may use (e.g. 8G): --model auto trains the Potts model where
    /// its estimate fits, and a family that fits no model fails alone [default: the memory
    /// available when the batch starts, divided by the families run at the same time].
    #[arg(long, value_name = "SIZE", help_heading = "Resources")]
    pub max_memory: Option<String>,
    /// Also write each family's couplings.npy.
    #[arg(long, help_heading = "Output")]
    pub save_couplings: bool,
    #[command(flatten)]
    pub lists: ListArgs,
    /// Also write summary.svg, and each family's contact_map.svg.
    #[arg(long, help_heading = "Output")]
    pub svg: bool,
    #[command(flatten)]
    pub structure: StructureArgs,
    /// No progress output on stderr.
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,
    #[command(flatten)]
    pub alignment: AlignmentArgs,
}

/// The `fadca predict` arguments shared by every family.
fn common_predict_args(
    args: &Args,
    training: &TrainingArgs,
    threads: usize,
    max_memory: Option<u64>,
) -> Vec<OsString> {
    // A batch owns its family folders: a family whose alignment changed is
    // redone in place (`--resume` decides what to redo).
    let mut out: Vec<OsString> = vec![
        "--quiet".into(),
        "--force".into(),
        "--threads".into(),
        threads.to_string().into(),
    ];
    if let Some(bytes) = max_memory {
        out.extend(["--max-memory".into(), bytes.to_string().into()]);
    }
    out.extend(training.to_args().into_iter().map(OsString::from));
    out.extend(args.alignment.to_args().into_iter().map(OsString::from));
    out.extend(args.lists.to_args().into_iter().map(OsString::from));
    if args.save_couplings {
        out.push("--save-couplings".into());
    }
    if args.svg {
        out.push("--svg".into());
    }
    out
}

/// The full `fadca predict` command line of one family.
fn family_predict_args(
    args: &Args,
    common: &[OsString],
    family: &Family,
    dir: &Path,
) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec!["predict".into()];
    out.push(family.msa.clone().unwrap_or_default().into());
    out.extend(["--name".into(), family.name.clone().into()]);
    out.extend(["-o".into(), dir.as_os_str().to_owned()]);
    out.extend([
        "--model-out".into(),
        dir.join(outputs::MODEL).into_os_string(),
    ]);
    out.extend(common.iter().cloned());
    if let Some(structure) = &family.structure {
        out.extend(["--pdb".into(), structure.as_os_str().to_owned()]);
        if let Some(chain) = &family.chain {
            out.extend(["--chain".into(), chain.into()]);
        }
        out.extend(args.structure.to_args().into_iter().map(OsString::from));
    } else if let Some(list) = &family.contacts {
        out.extend(["--native-contacts".into(), list.as_os_str().to_owned()]);
    }
    out
}

/// Progress on stderr: a bar with the families done and the ETA on a
/// terminal (with the family lines above it), plain lines otherwise.
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Reporter {
    fn new(total: usize, quiet: bool) -> Reporter {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} families  {elapsed} elapsed, ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_secs(1));
            bar
        });
        Reporter { bar, quiet }
    }

    fn line(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn done(&self, line: &str, done: usize) {
        self.line(line);
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One line about the whole batch, printed at the end.
fn overview(summary: &BatchSummary, dir: &Path) -> String {
    let a = &summary.aggregate;
    let mut s = format!(
        "{} families: {} ok, {} skipped, {} failed",
        a.families, a.ok, a.skipped, a.failed
    );
    if let (Some(mean), Some(median)) =
        (a.mean.and_then(|p| p.all.l), a.median.and_then(|p| p.all.l))
    {
        s.push_str(&format!(
            "; P@L mean {mean:.3}, median {median:.3} over {} scored",
            a.scored
        ));
    }
    s.push_str(&format!(
        "\nsummary   {}\n",
        dir.join(outputs::SUMMARY_TSV).display()
    ));
    s
}

/// The exit status of a batch: see the after-help.
fn outcome(summary: &BatchSummary, dir: &Path) -> anyhow::Result<()> {
    let a = &summary.aggregate;
    let table = dir.join(outputs::SUMMARY_TSV);
    if a.failed_input > 0 {
        Err(input_error(format!(
            "{} of {} families failed ({} for bad input); see {}",
            a.failed,
            a.families,
            a.failed_input,
            table.display()
        )))
    } else if a.failed > 0 {
        Err(anyhow::anyhow!(
            "{} of {} families failed; see {}",
            a.failed,
            a.families,
            table.display()
        ))
    } else {
        Ok(())
    }
}

/// Runs `fadca batch`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OUTPUT));
    if let Some(dirs) = &args.merge {
        let rows = merge(dirs)?;
        let mut summary = BatchSummary::new(rows, &output);
        summary.merged_from = Some(dirs.iter().map(|d| d.display().to_string()).collect());
        summary.write(&output, args.svg)?;
        print!("{}", overview(&summary, &output));
        return Ok(());
    }
    let Some(source) = &args.families else {
        return Err(input_error(
            "give FAMILIES (a folder or a manifest) or --merge DIR...",
        ));
    };
    if args.jobs == 0 {
        return Err(input_error("--jobs must be at least 1"));
    }
    if args.threads == Some(0) {
        return Err(input_error("--threads must be at least 1"));
    }
    // Resolve the device once so that every family trains on the same one.
    let config = args.training.train_config()?;
    let gpu = config.device.is_cuda();
    let mut training = args.training.clone();
    training.device = if gpu {
        DeviceChoice::Cuda
    } else {
        DeviceChoice::Cpu
    };
    let jobs = if gpu { 1 } else { args.jobs };
    if gpu && args.jobs > 1 && !args.quiet {
        eprintln!(
            "fadca batch: training on the GPU, families run one after another (--jobs ignored)"
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(|| (default_threads() / jobs).max(1));

    let mut families = read_families(source)?;
    if let Some(shard) = args.shard {
        families.retain(|f| shard.contains(f.index));
    }
    let program = std::env::current_exe()
        .map_err(|e| anyhow::anyhow!("cannot locate the fadca executable: {e}"))?;
    // Each family's memory: --max-memory, else what is available now shared
    // by the families that run at the same time (so that `--model auto`'s
    // choices add up to what the machine has).
    let max_memory = match &args.max_memory {
        Some(text) => Some(fadca::model::memory::parse_size(text)?),
        None => fadca::model::memory::available_bytes(config.device).map(|b| b / jobs as u64),
    };
    let common = common_predict_args(&args, &training, threads, max_memory);
    let options = RunOptions {
        output_dir: output.clone(),
        jobs,
        resume: args.resume,
        hyperparameters: Some(fadca::batch::requested_settings(
            serde_json::to_value(&config)?,
            args.training.model,
        )),
    };
    let reporter = Reporter::new(families.len(), args.quiet);
    let predict = |family: &Family, dir: &Path| {
        let child_args = family_predict_args(&args, &common, family, dir);
        predict_in_child(family, &program, &child_args, dir)
    };
    let rows = run_families(&families, &options, &predict, &mut |row, done, total| {
        reporter.done(&progress_line(row, done, total), done)
    });
    reporter.finish();
    let rows = rows?;
    let mut summary = BatchSummary::new(rows, &output);
    summary.families_source = Some(source.display().to_string());
    summary.shard = args.shard.map(|s| s.to_string());
    summary.hyperparameters = options.hyperparameters.clone();
    summary.write(&output, args.svg)?;
    print!("{}", overview(&summary, &output));
    outcome(&summary, &output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        training: TrainingArgs,
        #[command(flatten)]
        alignment: AlignmentArgs,
        #[command(flatten)]
        lists: ListArgs,
    }

    /// Flags passed on to `fadca predict` parse back to the same values.
    #[test]
    fn flags_round_trip() {
        for given in [
            vec!["x"],
            vec![
                "x",
                "--model",
                "potts",
                "--heads",
                "3",
                "--head-dim",
                "5",
                "--epochs",
                "7",
                "--batch-size",
                "11",
                "--learning-rate",
                "0.0003",
                "--lambda-j",
                "1e-5",
                "--lambda-h",
                "0.25",
                "--seed",
                "9",
                "--device",
                "cpu",
                "--format",
                "a3m",
                "--keep-query-gaps",
                "--max-gap-fraction",
                "0.5",
                "--theta",
                "0.7",
                "--no-weights",
                "--min-separation",
                "6",
                "--rr-author",
                "1234-5678-9000",
            ],
            vec!["x", "--steps", "50"],
        ] {
            let first = Wrap::parse_from(&given);
            let mut again = vec!["x".to_string()];
            again.extend(first.training.to_args());
            again.extend(first.alignment.to_args());
            again.extend(first.lists.to_args());
            let second = Wrap::parse_from(&again);
            assert_eq!(format!("{first:?}"), format!("{second:?}"), "{again:?}");
        }
    }
}
