//! The one error type every operation returns.
//!
//! Each variant carries the full name of the operation that failed (`store.get`,
//! `store.scoped.set`, …) so a message read in a log says where it came from without a
//! backtrace. Display is always `<operation>: <what failed>`.

use std::fmt;

/// The result type of every fallible operation in this crate.
///
/// ```
/// fn colour(store: &store::Store) -> store::Result<String> {
///     store.get("config", "colour")
/// }
/// let store = store::Store::open(":memory:")?;
/// store.set("config", "colour", "blue")?;
/// assert_eq!(colour(&store)?, "blue");
/// # Ok::<(), store::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which namespace quota a write would have exceeded.
///
/// ```
/// use store::QuotaLimit;
/// assert_ne!(QuotaLimit::Keys, QuotaLimit::Groups);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaLimit {
    /// The namespace's `max_keys`.
    Keys,
    /// The namespace's `max_groups`.
    Groups,
}

impl fmt::Display for QuotaLimit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            QuotaLimit::Keys => "key limit",
            QuotaLimit::Groups => "group limit",
        })
    }
}

/// Everything that can go wrong in the store.
///
/// Match on the variants that carry meaning for a caller (`NotFound`, `QuotaExceeded`,
/// `InvalidNamespace`, `Closed`); the rest say what failed and keep the underlying cause
/// reachable through [`std::error::Error::source`].
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// let error = store.get("config", "colour").unwrap_err();
/// assert!(error.is_not_found());
/// assert_eq!(
///     error.to_string(),
///     r#"store.get: not found: group "config", key "colour""#
/// );
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key does not exist, or has expired.
    #[error("{operation}: not found: group {group:?}, key {key:?}")]
    NotFound {
        /// The operation that failed, e.g. `store.get`.
        operation: &'static str,
        /// The group asked for (local to the namespace for a scoped store).
        group: String,
        /// The key asked for.
        key: String,
    },
    /// A scoped write would have taken a namespace past one of its quotas.
    #[error("{operation}: quota exceeded: namespace {namespace:?} {limit} ({maximum})")]
    QuotaExceeded {
        /// The operation that failed, e.g. `store.scoped.set`.
        operation: &'static str,
        /// The namespace whose quota was reached.
        namespace: String,
        /// Which limit was reached.
        limit: QuotaLimit,
        /// The configured maximum.
        maximum: usize,
    },
    /// A namespace name is not made of ASCII letters, digits and `-`.
    #[error(
        "store.scoped.new: invalid namespace {namespace:?}: use letters, digits and '-' (e.g. \"tenant-a\")"
    )]
    InvalidNamespace {
        /// The name that was refused.
        namespace: String,
    },
    /// The store has been closed.
    #[error("{operation}: store is closed")]
    Closed {
        /// The operation that was refused.
        operation: &'static str,
    },
    /// An argument or configuration was refused before anything was written.
    #[error("{operation}: {message}")]
    InvalidInput {
        /// The operation that refused it.
        operation: &'static str,
        /// What was wrong.
        message: String,
    },
    /// SQLite reported a failure.
    #[error("{operation}: {context}: {source}")]
    Database {
        /// The operation that failed.
        operation: &'static str,
        /// What the store was doing, e.g. `ensure schema`.
        context: String,
        /// SQLite's own error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file system reported a failure.
    #[error("{operation}: {context}: {source}")]
    Io {
        /// The operation that failed.
        operation: &'static str,
        /// What the store was doing, with the path.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A template could not be parsed or executed.
    #[error("{operation}: {message}")]
    Template {
        /// The operation that failed, e.g. `store.render`.
        operation: &'static str,
        /// `parse template: …` or `execute template: …`.
        message: String,
    },
    /// A journal or workspace query was refused (not read-only, unsupported Flux) or
    /// failed while it ran.
    #[error("{operation}: {message}")]
    Query {
        /// The operation that failed, e.g. `store.query_journal`.
        operation: &'static str,
        /// What was refused or failed, e.g. `only a single read-only statement …`.
        message: String,
        /// SQLite's own error, when it reported one.
        #[source]
        source: Option<rusqlite::Error>,
    },
    /// A journal archive could not be written, published or read back.
    #[error("{operation}: {message}")]
    Archive {
        /// The operation that failed, e.g. `store.compact` or `store.read_archive`.
        operation: &'static str,
        /// What failed, with the line number when reading.
        message: String,
        /// The underlying decoder, JSON or SQLite error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// Journal points could not be shipped to InfluxDB: it could not be reached, asked
    /// for a retry (408, 429, 5xx), or refused the batch (any other status).
    #[error("{operation}: {message}")]
    Export {
        /// The operation that failed: `store.flush_journal`, or `store.ship` /
        /// `store.close` in the log.
        operation: &'static str,
        /// InfluxDB's HTTP status, when it answered.
        status: Option<u16>,
        /// What failed, with the first bytes of InfluxDB's answer.
        message: String,
        /// The HTTP client's error, when no answer came.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
}

impl Error {
    /// True when the key did not exist or had expired.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(store.get("g", "k").unwrap_err().is_not_found());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// True when a scoped write was refused by a namespace quota.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(!store.get("g", "k").unwrap_err().is_quota_exceeded());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_quota_exceeded(&self) -> bool {
        matches!(self, Error::QuotaExceeded { .. })
    }

    /// The operation the error names, e.g. `store.get`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.close()?;
    /// assert_eq!(store.get("g", "k").unwrap_err().operation(), "store.get");
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn operation(&self) -> &'static str {
        match self {
            Error::NotFound { operation, .. }
            | Error::QuotaExceeded { operation, .. }
            | Error::Closed { operation }
            | Error::InvalidInput { operation, .. }
            | Error::Database { operation, .. }
            | Error::Io { operation, .. }
            | Error::Template { operation, .. }
            | Error::Query { operation, .. }
            | Error::Archive { operation, .. }
            | Error::Export { operation, .. } => operation,
            Error::InvalidNamespace { .. } => "store.scoped.new",
        }
    }

    pub(crate) fn database(
        operation: &'static str,
        context: impl Into<String>,
        source: rusqlite::Error,
    ) -> Error {
        Error::Database {
            operation,
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(
        operation: &'static str,
        context: impl Into<String>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            operation,
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid_input(operation: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidInput {
            operation,
            message: message.into(),
        }
    }

    pub(crate) fn query(
        operation: &'static str,
        message: impl Into<String>,
        source: Option<rusqlite::Error>,
    ) -> Error {
        Error::Query {
            operation,
            message: message.into(),
            source,
        }
    }

    pub(crate) fn archive(
        operation: &'static str,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        Error::Archive {
            operation,
            message: message.into(),
            source,
        }
    }
}
