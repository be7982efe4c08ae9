//! The benchmark's one error type: a message with the context that led to it.
//!
//! A benchmark has no caller to recover, so every failure becomes text that names what was
//! being measured when it happened, and `main` prints it and exits non-zero.

use std::fmt;

/// What went wrong, with context, e.g. `set (normal): store: store.set: …`.
#[derive(Debug)]
pub struct Failure {
    message: String,
}

impl Failure {
    /// A failure with a message of its own (no underlying error).
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
        }
    }

    /// This failure with `context` in front of it.
    #[must_use]
    pub fn within(self, context: impl fmt::Display) -> Failure {
        Failure {
            message: format!("{context}: {}", self.message),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

// `Failure` does not implement `std::error::Error`, so this does not overlap with
// `From<Failure> for Failure`; `?` then turns any error into a `Failure`.
impl<E: std::error::Error> From<E> for Failure {
    fn from(error: E) -> Failure {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !message.contains(&cause_text) {
                message.push_str(": ");
                message.push_str(&cause_text);
            }
            source = cause.source();
        }
        Failure { message }
    }
}

/// The benchmark's result type.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Adds context to any failing result.
pub trait Context<T> {
    /// Puts `context` in front of the error's message.
    ///
    /// # Errors
    ///
    /// The original error, as a [`Failure`] with the context.
    fn context(self, context: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Failure>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|error| error.into().within(context))
    }
}
