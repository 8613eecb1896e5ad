//! Teacher files: [`Teacher::save`] writes safetensors, [`Teacher::load`]
//! reads them back exactly (the parameters are stored as the `f32` values
//! every computation uses).
use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use ndarray::{Array2, Array3};

use super::Teacher;

/// The safetensors header key under which the teacher's metadata is stored
/// (one JSON object of strings: format, seed, beta, cutoff, min_separation).
pub const METADATA_KEY: &str = "fadca_teacher";

impl Teacher {
    /// Saves the teacher as safetensors: `fields` (L×21), `attention` (H×L×L),
    /// `values` (H×21×21), `coords` (L×3, Å, if known), all f32, and
    /// `contacts` (n×2, i64, 0-based); metadata (format, seed, β, cutoff…) as
    /// one JSON string under [`METADATA_KEY`] in the header. Written atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let f32_bytes = |it: &mut dyn Iterator<Item = f32>| -> Vec<u8> {
            it.flat_map(|v| v.to_le_bytes()).collect()
        };
        let mut buffers: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = vec![
            (
                "fields".into(),
                safetensors::Dtype::F32,
                self.fields.shape().to_vec(),
                f32_bytes(&mut self.fields.iter().copied()),
            ),
            (
                "attention".into(),
                safetensors::Dtype::F32,
                self.attention.shape().to_vec(),
                f32_bytes(&mut self.attention.iter().copied()),
            ),
            (
                "values".into(),
                safetensors::Dtype::F32,
                self.values.shape().to_vec(),
                f32_bytes(&mut self.values.iter().copied()),
            ),
        ];
        if let Some(c) = &self.coords {
            buffers.push((
                "coords".into(),
                safetensors::Dtype::F32,
                c.shape().to_vec(),
                f32_bytes(&mut c.iter().copied()),
            ));
        }
        let contact_bytes: Vec<u8> = self
            .contacts
            .iter()
            .flat_map(|&(i, j)| [i as i64, j as i64])
            .flat_map(|v| v.to_le_bytes())
            .collect();
        buffers.push((
            "contacts".into(),
            safetensors::Dtype::I64,
            vec![self.contacts.len(), 2],
            contact_bytes,
        ));
        let views = buffers
            .iter()
            .map(|(name, dtype, shape, data)| {
                Ok((
                    name.clone(),
                    safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)?,
                ))
            })
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
            .context("building safetensors views")?;
        let mut meta = self.metadata.clone();
        meta.insert("format".into(), "fadca-teacher".into());
        // One header entry holding sorted JSON: a HashMap of several entries
        // would be written in random order, and the file must be reproducible.
        let header = HashMap::from([(METADATA_KEY.to_string(), serde_json::to_string(&meta)?)]);
        let bytes = safetensors::serialize(views, Some(header)).context("serialising teacher")?;
        crate::io::write_atomic(path, |w| Ok(w.write_all(&bytes)?))
    }

    /// Loads a teacher written by [`Teacher::save`]; a bad file is an input error.
    pub fn load(path: &Path) -> anyhow::Result<Teacher> {
        let bytes = std::fs::read(path)
            .map_err(|e| crate::input_error(format!("{}: cannot read: {e}", path.display())))?;
        let bad = |why: String| {
            crate::input_error(format!("{}: not a fadca teacher: {why}", path.display()))
        };
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let get_f32 = |name: &str, rank: usize| -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
            let t = st
                .tensor(name)
                .map_err(|e| bad(format!("tensor {name}: {e}")))?;
            if t.dtype() != safetensors::Dtype::F32 || t.shape().len() != rank {
                return Err(bad(format!(
                    "tensor {name}: expected rank-{rank} F32, found {:?} {:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Ok((t.shape().to_vec(), v))
        };
        let (s, v) = get_f32("fields", 2)?;
        let fields = Array2::from_shape_vec((s[0], s[1]), v).map_err(|e| bad(e.to_string()))?;
        let (s, v) = get_f32("attention", 3)?;
        let attention =
            Array3::from_shape_vec((s[0], s[1], s[2]), v).map_err(|e| bad(e.to_string()))?;
        let (s, v) = get_f32("values", 3)?;
        let values =
            Array3::from_shape_vec((s[0], s[1], s[2]), v).map_err(|e| bad(e.to_string()))?;
        let mut t =
            Teacher::from_parts(fields, attention, values).map_err(|e| bad(format!("{e:#}")))?;
        if st.names().contains(&"coords") {
            let (s, v) = get_f32("coords", 2)?;
            if s != [t.len(), 3] {
                return Err(bad(format!(
                    "tensor coords: shape {s:?}, expected ({}, 3)",
                    t.len()
                )));
            }
            t.coords =
                Some(Array2::from_shape_vec((s[0], s[1]), v).map_err(|e| bad(e.to_string()))?);
        }
        if let Ok(c) = st.tensor("contacts") {
            if c.dtype() != safetensors::Dtype::I64 || c.shape().len() != 2 || c.shape()[1] != 2 {
                return Err(bad("tensor contacts: expected n×2 I64".into()));
            }
            let raw: Vec<i64> = c
                .data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .collect();
            let mut contacts = Vec::with_capacity(raw.len() / 2);
            for p in raw.chunks_exact(2) {
                let (i, j) = (p[0], p[1]);
                if i < 0 || j <= i || j as usize >= t.len() {
                    return Err(bad(format!("contact ({i}, {j}) out of range")));
                }
                contacts.push((i as usize, j as usize));
            }
            t.contacts = contacts;
        }
        if let Some(json) = meta.metadata().as_ref().and_then(|m| m.get(METADATA_KEY)) {
            t.metadata = serde_json::from_str(json).map_err(|e| bad(format!("metadata: {e}")))?;
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::TeacherParams;

    #[test]
    fn a_saved_teacher_loads_back_exactly_and_saves_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let params = TeacherParams {
            length: 11,
            heads: 3,
            ..TeacherParams::default()
        };
        let t = Teacher::generate(&params, 4).unwrap();
        let (a, b) = (
            dir.path().join("a.safetensors"),
            dir.path().join("b.safetensors"),
        );
        t.save(&a).unwrap();
        let u = Teacher::load(&a).unwrap();
        assert_eq!(t.fields(), u.fields());
        assert_eq!(t.attention(), u.attention());
        assert_eq!(t.values(), u.values());
        assert_eq!(t.coords(), u.coords());
        assert_eq!(t.contacts(), u.contacts());
        assert_eq!(t.metadata(), u.metadata());
        u.save(&b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn a_teacher_without_a_chain_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let (l, nh) = (3, 1);
        let mut attention = Array3::<f32>::zeros((nh, l, l));
        attention[[0, 0, 2]] = 0.75;
        attention[[0, 2, 0]] = 0.75;
        let fields = Array2::from_shape_fn((l, crate::Q), |(i, a)| (i * 21 + a) as f32 / 10.0);
        let values = Array3::from_shape_fn((nh, crate::Q, crate::Q), |(_, a, b)| (a + b) as f32);
        let t = Teacher::from_parts(fields, attention, values).unwrap();
        let path = dir.path().join("t.safetensors");
        t.save(&path).unwrap();
        let u = Teacher::load(&path).unwrap();
        assert!(u.coords().is_none());
        assert_eq!(u.contacts(), &[(0, 2)]);
        assert_eq!(u.fields(), t.fields());
        assert_eq!(
            u.metadata().get("format").map(String::as_str),
            Some("fadca-teacher")
        );
        let x = [1, 20, 4];
        assert_eq!(u.energy(&x), t.energy(&x));
    }
}
