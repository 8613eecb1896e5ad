//! `fadca.score`: precision of a prediction against a structure or a list
//! of known contacts, the dict `score.json` holds; the library's
//! [`score_files`] for a path (what `fadca score` runs), and
//! [`score_against_structure`] for a `Prediction` in memory.
use std::path::{Path, PathBuf};

use fadca::alignment::ReadOptions;
use fadca::score::{PredictionFiles, score_against_structure, score_files, write_score_outputs};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::errors::{input_error, to_py_err};
use crate::options::native_source;
use crate::predict::Prediction;

/// Scores a prediction against a `structure` (PDB or mmCIF, gzipped or not;
/// its `chain`, `atoms` and `cutoff` in Å) or a `contacts` list (`i j` per
/// line, 1-based): precision at top L, L/2, L/5, L/10 per separation
/// class, and what was scored. Returns the dict `score.json` holds, and
/// writes `score.json` and `contact_map.png` into `output` when given.
///
/// `prediction` is a `Prediction`, a fadca prediction folder (its
/// alignment taken from its `summary.json`) or a contact file of any format
/// `fadca score` reads (then `msa`, the alignment that numbers it, is
/// needed).
#[pyfunction]
#[pyo3(signature = (prediction, structure = None, *, contacts = None, chain = None, cutoff = 8.0, atoms = "cb", force_mapping = false, msa = None, keep_query_gaps = false, output = None))]
#[allow(clippy::too_many_arguments)]
pub fn score<'py>(
    py: Python<'py>,
    prediction: &Bound<'py, PyAny>,
    structure: Option<PathBuf>,
    contacts: Option<PathBuf>,
    chain: Option<String>,
    cutoff: f64,
    atoms: &str,
    force_mapping: bool,
    msa: Option<PathBuf>,
    keep_query_gaps: bool,
    output: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let source = native_source(structure, contacts, chain, atoms, cutoff)?
        .ok_or_else(|| input_error("give structure=FILE (PDB/mmCIF) or contacts=FILE (a list)"))?;
    let native = source.path().to_path_buf();
    let (report, scored) = if let Ok(p) = prediction.cast::<Prediction>() {
        let (input, saved) = p.get().for_scoring();
        let result = py.detach(|| -> anyhow::Result<_> {
            let mut report =
                score_against_structure(&input.query, &input.prediction, &source, force_mapping)?;
            report.native_sha256 = Some(fadca::io::sha256_file(source.path())?);
            let file = saved.map(|dir| dir.join(fadca::predict::files::CONTACTS_TSV));
            report.record_inputs(
                file.as_deref(),
                &input.msa,
                input.keep_query_gaps,
                &input.query_name,
            );
            Ok(report)
        });
        (
            result.map_err(|e| to_py_err(e, &[&native]))?,
            input.prediction,
        )
    } else {
        let path: PathBuf = prediction.extract().map_err(|_| {
            PyTypeError::new_err(
                "prediction: expected a fadca.Prediction or a path (str or os.PathLike)",
            )
        })?;
        let files = PredictionFiles {
            prediction: path.clone(),
            format: None,
            msa: msa.clone(),
            msa_options: ReadOptions {
                keep_query_gaps,
                ..ReadOptions::default()
            },
        };
        let mut inputs: Vec<&Path> = vec![&path, &native];
        inputs.extend(msa.as_deref());
        py.detach(|| score_files(&files, &source, force_mapping))
            .map_err(|e| to_py_err(e, &inputs))?
    };
    if let Some(dir) = &output {
        py.detach(|| write_score_outputs(dir, &report, &scored))
            .map_err(|e| to_py_err(e, &[]))?;
    }
    crate::to_python(py, &report)
}
