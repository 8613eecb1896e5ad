//! Synthetic families from a planted factored-attention Potts model (SPEC §6).
//!
//! A [`Teacher`] is a generalised Potts model whose couplings have exactly the
//! factored-attention form the student learns,
//!
//! ```text
//! J_ij(a,b) = Σ_h A^h_ij V^h(a,b),    A^h symmetric, ≥ 0, zero diagonal;  V^h symmetric
//! ```
//!
//! so `J_ij(a,b) = J_ji(b,a)` and the joint Boltzmann distribution
//!
//! ```text
//! P(x) ∝ exp(−E(x)),   E(x) = −( Σ_i h_i(x_i) + Σ_{i<j} J_ij(x_i, x_j) )
//! ```
//!
//! exists. The attention follows a planted contact map taken from a random
//! compact 3D chain, so training a student on sequences sampled from the
//! teacher must recover those contacts.
//!
//! # How a teacher is built ([`Teacher::generate`])
//!
//! 1. **Chain.** A self-avoiding walk of `L` residues on the FCC lattice with
//!    3.8 Å bonds, grown with a bias to compactness ([`lattice::compact_walk`]).
//! 2. **Contacts (the rule).** Residues `i < j` are in contact when
//!    `j − i ≥ min_separation` (default 3) and their distance is below
//!    `cutoff` (default 6 Å). On the FCC lattice (bond 3.8 Å) the distance
//!    shells are 3.8, 5.37, 6.58, 7.6 Å…, so the default keeps the first two
//!    shells: the 12 nearest and 6 next-nearest sites, ≈ 2–3 contacts per
//!    residue for a compact 60-mer, comparable to Cβ contacts at 8 Å in
//!    proteins (most with separation ≥ 6, the scored classes of SPEC §3).
//! 3. **Heads.** Every contact is given to one head chosen uniformly, and to
//!    every other head independently with probability [`EXTRA_HEAD_PROB`]; a
//!    head's weight on a contact is uniform in [0.5, 1]. `A^h` is symmetric,
//!    non-negative, zero on the diagonal and zero off the contact map, so
//!    `J_ij = 0` for non-contacts: the planted map is exactly the support of `J`.
//! 4. **Values.** `V^h(a,b) = V^h(b,a) = β·g` with `g` standard normal for the
//!    20 amino acids; rows and columns of the gap are 0 (gaps do not co-vary).
//!    With `values_seed` (`fadca simulate --values-seed S`) they are drawn
//!    from `S` alone, so teachers of different seeds share them: families
//!    for `fadca train-values`.
//! 5. **Fields.** `h_i(a)` standard normal for amino acids, and
//!    `h_i(gap) =` [`GAP_FIELD`], which makes gaps rare (≈ 0.1–0.5 % of sites).
//!
//! # The coupling strength β (default [`DEFAULT_BETA`])
//!
//! β sets how strongly contacting residues co-vary. Too small and contacts
//! hide in sampling noise (a student needs many more sequences); too large
//! and the model freezes: each site is nearly determined by its neighbours,
//! the chains stop mixing, sequences become near-copies of a few states and
//! covariation (which needs variation) vanishes again. The default was chosen
//! by sampling families at L = 40 and L = 60 with M = 3000 (`tests/simulate/signal.rs`
//! keeps the check) and scanning β:
//!
//! Averages over seeds 1–3, M = 3000, automatic burn-in and thinning; "top-L"
//! is the precision of the naive score below over pairs with separation ≥ 6;
//! entropy is the mean site entropy of the samples (ln 20 ≈ 3.0 for uniform
//! amino acids, 2.6 for the fields alone); identity is the mean pairwise
//! sequence identity; τ the integrated autocorrelation time in sweeps.
//!
//! | β   | L=40 top-L | top-L/2 | entropy | identity | τ     | L=60 top-L | top-L/2 | entropy | identity | τ    |
//! |-----|-----------|---------|---------|----------|-------|-----------|---------|---------|----------|------|
//! | 0.1 | 0.65      | 0.73    | 2.58    | 0.11     | 1.0   | 0.62      | 0.79    | 2.58    | 0.11     | 1.1  |
//! | 0.2 | 1.00      | 1.00    | 2.56    | 0.11     | 1.1   | 1.00      | 1.00    | 2.55    | 0.11     | 1.1  |
//! | 0.3 | 1.00      | 1.00    | 2.52    | 0.12     | 1.2   | 1.00      | 1.00    | 2.49    | 0.13     | 1.4  |
//! | 0.4 | 1.00      | 1.00    | 2.44    | 0.14     | 1.5   | 1.00      | 1.00    | 2.36    | 0.16     | 2.6  |
//! | 0.5 | 0.99      | 1.00    | 2.31    | 0.17     | 1.9   | 1.00      | 1.00    | 2.16    | 0.21     | 4.7  |
//! | 0.6 | 0.97      | 0.98    | 2.13    | 0.21     | 4.7   | 0.97      | 1.00    | 1.94    | 0.26     | 18   |
//! | 0.7 | 0.92      | 0.98    | 1.93    | 0.27     | 21    | 0.94      | 0.99    | 1.54    | 0.38     | 11*  |
//! | 0.8 | 0.88      | 0.93    | 1.77    | 0.31     | 140   | 0.89      | 0.96    | 1.34    | 0.44     | 12*  |
//! | 1.0 | 0.78      | 0.90    | 1.47    | 0.39     | 720   | 0.79      | 0.88    | 1.11    | 0.52     | 37*  |
//!
//! (* burn-in capped at 16384 sweeps: τ is underestimated, the chains are
//! glassy.) Below β ≈ 0.15 the contacts drown in sampling noise at this M;
//! from β ≈ 0.6 the chains slow down sharply (τ grows by an order of
//! magnitude per 0.1), diversity falls and precision drops (the family
//! freezes into a few basins, so there is less variation to co-vary).
//! The default **β = 0.4** sits in the middle of the window on a log scale:
//! a factor 2 above the weak edge and 1.5 below the onset of slow mixing.
//!
//! At the default the naive correlation score (Frobenius norm of the connected
//! correlation `f_ij(a,b) − f_i(a) f_j(b)` with APC, no inference at all)
//! already ranks planted contacts on top, while sites keep well over half of
//! their unconstrained entropy and the Gibbs chains decorrelate in a few
//! sweeps: contacts are learnable and the family is not frozen. A
//! pseudo-likelihood student, which removes the indirect correlations the naive
//! score suffers from, has margin to spare.
//!
//! # Sizes for the end-to-end recovery check
//!
//! A student trained on `fadca simulate --length 40 --heads 4 --samples 3000
//! --seed 1` (β = 0.4 by default) should reach top-L precision ≥ 0.9 over
//! pairs with separation ≥ 6 against `contacts.tsv`: the naive score above
//! already reaches 1.00 there (seeds 1–3), the teacher has ≈ 2.3 L planted
//! contacts with separation ≥ 6 (so top-L is not limited by their number),
//! and sampling takes well under a second. L = 60 with M = 2000 (the embedded
//! example in `msa/`) is the larger variant.
//!
//! # Files ([`write_family`])
//!
//! `msa.fasta` (query first, then the samples), `contacts.tsv` (planted pairs,
//! 1-based, header `i\tj\tseparation`), `teacher.safetensors` (see
//! [`Teacher::save`]) and `simulate.json` (parameters and sampler report).
//! The query is one extra sequence drawn from the teacher conditioned on having
//! no gap (a Gibbs chain that never proposes the gap state, with the same
//! burn-in), so that focus mode (SPEC §2) keeps all `L` columns and the
//! numbering of `contacts.tsv` is the numbering of the alignment.
//!
//! # Modules
//!
//! `teacher.rs` builds the [`Teacher`] and evaluates it (energy,
//! conditionals); `teacher_file.rs` saves and loads it; `sampler.rs` draws
//! Gibbs samples with automatic burn-in and thinning (the kernels and the
//! autocorrelation analysis are in [`gibbs`], the chain in [`lattice`]);
//! `stats.rs` describes a teacher and a sample; `write.rs` writes a family's
//! files.
pub mod gibbs;
pub mod lattice;
mod sampler;
mod stats;
mod teacher;
mod teacher_file;
mod write;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use sampler::{SampleOptions, SampleRun, SamplerStats};
pub use stats::{TeacherSummary, diversity};
pub use teacher::{Teacher, TeacherParams};
pub use teacher_file::METADATA_KEY;
pub use write::{
    SimulateReport, SimulatedFamily, simulate_family, to_letters, write_contacts, write_family,
};

/// Default coupling strength β (see the module documentation for the reasoning).
pub const DEFAULT_BETA: f64 = 0.4;
/// Default contact distance cutoff in Å (first two FCC shells).
pub const DEFAULT_CUTOFF: f64 = 6.0;
/// Default minimum sequence separation of a planted contact.
pub const DEFAULT_MIN_SEPARATION: usize = 3;
/// Probability that a contact is also given to each head other than its own.
pub const EXTRA_HEAD_PROB: f64 = 0.2;
/// Field of the gap state at every site (amino-acid fields are standard normal).
pub const GAP_FIELD: f64 = -3.0;
/// Compactness bias of the chain growth (see [`lattice::compact_walk`]).
pub const COMPACTNESS: f64 = 1.0;

/// RNG streams (of ChaCha8 seeded with the user's seed): one for the teacher,
/// one for the query chain, one per sampling chain. Each chain owns its stream,
/// so results do not depend on the number of threads.
const STREAM_TEACHER: u64 = 0;
/// The query chain's stream.
const STREAM_QUERY: u64 = 1;
/// The values' stream under `--values-seed` (of ChaCha8 seeded with it).
const STREAM_VALUES: u64 = 2;
/// Chain `k` samples from stream `STREAM_CHAIN0 + k`.
const STREAM_CHAIN0: u64 = 1 << 32;

/// ChaCha8 seeded with `seed`, on `stream`.
fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}
