//! Writing a prediction's folder (stages **write** and **score**, then
//! `summary.json` and the move into place): the one writer of
//! [`super::run_prediction_with`] and [`super::save_prediction`], so that
//! a prediction computed in memory and saved later gives the files
//! `fadca predict` writes, byte for byte (timings aside).
//!
//! [`prepare`] takes the folder before anything is written (its lock, the
//! ownership check, the staged folder); `fadca predict` calls it before
//! training so that a folder in use or refused fails early. [`write`]
//! fills the stage and publishes it.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use super::{
    Native, PredictOutcome, PredictRequest, PredictionSummary, Timings, Trained, Weighed, files,
    model_metadata, owner, summarise, summary, timed,
};
use crate::alignment::Alignment;
use crate::contacts::{Prediction, Provenance, write_contact_files};
use crate::couplings::{couplings_npy_bytes, write_couplings_npy};
use crate::error::input_error;
use crate::io::{FolderLock, StagedFolder, create_dir, write_atomic};
use crate::model::memory::human_bytes;
use crate::score::{ScoreReport, score_with_native, write_score_outputs};

/// Where a run writes: its output folder, locked for the run and written
/// as a whole ([`StagedFolder`]), and its model file, written into the stage
/// too and moved into place with it, so that a failed run changes neither.
pub(super) struct Output {
    _lock: FolderLock,
    stage: StagedFolder,
    /// Where the model is written during the run (inside the stage).
    model_path: PathBuf,
    /// Where the model goes when the run publishes, if outside the folder.
    model_elsewhere: Option<PathBuf>,
}

/// The stage's hidden subfolder holding a model file that goes elsewhere.
const STAGED_MODEL_DIR: &str = ".model";

impl Output {
    /// Moves the run's files into place (the run is complete): the model
    /// file (when it lives outside the folder), then the folder as a whole.
    fn publish(self) -> Result<()> {
        if let Some(target) = &self.model_elsewhere {
            move_file(&self.model_path, target)?;
            let _ = std::fs::remove_dir(self.stage.path().join(STAGED_MODEL_DIR));
        }
        self.stage.publish()
    }
}

/// Moves a file into place atomically: a rename, or across file systems a
/// copy written with [`write_atomic`].
fn move_file(from: &Path, to: &Path) -> Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_atomic(to, |w| Ok(w.write_all(&bytes)?))?;
    let _ = std::fs::remove_file(from);
    Ok(())
}

/// Prepares the output before training: creates the folders around it,
/// takes the output folder's lock (a second run into it fails at once),
/// refuses to replace a prediction made from another input (unless
/// `--force`), and starts the staged folder the run's files go into.
pub(super) fn prepare(request: &PredictRequest, msa_sha256: &str, length: usize) -> Result<Output> {
    let dir = &request.output_dir;
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir(parent)?;
    }
    let lock = FolderLock::acquire(dir)?;
    let in_folder = request
        .model_path
        .strip_prefix(dir)
        .ok()
        .map(Path::to_path_buf);
    if !request.force {
        owner::check_folder(dir, &request.msa, msa_sha256)?;
        if in_folder.is_none() {
            owner::check_model_file(&request.model_path, &request.msa, msa_sha256)?;
        }
    }
    if in_folder.is_none()
        && let Some(parent) = request.model_path.parent()
        && !parent.as_os_str().is_empty()
    {
        create_dir(parent)?;
    }
    let stage = StagedFolder::new(dir)?;
    if request.save_couplings {
        check_couplings_space(stage.path(), length)?;
    }
    let (model_path, model_elsewhere) = match &in_folder {
        Some(relative) => (stage.path().join(relative), None),
        None => {
            let name = request.model_path.file_name().with_context(|| {
                format!(
                    "--model-out {} has no file name",
                    request.model_path.display()
                )
            })?;
            let staged = stage.path().join(STAGED_MODEL_DIR).join(name);
            (staged, Some(request.model_path.clone()))
        }
    };
    if let Some(parent) = model_path.parent() {
        create_dir(parent)?;
    }
    Ok(Output {
        _lock: lock,
        stage,
        model_path,
        model_elsewhere,
    })
}

/// Refuses `--save-couplings` before training when `couplings.npy`
/// (`L²·21²` float32 values, written row by row: the memory is never the
/// limit, the disk is) would not fit in the space free where the output
/// folder is staged.
fn check_couplings_space(stage: &Path, length: usize) -> Result<()> {
    let needed = couplings_npy_bytes(length);
    let Some(free) = free_bytes(stage) else {
        return Ok(());
    };
    if needed > free {
        return Err(input_error(format!(
            "--save-couplings: couplings.npy would take {} (L = {length}: L x L x 21 x 21 \
             float32) but only {} is free on {}; leave out --save-couplings (the contact \
             files do not need it) or write the output elsewhere (-o DIR)",
            human_bytes(needed),
            human_bytes(free),
            stage.display()
        )));
    }
    Ok(())
}

/// Bytes free for an unprivileged user on the file system holding `path`
/// (`statvfs`); `None` when it cannot be found out.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a
    // buffer statvfs fills on success (checked before it is read).
    let status = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so `stat` is filled.
    let stat = unsafe { stat.assume_init() };
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// When training diverged for good (`err` an [`crate::error::Error::Diverged`]),
/// publishes the run's folder with a `summary.json` that says so (its only
/// file); returns the error to report (`err`, or a failure to write).
pub(super) fn record_divergence(
    request: &PredictRequest,
    weighed: &Weighed,
    output: Output,
    err: anyhow::Error,
) -> anyhow::Error {
    let path = output.stage.path().join(files::SUMMARY_JSON);
    let alignment = &weighed.alignment;
    match summary::write_diverged_summary(&path, request, alignment, &weighed.msa_sha256, &err) {
        Ok(true) => match output.publish() {
            Ok(()) => err,
            Err(e) => e,
        },
        Ok(false) => err,
        Err(e) => e,
    }
}

/// Writes `trained` into the prepared `output` and publishes it: the model
/// file, the contact files, `couplings.npy`, the score files (with
/// `native`) and `summary.json`, last. `timings` are recorded with this
/// stage's seconds added; `total` is `before` plus the seconds since
/// `started`.
pub(super) fn write(
    request: &PredictRequest,
    output: Output,
    trained: &Trained,
    mut timings: Timings,
    native: Option<Native>,
    started: Instant,
    before: f64,
) -> Result<PredictOutcome> {
    let weighed = &trained.weighed;
    let prediction = &trained.prediction;
    let mut outputs = timed(&mut timings.write, || {
        write_files(request, &output, trained)
    })?;
    let score = timed(&mut timings.score, || {
        score(
            request,
            &output,
            &weighed.alignment,
            prediction,
            native,
            &mut outputs,
        )
    })?;
    outputs.push(files::SUMMARY_JSON.into());
    timings.total = before + started.elapsed().as_secs_f64();

    let summary = summarise(
        request,
        &trained.choice,
        weighed,
        &trained.report,
        timings,
        outputs,
        prediction,
        score.as_ref(),
    );
    write_summary(&output.stage.path().join(files::SUMMARY_JSON), &summary)?;
    output.publish()?;
    Ok(PredictOutcome {
        summary,
        prediction: prediction.clone(),
        score,
    })
}

/// Stage **write**: the model file, the contact files and `couplings.npy`;
/// returns the names of the files written into the output folder.
fn write_files(
    request: &PredictRequest,
    output: &Output,
    trained: &Trained,
) -> Result<Vec<String>> {
    let dir = output.stage.path();
    let weighed = &trained.weighed;
    let alignment = &weighed.alignment;
    trained.model.save(
        &output.model_path,
        model_metadata(
            alignment,
            &weighed.msa_sha256,
            &request.config,
            &request.name,
        ),
    )?;
    let provenance = Provenance {
        target: &request.name,
        model: request.config.model,
        sequence: Some(&alignment.query_sequence),
    };
    let mut outputs = write_contact_files(dir, &trained.prediction, &provenance, &request.lists)?;
    if request.save_couplings {
        // Row by row: no L×L×q×q array in memory.
        write_atomic(&dir.join(files::COUPLINGS_NPY), |w| {
            write_couplings_npy(&trained.model, w)
        })?;
        outputs.push(files::COUPLINGS_NPY.into());
    }
    Ok(outputs)
}

/// Stage **score**: with known contacts, the precision table, `score.json`
/// and `contact_map.png` as `fadca score` writes them.
fn score(
    request: &PredictRequest,
    output: &Output,
    alignment: &Alignment,
    prediction: &Prediction,
    native: Option<Native>,
    outputs: &mut Vec<String>,
) -> Result<Option<ScoreReport>> {
    let Some((native, mapping, source, sha256)) = native else {
        return Ok(None);
    };
    let mut report = score_with_native(prediction, native, mapping, source);
    report.native_sha256 = Some(sha256);
    report.record_inputs(
        Some(&request.output_dir.join(files::CONTACTS_TSV)),
        &request.msa,
        request.read_options.keep_query_gaps,
        alignment.query_name(),
    );
    outputs.extend(write_score_outputs(
        output.stage.path(),
        &report,
        prediction,
        &request.name,
        request.svg,
    )?);
    Ok(Some(report))
}

/// Writes `summary.json`, the run's last file.
fn write_summary(path: &Path, summary: &PredictionSummary) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, summary)?;
        w.write_all(b"\n")?;
        Ok(())
    })
}
