//! `fadca inspect`: what was read from an alignment, what was dropped and
//! kept, L, M_eff, the estimated training memory of both models and which
//! one `--model auto` would train.
use std::path::PathBuf;

use fadca::model::choice::{ModelRequest, choose_model, estimate_for};
use fadca::model::memory::human_bytes;
use fadca::model::{ModelKind, TrainConfig};
use fadca::predict::{Limits, memory_limit};
use fadca::runtime::{DeviceChoice, resolve_device};
use fadca::weights::effective_count;

use super::common::AlignmentArgs;

/// Arguments of `fadca inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alignment file (FASTA/A2M, A3M, Stockholm, PSICOV .aln; optionally gzipped).
    pub msa: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub alignment: AlignmentArgs,
}

/// Runs `fadca inspect`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let aln = fadca::alignment::read_alignment(&args.msa, &args.alignment.read_options())?;
    let theta = args.alignment.weighting().theta();
    let weights = args.alignment.weights(&aln);
    let meff = effective_count(&weights);
    let (n, l) = (aln.depth(), aln.length());
    // The estimates assume predict's defaults for this alignment, on the
    // device `--device auto` would pick (the fused kernels on the CPU).
    let device = resolve_device(DeviceChoice::Auto)?;
    let defaults = TrainConfig {
        device,
        ..TrainConfig::defaults(ModelKind::Factored)
    };
    let (heads, head_dim) = (defaults.heads, defaults.head_dim);
    let (_, batch) = defaults.schedule(n);
    let (factored, potts) = (
        estimate_for(&defaults, ModelKind::Factored, n, l),
        estimate_for(&defaults, ModelKind::Potts, n, l),
    );
    // What `fadca predict` would train by default (`--model auto`) here,
    // against the memory available now.
    let limit = memory_limit(&Limits::default(), device);
    let auto = choose_model(ModelRequest::Auto, &defaults, n, l, limit.as_ref());
    let s = &aln.stats;
    let gap = aln.mean_gap_fraction();
    if args.json {
        let report = serde_json::json!({
            "path": aln.path.display().to_string(),
            "format": aln.format.name(),
            "n_read": s.n_read,
            "n_dropped_gappy": s.n_dropped_gappy,
            "n_kept": s.n_kept,
            "n_columns": s.n_columns,
            "n_columns_dropped": s.n_columns_dropped,
            "length": l,
            "query": { "name": aln.query_name(), "sequence": aln.query_sequence },
            "keep_query_gaps": args.alignment.keep_query_gaps,
            "max_gap_fraction": args.alignment.max_gap_fraction,
            "theta": theta,
            "weighted": theta < 1.0,
            "meff": meff,
            "mean_gap_fraction": gap,
            "memory": {
                "factored_bytes": factored,
                "potts_bytes": potts,
                "heads": heads,
                "head_dim": head_dim,
                "batch": batch,
            },
            "auto": match &auto {
                Ok(choice) => serde_json::json!({
                    "model": choice.model,
                    "reason": choice.reason,
                }),
                Err(err) => serde_json::json!({ "model": null, "reason": err.to_string() }),
            },
        });
        println!("{report}");
        return Ok(());
    }
    let weighting = if theta < 1.0 {
        format!("M_eff {meff:.1} at theta {theta}")
    } else {
        format!("M_eff {meff:.1} (weighting off)")
    };
    let focus = if args.alignment.keep_query_gaps {
        "query gaps kept".to_string()
    } else {
        format!("{} dropped (query gaps)", s.n_columns_dropped)
    };
    println!("alignment   {}", aln.path.display());
    println!("format      {}", aln.format);
    println!(
        "sequences   {} read, {} dropped (more than {}% gaps), {} kept",
        s.n_read,
        s.n_dropped_gappy,
        args.alignment.max_gap_fraction * 100.0,
        s.n_kept
    );
    println!("columns     {} read, {focus}, L = {l}", s.n_columns);
    println!("query       {}", aln.query_name());
    println!("            {}", aln.query_sequence);
    println!("weights     {weighting}");
    println!("gaps        {:.1}% of kept positions", gap * 100.0);
    println!(
        "memory      factored ~{} (H {heads}, d {head_dim}, batch {batch}), potts ~{}",
        human_bytes(factored),
        human_bytes(potts)
    );
    match &auto {
        Ok(choice) => println!(
            "auto        would train {}: {}",
            choice.model.name(),
            choice.reason
        ),
        Err(err) => println!("auto        would refuse: {err}"),
    }
    Ok(())
}
