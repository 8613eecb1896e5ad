//! `fadca simulate`: a synthetic family with known contacts (SPEC §6).
use std::io::Write;
use std::path::PathBuf;

use fadca::simulate::{self, SampleOptions, TeacherParams};

const AFTER_HELP: &str = "\
How the teacher is built:
  A random compact chain of L residues on the FCC lattice (3.8 Å bonds) gives the
  planted contacts: pairs with j − i ≥ --min-separation and distance < --cutoff Å.
  Each of the H heads attends (symmetrically, weight 0.5–1) to a random subset of
  the contacts, every contact in at least one head. Each head has a symmetric 21×21
  value matrix V^h of standard-normal entries times β (gap rows zero), and
  J_ij(a,b) = Σ_h A^h_ij V^h(a,b). Fields are standard normal, the gap's is −3 (gaps
  are rare). Sequences are drawn from P(x) ∝ exp(Σ h_i(x_i) + Σ_{i<j} J_ij(x_i,x_j))
  by Gibbs sampling.

Output folder:
  msa.fasta            the query (a gap-free sequence of the teacher) then M samples
  contacts.tsv         planted contacts, 1-based: i, j, separation (with header)
  teacher.safetensors  fields (L×21), attention (H×L×L), values (H×21×21), coords, contacts
  simulate.json        parameters, burn-in, thinning, autocorrelation times, flip
                       rate, R-hat, diversity, timings

Reproducibility: the same --seed and parameters give byte-identical msa.fasta and
contacts.tsv whatever the number of threads (RAYON_NUM_THREADS); each chain has
its own random stream.

Example (the embedded example, msa/example.fasta):
  fadca simulate --length 60 --heads 4 --samples 2000 --seed 1 -o sim
  fadca predict sim/msa.fasta   # then compare with sim/contacts.tsv";

/// Make a synthetic family: sample sequences from a planted factored-attention
/// Potts model (a "teacher") whose contacts are known, so that `fadca predict`
/// can be checked against the truth without any outside data.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Number of residues L (columns of the alignment). 20–300 is sensible (at
    /// most 5000: the teacher stores H×L×L attention weights, 400 MB at H = 4); a sweep costs
    /// about L × contacts-per-residue × 21 operations.
    #[arg(long, short = 'L', default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=5000))]
    pub length: u64,
    /// Number of attention heads H of the teacher. Each contact is given to one
    /// head and, with probability 0.2, to each other head. 1–16 is sensible
    /// (at most 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub heads: u64,
    /// Number of sampled sequences M (the FASTA has M + 1 records: the query
    /// first). At the default β, 3000 sequences make the planted contacts stand out
    /// even to naive covariation at L = 40–60.
    #[arg(long, short = 'M', default_value_t = 3000)]
    pub samples: usize,
    /// Seed of every random choice (chain, contacts, parameters, sampling).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Coupling strength β: the scale of the value matrices V^h. Larger β means
    /// stronger co-variation but slower, eventually frozen chains; 0 gives
    /// independent sites. 0.2–0.6 is the useful range at L = 40–60: below, contacts
    /// drown in sampling noise; above, chains slow down sharply and diversity falls
    /// (check simulate.json: mean_site_entropy should stay above ≈ 2 nats and
    /// tau_energy, in sweeps, small).
    #[arg(long = "coupling-strength", short = 'b', default_value_t = simulate::DEFAULT_BETA)]
    pub beta: f64,
    /// Contact distance cutoff in Å. FCC distance shells are 3.8, 5.37, 6.58, 7.6 Å,
    /// so 4 keeps nearest neighbours only, 6 two shells, 7 three.
    #[arg(long, default_value_t = simulate::DEFAULT_CUTOFF)]
    pub cutoff: f64,
    /// Minimum sequence separation j − i of a planted contact.
    #[arg(long, default_value_t = simulate::DEFAULT_MIN_SEPARATION)]
    pub min_separation: usize,
    /// Draw the value matrices V^h from this seed alone, so that families simulated with
    /// different --seed but the same --values-seed (and --heads, --coupling-strength) share
    /// their values: a set of families for `fadca train-values` [default: from --seed].
    #[arg(long, value_name = "S")]
    pub values_seed: Option<u64>,
    /// Number of independent Gibbs chains, run in parallel. Their number, not the
    /// number of threads, decides the output. The M samples are split evenly.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub chains: u64,
    /// Sweeps (L single-site updates each) discarded at the start of every chain.
    /// Default: automatic, 200 doubled until the second half is ≥ 50 integrated
    /// autocorrelation times of the energy and of the overlap with a reference
    /// (at most 16384).
    #[arg(long)]
    pub burn_in: Option<usize>,
    /// Sweeps between kept samples. Default: automatic, ⌈2τ⌉ for the integrated
    /// autocorrelation time τ measured during burn-in (near-independent samples),
    /// at most 50.
    #[arg(long)]
    pub thin: Option<usize>,
    /// Output folder (created if needed).
    #[arg(long, short = 'o', default_value = "simulated")]
    pub output: PathBuf,
}

/// Runs `fadca simulate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    if !(args.cutoff.is_finite() && args.cutoff > 0.0) {
        return Err(fadca::input_error(format!(
            "--cutoff {}: must be a positive number of Å",
            args.cutoff
        )));
    }
    if args.min_separation < 1 {
        return Err(fadca::input_error("--min-separation 0: must be at least 1"));
    }
    let params = TeacherParams {
        length: args.length as usize,
        heads: args.heads as usize,
        beta: args.beta,
        cutoff: args.cutoff,
        min_separation: args.min_separation,
        values_seed: args.values_seed,
    };
    let opts = SampleOptions {
        samples: args.samples,
        chains: args.chains as usize,
        burn_in: args.burn_in,
        thin: args.thin,
        seed: args.seed,
    };
    let r = simulate::write_family(&args.output, &params, &opts)?;
    match print_summary(&args, &params, &r) {
        // A closed pipe (`fadca simulate | head`) is not a failure: the files are written.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// One-screen summary on stdout.
fn print_summary(
    args: &Args,
    params: &TeacherParams,
    r: &simulate::SimulateReport,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let s = &r.sampler;
    let t = &r.teacher_summary;
    writeln!(
        out,
        "teacher: L={} H={} beta={} contacts={} (local<6: {}, short: {}, medium: {}, long: {}), Rg={:.1} Å",
        params.length,
        params.heads,
        params.beta,
        t.contacts,
        t.contacts_local,
        t.contacts_short,
        t.contacts_medium,
        t.contacts_long,
        t.radius_of_gyration.unwrap_or(f64::NAN)
    )?;
    writeln!(
        out,
        "sampler: {} chains, burn-in {} sweeps{}, thin {}{}, tau(energy)={:.2} tau(overlap)={:.2} sweeps, flip rate {:.3}, R-hat {}",
        s.chains,
        s.burn_in,
        if s.burn_in_auto { " (auto)" } else { "" },
        s.thin,
        if s.thin_auto { " (auto)" } else { "" },
        s.tau_energy,
        s.tau_overlap,
        s.flip_rate,
        s.r_hat_energy
            .map_or("n/a".to_string(), |r| format!("{r:.3}"))
    )?;
    writeln!(
        out,
        "samples: {} + query, site entropy {:.2} nats, pairwise identity {:.2}, gaps {:.2}%, {:.2} s",
        r.records - 1,
        s.mean_site_entropy,
        s.mean_pairwise_identity,
        100.0 * s.gap_fraction,
        r.time_total_s
    )?;
    writeln!(
        out,
        "wrote {}/{{msa.fasta, contacts.tsv, teacher.safetensors, simulate.json}}",
        args.output.display()
    )?;
    Ok(())
}
