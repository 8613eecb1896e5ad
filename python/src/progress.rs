//! Training from Python: [`train`] runs the library's training on a
//! worker thread (in a rayon pool of the threads asked for), without the
//! GIL, while the calling thread waits, visiting Python every [`INTERVAL`]
//! to run its pending signal handlers; the trainer's progress callback
//! draws the bar (taking the GIL briefly, at most every [`INTERVAL`]).
//!
//! Ctrl-C: Python's SIGINT handler only runs on the main thread with the
//! GIL, which is why the caller's thread, not the worker, checks. When
//! `py.check_signals()` raises (KeyboardInterrupt), the library is asked to
//! stop ([`fadca::runtime::interrupt::request_stop`]): the trainer returns
//! an interruption between two steps, nothing is written, the pending stop
//! is cleared (the next run trains) and the exception is raised.
//!
//! The bar: `tqdm.auto` when tqdm is installed (a widget in a notebook),
//! else one line on stderr redrawn with `\r`; only when asked for and
//! stderr is a terminal or the code runs in a notebook (ipykernel).
use std::time::{Duration, Instant};

use fadca::model::Progress;
use fadca::runtime::interrupt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Least time between two visits to Python while a model trains.
const INTERVAL: Duration = Duration::from_millis(100);

/// Runs `work` (given the progress callback) on `threads` CPU threads
/// without the GIL, stopping it on Ctrl-C (see the module documentation).
/// The library's result comes back as is; a KeyboardInterrupt (or a
/// failure to start the threads) is the `Err` of the outer result.
pub fn train<T: Send>(
    py: Python<'_>,
    threads: usize,
    progress: bool,
    work: impl FnOnce(&mut dyn FnMut(&Progress)) -> anyhow::Result<T> + Send,
) -> PyResult<anyhow::Result<T>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("starting {threads} threads: {e}")))?;
    tch::set_num_threads(threads as i32);
    let mut bar = Bar::new(py, progress);
    let mut interrupted: Option<PyErr> = None;
    let result = py.detach(|| {
        std::thread::scope(|scope| {
            let caller = std::thread::current();
            let bar = &mut bar;
            let worker = scope.spawn(move || {
                let result = pool.install(|| work(&mut |p: &Progress| bar.report(p)));
                caller.unpark();
                result
            });
            while !worker.is_finished() {
                std::thread::park_timeout(INTERVAL);
                if interrupted.is_none() && !worker.is_finished() {
                    Python::attach(|py| {
                        if let Err(e) = py.check_signals() {
                            interrupt::request_stop(interrupt::SIGINT);
                            interrupted = Some(e);
                        }
                    });
                }
            }
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    });
    bar.close(py);
    match interrupted {
        Some(err) => {
            interrupt::clear();
            Err(err)
        }
        None => Ok(result),
    }
}

/// How progress is shown.
enum Shown {
    /// Nothing.
    Off,
    /// Not drawn yet (the number of steps comes with the first report).
    Pending,
    /// A `tqdm.auto.tqdm` instance.
    Tqdm(Py<PyAny>),
    /// A line on `sys.stderr`.
    Line,
}

/// The progress bar of a training run.
struct Bar {
    shown: Shown,
    last: Option<Instant>,
}

impl Bar {
    /// A bar when `progress` and stderr is a terminal or a notebook's.
    fn new(py: Python<'_>, progress: bool) -> Bar {
        let shown = progress && interactive(py).unwrap_or(false);
        Bar {
            shown: if shown { Shown::Pending } else { Shown::Off },
            last: None,
        }
    }

    /// The trainer's callback (called without the GIL).
    fn report(&mut self, p: &Progress) {
        if let Shown::Off = self.shown {
            return;
        }
        let last_step = p.stopped.is_some();
        if self.last.is_some_and(|t| t.elapsed() < INTERVAL) && !last_step {
            return;
        }
        self.last = Some(Instant::now());
        // A bar that fails to draw is not worth failing training for.
        let _ = Python::attach(|py| self.draw(py, p));
    }

    /// Draws the bar at `p`.
    fn draw(&mut self, py: Python<'_>, p: &Progress) -> PyResult<()> {
        let text = format!("epoch {}/{}  loss {:.3}", p.epoch, p.epochs, p.loss);
        if let Shown::Pending = self.shown {
            self.shown = match py.import("tqdm.auto") {
                Ok(tqdm) => {
                    let kwargs = pyo3::types::PyDict::new(py);
                    kwargs.set_item("total", p.steps)?;
                    kwargs.set_item("desc", "training")?;
                    kwargs.set_item("unit", "step")?;
                    kwargs.set_item("leave", false)?;
                    Shown::Tqdm(tqdm.getattr("tqdm")?.call((), Some(&kwargs))?.unbind())
                }
                Err(_) => Shown::Line,
            };
        }
        match &self.shown {
            Shown::Tqdm(bar) => {
                let bar = bar.bind(py);
                let done: usize = bar.getattr("n")?.extract()?;
                bar.call_method1("set_postfix_str", (text, false))?;
                bar.call_method1("update", (p.step.saturating_sub(done),))?;
            }
            Shown::Line => {
                let line = format!("\rtraining step {}/{}  {text}", p.step, p.steps);
                let stderr = py.import("sys")?.getattr("stderr")?;
                stderr.call_method1("write", (line,))?;
                stderr.call_method0("flush")?;
            }
            Shown::Off | Shown::Pending => {}
        }
        Ok(())
    }

    /// Closes the bar (a line bar ends its line).
    fn close(&self, py: Python<'_>) {
        match &self.shown {
            Shown::Tqdm(bar) => {
                let _ = bar.bind(py).call_method0("close");
            }
            Shown::Line => {
                let _ = py
                    .import("sys")
                    .and_then(|sys| sys.getattr("stderr"))
                    .and_then(|e| e.call_method1("write", ("\n",)));
            }
            Shown::Off | Shown::Pending => {}
        }
    }
}

/// Whether output can show a bar: stderr is a terminal, or the code runs in
/// a Jupyter kernel.
fn interactive(py: Python<'_>) -> PyResult<bool> {
    let sys = py.import("sys")?;
    if sys.getattr("modules")?.contains("ipykernel")? {
        return Ok(true);
    }
    let stderr = sys.getattr("stderr")?;
    if stderr.is_none() {
        return Ok(false);
    }
    stderr.call_method0("isatty")?.extract()
}
