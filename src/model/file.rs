//! Model files: a model as named tensors (what is saved, and what
//! [`Model::to_cpu`] gives), saved as safetensors with sorted headers (the
//! same model gives the same bytes) and a SHA-256 of every tensor's data in
//! the metadata, loaded back with its metadata after checking them.
use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use tch::{Device, Kind, Tensor};

use super::host::host_values;
use super::{Model, ModelKind, factored, potts};
use crate::Q;

impl Model {
    /// The model on the CPU as float32 — exactly the tensors [`Model::save`]
    /// writes, so that contacts computed from it equal those computed from
    /// the saved file ([`Model::load`]).
    pub fn to_cpu(&self) -> Result<Model> {
        let named = self
            .named_tensors()
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect();
        Model::from_named_tensors(self.kind(), named)
    }

    /// Named tensors for saving (CPU, float32).
    pub fn named_tensors(&self) -> Vec<(&'static str, Tensor)> {
        let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        match self {
            Model::Factored(m) => vec![
                ("query", cpu(&m.query)),
                ("key", cpu(&m.key)),
                ("value", cpu(&m.value)),
                ("fields", cpu(&m.fields)),
            ],
            Model::Potts(m) => {
                vec![("couplings", cpu(&m.couplings)), ("fields", cpu(&m.fields))]
            }
        }
    }

    /// Rebuilds a model from saved tensors.
    pub fn from_named_tensors(kind: ModelKind, mut named: Vec<(String, Tensor)>) -> Result<Model> {
        let mut take = |name: &str| -> Result<Tensor> {
            let pos = named
                .iter()
                .position(|(n, _)| n == name)
                .with_context(|| format!("tensor '{name}' is missing"))?;
            Ok(named.swap_remove(pos).1)
        };
        let fields = take("fields")?;
        let mut model = match kind {
            ModelKind::Factored => Model::Factored(factored::FactoredAttention {
                query: take("query")?,
                key: take("key")?,
                value: take("value")?,
                fields,
            }),
            ModelKind::Potts => Model::Potts(potts::Potts {
                couplings: take("couplings")?,
                fields,
            }),
        };
        model.check_shapes()?;
        if let Model::Potts(m) = &mut model {
            m.make_symmetric();
        }
        Ok(model)
    }

    /// Checks that the tensors have the shapes of one model of length L ≥ 2.
    fn check_shapes(&self) -> Result<()> {
        let l = self.length() as i64;
        let q = Q as i64;
        if l < 2 {
            bail!("the model has length L = {l}; contacts need at least 2 positions");
        }
        if self.fields().size() != [l, q] {
            bail!(
                "fields have shape {:?}, expected [L, {q}]",
                self.fields().size()
            );
        }
        match self {
            Model::Factored(m) => {
                let (qs, ks, vs) = (m.query.size(), m.key.size(), m.value.size());
                if qs.len() != 3 || qs != ks || qs[1] != l || vs != [qs[0], q, q] {
                    bail!(
                        "inconsistent factored-attention shapes: query {qs:?}, key {ks:?}, value {vs:?}"
                    );
                }
            }
            Model::Potts(m) => {
                if m.couplings.size() != [l * q, l * q] {
                    bail!(
                        "couplings have shape {:?}, expected [{}, {}]",
                        m.couplings.size(),
                        l * q,
                        l * q
                    );
                }
            }
        }
        Ok(())
    }

    /// Saves the model as safetensors with `metadata` (atomically).
    pub fn save(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
        let mut metadata = metadata;
        metadata.insert("fadca_model".into(), self.kind().name().into());
        save_tensors(path, self.named_tensors(), metadata)
    }

    /// Loads a model saved by [`Model::save`]; returns it with its metadata.
    /// Every tensor is checked against the checksum the file records
    /// (`sha256.<tensor>`); a mismatch, a missing or misshapen tensor, a
    /// tensor that is not float32 or holds a non-finite value is an input
    /// error naming the tensor. Files written before checksums were recorded
    /// load with a one-line notice on stderr.
    pub fn load(path: &Path) -> Result<(Model, HashMap<String, String>)> {
        let (named, metadata) = load_tensors(path, "model", |metadata| {
            match metadata.get("fadca_model").map(String::as_str) {
                Some("factored") => Ok(ModelKind::Factored),
                Some("potts") => Ok(ModelKind::Potts),
                _ => Err("not a fadca model (metadata 'fadca_model' missing)".to_string()),
            }
        })?;
        let (kind, metadata) = metadata;
        let model = Model::from_named_tensors(kind, named)
            .map_err(|e| crate::input_error(format!("model {}: {e:#}", path.display())))?;
        Ok((model, metadata))
    }
}

/// Saves named CPU tensors as safetensors with `metadata` and a SHA-256 of
/// every tensor's data (`sha256.<tensor>`), headers sorted (the same
/// tensors give the same bytes), atomically: the writer of model files
/// and of the shared values' files.
pub(super) fn save_tensors<N: AsRef<str>>(
    path: &Path,
    tensors: Vec<(N, Tensor)>,
    mut metadata: HashMap<String, String>,
) -> Result<()> {
    let tensors: Vec<(N, Tensor)> = tensors
        .into_iter()
        .map(|(name, t)| {
            let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float);
            (name, t.contiguous())
        })
        .collect();
    // The tensors are serialised from their own memory (one copy of the
    // Potts model's (L·q)² table, the file's bytes, instead of three).
    let views: Vec<(&str, HostTensor<'_>)> = tensors
        .iter()
        .map(|(name, t)| (name.as_ref(), HostTensor::of(t)))
        .collect();
    for (name, view) in &views {
        use safetensors::View;
        metadata.insert(checksum_key(name), sha256_hex(&view.data()));
    }
    let mut bytes = safetensors::serialize(views, Some(metadata))
        .context("serialising tensors as safetensors")?;
    sort_header_keys(&mut bytes)?;
    crate::io::write_atomic(path, |w| Ok(w.write_all(&bytes)?))
}

/// Loads the tensors of a file [`save_tensors`] wrote, after `kind` has
/// accepted its metadata (its `Err` is the reason the file is refused), and
/// returns them with what `kind` made of the metadata and the metadata.
/// Every tensor is checked against its checksum; a mismatch, a tensor that
/// is not float32 or holds a non-finite value is an input error that names
/// `what` (e.g. "model"), the file and the tensor.
#[allow(clippy::type_complexity)]
pub(super) fn load_tensors<K>(
    path: &Path,
    what: &str,
    kind: impl FnOnce(&HashMap<String, String>) -> std::result::Result<K, String>,
) -> Result<(Vec<(String, Tensor)>, (K, HashMap<String, String>))> {
    let bytes = std::fs::read(path)
        .map_err(|e| crate::input_error(format!("{what} {}: {e}", path.display())))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
        crate::input_error(format!(
            "{what} {}: not a safetensors file ({e})",
            path.display()
        ))
    })?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let damaged = |why: String| crate::input_error(format!("{what} {}: {why}", path.display()));
    let kind = kind(&metadata).map_err(damaged)?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| damaged(e.to_string()))?;
    let checked = metadata.keys().any(|k| k.starts_with(CHECKSUM_PREFIX));
    if !checked {
        eprintln!(
            "fadca: note: {what} {} carries no checksums (written by an older fadca); its tensors \
             are loaded unverified",
            path.display()
        );
    }
    let mut named = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(damaged(format!("tensor '{name}' is not float32")));
        }
        if checked {
            match metadata.get(&checksum_key(&name)) {
                None => return Err(damaged(format!("tensor '{name}' has no checksum"))),
                Some(sum) if *sum != sha256_hex(view.data()) => {
                    return Err(damaged(format!(
                        "tensor '{name}' does not match its checksum (the file is damaged)"
                    )));
                }
                Some(_) => {}
            }
        }
        let shape: Vec<i64> = view.shape().iter().map(|&s| s as i64).collect();
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if data.iter().any(|x| !x.is_finite()) {
            return Err(damaged(format!(
                "tensor '{name}' holds a non-finite value (NaN or infinity)"
            )));
        }
        named.push((name, Tensor::from_slice(&data).reshape(shape)));
    }
    Ok((named, (kind, metadata)))
}

/// Metadata keys `sha256.<tensor>`: the SHA-256 of each tensor's data as
/// stored (little-endian float32), written by [`Model::save`] and checked by
/// [`Model::load`].
const CHECKSUM_PREFIX: &str = "sha256.";

/// The metadata key of tensor `name`'s checksum.
fn checksum_key(name: &str) -> String {
    format!("{CHECKSUM_PREFIX}{name}")
}

/// SHA-256 of `bytes` in lowercase hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::io::hex(&sha2::Sha256::digest(bytes))
}

/// Rewrites the JSON header of a serialised safetensors file with its keys
/// (and the metadata's) in sorted order: safetensors writes the metadata
/// in the order of a `HashMap`, which changes from run to run, and the same
/// model should give the same file. The header keeps its length (the same
/// entries, reordered, padded with spaces as before), so the data offsets
/// stay valid.
fn sort_header_keys(bytes: &mut [u8]) -> Result<()> {
    let size: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .context("safetensors output without a header")?;
    let n = u64::from_le_bytes(size) as usize;
    let header = bytes
        .get(8..8 + n)
        .context("safetensors header longer than the file")?;
    // serde_json's objects are sorted maps (no `preserve_order`): reading
    // the header back and writing it again sorts every level.
    let entries: serde_json::Value =
        serde_json::from_slice(header).context("reading back the safetensors header")?;
    let text = serde_json::to_vec(&entries).context("writing the safetensors header")?;
    anyhow::ensure!(
        text.len() <= n,
        "sorted safetensors header is longer than the original"
    );
    bytes[8..8 + text.len()].copy_from_slice(&text);
    bytes[8 + text.len()..8 + n].fill(b' ');
    Ok(())
}

/// A contiguous CPU float32 tensor seen by safetensors' writer: its bytes
/// borrowed in place (little-endian, safetensors' order, on every target
/// fadca builds for; copied into that order elsewhere).
struct HostTensor<'a> {
    shape: Vec<usize>,
    values: &'a [f32],
}

impl<'a> HostTensor<'a> {
    fn of(t: &'a Tensor) -> HostTensor<'a> {
        // SAFETY: the tensor (the model's own parameter when it is already a
        // contiguous CPU float32 tensor, else a copy) is only read while the
        // view lives: saving takes the model by shared reference.
        let values = unsafe { host_values(t) }.expect("a contiguous CPU float32 tensor");
        HostTensor {
            shape: t.size().iter().map(|&s| s as usize).collect(),
            values,
        }
    }
}

impl safetensors::View for HostTensor<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        if cfg!(target_endian = "little") {
            // SAFETY: any f32 is 4 plain bytes; the slice outlives the view.
            std::borrow::Cow::Borrowed(unsafe {
                std::slice::from_raw_parts(self.values.as_ptr().cast::<u8>(), self.values.len() * 4)
            })
        } else {
            std::borrow::Cow::Owned(self.values.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
    }

    fn data_len(&self) -> usize {
        self.values.len() * 4
    }
}
