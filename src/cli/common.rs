//! Command-line flag groups shared by several subcommands (one definition
//! each): how to read and weight an alignment ([`AlignmentArgs`]), the
//! model and its training ([`TrainingArgs`]), how a structure becomes
//! known contacts ([`StructureArgs`]) and how the contact lists are written
//! ([`ListArgs`]). Each group can also turn itself back into `fadca
//! predict` flags, which `fadca batch` passes to its children.
use std::path::PathBuf;

use fadca::alignment::{Alignment, Format, ReadOptions};
use fadca::contacts::{DEFAULT_MIN_SEPARATION, DEFAULT_RR_AUTHOR, ListOptions};
use fadca::error::input_error;
use fadca::model::choice::ModelRequest;
use fadca::model::{DEFAULT_MASK_PROB, ModelKind, Objective, TrainConfig};
use fadca::runtime::{DeviceChoice, resolve_device};
use fadca::structure::{AtomSelection, DEFAULT_CUTOFF, NativeSource};
use fadca::weights::{DEFAULT_THETA, Weighting};

/// How to read an alignment and weight its sequences; flatten into a
/// subcommand's `Args` with `#[command(flatten)]`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Input")]
pub struct AlignmentArgs {
    /// Alignment format. By default it is detected from the content: '# STOCKHOLM' →
    /// stockholm, '>' headers → fasta (A2M included; reported as a3m when rows differ in
    /// length before insertions are removed), a first '#' line → a3m, rows of letters only →
    /// aln (PSICOV/CCMpred). Gzipped files are recognised by their magic bytes. In every format
    /// lowercase letters and '.' are insertions and are removed.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Keep the columns where the query (first sequence) has a gap. By default they are
    /// dropped (focus mode), so that positions 1..L are the query's residues.
    #[arg(long)]
    pub keep_query_gaps: bool,
    /// Drop sequences whose fraction of gaps over the kept columns is larger than X
    /// (0..1; the query is never dropped; 1 keeps every sequence).
    #[arg(long, value_name = "X", default_value_t = 0.9, value_parser = parse_fraction)]
    pub max_gap_fraction: f64,
    /// Sequence identity threshold of the weights: each sequence gets weight 1/(number of
    /// sequences, itself included, sharing at least this fraction of columns with it, gaps
    /// included); M_eff is the sum of the weights. 1 turns weighting off (0..1).
    #[arg(long, value_name = "T", default_value_t = DEFAULT_THETA, value_parser = parse_fraction)]
    pub theta: f64,
    /// Give every sequence weight 1 (same as --theta 1).
    #[arg(long)]
    pub no_weights: bool,
}

impl AlignmentArgs {
    /// The reading options these flags describe.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            format: self.format,
            keep_query_gaps: self.keep_query_gaps,
            max_gap_fraction: self.max_gap_fraction,
        }
    }

    /// The weighting these flags ask for.
    pub fn weighting(&self) -> Weighting {
        Weighting::from_flags(self.theta, self.no_weights)
    }

    /// These flags again as command-line arguments, to pass them on to
    /// `fadca predict`.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(format) = self.format
            && let Some(v) = clap::ValueEnum::to_possible_value(&format)
        {
            out.push("--format".into());
            out.push(v.get_name().into());
        }
        if self.keep_query_gaps {
            out.push("--keep-query-gaps".into());
        }
        out.push("--max-gap-fraction".into());
        out.push(self.max_gap_fraction.to_string());
        out.push("--theta".into());
        out.push(self.theta.to_string());
        if self.no_weights {
            out.push("--no-weights".into());
        }
        out
    }

    /// Sequence weights of `alignment` under these flags.
    pub fn weights(&self, alignment: &Alignment) -> Vec<f64> {
        self.weighting().weights(alignment)
    }
}

/// Parses a number in [0, 1].
fn parse_fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("{x} is not between 0 and 1"))
    }
}

/// The default of one hyper-parameter for help texts: one value when both
/// models share it, else both.
fn default_of(what: &str, value: impl Fn(&TrainConfig) -> String) -> String {
    let f = value(&TrainConfig::defaults(ModelKind::Factored));
    let p = value(&TrainConfig::defaults(ModelKind::Potts));
    let shown = if f == p {
        f
    } else {
        format!("{f} (factored), {p} (potts)")
    };
    format!("{what} [default: {shown}]")
}

/// "auto" for an automatic value, else the value.
fn auto(value: Option<usize>, rule: &str) -> String {
    value.map_or_else(|| format!("auto: {rule}"), |v| v.to_string())
}

/// Model and training hyper-parameters shared by `fadca predict` and
/// `fadca batch` (flatten into `Args` with `#[command(flatten)]`).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainingArgs {
    /// Model: auto = the full Potts model where it fits in memory, else factored attention.
    ///
    /// auto (the default) estimates the peak memory of both models for this alignment and
    /// trains the Potts model when its estimate fits --max-memory (or the memory available),
    /// else factored attention; summary.json and the summary say which and why. On the DEV
    /// benchmark of 20 Pfam families (README) the Potts model is the more precise (mean
    /// top-L precision 0.540 against 0.447) at every alignment depth tried; it needs about
    /// five (L*21)^2 tables of memory (L = 1000: 8 GiB). factored: one layer of factored
    /// self-attention, the paper's layer, 5-25x fewer coupling parameters (H(2Ld + q^2)),
    /// interpretable heads, and the model that trains on long proteins (its table is built
    /// a block of 64 sites at a time: L = 3000 in a few GiB). potts: plmDCA, forced.
    #[arg(long, value_enum, default_value_t = ModelRequest::Auto, help_heading = "Model")]
    pub model: ModelRequest,
    /// Attention heads H (factored model).
    #[arg(long, value_name = "H", help_heading = "Model",
          help = default_of("Attention heads H (factored model)", |c| c.heads.to_string()))]
    pub heads: Option<usize>,
    /// Query/key dimension d per head (factored model).
    #[arg(long, value_name = "D", help_heading = "Model",
          help = default_of("Query/key dimension d per head (factored model)", |c| c.head_dim.to_string()))]
    pub head_dim: Option<usize>,
    /// Optimiser steps, a fixed length.
    #[arg(
        long,
        value_name = "N",
        help_heading = "Training",
        conflicts_with = "epochs",
        help = "Optimiser steps, a fixed length: the stopping rule is off [default: auto: until \
the contacts settle (checked every 25 steps from step 150: at least 95 % of the top-L pairs kept \
and the mean objective down by at most 1 % since the last check), at most the schedule's \
steps (--epochs); summary.json records the steps and why training stopped]"
    )]
    pub steps: Option<usize>,
    /// Passes over the alignment.
    #[arg(long, value_name = "E", help_heading = "Training",
          help = default_of("Passes over the alignment, a fixed length (the stopping rule is off)", |c| auto(c.epochs, "enough passes for at most about 350 optimiser steps (Potts) or 400 (factored), at least 2; the stopping rule may end training sooner")))]
    pub epochs: Option<usize>,
    /// Sequences per mini-batch.
    #[arg(long, value_name = "B", help_heading = "Training",
          help = default_of("Sequences per mini-batch", |c| auto(c.batch_size, "min(N, 256)")))]
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long, value_name = "ETA", help_heading = "Training",
          help = default_of("Adam learning rate", |c| c.learning_rate.to_string()))]
    pub learning_rate: Option<f64>,
    /// L2 strength on the couplings.
    #[arg(
        long,
        value_name = "LAMBDA",
        help_heading = "Training",
        help = "L2 strength on the couplings, lambda_J [default: auto: 0.001 (factored), 0.1(L-1)/M_eff (potts), i.e. plmc's 0.2(L-1) per pair]"
    )]
    pub lambda_j: Option<f64>,
    /// L2 strength on the fields.
    #[arg(long, value_name = "LAMBDA", help_heading = "Training",
          help = default_of("L2 strength on the fields, lambda_h", |c| c.lambda_h.to_string()))]
    pub lambda_h: Option<f64>,
    /// Seed of the initialisation and of the batch order.
    #[arg(long, value_name = "S", help_heading = "Training",
          help = default_of("Seed of the initialisation and of the batch order; on the CPU the same seed \
gives identical files: whatever --threads with --objective pll (the default), with \
the same --threads otherwise", |c| c.seed.to_string()))]
    pub seed: Option<u64>,
    /// Training objective: pll = full pseudo-likelihood (every site predicted from all the
    /// others); mlm = BERT-style masking (each site masked with probability --mask-prob, the
    /// loss is L times the weighted mean over masked sites of -log P(x_i | unmasked rest)).
    #[arg(long, value_enum, default_value_t = Objective::Pll, help_heading = "Training")]
    pub objective: Objective,
    /// Probability that a site is masked (--objective mlm only), in (0, 1].
    #[arg(long, value_name = "P", default_value_t = DEFAULT_MASK_PROB, help_heading = "Training")]
    pub mask_prob: f64,
    /// Where to train: auto = CUDA when libtorch sees a GPU, else the CPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto, help_heading = "Training")]
    pub device: DeviceChoice,
    /// Start the factored model from values shared by other families (a file from `fadca
    /// train-values`): the values V^h (21x21 per head) are kept fixed and only this family's
    /// queries, keys and fields are trained (with --train-values they are fine-tuned too).
    /// H is the file's. --model factored uses them; --model auto still trains the Potts model
    /// where it fits (shared values did not beat it at any depth measured on DEV, README
    /// "Shared values") and starts factored attention from them elsewhere; --model potts is
    /// refused. The model file records the values' path and SHA-256 (values_source,
    /// values_sha256).
    #[arg(long, value_name = "FILE", help_heading = "Model")]
    pub values: Option<std::path::PathBuf>,
    /// With --values: fine-tune the shared values on this family too [default: kept fixed].
    #[arg(long, requires = "values", help_heading = "Model")]
    pub train_values: bool,
}

impl TrainingArgs {
    /// The training configuration: model defaults overridden by the flags given.
    pub fn train_config(&self) -> anyhow::Result<TrainConfig> {
        // The model itself is chosen per alignment (`--model auto`) when the
        // run starts; both share these defaults.
        let mut c = TrainConfig::defaults(self.model.forced().unwrap_or(ModelKind::Potts));
        if let Some(v) = self.heads {
            c.heads = v;
        }
        if let Some(v) = self.head_dim {
            c.head_dim = v;
        }
        if let Some(v) = self.epochs {
            c.epochs = Some(v);
        }
        if let Some(v) = self.steps {
            c.steps = Some(v);
        }
        if let Some(v) = self.batch_size {
            c.batch_size = Some(v);
        }
        if let Some(v) = self.learning_rate {
            c.learning_rate = v;
        }
        if let Some(v) = self.lambda_j {
            c.lambda_j = Some(v);
        }
        if let Some(v) = self.lambda_h {
            c.lambda_h = v;
        }
        if let Some(v) = self.seed {
            c.seed = v;
        }
        c.objective = self.objective;
        c.mask_prob = self.mask_prob;
        c.device = resolve_device(self.device)?;
        if let Some(path) = &self.values {
            if self.model == ModelRequest::Potts {
                return Err(fadca::input_error(
                    "--values gives shared values to the factored model; it cannot be used with --model potts",
                ));
            }
            let (values, _) = fadca::model::load_values(path, self.train_values)?;
            if self.heads.is_none() {
                c.heads = values.heads;
            }
            c.values = Some(values);
        }
        c.validate()?;
        Ok(c)
    }

    /// These flags again as command-line arguments (only those given, in
    /// their `--flag value` form), to pass them on to `fadca predict`.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec!["--model".to_string(), value_name(&self.model)];
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                out.push(flag.to_string());
                out.push(v);
            }
        };
        push("--heads", self.heads.map(|v| v.to_string()));
        push("--head-dim", self.head_dim.map(|v| v.to_string()));
        push("--epochs", self.epochs.map(|v| v.to_string()));
        push("--steps", self.steps.map(|v| v.to_string()));
        push("--batch-size", self.batch_size.map(|v| v.to_string()));
        push("--learning-rate", self.learning_rate.map(|v| v.to_string()));
        push("--lambda-j", self.lambda_j.map(|v| v.to_string()));
        push("--lambda-h", self.lambda_h.map(|v| v.to_string()));
        push("--seed", self.seed.map(|v| v.to_string()));
        out.push("--objective".into());
        out.push(value_name(&self.objective));
        out.push("--mask-prob".into());
        out.push(self.mask_prob.to_string());
        out.push("--device".into());
        out.push(value_name(&self.device));
        if let Some(path) = &self.values {
            out.push("--values".into());
            out.push(path.display().to_string());
        }
        if self.train_values {
            out.push("--train-values".into());
        }
        out
    }
}

/// The command-line spelling of a clap value.
pub fn value_name(value: &impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// How a structure is turned into known contacts when scoring (the SPEC's
/// contact definition); flatten into a subcommand's `Args`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Scoring")]
pub struct StructureArgs {
    /// Atoms defining residue distances: cb (C-beta, C-alpha for Gly or a missing C-beta),
    /// ca, or heavy (closest heavy atoms). Needs a structure.
    #[arg(long, value_enum, default_value_t = AtomSelection::Cb)]
    pub atoms: AtomSelection,
    /// Contact cutoff in Angstrom: a pair is a contact when its distance is below it. Needs a
    /// structure.
    #[arg(long, default_value_t = DEFAULT_CUTOFF)]
    pub cutoff: f64,
    /// Score even when a structure's sequence is less than 90 % identical to the query (or
    /// aligns to less than half of it).
    #[arg(long)]
    pub force_mapping: bool,
}

impl StructureArgs {
    /// The known contacts of chain `chain` (default: the first with amino
    /// acids) of structure file `path` under these flags.
    pub fn source(&self, path: PathBuf, chain: Option<String>) -> NativeSource {
        NativeSource::Structure {
            path,
            chain,
            atoms: self.atoms,
            cutoff: self.cutoff,
        }
    }

    /// Refuses these flags when no structure is given (they would be
    /// silently ignored): `structure_flag` names the flag that gives one.
    pub fn check_given_with(&self, structure: bool, structure_flag: &str) -> anyhow::Result<()> {
        let changed =
            self.atoms != AtomSelection::Cb || self.cutoff != DEFAULT_CUTOFF || self.force_mapping;
        if changed && !structure {
            return Err(input_error(format!(
                "--atoms, --cutoff and --force-mapping apply to a structure; give one with {structure_flag}"
            )));
        }
        Ok(())
    }

    /// These flags again as `fadca predict` arguments.
    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec![
            "--atoms".to_string(),
            value_name(&self.atoms),
            "--cutoff".to_string(),
            self.cutoff.to_string(),
        ];
        if self.force_mapping {
            out.push("--force-mapping".into());
        }
        out
    }
}

/// Which pairs the contact lists (contacts.tsv, contacts.rr, contacts.ec)
/// hold and who `contacts.rr` names as author; flatten into `Args`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Output")]
pub struct ListArgs {
    /// Leave the pairs with |i-j| below K out of contacts.tsv, contacts.rr and contacts.ec
    /// (contacts.mat keeps every pair). Precision counts only pairs with |i-j| >= 6, so
    /// --min-separation 6 makes the first L lines of the lists the pairs P@L is taken over.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_MIN_SEPARATION as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub min_separation: u64,
    /// AUTHOR record of contacts.rr (a CASP registration code, or a name).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_RR_AUTHOR)]
    pub rr_author: String,
}

impl ListArgs {
    /// The list options these flags describe.
    pub fn options(&self) -> ListOptions {
        ListOptions {
            min_separation: self.min_separation as usize,
            rr_author: self.rr_author.clone(),
        }
    }

    /// These flags again as `fadca predict` arguments.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--min-separation".into(),
            self.min_separation.to_string(),
            "--rr-author".into(),
            self.rr_author.clone(),
        ]
    }
}
