//! The `Store` handle: opening, closing, and the key-value operations.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::config::StoreConfig;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::events::{Event, EventHub, EventType, Subscription, Watcher};
use crate::paging::{Paged, PAGE_SIZE};
use crate::purge::PurgeWorker;
use crate::schema;
use crate::sql::{self, from_sql_count, now_ms, text, to_sql_integer, PrefixEnd};
use crate::template;

/// A key and its value, as yielded by [`Store::all`] and returned by [`Store::get_page`].
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// store.set("config", "colour", "blue")?;
/// let page = store.get_page("config", 0, 10)?;
/// assert_eq!(page, vec![store::KeyValue { key: "colour".into(), value: "blue".into() }]);
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The entry's key.
    pub key: String,
    /// The entry's value.
    pub value: String,
}

// A live row has no expiry or one still in the future; `?now` is bound per statement.
const SQL_GET: &str =
    "SELECT entry_value, expires_at FROM entries WHERE group_name = ?1 AND entry_key = ?2";
const SQL_DELETE_IF_EXPIRED: &str = "DELETE FROM entries
    WHERE group_name = ?1 AND entry_key = ?2 AND expires_at IS NOT NULL AND expires_at <= ?3";
const SQL_EXISTS: &str = "SELECT 1 FROM entries
    WHERE group_name = ?1 AND entry_key = ?2 AND (expires_at IS NULL OR expires_at > ?3)";
const SQL_UPSERT: &str = "INSERT INTO entries (group_name, entry_key, entry_value, expires_at)
    VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (group_name, entry_key)
    DO UPDATE SET entry_value = excluded.entry_value, expires_at = excluded.expires_at";
const SQL_DELETE: &str = "DELETE FROM entries WHERE group_name = ?1 AND entry_key = ?2";
const SQL_DELETE_GROUP: &str = "DELETE FROM entries WHERE group_name = ?1";
const SQL_PREFIX_GROUPS_ANY: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 ORDER BY group_name";
const SQL_DELETE_PREFIX: &str = "DELETE FROM entries WHERE group_name >= ?1 AND group_name < ?2";
const SQL_COUNT: &str = "SELECT COUNT(*) FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const SQL_COUNT_PREFIX: &str = "SELECT COUNT(*) FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)";
const SQL_GET_ALL: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY entry_key";
const SQL_GET_PAGE: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2)
    ORDER BY entry_key LIMIT ?3 OFFSET ?4";
// Keyset pages: `>=` with "" (the smallest text) starts at the beginning, `>` continues.
const SQL_ALL_FIRST: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND entry_key >= ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY entry_key LIMIT ?4";
const SQL_ALL_NEXT: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND entry_key > ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY entry_key LIMIT ?4";
const SQL_GROUPS: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name";
const SQL_GROUPS_FIRST: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name LIMIT ?4";
const SQL_GROUPS_NEXT: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name > ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name LIMIT ?4";
/// At most [`PURGE_BATCH`] rows per statement, so a writer never waits behind one huge
/// delete. The row-value `IN` works on both `WITHOUT ROWID` and Go's rowid tables.
const SQL_PURGE_BATCH: &str = "DELETE FROM entries WHERE (group_name, entry_key) IN (
        SELECT group_name, entry_key FROM entries
        WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT 500)
    RETURNING group_name, entry_key";
const PURGE_BATCH: usize = 500;

/// An embedded key-value store in one SQLite file.
///
/// `Store` is a cheap handle: clone it freely and share it between threads; every clone
/// uses the same connection, and closing any of them closes them all. Dropping the last
/// clone closes the store.
///
/// ```
/// use std::time::Duration;
/// let store = store::Store::open(":memory:")?;
/// store.set("config", "colour", "blue")?;
/// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(3600))?;
/// assert_eq!(store.get("config", "colour")?, "blue");
/// assert_eq!(store.count_all("")?, 2);
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// What every clone of a store shares.
pub(crate) struct Inner {
    config: StoreConfig,
    pub(crate) database: Database,
    pub(crate) events: Arc<EventHub>,
    purge_worker: Mutex<Option<PurgeWorker>>,
}

/// What a point read found.
enum Lookup {
    Live(String),
    Missing,
    /// Expired; `was_deleted` when this read removed the row.
    Expired {
        was_deleted: bool,
    },
}

impl Store {
    /// Opens (or creates) the store at `database_path` with every other setting at its
    /// default. `":memory:"` opens a private in-memory store. Go: `New`.
    ///
    /// ```
    /// let directory = tempfile::tempdir()?;
    /// let store = store::Store::open(directory.path().join("app.db"))?;
    /// store.set("config", "colour", "blue")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Database` or `Io` (operation `store.open`) when the file cannot be opened, is not
    /// a SQLite database, or its schema cannot be made ready.
    pub fn open(database_path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(StoreConfig::new(database_path.as_ref()))
    }

    /// Opens the store described by `config`. Go: `NewConfigured`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = store::StoreConfig {
    ///     purge_interval: Duration::ZERO, // no background purge
    ///     ..store::StoreConfig::new(":memory:")
    /// };
    /// let store = store::Store::open_with(config)?;
    /// assert!(!store.is_closed());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` (`validate config: …`) for a bad configuration; otherwise as
    /// [`Store::open`].
    pub fn open_with(config: StoreConfig) -> Result<Store> {
        config.validate().map_err(|error| match error {
            Error::InvalidInput { operation, message } => Error::InvalidInput {
                operation,
                message: format!("validate config: {message}"),
            },
            other => other,
        })?;
        let config = config.normalised();
        let connection = schema::open_connection(&config.database_path, config.durability)?;
        let purge_interval = config.purge_interval;
        let store = Store {
            inner: Arc::new(Inner {
                config,
                database: Database::new(connection),
                events: Arc::new(EventHub::default()),
                purge_worker: Mutex::new(None),
            }),
        };
        if !purge_interval.is_zero() {
            let worker = PurgeWorker::start(Arc::downgrade(&store.inner), purge_interval)?;
            *store.inner.purge_worker() = Some(worker);
        }
        Ok(store)
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Store {
        Store { inner }
    }

    /// The configuration the store was opened with (an empty workspace state directory
    /// replaced by the default).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert_eq!(store.config().database_path, std::path::PathBuf::from(":memory:"));
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn config(&self) -> StoreConfig {
        self.inner.config.clone()
    }

    /// The database path exactly as given.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert_eq!(store.database_path(), std::path::PathBuf::from(":memory:"));
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn database_path(&self) -> PathBuf {
        self.inner.config.database_path.clone()
    }

    /// True once [`Store::close`] has been called on any clone.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.close()?;
    /// assert!(store.is_closed());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.database.is_closed()
    }

    /// Closes the store for every clone: later calls return [`Error::Closed`], watchers
    /// end, callbacks are forgotten, the purge thread stops, and the connection closes
    /// once any operation in progress has finished. Idempotent.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.close()?;
    /// store.close()?;
    /// assert!(matches!(store.get("g", "k"), Err(store::Error::Closed { .. })));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` when called inside a transaction on the same thread; `Database` if
    /// SQLite fails to close the file (the store is closed all the same).
    pub fn close(&self) -> Result<()> {
        // Refuse before marking anything, so that a close inside a transaction changes
        // nothing rather than waiting for a lock this thread holds.
        self.inner
            .database
            .check_not_in_transaction("store.close")?;
        self.inner.close()
    }

    /// The live value of a key. An expired row found here is deleted (with a `Delete`
    /// event) and reported as not found.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.get("config", "colour")?, "blue");
    /// assert!(store.get("config", "size").unwrap_err().is_not_found());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` when the key is missing or expired; `Closed`; `Database`.
    pub fn get(&self, group: &str, key: &str) -> Result<String> {
        self.get_as("store.get", group, key)
    }

    pub(crate) fn get_as(&self, operation: &'static str, group: &str, key: &str) -> Result<String> {
        let lookup = self
            .inner
            .database
            .with(operation, "read entry", |connection| {
                lookup(connection, group, key)
            })?;
        match lookup {
            Lookup::Live(value) => Ok(value),
            Lookup::Missing | Lookup::Expired { was_deleted: false } => {
                Err(not_found(operation, group, key))
            }
            Lookup::Expired { was_deleted: true } => {
                self.emit(|| Event::new(EventType::Delete, group, key, ""));
                Err(not_found(operation, group, key))
            }
        }
    }

    /// True if the key has a live value. Never deletes anything.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// assert!(store.exists("config", "colour")?);
    /// assert!(!store.exists("config", "size")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn exists(&self, group: &str, key: &str) -> Result<bool> {
        self.inner
            .database
            .with("store.exists", "read entry", |connection| {
                connection
                    .prepare_cached(SQL_EXISTS)?
                    .exists(params![group, key, now_ms()])
            })
    }

    /// Sets a value with no expiry (clearing any TTL the key had). Emits `Set`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "colour", "green")?;
    /// assert_eq!(store.get("config", "colour")?, "green");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.upsert("store.set", group, key, value, None)
    }

    /// Sets a value that expires after `ttl` (rounded up to whole milliseconds). A zero
    /// TTL writes an entry that is already expired. Emits `Set`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    /// assert_eq!(store.get("sessions", "alice")?, "token");
    /// store.set_with_ttl("sessions", "bob", "token", Duration::ZERO)?;
    /// assert!(store.get("sessions", "bob").unwrap_err().is_not_found());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()> {
        let expires_at = sql::expires_at(now_ms(), ttl);
        self.upsert("store.set_with_ttl", group, key, value, Some(expires_at))
    }

    fn upsert(
        &self,
        operation: &'static str,
        group: &str,
        key: &str,
        value: &str,
        expires_at: Option<i64>,
    ) -> Result<()> {
        self.inner
            .database
            .with(operation, "write entry", |connection| {
                connection
                    .prepare_cached(SQL_UPSERT)?
                    .execute(params![group, key, value, expires_at])
            })?;
        self.emit(|| Event::new(EventType::Set, group, key, value));
        Ok(())
    }

    /// Removes a key, live or expired. A missing key is not an error. Emits `Delete` when
    /// a row was removed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.delete("config", "colour")?;
    /// store.delete("config", "colour")?;
    /// assert!(!store.exists("config", "colour")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn delete(&self, group: &str, key: &str) -> Result<()> {
        let removed = self
            .inner
            .database
            .with("store.delete", "delete entry", |connection| {
                connection
                    .prepare_cached(SQL_DELETE)?
                    .execute(params![group, key])
            })?;
        if removed > 0 {
            self.emit(|| Event::new(EventType::Delete, group, key, ""));
        }
        Ok(())
    }

    /// Removes every key of a group. Emits one `DeleteGroup` when anything was removed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// store.delete_group("config")?;
    /// assert_eq!(store.count("config")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn delete_group(&self, group: &str) -> Result<()> {
        let removed =
            self.inner
                .database
                .with("store.delete_group", "delete group", |connection| {
                    connection
                        .prepare_cached(SQL_DELETE_GROUP)?
                        .execute([group])
                })?;
        if removed > 0 {
            self.emit(|| Event::new(EventType::DeleteGroup, group, "", ""));
        }
        Ok(())
    }

    /// Removes every group whose name starts with `group_prefix` (byte for byte,
    /// case-sensitive; `""` removes everything), in one transaction. Emits one
    /// `DeleteGroup` per group removed, in ascending order, after the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("tenant-a:config", "colour", "blue")?;
    /// store.set("tenant-a:cache", "page", "html")?;
    /// store.set("tenant-b:config", "colour", "red")?;
    /// store.delete_prefix("tenant-a:")?;
    /// assert_eq!(store.groups("")?, vec!["tenant-b:config".to_owned()]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database` (nothing is removed).
    pub fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        let end = PrefixEnd::new(group_prefix);
        let groups =
            self.inner
                .database
                .with("store.delete_prefix", "delete groups", |connection| {
                    let transaction = rusqlite::Transaction::new_unchecked(
                        connection,
                        rusqlite::TransactionBehavior::Immediate,
                    )?;
                    let groups = transaction
                        .prepare_cached(SQL_PREFIX_GROUPS_ANY)?
                        .query_map(params![group_prefix, end], |row| text(row, 0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?;
                    transaction
                        .prepare_cached(SQL_DELETE_PREFIX)?
                        .execute(params![group_prefix, end])?;
                    transaction.commit()?;
                    Ok(groups)
                })?;
        if self.inner.events.has_listeners() {
            for group in &groups {
                self.inner
                    .events
                    .dispatch(&Event::new(EventType::DeleteGroup, group, "", ""));
            }
        }
        Ok(())
    }

    /// True if the group has at least one live entry.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// assert!(store.group_exists("config")?);
    /// assert!(!store.group_exists("cache")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn group_exists(&self, group: &str) -> Result<bool> {
        Ok(self.count_as("store.group_exists", group)? > 0)
    }

    /// The number of live entries in a group.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// assert_eq!(store.count("config")?, 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn count(&self, group: &str) -> Result<usize> {
        self.count_as("store.count", group)
    }

    fn count_as(&self, operation: &'static str, group: &str) -> Result<usize> {
        let count: i64 = self
            .inner
            .database
            .with(operation, "count entries", |connection| {
                connection
                    .prepare_cached(SQL_COUNT)?
                    .query_row(params![group, now_ms()], |row| row.get(0))
            })?;
        Ok(from_sql_count(count))
    }

    /// The number of live entries in every group whose name starts with `group_prefix`
    /// (byte for byte, case-sensitive; `""` counts everything).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("tenant-a:config", "colour", "blue")?;
    /// store.set("tenant-a:cache", "page", "html")?;
    /// store.set("Tenant-A:config", "colour", "red")?;
    /// assert_eq!(store.count_all("tenant-a:")?, 2);
    /// assert_eq!(store.count_all("")?, 3);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn count_all(&self, group_prefix: &str) -> Result<usize> {
        let end = PrefixEnd::new(group_prefix);
        let count: i64 =
            self.inner
                .database
                .with("store.count_all", "count entries", |connection| {
                    connection
                        .prepare_cached(SQL_COUNT_PREFIX)?
                        .query_row(params![group_prefix, end, now_ms()], |row| row.get(0))
                })?;
        Ok(from_sql_count(count))
    }

    /// Every live key and value of a group.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// let all = store.get_all("config")?;
    /// assert_eq!(all.get("colour").map(String::as_str), Some("blue"));
    /// assert_eq!(all.len(), 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        self.get_all_as("store.get_all", group)
    }

    fn get_all_as(&self, operation: &'static str, group: &str) -> Result<BTreeMap<String, String>> {
        self.inner
            .database
            .with(operation, "read group", |connection| {
                connection
                    .prepare_cached(SQL_GET_ALL)?
                    .query_map(params![group, now_ms()], |row| {
                        Ok((text(row, 0)?, text(row, 1)?))
                    })?
                    .collect()
            })
    }

    /// Up to `limit` live entries of a group in key order, after skipping `offset`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// for key in ["a", "b", "c", "d"] {
    ///     store.set("letters", key, key)?;
    /// }
    /// let page = store.get_page("letters", 1, 2)?;
    /// let keys: Vec<&str> = page.iter().map(|entry| entry.key.as_str()).collect();
    /// assert_eq!(keys, ["b", "c"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn get_page(&self, group: &str, offset: usize, limit: usize) -> Result<Vec<KeyValue>> {
        if limit == 0 {
            // Still refuse on a closed store, as every other read does.
            if self.is_closed() {
                return Err(Error::Closed {
                    operation: "store.get_page",
                });
            }
            return Ok(Vec::new());
        }
        self.inner
            .database
            .with("store.get_page", "read page", |connection| {
                connection
                    .prepare_cached(SQL_GET_PAGE)?
                    .query_map(
                        params![
                            group,
                            now_ms(),
                            to_sql_integer(limit),
                            to_sql_integer(offset)
                        ],
                        key_value,
                    )?
                    .collect()
            })
    }

    /// Every live entry of a group in key order, read a page at a time. No lock is held
    /// between pages, so the loop body may use the store, writes included. Go: `All`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// for entry in store.all("config") {
    ///     let entry = entry?;
    ///     store.set("copy", &entry.key, &entry.value)?; // writing inside the loop is fine
    /// }
    /// assert_eq!(store.count("copy")?, 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn all(&self, group: &str) -> impl Iterator<Item = Result<KeyValue>> {
        let store = self.clone();
        let group = group.to_owned();
        Paged::new(move |cursor: Option<&KeyValue>| {
            let (sql, after) = match cursor {
                None => (SQL_ALL_FIRST, ""),
                Some(last) => (SQL_ALL_NEXT, last.key.as_str()),
            };
            store
                .inner
                .database
                .with("store.all", "read page", |connection| {
                    connection
                        .prepare_cached(sql)?
                        .query_map(
                            params![group, after, now_ms(), to_sql_integer(PAGE_SIZE)],
                            key_value,
                        )?
                        .collect()
                })
        })
    }

    /// The names of the groups that have a live entry and start with `group_prefix` (byte
    /// for byte, case-sensitive; `""` lists every group), in ascending order.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("tenant-a:config", "colour", "blue")?;
    /// store.set("tenant-a:cache", "page", "html")?;
    /// store.set("tenant-b:config", "colour", "red")?;
    /// assert_eq!(store.groups("tenant-a:")?, ["tenant-a:cache", "tenant-a:config"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        let end = PrefixEnd::new(group_prefix);
        self.inner
            .database
            .with("store.groups", "read groups", |connection| {
                connection
                    .prepare_cached(SQL_GROUPS)?
                    .query_map(params![group_prefix, end, now_ms()], |row| text(row, 0))?
                    .collect()
            })
    }

    /// The same names as [`Store::groups`], read a page at a time with no lock held
    /// between pages. Go: `GroupsSeq`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("a", "k", "v")?;
    /// store.set("b", "k", "v")?;
    /// let names: Vec<String> = store.groups_iter("").collect::<store::Result<_>>()?;
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn groups_iter(&self, group_prefix: &str) -> impl Iterator<Item = Result<String>> {
        let store = self.clone();
        let prefix = group_prefix.to_owned();
        let end = PrefixEnd::new(group_prefix);
        Paged::new(move |cursor: Option<&String>| {
            let (sql, after) = match cursor {
                None => (SQL_GROUPS_FIRST, prefix.as_str()),
                Some(last) => (SQL_GROUPS_NEXT, last.as_str()),
            };
            store
                .inner
                .database
                .with("store.groups_iter", "read groups", |connection| {
                    connection
                        .prepare_cached(sql)?
                        .query_map(
                            params![after, end, now_ms(), to_sql_integer(PAGE_SIZE)],
                            |row| text(row, 0),
                        )?
                        .collect()
                })
        })
    }

    /// The value split at every `separator`, as Go's `strings.Split`: empty pieces are
    /// kept, and an empty separator splits into characters.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "hosts", "a,b,,c")?;
    /// assert_eq!(store.get_split("config", "hosts", ",")?, ["a", "b", "", "c"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get`].
    pub fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        let value = self.get_as("store.get_split", group, key)?;
        Ok(split(&value, separator))
    }

    /// The value split on runs of white space, as Go's `strings.Fields`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "flags", " -v\t--colour  always\n")?;
    /// assert_eq!(store.get_fields("config", "flags")?, ["-v", "--colour", "always"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get`].
    pub fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        let value = self.get_as("store.get_fields", group, key)?;
        Ok(value.split_whitespace().map(str::to_owned).collect())
    }

    /// Renders a Go `text/template` with the group's live entries as its data, a map from
    /// key to value: `{{ .colour }}`, `{{ index . "any key" }}`, `{{ range $k, $v := . }}`.
    /// A missing key renders as `<no value>`, as in Go.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("user", "name", "Ada")?;
    /// store.set("user", "colour", "blue")?;
    /// let text = store.render("{{ .name }} likes {{ .colour }}", "user")?;
    /// assert_eq!(text, "Ada likes blue");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Template` with `parse template: …` for a malformed template or `execute template:
    /// …` when running it fails; `Closed`; `Database`.
    pub fn render(&self, template_source: &str, group: &str) -> Result<String> {
        const OPERATION: &str = "store.render";
        let data = self.get_all_as(OPERATION, group)?;
        template::render(template_source, &data).map_err(|error| Error::Template {
            operation: OPERATION,
            message: error.to_string(),
        })
    }

    /// Removes every expired entry now, in batches of at most 500 so that other callers
    /// get the connection in between, and returns how many were removed. Emits `Delete`
    /// for each, after its batch commits.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.set_with_ttl("cache", "old", "v", Duration::ZERO)?;
    /// store.set("cache", "kept", "v")?;
    /// assert_eq!(store.purge_expired()?, 1);
    /// assert_eq!(store.purge_expired()?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database` (batches already committed stay removed).
    pub fn purge_expired(&self) -> Result<u64> {
        self.purge_expired_as("store.purge_expired")
    }

    pub(crate) fn purge_expired_as(&self, operation: &'static str) -> Result<u64> {
        let cutoff = now_ms();
        let mut total = 0_u64;
        loop {
            let removed: Vec<(String, String)> =
                self.inner
                    .database
                    .with(operation, "purge expired entries", |connection| {
                        connection
                            .prepare_cached(SQL_PURGE_BATCH)?
                            .query_map([cutoff], |row| Ok((text(row, 0)?, text(row, 1)?)))?
                            .collect()
                    })?;
            total += removed.len() as u64;
            if self.inner.events.has_listeners() {
                for (group, key) in &removed {
                    self.inner
                        .events
                        .dispatch(&Event::new(EventType::Delete, group, key, ""));
                }
            }
            if removed.len() < PURGE_BATCH {
                return Ok(total);
            }
            self.inner.database.yield_to_waiters();
        }
    }

    /// A stream of the events for `group` and `key`; `"*"` in either matches anything.
    /// A `DeleteGroup` reaches every watcher of its group whatever the key. Each watcher
    /// buffers 16 events; further ones are dropped (and counted) rather than slowing the
    /// writer. On a closed store the watcher is already closed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let colour = store.watch("config", "colour");
    /// store.set("config", "size", "10")?;
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(colour.try_recv().map(|event| event.value), Some("blue".to_owned()));
    /// assert!(colour.try_recv().is_none());
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn watch(&self, group: &str, key: &str) -> Watcher {
        self.inner.events.watch(group, key)
    }

    /// Stops a watcher; the same as dropping it.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let watcher = store.watch("*", "*");
    /// store.unwatch(watcher);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn unwatch(&self, watcher: Watcher) {
        drop(watcher);
    }

    /// Calls `callback` for every event, on the thread that made the change, after the
    /// change has committed and with no lock held: the callback may read, write, watch or
    /// unregister. The write returns once every callback has. Go: `OnChange`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let mirror = store.clone();
    /// let subscription = store.on_change(move |event| {
    ///     if event.group == "config" {
    ///         mirror.set("audit", &event.key, event.kind.as_str()).ok();
    ///     }
    /// });
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.get("audit", "colour")?, "set");
    /// subscription.unregister();
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn on_change<F>(&self, callback: F) -> Subscription
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.inner.events.on_change(Arc::new(callback))
    }

    /// Delivers an event built by `make`, if anybody listens.
    pub(crate) fn emit(&self, make: impl FnOnce() -> Event) {
        if self.inner.events.has_listeners() {
            self.inner.events.dispatch(&make());
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Store")
            .field("database_path", &self.inner.config.database_path)
            .field("is_closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn purge_worker(&self) -> std::sync::MutexGuard<'_, Option<PurgeWorker>> {
        self.purge_worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) -> Result<()> {
        if !self.database.mark_closed() {
            return Ok(());
        }
        let worker = self.purge_worker().take();
        if let Some(worker) = worker {
            worker.stop();
        }
        self.events.close();
        self.database.close_connection()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            log::warn!("{error} (while dropping the last handle)");
        }
    }
}

fn lookup(connection: &Connection, group: &str, key: &str) -> rusqlite::Result<Lookup> {
    let row = connection
        .prepare_cached(SQL_GET)?
        .query_row(params![group, key], |row| {
            Ok((text(row, 0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    let Some((value, expires_at)) = row else {
        return Ok(Lookup::Missing);
    };
    let now = now_ms();
    match expires_at {
        Some(expires_at) if expires_at <= now => {
            let removed = connection
                .prepare_cached(SQL_DELETE_IF_EXPIRED)?
                .execute(params![group, key, now])?;
            Ok(Lookup::Expired {
                was_deleted: removed > 0,
            })
        }
        _ => Ok(Lookup::Live(value)),
    }
}

fn key_value(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: text(row, 0)?,
        value: text(row, 1)?,
    })
}

fn not_found(operation: &'static str, group: &str, key: &str) -> Error {
    Error::NotFound {
        operation,
        group: group.to_owned(),
        key: key.to_owned(),
    }
}

/// Go's `strings.Split`.
fn split(value: &str, separator: &str) -> Vec<String> {
    if separator.is_empty() {
        value.chars().map(String::from).collect()
    } else {
        value.split(separator).map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_good_matches_go_strings_split() {
        assert_eq!(split(",a,,b,", ","), ["", "a", "", "b", ""]);
        assert_eq!(split("", ","), [""]);
        assert_eq!(split("ab", ""), ["a", "b"]);
        assert!(split("", "").is_empty());
        assert_eq!(split("a--b", "--"), ["a", "b"]);
    }
}
