//! `fadca score`: precision of a contact prediction against a structure or a
//! list of known contacts; prints the precision table, writes `score.json` and
//! `contact_map.png`.
use std::path::PathBuf;

use fadca::alignment::{Format, ReadOptions};
use fadca::contacts::ContactFormat;
use fadca::input_error;
use fadca::score::{PredictionFiles, score_files, write_score_outputs};
use fadca::structure::NativeSource;

use super::common::StructureArgs;

/// Arguments of `fadca score`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("native").required(true).args(["pdb", "contacts"])),
    after_help = "Output: score.json (precision.<all|short|medium|long>.<L|L/2|L/5|L/10>, mapping \
statistics, native contact counts) and contact_map.png are written to -o DIR; by default to the \
prediction folder, or, for a prediction file, to the folder that holds it.\n\
Precision: top-k pairs (k = max(1, floor(L/x))) of each separation class (short 6-11, medium \
12-23, long >=24, all >=6) among pairs whose two residues have a known distance, ranked by score \
(ties by i, then j)."
)]
pub struct Args {
    /// Contact prediction: a fadca prediction folder (contacts.tsv + summary.json) or a file
    /// (fadca contacts.tsv, CCMpred .mat, CASP RR, plmc/EVcouplings EC; optionally gzipped;
    /// the format is detected from content).
    pub prediction: PathBuf,
    /// The alignment the prediction was made from: its first sequence (over the columns where it
    /// has no gap) numbers the residues 1..L. May be omitted for a fadca prediction folder
    /// (taken from its summary.json).
    #[arg(long)]
    pub msa: Option<PathBuf>,
    /// Force the alignment format (default: detected from content).
    #[arg(long, value_enum)]
    pub msa_format: Option<Format>,
    /// The prediction was made keeping the columns where the query has a gap.
    #[arg(long)]
    pub keep_query_gaps: bool,
    /// Force the prediction file format (default: detected from content).
    #[arg(long, value_enum)]
    pub format: Option<ContactFormat>,
    /// Known structure: PDB or mmCIF, optionally gzipped.
    #[arg(long)]
    pub pdb: Option<PathBuf>,
    /// Chain of the structure (default: the first chain with amino acids).
    #[arg(long, requires = "pdb")]
    pub chain: Option<String>,
    /// Known contacts as a list: `i j` per line (1-based; `#` comments; extra columns and a
    /// header line starting with `i` are ignored). All other pairs count as non-contacts.
    #[arg(long)]
    pub contacts: Option<PathBuf>,
    #[command(flatten)]
    pub structure: StructureArgs,
    /// Output folder for score.json and contact_map.png.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs `fadca score`.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.structure
        .check_given_with(args.pdb.is_some(), "--pdb")?;
    let files = PredictionFiles {
        prediction: args.prediction.clone(),
        format: args.format,
        msa: args.msa.clone(),
        msa_options: ReadOptions {
            format: args.msa_format,
            keep_query_gaps: args.keep_query_gaps,
            ..ReadOptions::default()
        },
    };
    let source = match (&args.pdb, &args.contacts) {
        (Some(pdb), _) => args.structure.source(pdb.clone(), args.chain.clone()),
        (None, Some(list)) => NativeSource::Contacts { path: list.clone() },
        (None, None) => return Err(input_error("give --pdb FILE or --contacts FILE")),
    };
    let (report, prediction) = score_files(&files, &source, args.structure.force_mapping)?;
    let out_dir = match &args.output {
        Some(d) => d.clone(),
        None if args.prediction.is_dir() => args.prediction.clone(),
        None => match args.prediction.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    print!("{}", report.render());
    write_score_outputs(&out_dir, &report, &prediction)?;
    println!(
        "wrote {} and {}",
        out_dir.join("score.json").display(),
        out_dir.join("contact_map.png").display()
    );
    Ok(())
}
