//! fadca's errors as Python exceptions: an input error
//! ([`fadca::error::Error::Input`]) is `fadca.InputError`, a subclass of
//! `ValueError`, whose message is the line `fadca` prints after
//! `fadca: error: ` and whose `.file`, `.line`, `.column` and `.record`
//! (`(number, name)`) say where; an input file that does not exist is
//! `FileNotFoundError` (errno ENOENT, the same message, `.filename`); a
//! run stopped by Ctrl-C is `KeyboardInterrupt`; anything else (training
//! diverged, a failure while writing) is `RuntimeError`.
use std::path::Path;

use fadca::error::{Error, find};
use pyo3::exceptions::{PyFileNotFoundError, PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    fadca,
    InputError,
    PyValueError,
    "Bad input: a file that cannot be read or parsed, a value out of range.\n\n\
The message is the one the command line prints; `.file`, `.line`, `.column` and \
`.record` (`(number, name)`) say where, each None when it does not apply."
);

/// The Python exception for a library error. `inputs` are the input files
/// of the call: an input error while one of them does not exist is
/// `FileNotFoundError`.
pub fn to_py_err(err: anyhow::Error, inputs: &[&Path]) -> PyErr {
    let message = format!("{err:#}");
    Python::attach(|py| match find(&err) {
        Some(Error::Input(input)) => {
            if let Some(missing) = inputs.iter().find(|p| !p.exists()) {
                return PyFileNotFoundError::new_err((
                    ENOENT,
                    message,
                    missing.display().to_string(),
                ));
            }
            let exception = InputError::new_err(message);
            let value = exception.value(py);
            let record = input.record.as_ref().map(|r| (r.number, r.name.clone()));
            let set = || -> PyResult<()> {
                value.setattr("file", input.file.clone())?;
                value.setattr("line", input.line)?;
                value.setattr("column", input.column)?;
                value.setattr("record", record)?;
                Ok(())
            };
            match set() {
                Ok(()) => exception,
                Err(e) => e,
            }
        }
        Some(Error::Interrupted { .. }) => PyKeyboardInterrupt::new_err(message),
        Some(Error::Diverged { .. }) | None => PyRuntimeError::new_err(message),
    })
}

/// An input error raised by the module itself (a bad argument value).
pub fn input_error(message: impl Into<String>) -> PyErr {
    to_py_err(fadca::input_error(message.into()), &[])
}

/// `ENOENT`, the errno of a missing file.
const ENOENT: i32 = 2;
