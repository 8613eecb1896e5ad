//! Command-line pieces shared by several subcommands.
use fadca::alignment::{Alignment, Format, ReadOptions};
use fadca::weights::{DEFAULT_THETA, Weighting};

/// How to read an alignment and weight its sequences; flatten into a
/// subcommand's `Args` with `#[command(flatten)]`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Alignment")]
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
