//! Many families in one run (`fadca batch`): list the families (a folder or a
//! TSV manifest), pick this shard's share, skip the complete ones on
//! `--resume`, run `fadca predict` for each (in parallel child processes),
//! and gather one summary table (`summary.tsv`, `summary.json`,
//! `summary.png`). Shard outputs are gathered again with [`merge()`].
//!
//! # Families
//!
//! * **Folder**: every non-hidden subfolder is a family named after the
//!   subfolder, in byte order of the names. Its alignment is the file ending
//!   in one of [`crate::alignment::EXTENSIONS`] (optionally `.gz`); its structure, if
//!   any, the file ending in one of [`crate::structure::EXTENSIONS`] (optionally
//!   `.gz`; the first chain with amino acids is used). When there are several
//!   candidates of a kind, the one named after the folder (`<family>.<ext>`)
//!   is taken, else the one named `msa.<ext>` (alignments) or
//!   `structure.<ext>` (structures); if that does not settle it the family
//!   fails with an input error listing the candidates. Without a structure,
//!   a file named `contacts.tsv` (native contacts, `i j` per line, as `fadca
//!   simulate` writes it) is scored against. Hidden files are ignored.
//! * **Manifest**: a tab-separated file with a header naming the columns
//!   `name` and `msa` and optionally `structure`, `chain` and `contacts` (a
//!   list of native contacts, used when there is no structure; in any order;
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
//!
//! # Modules
//!
//! `families.rs` lists the families and shards them; `run.rs` runs them in
//! child processes (resume checks, stale temporary files, progress);
//! `row.rs` is one family's result read from its `summary.json`;
//! `summary.rs` aggregates the rows into `summary.tsv`/`.json`/`.png`;
//! `merge.rs` gathers shard outputs.
mod families;
mod merge;
mod row;
mod run;
mod summary;

use std::path::{Path, PathBuf};

pub use crate::error::ErrorKind;
pub use families::{Family, Shard, read_families, read_manifest, scan_folder};
pub use merge::merge;
pub use row::{FamilyRow, Precision, Status, Tops, complete_summary};
pub use run::{
    RunOptions, predict_in_child, progress_line, remove_stale_temps, requested_settings,
    reuse_problem, run_families,
};
pub use summary::{Aggregate, BatchSummary, TSV_COLUMNS};

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

/// The output folder of a family.
pub fn family_dir(output_dir: &Path, name: &str) -> PathBuf {
    output_dir.join(name)
}
