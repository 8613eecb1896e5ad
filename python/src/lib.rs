//! `import fadca`: the Python module over the fadca library (PyO3). It is
//! not a second implementation: every function calls the library that the
//! `fadca` command line calls, so the same inputs, seed and threads give
//! the same numbers and files. Arrays come and go as numpy arrays.
//!
//! | Python | library | module |
//! |---|---|---|
//! | `read_alignment` → `Alignment` | `predict::read_weighed` | `alignment` |
//! | `predict` → `Prediction` (`.save`) | `predict::{compute_prediction, train_weighed, save_prediction}` | `predict` |
//! | `score` | `score::{score_files, score_against_structure}` | `score` |
//! | `simulate` → `Simulation` | `simulate::simulate_family` | `simulate` |
//!
//! Errors ([`errors`]): bad input raises `fadca.InputError` (a
//! `ValueError`) with the command line's message; a missing file
//! `FileNotFoundError`. Training releases the GIL and stops on Ctrl-C
//! ([`progress`]).
use pyo3::prelude::*;

mod alignment;
mod errors;
mod options;
mod predict;
mod progress;
mod score;
mod simulate;

/// Converts anything serde can write to the Python object that
/// `json.loads` makes of its JSON (dicts, lists, numbers, strings, None):
/// the dicts equal what the files (`summary.json`, `score.json`) hold.
fn to_python<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// fadca: protein residue contacts from a multiple sequence alignment, by
/// factored attention or the Potts model (pseudo-likelihood).
///
/// >>> import fadca
/// >>> p = fadca.predict("msa/example.fasta", threads=2)
/// >>> p.scores.shape
/// (60, 60)
#[pymodule]
#[pyo3(name = "fadca")]
fn fadca_python(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "ALPHABET",
        String::from_utf8_lossy(fadca::alignment::ALPHABET).into_owned(),
    )?;
    m.add("InputError", m.py().get_type::<errors::InputError>())?;
    m.add_class::<alignment::Alignment>()?;
    m.add_class::<predict::Prediction>()?;
    m.add_class::<simulate::Simulation>()?;
    m.add_function(wrap_pyfunction!(alignment::read_alignment, m)?)?;
    m.add_function(wrap_pyfunction!(predict::predict, m)?)?;
    m.add_function(wrap_pyfunction!(score::score, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::simulate, m)?)?;
    Ok(())
}
