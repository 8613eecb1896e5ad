//! The one error type of fadca, and the exit codes it maps to.
//!
//! Every failure fadca reports on purpose is an [`Error`]: bad input
//! ([`InputError`]: what file, where in it — line, column, record — and
//! what is wrong, as fields with one formatter), a run stopped by a signal
//! ([`Error::Interrupted`]) or training that diverged for good
//! ([`Error::Diverged`]). Functions return [`anyhow::Result`] so that callers
//! can add context ("alignment x.fasta: …"); the [`Error`] travels inside
//! and [`exit_code`] finds it again. Anything else (an I/O failure while
//! writing, a libtorch error) is an internal failure.
//!
//! | exit code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | internal failure, I/O error while writing |
//! | 2 | bad input, or a run refused (memory guard, bad flag value) |
//! | 128 + signal | stopped by a signal (130 SIGINT, 143 SIGTERM), nothing half-written |
//!
//! `main` and `fadca batch` (for each family's child process, through
//! [`ErrorKind::of_exit_code`]) use these.
use std::fmt;
use std::path::Path;

/// Exit code of a run that succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code of an internal failure.
pub const EXIT_INTERNAL: i32 = 1;
/// Exit code of bad input or a refused run.
pub const EXIT_INPUT: i32 = 2;

/// Every error fadca raises on purpose (see the module documentation).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with the user's input; exit code 2.
    #[error("{0}")]
    Input(InputError),
    /// The run was stopped by a signal between steps; exit code 128 + signal.
    #[error("interrupted by {} during {stage}; stopped cleanly, no partial output was written", signal_name(*.signal))]
    Interrupted {
        /// The signal number.
        signal: i32,
        /// What was running.
        stage: String,
    },
    /// Training failed for good: the loss or a gradient became non-finite
    /// again after the allowed restart(s). Carries what was learnt about the
    /// run so that callers can still record the loss curve. Exit code 1.
    #[error("{message}")]
    Diverged {
        /// The one-line explanation.
        message: String,
        /// Mean loss of each completed (good) epoch.
        loss_curve: Vec<f64>,
        /// The restarts that were tried.
        restarts: Vec<Restart>,
    },
}

/// A restart of training after a non-finite loss or gradient (recorded in
/// `summary.json`, and carried by [`Error::Diverged`] when the restarts did
/// not help).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restart {
    /// The epoch (1-based) that failed and was done again.
    pub epoch: usize,
    /// What went wrong.
    pub reason: String,
    /// The learning rate used from then on (half the previous one).
    pub learning_rate: f64,
}

/// A record of a file, for [`InputError::record`]: its 1-based number and
/// its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based number of the record in the file.
    pub number: usize,
    /// Its name (header).
    pub name: String,
}

/// A problem with the user's input: a file that cannot be read or parsed, a
/// value out of range. Formatted as
/// `<what> <file>[, record <n> '<name>'][ (line <l>) | , line <l>][, column <c>]: <message>`,
/// or just the message when no file is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// What kind of file it is ("alignment", "contact file", "structure"…).
    pub what: &'static str,
    /// The file as given by the user, when a file is involved.
    pub file: Option<String>,
    /// The 1-based line.
    pub line: Option<usize>,
    /// The 1-based column of that line.
    pub column: Option<usize>,
    /// The record (sequence) concerned.
    pub record: Option<Record>,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An input error that names no file (a bad flag value, say).
    pub fn new(message: impl Into<String>) -> InputError {
        InputError {
            what: "",
            file: None,
            line: None,
            column: None,
            record: None,
            message: message.into(),
        }
    }

    /// An input error about file `file`, a `what` ("alignment", "structure").
    pub fn in_file(what: &'static str, file: &Path, message: impl Into<String>) -> InputError {
        InputError::in_named_file(what, file.display().to_string(), message)
    }

    /// [`InputError::in_file`] for a file named by a string (in-memory
    /// inputs, fuzzing).
    pub fn in_named_file(
        what: &'static str,
        file: impl Into<String>,
        message: impl Into<String>,
    ) -> InputError {
        InputError {
            file: Some(file.into()),
            what,
            ..InputError::new(message)
        }
    }

    /// This error at line `line` (1-based).
    pub fn at_line(mut self, line: usize) -> InputError {
        self.line = Some(line);
        self
    }

    /// This error at column `column` (1-based) of its line.
    pub fn at_column(mut self, column: usize) -> InputError {
        self.column = Some(column);
        self
    }

    /// This error about record `number` (1-based) named `name`.
    pub fn in_record(mut self, number: usize, name: impl Into<String>) -> InputError {
        self.record = Some(Record {
            number,
            name: name.into(),
        });
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(file) = &self.file else {
            return f.write_str(&self.message);
        };
        if self.what.is_empty() {
            write!(f, "{file}")?;
        } else {
            write!(f, "{} {file}", self.what)?;
        }
        if let Some(Record { number, name }) = &self.record {
            write!(f, ", record {number} '{name}'")?;
            if let Some(line) = self.line {
                write!(f, " (line {line})")?;
            }
        } else if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

// InputError is not a `std::error::Error` itself, so that every conversion
// to `anyhow::Error` goes through `Error::Input` (which `exit_code` finds).
impl From<InputError> for Error {
    fn from(e: InputError) -> Error {
        Error::Input(e)
    }
}

impl From<InputError> for anyhow::Error {
    fn from(e: InputError) -> anyhow::Error {
        anyhow::Error::new(Error::Input(e))
    }
}

/// Builds an [`anyhow::Error`] carrying an [`InputError`] that names no
/// file (or names it in the message).
pub fn input_error(msg: impl Into<String>) -> anyhow::Error {
    InputError::new(msg).into()
}

/// The [`Error`] in `err`'s chain, if any.
pub fn find(err: &anyhow::Error) -> Option<&Error> {
    err.chain().find_map(|e| e.downcast_ref::<Error>())
}

/// True when `err` or any error in its chain is an input error.
pub fn is_input_error(err: &anyhow::Error) -> bool {
    matches!(find(err), Some(Error::Input(_)))
}

/// The exit code for `err` (see the module documentation).
pub fn exit_code(err: &anyhow::Error) -> i32 {
    match find(err) {
        Some(Error::Input(_)) => EXIT_INPUT,
        Some(Error::Interrupted { signal, .. }) => 128 + signal,
        Some(Error::Diverged { .. }) | None => EXIT_INTERNAL,
    }
}

/// Why a run (a `fadca batch` family) failed, as recorded in batch
/// summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// Bad input (exit code 2, or the family could not be listed).
    Input,
    /// Anything else (exit code 1, a crash, a kill).
    Internal,
}

impl ErrorKind {
    /// The kind of a failed process's exit code ([`exit_code`]): 2 is bad
    /// input, anything else (or a kill by a signal, `None`) internal.
    pub fn of_exit_code(code: Option<i32>) -> ErrorKind {
        if code == Some(EXIT_INPUT) {
            ErrorKind::Input
        } else {
            ErrorKind::Internal
        }
    }
}

/// SIGINT (Ctrl-C).
pub const SIGINT: i32 = 2;
/// SIGTERM (`kill`).
pub const SIGTERM: i32 = 15;

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_formatter_for_every_location() {
        let p = Path::new("a.fasta");
        assert_eq!(
            InputError::new("--threads must be at least 1").to_string(),
            "--threads must be at least 1"
        );
        assert_eq!(
            InputError::in_file("alignment", p, "empty").to_string(),
            "alignment a.fasta: empty"
        );
        assert_eq!(
            InputError::in_file("alignment", p, "bad")
                .at_line(3)
                .at_column(7)
                .to_string(),
            "alignment a.fasta, line 3, column 7: bad"
        );
        assert_eq!(
            InputError::in_file("alignment", p, "2 columns")
                .in_record(2, "s")
                .at_line(4)
                .to_string(),
            "alignment a.fasta, record 2 's' (line 4): 2 columns"
        );
        assert_eq!(
            InputError::in_file("", p, "not a text file").to_string(),
            "a.fasta: not a text file"
        );
    }

    #[test]
    fn exit_codes_follow_the_kind_through_context() {
        use anyhow::Context;
        let input: anyhow::Result<()> = Err(input_error("bad"));
        let input = input.context("reading x").unwrap_err();
        assert_eq!(exit_code(&input), EXIT_INPUT);
        assert!(is_input_error(&input));
        assert_eq!(format!("{input:#}"), "reading x: bad");
        let stopped = anyhow::Error::new(Error::Interrupted {
            signal: SIGTERM,
            stage: "training".into(),
        });
        assert_eq!(exit_code(&stopped), 143);
        assert!(
            stopped
                .to_string()
                .starts_with("interrupted by SIGTERM during training")
        );
        let diverged = anyhow::Error::new(Error::Diverged {
            message: "loss is NaN".into(),
            loss_curve: vec![],
            restarts: vec![],
        });
        assert_eq!(exit_code(&diverged), EXIT_INTERNAL);
        assert_eq!(exit_code(&anyhow::anyhow!("disk full")), EXIT_INTERNAL);
        assert_eq!(ErrorKind::of_exit_code(Some(2)), ErrorKind::Input);
        assert_eq!(ErrorKind::of_exit_code(Some(1)), ErrorKind::Internal);
        assert_eq!(ErrorKind::of_exit_code(None), ErrorKind::Internal);
    }
}
