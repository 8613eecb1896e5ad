//! Running the families: resume checks, stale temporary files, one
//! `fadca predict` child process per family (killed with the batch), and the
//! progress line.
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{Family, FamilyRow, Status, complete_summary, family_dir, outputs};
use crate::error::{ErrorKind, input_error};
use crate::io::{sha256_file, write_atomic};
use crate::model::ModelKind;
use crate::model::choice::ModelRequest;
use crate::predict::files;

/// The settings a run asked for, as `fadca batch --resume` compares them:
/// the requested hyper-parameters (`summary.json`'s
/// `requested_hyperparameters`) with their `model` replaced by the model
/// requested (`auto`, `potts` or `factored`): under `--model auto` the
/// model trained depends on the family, the request does not.
pub fn requested_settings(mut hyperparameters: Value, model: ModelRequest) -> Value {
    if let Some(map) = hyperparameters.as_object_mut() {
        map.insert("model".into(), Value::from(model.name()));
    }
    hyperparameters
}

/// [`requested_settings`] of a `summary.json`: its `model_requested`, or
/// (a summary written before `--model auto`) the model it trained, which
/// was then the one requested.
fn recorded_settings(summary: &Value, requested: &Value) -> Value {
    let model = summary
        .get("model_requested")
        .and_then(|m| serde_json::from_value::<ModelRequest>(m.clone()).ok())
        .or_else(|| {
            requested
                .get("model")
                .and_then(|m| serde_json::from_value::<ModelKind>(m.clone()).ok())
                .map(ModelRequest::from)
        })
        .unwrap_or_default();
    requested_settings(requested.clone(), model)
}

/// Why a complete family from an earlier run cannot be reused for this
/// one, or `None` when it can: its name, its inputs (the alignment and the
/// structure, by the SHA-256 that `summary.json` records; by path for
/// summaries written before the hashes were), its hyper-parameters
/// (`expected`, as `summary.json` records them) and whether it was scored
/// must match.
pub fn reuse_problem(summary: &Value, family: &Family, expected: Option<&Value>) -> Option<String> {
    if summary.get("name").and_then(Value::as_str) != Some(family.name.as_str()) {
        return Some("its summary.json names another family".into());
    }
    if let Some(msa) = &family.msa
        && !same_input(
            summary.pointer("/msa/sha256"),
            summary.pointer("/msa/path"),
            msa,
        )
    {
        return Some("input changed".into());
    }
    if let Some(expected) = expected
        && summary
            .get("requested_hyperparameters")
            .map(|requested| recorded_settings(summary, requested))
            .as_ref()
            != Some(expected)
    {
        return Some("settings changed".into());
    }
    let scored = summary.get("precision").is_some_and(|p| !p.is_null());
    let known = family.structure.is_some() || family.contacts.is_some();
    if scored != known {
        return Some(if scored {
            "it was scored, but this run has no structure or contact list for it".into()
        } else {
            "it was not scored, but this run has a structure or contact list for it".into()
        });
    }
    if let Some(structure) = &family.structure
        && !same_input(
            summary.get("native_sha256"),
            summary.pointer("/native_source/path"),
            structure,
        )
    {
        return Some("structure changed".into());
    }
    None
}

/// True when the file `path` is the input a summary recorded: by its
/// SHA-256 when recorded, else by its path (summaries of older versions).
fn same_input(sha256: Option<&Value>, recorded_path: Option<&Value>, path: &Path) -> bool {
    match sha256.and_then(Value::as_str) {
        Some(recorded) => sha256_file(path).is_ok_and(|h| h == recorded),
        None => recorded_path.and_then(Value::as_str) == Some(&*path.to_string_lossy()),
    }
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
    // Families found complete but run again, with the reason.
    let mut redo = std::collections::HashMap::new();
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
            match complete_summary(&dir) {
                Some(s) => match reuse_problem(&s, family, options.hyperparameters.as_ref()) {
                    None => {
                        FamilyRow::from_summary(&s, Some(family.index), Status::Skipped, &dir).ok()
                    }
                    Some(why) => {
                        redo.insert(family.index, format!("redone: {why}"));
                        None
                    }
                },
                None => None,
            }
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
        for mut row in rx {
            row.note = row.index.and_then(|i| redo.remove(&i));
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

/// One progress line: `[3/20] PF00013 ok 4.1 s P@L 0.46`.
pub fn progress_line(row: &FamilyRow, done: usize, total: usize) -> String {
    let mut line = format!("[{done}/{total}] {} {}", row.name, row.status.name());
    if let Some(model) = &row.model {
        line.push_str(&format!(" {model}"));
    }
    if let Some(w) = row.wall_s {
        line.push_str(&format!(" {w:.1} s"));
    }
    if let Some(p) = row.precision.and_then(|p| p.all.l) {
        line.push_str(&format!(" P@L {p:.2}"));
    }
    if let Some(note) = &row.note {
        line.push_str(&format!(" ({note})"));
    }
    if let Some(e) = &row.error {
        line.push_str(&format!(": {e}"));
    }
    line
}
