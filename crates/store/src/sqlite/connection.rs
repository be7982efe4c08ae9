//! The one connection of a store (SQLite, or a PostgreSQL session), behind one lock.
//!
//! Every operation takes the lock for as short a time as it can and gives it back before
//! any event is delivered. One connection (rather than a pool) keeps every write in one
//! order, makes `SQLITE_BUSY` impossible inside a process, and lets each cached prepared
//! statement be reused by every caller.
//!
//! A store opened read-only refuses writes here: a write transaction before it begins,
//! and any other statement that SQLite refuses with `SQLITE_READONLY` as
//! [`Error::ReadOnly`] naming the operation.

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::storage::{Conn, Link, StorageError, StorageResult};

/// A number unique to each thread, so that the store can tell whether the thread asking
/// for the connection is the one already holding it in a transaction.
fn thread_token() -> usize {
    static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);
    thread_local! {
        static TOKEN: usize = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|token| *token)
}

thread_local! {
    /// True while this thread runs a call that must not wait for a connection (the async
    /// API trying a short call on the runtime's own thread).
    static REFUSES_TO_WAIT: Cell<bool> = const { Cell::new(false) };
    /// Set when such a call was refused: the connection was busy, or it tried to write
    /// where writing could wait for the disk.
    static WAS_REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work` on this thread without ever waiting for a store's connection. A lock that
/// is taken fails the acquisition at once (before any statement runs), and the attempt
/// reports `None`: the caller then runs the work again where waiting is allowed. `work`
/// must take the connection at most once, so that a refusal never follows a commit.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))] // only the async API uses it
pub(crate) fn without_waiting<T>(work: impl FnOnce() -> T) -> Option<T> {
    /// Restores the flags also when `work` panics, so the thread waits normally again.
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REFUSES_TO_WAIT.with(|flag| flag.set(self.0));
        }
    }
    let _reset = Reset(REFUSES_TO_WAIT.with(|flag| flag.replace(true)));
    WAS_REFUSED.with(|flag| flag.set(false));
    let outcome = work();
    if WAS_REFUSED.with(|flag| flag.replace(false)) {
        None
    } else {
        Some(outcome)
    }
}

/// True inside [`without_waiting`] on this thread.
pub(crate) fn refuses_to_wait() -> bool {
    REFUSES_TO_WAIT.with(Cell::get)
}

/// Marks the current [`without_waiting`] attempt as refused (a commit hook refusing a
/// write that could wait for the disk).
pub(crate) fn refuse() {
    WAS_REFUSED.with(|flag| flag.set(true));
}

/// The connection, `None` once the store is closed.
pub(crate) struct Database {
    connection: Mutex<Option<Link>>,
    /// The link is a PostgreSQL session.
    is_postgres: bool,
    is_closed: AtomicBool,
    /// The token of the thread running a transaction closure, 0 when none is.
    transaction_owner: AtomicUsize,
    /// Threads blocked waiting for the connection (counted only when they had to wait).
    waiting: AtomicUsize,
    /// Opened with `StoreConfig::read_only`.
    read_only: bool,
    /// The file has the change history (always, unless opened read-only from an earlier
    /// release's file).
    has_change_feed: bool,
}

/// The longest a long job waits for queued callers between two of its steps.
const YIELD_LIMIT: Duration = Duration::from_millis(5);

impl Database {
    pub(crate) fn new(link: Link, read_only: bool, has_change_feed: bool) -> Database {
        Database {
            is_postgres: matches!(link, Link::Postgres(_)),
            connection: Mutex::new(Some(link)),
            is_closed: AtomicBool::new(false),
            transaction_owner: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            read_only,
            has_change_feed,
        }
    }

    /// True when the store lives in PostgreSQL rather than in an SQLite file.
    pub(crate) fn is_postgres(&self) -> bool {
        self.is_postgres
    }

    /// True when the file has the change history.
    pub(crate) fn has_change_feed(&self) -> bool {
        self.has_change_feed
    }

    /// Refuses `operation` when the file has no change history: a file of an earlier
    /// release opened read-only, which gains one the first time it is opened for writing.
    pub(crate) fn check_change_feed(&self, operation: &'static str) -> Result<()> {
        if self.has_change_feed {
            return Ok(());
        }
        if self.is_postgres {
            return Err(Error::Unsupported {
                operation,
                what: "revisions and the change feed".to_owned(),
            });
        }
        Err(Error::ReadOnly {
            operation,
            action: "read revisions: this file has no change history yet (open it once for writing to add it)",
        })
    }

    /// Refuses `operation` with [`Error::ReadOnly`] when the store is read-only.
    pub(crate) fn check_writable(&self, operation: &'static str) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly {
                operation,
                action: "write",
            });
        }
        Ok(())
    }

    /// Checkpoints the WAL with `TRUNCATE` when the `-wal` file beside `path` is larger
    /// than `limit` bytes, without waiting for readers (the busy timeout is off for the
    /// call): true when the WAL was emptied. Cheap when the WAL is small: one `stat`.
    pub(crate) fn checkpoint_if_over(
        &self,
        operation: &'static str,
        path: &Path,
        limit: u64,
    ) -> Result<bool> {
        if self.read_only
            || self.is_postgres
            || path.as_os_str() == crate::sqlite::schema::MEMORY_PATH
        {
            return Ok(false);
        }
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let size = std::fs::metadata(wal).map_or(0, |metadata| metadata.len());
        if size <= limit {
            return Ok(false);
        }
        self.with(operation, "checkpoint the WAL", |connection| {
            connection.busy_timeout(Duration::ZERO)?;
            let outcome = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
            connection.busy_timeout(crate::sqlite::schema::BUSY_TIMEOUT)?;
            match outcome {
                Ok(busy) => Ok(busy == 0),
                Err(error)
                    if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
                {
                    Ok(false)
                }
                Err(error) => Err(error),
            }
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.is_closed.load(Ordering::Acquire)
    }

    /// Marks the store closed; true if this call did it.
    pub(crate) fn mark_closed(&self) -> bool {
        !self.is_closed.swap(true, Ordering::AcqRel)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Link>> {
        // A panic while the lock was held (in a transaction closure, say) has already rolled
        // its transaction back, so the connection itself is sound.
        match self.connection.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.waiting.fetch_add(1, Ordering::AcqRel);
                let guard = self
                    .connection
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                guard
            }
        }
    }

    /// The lock if it is free this instant; otherwise the attempt is refused (see
    /// [`without_waiting`]) with an error its caller never sees.
    fn lock_now(&self, operation: &'static str) -> Result<MutexGuard<'_, Option<Link>>> {
        match self.connection.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => {
                refuse();
                Err(Error::Closed { operation })
            }
        }
    }

    /// Lets the callers that queued for the connection while this thread held it take it
    /// before this thread takes it again (waiting at most a few milliseconds). `Mutex` is
    /// not fair: a thread that unlocks and at once locks again, as the purge does between
    /// batches, nearly always wins, and a waiting `set` sat out hundreds of batches
    /// (586 ms while 1,000,000 expired keys were purged).
    pub(crate) fn yield_to_waiters(&self) {
        let deadline = Instant::now() + YIELD_LIMIT;
        while self.waiting.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    /// Checks that the store is open and that this thread is not inside a transaction,
    /// then locks the connection.
    pub(crate) fn acquire(&self, operation: &'static str) -> Result<MutexGuard<'_, Option<Link>>> {
        if self.is_closed() {
            return Err(Error::Closed { operation });
        }
        self.check_not_in_transaction(operation)?;
        let guard = if refuses_to_wait() {
            self.lock_now(operation)?
        } else {
            self.lock()
        };
        // A call that waited for the lock while the store was closing must not run.
        if self.is_closed() {
            return Err(Error::Closed { operation });
        }
        Ok(guard)
    }

    /// Refuses a call from the thread that is running a transaction closure: it would wait
    /// for the lock that thread already holds.
    pub(crate) fn check_not_in_transaction(&self, operation: &'static str) -> Result<()> {
        let owner = self.transaction_owner.load(Ordering::Acquire);
        if owner != 0 && owner == thread_token() {
            return Err(Error::invalid_input(
                operation,
                "called inside a transaction on the same thread: use the transaction handle",
            ));
        }
        Ok(())
    }

    /// Runs `work` with the SQLite connection, for work that reports the crate's own
    /// errors; a PostgreSQL store refuses it with `Unsupported`. A store closed while
    /// this call waited for the lock gives `Closed`.
    pub(crate) fn with_connection<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        self.with_link_raw(operation, |link| match link {
            Link::Sqlite(connection) => work(connection),
            Link::Postgres(_) => Err(Error::Unsupported {
                operation,
                what: "this operation still needs SQLite".to_owned(),
            }),
        })
    }

    /// Runs `work` with the link itself (either database), for work that reports the
    /// crate's own errors. Every other way of using the connection is built on this one.
    pub(crate) fn with_link_raw<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Link) -> Result<T>,
    ) -> Result<T> {
        let guard = self.acquire(operation)?;
        let outcome = run_on(guard, operation, work);
        match outcome {
            Err(Error::Database { source, .. })
                if self.read_only
                    && source.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) =>
            {
                Err(Error::ReadOnly {
                    operation,
                    action: "write",
                })
            }
            other => other,
        }
    }

    /// Runs `work` on either database; its failures become the crate's errors with
    /// `context`.
    pub(crate) fn with_link<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T> {
        self.with_link_raw(operation, |link| {
            link.run(work)
                .map_err(|error| error.into_error(operation, context))
        })
    }

    /// Runs `work` on either database in one transaction that is serialised against
    /// every other such transaction (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL, `BEGIN`
    /// and the store's advisory lock), committed when `work` succeeds and rolled back
    /// when it fails.
    pub(crate) fn with_atomic_link<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T> {
        self.check_writable(operation)?;
        self.with_link_raw(operation, |link| {
            link.run_atomic(work)
                .map_err(|error| error.into_error(operation, context))
        })
    }

    /// Runs `work` with the connection; SQLite errors become `Error::Database` with
    /// `context`.
    pub(crate) fn with<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.with_connection(operation, |connection| {
            work(connection).map_err(|source| Error::database(operation, context, source))
        })
    }

    /// Runs `work` with the connection after the store has been marked closed and before
    /// the connection is closed: for close's own last steps (the final journal export).
    pub(crate) fn with_while_closing<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        run_on(self.lock(), operation, |link| match link {
            Link::Sqlite(connection) => {
                work(connection).map_err(|source| Error::database(operation, context, source))
            }
            Link::Postgres(_) => {
                Err(StorageError::Unsupported("the journal").into_error(operation, context))
            }
        })
    }

    /// Marks this thread as running a transaction closure until the returned guard drops
    /// (also when the closure panics).
    pub(crate) fn enter_transaction(&self) -> TransactionOwner<'_> {
        self.transaction_owner
            .store(thread_token(), Ordering::Release);
        TransactionOwner { database: self }
    }

    /// Takes the connection out and closes it, waiting for whoever holds it.
    pub(crate) fn close_connection(&self) -> Result<()> {
        let link = self.lock().take();
        match link {
            Some(Link::Sqlite(connection)) => connection
                .close()
                .map_err(|(_, source)| Error::database("store.close", "close database", source)),
            Some(Link::Postgres(cell)) => cell.into_inner().close().map_err(|source| {
                crate::postgresql::error("store.close", "close the session", source)
            }),
            None => Ok(()),
        }
    }
}

/// Runs `work` on the link a guard holds, or reports `Closed` if it was taken.
fn run_on<T>(
    mut guard: MutexGuard<'_, Option<Link>>,
    operation: &'static str,
    work: impl FnOnce(&mut Link) -> Result<T>,
) -> Result<T> {
    match guard.as_mut() {
        Some(link) => work(link),
        None => Err(Error::Closed { operation }),
    }
}

/// Clears the transaction owner when dropped.
pub(crate) struct TransactionOwner<'a> {
    database: &'a Database,
}

impl Drop for TransactionOwner<'_> {
    fn drop(&mut self) {
        self.database.transaction_owner.store(0, Ordering::Release);
    }
}
