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
/// Exit status for a compare-and-set that found another revision (`set --if-revision`,
/// `set --if-absent`, `delete --if-revision`): a script retries on it, so it is not 3.
const CONFLICT: u8 = 4;
/// Exit status for `watch --from` a revision whose changes were pruned: a script reads the
/// data afresh on it, so it is not 3.
const COMPACTED: u8 = 5;

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

    /// The same exit status with the message reworded (a hint added to the library's).
    pub(crate) fn reworded(self, reword: impl FnOnce(&str) -> String) -> Failure {
        Failure {
            message: reword(&self.message),
            exit_code: self.exit_code,
        }
    }

    pub(crate) fn exit_code(&self) -> u8 {
        self.exit_code
    }

    /// True for an ending that is no failure at all (a closed standard output): status 0.
    pub(crate) fn is_quiet(&self) -> bool {
        self.exit_code == 0
    }

    /// The one line printed on stderr; empty for nothing at all.
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
            store::Error::Conflict { .. } => CONFLICT,
            store::Error::Compacted { .. } => COMPACTED,
            _ => OTHER,
        };
        Failure {
            exit_code,
            // One line, whatever the message holds.
            message: error.to_string().replace('\n', " "),
        }
    }
}

/// A failed write of the command's output. A closed standard output (`store export | head
/// -1`) is not a failure: the reader has what it wanted, so the command ends quietly with
/// status 0 and no message. Every other error: exit status 3.
impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure {
                exit_code: 0,
                message: String::new(),
            };
        }
        Failure::other(format!("store: {error}"))
    }
}
