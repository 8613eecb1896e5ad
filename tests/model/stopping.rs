//! When training stops (issue #17): the stopping rule ends a run on a
//! planted family once its contacts have settled, with the contacts of the
//! full-length run; it does not end a run whose contacts still change or
//! whose objective still falls (a slow start); a fixed length (`steps`,
//! `epochs`) overrides it; the stopping step is deterministic; a Potts
//! check reads the half of the table that training keeps current.
use std::cell::Cell;
use std::collections::HashSet;

use fadca::contacts::Prediction;
use fadca::model::{
    ModelKind, StopReason, StopRule, TrainConfig, kept_fraction, train, train_until_converged,
};
use fadca::simulate::{SampleOptions, TeacherParams, simulate_family};
use ndarray::Array2;

use crate::common;
use crate::training::assert_symmetric_without_self_couplings;

/// A planted family of 24 sites (4 heads), 600 samples: states and unit weights.
fn planted_family() -> (Array2<u8>, Vec<f64>) {
    let params = TeacherParams {
        length: 24,
        heads: 4,
        ..TeacherParams::default()
    };
    let opts = SampleOptions {
        samples: 600,
        chains: 4,
        burn_in: None,
        thin: None,
        seed: 3,
    };
    let family = simulate_family(&params, &opts).unwrap();
    let n = family.run.sequences.len();
    let states = Array2::from_shape_vec((n, 24), family.run.sequences.concat()).unwrap();
    (states, vec![1.0; n])
}

fn potts() -> TrainConfig {
    TrainConfig {
        batch_size: Some(128),
        ..TrainConfig::defaults(ModelKind::Potts)
    }
}

/// Trains with the stopping rule watching the model's real top-L pairs.
fn converge(
    states: &Array2<u8>,
    weights: &[f64],
    cfg: &TrainConfig,
) -> (fadca::model::Model, fadca::model::TrainReport) {
    train_until_converged(states, weights, cfg, &Prediction::top_l_pairs, &mut |_| {}).unwrap()
}

fn top_set(model: &fadca::model::Model) -> HashSet<(usize, usize)> {
    Prediction::top_l_pairs(model)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn a_converged_family_stops_early_with_the_full_runs_contacts() {
    let _torch = common::torch_globals();
    tch::set_num_threads(2);
    let (states, weights) = planted_family();
    let cfg = potts();
    let (early, report) = converge(&states, &weights, &cfg);
    assert_eq!(
        report.stop_reason,
        StopReason::Converged,
        "{:?}",
        report.checks
    );
    assert!(report.steps < report.max_steps, "{} steps", report.steps);
    assert!(report.steps >= cfg.stop.min_steps);
    assert_eq!(report.steps % cfg.stop.every, 0);
    assert_eq!(report.checks.len(), report.steps / cfg.stop.every);
    // The full length, forced: the same top-L contacts, within one pair in ten.
    let full_cfg = TrainConfig {
        steps: Some(report.max_steps),
        ..cfg.clone()
    };
    let (full, full_report) = train(&states, &weights, &full_cfg, &mut |_| {}).unwrap();
    assert_eq!(full_report.steps, report.max_steps);
    assert_eq!(full_report.stop_reason, StopReason::FixedLength);
    let kept = kept_fraction(&top_set(&full), &top_set(&early));
    assert!(kept >= 0.9, "top-L overlap with the full run {kept}");
}

#[test]
fn contacts_that_keep_changing_are_not_stopped() {
    let _torch = common::torch_globals();
    tch::set_num_threads(2);
    let (states, weights) = planted_family();
    // A view of the contacts that changes at every check: never converged.
    let calls = Cell::new(0usize);
    let moving = |_: &fadca::model::Model| {
        calls.set(calls.get() + 1);
        Ok::<_, anyhow::Error>((0..24).map(|k| (k, 1000 * calls.get() + k)).collect())
    };
    let (_, report) =
        train_until_converged(&states, &weights, &potts(), &moving, &mut |_| {}).unwrap();
    assert_eq!(report.stop_reason, StopReason::MaxSteps);
    assert_eq!(report.steps, report.max_steps);
    // The top-L set is read from one check before `min_steps` on.
    let rule = StopRule::default();
    for c in &report.checks {
        let want = (c.step >= rule.min_steps).then_some(0.0);
        assert_eq!(c.kept, want, "{c:?}");
    }
    assert_eq!(
        calls.get(),
        report
            .checks
            .iter()
            .filter(|c| c.step + rule.every >= rule.min_steps)
            .count()
    );
}

#[test]
fn a_slow_start_is_not_stopped_while_the_objective_falls() {
    let _torch = common::torch_globals();
    tch::set_num_threads(2);
    let (states, weights) = planted_family();
    // A learning rate 50 times smaller: the couplings grow slowly, so the
    // top-L set moves little from check to check while the objective is
    // still falling; the rule must wait for the objective.
    let cfg = TrainConfig {
        learning_rate: 0.001,
        ..potts()
    };
    let (_, report) = converge(&states, &weights, &cfg);
    let falling = report
        .checks
        .iter()
        .filter(|c| c.decrease.is_some_and(|d| d > StopRule::default().decrease))
        .count();
    assert!(falling > 0, "{:?}", report.checks);
    // Wherever it stopped, its last checks were stable in both respects.
    if report.stop_reason == StopReason::Converged {
        let last = &report.checks[report.checks.len() - cfg.stop.in_a_row..];
        assert!(
            last.iter()
                .all(|c| c.decrease.unwrap() <= cfg.stop.decrease
                    && c.kept.unwrap() >= cfg.stop.kept),
            "{last:?}"
        );
    }
    let (_, fast) = converge(&states, &weights, &potts());
    assert!(
        report.steps > fast.steps,
        "slow {} fast {}",
        report.steps,
        fast.steps
    );
}

#[test]
fn a_fixed_length_overrides_the_rule() {
    let _torch = common::torch_globals();
    tch::set_num_threads(2);
    let (states, weights) = planted_family();
    let settled = |_: &fadca::model::Model| Ok::<_, anyhow::Error>(vec![(1, 8), (2, 9)]);
    for cfg in [
        TrainConfig {
            steps: Some(37),
            ..potts()
        },
        TrainConfig {
            epochs: Some(2),
            ..potts()
        },
    ] {
        let (_, report) =
            train_until_converged(&states, &weights, &cfg, &settled, &mut |_| {}).unwrap();
        let want = cfg.steps.unwrap_or(2 * states.nrows().div_ceil(128));
        assert_eq!(report.steps, want);
        assert_eq!(report.max_steps, want);
        assert_eq!(report.stop_reason, StopReason::FixedLength);
        assert!(report.checks.is_empty());
        // The loss curve has one entry per epoch begun (37 steps of 5 batches: 8).
        assert_eq!(
            report.loss_curve.len(),
            want.div_ceil(states.nrows().div_ceil(128))
        );
    }
    // A settled view stops at the first check allowed: min_steps, the
    // objective permitting (a rule that ignores it here).
    let rule = StopRule {
        decrease: f64::INFINITY,
        ..StopRule::default()
    };
    let cfg = TrainConfig {
        stop: rule,
        ..potts()
    };
    let (_, report) =
        train_until_converged(&states, &weights, &cfg, &settled, &mut |_| {}).unwrap();
    assert_eq!(report.stop_reason, StopReason::Converged);
    let first = rule.min_steps.max(rule.every * (rule.in_a_row + 1));
    assert_eq!(report.steps, first.div_ceil(rule.every) * rule.every);
}

#[test]
fn the_stopping_step_is_deterministic() {
    let _torch = common::torch_globals();
    tch::set_num_threads(2);
    let (states, weights) = planted_family();
    let run = || {
        let (model, report) = converge(&states, &weights, &potts());
        let steps: Vec<(usize, Option<f64>, f64)> = report
            .checks
            .iter()
            .map(|c| (c.step, c.kept, c.objective))
            .collect();
        (model.couplings(), report.steps, steps, report.loss_curve)
    };
    assert_eq!(run(), run());
}

/// During Potts training the table is current above its diagonal only (the
/// update leaves the blocks below stale until training ends): each check's
/// scores are those of the table made whole from its current half, and the
/// trained table is whole.
#[test]
fn potts_checks_read_the_current_half_of_the_table() {
    let _torch = common::torch_globals();
    let (states, weights) = planted_family();
    let checks = Cell::new(0);
    let stale_seen = Cell::new(false);
    let watched = |model: &fadca::model::Model| -> anyhow::Result<Vec<(usize, usize)>> {
        // J[i][k] for i > k is current (the table's block above its diagonal).
        let j = model.couplings();
        let l = j.dim().0;
        let mut whole = j.clone();
        for i in 0..l {
            for k in 0..i {
                for a in 0..fadca::Q {
                    for b in 0..fadca::Q {
                        whole[[k, i, b, a]] = j[[i, k, a, b]];
                    }
                }
            }
        }
        stale_seen.set(stale_seen.get() || whole != j);
        assert_eq!(
            fadca::couplings::check_scores(model),
            fadca::couplings::contact_scores(whole.view())
        );
        checks.set(checks.get() + 1);
        Prediction::top_l_pairs(model)
    };
    let (model, report) =
        train_until_converged(&states, &weights, &potts(), &watched, &mut |_| {}).unwrap();
    assert!(checks.get() >= 2, "{} checks", checks.get());
    assert!(
        stale_seen.get(),
        "the lower half was never stale: the test saw nothing"
    );
    assert!(assert_symmetric_without_self_couplings(&model.couplings()) > 0);
    assert!(report.steps >= 150);
}
