//! Whose results an output folder or model file holds: a run never
//! replaces a prediction made from *another* input without `--force`. The
//! input is identified by the SHA-256 of the alignment file that
//! `summary.json` and the model file record; results written before the
//! hashes were recorded are identified by the alignment's path.
use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::files;
use crate::error::input_error;

/// The input a result records: the alignment path as given and, when
/// recorded, its SHA-256.
struct Recorded {
    path: String,
    sha256: Option<String>,
}

impl Recorded {
    /// True when the result was made from the alignment `msa` whose file
    /// hashes to `sha256`.
    fn is(&self, msa: &Path, sha256: &str) -> bool {
        match &self.sha256 {
            Some(recorded) => recorded == sha256,
            None => same_file(Path::new(&self.path), msa),
        }
    }
}

/// True when two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The input recorded in a `summary.json` (complete runs keep it under
/// `msa: {path, sha256}`; diverged runs as `msa` and `msa_sha256`).
fn recorded_in_summary(summary: &Value) -> Option<Recorded> {
    let (path, sha256) = match &summary["msa"] {
        Value::Object(msa) => (msa.get("path")?.as_str()?, msa.get("sha256")),
        Value::String(path) => (path.as_str(), summary.get("msa_sha256")),
        _ => return None,
    };
    Some(Recorded {
        path: path.to_string(),
        sha256: sha256.and_then(Value::as_str).map(str::to_string),
    })
}

/// Refuses to write into output folder `dir` when its `summary.json` says
/// it holds the prediction of another input than `msa` (hashing to
/// `sha256`). A folder without a readable `summary.json` holds no complete
/// prediction and may be replaced.
pub fn check_folder(dir: &Path, msa: &Path, sha256: &str) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(dir.join(files::SUMMARY_JSON)) else {
        return Ok(());
    };
    let Some(recorded) = serde_json::from_str(&text)
        .ok()
        .as_ref()
        .and_then(recorded_in_summary)
    else {
        return Ok(());
    };
    if recorded.is(msa, sha256) {
        return Ok(());
    }
    Err(input_error(format!(
        "output folder {} holds the prediction of another input ({}); write elsewhere with -o, \
         choose another name with --name, or replace it with --force",
        dir.display(),
        recorded.path
    )))
}

/// Refuses to overwrite model file `path` when its metadata say it was
/// trained on another input than `msa` (hashing to `sha256`).
pub(super) fn check_model_file(path: &Path, msa: &Path, sha256: &str) -> Result<()> {
    let Some(metadata) = model_metadata(path) else {
        return Ok(());
    };
    let Some(recorded_path) = metadata.get("msa").and_then(Value::as_str) else {
        return Ok(());
    };
    let recorded = Recorded {
        path: recorded_path.to_string(),
        sha256: metadata
            .get("msa_sha256")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    if recorded.is(msa, sha256) {
        return Ok(());
    }
    Err(input_error(format!(
        "model file {} holds a model of another input ({}); write it elsewhere with --model-out, \
         choose another name with --name, or replace it with --force",
        path.display(),
        recorded.path
    )))
}

/// The `__metadata__` of a safetensors file, read from its header only
/// (the file may hold gigabytes of tensors); `None` when it cannot be read.
fn model_metadata(path: &Path) -> Option<serde_json::Map<String, Value>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut size = [0u8; 8];
    file.read_exact(&mut size).ok()?;
    let size = usize::try_from(u64::from_le_bytes(size)).ok()?;
    if size > 100 << 20 {
        return None;
    }
    let mut header = vec![0u8; size];
    file.read_exact(&mut header).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("__metadata__")?.as_object().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(dir: &Path, json: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(files::SUMMARY_JSON), json).unwrap();
    }

    #[test]
    fn a_folder_of_another_input_is_refused_and_of_the_same_input_is_not() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let msa = d.path().join("b.fasta");
        std::fs::write(&msa, ">q\nAC\n").unwrap();
        // No folder, or a folder without a summary: nothing to protect.
        assert!(check_folder(&out, &msa, "h").is_ok());
        std::fs::create_dir_all(&out).unwrap();
        assert!(check_folder(&out, &msa, "h").is_ok());
        summary(
            &out,
            r#"{"msa": {"path": "a/msa.fasta", "sha256": "other"}}"#,
        );
        let err = check_folder(&out, &msa, "h").unwrap_err();
        assert!(crate::error::is_input_error(&err));
        let msg = err.to_string();
        assert!(
            msg.contains("a/msa.fasta") && msg.contains("--force") && msg.contains("-o"),
            "{msg}"
        );
        // The same content under another path is the same input.
        summary(
            &out,
            r#"{"msa": {"path": "elsewhere.fasta", "sha256": "h"}}"#,
        );
        assert!(check_folder(&out, &msa, "h").is_ok());
        // A diverged run's summary, and one written before hashes were recorded.
        summary(
            &out,
            r#"{"status": "diverged", "msa": "x.fasta", "msa_sha256": "other"}"#,
        );
        assert!(check_folder(&out, &msa, "h").is_err());
        summary(
            &out,
            &format!(r#"{{"msa": {{"path": "{}"}}}}"#, msa.display()),
        );
        assert!(check_folder(&out, &msa, "h").is_ok());
        summary(&out, r#"{"msa": {"path": "some/other.fasta"}}"#);
        assert!(check_folder(&out, &msa, "h").is_err());
    }
}
