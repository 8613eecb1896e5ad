//! The paper's claims as experiments on synthetic families (SPEC §6).
//!
//! [`sample_complexity`]: for one planted teacher ([`crate::simulate`]),
//! students trained on more and more sequences `M = α L` approach the
//! teacher: their held-out conditional log-likelihood gap to the teacher
//! shrinks and the planted contacts are recovered.
//!
//! # Protocol
//!
//! 1. Build the teacher from `(L, H, β, seed)`.
//! 2. Draw one pool of `held_out + M_max` sequences from it by Gibbs
//!    sampling (seed `seed`, automatic burn-in and thinning) and shuffle it
//!    (seeded). The first `held_out` sequences are the test set; the training
//!    set of size `M` is the next `M` sequences, so the training sets are
//!    nested (a larger set contains the smaller ones), which removes one source
//!    of noise from the curve.
//! 3. For each `M` on a geometric grid of `α = M / L` from `alpha_min` to
//!    `alpha_max`, train a factored student (`student_heads` heads, every
//!    sequence weight 1: the samples are i.i.d., there is no phylogeny to
//!    correct) with the trainer's defaults, except that a student sees at
//!    least `min_steps` optimiser steps (`epochs = max(epochs, ⌈min_steps /
//!    batches per epoch⌉)`): with a fixed number of epochs a student on few
//!    sequences would stop after a handful of steps and the curve would
//!    measure under-training, not sample complexity.
//! 4. Report, per `M`: the mean per-site NLL of the held-out set under the
//!    student and under the teacher ([`crate::likelihood`], unweighted),
//!    their gap, the top-L precision of the planted contacts (pairs with
//!    separation ≥ 6, `k = min(L, planted pairs with separation ≥ 6)` so that a
//!    perfect ranking scores 1) and the training time.
pub mod plot;

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use ndarray::Array2;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::contacts::Prediction;
use crate::likelihood::{mean_site_nll, model_sequence_nll, teacher_sequence_nll};
use crate::model::{ModelKind, TrainConfig, train};
use crate::simulate::{SampleOptions, Teacher, TeacherParams};

/// Minimum sequence separation of the scored planted contacts (SPEC §3 "all").
pub const MIN_SEPARATION: usize = 6;

/// Settings of [`sample_complexity`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleComplexityConfig {
    /// The teacher (L, H, β, contact rule).
    pub teacher: TeacherParams,
    /// Seed of the teacher, the sampler and the shuffle.
    pub seed: u64,
    /// Smallest α = M / L.
    pub alpha_min: f64,
    /// Largest α.
    pub alpha_max: f64,
    /// Number of grid points (geometric).
    pub points: usize,
    /// Explicit training-set sizes instead of the α grid (when non-empty).
    pub sizes: Vec<usize>,
    /// Held-out sequences.
    pub held_out: usize,
    /// Gibbs chains of the sampler.
    pub chains: usize,
    /// Student training settings (model must be factored; `epochs` is a minimum).
    pub train: TrainConfig,
    /// Minimum optimiser steps per student.
    pub min_steps: usize,
}

impl SampleComplexityConfig {
    /// Defaults small enough for a couple of minutes on 2 cores: L = 20,
    /// H = 4, β = 0.4, α from 1 to 100 in 6 points, 1000 held-out
    /// sequences, student with the teacher's H and the trainer's defaults,
    /// at least 300 steps.
    pub fn defaults() -> SampleComplexityConfig {
        let teacher = TeacherParams {
            length: 20,
            ..TeacherParams::default()
        };
        let train = TrainConfig {
            heads: teacher.heads,
            ..TrainConfig::defaults(ModelKind::Factored)
        };
        SampleComplexityConfig {
            teacher,
            seed: 1,
            alpha_min: 1.0,
            alpha_max: 100.0,
            points: 6,
            sizes: Vec::new(),
            held_out: 1000,
            chains: 8,
            train,
            min_steps: 300,
        }
    }

    /// The training-set sizes: `sizes` if given, else `round(α L)` on the
    /// geometric α grid (sorted, duplicates removed, at least 2).
    pub fn grid(&self) -> Vec<usize> {
        let mut m: Vec<usize> = if !self.sizes.is_empty() {
            self.sizes.clone()
        } else {
            let l = self.teacher.length as f64;
            let k = self.points;
            (0..k)
                .map(|i| {
                    let t = if k > 1 {
                        i as f64 / (k - 1) as f64
                    } else {
                        0.0
                    };
                    let alpha = self.alpha_min * (self.alpha_max / self.alpha_min).powf(t);
                    (alpha * l).round() as usize
                })
                .collect()
        };
        m.iter_mut().for_each(|v| *v = (*v).max(2));
        m.sort_unstable();
        m.dedup();
        m
    }

    /// Checks the settings; bad values are input errors naming the flag.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.is_empty() {
            if self.points == 0 {
                return Err(crate::input_error("--points must be at least 1"));
            }
            if !(self.alpha_min > 0.0
                && self.alpha_max >= self.alpha_min
                && self.alpha_max.is_finite())
            {
                return Err(crate::input_error(
                    "--alpha-min and --alpha-max must satisfy 0 < alpha-min <= alpha-max",
                ));
            }
        }
        if self.held_out == 0 {
            return Err(crate::input_error("--held-out must be at least 1"));
        }
        if self.train.model != ModelKind::Factored {
            return Err(crate::input_error("the student must be a factored model"));
        }
        let largest = self.grid().last().copied().unwrap_or(0);
        if largest > 1_000_000 {
            return Err(crate::input_error(format!(
                "the largest training set would have {largest} sequences (more than 10^6): lower --alpha-max"
            )));
        }
        self.train.validate()
    }
}

/// One point of the curve.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleComplexityRow {
    /// α = M / L.
    pub alpha: f64,
    /// Training sequences M.
    pub m: usize,
    /// Held-out mean per-site NLL under the student (nats).
    pub student_nll: f64,
    /// Held-out mean per-site NLL under the teacher (nats).
    pub teacher_nll: f64,
    /// `student_nll − teacher_nll`.
    pub gap: f64,
    /// Top-L precision of the planted contacts (separation ≥ 6).
    pub precision_top_l: f64,
    /// Wall seconds of training.
    pub train_seconds: f64,
    /// Epochs the student was trained for.
    pub epochs: usize,
    /// Optimiser steps taken.
    pub steps: usize,
}

/// The whole experiment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleComplexityReport {
    /// Settings.
    pub config: SampleComplexityConfig,
    /// Planted contacts with separation ≥ 6.
    pub planted_contacts: usize,
    /// `k` of the top-k precision: min(L, planted contacts with separation ≥ 6).
    pub precision_k: usize,
    /// Seconds spent sampling.
    pub sampling_seconds: f64,
    /// The curve, by increasing M.
    pub rows: Vec<SampleComplexityRow>,
}

/// Precision of the top `k` predicted pairs with separation ≥ [`MIN_SEPARATION`]
/// of `model` against `contacts` (0-based pairs `i < j`).
pub fn planted_precision(
    model: &crate::model::Model,
    contacts: &[(usize, usize)],
    k: usize,
) -> f64 {
    let prediction = Prediction::of_model(model);
    let top = prediction.top(k, MIN_SEPARATION, None);
    if top.is_empty() {
        return 0.0;
    }
    let hits = top
        .iter()
        .filter(|p| contacts.contains(&(p.i - 1, p.j - 1)))
        .count();
    hits as f64 / top.len() as f64
}

fn to_array(seqs: &[Vec<u8>], l: usize) -> Result<Array2<u8>> {
    let flat: Vec<u8> = seqs.iter().flatten().copied().collect();
    Ok(Array2::from_shape_vec((seqs.len(), l), flat)?)
}

/// Runs the experiment (see the module documentation); calls `on_row` after
/// every student.
pub fn sample_complexity(
    cfg: &SampleComplexityConfig,
    on_row: &mut dyn FnMut(&SampleComplexityRow),
) -> Result<SampleComplexityReport> {
    cfg.validate()?;
    let l = cfg.teacher.length;
    let grid = cfg.grid();
    let m_max = grid.last().copied().unwrap_or(0);
    let teacher = Teacher::generate(&cfg.teacher, cfg.seed)?;
    let t = Instant::now();
    let run = teacher.sample(&SampleOptions {
        samples: cfg.held_out + m_max,
        chains: cfg.chains,
        burn_in: None,
        thin: None,
        seed: cfg.seed,
    })?;
    let sampling_seconds = t.elapsed().as_secs_f64();
    let mut pool = run.sequences;
    pool.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed));
    let test = to_array(&pool[..cfg.held_out], l)?;
    let train_pool = &pool[cfg.held_out..];
    let teacher_nll = mean_site_nll(
        &teacher_sequence_nll(&teacher, &test)?,
        &vec![1.0; cfg.held_out],
        l,
    );
    let planted: Vec<(usize, usize)> = teacher
        .contacts()
        .iter()
        .copied()
        .filter(|(i, j)| j - i >= MIN_SEPARATION)
        .collect();
    let k = l.min(planted.len());
    let mut rows = Vec::with_capacity(grid.len());
    for &m in &grid {
        let states = to_array(&train_pool[..m], l)?;
        let (default_epochs, batch) = cfg.train.schedule(m);
        let epochs = default_epochs.max(cfg.min_steps.div_ceil(m.div_ceil(batch)));
        let train_cfg = TrainConfig {
            epochs: Some(epochs),
            batch_size: Some(batch),
            ..cfg.train.clone()
        };
        let (student, report) = train(&states, &vec![1.0; m], &train_cfg, &mut |_| {})?;
        let student = student.to_cpu()?;
        let student_nll = mean_site_nll(
            &model_sequence_nll(&student, &test)?,
            &vec![1.0; cfg.held_out],
            l,
        );
        let row = SampleComplexityRow {
            alpha: m as f64 / l as f64,
            m,
            student_nll,
            teacher_nll,
            gap: student_nll - teacher_nll,
            precision_top_l: planted_precision(&student, &planted, k),
            train_seconds: report.seconds,
            epochs,
            steps: report.steps,
        };
        on_row(&row);
        rows.push(row);
    }
    Ok(SampleComplexityReport {
        config: cfg.clone(),
        planted_contacts: planted.len(),
        precision_k: k,
        sampling_seconds,
        rows,
    })
}

/// Writes `sample_complexity.tsv`: a header, then one row per `M`.
pub fn write_tsv(path: &Path, rows: &[SampleComplexityRow]) -> Result<()> {
    crate::io::write_atomic(path, |w| {
        writeln!(
            w,
            "alpha\tM\tstudent_nll\tteacher_nll\tgap\tprecision_top_l\ttrain_seconds\tepochs\tsteps"
        )?;
        for r in rows {
            writeln!(
                w,
                "{:.4}\t{}\t{:.6}\t{:.6}\t{:.6}\t{:.4}\t{:.2}\t{}\t{}",
                r.alpha,
                r.m,
                r.student_nll,
                r.teacher_nll,
                r.gap,
                r.precision_top_l,
                r.train_seconds,
                r.epochs,
                r.steps
            )?;
        }
        Ok(())
    })
}
