//! `fadca evaluate MODEL MSA`: mean per-site negative log-likelihood and
//! perplexity of an alignment's sequences under a saved model's conditionals,
//! and under the planted teacher's when there is one (SPEC §6). The work is
//! done by [`fadca::likelihood::evaluate`].
use std::path::PathBuf;

use fadca::alignment::read_alignment;
use fadca::io::sha256_file;
use fadca::likelihood::evaluate;
use fadca::model::Model;
use fadca::runtime::{configure_threads, default_threads};
use fadca::simulate::Teacher;

use super::common::AlignmentArgs;

/// Arguments of `fadca evaluate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The per-site NLL of a sequence x is -(1/L) sum_i log P(x_i | x_rest), P the model's conditional \
(the quantity pseudo-likelihood training minimises). It is averaged over the alignment's kept \
sequences (query included) with the same sequence weights as `fadca predict` (theta 0.8), so \
that it matches the training objective on natural families; --no-weights gives every sequence \
weight 1 (the plain mean, the right estimator for i.i.d. samples of a teacher). \
Perplexity = exp(NLL), between 1 and 21.\n\
With a teacher (--teacher, or teacher.safetensors next to the MSA as `fadca simulate` writes it) \
the same is computed under the teacher's exact conditionals, and gap = model - teacher.")]
pub struct Args {
    /// A model saved by `fadca predict` (safetensors).
    pub model: PathBuf,
    /// Alignment whose sequences are scored (its columns must match the model's L).
    pub msa: PathBuf,
    /// The planted teacher [default: teacher.safetensors in the MSA's folder, if present].
    #[arg(long, value_name = "FILE")]
    pub teacher: Option<PathBuf>,
    /// Do not look for teacher.safetensors next to the MSA.
    #[arg(long, conflicts_with = "teacher")]
    pub no_teacher: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// CPU threads for libtorch and the weights [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub alignment: AlignmentArgs,
}

/// Runs `fadca evaluate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    configure_threads(args.threads.unwrap_or_else(default_threads))?;
    let (model, metadata) = Model::load(&args.model)?;
    // Whether the model was trained on this very alignment (by the SHA-256
    // its file records; unknown for models written before it did).
    let trained_here = match metadata.get("msa_sha256") {
        Some(recorded) => Some(*recorded == sha256_file(&args.msa)?),
        None => None,
    };
    let trained_on = metadata.get("msa").cloned().unwrap_or_default();
    let teacher_path = match &args.teacher {
        Some(p) => Some(p.clone()),
        None if args.no_teacher => None,
        None => args
            .msa
            .parent()
            .map(|d| d.join("teacher.safetensors"))
            .filter(|p| p.is_file()),
    };
    let teacher = match &teacher_path {
        Some(p) => Some(Teacher::load(p)?),
        None => None,
    };
    let alignment = read_alignment(&args.msa, &args.alignment.read_options())?;
    let weights = args.alignment.weights(&alignment);
    let theta = args.alignment.weighting().theta();
    let report =
        evaluate(&model, teacher.as_ref(), &alignment.states, &weights, theta).map_err(|e| {
            if fadca::error::is_input_error(&e) {
                fadca::input_error(format!(
                    "{} with model {}: {e:#}",
                    args.msa.display(),
                    args.model.display()
                ))
            } else {
                e
            }
        })?;
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("model_path".into(), args.model.display().to_string().into());
            map.insert("msa".into(), args.msa.display().to_string().into());
            map.insert("trained_on_this_alignment".into(), trained_here.into());
            map.insert(
                "teacher_path".into(),
                teacher_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .into(),
            );
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("model     {}", args.model.display());
        println!("msa       {}", args.msa.display());
        if trained_here == Some(false) {
            println!("note      the model was trained on another alignment ({trained_on})");
        }
        if let Some(p) = &teacher_path {
            println!("teacher   {}", p.display());
        }
        print!("{}", report.render());
    }
    Ok(())
}
