//! Loading libtorch's CUDA backend on demand.
//!
//! The linker drops `libtorch_cuda.so` from the binary because no symbol of
//! it is referenced directly (libtorch registers its CUDA kernels from static
//! initialisers), and without it `tch::Cuda::is_available()` is false even on
//! a GPU machine. Linking it unconditionally would make every run, the tests
//! included, map the whole CUDA stack (about a gigabyte of libraries) on
//! machines that have no GPU. So it is opened here, at run time, only when a
//! GPU can be there: `--device cuda`, or `--device auto` on a machine with an
//! NVIDIA driver (`/proc/driver/nvidia` or `/dev/nvidiactl` present). The
//! library is found through the binary's rpath (libtorch's `lib/` folder) or
//! `LD_LIBRARY_PATH`.
use std::ffi::{CStr, CString};
use std::sync::OnceLock;

/// The libtorch CUDA backend's file name.
pub const BACKEND: &str = "libtorch_cuda.so";

/// Whether this machine shows signs of an NVIDIA driver.
pub fn driver_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia").exists()
        || std::path::Path::new("/dev/nvidiactl").exists()
}

/// Opens [`BACKEND`] once per process (later calls return the first
/// answer): `Ok(())` when it is loaded, else the loader's message.
pub fn load_backend() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let name = CString::new(BACKEND).expect("no NUL in the name");
            // SAFETY: dlopen with a valid C string; the handle is kept open
            // for the life of the process (never dlclosed).
            let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if handle.is_null() {
                // SAFETY: dlerror returns a thread-local C string or NULL.
                let message = unsafe {
                    let e = libc::dlerror();
                    if e.is_null() {
                        "unknown error".to_string()
                    } else {
                        CStr::from_ptr(e).to_string_lossy().into_owned()
                    }
                };
                Err(message)
            } else {
                Ok(())
            }
        })
        .clone()
}

/// Whether libtorch can train on a CUDA device, loading the backend first
/// when `force` is set or a driver is present.
pub fn available(force: bool) -> bool {
    if (force || driver_present()) && load_backend().is_err() {
        return false;
    }
    tch::Cuda::is_available()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_auto_stays_on_the_cpu() {
        if !driver_present() {
            assert!(!available(false));
        }
    }
}
