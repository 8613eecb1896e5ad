//! Where and how a run executes: the device (CPU or CUDA, with libtorch's
//! CUDA backend loaded at run time, [`cuda`]), the CPU threads, the process's
//! memory allocator, and clean stops on SIGINT/SIGTERM ([`interrupt`]).
//! Every subcommand that trains or evaluates a model sets these up through
//! this module.
use anyhow::Result;
use tch::Device;

use crate::error::input_error;

pub mod cuda;
pub mod interrupt;

/// Where to train: `auto` picks CUDA when libtorch sees a GPU, else the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, otherwise the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device 0 (an error when there is none).
    Cuda,
}

/// Resolves a device choice; `cuda` without a usable GPU is an input error.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto if cuda::available(false) => Ok(Device::Cuda(0)),
        DeviceChoice::Auto => Ok(Device::Cpu),
        DeviceChoice::Cuda if cuda::available(true) => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(input_error(match cuda::load_backend() {
            Err(why) => format!(
                "--device cuda: cannot load libtorch's CUDA backend ({why}); use --device cpu or auto"
            ),
            Ok(()) => {
                "--device cuda: libtorch sees no CUDA device (use --device cpu or auto)".to_string()
            }
        })),
    }
}

/// Human name of a device: `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Number of CPU threads to use by default: all cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sets libtorch's intra-op thread count and sizes rayon's global pool
/// (the latter only takes effect the first time; later calls keep it).
/// `0` is an input error.
pub fn configure_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Err(input_error("--threads must be at least 1"));
    }
    tch::set_num_threads(threads as i32);
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    Ok(())
}

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
