//! `fadca.predict` and the `Prediction` it returns: the library's
//! [`compute_prediction`] (from a path) or [`train_weighed`] (from an
//! `Alignment`) without the GIL, and `.save(folder)` through
//! [`save_prediction`], the writer `fadca predict` uses.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use fadca::alignment::family_name;
use fadca::model::memory::{available_bytes, human_bytes};
use fadca::predict::{
    Limits, PredictRequest, PredictionSummary, Timings, Trained, compute_prediction,
    default_model_path, default_output_dir, save_prediction, train_weighed,
};
use fadca::runtime::default_threads;
use fadca::weights::Weighting;
use fadca::{Q, predict::validate_name};
use numpy::{IntoPyArray, PyArray2, PyArray4, ToPyArray};
use pyo3::exceptions::{PyMemoryError, PyTypeError};
use pyo3::prelude::*;

use crate::alignment::{Alignment, read_options};
use crate::errors::{input_error, to_py_err};
use crate::options::{Size, Training, fraction, model_request, native_source};
use crate::progress;

/// A request with every field set; callers replace what they use.
pub fn request_template() -> PredictRequest {
    PredictRequest {
        msa: PathBuf::new(),
        read_options: Default::default(),
        weighting: Weighting::default(),
        name: "prediction".into(),
        output_dir: PathBuf::new(),
        model_path: PathBuf::new(),
        model: Default::default(),
        config: fadca::model::TrainConfig::defaults(fadca::model::ModelKind::Factored),
        threads: 1,
        save_couplings: false,
        native: None,
        force_mapping: false,
        lists: Default::default(),
        svg: false,
        force: false,
    }
}

/// A trained model's contact prediction (made by `fadca.predict`).
///
/// `scores` is the L×L APC-corrected symmetric score matrix (`float64`, the
/// numbers of `contacts.mat`); `contacts()` ranks the pairs; `save(folder)`
/// writes the files `fadca predict` writes; `summary` is `summary.json`'s
/// dict; `couplings()` the trained couplings.
#[pyclass(module = "fadca", frozen)]
pub struct Prediction {
    trained: Mutex<Trained>,
    request: PredictRequest,
    scores: Py<PyArray2<f64>>,
    alignment: OnceLock<Py<Alignment>>,
    /// The summary of the last `save`, and the folder it wrote.
    saved: Mutex<Option<(PathBuf, PredictionSummary)>>,
}

impl Prediction {
    /// The trained prediction (the lock is never held across Python calls).
    fn trained(&self) -> MutexGuard<'_, Trained> {
        self.trained.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The query sequence, the prediction and where it was saved, for
    /// `fadca.score`.
    pub fn for_scoring(&self) -> (ScoringInput, Option<PathBuf>) {
        let t = self.trained();
        let saved = self
            .saved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(dir, _)| dir.clone());
        (
            ScoringInput {
                query: t.weighed.alignment.query_sequence.clone(),
                query_name: t.weighed.alignment.query_name().to_string(),
                prediction: t.prediction.clone(),
                msa: self.request.msa.clone(),
                keep_query_gaps: self.request.read_options.keep_query_gaps,
            },
            saved,
        )
    }
}

/// What scoring needs of a prediction.
pub struct ScoringInput {
    /// The query's residues.
    pub query: String,
    /// The query's name.
    pub query_name: String,
    /// The scores.
    pub prediction: fadca::contacts::Prediction,
    /// The alignment file.
    pub msa: PathBuf,
    /// How it was read.
    pub keep_query_gaps: bool,
}

#[pymethods]
impl Prediction {
    /// L×L contact scores (`float64`, symmetric, zero diagonal): the numbers
    /// in `contacts.mat`. Read-only.
    #[getter]
    fn scores(&self, py: Python<'_>) -> Py<PyArray2<f64>> {
        self.scores.clone_ref(py)
    }

    /// Query length L.
    #[getter]
    fn length(&self) -> usize {
        self.trained().prediction.length
    }

    /// The model trained: `"factored"` or `"potts"`.
    #[getter]
    fn model(&self) -> &'static str {
        self.trained().choice.model.name()
    }

    /// Why that model: `model="auto"`'s choice and the memory it needs, or
    /// the model asked for.
    #[getter]
    fn model_reason(&self) -> String {
        self.trained().choice.reason.clone()
    }

    /// The alignment trained on (with its weights).
    #[getter]
    fn alignment(&self, py: Python<'_>) -> PyResult<Py<Alignment>> {
        if let Some(a) = self.alignment.get() {
            return Ok(a.clone_ref(py));
        }
        let weighed = self.trained().weighed.clone();
        let a = Alignment::new(
            py,
            weighed,
            self.request.read_options.clone(),
            self.request.weighting,
        )?;
        let a = Py::new(py, a)?;
        Ok(self.alignment.get_or_init(|| a).clone_ref(py))
    }

    /// The dict of `summary.json`: inputs, counts, M_eff, model and
    /// hyper-parameters, loss curve, timings, device, version; after
    /// `save`, exactly what it wrote (before, `output_dir` and
    /// `model_path` are None and `outputs` is empty).
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some((_, summary)) = &*self.saved.lock().unwrap_or_else(|e| e.into_inner()) {
            return crate::to_python(py, summary);
        }
        let summary = self.trained().summary(&self.request);
        let dict = crate::to_python(py, &summary)?;
        dict.set_item("output_dir", py.None())?;
        dict.set_item("model_path", py.None())?;
        Ok(dict)
    }

    /// The pairs i < j with j − i ≥ `min_separation`, best first (ties by
    /// i, then j), the first `top` of them (all when None): a numpy
    /// structured array with fields `i`, `j` (1-based, as in the files) and
    /// `score`.
    #[pyo3(signature = (top = None, min_separation = 6))]
    fn contacts<'py>(
        &self,
        py: Python<'py>,
        top: Option<usize>,
        min_separation: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pairs = self
            .trained()
            .prediction
            .top(usize::MAX, min_separation, None);
        let pairs = &pairs[..top.unwrap_or(pairs.len()).min(pairs.len())];
        let np = py.import("numpy")?;
        let dtype = vec![("i", "<i8"), ("j", "<i8"), ("score", "<f8")];
        let out = np.call_method1("empty", (pairs.len(), dtype))?;
        let i: Vec<i64> = pairs.iter().map(|p| p.i as i64).collect();
        let j: Vec<i64> = pairs.iter().map(|p| p.j as i64).collect();
        let score: Vec<f64> = pairs.iter().map(|p| p.score).collect();
        out.set_item("i", i.to_pyarray(py))?;
        out.set_item("j", j.to_pyarray(py))?;
        out.set_item("score", score.to_pyarray(py))?;
        Ok(out)
    }

    /// The trained, asymmetric couplings `J[i, j, a, b] = J_ij(a, b)`
    /// (L×L×21×21 `float32`, as `couplings.npy`): 1764·L² bytes, refused
    /// with MemoryError when that is more than the memory available.
    fn couplings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray4<f32>>> {
        let l = self.trained().prediction.length as u64;
        let bytes = l * l * (Q * Q * 4) as u64;
        if let Some(available) = available_bytes(tch::Device::Cpu)
            && bytes > available
        {
            return Err(PyMemoryError::new_err(format!(
                "the couplings take {} (L = {l}) and only {} is available",
                human_bytes(bytes),
                human_bytes(available)
            )));
        }
        let couplings = py.detach(|| self.trained().model.couplings());
        Ok(couplings.into_pyarray(py))
    }

    /// Writes the files `fadca predict` writes into `folder` (created if
    /// needed; the model to `model_path`, default `folder/model.safetensors`):
    /// `contacts.tsv`, `contacts.mat`, `contacts.rr`, the model,
    /// `couplings.npy` with `couplings=True`, `score.json` and
    /// `contact_map.png` against a `structure` (PDB/mmCIF) or `contacts`
    /// list, and `summary.json`, last; the folder appears as a whole. A
    /// prediction of another alignment there is not replaced without
    /// `force=True`. Returns the summary written.
    #[pyo3(signature = (folder, *, model_path = None, couplings = false, structure = None, contacts = None, chain = None, atoms = "cb", cutoff = 8.0, force_mapping = false, force = false))]
    #[allow(clippy::too_many_arguments)]
    fn save<'py>(
        &self,
        py: Python<'py>,
        folder: PathBuf,
        model_path: Option<PathBuf>,
        couplings: bool,
        structure: Option<PathBuf>,
        contacts: Option<PathBuf>,
        chain: Option<String>,
        atoms: &str,
        cutoff: f64,
        force_mapping: bool,
        force: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let native = native_source(structure, contacts, chain, atoms, cutoff)?;
        let inputs: Vec<PathBuf> = native.iter().map(|n| n.path().to_path_buf()).collect();
        let request = PredictRequest {
            model_path: model_path.unwrap_or_else(|| folder.join("model.safetensors")),
            output_dir: folder.clone(),
            save_couplings: couplings,
            native,
            force_mapping,
            force,
            ..self.request.clone()
        };
        let outcome = py
            .detach(|| save_prediction(&request, &self.trained()))
            .map_err(|e| {
                let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
                to_py_err(e, &inputs)
            })?;
        let dict = crate::to_python(py, &outcome.summary)?;
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some((folder, outcome.summary));
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let t = self.trained();
        format!(
            "<fadca.Prediction {} model of {:?}: L={} N={} M_eff={:.1}>",
            t.choice.model.name(),
            self.request.msa.display().to_string(),
            t.prediction.length,
            t.weighed.alignment.depth(),
            t.weighed.meff
        )
    }
}

/// Trains a model on an alignment (a path, or an `Alignment`) and returns
/// its contact prediction, as `fadca predict` does: the same alignment,
/// options, seed and threads give the same scores and files.
///
/// `model`: `"auto"` (the Potts model where its memory estimate fits
/// `max_memory` or the memory available, else factored attention), `"potts"`
/// or `"factored"`.
/// `threads`: CPU threads (default: all cores). `device`: `"cpu"`, `"cuda"`
/// or `"auto"`. `progress`: a bar while training, when stderr is a terminal
/// or in a notebook (tqdm's when installed). The other options are
/// `fadca predict`'s flags (`None`: the model's default); `theta`,
/// `max_gap_fraction`, `keep_query_gaps` and `format` apply to a path only.
/// Releases the GIL while training; Ctrl-C stops it (KeyboardInterrupt).
#[pyfunction]
#[pyo3(signature = (alignment, *, model = "auto", seed = 0, threads = None, device = "cpu", progress = true, name = None, heads = None, head_dim = None, epochs = None, steps = None, batch_size = None, learning_rate = None, lambda_j = None, lambda_h = None, objective = None, mask_prob = None, max_memory = None, max_seqs = None, theta = 0.8, max_gap_fraction = 0.9, keep_query_gaps = false, format = None))]
#[allow(clippy::too_many_arguments)]
pub fn predict(
    py: Python<'_>,
    alignment: &Bound<'_, PyAny>,
    model: &str,
    seed: u64,
    threads: Option<usize>,
    device: &str,
    progress: bool,
    name: Option<String>,
    heads: Option<usize>,
    head_dim: Option<usize>,
    epochs: Option<usize>,
    steps: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f64>,
    lambda_j: Option<f64>,
    lambda_h: Option<f64>,
    objective: Option<String>,
    mask_prob: Option<f64>,
    max_memory: Option<Size>,
    max_seqs: Option<usize>,
    theta: f64,
    max_gap_fraction: f64,
    keep_query_gaps: bool,
    format: Option<&str>,
) -> PyResult<Prediction> {
    let requested = model_request(model)?;
    // Both models share the defaults; the model itself is chosen per alignment.
    let kind = requested.forced().unwrap_or(fadca::model::ModelKind::Potts);
    let training = Training {
        heads,
        head_dim,
        epochs,
        steps,
        batch_size,
        learning_rate,
        lambda_j,
        lambda_h,
        objective,
        mask_prob,
    };
    let config = training.config(kind, seed, device)?;
    let threads = threads.unwrap_or_else(default_threads);
    if threads == 0 {
        return Err(input_error("threads must be at least 1"));
    }
    let limits = Limits {
        max_memory: max_memory.map(|m| m.bytes()).transpose()?,
        max_seqs,
    };
    let given: Option<PyRef<'_, Alignment>> = alignment.extract().ok();
    let (msa, read_options, weighting) = match &given {
        Some(a) => (
            a.weighed.alignment.path.clone(),
            a.options.clone(),
            a.weighting,
        ),
        None => {
            let path: PathBuf = alignment.extract().map_err(|_| {
                PyTypeError::new_err(
                    "alignment: expected a path (str or os.PathLike) or a fadca.Alignment",
                )
            })?;
            let options = read_options(
                format,
                keep_query_gaps,
                fraction("max_gap_fraction", max_gap_fraction)?,
            )?;
            (path, options, Weighting::at(fraction("theta", theta)?))
        }
    };
    let name = name.unwrap_or_else(|| family_name(&msa));
    validate_name(&name).map_err(|e| to_py_err(e, &[]))?;
    let request = PredictRequest {
        msa: msa.clone(),
        read_options,
        weighting,
        output_dir: default_output_dir(&name),
        model_path: default_model_path(&name),
        name,
        model: requested,
        config,
        threads,
        ..request_template()
    };
    let weighed = given.as_ref().map(|a| a.weighed.clone());
    drop(given);
    let result = progress::train(py, threads, progress, |on_progress| match weighed {
        Some(weighed) => train_weighed(&request, &limits, weighed, Timings::default(), on_progress),
        None => compute_prediction(&request, &limits, on_progress),
    })?;
    let trained = result.map_err(|e| to_py_err(e, &[&msa]))?;
    let scores = trained.prediction.to_matrix().into_pyarray(py);
    scores.call_method1("setflags", (false,))?;
    Ok(Prediction {
        trained: Mutex::new(trained),
        request,
        scores: scores.unbind(),
        alignment: OnceLock::new(),
        saved: Mutex::new(None),
    })
}
