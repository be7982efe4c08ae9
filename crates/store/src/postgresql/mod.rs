//! The PostgreSQL backend: a store opened with a `postgres://` (or `postgresql://`) URL.
//!
//! - `session`: the connection, its prepared statements, reconnection after the server
//!   went away, and the URL's `schema` parameter.
//! - `schema`: the tables, created on first use.
//! - `entries`: the statements of the `entries` table, the same operations as SQLite's.
//! - `changes`: revisions and the change history, and the write functions that keep them.
//! - `notify`: change events between servers (`LISTEN`/`NOTIFY`).
//! - `journal`: the journal and its InfluxDB outbox (claimed with `SKIP LOCKED`), and
//!   read-only SQL from callers.
//! - `archive`: compaction's record of archives and its reads and marks.
//! - `workspace`: a workspace's commit into the PostgreSQL journal, exactly once.
//!
//! What differs from SQLite, and why:
//! - **Bytes, not text.** Group names, keys and values are `BYTEA`: they compare byte by
//!   byte exactly as SQLite's `BINARY` collation does (whatever the database's collation),
//!   and they may hold NUL, which PostgreSQL's `TEXT` refuses. `value_is_text` keeps
//!   whether a value was written with `set` or `set_bytes`.
//! - **Serialised where SQLite serialises.** Every write takes the store schema's one
//!   revision row first (see `changes`), and work that reads and then writes (a quota
//!   check and its write, `increment`, compare-and-set, a transaction) takes it when it
//!   begins, so writes on every server run one at a time, as under SQLite's single
//!   writer; quotas stay exact with many processes on many machines. Reads never wait.
//! - **Clocks.** Expiry times are the writing machine's clock, as with SQLite; servers that
//!   share a database should keep their clocks in step (NTP).
//! - **One connection per store**, as with SQLite: open one store per thread (or per
//!   process) for parallel work.

pub(crate) mod archive;
pub(crate) mod changes;
pub(crate) mod entries;
pub(crate) mod journal;
pub(crate) mod notify;
pub(crate) mod schema;
pub(crate) mod session;
pub(crate) mod workspace;

use std::path::Path;

/// The result of a statement on PostgreSQL.
pub(crate) type PgResult<T> = std::result::Result<T, postgres::Error>;

use crate::error::Error;

/// True when the path given to open is a PostgreSQL URL rather than a file.
pub(crate) fn is_url(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|text| text.starts_with("postgres://") || text.starts_with("postgresql://"))
}

/// The path as text for `Debug` and messages, with the password of a PostgreSQL URL
/// replaced by `***`, so that logging a store never leaks it.
pub(crate) fn redacted(path: &Path) -> String {
    let text = path.to_string_lossy();
    if !is_url(path) {
        return text.into_owned();
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.into_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => text.into_owned(),
        },
        None => text.into_owned(),
    }
}

/// The client's error with the server's own message and SQLSTATE code, which the
/// client's `Display` leaves out (it says only `db error`).
pub(crate) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(database) => format!(
            "{} ({}: {})",
            database.message(),
            database.severity(),
            database.code().code()
        ),
        None => error.to_string(),
    }
}

/// True when the error means the connection is gone (closed, reset, or the server shut
/// down or restarted).
pub(crate) fn is_connection_lost(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(database) = error.as_db_error() {
        // Class 08 (connection exception) and 57P01..57P03 (shut down, cannot connect now).
        let code = database.code().code();
        return code.starts_with("08") || code.starts_with("57P");
    }
    // An I/O failure on the socket.
    std::error::Error::source(error)
        .is_some_and(<dyn std::error::Error + 'static>::is::<std::io::Error>)
}

/// The crate's error for a PostgreSQL failure: `ReadOnly` for a write refused by a
/// read-only session, `Postgres` otherwise.
pub(crate) fn error(operation: &'static str, context: &str, source: postgres::Error) -> Error {
    if source.as_db_error().is_some_and(|database| {
        database.code() == &postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION
    }) {
        return Error::ReadOnly {
            operation,
            action: "write",
        };
    }
    let context = if is_connection_lost(&source) {
        format!("{context}: connection to PostgreSQL lost (the next call connects again)")
    } else {
        context.to_owned()
    };
    Error::Postgres {
        operation,
        context,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_good_hides_only_the_password() {
        let redact = |text: &str| redacted(Path::new(text));
        assert_eq!(
            redact("postgres://ada:s3cret@db:5432/app?schema=a"),
            "postgres://ada:***@db:5432/app?schema=a"
        );
        assert_eq!(redact("postgres://ada@db/app"), "postgres://ada@db/app");
        assert_eq!(redact("/tmp/a:b@c.db"), "/tmp/a:b@c.db");
    }
}
