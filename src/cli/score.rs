//! `fadca score`: precision of a contact prediction against a structure or a
//! list of known contacts; prints the precision table, writes `score.json` and
//! `contact_map.png`.
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use fadca::alignment::{Format, ReadOptions, read_alignment};
use fadca::contacts::{ContactFormat, read_prediction, read_prediction_as};
use fadca::input_error;
use fadca::score::{score_against_structure, write_score_outputs};
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

/// The alignment recorded in a fadca prediction folder's `summary.json`
/// (`msa.path`, and the read options `msa.format` / `msa.keep_query_gaps`
/// when present). A relative path is tried as given, then relative to the folder.
fn msa_from_summary(dir: &Path) -> anyhow::Result<(PathBuf, ReadOptions)> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        input_error(format!(
            "{}: cannot read it ({e}); give the alignment with --msa",
            path.display()
        ))
    })?;
    let summary: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| input_error(format!("{}: not valid JSON: {e}", path.display())))?;
    let msa = &summary["msa"];
    let recorded = msa["path"].as_str().ok_or_else(|| {
        input_error(format!(
            "{}: no \"msa\": {{\"path\": ...}} entry; give the alignment with --msa",
            path.display()
        ))
    })?;
    let mut msa_path = PathBuf::from(recorded);
    if msa_path.is_relative() && !msa_path.exists() && dir.join(&msa_path).exists() {
        msa_path = dir.join(msa_path);
    }
    let mut options = ReadOptions::default();
    if let Some(f) = msa["format"].as_str() {
        options.format = Format::from_str(f, true).ok();
    }
    if let Some(k) = msa["keep_query_gaps"].as_bool() {
        options.keep_query_gaps = k;
    }
    Ok((msa_path, options))
}

/// Runs `fadca score`.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.structure
        .check_given_with(args.pdb.is_some(), "--pdb")?;
    let is_folder = args.prediction.is_dir();
    let prediction_file = if is_folder {
        args.prediction.join("contacts.tsv")
    } else {
        args.prediction.clone()
    };
    let (msa_path, options) = match &args.msa {
        Some(p) => (
            p.clone(),
            ReadOptions {
                format: args.msa_format,
                keep_query_gaps: args.keep_query_gaps,
                ..ReadOptions::default()
            },
        ),
        None if is_folder => msa_from_summary(&args.prediction)?,
        None => {
            return Err(input_error(format!(
                "{}: --msa is needed to number the residues (only a fadca prediction folder records its alignment)",
                args.prediction.display()
            )));
        }
    };
    let alignment = read_alignment(&msa_path, &options)?;
    let query = &alignment.query_sequence;
    let length = query.len();
    let prediction = match args.format {
        Some(f) => read_prediction_as(&prediction_file, f, Some(length))?,
        None => read_prediction(&prediction_file, Some(length))?,
    };
    let source = match (&args.pdb, &args.contacts) {
        (Some(pdb), _) => args.structure.source(pdb.clone(), args.chain.clone()),
        (None, Some(list)) => NativeSource::Contacts { path: list.clone() },
        (None, None) => return Err(input_error("give --pdb FILE or --contacts FILE")),
    };
    let mut report =
        score_against_structure(query, &prediction, &source, args.structure.force_mapping)?;
    report.native_sha256 = Some(fadca::io::sha256_file(source.path())?);
    report.inputs.insert(
        "prediction".into(),
        serde_json::json!({ "path": prediction_file.display().to_string() }),
    );
    report.inputs.insert(
        "msa".into(),
        serde_json::json!({
            "path": msa_path.display().to_string(),
            "keep_query_gaps": options.keep_query_gaps,
            "query": alignment.query_name(),
        }),
    );
    let out_dir = match &args.output {
        Some(d) => d.clone(),
        None if is_folder => args.prediction.clone(),
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
