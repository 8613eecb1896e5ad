//! Tuning harness: trains on bench families with given hyper-parameters and
//! prints top-L precision and timings per family (library calls only).
//!
//! `cargo run --release --example tune -- FAMILIES.tsv [key=value ...]`
//! keys: model heads head_dim lambda_j lambda_h lr epochs steps batch seed
//! seeds (average the couplings of that many seeds) threads only=FAM,FAM
//! objective (pll|mlm) mask_prob theta (identity threshold of the weights)
//! lambda_j_scale=c (λ_J = c·(L−1)/M_eff per family)
//! rule=EVERY,MIN_STEPS,KEPT,DECREASE,IN_A_ROW (the stopping rule; default the
//! library's) or rule=never:EVERY (never stops; prints a `check` line per
//! check with the top-L precision a stop there would have given, for
//! scripts/stop_rule.py to replay every rule offline)
use std::path::{Path, PathBuf};
use std::time::Instant;

use fadca::alignment::{ReadOptions, read_alignment};
use fadca::contacts::Prediction;
use fadca::contacts::SeparationClass;
use fadca::model::{ModelKind, StopRule, TrainConfig, train, train_until_converged};
use fadca::score::score_against_structure;
use fadca::structure::AtomSelection;
use fadca::structure::NativeSource;

fn main() -> anyhow::Result<()> {
    fadca::runtime::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let manifest = PathBuf::from(&args[0]);
    let root = manifest.parent().unwrap_or(Path::new("."));
    let mut cfg = TrainConfig::defaults(ModelKind::Factored);
    let mut only: Option<Vec<String>> = None;
    let mut threads = 2;
    let mut seeds: u64 = 1;
    let mut steps: Option<usize> = None;
    let mut theta = 0.8;
    let mut lambda_j_scale: Option<f64> = None;
    for kv in &args[1..] {
        let (k, v) = kv.split_once('=').expect("key=value");
        match k {
            "model" => {
                let kind = if v == "potts" {
                    ModelKind::Potts
                } else {
                    ModelKind::Factored
                };
                let seed = cfg.seed;
                cfg = TrainConfig {
                    seed,
                    ..TrainConfig::defaults(kind)
                };
            }
            "heads" => cfg.heads = v.parse()?,
            "head_dim" => cfg.head_dim = v.parse()?,
            "lambda_j" => cfg.lambda_j = Some(v.parse()?),
            "lambda_h" => cfg.lambda_h = v.parse()?,
            "lr" => cfg.learning_rate = v.parse()?,
            "epochs" => cfg.epochs = Some(v.parse()?),
            "steps" => steps = Some(v.parse::<usize>()?),
            "batch" => cfg.batch_size = Some(v.parse()?),
            "seed" => cfg.seed = v.parse()?,
            "seeds" => seeds = v.parse()?,
            "threads" => threads = v.parse()?,
            "objective" => {
                cfg.objective = clap::ValueEnum::from_str(v, true).map_err(anyhow::Error::msg)?
            }
            "mask_prob" => cfg.mask_prob = v.parse()?,
            "theta" => theta = v.parse()?,
            "lambda_j_scale" => lambda_j_scale = Some(v.parse::<f64>()?),
            "only" => only = Some(v.split(',').map(String::from).collect()),
            "rule" => {
                cfg.stop = match v.strip_prefix("never:") {
                    Some(every) => StopRule::never(every.parse()?),
                    None => {
                        let f: Vec<&str> = v.split(',').collect();
                        anyhow::ensure!(
                            f.len() == 5,
                            "rule=EVERY,MIN_STEPS,KEPT,DECREASE,IN_A_ROW"
                        );
                        StopRule {
                            every: f[0].parse()?,
                            min_steps: f[1].parse()?,
                            kept: f[2].parse()?,
                            decrease: f[3].parse()?,
                            in_a_row: f[4].parse()?,
                        }
                    }
                }
            }
            _ => anyhow::bail!("unknown key {k}"),
        }
    }
    tch::set_num_threads(threads);
    let text = std::fs::read_to_string(&manifest)?;
    let (mut sum_p, mut count, mut total) = (0.0, 0, 0.0);
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 || f[2].is_empty() {
            continue;
        }
        if let Some(o) = &only
            && !o.iter().any(|x| x == f[0])
        {
            continue;
        }
        let start = Instant::now();
        let aln = read_alignment(&root.join(f[1]), &ReadOptions::default())?;
        let w = fadca::weights::sequence_weights(aln.states.view(), theta);
        let t_w = start.elapsed().as_secs_f64();
        let mut cfg = cfg.clone();
        if let Some(c) = lambda_j_scale {
            let meff = fadca::weights::effective_count(&w);
            cfg.lambda_j = Some(c * fadca::model::plmc_lambda_scale(aln.states.ncols(), meff));
        }
        if let Some(st) = steps {
            let (_, b) = cfg.schedule(aln.depth());
            cfg.epochs = Some(st.div_ceil(aln.depth().div_ceil(b)).max(1));
        }
        let source = NativeSource::Structure {
            path: root.join(f[2]),
            chain: Some(f[3].to_string()),
            atoms: AtomSelection::Cb,
            cutoff: 8.0,
        };
        // Every check's top-L set, for the precision a stop there gives.
        let seen = std::cell::RefCell::new(Vec::new());
        let watch = |m: &fadca::model::Model| {
            let pairs = Prediction::top_l_pairs(m)?;
            seen.borrow_mut().push(pairs.clone());
            Ok(pairs)
        };
        let (model, report) = train_until_converged(&aln.states, &w, &cfg, &watch, &mut |_| {})?;
        for (check, pairs) in report.checks.iter().zip(seen.borrow().iter()) {
            let n = pairs.len();
            let pred = Prediction {
                length: aln.length(),
                pairs: pairs
                    .iter()
                    .enumerate()
                    .map(|(k, &(i, j))| fadca::contacts::ScoredPair {
                        i,
                        j,
                        score: (n - k) as f64,
                    })
                    .collect(),
            };
            let rep = score_against_structure(&aln.query_sequence, &pred, &source, false)?;
            println!(
                "check\t{}\t{}\t{:.3}\t{}\t{:.4}\t{}\t{}",
                f[0],
                check.step,
                check.seconds,
                check.kept.map_or("-".to_string(), |k| format!("{k:.4}")),
                rep.precision.get(SeparationClass::All, "L").unwrap_or(0.0),
                report.max_steps,
                check
                    .decrease
                    .map_or("-".to_string(), |d| format!("{d:.6}"))
            );
        }
        let mut jc = model.couplings();
        for k in 1..seeds {
            let c2 = fadca::model::TrainConfig {
                seed: cfg.seed + k,
                ..cfg.clone()
            };
            let (m2, _) = train(&aln.states, &w, &c2, &mut |_| {})?;
            jc = jc + m2.couplings();
        }
        let scores = fadca::couplings::contact_scores(jc.view());
        let wall = start.elapsed().as_secs_f64();
        let pred = Prediction::from_matrix(&scores);
        let rep = score_against_structure(&aln.query_sequence, &pred, &source, false)?;
        let p = rep.precision.get(SeparationClass::All, "L").unwrap_or(0.0);
        let pl = rep.precision.get(SeparationClass::Long, "L").unwrap_or(0.0);
        println!(
            "{}\tN={}\tL={}\tweights={:.1}s\ttrain={:.1}s\twall={:.1}s\tloss={:.3}\tP@L={:.4}\tP@L_long={:.4}\tsteps={}/{}",
            f[0],
            aln.depth(),
            aln.length(),
            t_w,
            report.seconds,
            wall,
            report.loss_curve.last().unwrap_or(&0.0),
            p,
            pl,
            report.steps,
            report.max_steps
        );
        sum_p += p;
        count += 1;
        total += wall;
    }
    println!(
        "mean P@L {:.4} over {count} families, total wall {total:.1}s  {}",
        sum_p / count.max(1) as f64,
        args[1..].join(" ")
    );
    Ok(())
}
