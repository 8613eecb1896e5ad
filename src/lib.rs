//! fadca — Factored-Attention Direct Coupling Analysis.
//!
//! Data flows one way: alignment → weights → trained model → couplings →
//! contact scores → files/report. Each stage is one module.
pub mod alignment;
pub mod batch;
pub mod couplings;
pub mod cuda;
pub mod error;
pub mod evaluate;
pub mod evaluate_model;
pub mod experiment;
pub mod interrupt;
pub mod memory;
pub mod model;
pub mod output;
pub mod predict;
pub mod simulate;
pub mod structure;
pub mod weights;

pub use error::{InputError, input_error};

/// Number of states per position: 20 amino acids and the gap.
pub const Q: usize = 21;

/// Returns the memory freed so far to the kernel (`malloc_trim`): called by
/// the trainer once its `(L·q)²` buffers, which [`keep_freed_memory`] kept
/// in the process while it ran, are dropped, so that what comes after
/// (contact extraction, the model file's bytes, the next family of a batch)
/// does not add to them.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Keeps freed memory in the process instead of returning it to the kernel
/// after every training step: libtorch allocates and frees tensors of the
/// coupling table's size (megabytes) several times per step, and glibc's
/// default trimming made the kernel fault those pages in again each time
/// (about 15 % of a step in a profile). Call once at start-up.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
