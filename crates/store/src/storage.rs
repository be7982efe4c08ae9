//! Which database holds a store: the one seam between the key-value layer and SQLite or
//! PostgreSQL.
//!
//! A store owns one [`Link`]: an SQLite connection, or a PostgreSQL session that
//! reconnects after the server went away. The key-value statements (`kv::rows`) run on a
//! [`Conn`], borrowed from the link for one call or one transaction, and report a
//! [`StorageError`], which the caller turns into the crate's [`Error`] with the
//! operation's name.
//!
//! The parts of the store that still speak SQLite only (see the crate docs for the list)
//! take the SQLite connection (`Database::with`, `with_connection`) and refuse a
//! PostgreSQL store with [`Error::Unsupported`].

use std::cell::{RefCell, RefMut};

use crate::error::Error;
use crate::postgresql::session::PgSession;

/// The connection a store owns.
pub(crate) enum Link {
    /// An SQLite file (or `:memory:`).
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL database, reached by URL. The cell lets a [`Conn`] share it (so that
    /// a transaction handle stays covariant in its lifetime) while each statement borrows
    /// it mutably for its own duration.
    Postgres(Box<RefCell<PgSession>>),
}

/// A connection borrowed for one call or one transaction.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'a> {
    /// SQLite: rusqlite's statements take `&Connection`.
    Sqlite(&'a rusqlite::Connection),
    /// PostgreSQL: each statement borrows the session for its own duration.
    Postgres(&'a RefCell<PgSession>),
}

/// A failure of either database, or a statement one of them cannot run yet.
#[derive(Debug)]
pub(crate) enum StorageError {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    /// Work that only the SQLite backend can do so far; the text names it.
    Unsupported(&'static str),
}

impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        StorageError::Sqlite(error)
    }
}

impl From<postgres::Error> for StorageError {
    fn from(error: postgres::Error) -> Self {
        StorageError::Postgres(error)
    }
}

/// The result of a statement on either database.
pub(crate) type StorageResult<T> = std::result::Result<T, StorageError>;

impl StorageError {
    /// The crate's error for this failure, naming `operation` and what it was doing.
    pub(crate) fn into_error(self, operation: &'static str, context: &str) -> Error {
        match self {
            StorageError::Sqlite(source) => Error::database(operation, context, source),
            StorageError::Postgres(source) => crate::postgresql::error(operation, context, source),
            StorageError::Unsupported(what) => Error::Unsupported {
                operation,
                what: what.to_owned(),
            },
        }
    }
}

/// The session of a [`Conn::Postgres`], for one statement. Statements never nest, so the
/// borrow is always free; were it not, the statement fails rather than panics.
pub(crate) fn session(cell: &RefCell<PgSession>) -> StorageResult<RefMut<'_, PgSession>> {
    cell.try_borrow_mut()
        .map_err(|_| StorageError::Unsupported("a statement inside another statement"))
}

impl Link {
    /// Runs `work` on this link's connection.
    pub(crate) fn run<T>(
        &mut self,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        match self {
            Link::Sqlite(connection) => work(&mut Conn::Sqlite(connection)),
            Link::Postgres(cell) => work(&mut Conn::Postgres(cell)),
        }
    }

    /// Runs `work` in one serialised transaction (see `Database::with_atomic_link`).
    pub(crate) fn run_atomic<T>(
        &mut self,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        match self {
            Link::Sqlite(connection) => {
                let transaction = rusqlite::Transaction::new_unchecked(
                    connection,
                    rusqlite::TransactionBehavior::Immediate,
                )?;
                let value = work(&mut Conn::Sqlite(&transaction))?;
                transaction.commit()?;
                Ok(value)
            }
            Link::Postgres(cell) => {
                cell.get_mut().begin_serialised()?;
                let outcome = work(&mut Conn::Postgres(cell));
                let session = cell.get_mut();
                match outcome {
                    Ok(value) => {
                        session.commit()?;
                        Ok(value)
                    }
                    Err(error) => {
                        session.rollback();
                        Err(error)
                    }
                }
            }
        }
    }
}
