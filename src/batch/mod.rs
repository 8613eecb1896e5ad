//! Many families in one run (`fadca batch`): list the families (a folder or a
//! TSV manifest), pick this shard's share, skip the complete ones on
//! `--resume`, run `fadca predict` for each (in parallel child processes),
//! and gather one summary table (`summary.tsv`, `summary.json`,
//! `summary.png`). Shard outputs are gathered again with [`merge`].
//!
//! # Families
//!
//! * **Folder**: every non-hidden subfolder is a family named after the
//!   subfolder, in byte order of the names. Its alignment is the file ending
//!   in one of [`ALIGNMENT_EXTENSIONS`] (optionally `.gz`); its structure, if
//!   any, the file ending in one of [`STRUCTURE_EXTENSIONS`] (optionally
//!   `.gz`; the first chain with amino acids is used). When there are several
//!   candidates of a kind, the one named after the folder (`<family>.<ext>`)
//!   is taken, else the one named `msa.<ext>` (alignments) or
//!   `structure.<ext>` (structures); if that does not settle it the family
//!   fails with an input error listing the candidates. Hidden files are
//!   ignored.
//! * **Manifest**: a tab-separated file with a header naming the columns
//!   `name` and `msa` and optionally `structure` and `chain` (in any order;
//!   other columns are ignored). Paths are relative to the manifest's folder.
//!   An empty structure means none; an empty chain means the first chain with
//!   amino acids. Blank lines and lines starting with `#` are skipped. A bad
//!   manifest (missing column, empty or duplicate name) stops the batch
//!   before anything runs.
//!
//! # Output folder
//!
//! Family `<name>` is written to `DIR/<name>/` by `fadca predict` (the files
//! of SPEC §5, `summary.json` last) with its model in
//! `DIR/<name>/model.safetensors`, so that a batch output is self-contained;
//! `DIR/<name>/predict.log` holds what `fadca predict` printed. The batch
//! writes `DIR/summary.tsv`, `DIR/summary.json` and `DIR/summary.png` at the
//! end. Every file is written atomically; stale temporary files
//! (`.*.tmp-*`) of a killed run are removed from `DIR` and the family folders
//! before the run starts.
//!
//! # Child processes
//!
//! Each family runs in its own `fadca predict` process with `--threads T`.
//! libtorch's thread settings are process-wide, so separate processes are
//! the only way to give each parallel family its own fixed number of threads
//! (and hence the same results as a sequential run with the same `T`); they
//! also isolate the batch from a crash or an out-of-memory kill of one
//! family. On Linux the children are killed when the batch dies
//! (`PR_SET_PDEATHSIG`), so a killed batch leaves no orphan writing files.
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alignment::EXTENSIONS as ALIGNMENT_EXTENSIONS;
pub use crate::error::ErrorKind;
use crate::error::input_error;
use crate::io::write_atomic;
use crate::plot::{BatchSummaryFigure, FamilyPoint, batch_summary};
use crate::predict::files;
use crate::structure::EXTENSIONS as STRUCTURE_EXTENSIONS;

/// Files the batch writes into its output folder.
pub mod outputs {
    /// One row per family plus the aggregate rows.
    pub const SUMMARY_TSV: &str = "summary.tsv";
    /// The same with more detail.
    pub const SUMMARY_JSON: &str = "summary.json";
    /// P@L against M_eff/L.
    pub const SUMMARY_PNG: &str = "summary.png";
    /// What `fadca predict` printed, in each family folder.
    pub const PREDICT_LOG: &str = "predict.log";
    /// The model, in each family folder.
    pub const MODEL: &str = "model.safetensors";
}

/// One family to predict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Position in the full family list (0-based); shards split on it.
    pub index: usize,
    /// Family name: the name of its output folder.
    pub name: String,
    /// Alignment file (`None` when [`Family::problem`] says why).
    pub msa: Option<PathBuf>,
    /// Structure file, if any.
    pub structure: Option<PathBuf>,
    /// Chain of the structure (`None` = first chain with amino acids).
    pub chain: Option<String>,
    /// An input problem found while listing the family; it fails without running.
    pub problem: Option<String>,
}

/// Lists the families of a folder or a manifest (see the module documentation).
pub fn read_families(path: &Path) -> Result<Vec<Family>> {
    if path.is_dir() {
        scan_folder(path)
    } else if path.is_file() {
        read_manifest(path)
    } else {
        Err(input_error(format!(
            "families {}: no such folder or manifest file",
            path.display()
        )))
    }
}

/// Checks that a family name can be a folder of the batch output.
fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!(
            "family name {name:?} must be a plain folder name (not empty, no '/')"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("family name {name:?} must not start with '.'"));
    }
    if [
        outputs::SUMMARY_TSV,
        outputs::SUMMARY_JSON,
        outputs::SUMMARY_PNG,
    ]
    .contains(&name)
    {
        return Err(format!(
            "family name {name:?} is reserved for the batch summary"
        ));
    }
    Ok(())
}

/// The file name without `.gz` split into (stem, lowercase extension).
fn split_name(path: &Path) -> Option<(String, String)> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let name = if lower.ends_with(".gz") {
        &name[..name.len() - 3]
    } else {
        name
    };
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()).then(|| (stem.to_string(), ext.to_ascii_lowercase()))
}

/// Picks one file among `candidates` (see the module documentation).
fn pick(
    mut candidates: Vec<PathBuf>,
    family: &str,
    generic: &str,
    what: &str,
    dir: &Path,
) -> std::result::Result<Option<PathBuf>, String> {
    if candidates.len() <= 1 {
        return Ok(candidates.pop());
    }
    let stem_is = |p: &PathBuf, s: &str| split_name(p).is_some_and(|(stem, _)| stem == s);
    for preferred in [family, generic] {
        let named: Vec<&PathBuf> = candidates
            .iter()
            .filter(|p| stem_is(p, preferred))
            .collect();
        if named.len() == 1 {
            return Ok(Some(named[0].clone()));
        }
    }
    let names: Vec<String> = candidates
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Err(format!(
        "family folder {}: several {what} files ({}); keep one, or name the one to use {family}.<ext> or {generic}.<ext>",
        dir.display(),
        names.join(", ")
    ))
}

/// Lists the families of a folder: one per non-hidden subfolder.
pub fn scan_folder(dir: &Path) -> Result<Vec<Family>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| input_error(format!("families folder {}: {e}", dir.display())))?;
    let mut folders = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| input_error(format!("families folder {}: {e}", dir.display())))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(input_error(format!(
                "families folder {}: {:?} is not a UTF-8 name",
                dir.display(),
                entry.file_name()
            )));
        };
        if name.starts_with('.') || !path.is_dir() {
            continue;
        }
        folders.push((name, path));
    }
    folders.sort();
    let mut families = Vec::with_capacity(folders.len());
    for (index, (name, path)) in folders.into_iter().enumerate() {
        let mut family = Family {
            index,
            name: name.clone(),
            msa: None,
            structure: None,
            chain: None,
            problem: None,
        };
        match folder_files(&name, &path) {
            Ok((msa, structure)) => {
                family.msa = Some(msa);
                family.structure = structure;
            }
            Err(problem) => family.problem = Some(problem),
        }
        if let Err(problem) = check_name(&name) {
            family.problem = Some(problem);
        }
        families.push(family);
    }
    Ok(families)
}

/// The alignment and optional structure of one family folder.
fn folder_files(name: &str, dir: &Path) -> std::result::Result<(PathBuf, Option<PathBuf>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    let of_kind = |exts: &[&str]| -> Vec<PathBuf> {
        files
            .iter()
            .filter(|p| split_name(p).is_some_and(|(_, ext)| exts.contains(&ext.as_str())))
            .cloned()
            .collect()
    };
    let msa = pick(
        of_kind(&ALIGNMENT_EXTENSIONS),
        name,
        "msa",
        "alignment",
        dir,
    )?;
    let structure = pick(
        of_kind(&STRUCTURE_EXTENSIONS),
        name,
        "structure",
        "structure",
        dir,
    )?;
    let msa = msa.ok_or_else(|| {
        format!(
            "family folder {}: no alignment file (*.{}, optionally .gz)",
            dir.display(),
            ALIGNMENT_EXTENSIONS.join(", *.")
        )
    })?;
    Ok((msa, structure))
}

/// Reads a TSV manifest (see the module documentation).
pub fn read_manifest(path: &Path) -> Result<Vec<Family>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| input_error(format!("manifest {}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(input_error(format!(
            "manifest {}: empty (expected a header with the columns name and msa)",
            path.display()
        )));
    };
    let columns: Vec<&str> = header.split('\t').map(str::trim).collect();
    let column = |name: &str| columns.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (Some(name_col), Some(msa_col)) = (column("name"), column("msa")) else {
        return Err(input_error(format!(
            "manifest {}, line {header_line}: the header must name the columns name and msa (tab-separated); found {:?}",
            path.display(),
            columns
        )));
    };
    let (structure_col, chain_col) = (column("structure"), column("chain"));
    let mut families: Vec<Family> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line_no, line) in lines {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let field = |col: Option<usize>| {
            col.and_then(|c| fields.get(c).copied())
                .filter(|f| !f.is_empty())
        };
        let at = || format!("manifest {}, line {line_no}", path.display());
        let name = field(Some(name_col))
            .ok_or_else(|| input_error(format!("{}: the name is empty", at())))?;
        check_name(name).map_err(|e| input_error(format!("{}: {e}", at())))?;
        if let Some(first) = seen.insert(name.to_string(), line_no) {
            return Err(input_error(format!(
                "{}: family {name:?} is already on line {first}",
                at()
            )));
        }
        let msa = field(Some(msa_col))
            .ok_or_else(|| input_error(format!("{}: the msa of {name:?} is empty", at())))?;
        families.push(Family {
            index: families.len(),
            name: name.to_string(),
            msa: Some(resolve(msa)),
            structure: field(structure_col).map(resolve),
            chain: field(chain_col).map(str::to_string),
            problem: None,
        });
    }
    Ok(families)
}

/// Shard `K/N` of a batch: the families whose index `i` (0-based, in list
/// order) has `i mod N == K − 1`. The N shards are disjoint and cover every
/// family; `K` is 1-based like a Slurm array task id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=N.
    pub k: usize,
    /// Number of shards.
    pub n: usize,
}

impl Shard {
    /// True when family `index` belongs to this shard.
    pub fn contains(&self, index: usize) -> bool {
        index % self.n == self.k - 1
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("shard {s:?}: expected K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// Outcome of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Predicted in this run.
    Ok,
    /// Complete from an earlier run (`--resume`); its results were read back.
    Skipped,
    /// Failed; see the error.
    Failed,
}

impl Status {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// Precision at top L, L/2 and L/5 of one separation class.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Tops {
    /// Top L.
    #[serde(rename = "L")]
    pub l: Option<f64>,
    /// Top L/2.
    #[serde(rename = "L/2")]
    pub l2: Option<f64>,
    /// Top L/5.
    #[serde(rename = "L/5")]
    pub l5: Option<f64>,
}

impl Tops {
    fn values(&self) -> [Option<f64>; 3] {
        [self.l, self.l2, self.l5]
    }

    fn from_values(v: [Option<f64>; 3]) -> Tops {
        Tops {
            l: v[0],
            l2: v[1],
            l5: v[2],
        }
    }
}

/// The precision of a scored family: all pairs with |i − j| ≥ 6 and long
/// range |i − j| ≥ 24.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Precision {
    /// |i − j| ≥ 6.
    pub all: Tops,
    /// |i − j| ≥ 24.
    pub long: Tops,
}

impl Precision {
    fn values(&self) -> [Option<f64>; 6] {
        let [a, b, c] = self.all.values();
        let [d, e, f] = self.long.values();
        [a, b, c, d, e, f]
    }

    fn from_values(v: [Option<f64>; 6]) -> Precision {
        Precision {
            all: Tops::from_values([v[0], v[1], v[2]]),
            long: Tops::from_values([v[3], v[4], v[5]]),
        }
    }
}

/// One row of the batch summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRow {
    /// Position in the full family list (0-based), when known.
    pub index: Option<usize>,
    /// Family name.
    pub name: String,
    /// ok, skipped or failed.
    pub status: Status,
    /// Error message of a failed family.
    pub error: Option<String>,
    /// Kind of the error of a failed family.
    pub error_kind: Option<ErrorKind>,
    /// The family's output folder.
    pub dir: Option<String>,
    /// Alignment file.
    pub msa: Option<String>,
    /// Structure file, when scored against one.
    pub structure: Option<String>,
    /// Chain scored against.
    pub chain: Option<String>,
    /// Sequences read.
    pub n_read: Option<usize>,
    /// Sequences kept.
    pub n_kept: Option<usize>,
    /// Query length L.
    #[serde(rename = "L")]
    pub length: Option<usize>,
    /// Effective number of sequences.
    pub meff: Option<f64>,
    /// M_eff / L.
    pub meff_per_l: Option<f64>,
    /// Model kind.
    pub model: Option<String>,
    /// Wall seconds: the `fadca predict` run (its `timings.total`), or the
    /// failed attempt.
    pub wall_s: Option<f64>,
    /// Precision, when scored.
    pub precision: Option<Precision>,
}

impl FamilyRow {
    /// A failed row.
    pub fn failed(family: &Family, kind: ErrorKind, error: String, dir: &Path) -> FamilyRow {
        FamilyRow {
            index: Some(family.index),
            name: family.name.clone(),
            status: Status::Failed,
            error: Some(error),
            error_kind: Some(kind),
            dir: Some(dir.display().to_string()),
            msa: family.msa.as_ref().map(|p| p.display().to_string()),
            structure: family.structure.as_ref().map(|p| p.display().to_string()),
            chain: family.chain.clone(),
            n_read: None,
            n_kept: None,
            length: None,
            meff: None,
            meff_per_l: None,
            model: None,
            wall_s: None,
            precision: None,
        }
    }

    /// The row of a complete family from its `summary.json`.
    pub fn from_summary(
        summary: &Value,
        index: Option<usize>,
        status: Status,
        dir: &Path,
    ) -> std::result::Result<FamilyRow, String> {
        let need = |key: &str| {
            summary
                .get(key)
                .filter(|v| !v.is_null())
                .ok_or_else(|| format!("{} lacks {key:?}", dir.join(files::SUMMARY_JSON).display()))
        };
        let usize_of = |key: &str| -> std::result::Result<usize, String> {
            need(key)?
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| format!("{key} is not a count"))
        };
        let name = need("name")?.as_str().unwrap_or_default().to_string();
        let length = usize_of("length")?;
        let meff = need("meff")?.as_f64().ok_or("meff is not a number")?;
        let source = summary.get("native_source");
        let structure = source
            .filter(|s| s.get("kind").and_then(Value::as_str) == Some("structure"))
            .and_then(|s| s.get("path"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let chain = source
            .and_then(|s| s.get("chain"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let precision = summary.get("precision").filter(|p| p.is_object()).map(|p| {
            let cell = |class: &str, top: &str| {
                p.get(class)
                    .and_then(|c| c.get(top))
                    .and_then(Value::as_f64)
            };
            let tops = |class: &str| Tops {
                l: cell(class, "L"),
                l2: cell(class, "L/2"),
                l5: cell(class, "L/5"),
            };
            Precision {
                all: tops("all"),
                long: tops("long"),
            }
        });
        Ok(FamilyRow {
            index,
            name,
            status,
            error: None,
            error_kind: None,
            dir: Some(dir.display().to_string()),
            msa: summary
                .pointer("/msa/path")
                .and_then(Value::as_str)
                .map(str::to_string),
            structure,
            chain,
            n_read: Some(usize_of("n_read")?),
            n_kept: Some(usize_of("n_kept")?),
            length: Some(length),
            meff: Some(meff),
            meff_per_l: (length > 0).then(|| meff / length as f64),
            model: summary
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_string),
            wall_s: summary.pointer("/timings/total").and_then(Value::as_f64),
            precision,
        })
    }
}

/// The `summary.json` of a family folder when it is complete (parses as a
/// `fadca predict` summary with status `ok` and every file it lists as
/// written is there),
/// else `None`.
pub fn complete_summary(dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(files::SUMMARY_JSON)).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    // A diverged run also writes a summary.json (status "diverged"): not complete.
    let ok = value.get("status").and_then(Value::as_str) == Some("ok");
    let complete = ok
        && ["name", "length", "meff", "n_read", "n_kept", "model"]
            .iter()
            .all(|k| value.get(k).is_some_and(|v| !v.is_null()));
    // Every file it lists is still there.
    let outputs = value.get("outputs").and_then(Value::as_array)?;
    let present = outputs
        .iter()
        .all(|f| f.as_str().is_some_and(|f| dir.join(f).is_file()));
    (complete && present).then_some(value)
}

/// Why a complete family from an earlier run cannot be reused for this
/// one, or `None` when it can: its name, its hyper-parameters
/// (`expected`, as `summary.json` records them) and whether it was scored
/// must match.
pub fn reuse_problem(summary: &Value, family: &Family, expected: Option<&Value>) -> Option<String> {
    if summary.get("name").and_then(Value::as_str) != Some(family.name.as_str()) {
        return Some("its summary.json names another family".into());
    }
    if let Some(expected) = expected
        && summary.get("requested_hyperparameters") != Some(expected)
    {
        return Some("its hyper-parameters differ from this run's".into());
    }
    let scored = summary.get("precision").is_some_and(|p| !p.is_null());
    if scored != family.structure.is_some() {
        return Some(if scored {
            "it was scored, but this run has no structure for it".into()
        } else {
            "it was not scored, but this run has a structure for it".into()
        });
    }
    None
}

/// Removes stale temporary files (`.<name>.tmp-<pid>`, left by a killed
/// [`write_atomic`]) from `dir`; returns how many. A missing folder has none.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") && entry.path().is_file() {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing the stale {}", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The output folder of a family.
pub fn family_dir(output_dir: &Path, name: &str) -> PathBuf {
    output_dir.join(name)
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The batch output folder.
    pub output_dir: PathBuf,
    /// Families predicted at the same time (at least 1).
    pub jobs: usize,
    /// Skip families whose folder holds a complete, reusable `summary.json`.
    pub resume: bool,
    /// The hyper-parameters as `summary.json` records them, to check that a
    /// complete family can be reused.
    pub hyperparameters: Option<Value>,
}

/// Runs the families: lists failed and (with `resume`) reusable ones first,
/// then runs `predict` on the others, `options.jobs` at a time. `on_row` is
/// called (on the calling thread) as each family is done, with the number
/// done so far and the total. Returns the rows in family order. Stale
/// temporary files are removed from the output folder and the family
/// folders before anything runs.
pub fn run_families(
    families: &[Family],
    options: &RunOptions,
    predict: &(dyn Fn(&Family, &Path) -> FamilyRow + Sync),
    on_row: &mut dyn FnMut(&FamilyRow, usize, usize),
) -> Result<Vec<FamilyRow>> {
    let out = &options.output_dir;
    std::fs::create_dir_all(out)
        .map_err(|e| input_error(format!("cannot create folder {}: {e}", out.display())))?;
    remove_stale_temps(out)?;
    for family in families {
        remove_stale_temps(&family_dir(out, &family.name))?;
    }
    let total = families.len();
    let mut rows = Vec::with_capacity(total);
    let mut queue = Vec::new();
    for family in families {
        let dir = family_dir(out, &family.name);
        let row = if let Some(problem) = &family.problem {
            Some(FamilyRow::failed(
                family,
                ErrorKind::Input,
                problem.clone(),
                &dir,
            ))
        } else if options.resume {
            complete_summary(&dir)
                .filter(|s| reuse_problem(s, family, options.hyperparameters.as_ref()).is_none())
                .and_then(|s| {
                    FamilyRow::from_summary(&s, Some(family.index), Status::Skipped, &dir).ok()
                })
        } else {
            None
        };
        match row {
            Some(row) => {
                on_row(&row, rows.len() + 1, total);
                rows.push(row);
            }
            None => queue.push(family),
        }
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<FamilyRow>();
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1).min(queue.len()) {
            let tx = tx.clone();
            let (next, queue) = (&next, &queue);
            scope.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(family) = queue.get(k) else { break };
                    let row = predict(family, &family_dir(out, &family.name));
                    if tx.send(row).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for row in rx {
            on_row(&row, rows.len() + 1, total);
            rows.push(row);
        }
    });
    rows.sort_by_key(|r| r.index);
    Ok(rows)
}

/// Runs one family in a child process (`program args…`, normally
/// `fadca predict … -o DIR`), saves what it printed to
/// `DIR/predict.log` and reads its row back from `DIR/summary.json`. Exit
/// code 2 is an input error; any other failure (exit code, signal, a
/// missing summary) an internal one. The error is the child's last line
/// on stderr.
pub fn predict_in_child(
    family: &Family,
    program: &Path,
    args: &[OsString],
    dir: &Path,
) -> FamilyRow {
    let start = Instant::now();
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut command);
    let fail = |kind, error: String| {
        let mut row = FamilyRow::failed(family, kind, error, dir);
        row.wall_s = Some(start.elapsed().as_secs_f64());
        row
    };
    let output = match command.output() {
        Ok(o) => o,
        Err(e) => {
            return fail(
                ErrorKind::Internal,
                format!("cannot run {}: {e}", program.display()),
            );
        }
    };
    if dir.is_dir() || std::fs::create_dir_all(dir).is_ok() {
        let _ = write_atomic(&dir.join(outputs::PREDICT_LOG), |w| {
            w.write_all(&output.stdout)?;
            w.write_all(&output.stderr)?;
            Ok(())
        });
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        let message = last
            .map(|l| l.trim().trim_start_matches("fadca: error: ").to_string())
            .unwrap_or_default();
        let kind = ErrorKind::of_exit_code(output.status.code());
        let message = match (output.status.code(), message.is_empty()) {
            (Some(_), false) => message,
            (Some(code), true) => format!("fadca predict exited with code {code}"),
            (None, _) => format!(
                "fadca predict was killed ({})",
                describe_signal(&output.status)
            ),
        };
        return fail(kind, message);
    }
    match complete_summary(dir) {
        Some(summary) => FamilyRow::from_summary(&summary, Some(family.index), Status::Ok, dir)
            .unwrap_or_else(|e| fail(ErrorKind::Internal, e)),
        None => fail(
            ErrorKind::Internal,
            format!(
                "fadca predict succeeded but {} is missing",
                dir.join(files::SUMMARY_JSON).display()
            ),
        ),
    }
}

#[cfg(unix)]
fn describe_signal(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(9) => "signal 9, SIGKILL: out of memory?".into(),
        Some(s) => format!("signal {s}"),
        None => "no exit code".into(),
    }
}

#[cfg(not(unix))]
fn describe_signal(_: &std::process::ExitStatus) -> String {
    "no exit code".into()
}

/// On Linux: the child gets SIGKILL when the thread that started it (and so
/// the batch) dies, so a killed batch leaves no orphans writing files.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, raise) between
    // fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

/// Counts and mean/median precision over the scored families.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Families in the summary.
    pub families: usize,
    /// Predicted in this run.
    pub ok: usize,
    /// Reused from an earlier run.
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
    /// Of those, for bad input.
    pub failed_input: usize,
    /// Scored families (ok or skipped, with a precision).
    pub scored: usize,
    /// Mean precision per cell over the scored families with a value.
    pub mean: Option<Precision>,
    /// Median precision per cell.
    pub median: Option<Precision>,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

impl Aggregate {
    /// Aggregates rows.
    pub fn of(rows: &[FamilyRow]) -> Aggregate {
        let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
        let scored: Vec<[Option<f64>; 6]> = rows
            .iter()
            .filter(|r| r.status != Status::Failed)
            .filter_map(|r| r.precision.map(|p| p.values()))
            .collect();
        let column = |c: usize| -> Vec<f64> { scored.iter().filter_map(|v| v[c]).collect() };
        let stat = |f: fn(&[f64]) -> Option<f64>| {
            (!scored.is_empty())
                .then(|| Precision::from_values(std::array::from_fn(|c| f(&column(c)))))
        };
        Aggregate {
            families: rows.len(),
            ok: count(Status::Ok),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            failed_input: rows
                .iter()
                .filter(|r| r.status == Status::Failed && r.error_kind == Some(ErrorKind::Input))
                .count(),
            scored: scored.len(),
            mean: stat(mean),
            median: stat(median),
        }
    }
}

/// What `summary.json` of a batch holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// fadca version.
    pub fadca_version: String,
    /// The families folder or manifest (a batch run).
    pub families_source: Option<String>,
    /// This shard, `K/N` (a sharded batch run).
    pub shard: Option<String>,
    /// The folders merged (`fadca batch --merge`).
    pub merged_from: Option<Vec<String>>,
    /// The batch output folder.
    pub output_dir: String,
    /// Training hyper-parameters of a batch run, as each family records them.
    pub hyperparameters: Option<Value>,
    /// Counts and mean/median precision.
    pub aggregate: Aggregate,
    /// One row per family, in family order.
    pub families: Vec<FamilyRow>,
}

impl BatchSummary {
    /// A summary of `rows` (the aggregate is computed here).
    pub fn new(rows: Vec<FamilyRow>, output_dir: &Path) -> BatchSummary {
        BatchSummary {
            fadca_version: env!("CARGO_PKG_VERSION").into(),
            families_source: None,
            shard: None,
            merged_from: None,
            output_dir: output_dir.display().to_string(),
            hyperparameters: None,
            aggregate: Aggregate::of(&rows),
            families: rows,
        }
    }

    /// Writes `summary.tsv`, `summary.json` and `summary.png` into `dir`,
    /// each atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| input_error(format!("cannot create folder {}: {e}", dir.display())))?;
        write_atomic(&dir.join(outputs::SUMMARY_TSV), |w| {
            w.write_all(self.to_tsv().as_bytes())?;
            Ok(())
        })?;
        write_atomic(&dir.join(outputs::SUMMARY_JSON), |w| {
            serde_json::to_writer_pretty(&mut *w, self)?;
            w.write_all(b"\n")?;
            Ok(())
        })?;
        batch_summary::write_png(&dir.join(outputs::SUMMARY_PNG), &self.figure())
    }

    /// What `summary.png` shows: P@L against M_eff/L of the scored
    /// families (those with both), and the counts and mean/median P@L of
    /// the aggregate.
    pub fn figure(&self) -> BatchSummaryFigure {
        let p_at_l = |p: Option<Precision>| p.and_then(|p| p.all.l);
        BatchSummaryFigure {
            points: self
                .families
                .iter()
                .filter(|r| r.status != Status::Failed)
                .filter_map(|r| {
                    Some(FamilyPoint {
                        name: r.name.clone(),
                        meff_per_l: r.meff_per_l?,
                        precision_at_l: r.precision?.all.l?,
                    })
                })
                .collect(),
            scored: self.aggregate.scored,
            families: self.aggregate.families,
            mean_precision_at_l: p_at_l(self.aggregate.mean),
            median_precision_at_l: p_at_l(self.aggregate.median),
        }
    }

    /// The TSV table: a header, one row per family, then the `(mean)` and
    /// `(median)` rows over the scored families (status `aggregate`).
    /// Missing values are `NA`.
    pub fn to_tsv(&self) -> String {
        let mut out = TSV_COLUMNS.join("\t");
        out.push('\n');
        let na = || "NA".to_string();
        let num = |v: Option<f64>, digits: usize| v.map_or_else(na, |x| format!("{x:.digits$}"));
        let int = |v: Option<usize>| v.map_or_else(na, |x| x.to_string());
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let precision = |p: Option<Precision>| -> Vec<String> {
            match p {
                Some(p) => p.values().iter().map(|v| num(*v, 4)).collect(),
                None => vec![na(); 6],
            }
        };
        for r in &self.families {
            let mut fields = vec![
                clean(&r.name),
                r.status.name().to_string(),
                int(r.n_read),
                int(r.n_kept),
                int(r.length),
                num(r.meff, 1),
                num(r.meff_per_l, 3),
                r.model.clone().unwrap_or_else(na),
                num(r.wall_s, 1),
            ];
            fields.extend(precision(r.precision));
            fields.push(r.error.as_deref().map_or_else(String::new, clean));
            out.push_str(&fields.join("\t"));
            out.push('\n');
        }
        let a = &self.aggregate;
        for (label, p) in [("(mean)", a.mean), ("(median)", a.median)] {
            let mut fields = vec![label.to_string(), "aggregate".to_string()];
            fields.extend(std::iter::repeat_n(na(), 7));
            fields.extend(precision(p));
            fields.push(format!(
                "over {} scored of {} families",
                a.scored, a.families
            ));
            out.push_str(&fields.join("\t"));
            out.push('\n');
        }
        out
    }
}

/// Columns of `summary.tsv`.
pub const TSV_COLUMNS: [&str; 16] = [
    "name",
    "status",
    "n_read",
    "n_kept",
    "L",
    "M_eff",
    "M_eff/L",
    "model",
    "wall_s",
    "P@L",
    "P@L/2",
    "P@L/5",
    "long_P@L",
    "long_P@L/2",
    "long_P@L/5",
    "error",
];

/// Gathers the results of several batch output folders (e.g. the shards of
/// one batch) into one list of rows. In each folder, every subfolder with a
/// complete `summary.json` gives a row read from it; the folder's own
/// `summary.json` (when a batch finished there) adds the failed families and
/// each family's position and status. Rows are in family order (families
/// without a known position last, by name). A family found in two folders
/// is an input error.
pub fn merge(dirs: &[PathBuf]) -> Result<Vec<FamilyRow>> {
    let mut rows: Vec<FamilyRow> = Vec::new();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(input_error(format!(
                "--merge {}: no such folder",
                dir.display()
            )));
        }
        let batch_path = dir.join(outputs::SUMMARY_JSON);
        let batch: Option<BatchSummary> = if batch_path.is_file() {
            let text = std::fs::read_to_string(&batch_path)
                .map_err(|e| input_error(format!("{}: {e}", batch_path.display())))?;
            Some(serde_json::from_str(&text).map_err(|e| {
                input_error(format!(
                    "{}: not a fadca batch summary ({e})",
                    batch_path.display()
                ))
            })?)
        } else {
            None
        };
        let listed: HashMap<&str, &FamilyRow> = batch
            .iter()
            .flat_map(|b| b.families.iter())
            .map(|r| (r.name.as_str(), r))
            .collect();
        let mut names: Vec<String> = batch
            .iter()
            .flat_map(|b| b.families.iter().map(|r| r.name.clone()))
            .collect();
        let mut subfolders: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| input_error(format!("--merge {}: {e}", dir.display())))?
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.') && !listed.contains_key(n.as_str()))
            .collect();
        subfolders.sort();
        names.extend(subfolders);
        let mut found_any = false;
        for name in names {
            let fdir = family_dir(dir, &name);
            let listed_row = listed.get(name.as_str()).copied();
            let row = match complete_summary(&fdir) {
                Some(summary) => {
                    let status = match listed_row.map(|r| r.status) {
                        Some(Status::Skipped) => Status::Skipped,
                        _ => Status::Ok,
                    };
                    let index = listed_row.and_then(|r| r.index);
                    FamilyRow::from_summary(&summary, index, status, &fdir).map_err(input_error)?
                }
                None => match listed_row {
                    Some(r) if r.status == Status::Failed => r.clone(),
                    Some(r) => {
                        let mut r = r.clone();
                        r.status = Status::Failed;
                        r.error_kind = Some(ErrorKind::Internal);
                        r.error = Some(format!(
                            "{} is missing or incomplete",
                            fdir.join(files::SUMMARY_JSON).display()
                        ));
                        r.precision = None;
                        r
                    }
                    None => continue, // a subfolder that holds no family result
                },
            };
            found_any = true;
            if let Some(first) = seen.insert(name.clone(), dir.clone()) {
                return Err(input_error(format!(
                    "--merge: family {name:?} is in both {} and {}",
                    first.display(),
                    dir.display()
                )));
            }
            rows.push(row);
        }
        if !found_any {
            return Err(input_error(format!(
                "--merge {}: no family results (no batch summary.json and no subfolder with a complete summary.json)",
                dir.display()
            )));
        }
    }
    rows.sort_by(|a, b| match (a.index, b.index) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
    Ok(rows)
}

/// One progress line: `[3/20] PF00013 ok 4.1 s P@L 0.46`.
pub fn progress_line(row: &FamilyRow, done: usize, total: usize) -> String {
    let mut line = format!("[{done}/{total}] {} {}", row.name, row.status.name());
    if let Some(w) = row.wall_s {
        line.push_str(&format!(" {w:.1} s"));
    }
    if let Some(p) = row.precision.and_then(|p| p.all.l) {
        line.push_str(&format!(" P@L {p:.2}"));
    }
    if let Some(e) = &row.error {
        line.push_str(&format!(": {e}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover() {
        let n = 3;
        let shards: Vec<Shard> = (1..=n)
            .map(|k| format!("{k}/{n}").parse().unwrap())
            .collect();
        for i in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.contains(i)).count(), 1);
        }
        assert!(shards[0].contains(0) && shards[0].contains(3));
        assert!(shards[2].contains(2) && !shards[2].contains(3));
        for bad in ["0/3", "4/3", "1/0", "a/3", "3", "1/3/4", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/8".parse::<Shard>().unwrap().to_string(), "2/8");
    }

    #[test]
    fn median_and_mean() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }

    #[test]
    fn picking_among_several_files() {
        let dir = Path::new("fam");
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(pick(vec![], "fam", "msa", "alignment", dir), Ok(None));
        assert_eq!(
            pick(vec![p("x.fa")], "fam", "msa", "alignment", dir),
            Ok(Some(p("x.fa")))
        );
        assert_eq!(
            pick(
                vec![p("a.fa"), p("fam.a3m.gz"), p("msa.sto")],
                "fam",
                "msa",
                "alignment",
                dir
            ),
            Ok(Some(p("fam.a3m.gz")))
        );
        assert_eq!(
            pick(
                vec![p("a.fa"), p("msa.sto")],
                "fam",
                "msa",
                "alignment",
                dir
            ),
            Ok(Some(p("msa.sto")))
        );
        let err = pick(vec![p("a.fa"), p("b.fa")], "fam", "msa", "alignment", dir).unwrap_err();
        assert!(err.contains("a.fa, b.fa"), "{err}");
    }

    #[test]
    fn names_split_without_gz() {
        assert_eq!(
            split_name(Path::new("d/PF1.A3M.gz")),
            Some(("PF1".into(), "a3m".into()))
        );
        assert_eq!(split_name(Path::new("noext")), None);
        assert_eq!(split_name(Path::new(".fa")), None);
    }
}
