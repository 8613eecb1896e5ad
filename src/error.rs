//! Error kinds. Everything the user can fix (a bad file, a bad flag value) is
//! an [`InputError`] and exits with code 2; anything else is an internal
//! failure and exits with code 1.

/// A problem with the user's input: a file that cannot be read or parsed, a
/// value out of range. The message says what and where (file, line, record).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Builds an [`anyhow::Error`] carrying an [`InputError`].
pub fn input_error(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(msg.into()))
}

/// True when `err` or any error in its chain is an [`InputError`].
pub fn is_input_error(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<InputError>().is_some())
}
