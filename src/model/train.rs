//! The one trainer shared by both models: the objective
//! ([`super::objective`], or on the CPU [`FusedObjective`]) minimised by
//! Adam ([`super::adam`]) on shuffled mini-batches, with a cosine decay of
//! the learning rate and the numerical guard of [`super::guard`].
use std::time::Instant;

use anyhow::{Result, bail};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::adam::Adam;
use super::columns::{initial_fields, reference_states};
use super::guard::{Checkpoint, FaultInjection, MAX_RESTARTS};
use super::objective::objective_loss;
use super::{FusedObjective, Model, TrainConfig, uses_fused_kernels};
use crate::error::{Error, Restart};
use crate::runtime::device_name;

/// What the trainer reports while it runs: after every optimiser step
/// (`end_of_epoch` false, except after an epoch's last step, reported once
/// with `end_of_epoch` true when the epoch is done and checkpointed).
#[derive(Debug, Clone)]
pub struct Progress {
    /// Epochs done.
    pub epoch: usize,
    /// Epochs in all.
    pub epochs: usize,
    /// Optimiser steps done.
    pub step: usize,
    /// Optimiser steps in all (`epochs` × batches per epoch).
    pub steps: usize,
    /// Mean objective over the mini-batches of the epoch so far (the whole
    /// epoch when `end_of_epoch`).
    pub loss: f64,
    /// Seconds since training started.
    pub elapsed: f64,
    /// Whether this report closes an epoch.
    pub end_of_epoch: bool,
}

/// What a finished training run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    /// Mean objective of each epoch.
    pub loss_curve: Vec<f64>,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Wall seconds spent training.
    pub seconds: f64,
    /// Device trained on.
    pub device: String,
    /// Restarts after a non-finite loss or gradient (numerical guard).
    pub restarts: Vec<Restart>,
}

/// Trains a model on `states` (N×L) with sequence `weights`. Calls
/// `on_progress` after every step (see [`Progress`]). Deterministic on the
/// CPU for a given seed and thread count.
pub fn train(
    states: &Array2<u8>,
    weights: &[f64],
    cfg: &TrainConfig,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(Model, TrainReport)> {
    cfg.validate()?;
    let (n, l) = states.dim();
    if n == 0 || l < 2 {
        return Err(crate::error::input_error(format!(
            "cannot train on {n} sequences of length {l}: need at least 1 sequence and 2 columns"
        )));
    }
    if weights.len() != n {
        bail!("{} weights for {n} sequences", weights.len());
    }
    let (epochs, batch_size) = cfg.schedule(n);
    let lambda_j = cfg.lambda_j_for(l, weights.iter().sum());
    let start = Instant::now();
    tch::manual_seed(cfg.seed as i64);
    // The fused CPU kernels for either model's pseudo-likelihood (see
    // `FusedObjective`); libtorch's operators otherwise, which need the
    // alignment as tensors.
    let threads = tch::get_num_threads().max(1);
    let mut path = if uses_fused_kernels(cfg.device, cfg.objective) {
        StepPath::Fused(FusedObjective::new(
            threads as usize,
            reference_states(states, weights),
        )?)
    } else {
        StepPath::Torch(Data::new(states, weights, cfg.device))
    };
    // On the fused path the kernels and Adam's Rust loop do all of a step;
    // libtorch only copies the factors in and out. Its OpenMP workers spin
    // after each operator and take cycles from the kernels' threads, so it
    // runs on one thread meanwhile.
    let _torch_threads = matches!(path, StepPath::Fused(_)).then(|| TorchThreads::set(1));
    let model = Model::new(
        cfg.model,
        l,
        cfg.heads,
        cfg.head_dim,
        initial_fields(states, weights).to_device(cfg.device),
    );
    let mut vs_params: Vec<Tensor> = model
        .parameters()
        .into_iter()
        .map(|t| t.shallow_clone())
        .collect();
    let mut learning_rate = cfg.learning_rate;
    let mut optimizer = Adam::new(&vs_params, learning_rate);
    let mut order: Vec<i64> = (0..n as i64).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut curve = Vec::with_capacity(epochs);
    let mut step = 0;
    let total_steps = epochs * n.div_ceil(batch_size);
    // Numerical guard: see `Checkpoint`.
    let mut fault = FaultInjection::from_env();
    let mut checkpoint = Checkpoint::save(&vs_params, step);
    let mut restarts: Vec<Restart> = Vec::new();
    let mut epoch = 0;
    while epoch < epochs {
        order.shuffle(&mut rng);
        let mut epoch_loss = 0.0;
        let mut epoch_weight = 0.0;
        let mut failure = None;
        let batches = n.div_ceil(batch_size);
        for (batch, chunk) in order.chunks(batch_size).enumerate() {
            crate::runtime::interrupt::check("training")?;
            let (gradients, mut value) = match (&mut path, &model) {
                (StepPath::Fused(fused), _) => {
                    let mut rows = Vec::with_capacity(chunk.len() * l);
                    for &k in chunk {
                        rows.extend(states.row(k as usize).iter());
                    }
                    let w: Vec<f32> = chunk.iter().map(|&k| weights[k as usize] as f32).collect();
                    let (value, grads) = match &model {
                        Model::Factored(factored) => {
                            fused.batch(factored, &rows, &w, lambda_j, cfg.lambda_h)
                        }
                        // SAFETY: the previous step's gradients were dropped at
                        // the end of its iteration; nothing else copied them.
                        Model::Potts(potts) => unsafe {
                            fused.potts_batch(potts, &rows, &w, lambda_j, cfg.lambda_h)
                        },
                    };
                    (grads, value)
                }
                (StepPath::Torch(data), _) => {
                    let index = Tensor::from_slice(chunk).to_device(cfg.device);
                    let batch_states = data.states.index_select(0, &index);
                    let batch_weights = data.weights.index_select(0, &index);
                    // A model that keeps its coupling penalty out of the graph
                    // (Potts) has its value added here and its gradient added
                    // by `project_gradients`.
                    let outside = model.penalty_outside_graph(lambda_j);
                    let in_graph = if outside.is_some() { 0.0 } else { lambda_j };
                    let loss = objective_loss(&model, cfg, in_graph, &batch_states, &batch_weights);
                    // Gradients returned by the backward pass rather than
                    // accumulated into the parameters' zeroed `.grad`: three
                    // `(L·q)²` passes fewer per Potts step.
                    let mut grads = Tensor::run_backward(&[&loss], &vs_params, false, false);
                    model.project_gradients(&mut grads, lambda_j);
                    (grads, loss.double_value(&[]) + outside.unwrap_or(0.0))
                }
            };
            if fault.poisons(step) {
                value = f64::NAN;
            }
            if !value.is_finite() {
                failure = Some(format!("the loss became {value}"));
                break;
            }
            // Cosine decay from the learning rate to 0 over the run: large
            // early steps, then averaging out the mini-batch noise.
            let progress = step as f64 / total_steps as f64;
            optimizer.lr = learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            if !optimizer.apply(&gradients, &mut vs_params) {
                failure = Some("a gradient became non-finite".to_string());
                break;
            }
            let w: f64 = chunk.iter().map(|&k| weights[k as usize]).sum();
            epoch_loss += value * w;
            epoch_weight += w;
            step += 1;
            if batch + 1 < batches {
                on_progress(&Progress {
                    epoch,
                    epochs,
                    step,
                    steps: total_steps,
                    loss: epoch_loss / epoch_weight.max(f64::MIN_POSITIVE),
                    elapsed: start.elapsed().as_secs_f64(),
                    end_of_epoch: false,
                });
            }
        }
        if let Some(what) = failure {
            let message = format!(
                "training diverged: {what} at epoch {} step {}",
                epoch + 1,
                step + 1
            );
            if restarts.len() >= MAX_RESTARTS {
                return Err(anyhow::Error::new(Error::Diverged {
                    message: format!(
                        "{message}, again after restarting from the last good state with half the learning rate \
                         ({learning_rate}); try a smaller --learning-rate or a larger --lambda-j"
                    ),
                    loss_curve: curve,
                    restarts,
                }));
            }
            // Back to the end of the last good epoch, with a fresh optimiser at half the rate;
            // the failed epoch is done again (with the next batch order).
            checkpoint.restore(&mut vs_params);
            step = checkpoint.step;
            learning_rate /= 2.0;
            optimizer.reset(learning_rate);
            restarts.push(Restart {
                epoch: epoch + 1,
                reason: message,
                learning_rate,
            });
            continue;
        }
        let mean = epoch_loss / epoch_weight.max(f64::MIN_POSITIVE);
        curve.push(mean);
        checkpoint.update(&vs_params, step);
        epoch += 1;
        on_progress(&Progress {
            epoch,
            epochs,
            step,
            steps: total_steps,
            loss: mean,
            elapsed: start.elapsed().as_secs_f64(),
            end_of_epoch: true,
        });
    }
    // The step buffers, Adam's moments and the checkpoint go back to the
    // kernel: what follows training (extraction, the model file, another
    // family of a batch) does not add to them.
    drop((path, optimizer, checkpoint));
    crate::runtime::release_freed_memory();
    let report = TrainReport {
        loss_curve: curve,
        steps: step,
        seconds: start.elapsed().as_secs_f64(),
        device: device_name(cfg.device),
        restarts,
    };
    Ok((model, report))
}

/// Tensors of the alignment on the training device.
struct Data {
    states: Tensor,
    weights: Tensor,
}

impl Data {
    fn new(states: &Array2<u8>, weights: &[f64], device: Device) -> Data {
        let (n, l) = states.dim();
        let flat: Vec<i64> = states.iter().map(|&s| s as i64).collect();
        Data {
            states: Tensor::from_slice(&flat)
                .reshape([n as i64, l as i64])
                .to_device(device),
            weights: Tensor::from_slice(weights)
                .to_kind(Kind::Float)
                .to_device(device),
        }
    }
}

/// How a training step evaluates the objective: the fused CPU kernels, or
/// libtorch's operators on the alignment as tensors.
enum StepPath {
    Fused(FusedObjective),
    Torch(Data),
}

/// Sets libtorch's thread count, restoring the previous one when dropped.
struct TorchThreads(i32);

impl TorchThreads {
    fn set(threads: i32) -> TorchThreads {
        let previous = tch::get_num_threads();
        tch::set_num_threads(threads);
        TorchThreads(previous)
    }
}

impl Drop for TorchThreads {
    fn drop(&mut self) {
        tch::set_num_threads(self.0);
    }
}
