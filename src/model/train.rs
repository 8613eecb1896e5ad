//! The one trainer shared by both models: the objective
//! ([`super::objective`], or on the CPU [`super::FusedObjective`]; the
//! step's path is [`super::step`]) minimised by Adam ([`super::adam`]) on
//! shuffled mini-batches, with a cosine decay of the learning rate over the
//! maximum number of steps, the stopping rule of [`super::stopping`] and
//! the numerical guard of [`super::guard`].
//!
//! [`train`] reads as its steps: `Training::new` (schedule, λ_J, seed, the
//! code path, the model, the optimiser, the first checkpoint), then per
//! epoch `Training::epoch` (shuffle; per mini-batch `Training::take_step`:
//! evaluate, check, update; then `Training::stop_now`: the length reached
//! or the rule's check), closed by `Training::close_epoch` (loss curve,
//! checkpoint, progress) or, after a non-finite loss or gradient, by
//! `Training::restart`; `Training::finish` hands back the model and its
//! report.
use std::time::Instant;

use anyhow::{Result, bail};
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::adam::Adam;
use super::columns::initial_fields;
use super::guard::{Checkpoint, FaultInjection, MAX_RESTARTS};
use super::host::host_values_mut;
use super::kernels::potts::mirror_upper;
use super::step::StepPath;
use super::stopping::{Check, StopReason, TopPairs, Watch};
use super::{Model, TrainConfig};
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
    /// Optimiser steps at most (`epochs` × batches per epoch, or `--steps`;
    /// the stopping rule may end training sooner).
    pub steps: usize,
    /// Mean objective over the mini-batches of the epoch so far (the whole
    /// epoch when `end_of_epoch`).
    pub loss: f64,
    /// Seconds since training started.
    pub elapsed: f64,
    /// Whether this report closes an epoch.
    pub end_of_epoch: bool,
    /// Why training stopped, on the report that closes it (the last epoch
    /// may be cut short: by `--steps` or the stopping rule).
    pub stopped: Option<StopReason>,
}

/// What a finished training run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    /// Mean objective of each epoch.
    pub loss_curve: Vec<f64>,
    /// Optimiser steps taken.
    pub steps: usize,
    /// The most steps the run could take (the schedule's, or the fixed length).
    pub max_steps: usize,
    /// Why training stopped.
    pub stop_reason: StopReason,
    /// The stopping rule's checks (empty for a fixed length).
    pub checks: Vec<Check>,
    /// Wall seconds spent training.
    pub seconds: f64,
    /// Device trained on.
    pub device: String,
    /// Restarts after a non-finite loss or gradient (numerical guard).
    pub restarts: Vec<Restart>,
}

/// Trains a model on `states` (N×L) with sequence `weights` for the
/// configured length: `cfg.steps`, else `cfg.epochs`, else the automatic
/// schedule's maximum (the stopping rule needs a view of the contacts:
/// [`train_until_converged`]). Calls `on_progress` after every step (see
/// [`Progress`]). Deterministic on the CPU for a given seed and thread
/// count.
pub fn train(
    states: &Array2<u8>,
    weights: &[f64],
    cfg: &TrainConfig,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(Model, TrainReport)> {
    run(states, weights, cfg, None, on_progress)
}

/// [`train`], but with the automatic length (no `cfg.steps`, no
/// `cfg.epochs`) stopped by `cfg.stop` once the top-L contacts that
/// `top_pairs` reads from the model stop changing (see
/// [`super::StopRule`]); a fixed length ignores the rule.
pub fn train_until_converged(
    states: &Array2<u8>,
    weights: &[f64],
    cfg: &TrainConfig,
    top_pairs: &TopPairs<'_>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(Model, TrainReport)> {
    run(states, weights, cfg, Some(top_pairs), on_progress)
}

fn run(
    states: &Array2<u8>,
    weights: &[f64],
    cfg: &TrainConfig,
    top_pairs: Option<&TopPairs<'_>>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(Model, TrainReport)> {
    cfg.validate()?;
    check_alignment(states, weights)?;
    let mut training = Training::new(states, weights, cfg, top_pairs)?;
    while training.stopped.is_none() {
        match training.epoch(on_progress)? {
            EpochEnd::Done { mean } => training.close_epoch(mean, on_progress),
            EpochEnd::Diverged { what } => training.restart(what)?,
        }
    }
    Ok(training.finish())
}

/// At least one sequence, two columns, and one weight per sequence.
fn check_alignment(states: &Array2<u8>, weights: &[f64]) -> Result<()> {
    let (n, l) = states.dim();
    if n == 0 || l < 2 {
        return Err(crate::error::input_error(format!(
            "cannot train on {n} sequences of length {l}: need at least 1 sequence and 2 columns"
        )));
    }
    if weights.len() != n {
        bail!("{} weights for {n} sequences", weights.len());
    }
    Ok(())
}

/// How an epoch ended.
enum EpochEnd {
    /// Every mini-batch was applied; `mean` is the epoch's mean objective.
    Done { mean: f64 },
    /// A loss or gradient was not finite (`what` says which).
    Diverged { what: String },
}

/// A training run in progress.
struct Training<'a> {
    cfg: &'a TrainConfig,
    /// Sequence weights (for the epoch's mean objective).
    weights: &'a [f64],
    start: Instant,
    epochs: usize,
    batch_size: usize,
    /// Optimiser steps at most.
    total_steps: usize,
    /// The stopping rule, when it applies.
    watch: Option<Watch<'a>>,
    /// Why training stopped, once it has.
    stopped: Option<StopReason>,
    lambda_j: f64,
    path: StepPath<'a>,
    model: Model,
    /// Shallow copies of the model's parameters, which the optimiser and
    /// the checkpoint update in place.
    params: Vec<Tensor>,
    optimizer: Adam,
    learning_rate: f64,
    /// The order of the sequences, shuffled each epoch by `rng`.
    order: Vec<i64>,
    rng: ChaCha8Rng,
    curve: Vec<f64>,
    /// Epochs done.
    epoch: usize,
    /// Optimiser steps done.
    step: usize,
    checkpoint: Checkpoint,
    fault: FaultInjection,
    restarts: Vec<Restart>,
    /// libtorch's thread count, restored when training is done.
    torch_threads: Option<TorchThreads>,
}

impl<'a> Training<'a> {
    /// Resolves the schedule and λ_J, seeds libtorch's generator, picks the
    /// code path, makes the model (fields from the column frequencies), the
    /// optimiser and the first checkpoint.
    fn new(
        states: &'a Array2<u8>,
        weights: &'a [f64],
        cfg: &'a TrainConfig,
        top_pairs: Option<&'a TopPairs<'a>>,
    ) -> Result<Training<'a>> {
        let (n, l) = states.dim();
        let (_, batch_size) = cfg.schedule(n);
        let total_steps = cfg.max_steps(n);
        let epochs = total_steps.div_ceil(n.div_ceil(batch_size));
        let watch = top_pairs
            .filter(|_| !cfg.fixed_length())
            .map(|t| Watch::new(cfg.stop, t));
        let lambda_j = cfg.lambda_j_for(l, weights.iter().sum());
        let start = Instant::now();
        tch::manual_seed(cfg.seed as i64);
        let mut path = StepPath::new(states, weights, cfg)?;
        // On the fused path the kernels and Adam's Rust loop do all of a step;
        // libtorch only copies the factors in and out. Its OpenMP workers spin
        // after each operator and take cycles from the kernels' threads, so it
        // runs on one thread meanwhile.
        let torch_threads = matches!(path, StepPath::Fused { .. }).then(|| TorchThreads::set(1));
        let mut model = Model::new(
            cfg.model,
            l,
            cfg.heads,
            cfg.head_dim,
            initial_fields(states, weights).to_device(cfg.device),
        );
        start_from_values(&mut model, cfg);
        let params: Vec<Tensor> = model
            .parameters()
            .into_iter()
            .map(|t| t.shallow_clone())
            .collect();
        let mut optimizer = Adam::new(&params, cfg.learning_rate);
        if let (StepPath::Fused { objective, .. }, Model::Potts(_)) = (&mut path, &model) {
            // The fused kernels lend the Potts table's raw gradient and the
            // update projects it onto symmetric tables with zero diagonal
            // blocks in its own pass over the table (the step is bound by
            // memory traffic), updating the half above the diagonal only.
            objective.lend_raw_potts_gradient();
            optimizer.symmetric_table(POTTS_TABLE_PARAMETER, l);
        }
        let checkpoint = Checkpoint::save(&params, 0);
        Ok(Training {
            cfg,
            weights,
            start,
            epochs,
            batch_size,
            total_steps,
            watch,
            stopped: None,
            lambda_j,
            path,
            model,
            params,
            optimizer,
            learning_rate: cfg.learning_rate,
            order: (0..n as i64).collect(),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            curve: Vec::with_capacity(epochs),
            epoch: 0,
            step: 0,
            checkpoint,
            fault: FaultInjection::from_env(),
            restarts: Vec::new(),
            torch_threads,
        })
    }

    /// One pass over the shuffled alignment, one optimiser step per
    /// mini-batch, reporting progress after each but the last; stops at the
    /// first non-finite loss or gradient. Fails only when interrupted.
    fn epoch(&mut self, on_progress: &mut dyn FnMut(&Progress)) -> Result<EpochEnd> {
        self.order.shuffle(&mut self.rng);
        let order = std::mem::take(&mut self.order);
        let batches = order.len().div_ceil(self.batch_size);
        let mut epoch_loss = 0.0;
        let mut epoch_weight = 0.0;
        let mut end = None;
        for (batch, chunk) in order.chunks(self.batch_size).enumerate() {
            crate::runtime::interrupt::check("training")?;
            let value = match self.take_step(chunk) {
                Ok(value) => value,
                Err(what) => {
                    end = Some(EpochEnd::Diverged { what });
                    break;
                }
            };
            let w: f64 = chunk.iter().map(|&k| self.weights[k as usize]).sum();
            epoch_loss += value * w;
            epoch_weight += w;
            if let Some(watch) = self.watch.as_mut() {
                watch.record(value, w);
            }
            self.step += 1;
            self.stopped = self.stop_now()?;
            if self.stopped.is_some() {
                break;
            }
            if batch + 1 < batches {
                on_progress(&self.progress(epoch_loss / epoch_weight.max(f64::MIN_POSITIVE)));
            }
        }
        self.order = order;
        Ok(end.unwrap_or(EpochEnd::Done {
            mean: epoch_loss / epoch_weight.max(f64::MIN_POSITIVE),
        }))
    }

    /// Whether training stops after the step just taken, and why: the
    /// maximum or fixed length reached, or the stopping rule's check.
    fn stop_now(&mut self) -> Result<Option<StopReason>> {
        if self.step >= self.total_steps {
            return Ok(Some(if self.cfg.fixed_length() {
                StopReason::FixedLength
            } else {
                StopReason::MaxSteps
            }));
        }
        let Some(watch) = self.watch.as_mut().filter(|w| w.due(self.step)) else {
            return Ok(None);
        };
        let seconds = self.start.elapsed().as_secs_f64();
        // The check reads a Potts table above its diagonal only.
        let converged = watch.converged(&self.model, self.step, seconds)?;
        Ok(converged.then_some(StopReason::Converged))
    }

    /// One optimiser step on the sequences `chunk`: the objective and its
    /// gradients, the guard's checks (a fault injected, a non-finite loss
    /// or gradient: `Err` says which), the learning rate of this step, the
    /// update. Returns the objective's value.
    fn take_step(&mut self, chunk: &[i64]) -> std::result::Result<f64, String> {
        let (mut value, gradients) =
            self.path
                .evaluate(&self.model, &self.params, chunk, self.cfg, self.lambda_j);
        if self.fault.poisons(self.step) {
            value = f64::NAN;
        }
        if !value.is_finite() {
            return Err(format!("the loss became {value}"));
        }
        // The cosine schedule over the maximum number of steps, which the
        // stopping rule may cut.
        self.optimizer.lr = self.learning_rate * cosine_factor(self.step, self.total_steps);
        if let Some(rows) = gradients.table_rows() {
            self.optimizer
                .table_rows(POTTS_TABLE_PARAMETER, rows, self.lambda_j);
        }
        let applied = match &self.cfg.values {
            // Fixed shared values: their gradient is left out (undefined),
            // so Adam skips them and they keep their bits.
            Some(v) if !v.trained && matches!(self.model, Model::Factored(_)) => {
                let kept: Vec<Tensor> = gradients
                    .iter()
                    .enumerate()
                    .map(|(k, g)| {
                        if k == VALUE_PARAMETER {
                            Tensor::new()
                        } else {
                            g.shallow_clone()
                        }
                    })
                    .collect();
                self.optimizer.apply(&kept, &mut self.params)
            }
            _ => self.optimizer.apply(&gradients, &mut self.params),
        };
        if !applied {
            return Err("a gradient became non-finite".to_string());
        }
        if let Some(norm2) = self.optimizer.take_table_norm2(POTTS_TABLE_PARAMETER) {
            self.path.set_potts_norm2(norm2);
        }
        Ok(value)
    }

    /// A report of the epoch under way, its mean objective so far `loss`.
    fn progress(&self, loss: f64) -> Progress {
        Progress {
            epoch: self.epoch,
            epochs: self.epochs,
            step: self.step,
            steps: self.total_steps,
            loss,
            elapsed: self.start.elapsed().as_secs_f64(),
            end_of_epoch: false,
            stopped: None,
        }
    }

    /// Records a finished epoch of mean objective `mean`: the loss curve,
    /// the checkpoint, the end-of-epoch report.
    fn close_epoch(&mut self, mean: f64, on_progress: &mut dyn FnMut(&Progress)) {
        self.curve.push(mean);
        self.checkpoint.update(&self.params, self.step);
        self.epoch += 1;
        on_progress(&Progress {
            end_of_epoch: true,
            stopped: self.stopped,
            ..self.progress(mean)
        });
    }

    /// After the epoch under way diverged (`what`): back to the end of the
    /// last good epoch, with a fresh optimiser at half the rate (the failed
    /// epoch is done again, with the next batch order); an error once the
    /// restarts are used up.
    fn restart(&mut self, what: String) -> Result<()> {
        let message = format!(
            "training diverged: {what} at epoch {} step {}",
            self.epoch + 1,
            self.step + 1
        );
        if self.restarts.len() >= MAX_RESTARTS {
            return Err(anyhow::Error::new(Error::Diverged {
                message: format!(
                    "{message}, again after restarting from the last good state with half the learning rate \
                     ({}); try a smaller --learning-rate or a larger --lambda-j",
                    self.learning_rate
                ),
                loss_curve: std::mem::take(&mut self.curve),
                restarts: std::mem::take(&mut self.restarts),
            }));
        }
        self.checkpoint.restore(&mut self.params);
        self.step = self.checkpoint.step;
        self.stopped = None;
        self.learning_rate /= 2.0;
        self.optimizer.reset(self.learning_rate);
        self.restarts.push(Restart {
            epoch: self.epoch + 1,
            reason: message,
            learning_rate: self.learning_rate,
        });
        Ok(())
    }

    /// The trained model and its report. The step buffers, Adam's moments
    /// and the checkpoint go back to the kernel first: what follows training
    /// (extraction, the model file, another family of a batch) does not add
    /// to them.
    fn finish(self) -> (Model, TrainReport) {
        let Training {
            cfg,
            start,
            path,
            model,
            mut params,
            optimizer,
            curve,
            step,
            total_steps,
            watch,
            stopped,
            checkpoint,
            restarts,
            torch_threads,
            ..
        } = self;
        whole_table(&mut params, &optimizer);
        drop((path, params, optimizer, checkpoint));
        crate::runtime::release_freed_memory();
        let report = TrainReport {
            loss_curve: curve,
            steps: step,
            max_steps: total_steps,
            stop_reason: stopped.unwrap_or(StopReason::MaxSteps),
            checks: watch.map(|w| w.checks).unwrap_or_default(),
            seconds: start.elapsed().as_secs_f64(),
            device: device_name(cfg.device),
            restarts,
        };
        drop(torch_threads);
        (model, report)
    }
}

/// Makes a symmetric table that the optimiser updates above its diagonal
/// only (the Potts model's on the fused path) whole again at the end of
/// training (the convergence checks read the upper blocks only:
/// [`crate::couplings::check_scores`]).
fn whole_table(params: &mut [Tensor], optimizer: &Adam) {
    if let Some(l) = optimizer.symmetric_length(POTTS_TABLE_PARAMETER) {
        // SAFETY: the parameter's own storage; nothing else reads or
        // writes it meanwhile (the step is over).
        let table = unsafe { host_values_mut(&mut params[POTTS_TABLE_PARAMETER]) };
        mirror_upper(table.expect("float32 CPU table"), l);
    }
}

/// The cosine schedule's factor of the learning rate at `step` of at most
/// `total`: from 1 to 0 (large early steps, then averaging out the
/// mini-batch noise).
fn cosine_factor(step: usize, total: usize) -> f64 {
    let progress = step as f64 / total as f64;
    0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// The position of the factored model's values in [`Model::parameters`].
const VALUE_PARAMETER: usize = 2;

/// The position of the Potts model's table in [`Model::parameters`].
const POTTS_TABLE_PARAMETER: usize = 0;

/// A factored model given shared values (`cfg.values`) starts from them
/// instead of random values (the queries and keys are drawn as without
/// them); other models are left as they are.
fn start_from_values(model: &mut Model, cfg: &TrainConfig) {
    if let (Model::Factored(m), Some(v)) = (model, &cfg.values) {
        let value = Tensor::from_slice(v.values.as_slice())
            .reshape(m.value.size())
            .to_kind(m.value.kind())
            .to_device(m.value.device());
        m.value = value.set_requires_grad(true);
    }
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
