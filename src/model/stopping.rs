//! When training stops (issue #17): after a fixed number of optimiser
//! steps (`--steps`, or `--epochs`), or, by default, once the contacts a
//! user reads stop changing: every [`StopRule::every`] steps the trainer
//! asks the caller for the model's top-L contact pairs ([`TopPairs`]) and
//! compares them with the previous check's; when at least
//! [`StopRule::kept`] of them are still there, and the mean objective of
//! the steps since the previous check is at most [`StopRule::decrease`]
//! (relative) below the mean of the steps before, [`StopRule::in_a_row`]
//! times in a row (and [`StopRule::min_steps`] are done), training has
//! converged. The objective's condition keeps a model that moves slowly
//! (a slow start, a small learning rate), whose top-L set may look
//! settled while it is still learning, from being stopped. The learning rate follows the schedule over the maximum
//! number of steps, which the rule may cut; a rule that never fires gives
//! exactly the fixed-length run, bit for bit.
//!
//! The rule watches the top-L set rather than the objective: the objective
//! of a mini-batch is noisy and its decrease says little about the ranking
//! of `L²/2` pairs, while the top-L set *is* the output that precision is
//! measured on. Its cost is one contact-score computation per check from
//! one check before `min_steps` on ([`crate::couplings::check_scores`]:
//! factored attention's through its heads' Gram matrices), a few percent
//! of the training time (BENCHMARKS.md). The decision depends only on the model's
//! parameters, which are deterministic for a seed and thread count, so the
//! stopping step is too.
use std::collections::HashSet;

use super::Model;

/// The model's best contact pairs `(i, j)` as the user will read them
/// (top L, separation ≥ 6, scored as the output files are): computed by
/// the caller, since contact scores are downstream of the model.
pub type TopPairs<'a> = dyn Fn(&Model) -> anyhow::Result<Vec<(usize, usize)>> + 'a;

/// Settings of the convergence rule. The defaults were chosen on the DEV
/// benchmark (docs/MODEL.md, "Stopping rule").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StopRule {
    /// Optimiser steps between two checks.
    pub every: usize,
    /// No stop before this many steps.
    pub min_steps: usize,
    /// Fraction of the previous check's top-L pairs that must still be in
    /// the top L for a check to count as stable.
    pub kept: f64,
    /// Largest relative decrease of the mean objective between two check
    /// windows for a check to count as stable.
    pub decrease: f64,
    /// Stable checks in a row that end training.
    pub in_a_row: usize,
}

impl Default for StopRule {
    fn default() -> StopRule {
        StopRule {
            every: 25,
            min_steps: 150,
            kept: 0.95,
            decrease: 0.01,
            in_a_row: 1,
        }
    }
}

impl StopRule {
    /// A rule that never stops training (every check is recorded): what a
    /// benchmark uses to see where each setting would have stopped.
    pub fn never(every: usize) -> StopRule {
        StopRule {
            every,
            min_steps: usize::MAX,
            kept: f64::INFINITY,
            decrease: f64::NEG_INFINITY,
            in_a_row: usize::MAX,
        }
    }
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The top-L contacts stopped changing ([`StopRule`]).
    Converged,
    /// The automatic schedule's maximum number of steps was reached.
    MaxSteps,
    /// The fixed length asked for (`--steps`, `--epochs`) was reached.
    FixedLength,
}

impl StopReason {
    /// The reason in words, for the one-screen summary.
    pub fn describe(self, rule: &StopRule) -> String {
        match self {
            StopReason::Converged => {
                let when = if rule.in_a_row == 1 {
                    format!("since the check {} steps before", rule.every)
                } else {
                    format!(
                        "at {} checks in a row, {} steps apart",
                        rule.in_a_row, rule.every
                    )
                };
                format!(
                    "converged: at least {:.0} % of the top-L contacts kept and the objective down by at most {} % {when}",
                    rule.kept * 100.0,
                    rule.decrease * 100.0,
                )
            }
            StopReason::MaxSteps => "reached the maximum number of steps".to_string(),
            StopReason::FixedLength => "fixed length (--steps or --epochs)".to_string(),
        }
    }
}

/// One convergence check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    /// Optimiser steps done at the check.
    pub step: usize,
    /// Seconds since training started.
    pub seconds: f64,
    /// Fraction of the previous check's top-L pairs still in the top L
    /// (`null` where the previous check read none: the top-L set is read
    /// from one check before [`StopRule::min_steps`] on).
    pub kept: Option<f64>,
    /// Mean objective of the mini-batches since the previous check.
    pub objective: f64,
    /// Its decrease from the previous check's, relative to it (`null` at
    /// the first check).
    pub decrease: Option<f64>,
}

/// The rule at work during one training run.
pub(super) struct Watch<'a> {
    rule: StopRule,
    top_pairs: &'a TopPairs<'a>,
    previous: Option<HashSet<(usize, usize)>>,
    previous_objective: Option<f64>,
    /// Weighted sum of the objective and the weights since the last check.
    window: (f64, f64),
    stable: usize,
    /// Every check so far.
    pub(super) checks: Vec<Check>,
}

impl<'a> Watch<'a> {
    /// Watches with `rule` through `top_pairs`.
    pub(super) fn new(rule: StopRule, top_pairs: &'a TopPairs<'a>) -> Watch<'a> {
        Watch {
            rule,
            top_pairs,
            previous: None,
            previous_objective: None,
            window: (0.0, 0.0),
            stable: 0,
            checks: Vec::new(),
        }
    }

    /// Adds a step's objective `value` over mini-batch weight `weight` to
    /// the window of the next check.
    pub(super) fn record(&mut self, value: f64, weight: f64) {
        self.window.0 += value * weight;
        self.window.1 += weight;
    }

    /// Whether a check falls after `step` steps.
    pub(super) fn due(&self, step: usize) -> bool {
        step > 0 && step.is_multiple_of(self.rule.every.max(1))
    }

    /// Checks `model` after `step` steps (`seconds` into training) and
    /// says whether training has converged.
    pub(super) fn converged(
        &mut self,
        model: &Model,
        step: usize,
        seconds: f64,
    ) -> anyhow::Result<bool> {
        // The top-L set is read from one check before `min_steps` on:
        // earlier sets could not stop training.
        let current: Option<HashSet<(usize, usize)>> =
            if step + self.rule.every >= self.rule.min_steps {
                Some((self.top_pairs)(model)?.into_iter().collect())
            } else {
                None
            };
        let kept = match (&self.previous, &current) {
            (Some(p), Some(c)) => Some(kept_fraction(p, c)),
            _ => None,
        };
        let objective = self.window.0 / self.window.1.max(f64::MIN_POSITIVE);
        let decrease = self
            .previous_objective
            .map(|p| (p - objective) / p.abs().max(f64::MIN_POSITIVE));
        self.checks.push(Check {
            step,
            seconds,
            kept,
            objective,
            decrease,
        });
        self.previous = current;
        self.previous_objective = Some(objective);
        self.window = (0.0, 0.0);
        match (kept, decrease) {
            (Some(k), Some(d)) if k >= self.rule.kept && d <= self.rule.decrease => {
                self.stable += 1
            }
            _ => self.stable = 0,
        }
        Ok(step >= self.rule.min_steps && self.stable >= self.rule.in_a_row)
    }
}

/// The fraction of `previous` found in `current` (1 when `previous` is
/// empty).
pub fn kept_fraction(previous: &HashSet<(usize, usize)>, current: &HashSet<(usize, usize)>) -> f64 {
    if previous.is_empty() {
        return 1.0;
    }
    previous.intersection(current).count() as f64 / previous.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_fraction_counts_the_pairs_still_there() {
        let a: HashSet<_> = [(1, 8), (2, 9), (3, 10), (4, 11)].into_iter().collect();
        let b: HashSet<_> = [(1, 8), (2, 9), (3, 10), (5, 12)].into_iter().collect();
        assert_eq!(kept_fraction(&a, &b), 0.75);
        assert_eq!(kept_fraction(&a, &a), 1.0);
        assert_eq!(kept_fraction(&HashSet::new(), &b), 1.0);
    }

    #[test]
    fn the_never_rule_cannot_fire() {
        let r = StopRule::never(10);
        // No fraction reaches its `kept`, no step its `min_steps`.
        assert!(r.kept > 1.0 && r.min_steps == usize::MAX);
        assert_eq!(r.every, 10);
    }
}
