//! The planted [`Teacher`]: how it is built from a chain ([`Teacher::generate`],
//! see the [simulate documentation](crate::simulate)) or from given parameters
//! ([`Teacher::from_parts`]), its couplings, energy and exact conditionals.
use std::collections::BTreeMap;

use ndarray::{Array2, Array3, Array4};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::gibbs::SparsePotts;
use super::sampler::{SampleOptions, SampleRun, sample};
use super::{
    COMPACTNESS, DEFAULT_BETA, DEFAULT_CUTOFF, DEFAULT_MIN_SEPARATION, EXTRA_HEAD_PROB, GAP_FIELD,
    STREAM_TEACHER, STREAM_VALUES, lattice, rng_for,
};
use crate::Q;
use crate::alignment::GAP;

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
    /// Seed of the values alone (`fadca simulate --values-seed`): teachers
    /// with the same values seed (and H, β) share their values `V^h`
    /// whatever their own seed, as the families of a shared-values model
    /// do; `None`: the values come from the teacher's seed.
    pub values_seed: Option<u64>,
}

impl Default for TeacherParams {
    fn default() -> Self {
        TeacherParams {
            length: 60,
            heads: 4,
            beta: DEFAULT_BETA,
            cutoff: DEFAULT_CUTOFF,
            min_separation: DEFAULT_MIN_SEPARATION,
            values_seed: None,
        }
    }
}

/// A planted factored-attention Potts model. Parameters are stored as `f32`
/// (as saved), and every computation uses exactly these values, so a saved
/// and reloaded teacher samples identically.
#[derive(Debug, Clone)]
pub struct Teacher {
    /// Fields `h_i(a)`, L×21.
    pub(super) fields: Array2<f32>,
    /// Attention `A^h_ij`, H×L×L, symmetric, non-negative, zero diagonal.
    pub(super) attention: Array3<f32>,
    /// Values `V^h(a,b)`, H×21×21, symmetric.
    pub(super) values: Array3<f32>,
    /// Chain coordinates in Å (L×3), when the teacher was built from a chain.
    pub(super) coords: Option<Array2<f32>>,
    /// Planted contacts, 0-based `(i, j)`, `i < j`, sorted.
    pub(super) contacts: Vec<(usize, usize)>,
    /// Free-form description saved with the model (β, cutoff, seed…).
    pub(super) metadata: BTreeMap<String, String>,
    /// The same model as per-site neighbour tables, for sampling.
    pub(super) sparse: SparsePotts,
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
        if let Some(values_seed) = params.values_seed {
            // Drawn as above, from a stream of their own: the teacher's
            // other draws stay those of its seed.
            let mut shared = rng_for(values_seed, STREAM_VALUES);
            for h in 0..nh {
                for a in 0..Q - 1 {
                    for b in a..Q - 1 {
                        let v = (params.beta * normal(&mut shared)) as f32;
                        values[[h, a, b]] = v;
                        values[[h, b, a]] = v;
                    }
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
        let mut metadata = metadata;
        if let Some(values_seed) = params.values_seed {
            metadata.insert("values_seed".to_string(), values_seed.to_string());
        }
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
        let sparse = SparsePotts::from_factored(&fields, &attention, &values);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Teacher {
        let params = TeacherParams {
            length: 12,
            heads: 2,
            ..TeacherParams::default()
        };
        Teacher::generate(&params, 5).unwrap()
    }

    /// A sequence that uses every state, the gap included.
    fn mixed_sequence(l: usize) -> Vec<u8> {
        (0..l).map(|i| ((7 * i + 3) % Q) as u8).collect()
    }

    #[test]
    fn energy_is_minus_fields_and_dense_couplings() {
        let t = small();
        assert!(!t.contacts().is_empty());
        let j4 = t.couplings();
        let x = mixed_sequence(t.len());
        let mut minus_e = 0.0;
        for i in 0..t.len() {
            let a = x[i] as usize;
            minus_e += t.fields()[[i, a]] as f64;
            for j in i + 1..t.len() {
                minus_e += j4[[i, j, a, x[j] as usize]] as f64;
            }
        }
        assert!((t.energy(&x) + minus_e).abs() < 1e-9, "{}", t.energy(&x));
    }

    #[test]
    fn conditionals_are_normalised_energy_differences() {
        let t = small();
        let mut x = mixed_sequence(t.len());
        for i in 0..t.len() {
            let logp = t.conditional_log_probs(&x, i);
            let total: f64 = logp.iter().map(|v| v.exp()).sum();
            assert!((total - 1.0).abs() < 1e-12, "site {i}: {total}");
            // log P(a | rest) − log P(b | rest) = E(x with b) − E(x with a).
            let b = x[i];
            let e_b = t.energy(&x);
            for a in 0..Q {
                x[i] = a as u8;
                let diff = logp[a] - logp[b as usize];
                assert!(
                    (diff - (e_b - t.energy(&x))).abs() < 1e-9,
                    "site {i}, a {a}"
                );
            }
            x[i] = b;
        }
    }

    #[test]
    fn generation_is_deterministic_and_checks_its_parameters() {
        let params = TeacherParams {
            length: 12,
            heads: 2,
            ..TeacherParams::default()
        };
        let (a, b) = (
            Teacher::generate(&params, 5).unwrap(),
            Teacher::generate(&params, 5).unwrap(),
        );
        assert_eq!(a.fields(), b.fields());
        assert_eq!(a.attention(), b.attention());
        assert_eq!(a.values(), b.values());
        assert_eq!(a.contacts(), b.contacts());
        let c = Teacher::generate(&params, 6).unwrap();
        assert_ne!(a.fields(), c.fields());
        // Gap fields fixed, gap rows and columns of V zero.
        assert!(
            a.fields()
                .column(GAP as usize)
                .iter()
                .all(|&v| v == GAP_FIELD as f32)
        );
        for h in 0..a.heads() {
            for s in 0..Q {
                assert_eq!(a.values()[[h, GAP as usize, s]], 0.0);
            }
        }
        assert_eq!(a.metadata().get("seed").map(String::as_str), Some("5"));
        let bad =
            |p: TeacherParams| crate::error::is_input_error(&Teacher::generate(&p, 1).unwrap_err());
        assert!(bad(TeacherParams {
            length: 1,
            ..params.clone()
        }));
        assert!(bad(TeacherParams {
            heads: 0,
            ..params.clone()
        }));
        assert!(bad(TeacherParams {
            beta: -0.1,
            ..params.clone()
        }));
        assert!(bad(TeacherParams {
            beta: f64::NAN,
            ..params
        }));
    }

    #[test]
    fn from_parts_checks_and_derives_the_contacts() {
        let (l, nh) = (4, 2);
        let fields = Array2::<f32>::zeros((l, Q));
        let values = Array3::<f32>::ones((nh, Q, Q));
        let mut attention = Array3::<f32>::zeros((nh, l, l));
        for (h, i, j) in [(0, 0, 2), (1, 1, 3), (1, 0, 2)] {
            attention[[h, i, j]] = 0.5;
            attention[[h, j, i]] = 0.5;
        }
        let t = Teacher::from_parts(fields.clone(), attention.clone(), values.clone()).unwrap();
        assert_eq!(t.contacts(), &[(0, 2), (1, 3)]);
        assert!(t.coords().is_none());

        let fails = |f: &Array2<f32>, a: &Array3<f32>, v: &Array3<f32>| {
            let err = Teacher::from_parts(f.clone(), a.clone(), v.clone()).unwrap_err();
            assert!(crate::error::is_input_error(&err), "{err}");
            err.to_string()
        };
        let mut diagonal = attention.clone();
        diagonal[[1, 2, 2]] = 1.0;
        assert!(fails(&fields, &diagonal, &values).contains("A[2,2]"));
        let mut negative = attention.clone();
        negative[[0, 1, 2]] = -1.0;
        negative[[0, 2, 1]] = -1.0;
        assert!(fails(&fields, &negative, &values).contains("negative"));
        let mut nan = fields.clone();
        nan[[0, 0]] = f32::NAN;
        assert!(fails(&nan, &attention, &values).contains("NaN"));
        assert!(fails(&Array2::zeros((l, 20)), &attention, &values).contains("fields"));
        assert!(fails(&fields, &Array3::zeros((nh, l, l + 1)), &values).contains("attention"));
        assert!(fails(&fields, &attention, &Array3::zeros((nh + 1, Q, Q))).contains("values"));
    }
}
