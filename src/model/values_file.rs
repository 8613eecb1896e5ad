//! Files of shared values (`fadca train-values -o values.safetensors`):
//! one tensor `value` (H×q×q, `V^h(a,b)`), its checksum, and metadata
//! saying what it was trained on; read back as [`StartValues`] for
//! `fadca predict --values`.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use tch::Tensor;

use super::StartValues;
use super::file::{load_tensors, save_tensors};
use super::host::to_vec;
use crate::Q;

/// Metadata key that marks a file of shared values (its value: the
/// number of heads).
pub const VALUES_KEY: &str = "fadca_values_heads";

/// Saves shared values `value` (H×q×q) with `metadata` (atomically).
pub fn save_values(path: &Path, value: &Tensor, metadata: HashMap<String, String>) -> Result<()> {
    let mut metadata = metadata;
    metadata.insert(VALUES_KEY.into(), value.size()[0].to_string());
    save_tensors(path, vec![("value", value.shallow_clone())], metadata)
}

/// Reads a file [`save_values`] wrote as values to start from, fixed or
/// (`trained`) fine-tuned; returns them with the file's metadata. A file
/// that is not one, or whose tensor is damaged or misshapen, is an input
/// error naming it.
pub fn load_values(path: &Path, trained: bool) -> Result<(StartValues, HashMap<String, String>)> {
    let (named, (heads, metadata)) = load_tensors(path, "values file", |metadata| {
        metadata
            .get(VALUES_KEY)
            .and_then(|h| h.parse::<usize>().ok())
            .filter(|&h| h > 0)
            .ok_or_else(|| {
                "not a file of shared values (made by fadca train-values; metadata \
                 'fadca_values_heads' missing)"
                    .to_string()
            })
    })?;
    let value = named
        .into_iter()
        .find(|(n, _)| n == "value")
        .map(|(_, t)| t)
        .filter(|t| t.size() == [heads as i64, Q as i64, Q as i64])
        .ok_or_else(|| {
            crate::input_error(format!(
                "values file {}: no tensor 'value' of shape [{heads}, {Q}, {Q}]",
                path.display()
            ))
        })?;
    let values = StartValues {
        values: Arc::new(to_vec(&value)),
        heads,
        trained,
        source: path.display().to_string(),
        sha256: crate::io::sha256_file(path)?,
    };
    Ok((values, metadata))
}
