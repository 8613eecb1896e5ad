//! `fadca score`: precision of a contact prediction against a structure or a
//! list of known contacts; prints the precision table, writes `score.json` and
//! `contact_map.png` into a folder of their own (`<prediction>.score/` by
//! default), never over existing files unless `--force`.
use std::path::{Path, PathBuf};

use fadca::alignment::{Format, ReadOptions};
use fadca::contacts::ContactFormat;
use fadca::input_error;
use fadca::predict::files;
use fadca::score::{PredictionFiles, ScoredFiles, score_files, write_score_outputs};
use fadca::structure::NativeSource;

use super::common::StructureArgs;

/// Arguments of `fadca score`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("native").required(true).args(["pdb", "native_contacts"])),
    after_help = "Residue numbers: an RR file that carries the query sequence numbers the residues \
itself; a fadca prediction folder records its alignment in summary.json; any other file needs \
--msa.\n\
Output: score.json (precision.<all|short|medium|long>.<L|L/2|L/5|L/10>, mapping statistics, \
native contact counts) and contact_map.png (contact_map.svg too with --svg), in -o DIR or, by \
default, in a new folder beside the prediction named after it plus .score (predictions/x.score/, \
c.rr.score/). Existing files there are not overwritten unless --force.\n\
Precision: top-k pairs (k = max(1, floor(L/x))) of each separation class (short 6-11, medium \
12-23, long >=24, all >=6) among pairs whose two residues have a known distance, ranked by score \
(ties by i, then j).\n\
Example: fadca score predictions/family/contacts.rr --pdb 1abc.cif.gz --chain A"
)]
pub struct Args {
    /// Contact prediction: a fadca prediction folder (contacts.tsv + summary.json) or a file
    /// (fadca contacts.tsv, CCMpred .mat, CASP RR, plmc/EVcouplings EC; optionally gzipped;
    /// the format is detected from content).
    pub prediction: PathBuf,
    /// Prediction file format [default: detected from content].
    #[arg(long, value_enum, help_heading = "Input")]
    pub format: Option<ContactFormat>,
    /// Which model of a CASP RR file with several MODEL blocks to score (1 = the first block).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Input")]
    pub model_index: u64,
    /// The alignment the prediction was made from: its first sequence (over the columns where it
    /// has no gap) numbers the residues 1..L. Not needed for an RR file that carries the query
    /// sequence, nor for a fadca prediction folder (taken from its summary.json).
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub msa: Option<PathBuf>,
    /// Alignment format [default: detected from content].
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        requires = "msa",
        help_heading = "Input"
    )]
    pub msa_format: Option<Format>,
    /// The prediction was made keeping the columns where the query has a gap.
    #[arg(long, requires = "msa", help_heading = "Input")]
    pub keep_query_gaps: bool,
    /// Known structure: PDB or mmCIF, optionally gzipped.
    #[arg(long, value_name = "FILE", help_heading = "Scoring")]
    pub pdb: Option<PathBuf>,
    /// Chain of the structure [default: the first chain with amino acids].
    #[arg(long, requires = "pdb", help_heading = "Scoring")]
    pub chain: Option<String>,
    /// Native contacts as a list: `i j` per line (1-based; `#` comments; extra columns and a
    /// header line starting with `i` are ignored). All other pairs count as non-contacts.
    #[arg(
        long,
        value_name = "FILE",
        alias = "contacts",
        help_heading = "Scoring"
    )]
    pub native_contacts: Option<PathBuf>,
    #[command(flatten)]
    pub structure: StructureArgs,
    /// Output folder for score.json and contact_map.png [default: <PREDICTION>.score].
    #[arg(short, long, value_name = "DIR", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Overwrite score.json and contact_map.png (.svg) where they exist.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
    /// Also write contact_map.svg beside contact_map.png.
    #[arg(long, help_heading = "Output")]
    pub svg: bool,
    /// Family name in the contact map's title [default: the RR file's TARGET, else the
    /// prediction folder's name, else the file name without extension].
    #[arg(long, help_heading = "Output")]
    pub name: Option<String>,
}

/// The default output folder: the prediction's path with `.score` added
/// to its name (`predictions/x` → `predictions/x.score`).
fn default_output(prediction: &Path) -> PathBuf {
    let absolute;
    let path = match prediction.file_name() {
        Some(_) => prediction,
        None => {
            absolute = std::fs::canonicalize(prediction).unwrap_or_else(|_| prediction.into());
            &absolute
        }
    };
    let name = path
        .file_name()
        .map_or_else(|| "prediction".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!("{name}.score"))
}

/// The family name of the contact map's title (see `--name`): fadca's own
/// files (`contacts.*`) and folders are named after the family.
fn figure_name(args: &Args, target: Option<&str>) -> String {
    if let Some(name) = args.name.as_deref().or(target) {
        return name.to_string();
    }
    let path = &args.prediction;
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = if path.is_dir() {
        file_name(path)
    } else if file_name(path).is_some_and(|n| n.starts_with("contacts.")) {
        path.parent().and_then(file_name)
    } else {
        file_name(path).map(|n| n.split('.').next().unwrap_or_default().to_string())
    };
    name.filter(|n| !n.is_empty())
        .unwrap_or_else(|| "prediction".into())
}

/// Refuses to overwrite `files` in `dir` without `--force`.
fn check_overwrite(dir: &Path, files: &[&str], force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    let existing: Vec<String> = files
        .iter()
        .filter(|f| dir.join(f).exists())
        .map(|f| dir.join(f).display().to_string())
        .collect();
    if existing.is_empty() {
        Ok(())
    } else {
        Err(input_error(format!(
            "{} already exist{}; give --force to overwrite, or -o DIR for another folder",
            existing.join(" and "),
            if existing.len() == 1 { "s" } else { "" }
        )))
    }
}

/// Runs `fadca score`.
pub fn run(args: Args) -> anyhow::Result<()> {
    args.structure
        .check_given_with(args.pdb.is_some(), "--pdb")?;
    let out_dir = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.prediction));
    let mut outputs = vec![files::SCORE_JSON, files::CONTACT_MAP_PNG];
    if args.svg {
        outputs.push(files::CONTACT_MAP_SVG);
    }
    check_overwrite(&out_dir, &outputs, args.force)?;

    let source = match (&args.pdb, &args.native_contacts) {
        (Some(pdb), _) => args.structure.source(pdb.clone(), args.chain.clone()),
        (None, Some(list)) => NativeSource::Contacts { path: list.clone() },
        (None, None) => return Err(input_error("give --pdb FILE or --native-contacts FILE")),
    };
    let prediction_files = PredictionFiles {
        prediction: args.prediction.clone(),
        format: args.format,
        rr_model: args.model_index as usize,
        msa: args.msa.clone(),
        msa_options: ReadOptions {
            format: args.msa_format,
            keep_query_gaps: args.keep_query_gaps,
            ..ReadOptions::default()
        },
    };
    let ScoredFiles {
        report,
        prediction,
        target,
    } = score_files(&prediction_files, &source, args.structure.force_mapping)?;
    print!("{}", report.render());
    let name = figure_name(&args, target.as_deref());
    let written = write_score_outputs(&out_dir, &report, &prediction, &name, args.svg)?;
    let paths: Vec<String> = written
        .iter()
        .map(|f| out_dir.join(f).display().to_string())
        .collect();
    println!("wrote {}", paths.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_adds_score_to_the_name() {
        assert_eq!(
            default_output(Path::new("predictions/x")),
            PathBuf::from("predictions/x.score")
        );
        assert_eq!(
            default_output(Path::new("predictions/x/")),
            PathBuf::from("predictions/x.score")
        );
        assert_eq!(
            default_output(Path::new("c.rr")),
            PathBuf::from("c.rr.score")
        );
    }
}
