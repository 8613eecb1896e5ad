//! Bad input and hard conditions: the malformed-input corpus, the inputs the
//! fuzz targets found (replayed through the targets' own checks,
//! fuzz/checks.rs), and the guards of `fadca predict` (divergence, signals,
//! memory, determinism, atomic writes), and the protection of earlier
//! results (names, ownership, one run per folder, failed writes).
#[path = "../common/mod.rs"]
mod common;

mod corpus;
mod fuzz_regressions;
mod guards;
mod outputs;
