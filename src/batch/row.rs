//! One family's result: its [`FamilyRow`] in the batch summary, read from
//! the `summary.json` that `fadca predict` wrote, or made from its failure.
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Family;
use crate::error::ErrorKind;
use crate::predict::files;

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
    /// The six cells: all L, L/2, L/5, then long L, L/2, L/5.
    pub(super) fn values(&self) -> [Option<f64>; 6] {
        let [a, b, c] = self.all.values();
        let [d, e, f] = self.long.values();
        [a, b, c, d, e, f]
    }

    /// The precision of six cells in the order of [`Precision::values`].
    pub(super) fn from_values(v: [Option<f64>; 6]) -> Precision {
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
    /// Why a family that `--resume` found complete was run again
    /// (`redone: input changed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
            note: None,
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
            note: None,
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
