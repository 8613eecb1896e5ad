//! Which model a run trains: `--model auto` (the default) picks the full
//! Potts model where its memory estimate fits the memory allowed and
//! factored attention otherwise; `--model potts|factored` force one
//! ([`choose_model`]). Why: on the DEV benchmark the Potts model gives the
//! more precise contacts at every alignment depth tried (mean top-L 0.540
//! against 0.447, README), while factored attention needs one `H·L²`
//! attention and a block of table columns instead of five `(L·q)²` tables,
//! and so trains on proteins whose Potts model does not fit.
use anyhow::Result;

use super::memory::{estimate_training_bytes, human_bytes};
use super::{ModelKind, TrainConfig, uses_fused_kernels};

/// The model asked for on the command line (`--model`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelRequest {
    /// The Potts model where it fits in the memory allowed, else factored attention.
    #[default]
    Auto,
    /// Factored attention, whatever the memory.
    Factored,
    /// The full Potts model, whatever the memory.
    Potts,
}

impl ModelRequest {
    /// Lowercase name as used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            ModelRequest::Auto => "auto",
            ModelRequest::Factored => "factored",
            ModelRequest::Potts => "potts",
        }
    }

    /// The model forced by `--model potts|factored`; `None` for `auto`.
    pub fn forced(self) -> Option<ModelKind> {
        match self {
            ModelRequest::Auto => None,
            ModelRequest::Factored => Some(ModelKind::Factored),
            ModelRequest::Potts => Some(ModelKind::Potts),
        }
    }
}

impl From<ModelKind> for ModelRequest {
    fn from(kind: ModelKind) -> ModelRequest {
        match kind {
            ModelKind::Factored => ModelRequest::Factored,
            ModelKind::Potts => ModelRequest::Potts,
        }
    }
}

/// The memory a run may use, and where that limit comes from (for the
/// messages): `--max-memory`, or the memory available on the device.
#[derive(Debug, Clone)]
pub struct MemoryLimit {
    /// Bytes allowed.
    pub bytes: u64,
    /// Where the limit comes from, e.g. "--max-memory".
    pub source: String,
}

/// What a run trains and why (recorded in `summary.json` as
/// `model_requested`, `model`, `model_reason`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelChoice {
    /// What was asked for.
    pub requested: ModelRequest,
    /// What is trained.
    pub model: ModelKind,
    /// Why, in one sentence.
    pub reason: String,
}

/// The estimated peak memory of training `model` with `config`'s heads,
/// head dimension, device and objective on N = `n` sequences of length
/// `l` (batches as `config` resolves them).
pub fn estimate_for(config: &TrainConfig, model: ModelKind, n: usize, l: usize) -> u64 {
    let fused = uses_fused_kernels(config.device, config.objective);
    let batch = config.schedule(n).1;
    estimate_training_bytes(n, l, model, fused, config.heads, config.head_dim, batch)
}

/// Chooses the model of a run on N = `n` sequences of length `l`
/// (`config.model` is not read): the forced one if it fits `limit`; for
/// `auto`, the Potts model if its estimate fits, else factored attention
/// if its estimate fits. A run whose model does not fit is an input error
/// naming the estimates and the ways out. Without a limit (the available
/// memory unknown) nothing is refused and `auto` picks the Potts model.
pub fn choose_model(
    requested: ModelRequest,
    config: &TrainConfig,
    n: usize,
    l: usize,
    limit: Option<&MemoryLimit>,
) -> Result<ModelChoice> {
    let estimate = |model| estimate_for(config, model, n, l);
    let choice = |model: ModelKind, reason: String| ModelChoice {
        requested,
        model,
        reason,
    };
    let (potts, factored) = (estimate(ModelKind::Potts), estimate(ModelKind::Factored));
    let Some(limit) = limit else {
        let model = requested.forced().unwrap_or(ModelKind::Potts);
        let reason = match requested {
            ModelRequest::Auto => {
                "auto: the Potts model, the more precise (the memory available is unknown)"
                    .to_string()
            }
            _ => format!("requested with --model {}", requested.name()),
        };
        return Ok(choice(model, reason));
    };
    let allowed = human_bytes(limit.bytes);
    let fits = |bytes: u64| bytes <= limit.bytes;
    if let Some(model) = requested.forced() {
        let needed = estimate(model);
        if fits(needed) {
            return Ok(choice(
                model,
                format!(
                    "requested with --model {} (needs about {})",
                    model.name(),
                    human_bytes(needed)
                ),
            ));
        }
        let mut ways = Vec::new();
        if model == ModelKind::Potts {
            ways.push(format!(
                "factored attention (--model factored, about {})",
                human_bytes(factored)
            ));
        }
        return Err(refusal(
            &format!(
                "training the {} model on N = {n} sequences of length L = {l} needs about {}",
                model.name(),
                human_bytes(needed)
            ),
            limit,
            model,
            config.heads,
            ways,
        ));
    }
    if fits(potts) {
        return Ok(choice(
            ModelKind::Potts,
            format!(
                "auto: the Potts model, the more precise, fits in the memory allowed (needs about {})",
                human_bytes(potts)
            ),
        ));
    }
    if fits(factored) {
        return Ok(choice(
            ModelKind::Factored,
            format!(
                "auto: factored attention (needs about {}): the Potts model would need about {}, \
                 more than the {allowed} allowed ({})",
                human_bytes(factored),
                human_bytes(potts),
                limit.source
            ),
        ));
    }
    Err(refusal(
        &format!(
            "training on N = {n} sequences of length L = {l} needs about {} with the Potts model \
             and {} with factored attention",
            human_bytes(potts),
            human_bytes(factored)
        ),
        limit,
        ModelKind::Factored,
        config.heads,
        Vec::new(),
    ))
}

/// The error of a run that does not fit: what it needs, what is allowed,
/// and the ways out.
fn refusal(
    needs: &str,
    limit: &MemoryLimit,
    model: ModelKind,
    heads: usize,
    mut ways: Vec<String>,
) -> anyhow::Error {
    if model == ModelKind::Factored && heads > 1 {
        ways.push("fewer heads (--heads)".to_string());
    }
    ways.push("fewer sequences (--max-seqs N, sampled by weight)".to_string());
    ways.push("a smaller --batch-size".to_string());
    ways.push("a larger --max-memory if you know better".to_string());
    crate::input_error(format!(
        "{needs} but only {} is allowed ({}); try {}",
        human_bytes(limit.bytes),
        limit.source,
        ways.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(bytes: u64) -> MemoryLimit {
        MemoryLimit {
            bytes,
            source: "--max-memory".into(),
        }
    }

    #[test]
    fn auto_takes_the_potts_model_where_it_fits_then_factored_attention() {
        let config = TrainConfig::defaults(ModelKind::Factored);
        let (n, l) = (1000, 400);
        let potts = estimate_for(&config, ModelKind::Potts, n, l);
        let factored = estimate_for(&config, ModelKind::Factored, n, l);
        assert!(factored < potts);
        let auto = |bytes| choose_model(ModelRequest::Auto, &config, n, l, Some(&limit(bytes)));
        let chosen = auto(potts).unwrap();
        assert_eq!(chosen.model, ModelKind::Potts);
        assert!(
            chosen.reason.starts_with("auto: the Potts model"),
            "{}",
            chosen.reason
        );
        let chosen = auto(potts - 1).unwrap();
        assert_eq!(chosen.model, ModelKind::Factored);
        assert!(chosen.reason.contains("more than"), "{}", chosen.reason);
        let chosen = auto(factored).unwrap();
        assert_eq!(chosen.model, ModelKind::Factored);
        let err = auto(factored - 1).unwrap_err();
        assert!(crate::error::is_input_error(&err));
        let text = err.to_string();
        assert!(
            text.contains("with the Potts model") && text.contains("--max-seqs"),
            "{text}"
        );
        // Unknown memory: the Potts model.
        let chosen = choose_model(ModelRequest::Auto, &config, n, l, None).unwrap();
        assert_eq!(chosen.model, ModelKind::Potts);
    }

    #[test]
    fn a_forced_model_is_trained_if_it_fits_and_refused_otherwise() {
        let config = TrainConfig::defaults(ModelKind::Factored);
        let (n, l) = (1000, 400);
        let potts = estimate_for(&config, ModelKind::Potts, n, l);
        let chosen =
            choose_model(ModelRequest::Factored, &config, n, l, Some(&limit(potts))).unwrap();
        assert_eq!(chosen.model, ModelKind::Factored);
        assert!(chosen.reason.starts_with("requested with --model factored"));
        let err =
            choose_model(ModelRequest::Potts, &config, n, l, Some(&limit(potts - 1))).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("factored attention (--model factored"),
            "{text}"
        );
    }

    #[test]
    fn the_guard_follows_the_device_and_names_the_estimates() {
        use tch::Device;
        let estimate = |model, fused| estimate_training_bytes(100, 50, model, fused, 4, 4, 16);
        let config = |device| TrainConfig {
            heads: 4,
            head_dim: 4,
            batch_size: Some(16),
            device,
            ..TrainConfig::defaults(ModelKind::Potts)
        };
        let guard = |request, device, bytes| {
            choose_model(request, &config(device), 100, 50, Some(&limit(bytes)))
        };
        // The Potts model on the CPU: the fused kernels' estimate.
        let need = estimate(ModelKind::Potts, true);
        assert_eq!(
            guard(ModelRequest::Potts, Device::Cpu, need).unwrap().model,
            ModelKind::Potts
        );
        let e = guard(ModelRequest::Potts, Device::Cpu, need - 1).unwrap_err();
        let msg = format!("{e}");
        assert!(crate::error::is_input_error(&e));
        assert!(msg.contains(&human_bytes(need)), "{msg}");
        // Factored attention suggested with its estimate on this device: the
        // fused kernels' on the CPU, libtorch's on CUDA.
        let factored_cpu = estimate(ModelKind::Factored, true);
        assert!(
            msg.contains(&format!(
                "--model factored, about {}",
                human_bytes(factored_cpu)
            )) && msg.contains("--max-seqs"),
            "{msg}"
        );
        let need_cuda = estimate(ModelKind::Potts, false);
        assert!(need_cuda > need);
        assert!(guard(ModelRequest::Potts, Device::Cuda(0), need_cuda).is_ok());
        let e = guard(ModelRequest::Potts, Device::Cuda(0), need_cuda - 1).unwrap_err();
        let factored_cuda = estimate(ModelKind::Factored, false);
        assert!(format!("{e}").contains(&human_bytes(factored_cuda)), "{e}");
        assert_ne!(human_bytes(factored_cpu), human_bytes(factored_cuda));
        assert!(guard(ModelRequest::Factored, Device::Cpu, factored_cpu).is_ok());
        assert!(guard(ModelRequest::Factored, Device::Cuda(0), factored_cpu).is_err());
        let e = guard(ModelRequest::Factored, Device::Cpu, 1).unwrap_err();
        assert!(format!("{e}").contains("fewer heads"), "{e}");
        // auto on CUDA: libtorch's estimates decide.
        let chosen = guard(ModelRequest::Auto, Device::Cuda(0), need_cuda - 1).unwrap();
        assert_eq!(chosen.model, ModelKind::Factored);
    }
}
