//! Stage **choose the model** of a prediction run: the memory a run may use
//! and `--model auto`'s choice for the alignment ([`choose_model`]), and the
//! request with the chosen model in its configuration.
use anyhow::{Context, Result};

use super::{Limits, PredictRequest, Weighed};
use crate::model::ModelKind;
use crate::model::choice::{MemoryLimit, ModelChoice, ModelRequest, choose_model};
use crate::model::memory::available_bytes;

impl PredictRequest {
    /// This request with `choice`'s model in its configuration.
    pub fn for_model(&self, choice: &ModelChoice) -> PredictRequest {
        let mut request = self.clone();
        request.config.model = choice.model;
        request
    }
}

/// The memory a run may use: `--max-memory`, else the memory available on
/// the device (`None` when it cannot be found out).
pub fn memory_limit(limits: &Limits, device: tch::Device) -> Option<MemoryLimit> {
    match limits.max_memory {
        Some(bytes) => Some(MemoryLimit {
            bytes,
            source: "--max-memory".into(),
        }),
        None => available_bytes(device).map(|bytes| MemoryLimit {
            bytes,
            source: "the memory available on the device; raise or lower with --max-memory".into(),
        }),
    }
}

/// Stage **choose the model** ([`choose_model`]): `auto` takes the Potts
/// model where its estimated peak fits `--max-memory` (or the memory
/// available on the device), else factored attention; a run whose model
/// does not fit is refused before training.
pub(super) fn choose(
    request: &PredictRequest,
    limits: &Limits,
    weighed: &Weighed,
) -> Result<ModelChoice> {
    let alignment = &weighed.alignment;
    let limit = memory_limit(limits, request.config.device);
    let mut choice = choose_model(
        request.model,
        &request.config,
        alignment.depth(),
        alignment.length(),
        limit.as_ref(),
    )
    .with_context(|| format!("alignment {}", request.msa.display()))?;
    if request.config.values.is_some() && request.model == ModelRequest::Auto {
        // Shared values did not beat the Potts model at any depth measured
        // on DEV (README, "Shared values"): auto keeps the Potts model where
        // it fits and uses the values only for the factored model.
        choice.reason = match choice.model {
            ModelKind::Potts => format!(
                "{}; --values not used: the Potts model was more precise than shared values at \
                 every depth measured (README); --model factored uses them",
                choice.reason
            ),
            ModelKind::Factored => format!(
                "{}, started from the shared values of --values",
                choice.reason
            ),
        };
    }
    Ok(choice)
}
