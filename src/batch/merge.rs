//! `fadca batch --merge`: the rows of several batch output folders (e.g.
//! the shards of one batch) gathered into one list.
use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;

use super::{BatchSummary, FamilyRow, Status, complete_summary, family_dir, outputs};
use crate::error::{ErrorKind, input_error};
use crate::predict::files;

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
