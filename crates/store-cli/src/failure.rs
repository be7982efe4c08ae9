//! How a failed command ends: one line on stderr and an exit status.

/// A command's failure: the message printed on stderr and the exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    exit_code: u8,
    message: String,
}

/// Exit status for "not found" (e.g. `get` of a missing key).
const NOT_FOUND: u8 = 1;
/// Exit status for bad usage or bad input.
const BAD_INPUT: u8 = 2;
/// Exit status for any other failure.
const OTHER: u8 = 3;

impl Failure {
    /// Bad input the library never saw (an unreadable import line, say): exit status 2.
    pub(crate) fn bad_input(message: impl Into<String>) -> Failure {
        Failure {
            exit_code: BAD_INPUT,
            message: message.into(),
        }
    }

    /// Something asked for does not exist: exit status 1.
    pub(crate) fn not_found(message: impl Into<String>) -> Failure {
        Failure {
            exit_code: NOT_FOUND,
            message: message.into(),
        }
    }

    /// Anything else that went wrong outside the library: exit status 3.
    pub(crate) fn other(message: impl Into<String>) -> Failure {
        Failure {
            exit_code: OTHER,
            message: message.into(),
        }
    }

    pub(crate) fn exit_code(&self) -> u8 {
        self.exit_code
    }

    /// The one line printed on stderr.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl From<store::Error> for Failure {
    fn from(error: store::Error) -> Failure {
        let exit_code = match &error {
            store::Error::NotFound { .. } => NOT_FOUND,
            store::Error::InvalidInput { .. }
            | store::Error::InvalidNamespace { .. }
            | store::Error::Template { .. }
            | store::Error::Query { .. }
            | store::Error::InvalidValue { .. } => BAD_INPUT,
            _ => OTHER,
        };
        Failure {
            exit_code,
            // One line, whatever the message holds.
            message: error.to_string().replace('\n', " "),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::other(format!("store: {error}"))
    }
}
