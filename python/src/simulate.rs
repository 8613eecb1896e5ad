//! `fadca.simulate`: a synthetic family from a planted factored-attention
//! Potts model (the library's [`simulate_family`], what `fadca simulate`
//! runs), as an `Alignment` and its planted contacts.
use std::path::PathBuf;

use fadca::alignment::{ReadOptions, parse_alignment_bytes};
use fadca::predict::Weighed;
use fadca::simulate::{
    DEFAULT_BETA, DEFAULT_CUTOFF, DEFAULT_MIN_SEPARATION, SampleOptions, TeacherParams,
    simulate_family,
};
use fadca::weights::{Weighting, effective_count};
use numpy::{PyArray2, ToPyArray};
use pyo3::prelude::*;

use crate::alignment::{Alignment, read_file};
use crate::errors::{input_error, to_py_err};

/// A synthetic family made by `fadca.simulate`: `alignment` (the query,
/// then the samples), `contacts` (the planted contacts, K×2 `int64`,
/// 1-based `i < j`) and `report` (the dict `simulate.json` holds).
#[pyclass(module = "fadca", frozen)]
pub struct Simulation {
    /// The family, weighed at θ = 0.8.
    #[pyo3(get)]
    alignment: Py<Alignment>,
    /// The planted contacts, K×2, 1-based.
    #[pyo3(get)]
    contacts: Py<PyArray2<i64>>,
    /// Parameters, sampler statistics, timings (`simulate.json`).
    #[pyo3(get)]
    report: Py<PyAny>,
}

#[pymethods]
impl Simulation {
    fn __repr__(&self, py: Python<'_>) -> String {
        let a = self.alignment.get();
        format!(
            "<fadca.Simulation: N={} L={}, {} planted contacts>",
            a.weighed.alignment.depth(),
            a.weighed.alignment.length(),
            self.contacts.bind(py).len().unwrap_or(0)
        )
    }
}

/// Samples a synthetic family whose contacts are known, as `fadca
/// simulate` does (same parameters and seed, same sequences): a random
/// compact chain of `length` residues gives the contacts (distance <
/// `cutoff` Å, |i − j| ≥ `min_separation`), `heads` attention heads follow
/// them with value matrices of strength `coupling_strength`, and `samples`
/// sequences are drawn by Gibbs sampling over `chains` chains (`burn_in`,
/// `thin` in sweeps; None: automatic). With `output`, also writes
/// `msa.fasta`, `contacts.tsv`, `teacher.safetensors` and `simulate.json`
/// there, and the alignment is read from that `msa.fasta`.
#[pyfunction]
#[pyo3(signature = (*, length = 60, heads = 4, samples = 3000, seed = 1, coupling_strength = DEFAULT_BETA, cutoff = DEFAULT_CUTOFF, min_separation = DEFAULT_MIN_SEPARATION, chains = 8, burn_in = None, thin = None, output = None))]
#[allow(clippy::too_many_arguments)]
pub fn simulate(
    py: Python<'_>,
    length: usize,
    heads: usize,
    samples: usize,
    seed: u64,
    coupling_strength: f64,
    cutoff: f64,
    min_separation: usize,
    chains: usize,
    burn_in: Option<usize>,
    thin: Option<usize>,
    output: Option<PathBuf>,
) -> PyResult<Simulation> {
    // The command line's ranges (its flags check them).
    if !(2..=2000).contains(&length) {
        return Err(input_error(format!("length {length}: must be 2 to 2000")));
    }
    if !(1..=64).contains(&heads) {
        return Err(input_error(format!("heads {heads}: must be 1 to 64")));
    }
    if chains == 0 {
        return Err(input_error("chains 0: must be at least 1"));
    }
    if !(cutoff.is_finite() && cutoff > 0.0) {
        return Err(input_error(format!(
            "cutoff {cutoff}: must be a positive number of Å"
        )));
    }
    if min_separation < 1 {
        return Err(input_error("min_separation 0: must be at least 1"));
    }
    let params = TeacherParams {
        length,
        heads,
        beta: coupling_strength,
        cutoff,
        min_separation,
        values_seed: None,
    };
    let opts = SampleOptions {
        samples,
        chains,
        burn_in,
        thin,
        seed,
    };
    let family = py
        .detach(|| simulate_family(&params, &opts))
        .map_err(|e| to_py_err(e, &[]))?;
    let weighting = Weighting::default();
    let options = ReadOptions::default();
    let (weighed, report) = match &output {
        Some(dir) => {
            let report = py
                .detach(|| family.write(dir))
                .map_err(|e| to_py_err(e, &[]))?;
            (
                read_file(py, &dir.join("msa.fasta"), &options, weighting)?,
                report,
            )
        }
        None => {
            let fasta = family.fasta();
            let weighed = py
                .detach(|| -> anyhow::Result<Weighed> {
                    let alignment =
                        parse_alignment_bytes("simulated.fasta", fasta.as_bytes(), &options)?;
                    let weights = weighting.weights(&alignment);
                    Ok(Weighed {
                        meff: effective_count(&weights),
                        msa_sha256: fadca::io::sha256_bytes(fasta.as_bytes()),
                        alignment,
                        weights,
                        subsampled_from: None,
                    })
                })
                .map_err(|e| to_py_err(e, &[]))?;
            (weighed, family.report.clone())
        }
    };
    let contacts: Vec<i64> = family
        .teacher
        .contacts()
        .iter()
        .flat_map(|&(i, j)| [i as i64 + 1, j as i64 + 1])
        .collect();
    let contacts = ndarray::Array2::from_shape_vec((contacts.len() / 2, 2), contacts)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    Ok(Simulation {
        alignment: Py::new(py, Alignment::new(py, weighed, options, weighting)?)?,
        contacts: contacts.to_pyarray(py).unbind(),
        report: crate::to_python(py, &report)?.unbind(),
    })
}
