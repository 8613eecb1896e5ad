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
            rr_model: 1,
            msa: msa.clone(),
            msa_options: ReadOptions {
                keep_query_gaps,
                ..ReadOptions::default()
            },
        };
        let mut inputs: Vec<&Path> = vec![&path, &native];
        inputs.extend(msa.as_deref());
        let scored = py
            .detach(|| score_files(&files, &source, force_mapping))
            .map_err(|e| to_py_err(e, &inputs))?;
        (scored.report, scored.prediction)
    };
    if let Some(dir) = &output {
        // The contact map's title: the family the prediction names.
        let title = report
            .inputs
            .get("prediction")
            .and_then(|p| p["path"].as_str())
            .map(|p| figure_title(Path::new(p)))
            .unwrap_or_else(|| "prediction".into());
        py.detach(|| write_score_outputs(dir, &report, &scored, &title, false))
            .map_err(|e| to_py_err(e, &[]))?;
    }
    crate::to_python(py, &report)
}

/// A family name for a contact file: its folder's name for fadca's own
/// `contacts.*` files, else the file name up to its first dot.
fn figure_title(path: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let title = match name(path) {
        Some(n) if n.starts_with("contacts.") => path.parent().and_then(name),
        Some(n) => n.split('.').next().map(str::to_string),
        None => None,
    };
    title
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "prediction".into())
}
