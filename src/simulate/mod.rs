//! Synthetic families from a planted factored-attention Potts model (SPEC §6).
//!
//! A [`Teacher`] is a generalised Potts model whose couplings have exactly the
//! factored-attention form the student learns,
//!
//! ```text
//! J_ij(a,b) = Σ_h A^h_ij V^h(a,b),    A^h symmetric, ≥ 0, zero diagonal;  V^h symmetric
//! ```
//!
//! so `J_ij(a,b) = J_ji(b,a)` and the joint Boltzmann distribution
//!
//! ```text
//! P(x) ∝ exp(−E(x)),   E(x) = −( Σ_i h_i(x_i) + Σ_{i<j} J_ij(x_i, x_j) )
//! ```
//!
//! exists. The attention follows a planted contact map taken from a random
//! compact 3D chain, so training a student on sequences sampled from the
//! teacher must recover those contacts.
//!
//! # How a teacher is built ([`Teacher::generate`])
//!
//! 1. **Chain.** A self-avoiding walk of `L` residues on the FCC lattice with
//!    3.8 Å bonds, grown with a bias to compactness ([`lattice::compact_walk`]).
//! 2. **Contacts (the rule).** Residues `i < j` are in contact when
//!    `j − i ≥ min_separation` (default 3) and their distance is below
//!    `cutoff` (default 6 Å). On the FCC lattice (bond 3.8 Å) the distance
//!    shells are 3.8, 5.37, 6.58, 7.6 Å…, so the default keeps the first two
//!    shells: the 12 nearest and 6 next-nearest sites, ≈ 2–3 contacts per
//!    residue for a compact 60-mer, comparable to Cβ contacts at 8 Å in
//!    proteins (most with separation ≥ 6, the scored classes of SPEC §3).
//! 3. **Heads.** Every contact is given to one head chosen uniformly, and to
//!    every other head independently with probability [`EXTRA_HEAD_PROB`]; a
//!    head's weight on a contact is uniform in [0.5, 1]. `A^h` is symmetric,
//!    non-negative, zero on the diagonal and zero off the contact map, so
//!    `J_ij = 0` for non-contacts: the planted map is exactly the support of `J`.
//! 4. **Values.** `V^h(a,b) = V^h(b,a) = β·g` with `g` standard normal for the
//!    20 amino acids; rows and columns of the gap are 0 (gaps do not co-vary).
//! 5. **Fields.** `h_i(a)` standard normal for amino acids, and
//!    `h_i(gap) =` [`GAP_FIELD`], which makes gaps rare (≈ 0.1–0.5 % of sites).
//!
//! # The coupling strength β (default [`DEFAULT_BETA`])
//!
//! β sets how strongly contacting residues co-vary. Too small and contacts
//! hide in sampling noise (a student needs many more sequences); too large
//! and the model freezes: each site is nearly determined by its neighbours,
//! the chains stop mixing, sequences become near-copies of a few states and
//! covariation (which needs variation) vanishes again. The default was chosen
//! by sampling families at L = 40 and L = 60 with M = 3000 (`tests/simulate_signal.rs`
//! keeps the check) and scanning β:
//!
//! Averages over seeds 1–3, M = 3000, automatic burn-in and thinning; "top-L"
//! is the precision of the naive score below over pairs with separation ≥ 6;
//! entropy is the mean site entropy of the samples (ln 20 ≈ 3.0 for uniform
//! amino acids, 2.6 for the fields alone); identity is the mean pairwise
//! sequence identity; τ the integrated autocorrelation time in sweeps.
//!
//! | β   | L=40 top-L | top-L/2 | entropy | identity | τ     | L=60 top-L | top-L/2 | entropy | identity | τ    |
//! |-----|-----------|---------|---------|----------|-------|-----------|---------|---------|----------|------|
//! | 0.1 | 0.65      | 0.73    | 2.58    | 0.11     | 1.0   | 0.62      | 0.79    | 2.58    | 0.11     | 1.1  |
//! | 0.2 | 1.00      | 1.00    | 2.56    | 0.11     | 1.1   | 1.00      | 1.00    | 2.55    | 0.11     | 1.1  |
//! | 0.3 | 1.00      | 1.00    | 2.52    | 0.12     | 1.2   | 1.00      | 1.00    | 2.49    | 0.13     | 1.4  |
//! | 0.4 | 1.00      | 1.00    | 2.44    | 0.14     | 1.5   | 1.00      | 1.00    | 2.36    | 0.16     | 2.6  |
//! | 0.5 | 0.99      | 1.00    | 2.31    | 0.17     | 1.9   | 1.00      | 1.00    | 2.16    | 0.21     | 4.7  |
//! | 0.6 | 0.97      | 0.98    | 2.13    | 0.21     | 4.7   | 0.97      | 1.00    | 1.94    | 0.26     | 18   |
//! | 0.7 | 0.92      | 0.98    | 1.93    | 0.27     | 21    | 0.94      | 0.99    | 1.54    | 0.38     | 11*  |
//! | 0.8 | 0.88      | 0.93    | 1.77    | 0.31     | 140   | 0.89      | 0.96    | 1.34    | 0.44     | 12*  |
//! | 1.0 | 0.78      | 0.90    | 1.47    | 0.39     | 720   | 0.79      | 0.88    | 1.11    | 0.52     | 37*  |
//!
//! (* burn-in capped at 16384 sweeps: τ is underestimated, the chains are
//! glassy.) Below β ≈ 0.15 the contacts drown in sampling noise at this M;
//! from β ≈ 0.6 the chains slow down sharply (τ grows by an order of
//! magnitude per 0.1), diversity falls and precision drops (the family
//! freezes into a few basins, so there is less variation to co-vary).
//! The default **β = 0.4** sits in the middle of the window on a log scale:
//! a factor 2 above the weak edge and 1.5 below the onset of slow mixing.
//!
//! At the default the naive correlation score (Frobenius norm of the connected
//! correlation `f_ij(a,b) − f_i(a) f_j(b)` with APC, no inference at all)
//! already ranks planted contacts on top, while sites keep well over half of
//! their unconstrained entropy and the Gibbs chains decorrelate in a few
//! sweeps: contacts are learnable and the family is not frozen. A
//! pseudo-likelihood student, which removes the indirect correlations the naive
//! score suffers from, has margin to spare.
//!
//! # Sizes for the end-to-end recovery check
//!
//! A student trained on `fadca simulate --length 40 --heads 4 --samples 3000
//! --seed 1` (β = 0.4 by default) should reach top-L precision ≥ 0.9 over
//! pairs with separation ≥ 6 against `contacts.tsv`: the naive score above
//! already reaches 1.00 there (seeds 1–3), the teacher has ≈ 2.3 L planted
//! contacts with separation ≥ 6 (so top-L is not limited by their number),
//! and sampling takes well under a second. L = 60 with M = 2000 (the embedded
//! example in `msa/`) is the larger variant.
//!
//! # Files ([`write_family`])
//!
//! `msa.fasta` (query first, then the samples), `contacts.tsv` (planted pairs,
//! 1-based, header `i\tj\tseparation`), `teacher.safetensors` (see
//! [`Teacher::save`]) and `simulate.json` (parameters and sampler report).
//! The query is one extra sequence drawn from the teacher conditioned on having
//! no gap (a Gibbs chain that never proposes the gap state, with the same
//! burn-in), so that focus mode (SPEC §2) keeps all `L` columns and the
//! numbering of `contacts.tsv` is the numbering of the alignment.
pub mod gibbs;
pub mod lattice;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ndarray::{Array2, Array3, Array4};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use crate::Q;
use crate::alignment::{ALPHABET, GAP};
use gibbs::SparsePotts;

/// Default coupling strength β (see the module documentation for the reasoning).
pub const DEFAULT_BETA: f64 = 0.4;
/// Default contact distance cutoff in Å (first two FCC shells).
pub const DEFAULT_CUTOFF: f64 = 6.0;
/// Default minimum sequence separation of a planted contact.
pub const DEFAULT_MIN_SEPARATION: usize = 3;
/// Probability that a contact is also given to each head other than its own.
pub const EXTRA_HEAD_PROB: f64 = 0.2;
/// Field of the gap state at every site (amino-acid fields are standard normal).
pub const GAP_FIELD: f64 = -3.0;
/// Compactness bias of the chain growth (see [`lattice::compact_walk`]).
pub const COMPACTNESS: f64 = 1.0;

/// RNG streams (of ChaCha8 seeded with the user's seed): one for the teacher,
/// one for the query chain, one per sampling chain. Each chain owns its stream,
/// so results do not depend on the number of threads.
const STREAM_TEACHER: u64 = 0;
/// The safetensors header key under which the teacher's metadata is stored
/// (one JSON object of strings: format, seed, beta, cutoff, min_separation).
pub const METADATA_KEY: &str = "fadca_teacher";
const STREAM_QUERY: u64 = 1;
const STREAM_CHAIN0: u64 = 1 << 32;

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Standard normal variate (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// What a teacher is made of (see the module documentation).
#[derive(Debug, Clone, Serialize)]
pub struct TeacherParams {
    /// Number of residues L.
    pub length: usize,
    /// Number of attention heads H.
    pub heads: usize,
    /// Coupling strength β (scale of the value matrices).
    pub beta: f64,
    /// Contact distance cutoff in Å.
    pub cutoff: f64,
    /// Minimum sequence separation `j − i` of a planted contact.
    pub min_separation: usize,
}

impl Default for TeacherParams {
    fn default() -> Self {
        TeacherParams {
            length: 60,
            heads: 4,
            beta: DEFAULT_BETA,
            cutoff: DEFAULT_CUTOFF,
            min_separation: DEFAULT_MIN_SEPARATION,
        }
    }
}

/// A planted factored-attention Potts model. Parameters are stored as `f32`
/// (as saved), and every computation uses exactly these values, so a saved
/// and reloaded teacher samples identically.
#[derive(Debug, Clone)]
pub struct Teacher {
    /// Fields `h_i(a)`, L×21.
    fields: Array2<f32>,
    /// Attention `A^h_ij`, H×L×L, symmetric, non-negative, zero diagonal.
    attention: Array3<f32>,
    /// Values `V^h(a,b)`, H×21×21, symmetric.
    values: Array3<f32>,
    /// Chain coordinates in Å (L×3), when the teacher was built from a chain.
    coords: Option<Array2<f32>>,
    /// Planted contacts, 0-based `(i, j)`, `i < j`, sorted.
    contacts: Vec<(usize, usize)>,
    /// Free-form description saved with the model (β, cutoff, seed…).
    metadata: BTreeMap<String, String>,
    sparse: SparsePotts,
}

impl Teacher {
    /// Builds a random teacher from `params` and `seed` (see the module
    /// documentation for each step). Deterministic given both.
    pub fn generate(params: &TeacherParams, seed: u64) -> anyhow::Result<Teacher> {
        let (l, nh) = (params.length, params.heads);
        if l < 2 {
            return Err(crate::input_error(format!(
                "--length {l}: need at least 2 residues"
            )));
        }
        if nh < 1 {
            return Err(crate::input_error("--heads 0: need at least one head"));
        }
        if !(params.beta.is_finite() && params.beta >= 0.0) {
            return Err(crate::input_error(format!(
                "--coupling-strength {}: must be a finite number ≥ 0",
                params.beta
            )));
        }
        let mut rng = rng_for(seed, STREAM_TEACHER);
        let coords = lattice::compact_walk(l, COMPACTNESS, &mut rng);
        let contacts = lattice::contacts(&coords, params.cutoff, params.min_separation);

        let mut attention = Array3::<f32>::zeros((nh, l, l));
        for &(i, j) in &contacts {
            let primary = rng.random_range(0..nh);
            for h in 0..nh {
                let extra = rng.random::<f64>() < EXTRA_HEAD_PROB;
                let weight = 0.5 + 0.5 * rng.random::<f64>();
                if h == primary || extra {
                    attention[[h, i, j]] = weight as f32;
                    attention[[h, j, i]] = weight as f32;
                }
            }
        }
        let mut values = Array3::<f32>::zeros((nh, Q, Q));
        for h in 0..nh {
            for a in 0..Q - 1 {
                for b in a..Q - 1 {
                    let v = (params.beta * normal(&mut rng)) as f32;
                    values[[h, a, b]] = v;
                    values[[h, b, a]] = v;
                }
            }
        }
        let mut fields = Array2::<f32>::zeros((l, Q));
        for i in 0..l {
            for a in 0..Q - 1 {
                fields[[i, a]] = normal(&mut rng) as f32;
            }
            fields[[i, GAP as usize]] = GAP_FIELD as f32;
        }
        let coords = Array2::from_shape_fn((l, 3), |(i, d)| coords[i][d] as f32);
        let metadata = BTreeMap::from([
            ("format".to_string(), "fadca-teacher".to_string()),
            ("seed".to_string(), seed.to_string()),
            ("beta".to_string(), params.beta.to_string()),
            ("cutoff".to_string(), params.cutoff.to_string()),
            (
                "min_separation".to_string(),
                params.min_separation.to_string(),
            ),
        ]);
        let mut t = Teacher::from_parts(fields, attention, values)?;
        t.coords = Some(coords);
        t.contacts = contacts;
        t.metadata = metadata;
        Ok(t)
    }

    /// Builds a teacher from given parameters, checking shapes and symmetry:
    /// `fields` L×21, `attention` H×L×L (symmetric, ≥ 0, zero diagonal),
    /// `values` H×21×21 (symmetric). The planted contacts are the pairs where
    /// some head has positive attention.
    pub fn from_parts(
        fields: Array2<f32>,
        attention: Array3<f32>,
        values: Array3<f32>,
    ) -> anyhow::Result<Teacher> {
        let l = fields.nrows();
        let nh = attention.shape()[0];
        if fields.ncols() != Q {
            return Err(crate::input_error(format!(
                "teacher fields: shape {:?}, expected (L, 21)",
                fields.shape()
            )));
        }
        if attention.shape() != [nh, l, l] || nh == 0 {
            return Err(crate::input_error(format!(
                "teacher attention: shape {:?}, expected (H ≥ 1, {l}, {l})",
                attention.shape()
            )));
        }
        if values.shape() != [nh, Q, Q] {
            return Err(crate::input_error(format!(
                "teacher values: shape {:?}, expected ({nh}, 21, 21)",
                values.shape()
            )));
        }
        if fields
            .iter()
            .chain(attention.iter())
            .chain(values.iter())
            .any(|v| !v.is_finite())
        {
            return Err(crate::input_error(
                "teacher: parameters contain NaN or infinity",
            ));
        }
        for h in 0..nh {
            for i in 0..l {
                if attention[[h, i, i]] != 0.0 {
                    return Err(crate::input_error(format!(
                        "teacher attention: head {h}, A[{i},{i}] ≠ 0"
                    )));
                }
                for j in 0..l {
                    let v = attention[[h, i, j]];
                    if v < 0.0 || v != attention[[h, j, i]] {
                        return Err(crate::input_error(format!(
                            "teacher attention: head {h}, A[{i},{j}] is negative or not symmetric"
                        )));
                    }
                }
            }
            for a in 0..Q {
                for b in 0..Q {
                    if values[[h, a, b]] != values[[h, b, a]] {
                        return Err(crate::input_error(format!(
                            "teacher values: head {h}, V[{a},{b}] ≠ V[{b},{a}]"
                        )));
                    }
                }
            }
        }
        let mut contacts = Vec::new();
        for i in 0..l {
            for j in (i + 1)..l {
                if (0..nh).any(|h| attention[[h, i, j]] > 0.0) {
                    contacts.push((i, j));
                }
            }
        }
        let sparse = build_sparse(&fields, &attention, &values);
        Ok(Teacher {
            fields,
            attention,
            values,
            coords: None,
            contacts,
            metadata: BTreeMap::new(),
            sparse,
        })
    }

    /// Number of residues L.
    pub fn len(&self) -> usize {
        self.fields.nrows()
    }

    /// True for a teacher with no residues (never, for a valid teacher).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of heads H.
    pub fn heads(&self) -> usize {
        self.attention.shape()[0]
    }

    /// Fields `h_i(a)`, L×21.
    pub fn fields(&self) -> &Array2<f32> {
        &self.fields
    }

    /// Attention `A^h_ij`, H×L×L.
    pub fn attention(&self) -> &Array3<f32> {
        &self.attention
    }

    /// Values `V^h(a,b)`, H×21×21.
    pub fn values(&self) -> &Array3<f32> {
        &self.values
    }

    /// Chain coordinates in Å (L×3), if the teacher came from a chain.
    pub fn coords(&self) -> Option<&Array2<f32>> {
        self.coords.as_ref()
    }

    /// Planted contacts, 0-based `(i, j)` with `i < j`, sorted.
    pub fn contacts(&self) -> &[(usize, usize)] {
        &self.contacts
    }

    /// The metadata saved with the teacher.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The full coupling tensor `J[i, j, a, b] = Σ_h A^h_ij V^h(a,b)`, L×L×21×21,
    /// symmetric: `J[i,j,a,b] = J[j,i,b,a]`, zero for `i = j`.
    pub fn couplings(&self) -> Array4<f32> {
        let l = self.len();
        let mut j4 = Array4::<f32>::zeros((l, l, Q, Q));
        for h in 0..self.heads() {
            for i in 0..l {
                for j in 0..l {
                    let a = self.attention[[h, i, j]];
                    if a != 0.0 {
                        let mut block = j4.slice_mut(ndarray::s![i, j, .., ..]);
                        block.scaled_add(a, &self.values.slice(ndarray::s![h, .., ..]));
                    }
                }
            }
        }
        j4
    }

    /// Energy `E(x) = −(Σ_i h_i(x_i) + Σ_{i<j} J_ij(x_i, x_j))`; `P(x) ∝ exp(−E(x))`.
    ///
    /// Panics if `seq.len() != L` or a state is ≥ 21 (callers check user data first).
    pub fn energy(&self, seq: &[u8]) -> f64 {
        self.check_seq(seq);
        self.sparse.energy(seq)
    }

    /// `log P(x_i = a | x_{\i})` for all 21 states `a`: the exact conditional
    /// the Gibbs sampler draws from, and the target of a pseudo-likelihood student.
    ///
    /// Panics if `seq.len() != L`, `i ≥ L` or a state is ≥ 21.
    pub fn conditional_log_probs(&self, seq: &[u8], i: usize) -> [f64; Q] {
        self.check_seq(seq);
        let mut w = self.sparse.local_fields(seq, i);
        let max = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_z = max + w.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        for v in w.iter_mut() {
            *v -= log_z;
        }
        w
    }

    fn check_seq(&self, seq: &[u8]) {
        assert_eq!(
            seq.len(),
            self.len(),
            "sequence length differs from the teacher's L"
        );
        assert!(
            seq.iter().all(|&s| (s as usize) < Q),
            "state ≥ 21 in sequence"
        );
    }

    /// Draws samples by Gibbs sampling (see [`SampleOptions`] and [`SampleRun`]).
    pub fn sample(&self, opts: &SampleOptions) -> anyhow::Result<SampleRun> {
        sample(&self.sparse, opts)
    }

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

/// Loads a teacher written by [`Teacher::save`] (same as [`Teacher::load`]).
pub fn load_teacher(path: &Path) -> anyhow::Result<Teacher> {
    Teacher::load(path)
}

/// Turns the dense factored parameters into per-site neighbour tables.
fn build_sparse(
    fields: &Array2<f32>,
    attention: &Array3<f32>,
    values: &Array3<f32>,
) -> SparsePotts {
    let (nh, l) = (attention.shape()[0], fields.nrows());
    let mut neighbours = vec![Vec::new(); l];
    for (i, nb) in neighbours.iter_mut().enumerate() {
        for j in 0..l {
            if j == i || (0..nh).all(|h| attention[[h, i, j]] == 0.0) {
                continue;
            }
            let mut table = Box::new([0f64; Q * Q]);
            for a in 0..Q {
                for b in 0..Q {
                    // J_ij(a,b) in f32 arithmetic, exactly as couplings() computes it.
                    let mut v = 0f32;
                    for h in 0..nh {
                        v += attention[[h, i, j]] * values[[h, a, b]];
                    }
                    table[b * Q + a] = v as f64;
                }
            }
            nb.push((j, table));
        }
    }
    let fields = (0..l)
        .map(|i| {
            let mut f = [0f64; Q];
            for (a, v) in f.iter_mut().enumerate() {
                *v = fields[[i, a]] as f64;
            }
            f
        })
        .collect();
    SparsePotts { fields, neighbours }
}

/// How to sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleOptions {
    /// Number of sequences M (not counting the query).
    pub samples: usize,
    /// Number of independent chains C; chain `k` has its own RNG stream.
    pub chains: usize,
    /// Sweeps discarded at the start of every chain; `None` = chosen from the
    /// measured autocorrelation time.
    pub burn_in: Option<usize>,
    /// Sweeps between kept samples; `None` = chosen from the measured
    /// autocorrelation time.
    pub thin: Option<usize>,
    /// Seed of all RNG streams.
    pub seed: u64,
}

/// Sampler report (written to `simulate.json`).
#[derive(Debug, Clone, Serialize)]
pub struct SamplerStats {
    /// Number of chains.
    pub chains: usize,
    /// Sweeps discarded per chain.
    pub burn_in: usize,
    /// True when the burn-in was chosen automatically.
    pub burn_in_auto: bool,
    /// Sweeps between kept samples.
    pub thin: usize,
    /// True when the thinning was chosen automatically.
    pub thin_auto: bool,
    /// Integrated autocorrelation time (sweeps) of the energy, measured on the
    /// second half of the burn-in, pooled over chains.
    pub tau_energy: f64,
    /// Same for the overlap (fraction of identical sites) with the state at
    /// the start of the measurement window: a proxy for the slowest single sites.
    pub tau_overlap: f64,
    /// Sweeps the τ estimate was measured on (per chain).
    pub tau_window_sweeps: usize,
    /// Integrated autocorrelation time of the energy during sampling (every
    /// sweep, pooled over chains): a check of the burn-in estimate.
    pub tau_energy_sampling: f64,
    /// Effective sample size: kept samples / max(1, 2 τ / thin) summed over chains.
    pub effective_samples: f64,
    /// Fraction of single-site Gibbs updates that changed the state, over all
    /// sweeps (for a Gibbs sampler every update is accepted; this is its mobility).
    pub flip_rate: f64,
    /// Mean and standard deviation of the energy over kept samples.
    pub energy_mean: f64,
    /// Standard deviation of the energy over kept samples.
    pub energy_std: f64,
    /// Gelman–Rubin R̂ of the energy over chains (≈ 1 when chains agree).
    pub r_hat_energy: Option<f64>,
    /// Fraction of gap states in the kept samples.
    pub gap_fraction: f64,
    /// Mean over sites of the entropy (nats) of the sampled single-site
    /// frequencies (ln 21 ≈ 3.04 is uniform, 0 frozen).
    pub mean_site_entropy: f64,
    /// Mean identity between pairs of samples (≤ 500 spread evenly over all, all pairs).
    pub mean_pairwise_identity: f64,
    /// Total Gibbs sweeps per chain (burn-in + sampling).
    pub sweeps_per_chain: usize,
    /// Wall time of burn-in (s).
    pub time_burn_in_s: f64,
    /// Wall time of sampling (s).
    pub time_sampling_s: f64,
}

/// What [`Teacher::sample`] returns.
#[derive(Debug, Clone)]
pub struct SampleRun {
    /// A gap-free sequence drawn from the teacher conditioned on no gaps.
    pub query: Vec<u8>,
    /// The M samples, chain by chain, each chain's in sweep order.
    pub sequences: Vec<Vec<u8>>,
    /// The chain that produced each sample.
    pub chain_of: Vec<usize>,
    /// Report.
    pub stats: SamplerStats,
}

/// Default burn-in measurement: the burn-in starts at this many sweeps and is
/// doubled until its second half is at least [`TAU_FACTOR`] τ long.
const MIN_BURN_IN: usize = 200;
/// Largest automatic burn-in (a family this slow to mix is frozen anyway).
const MAX_BURN_IN: usize = 1 << 14;
/// Largest automatic thinning.
const MAX_AUTO_THIN: usize = 50;
/// The measurement window must be this many τ long for a reliable τ (Sokal).
const TAU_FACTOR: f64 = 50.0;

/// One chain's kept sequences, their energies, and the energy after every sweep.
type ChainOutput = (Vec<Vec<u8>>, Vec<f64>, Vec<f64>);

struct ChainState {
    x: Vec<u8>,
    rng: ChaCha8Rng,
    flips: usize,
    updates: usize,
}

fn sample(model: &SparsePotts, opts: &SampleOptions) -> anyhow::Result<SampleRun> {
    let l = model.len();
    if opts.chains == 0 {
        return Err(crate::input_error("--chains 0: need at least one chain"));
    }
    if opts.thin == Some(0) {
        return Err(crate::input_error("--thin 0: must be at least 1"));
    }
    let t0 = Instant::now();
    let mut chains: Vec<ChainState> = (0..opts.chains)
        .map(|k| {
            let mut rng = rng_for(opts.seed, STREAM_CHAIN0 + k as u64);
            let x = model.random_state(&mut rng, false);
            ChainState {
                x,
                rng,
                flips: 0,
                updates: 0,
            }
        })
        .collect();

    // Burn-in, measuring τ on its second half. Automatic: double until the
    // second half is ≥ TAU_FACTOR·τ.
    let mut done = 0usize;
    let mut target = opts.burn_in.unwrap_or(MIN_BURN_IN);
    let (tau_energy, tau_overlap, window) = loop {
        let first = target / 2;
        // Sweeps `done..first` need no recording.
        let todo_first = first.saturating_sub(done);
        chains.par_iter_mut().for_each(|c| {
            for _ in 0..todo_first {
                c.flips += model.sweep(&mut c.x, &mut c.rng, false);
                c.updates += l;
            }
        });
        done = done.max(first);
        let n = target - done;
        let traces: Vec<(Vec<f64>, Vec<f64>)> = chains
            .par_iter_mut()
            .map(|c| {
                let reference = c.x.clone();
                let mut e = Vec::with_capacity(n);
                let mut o = Vec::with_capacity(n);
                for _ in 0..n {
                    c.flips += model.sweep(&mut c.x, &mut c.rng, false);
                    c.updates += l;
                    e.push(model.energy(&c.x));
                    o.push(
                        c.x.iter().zip(&reference).filter(|(a, b)| a == b).count() as f64
                            / l as f64,
                    );
                }
                (e, o)
            })
            .collect();
        done = target;
        let (e, o): (Vec<_>, Vec<_>) = traces.into_iter().unzip();
        let (te, _) = gibbs::integrated_autocorrelation_time(&e);
        let (to, _) = gibbs::integrated_autocorrelation_time(&o);
        let tau = te.max(to);
        if opts.burn_in.is_some() || (n as f64) >= TAU_FACTOR * tau || target >= MAX_BURN_IN {
            break (te, to, n);
        }
        target *= 2;
    };
    let burn_in = done;
    let tau = tau_energy.max(tau_overlap);
    let thin = opts
        .thin
        .unwrap_or_else(|| ((2.0 * tau).ceil().max(1.0) as usize).min(MAX_AUTO_THIN));
    let time_burn_in_s = t0.elapsed().as_secs_f64();

    // Sampling.
    let t1 = Instant::now();
    let per_chain: Vec<usize> = (0..opts.chains)
        .map(|k| opts.samples / opts.chains + usize::from(k < opts.samples % opts.chains))
        .collect();
    let outputs: Vec<ChainOutput> = chains
        .par_iter_mut()
        .zip(per_chain.par_iter())
        .map(|(c, &m)| {
            let mut seqs = Vec::with_capacity(m);
            let mut kept_e = Vec::with_capacity(m);
            let mut trace = Vec::with_capacity(m * thin);
            for _ in 0..m {
                for _ in 0..thin {
                    c.flips += model.sweep(&mut c.x, &mut c.rng, false);
                    c.updates += l;
                    trace.push(model.energy(&c.x));
                }
                seqs.push(c.x.clone());
                kept_e.push(*trace.last().unwrap_or(&0.0));
            }
            (seqs, kept_e, trace)
        })
        .collect();
    let time_sampling_s = t1.elapsed().as_secs_f64();

    // Query: a chain that never visits the gap state, same burn-in.
    let mut qrng = rng_for(opts.seed, STREAM_QUERY);
    let mut query = model.random_state(&mut qrng, true);
    for _ in 0..burn_in.max(1) {
        model.sweep(&mut query, &mut qrng, true);
    }

    let mut sequences = Vec::with_capacity(opts.samples);
    let mut chain_of = Vec::with_capacity(opts.samples);
    let mut kept_energies = Vec::new();
    let mut traces = Vec::new();
    for (k, (seqs, e, trace)) in outputs.into_iter().enumerate() {
        chain_of.extend(std::iter::repeat_n(k, seqs.len()));
        sequences.extend(seqs);
        kept_energies.push(e);
        traces.push(trace);
    }
    let (tau_energy_sampling, _) = gibbs::integrated_autocorrelation_time(&traces);
    let all_e: Vec<f64> = kept_energies.iter().flatten().copied().collect();
    let n_e = all_e.len().max(1) as f64;
    let energy_mean = all_e.iter().sum::<f64>() / n_e;
    let energy_std = (all_e.iter().map(|e| (e - energy_mean).powi(2)).sum::<f64>() / n_e).sqrt();
    let flips: usize = chains.iter().map(|c| c.flips).sum();
    let updates: usize = chains.iter().map(|c| c.updates).sum();
    let (gap_fraction, mean_site_entropy, mean_pairwise_identity) = diversity(&sequences, l);
    let stats = SamplerStats {
        chains: opts.chains,
        burn_in,
        burn_in_auto: opts.burn_in.is_none(),
        thin,
        thin_auto: opts.thin.is_none(),
        tau_energy,
        tau_overlap,
        tau_window_sweeps: window,
        tau_energy_sampling,
        effective_samples: sequences.len() as f64 / (2.0 * tau / thin as f64).max(1.0),
        flip_rate: flips as f64 / updates.max(1) as f64,
        energy_mean,
        energy_std,
        r_hat_energy: gibbs::gelman_rubin(&kept_energies),
        gap_fraction,
        mean_site_entropy,
        mean_pairwise_identity,
        sweeps_per_chain: burn_in + per_chain.iter().max().copied().unwrap_or(0) * thin,
        time_burn_in_s,
        time_sampling_s,
    };
    Ok(SampleRun {
        query,
        sequences,
        chain_of,
        stats,
    })
}

/// Gap fraction, mean site entropy (nats) and mean pairwise identity (over the
/// ≤ 500 sequences taken at a regular stride) of sequences of length `l`.
pub fn diversity(seqs: &[Vec<u8>], l: usize) -> (f64, f64, f64) {
    if seqs.is_empty() || l == 0 {
        return (0.0, 0.0, 0.0);
    }
    let n = seqs.len() as f64;
    let mut counts = vec![[0usize; Q]; l];
    let mut gaps = 0usize;
    for s in seqs {
        for (i, &a) in s.iter().enumerate() {
            counts[i][a as usize] += 1;
            gaps += usize::from(a == GAP);
        }
    }
    let entropy = counts
        .iter()
        .map(|c| {
            c.iter()
                .filter(|&&k| k > 0)
                .map(|&k| {
                    let p = k as f64 / n;
                    -p * p.ln()
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / l as f64;
    // ≤ 500 sequences spread evenly over the set (hence over the chains, not
    // consecutive samples of one chain).
    let stride = seqs.len().div_ceil(500);
    let sub: Vec<&Vec<u8>> = seqs.iter().step_by(stride).collect();
    let mut ident = 0.0;
    let mut pairs = 0usize;
    for a in 0..sub.len() {
        for b in (a + 1)..sub.len() {
            ident += sub[a]
                .iter()
                .zip(sub[b].iter())
                .filter(|(x, y)| x == y)
                .count() as f64
                / l as f64;
            pairs += 1;
        }
    }
    (
        gaps as f64 / (n * l as f64),
        entropy,
        if pairs > 0 { ident / pairs as f64 } else { 1.0 },
    )
}

/// Letters of a state sequence.
pub fn to_letters(seq: &[u8]) -> String {
    seq.iter()
        .map(|&s| ALPHABET[(s as usize).min(Q - 1)] as char)
        .collect()
}

/// Everything `fadca simulate` reports in `simulate.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SimulateReport {
    /// fadca version.
    pub version: String,
    /// Seed.
    pub seed: u64,
    /// Teacher parameters.
    pub teacher: TeacherParams,
    /// Teacher summary.
    pub teacher_summary: TeacherSummary,
    /// Sampling options as given (None = automatic).
    pub sampling: SampleOptions,
    /// Sampler report.
    pub sampler: SamplerStats,
    /// Records in `msa.fasta` (query + samples).
    pub records: usize,
    /// Wall time of teacher construction (s).
    pub time_teacher_s: f64,
    /// Total wall time (s).
    pub time_total_s: f64,
}

/// Numbers that describe a teacher.
#[derive(Debug, Clone, Serialize)]
pub struct TeacherSummary {
    /// Number of planted contacts.
    pub contacts: usize,
    /// Planted contacts by SPEC §3 separation class: 6–11, 12–23, ≥ 24, and below 6.
    pub contacts_short: usize,
    /// Separation 12–23.
    pub contacts_medium: usize,
    /// Separation ≥ 24.
    pub contacts_long: usize,
    /// Separation below 6 (not in any scored class).
    pub contacts_local: usize,
    /// Radius of gyration of the chain (Å).
    pub radius_of_gyration: Option<f64>,
    /// Mean Frobenius norm of `J_ij` over planted contacts (20 amino-acid states).
    pub mean_contact_coupling_norm: f64,
}

impl Teacher {
    /// Summary numbers for the report.
    pub fn summary(&self) -> TeacherSummary {
        let sep = |lo: usize, hi: usize| {
            self.contacts
                .iter()
                .filter(|(i, j)| (lo..hi).contains(&(j - i)))
                .count()
        };
        let rg = self.coords.as_ref().map(|c| {
            let pts: Vec<[f64; 3]> = c
                .rows()
                .into_iter()
                .map(|r| [r[0] as f64, r[1] as f64, r[2] as f64])
                .collect();
            lattice::radius_of_gyration(&pts)
        });
        let mut norm = 0.0;
        for (i, nb) in self.sparse.neighbours.iter().enumerate() {
            for (j, t) in nb {
                if *j > i {
                    let mut s = 0.0;
                    for a in 0..Q - 1 {
                        for b in 0..Q - 1 {
                            s += t[b * Q + a].powi(2);
                        }
                    }
                    norm += s.sqrt();
                }
            }
        }
        TeacherSummary {
            contacts: self.contacts.len(),
            contacts_short: sep(6, 12),
            contacts_medium: sep(12, 24),
            contacts_long: sep(24, usize::MAX),
            contacts_local: sep(0, 6),
            radius_of_gyration: rg,
            mean_contact_coupling_norm: norm / self.contacts.len().max(1) as f64,
        }
    }
}

/// Generates a teacher, samples from it, and writes `msa.fasta`,
/// `contacts.tsv`, `teacher.safetensors` and `simulate.json` into `dir`
/// (created if needed), each atomically. Returns the report.
pub fn write_family(
    dir: &Path,
    params: &TeacherParams,
    opts: &SampleOptions,
) -> anyhow::Result<SimulateReport> {
    let t0 = Instant::now();
    let teacher = Teacher::generate(params, opts.seed)?;
    let time_teacher_s = t0.elapsed().as_secs_f64();
    let run = teacher.sample(opts)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output folder {}", dir.display()))?;

    crate::io::write_atomic(&dir.join("msa.fasta"), |w| {
        writeln!(
            w,
            ">query teacher-conditioned-on-no-gaps seed={}",
            opts.seed
        )?;
        writeln!(w, "{}", to_letters(&run.query))?;
        for (n, (s, k)) in run.sequences.iter().zip(&run.chain_of).enumerate() {
            writeln!(w, ">sample{} chain={k}", n + 1)?;
            writeln!(w, "{}", to_letters(s))?;
        }
        Ok(())
    })?;
    write_contacts(&dir.join("contacts.tsv"), teacher.contacts())?;
    teacher.save(&dir.join("teacher.safetensors"))?;
    let report = SimulateReport {
        version: env!("CARGO_PKG_VERSION").to_string(),
        seed: opts.seed,
        teacher: params.clone(),
        teacher_summary: teacher.summary(),
        sampling: opts.clone(),
        sampler: run.stats,
        records: run.sequences.len() + 1,
        time_teacher_s,
        time_total_s: t0.elapsed().as_secs_f64(),
    };
    crate::io::write_atomic(&dir.join("simulate.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &report)?;
        writeln!(w)?;
        Ok(())
    })?;
    Ok(report)
}

/// Writes planted contacts (0-based pairs) as `i\tj\tseparation`, 1-based, with a header.
pub fn write_contacts(path: &Path, contacts: &[(usize, usize)]) -> anyhow::Result<()> {
    crate::io::write_atomic(path, |w| {
        writeln!(w, "i\tj\tseparation")?;
        for &(i, j) in contacts {
            writeln!(w, "{}\t{}\t{}", i + 1, j + 1, j - i)?;
        }
        Ok(())
    })
}
