//! fadca — Factored-Attention Direct Coupling Analysis: contacts of a
//! protein from a multiple sequence alignment of its family.
//!
//! The modules are the pipeline, in the order data flows through it; a
//! module uses only those listed before it (checked by a test):
//!
//! | stage | module | what it holds |
//! |---|---|---|
//! | | [`error`] | the one error type and the exit codes |
//! | | [`io`] | reading (gzip-aware) and atomic writing of files |
//! | | [`runtime`] | device, threads, allocator, clean stops on signals |
//! | read | [`alignment`] | FASTA/A2M, A3M, Stockholm, PSICOV readers → states |
//! | weigh | [`weights`] | sequence weights and M_eff |
//! | train | [`model`] | both models, their memory guard, the trainer, the CPU kernels, model files |
//! | couplings | [`couplings`] | couplings → contact scores (symmetrise, gauge, Frobenius, APC) |
//! | contacts | [`contacts`] | the prediction, its ranking, the contact-file formats |
//! | native | [`structure`] | structures, their mapping onto the query, known contacts |
//! | figures | [`plot`] | every figure fadca draws |
//! | score | [`score`] | precision against known contacts (`fadca score`) |
//! | run | [`predict`] | one prediction, stage by stage (`fadca predict`) |
//! | many | [`batch`] | many families, resumable and sharded (`fadca batch`) |
//! | shared | [`values`] | values shared by many families (`fadca train-values`) |
//! | synthetic | [`simulate`] | planted teachers and their Gibbs samples (`fadca simulate`) |
//! | | [`likelihood`] | likelihood of an alignment under a model (`fadca evaluate`) |
//! | | [`experiment`] | the paper's experiments on synthetic families |
pub mod error;
pub mod io;
pub mod runtime;

pub mod alignment;
pub mod weights;
pub mod model;
pub mod couplings;
pub mod contacts;
pub mod structure;
pub mod plot;
pub mod score;
pub mod predict;
pub mod batch;
pub mod values;
pub mod simulate;
pub mod likelihood;
pub mod experiment;

pub use error::{InputError, input_error};

/// Number of states per position: 20 amino acids and the gap.
pub const Q: usize = 21;

#[cfg(test)]
mod tests {
    /// The modules of this crate in pipeline order, as declared above.
    const ORDER: [&str; 17] = [
        "error",
        "io",
        "runtime",
        "alignment",
        "weights",
        "model",
        "couplings",
        "contacts",
        "structure",
        "plot",
        "score",
        "predict",
        "batch",
        "values",
        "simulate",
        "likelihood",
        "experiment",
    ];

    /// The Rust files of a module (`src/<name>.rs` or everything under
    /// `src/<name>/`).
    fn files_of(module: &str) -> Vec<std::path::PathBuf> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let file = src.join(format!("{module}.rs"));
        if file.is_file() {
            return vec![file];
        }
        let mut out = Vec::new();
        let mut stack = vec![src.join(module)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        out
    }

    /// The top-level modules `text` refers to as `crate::<name>`, grouped
    /// imports (`crate::{a, b::c}`) included.
    fn referenced(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                out.extend(
                    inner
                        .split(',')
                        .map(|p| p.trim().split("::").next().unwrap_or("").to_string()),
                );
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
        out
    }

    /// Data flows one way: no module's code refers to one that comes after
    /// it in the pipeline (`crate::<later>` outside comments), so there is
    /// no cycle either.
    #[test]
    fn modules_use_only_earlier_modules() {
        let declared: Vec<&str> = include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod "))
            .map(|l| l.trim_end_matches(';'))
            .collect();
        assert_eq!(
            declared, ORDER,
            "lib.rs declares the modules in pipeline order"
        );
        let mut problems = Vec::new();
        for (k, module) in ORDER.iter().enumerate() {
            for file in files_of(module) {
                let text: String = std::fs::read_to_string(&file)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                for name in referenced(&text) {
                    if ORDER[k + 1..].contains(&name.as_str()) {
                        problems.push(format!("{} uses crate::{name}", file.display()));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
