//! Clean stops on SIGINT / SIGTERM (SPEC §5: a killed run leaves no
//! half-written output).
//!
//! [`install_handlers`] (called by `fadca predict`) replaces the default
//! "die at once" action of SIGINT and SIGTERM by setting a process-wide flag;
//! long stages (the training loop between optimiser steps, `run_prediction`
//! between stages) call [`check`], which turns a pending signal into an
//! [`Error::Interrupted`] error. Every output goes through
//! [`crate::io::write_atomic`], so stopping between steps leaves only
//! complete files and no temporary ones. `main` exits with 128 + the signal
//! number ([`crate::error::exit_code`]) (130 for SIGINT, 143 for SIGTERM). A second signal of the same
//! kind while the first is being handled ends the process at once with that
//! code (for a user who really wants out).
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::Error;

/// The pending signal number (0: none).
fn pending() -> &'static Arc<AtomicUsize> {
    static PENDING: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    PENDING.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

pub use crate::error::{SIGINT, SIGTERM};

/// Installs the SIGINT and SIGTERM handlers (once per process).
pub fn install_handlers() -> anyhow::Result<()> {
    let seen = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        let failed =
            |e: std::io::Error| anyhow::anyhow!("installing the handler of signal {signal}: {e}");
        // Registered before the flag is set below, so it sees the state before
        // this delivery: a second signal ends the process at once.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&seen))
            .map_err(failed)?;
        signal_hook::flag::register(signal, Arc::clone(&seen)).map_err(failed)?;
        signal_hook::flag::register_usize(signal, Arc::clone(pending()), signal as usize)
            .map_err(failed)?;
    }
    Ok(())
}

/// The pending signal, if one arrived.
pub fn pending_signal() -> Option<i32> {
    match pending().load(Ordering::SeqCst) {
        0 => None,
        s => Some(s as i32),
    }
}

/// Marks `signal` as received (what the handler does; also for tests).
pub fn request_stop(signal: i32) {
    pending().store(signal as usize, Ordering::SeqCst);
}

/// Forgets a pending stop, once the run it stopped has returned: for a
/// library caller that goes on after an interruption (the Python module,
/// after raising `KeyboardInterrupt`).
pub fn clear() {
    pending().store(0, Ordering::SeqCst);
}

/// Fails with [`Error::Interrupted`] when a signal is pending; `stage`
/// names what was running.
pub fn check(stage: &str) -> anyhow::Result<()> {
    match pending_signal() {
        None => Ok(()),
        Some(signal) => Err(anyhow::Error::new(Error::Interrupted {
            signal,
            stage: stage.to_string(),
        })),
    }
}
