//! Transactions: several operations that commit together or not at all.
//!
//! A transaction is a closure. It starts with `BEGIN IMMEDIATE`, so it holds SQLite's write
//! lock from the start and can never fail half way through for lack of it; it holds the
//! store's connection until the closure returns, so other threads wait. Its events are
//! buffered and delivered after the commit, in order, and never for a rollback.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::kv::entries::KeyValue;
use crate::kv::events::Event;
use crate::kv::operations::{Backend, Operations, TRANSACTION_NAMES};
use crate::sqlite::paging::Paged;
use crate::storage::{Conn, Link, StorageResult};
use crate::store::Store;

/// The handle a [`Store::transaction`] closure works through. Its methods are the
/// store's, run inside the transaction: reads see the transaction's own pending writes.
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// store.transaction(|transaction| {
///     transaction.set("accounts", "alice", "90")?;
///     transaction.set("accounts", "bob", "110")?;
///     assert_eq!(transaction.count("accounts")?, 2);
///     Ok(())
/// })?;
/// assert_eq!(store.get("accounts", "bob")?, "110");
/// # Ok::<(), store::Error>(())
/// ```
pub struct Transaction<'a> {
    store: &'a Store,
    connection: Conn<'a>,
    events: RefCell<Vec<Event>>,
    /// The first database failure (or close) inside the transaction: it will roll back.
    poison: RefCell<Option<Error>>,
}

impl Store {
    /// Runs `operation` in one transaction: if it returns `Ok`, everything it wrote
    /// commits and its events are delivered; if it returns `Err` (or panics), everything
    /// is rolled back, no event is delivered, and the same error is returned.
    ///
    /// Calling the store itself (rather than the transaction handle) from inside the
    /// closure, on the same thread, returns an `inside a transaction` error instead of
    /// deadlocking.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("stock", "apples", "3")?;
    /// let result: store::Result<()> = store.transaction(|transaction| {
    ///     transaction.set("stock", "apples", "2")?;
    ///     transaction.get("stock", "pears")?; // not found: everything rolls back
    ///     Ok(())
    /// });
    /// assert!(result.unwrap_err().is_not_found());
    /// assert_eq!(store.get("stock", "apples")?, "3");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `InvalidInput` when called inside a transaction on the same thread;
    /// `Database` if SQLite cannot begin or commit; otherwise whatever the closure
    /// returned, or the first database error one of its calls met (which rolls it back
    /// even if the closure went on to return `Ok`).
    pub fn transaction<T, F>(&self, operation: F) -> Result<T>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<T>,
    {
        self.transaction_named("store.transaction", operation)
    }

    pub(crate) fn transaction_named<T, F>(&self, name: &'static str, operation: F) -> Result<T>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<T>,
    {
        let database = &self.engine.database;
        let (value, events) = database.with_link_raw(name, |link| match link {
            Link::Sqlite(connection) => {
                let connection: &Connection = connection;
                let sqlite = rusqlite::Transaction::new_unchecked(
                    connection,
                    rusqlite::TransactionBehavior::Immediate,
                )
                .map_err(|source| Error::database(name, "begin transaction", source))?;
                let _owner = database.enter_transaction();
                // A panic or an early return unwinds through here: dropping `sqlite` rolls
                // back, `_owner` clears the same-thread guard, and the lock is released.
                let (value, events) = self.run_closure(Conn::Sqlite(connection), operation)?;
                sqlite
                    .commit()
                    .map_err(|source| Error::database(name, "commit transaction", source))?;
                Ok((value, events))
            }
            Link::Postgres(cell) => {
                cell.get_mut().begin_serialised().map_err(|source| {
                    crate::postgresql::error(name, "begin transaction", source)
                })?;
                let _owner = database.enter_transaction();
                // The session has no rollback on drop: a panic is caught, rolled back here
                // and resumed, so that the session never stays inside the transaction.
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    self.run_closure(Conn::Postgres(cell), operation)
                }));
                let session = cell.get_mut();
                match outcome {
                    Ok(Ok(done)) => {
                        session.commit().map_err(|source| {
                            crate::postgresql::error(name, "commit transaction", source)
                        })?;
                        Ok(done)
                    }
                    Ok(Err(error)) => {
                        session.rollback();
                        Err(error)
                    }
                    Err(panicked) => {
                        session.rollback();
                        panic::resume_unwind(panicked)
                    }
                }
            }
        })?;
        // The connection is released (committed) before any event goes out.
        self.engine.events.dispatch_all(&events);
        Ok(value)
    }
}

impl Store {
    /// Runs a transaction's closure on `conn`: its value and buffered events, or the
    /// error that must roll it back (its own, or the first database failure it met).
    fn run_closure<T, F>(&self, conn: Conn<'_>, operation: F) -> Result<(T, Vec<Event>)>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<T>,
    {
        let mut transaction = Transaction {
            store: self,
            connection: conn,
            events: RefCell::new(Vec::new()),
            poison: RefCell::new(None),
        };
        let result = operation(&mut transaction);
        let Transaction { events, poison, .. } = transaction;
        match (result, poison.into_inner()) {
            (Err(error), _) | (Ok(_), Some(error)) => Err(error),
            (Ok(value), None) => Ok((value, events.into_inner())),
        }
    }
}

/// Inside a transaction the connection is already held; a database failure or a close
/// poisons the transaction so that it rolls back whatever the closure returns.
impl Backend for Transaction<'_> {
    fn run<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T> {
        let outcome = if self.store.is_closed() {
            Err(Error::Closed { operation })
        } else {
            let mut connection = self.connection;
            work(&mut connection).map_err(|error| error.into_error(operation, context))
        };
        if let Err(error) = &outcome {
            let mut poison = self.poison.borrow_mut();
            if poison.is_none() {
                *poison = Some(duplicate(error));
            }
        }
        outcome
    }

    fn run_atomic<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T> {
        self.run(operation, context, work)
    }

    fn wants_events(&self) -> bool {
        self.store.engine.events.has_listeners()
    }

    fn emit(&self, event: Event) {
        self.events.borrow_mut().push(event);
    }

    fn check_change_feed(&self, operation: &'static str) -> Result<()> {
        self.store.engine.database.check_change_feed(operation)
    }
}

/// A copy of a poisoning error, kept to be returned when the closure ignores the original.
fn duplicate(error: &Error) -> Error {
    match error {
        Error::Closed { operation } => Error::Closed { operation },
        Error::Database {
            operation,
            context,
            source,
        } => Error::Database {
            operation,
            context: context.clone(),
            source: match source {
                rusqlite::Error::SqliteFailure(code, message) => {
                    rusqlite::Error::SqliteFailure(*code, message.clone())
                }
                other => rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(other.to_string()),
                ),
            },
        },
        other => Error::invalid_input(other.operation(), other.to_string()),
    }
}

impl Transaction<'_> {
    pub(crate) fn operations(&self) -> Operations<'_, Self> {
        Operations {
            backend: self,
            names: &TRANSACTION_NAMES,
            scope: None,
        }
    }

    /// [`Store::get`] inside the transaction; an expired row is deleted in it.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let value = store.transaction(|transaction| {
    ///     transaction.set("config", "colour", "blue")?;
    ///     transaction.get("config", "colour")
    /// })?;
    /// assert_eq!(value, "blue");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get`].
    pub fn get(&self, group: &str, key: &str) -> Result<String> {
        self.operations().get(group, key)
    }

    /// [`Store::exists`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|transaction| {
    ///     transaction.set("g", "k", "v")?;
    ///     assert!(transaction.exists("g", "k")?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::exists`].
    pub fn exists(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().exists(group, key)
    }

    /// [`Store::set`] inside the transaction; its `Set` event follows the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|transaction| transaction.set("g", "k", "v"))?;
    /// assert_eq!(store.get("g", "k")?, "v");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set`].
    pub fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.operations().set(group, key, value)
    }

    /// [`Store::set_with_ttl`] inside the transaction.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|transaction| {
    ///     transaction.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))
    /// })?;
    /// assert!(store.exists("sessions", "alice")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_with_ttl`].
    pub fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()> {
        self.operations().set_with_ttl(group, key, value, ttl)
    }

    /// [`Store::delete`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("g", "k", "v")?;
    /// store.transaction(|transaction| transaction.delete("g", "k"))?;
    /// assert!(!store.exists("g", "k")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete`].
    pub fn delete(&self, group: &str, key: &str) -> Result<()> {
        self.operations().delete(group, key)
    }

    /// [`Store::delete_group`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("g", "k", "v")?;
    /// store.transaction(|transaction| transaction.delete_group("g"))?;
    /// assert_eq!(store.count("g")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_group`].
    pub fn delete_group(&self, group: &str) -> Result<()> {
        self.operations().delete_group(group)
    }

    /// [`Store::delete_prefix`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("tenant-a:config", "k", "v")?;
    /// store.transaction(|transaction| transaction.delete_prefix("tenant-a:"))?;
    /// assert_eq!(store.count_all("")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_prefix`].
    pub fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        self.operations().delete_prefix(group_prefix)
    }

    /// [`Store::group_exists`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let exists = store.transaction(|transaction| {
    ///     transaction.set("g", "k", "v")?;
    ///     transaction.group_exists("g")
    /// })?;
    /// assert!(exists);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::group_exists`].
    pub fn group_exists(&self, group: &str) -> Result<bool> {
        self.operations().group_exists(group)
    }

    /// [`Store::count`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let count = store.transaction(|transaction| {
    ///     transaction.set("g", "a", "1")?;
    ///     transaction.set("g", "b", "2")?;
    ///     transaction.count("g")
    /// })?;
    /// assert_eq!(count, 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::count`].
    pub fn count(&self, group: &str) -> Result<usize> {
        self.operations().count(group)
    }

    /// [`Store::count_all`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let count = store.transaction(|transaction| {
    ///     transaction.set("tenant-a:x", "k", "v")?;
    ///     transaction.count_all("tenant-a:")
    /// })?;
    /// assert_eq!(count, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::count_all`].
    pub fn count_all(&self, group_prefix: &str) -> Result<usize> {
        self.operations().count_all(group_prefix)
    }

    /// [`Store::get_all`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let all = store.transaction(|transaction| {
    ///     transaction.set("g", "k", "v")?;
    ///     transaction.get_all("g")
    /// })?;
    /// assert_eq!(all.len(), 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_all`].
    pub fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        self.operations().get_all(group)
    }

    /// [`Store::get_page`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let page = store.transaction(|transaction| {
    ///     transaction.set("g", "a", "1")?;
    ///     transaction.set("g", "b", "2")?;
    ///     transaction.get_page("g", 1, 10)
    /// })?;
    /// assert_eq!(page[0].key, "b");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_page`].
    pub fn get_page(&self, group: &str, offset: usize, limit: usize) -> Result<Vec<KeyValue>> {
        self.operations().get_page(group, offset, limit)
    }

    /// [`Store::all`] inside the transaction; the iterator borrows the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let keys = store.transaction(|transaction| {
    ///     transaction.set("g", "a", "1")?;
    ///     transaction.all("g").map(|entry| entry.map(|entry| entry.key)).collect::<store::Result<Vec<_>>>()
    /// })?;
    /// assert_eq!(keys, ["a"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn all(&self, group: &str) -> impl Iterator<Item = Result<KeyValue>> + '_ {
        let group = group.to_owned();
        Paged::new(move |after: Option<&KeyValue>| self.operations().key_page(&group, after))
    }

    /// [`Store::groups`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let groups = store.transaction(|transaction| {
    ///     transaction.set("b", "k", "v")?;
    ///     transaction.set("a", "k", "v")?;
    ///     transaction.groups("")
    /// })?;
    /// assert_eq!(groups, ["a", "b"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::groups`].
    pub fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        self.operations().groups(group_prefix)
    }

    /// [`Store::groups_iter`] inside the transaction; the iterator borrows the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let count = store.transaction(|transaction| {
    ///     transaction.set("a", "k", "v")?;
    ///     Ok(transaction.groups_iter("").count())
    /// })?;
    /// assert_eq!(count, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn groups_iter(&self, group_prefix: &str) -> impl Iterator<Item = Result<String>> + '_ {
        let prefix = group_prefix.to_owned();
        Paged::new(move |after: Option<&String>| self.operations().group_page(&prefix, after))
    }

    /// [`Store::get_split`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let parts = store.transaction(|transaction| {
    ///     transaction.set("g", "hosts", "a,b")?;
    ///     transaction.get_split("g", "hosts", ",")
    /// })?;
    /// assert_eq!(parts, ["a", "b"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_split`].
    pub fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        self.operations().get_split(group, key, separator)
    }

    /// [`Store::get_fields`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let fields = store.transaction(|transaction| {
    ///     transaction.set("g", "flags", "-v  -q")?;
    ///     transaction.get_fields("g", "flags")
    /// })?;
    /// assert_eq!(fields, ["-v", "-q"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_fields`].
    pub fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        self.operations().get_fields(group, key)
    }

    /// [`Store::render`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let text = store.transaction(|transaction| {
    ///     transaction.set("user", "name", "Ada")?;
    ///     transaction.render("hello {{ .name }}", "user")
    /// })?;
    /// assert_eq!(text, "hello Ada");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::render`].
    pub fn render(&self, template_source: &str, group: &str) -> Result<String> {
        self.operations().render(template_source, group)
    }

    /// [`Store::purge_expired`] inside the transaction (the lock is held throughout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.set_with_ttl("cache", "old", "v", Duration::ZERO)?;
    /// let removed = store.transaction(|transaction| transaction.purge_expired())?;
    /// assert_eq!(removed, 1);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::purge_expired`].
    pub fn purge_expired(&self) -> Result<u64> {
        self.operations().purge_expired()
    }
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Transaction")
            .field("store", self.store)
            .field("pending_events", &self.events.borrow().len())
            .field("is_poisoned", &self.poison.borrow().is_some())
            .finish_non_exhaustive()
    }
}
