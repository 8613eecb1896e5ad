//! Turning Python arguments into the library's options, with the command
//! line's names and checks: the choices (`model`, `device`, `objective`,
//! `atoms`) are parsed as `fadca`'s flags are, and a bad value is a
//! `fadca.InputError`.
use std::path::PathBuf;

use clap::ValueEnum;
use fadca::model::choice::ModelRequest;
use fadca::model::memory::parse_size;
use fadca::model::{ModelKind, Objective, TrainConfig};
use fadca::runtime::{DeviceChoice, resolve_device};
use fadca::structure::{AtomSelection, NativeSource};
use pyo3::prelude::*;

use crate::errors::{input_error, to_py_err};

/// A command-line choice (`--model`, `--device`…) from its name.
pub fn choice<T: ValueEnum>(flag: &str, value: &str) -> PyResult<T> {
    T::from_str(value, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        input_error(format!(
            "{flag} {value:?}: expected one of {}",
            names.join(", ")
        ))
    })
}

/// The model asked for, by its command-line name: `auto` (the Potts model
/// where it fits in memory, else factored attention: the library chooses
/// per alignment), `potts` or `factored`.
pub fn model_request(model: &str) -> PyResult<ModelRequest> {
    choice("model", model)
}

/// The training hyper-parameters of `predict`'s keyword arguments
/// (`None`: the model's default), as `fadca predict`'s flags give them.
#[derive(Debug, Clone, Default)]
pub struct Training {
    /// `--heads`.
    pub heads: Option<usize>,
    /// `--head-dim`.
    pub head_dim: Option<usize>,
    /// `--epochs`.
    pub epochs: Option<usize>,
    /// `--steps`.
    pub steps: Option<usize>,
    /// `--batch-size`.
    pub batch_size: Option<usize>,
    /// `--learning-rate`.
    pub learning_rate: Option<f64>,
    /// `--lambda-j`.
    pub lambda_j: Option<f64>,
    /// `--lambda-h`.
    pub lambda_h: Option<f64>,
    /// `--objective` (`pll`, `mlm`).
    pub objective: Option<String>,
    /// `--mask-prob`.
    pub mask_prob: Option<f64>,
}

impl Training {
    /// The configuration: `kind`'s defaults overridden by the values given.
    pub fn config(&self, kind: ModelKind, seed: u64, device: &str) -> PyResult<TrainConfig> {
        let mut c = TrainConfig::defaults(kind);
        if let Some(v) = self.heads {
            c.heads = v;
        }
        if let Some(v) = self.head_dim {
            c.head_dim = v;
        }
        c.epochs = self.epochs;
        c.steps = self.steps;
        c.batch_size = self.batch_size;
        if let Some(v) = self.learning_rate {
            c.learning_rate = v;
        }
        c.lambda_j = self.lambda_j;
        if let Some(v) = self.lambda_h {
            c.lambda_h = v;
        }
        if let Some(v) = &self.objective {
            c.objective = choice::<Objective>("objective", v)?;
        }
        if let Some(v) = self.mask_prob {
            c.mask_prob = v;
        }
        c.seed = seed;
        let device: DeviceChoice = choice("device", device)?;
        c.device = resolve_device(device).map_err(|e| to_py_err(e, &[]))?;
        c.validate().map_err(|e| to_py_err(e, &[]))?;
        Ok(c)
    }
}

/// Checks an identity or gap threshold (the command line's range).
pub fn fraction(flag: &str, x: f64) -> PyResult<f64> {
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(input_error(format!("{flag} {x} is not between 0 and 1")))
    }
}

/// A memory limit: a number of bytes or a size such as `"8G"` (the
/// command line's `--max-memory`).
#[derive(Debug, Clone, FromPyObject)]
pub enum Size {
    /// A number of bytes.
    Bytes(u64),
    /// A size with a unit (`"512M"`, `"8G"`).
    Text(String),
}

impl Size {
    /// The number of bytes.
    pub fn bytes(&self) -> PyResult<u64> {
        match self {
            Size::Bytes(b) => Ok(*b),
            Size::Text(t) => parse_size(t).map_err(|e| to_py_err(e, &[])),
        }
    }
}

/// The known contacts to score against: a structure (PDB/mmCIF, with its
/// chain, atoms and cutoff) or a contact list; exactly one.
pub fn native_source(
    structure: Option<PathBuf>,
    contacts: Option<PathBuf>,
    chain: Option<String>,
    atoms: &str,
    cutoff: f64,
) -> PyResult<Option<NativeSource>> {
    match (structure, contacts) {
        (Some(_), Some(_)) => Err(input_error(
            "give either structure (PDB/mmCIF) or contacts (a list), not both",
        )),
        (Some(path), None) => Ok(Some(NativeSource::Structure {
            path,
            chain,
            atoms: choice::<AtomSelection>("atoms", atoms)?,
            cutoff,
        })),
        (None, Some(path)) => {
            if chain.is_some() {
                return Err(input_error(
                    "chain applies to a structure, not to a contact list",
                ));
            }
            Ok(Some(NativeSource::Contacts { path }))
        }
        (None, None) => Ok(None),
    }
}
