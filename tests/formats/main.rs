//! Reading and writing files through the library: the alignment readers and
//! sequence weights, the contact-file formats, structures and their mapping
//! onto the query, scoring and the contact-map PNG; and, ignored unless
//! asked for (`cargo test --release -- --ignored`), the same against
//! independent readers on the DEV benchmark.
#[path = "../common/mod.rs"]
mod common;

mod alignment;
mod alignment_bench;
mod contact_files;
mod png;
mod score;
mod score_bench;
mod structure;
mod weights;
