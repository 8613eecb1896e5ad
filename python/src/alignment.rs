//! `fadca.read_alignment` and the `Alignment` it returns: the alignment as
//! fadca reads and weighs it for training (stages read and weigh of
//! `fadca predict`), as numpy arrays.
use std::path::PathBuf;

use fadca::alignment::{ALPHABET, Format, ReadOptions};
use fadca::predict::{Limits, PredictRequest, Timings, Weighed, read_weighed};
use fadca::weights::Weighting;
use numpy::{PyArray1, PyArray2, ToPyArray};
use pyo3::prelude::*;

use crate::errors::to_py_err;
use crate::options::{choice, fraction};

/// An alignment as fadca trains on it (read with `fadca.read_alignment`, or
/// made by `fadca.simulate`).
///
/// `msa` is the N×L `uint8` matrix of states (0–19 the amino acids of
/// `alphabet`, 20 the gap), row 0 the query, over the query's columns;
/// `weights` the N sequence weights and `meff` their sum. The arrays are
/// read-only: `predict(alignment)` trains on exactly these.
#[pyclass(module = "fadca", frozen)]
pub struct Alignment {
    /// The alignment, its weights, M_eff and SHA-256.
    pub weighed: Weighed,
    /// How it was read.
    pub options: ReadOptions,
    /// How it was weighed.
    pub weighting: Weighting,
    msa: Py<PyArray2<u8>>,
    weights: Py<PyArray1<f64>>,
}

impl Alignment {
    /// Wraps a weighed alignment read with `options` and weighed with
    /// `weighting`; its arrays are made once, read-only.
    pub fn new(
        py: Python<'_>,
        weighed: Weighed,
        options: ReadOptions,
        weighting: Weighting,
    ) -> PyResult<Alignment> {
        let msa = weighed.alignment.states.to_pyarray(py);
        msa.call_method1("setflags", (false,))?;
        let weights = weighed.weights.to_pyarray(py);
        weights.call_method1("setflags", (false,))?;
        Ok(Alignment {
            weighed,
            options,
            weighting,
            msa: msa.unbind(),
            weights: weights.unbind(),
        })
    }
}

#[pymethods]
impl Alignment {
    /// States, N×L `uint8` (0–20 in `alphabet` order; 20 is the gap).
    #[getter]
    fn msa(&self, py: Python<'_>) -> Py<PyArray2<u8>> {
        self.msa.clone_ref(py)
    }

    /// Sequence weights `1/|{m : identity(n,m) ≥ θ}|`, length N (`float64`).
    #[getter]
    fn weights(&self, py: Python<'_>) -> Py<PyArray1<f64>> {
        self.weights.clone_ref(py)
    }

    /// The effective number of sequences M_eff (the sum of the weights).
    #[getter]
    fn meff(&self) -> f64 {
        self.weighed.meff
    }

    /// The query's sequence over the kept columns (residues 1…L).
    #[getter]
    fn query(&self) -> String {
        self.weighed.alignment.query_sequence.clone()
    }

    /// The query's name (first record).
    #[getter]
    fn query_name(&self) -> String {
        self.weighed.alignment.query_name().to_string()
    }

    /// Names of the kept sequences, the query first.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.weighed.alignment.names.clone()
    }

    /// The states' letters in index order, `"ARNDCQEGHILKMFPSTWYV-"`.
    #[getter]
    fn alphabet(&self) -> String {
        String::from_utf8_lossy(ALPHABET).into_owned()
    }

    /// The file it was read from (as given).
    #[getter]
    fn path(&self) -> String {
        self.weighed.alignment.path.display().to_string()
    }

    /// The format it was read as (`fasta`, `a3m`, `stockholm`, `aln`).
    #[getter]
    fn format(&self) -> &'static str {
        self.weighed.alignment.format.name()
    }

    /// SHA-256 of the file (of the FASTA text for a simulated family).
    #[getter]
    fn sha256(&self) -> String {
        self.weighed.msa_sha256.clone()
    }

    /// The identity threshold θ of the weights (1: unweighted).
    #[getter]
    fn theta(&self) -> f64 {
        self.weighting.theta()
    }

    /// Query length L (columns).
    #[getter]
    fn length(&self) -> usize {
        self.weighed.alignment.length()
    }

    /// Counts, as `fadca inspect --json` reports them: `n_read`,
    /// `n_dropped_gappy`, `n_kept`, `n_columns`, `n_columns_dropped`.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::to_python(py, &self.weighed.alignment.stats)
    }

    /// Number of sequences N.
    fn __len__(&self) -> usize {
        self.weighed.alignment.depth()
    }

    fn __repr__(&self) -> String {
        let a = &self.weighed.alignment;
        format!(
            "<fadca.Alignment {:?}: N={} L={} M_eff={:.1}>",
            a.path.display().to_string(),
            a.depth(),
            a.length(),
            self.weighed.meff
        )
    }
}

/// How `read_alignment` and `predict` read a file.
pub fn read_options(
    format: Option<&str>,
    keep_query_gaps: bool,
    max_gap_fraction: f64,
) -> PyResult<ReadOptions> {
    Ok(ReadOptions {
        format: format.map(|f| choice::<Format>("format", f)).transpose()?,
        keep_query_gaps,
        max_gap_fraction,
    })
}

/// Reads and weighs an alignment file: FASTA/A2M, A3M, Stockholm or
/// PSICOV `.aln`, gzipped or not, the format detected from content unless
/// `format` is given. The first sequence is the query; columns where it has
/// a gap are dropped unless `keep_query_gaps`; sequences with more than
/// `max_gap_fraction` gaps are dropped; weights at identity `theta` (1:
/// none). Raises `fadca.InputError` for a malformed file (with its file,
/// line and record) and `FileNotFoundError` for a missing one.
#[pyfunction]
#[pyo3(signature = (path, *, theta = 0.8, max_gap_fraction = 0.9, keep_query_gaps = false, format = None))]
pub fn read_alignment(
    py: Python<'_>,
    path: PathBuf,
    theta: f64,
    max_gap_fraction: f64,
    keep_query_gaps: bool,
    format: Option<&str>,
) -> PyResult<Alignment> {
    let options = read_options(
        format,
        keep_query_gaps,
        fraction("max_gap_fraction", max_gap_fraction)?,
    )?;
    let weighting = Weighting::at(fraction("theta", theta)?);
    let weighed = read_file(py, &path, &options, weighting)?;
    Alignment::new(py, weighed, options, weighting)
}

/// Stages read and weigh of `fadca predict` on `path`, without the GIL.
pub fn read_file(
    py: Python<'_>,
    path: &std::path::Path,
    options: &ReadOptions,
    weighting: Weighting,
) -> PyResult<Weighed> {
    // Only the fields the two stages read matter.
    let request = PredictRequest {
        msa: path.to_path_buf(),
        read_options: options.clone(),
        weighting,
        ..crate::predict::request_template()
    };
    py.detach(|| read_weighed(&request, &Limits::default(), &mut Timings::default()))
        .map_err(|e| to_py_err(e, &[path]))
}
