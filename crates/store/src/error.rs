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
    /// PostgreSQL reported a failure, or the connection to it was lost.
    ///
    /// A lost connection fails the call that met it; the next call connects again, so
    /// a restarted server needs no reopening of the store.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// // An embedded store never reports PostgreSQL errors.
    /// assert!(!store.get("g", "k").unwrap_err().is_connection_lost());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[error(
        "{operation}: {context}: PostgreSQL: {}",
        crate::postgresql::describe(source)
    )]
    Postgres {
        /// The operation that failed.
        operation: &'static str,
        /// What the store was doing, e.g. `read entry`.
        context: String,
        /// The client's own error (its text includes the server's message).
        #[source]
        source: postgres::Error,
    },
    /// The operation is not available on this kind of store (today: parts of the store
    /// that still need SQLite, called on a store opened with a `postgres://` URL).
    ///
    /// ```
    /// let error = store::Error::Unsupported {
    ///     operation: "store.journal.commit",
    ///     what: "the journal".into(),
    /// };
    /// assert_eq!(
    ///     error.to_string(),
    ///     "store.journal.commit: not available on a PostgreSQL store yet: the journal"
    /// );
    /// ```
    #[error("{operation}: not available on a PostgreSQL store yet: {what}")]
    Unsupported {
        /// The operation that was refused.
        operation: &'static str,
        /// The part of the store it needs.
        what: String,
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
    /// A write was refused because the store was opened with
    /// [`StoreConfig::read_only`](crate::StoreConfig::read_only) (or a read-only open
    /// found a file it could only use by writing to it).
    ///
    /// ```
    /// let error = store::Error::ReadOnly { operation: "store.set", action: "write" };
    /// assert_eq!(error.to_string(), "store.set: refused: the store is open read-only (write)");
    /// ```
    #[error("{operation}: refused: the store is open read-only ({action})")]
    ReadOnly {
        /// The operation that was refused, e.g. `store.set`.
        operation: &'static str,
        /// What it would have had to do, e.g. `write`.
        action: &'static str,
    },
    /// The disk (or the file-size limit) is full: SQLite reported `SQLITE_FULL`, could
    /// not grow its WAL index (`SQLITE_IOERR_SHMSIZE`), or the file system `ENOSPC`.
    /// Nothing acknowledged is lost; free space and retry.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(!store.get("g", "k").unwrap_err().is_disk_full());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[error("{operation}: disk full: {context}: {source}")]
    DiskFull {
        /// The operation that failed, e.g. `store.set`.
        operation: &'static str,
        /// What the store was doing, e.g. `write entry`.
        context: String,
        /// SQLite's or the operating system's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
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
    /// A compare-and-set (`set_if`, `delete_if`) found another revision than the one it
    /// expected, and changed nothing. `current` is the key's live revision now (`None`:
    /// no live key); read the key again and retry with it.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let first = store.set_if("config", "colour", "blue", None)?;
    /// let error = store.set_if("config", "colour", "red", None).unwrap_err();
    /// assert!(error.is_conflict());
    /// assert_eq!(
    ///     error.to_string(),
    ///     format!(r#"store.set_if: conflict: group "config", key "colour": expected no live key, found revision {first}"#)
    /// );
    /// # Ok::<(), store::Error>(())
    /// ```
    #[error(
        "{operation}: conflict: group {group:?}, key {key:?}: expected {}, found {}",
        describe_revision(*.expected),
        describe_revision(*.current)
    )]
    Conflict {
        /// The operation that failed, e.g. `store.set_if`.
        operation: &'static str,
        /// The group (local to the namespace for a scoped store).
        group: String,
        /// The key.
        key: String,
        /// The revision the caller expected (`None`: no live key).
        expected: Option<u64>,
        /// The key's live revision (`None`: no live key).
        current: Option<u64>,
    },

    /// A [`watch_from`](crate::Store::watch_from) (or a watcher that fell behind) asked
    /// for changes the retention has already pruned: the history now starts at
    /// `oldest`. Resume from a fresh read of the data, then watch from
    /// [`Store::revision`](crate::Store::revision).
    ///
    /// ```
    /// let config = store::StoreConfig {
    ///     change_retention: store::ChangeRetention { max_changes: Some(1), max_age: None },
    ///     ..store::StoreConfig::new(":memory:")
    /// };
    /// let store = store::Store::open_with(config)?;
    /// store.set("g", "a", "1")?;
    /// store.set("g", "b", "2")?;
    /// store.purge_expired()?; // prunes the history to its newest change
    /// let error = store.watch_from("g", "*", 0).unwrap_err();
    /// assert!(error.is_compacted());
    /// assert_eq!(error.to_string(), "store.watch_from: revision 0 is compacted: the oldest retained change is 2");
    /// # Ok::<(), store::Error>(())
    /// ```
    #[error(
        "{operation}: revision {requested} is compacted: the oldest retained change is {oldest}"
    )]
    Compacted {
        /// The operation that failed, e.g. `store.watch_from`.
        operation: &'static str,
        /// The revision asked for (changes after it were wanted).
        requested: u64,
        /// The oldest revision still retained.
        oldest: u64,
    },

    /// A stored value cannot be what the operation needs: `get` of a value that is not
    /// UTF-8 text (read it with `get_bytes`), or `increment` of a value that is not a
    /// decimal integer or would overflow. Nothing was changed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_bytes("blocks", "b1", &[0xff, 0x00])?;
    /// let error = store.get("blocks", "b1").unwrap_err();
    /// assert!(error.is_invalid_value());
    /// assert_eq!(
    ///     error.to_string(),
    ///     r#"store.get: invalid value: group "blocks", key "b1": not UTF-8 text (read it with get_bytes)"#
    /// );
    /// # Ok::<(), store::Error>(())
    /// ```
    #[error("{operation}: invalid value: group {group:?}, key {key:?}: {reason}")]
    InvalidValue {
        /// The operation that failed, e.g. `store.get`.
        operation: &'static str,
        /// The group (local to the namespace for a scoped store).
        group: String,
        /// The key.
        key: String,
        /// What is wrong with the value.
        reason: String,
    },
}

/// How a `Conflict` message shows a revision it expected or found.
fn describe_revision(revision: Option<u64>) -> String {
    revision.map_or_else(
        || "no live key".to_owned(),
        |revision| format!("revision {revision}"),
    )
}

impl Error {
    /// True when a compare-and-set found another revision; see [`Error::Conflict`].
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(store.delete_if("g", "k", 1).unwrap_err().is_conflict());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// True when the changes asked for were pruned; see [`Error::Compacted`].
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(!store.get("g", "k").unwrap_err().is_compacted());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_compacted(&self) -> bool {
        matches!(self, Error::Compacted { .. })
    }

    /// True when a stored value was not what the operation needs; see
    /// [`Error::InvalidValue`].
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("counters", "name", "alice")?;
    /// assert!(store.increment("counters", "name", 1).unwrap_err().is_invalid_value());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_invalid_value(&self) -> bool {
        matches!(self, Error::InvalidValue { .. })
    }

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

    /// True when the disk (or the file-size limit) was full; see [`Error::DiskFull`].
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(!store.get("g", "k").unwrap_err().is_disk_full());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::DiskFull { .. })
    }

    /// True when the call failed because the connection to PostgreSQL was lost (the
    /// server restarted, say); the next call connects again. See [`Error::Postgres`].
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(!store.get("g", "k").unwrap_err().is_connection_lost());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Error::Postgres { source, .. } if crate::postgresql::is_connection_lost(source))
    }

    /// True when a write was refused by a read-only store; see [`Error::ReadOnly`].
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert!(!store.get("g", "k").unwrap_err().is_read_only());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        matches!(self, Error::ReadOnly { .. })
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
            | Error::Postgres { operation, .. }
            | Error::Unsupported { operation, .. }
            | Error::Io { operation, .. }
            | Error::Template { operation, .. }
            | Error::Query { operation, .. }
            | Error::Archive { operation, .. }
            | Error::Export { operation, .. }
            | Error::ReadOnly { operation, .. }
            | Error::DiskFull { operation, .. }
            | Error::InvalidValue { operation, .. }
            | Error::Conflict { operation, .. }
            | Error::Compacted { operation, .. } => operation,
            Error::InvalidNamespace { .. } => "store.scoped.new",
        }
    }

    /// SQLite's error as `Database`, or as `DiskFull` when it says the disk is full.
    pub(crate) fn database(
        operation: &'static str,
        context: impl Into<String>,
        source: rusqlite::Error,
    ) -> Error {
        if is_sqlite_disk_full(&source) {
            return Error::DiskFull {
                operation,
                context: context.into(),
                source: Box::new(source),
            };
        }
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

    /// The operating system's error as `Io`, or as `DiskFull` for `ENOSPC`.
    pub(crate) fn io_or_disk_full(
        operation: &'static str,
        context: impl Into<String>,
        source: std::io::Error,
    ) -> Error {
        if source.kind() == std::io::ErrorKind::StorageFull {
            return Error::DiskFull {
                operation,
                context: context.into(),
                source: Box::new(source),
            };
        }
        Error::io(operation, context, source)
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

/// `SQLITE_IOERR_SHMSIZE`: SQLite could not grow the WAL index (`-shm`); its unix VFS
/// reports this when the write that extends the file fails, in practice a full disk.
const SQLITE_IOERR_SHMSIZE: i32 = 4874;

/// True for SQLite's "the disk is full" errors. The unix VFS reports a write that met
/// `ENOSPC` as `SQLITE_FULL` itself (every other failed write is `SQLITE_IOERR_WRITE`,
/// so that code alone does not mean a full disk), and a WAL index that could not grow
/// as `SQLITE_IOERR_SHMSIZE`.
fn is_sqlite_disk_full(error: &rusqlite::Error) -> bool {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => {
            failure.code == rusqlite::ErrorCode::DiskFull
                || failure.extended_code == SQLITE_IOERR_SHMSIZE
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(extended_code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(extended_code), None)
    }

    #[test]
    fn database_good_maps_disk_full_codes_to_disk_full() {
        for code in [rusqlite::ffi::SQLITE_FULL, SQLITE_IOERR_SHMSIZE] {
            let error = Error::database("store.set", "write entry", sqlite_error(code));
            assert!(error.is_disk_full(), "{code}: {error:?}");
            assert_eq!(error.operation(), "store.set");
            assert!(
                error
                    .to_string()
                    .starts_with("store.set: disk full: write entry: "),
                "{error}"
            );
        }
    }

    #[test]
    fn database_good_keeps_other_io_errors_as_database() {
        // SQLITE_IOERR_WRITE (778) without ENOSPC: a failing disk, not a full one.
        for code in [
            778,
            rusqlite::ffi::SQLITE_BUSY,
            rusqlite::ffi::SQLITE_CORRUPT,
        ] {
            let error = Error::database("store.set", "write entry", sqlite_error(code));
            assert!(matches!(error, Error::Database { .. }), "{code}: {error:?}");
        }
    }

    #[test]
    fn io_or_disk_full_good_maps_storage_full() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let error = Error::io_or_disk_full("store.open", "reserve x-shm", full);
        assert!(error.is_disk_full(), "{error:?}");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let error = Error::io_or_disk_full("store.open", "reserve x-shm", denied);
        assert!(matches!(error, Error::Io { .. }), "{error:?}");
    }
}
