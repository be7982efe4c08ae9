//! The two subjects measured in this process: the store, and raw rusqlite running exactly
//! the store's SQL on one connection with the store's schema and pragmas.
//!
//! Both sit behind [`Backend`], so a workload is written once and both subjects do the
//! same calls with the same data and return the same owned results (`String`s, a
//! `BTreeMap` for `get_all`), which isolates what the store adds on top of SQLite: its
//! lock, closed and re-entrancy checks, error mapping and event checks.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value};
use store::{
    CompactOptions, Durability, Entry, ScopedStore, Store, StoreConfig, Subscription, Watcher,
    Workspace,
};

use crate::failure::{Context, Failure, Result};
use crate::pipeline::{self, PrefixEnd, RawWorkspace, NAMESPACE, QUOTA};
use store::statements::{self, entries as sql};

/// An entry to write before the clock starts: group, key, value, expiry (Unix ms).
pub type Row<'a> = (&'a str, &'a str, &'a str, Option<i64>);

/// What a workload can ask of a subject. Each method does what the store's method of the
/// same name does.
pub trait Backend {
    /// `Store::set`.
    fn set(&self, group: &str, key: &str, value: &str) -> Result<()>;
    /// `Store::set_with_ttl`.
    fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()>;
    /// `Store::get`, with not-found as `None`.
    fn get(&self, group: &str, key: &str) -> Result<Option<String>>;
    /// `Store::delete`.
    fn delete(&self, group: &str, key: &str) -> Result<()>;
    /// `Store::exists`.
    fn exists(&self, group: &str, key: &str) -> Result<bool>;
    /// `Store::count`.
    fn count(&self, group: &str) -> Result<usize>;
    /// `Store::get_all`.
    fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>>;
    /// Walks `Store::all` to the end and returns how many entries it yielded.
    fn all(&self, group: &str) -> Result<usize>;
    /// `Store::groups`.
    fn groups(&self, group_prefix: &str) -> Result<Vec<String>>;
    /// `Store::purge_expired`.
    fn purge_expired(&self) -> Result<u64>;
    /// Writes `rows` in one transaction, untimed set-up.
    fn load(&self, rows: &mut dyn Iterator<Item = Row<'_>>) -> Result<()>;
    /// Adds `delta` to an integer value (missing: from 0), atomically.
    fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64>;
    /// The time a live key has left (`None`: no expiry or missing).
    fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>>;
    /// Sets a live key's expiry; false when there is none.
    fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool>;
    /// Reads many keys of one group at once; returns how many were found.
    fn get_many(&self, group: &str, keys: &[&str]) -> Result<usize>;
    /// Writes many entries of one group in one transaction.
    fn set_many(&self, group: &str, rows: &[(&str, &str)]) -> Result<()>;
    /// Writes a binary value.
    fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()>;
    /// Reads a value's bytes.
    fn get_bytes(&self, group: &str, key: &str) -> Result<Option<Vec<u8>>>;
    /// `ScopedStore::set` in namespace [`NAMESPACE`] with quota [`QUOTA`].
    fn scoped_set(&self, group: &str, key: &str, value: &str) -> Result<()>;
    /// `Store::transaction` with one `set` per row, committed together.
    fn set_in_transaction(&self, rows: &mut dyn Iterator<Item = (&str, &str, &str)>) -> Result<()>;
    /// Untimed set-up: starts workspace `name`, which the next calls below use.
    fn start_workspace(&self, name: &str) -> Result<()>;
    /// `Workspace::put` into the workspace started last.
    fn workspace_put(&self, kind: &str, data: Map<String, Value>) -> Result<()>;
    /// `Workspace::commit` of the workspace started last; returns its aggregate.
    fn commit_workspace(&self) -> Result<BTreeMap<String, u64>>;
    /// `Store::commit_to_journal`.
    fn commit_to_journal(
        &self,
        measurement: &str,
        fields: &Map<String, Value>,
        tags: &BTreeMap<String, String>,
    ) -> Result<()>;
    /// `Store::query_journal` with the Flux query; returns the rows.
    fn query_journal(&self, query: &pipeline::JournalQuery) -> Result<Vec<Map<String, Value>>>;
    /// `Store::compact` of every point committed up to now, into gzip; returns whether an
    /// archive was written.
    fn compact(&self) -> Result<bool>;
    /// Untimed set-up: writes journal points `range` (see [`pipeline::point`]).
    fn load_points(&self, range: std::ops::Range<usize>) -> Result<()>;
    /// The store, for workloads that use what only the store has (events).
    fn as_store(&self) -> Option<&StoreBackend> {
        None
    }
}

/// Where each subject keeps its workspaces and archives, inside the run's directory.
fn scratch(directory: &Path, subject: &str, what: &str) -> PathBuf {
    directory.join(format!("{subject}-{what}"))
}

/// The cutoff of the compaction: everything committed up to now (and a second more, so
/// that points of the current millisecond are in).
fn compact_cutoff() -> SystemTime {
    SystemTime::now() + Duration::from_secs(1)
}

/// Unix milliseconds, as the store computes them.
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The store's configuration for a benchmark: no background purge (it would run at a
/// random point of some workload), the durability under test.
#[must_use]
pub fn store_config(path: &Path, durability: Durability) -> StoreConfig {
    StoreConfig {
        purge_interval: Duration::ZERO,
        durability,
        ..StoreConfig::new(path)
    }
}

/// The store under test, and the listeners some workloads register on it.
pub struct StoreBackend {
    store: Store,
    scoped: ScopedStore,
    archive_directory: PathBuf,
    workspace: RefCell<Option<Workspace>>,
    watchers: RefCell<Vec<Watcher>>,
    subscriptions: RefCell<Vec<Subscription>>,
}

impl StoreBackend {
    /// Opens the store at `path` (`:memory:` for memory).
    ///
    /// # Errors
    ///
    /// When the store cannot be opened.
    /// Its workspaces and archives go under `directory`.
    pub fn open(path: &Path, durability: Durability, directory: &Path) -> Result<StoreBackend> {
        let store = Store::open_with(StoreConfig {
            workspace_state_directory: scratch(directory, "store", "state"),
            ..store_config(path, durability)
        })?;
        let scoped = ScopedStore::with_quota(&store, NAMESPACE, QUOTA)?;
        Ok(StoreBackend {
            store,
            scoped,
            archive_directory: scratch(directory, "store", "archive"),
            workspace: RefCell::new(None),
            watchers: RefCell::new(Vec::new()),
            subscriptions: RefCell::new(Vec::new()),
        })
    }

    /// Registers a watcher that lives as long as this backend.
    pub fn watch(&self, group: &str, key: &str) {
        self.watchers
            .borrow_mut()
            .push(self.store.watch(group, key));
    }

    /// Registers a callback that counts the events it sees.
    pub fn count_changes(&self, counter: &Arc<AtomicU64>) {
        let counter = Arc::clone(counter);
        let subscription = self.store.on_change(move |_event| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        self.subscriptions.borrow_mut().push(subscription);
    }

    /// Empties every watcher's buffer, as the watchers' readers would.
    pub fn drain_watchers(&self) {
        for watcher in self.watchers.borrow().iter() {
            while watcher.try_recv().is_some() {}
        }
    }

    /// Closes the store.
    ///
    /// # Errors
    ///
    /// When SQLite fails to close the file.
    pub fn close(&self) -> Result<()> {
        Ok(self.store.close()?)
    }
}

impl Backend for StoreBackend {
    fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        Ok(self.store.set(group, key, value)?)
    }

    fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()> {
        Ok(self.store.set_with_ttl(group, key, value, ttl)?)
    }

    fn get(&self, group: &str, key: &str) -> Result<Option<String>> {
        match self.store.get(group, key) {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn delete(&self, group: &str, key: &str) -> Result<()> {
        Ok(self.store.delete(group, key)?)
    }

    fn exists(&self, group: &str, key: &str) -> Result<bool> {
        Ok(self.store.exists(group, key)?)
    }

    fn count(&self, group: &str) -> Result<usize> {
        Ok(self.store.count(group)?)
    }

    fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.store.get_all(group)?)
    }

    fn all(&self, group: &str) -> Result<usize> {
        let mut yielded = 0;
        for entry in self.store.all(group) {
            entry?;
            yielded += 1;
        }
        Ok(yielded)
    }

    fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        Ok(self.store.groups(group_prefix)?)
    }

    fn purge_expired(&self) -> Result<u64> {
        Ok(self.store.purge_expired()?)
    }

    fn load(&self, rows: &mut dyn Iterator<Item = Row<'_>>) -> Result<()> {
        self.store
            .import(rows.map(|(group, key, value, expires_at)| Entry {
                group: group.to_owned(),
                key: key.to_owned(),
                value: value.to_owned(),
                expires_at,
            }))?;
        Ok(())
    }

    fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        Ok(self.store.increment(group, key, delta)?)
    }

    fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        match self.store.ttl(group, key) {
            Ok(left) => Ok(left),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        Ok(self.store.expire(group, key, ttl)?)
    }

    fn get_many(&self, group: &str, keys: &[&str]) -> Result<usize> {
        let values = self.store.get_many(group, keys)?;
        Ok(values.iter().filter(|value| value.is_some()).count())
    }

    fn set_many(&self, group: &str, rows: &[(&str, &str)]) -> Result<()> {
        Ok(self.store.set_many(group, rows.iter().copied())?)
    }

    fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.store.set_bytes(group, key, value)?)
    }

    fn get_bytes(&self, group: &str, key: &str) -> Result<Option<Vec<u8>>> {
        match self.store.get_bytes(group, key) {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn scoped_set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        Ok(self.scoped.set(group, key, value)?)
    }

    fn set_in_transaction(&self, rows: &mut dyn Iterator<Item = (&str, &str, &str)>) -> Result<()> {
        Ok(self.store.transaction(|transaction| {
            for (group, key, value) in rows {
                transaction.set(group, key, value)?;
            }
            Ok(())
        })?)
    }

    fn start_workspace(&self, name: &str) -> Result<()> {
        let workspace = self.store.new_workspace(name)?;
        if let Some(previous) = self.workspace.replace(Some(workspace)) {
            previous.discard()?;
        }
        Ok(())
    }

    fn workspace_put(&self, kind: &str, data: Map<String, Value>) -> Result<()> {
        let workspace = self.workspace.borrow();
        let workspace = workspace
            .as_ref()
            .ok_or_else(|| Failure::new("no workspace started"))?;
        Ok(workspace.put(kind, data)?)
    }

    fn commit_workspace(&self) -> Result<BTreeMap<String, u64>> {
        let workspace = self
            .workspace
            .take()
            .ok_or_else(|| Failure::new("no workspace started"))?;
        Ok(workspace.commit()?)
    }

    fn commit_to_journal(
        &self,
        measurement: &str,
        fields: &Map<String, Value>,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.store.commit_to_journal(measurement, fields, tags)?;
        Ok(())
    }

    fn query_journal(&self, query: &pipeline::JournalQuery) -> Result<Vec<Map<String, Value>>> {
        Ok(self.store.query_journal(&query.flux())?)
    }

    fn compact(&self) -> Result<bool> {
        let archive = self.store.compact(CompactOptions {
            output: self.archive_directory.clone(),
            ..CompactOptions::new(compact_cutoff())
        })?;
        Ok(archive.is_some())
    }

    /// A file store's points are written through a second connection in one transaction
    /// (the store has no bulk journal write, and one `fsync` per point would take minutes
    /// in `full`); an in-memory store's, which no other connection can reach, one
    /// `commit_to_journal` each.
    fn load_points(&self, range: std::ops::Range<usize>) -> Result<()> {
        let path = self.store.database_path();
        if path.as_os_str() == ":memory:" {
            for index in range {
                let (fields, tags) = pipeline::point(index);
                self.store
                    .commit_to_journal(pipeline::MEASUREMENT, &fields, &tags)?;
            }
            return Ok(());
        }
        let loader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        loader.busy_timeout(BUSY_TIMEOUT)?;
        pipeline::load_points(&loader, range)
    }

    fn as_store(&self) -> Option<&StoreBackend> {
        Some(self)
    }
}

// The store's own statements and settings, so the baseline runs the same SQL by
// construction (`store::statements`, hidden from the store's docs).
const SQL_GET: &str = sql::GET;
const SQL_DELETE_IF_EXPIRED: &str = sql::DELETE_IF_EXPIRED;
const SQL_EXISTS: &str = sql::EXISTS;
const SQL_UPSERT: &str = sql::UPSERT;
const SQL_DELETE: &str = sql::DELETE;
const SQL_COUNT: &str = sql::COUNT;
const SQL_GET_ALL: &str = sql::GET_ALL;
const SQL_KEYS_FIRST: &str = sql::KEYS_FIRST;
const SQL_KEYS_NEXT: &str = sql::KEYS_NEXT;
const SQL_GROUPS: &str = sql::GROUPS;
const SQL_PURGE_BATCH: &str = sql::PURGE_BATCH;
const SQL_TTL: &str = sql::TTL;
const SQL_EXPIRE: &str = sql::EXPIRE;
const SQL_GET_MANY: &str = sql::GET_MANY;
/// The store's page size for `all()` and its purge batch.
#[allow(clippy::cast_possible_wrap)] // 256 and 500
const PAGE_SIZE: i64 = statements::PAGE_SIZE as i64;
const PURGE_BATCH: usize = sql::PURGE_BATCH_SIZE;
#[allow(clippy::cast_possible_wrap)]
const PURGE_BATCH_LIMIT: i64 = sql::PURGE_BATCH_SIZE as i64;
/// The store's busy timeout and statement cache.
const BUSY_TIMEOUT: Duration = statements::BUSY_TIMEOUT;
const STATEMENT_CACHE_CAPACITY: usize = statements::STATEMENT_CACHE_CAPACITY;

/// The store's upsert before issue 13 (revisions): no `revision` column, no change
/// history, no triggers. The "set as it was" baseline runs it on [`RawBackend::open`]'s
/// schema with the change history taken out ([`RawBackend::open_without_revisions`]).
pub const SQL_UPSERT_WITHOUT_REVISION: &str =
    "INSERT INTO entries (group_name, entry_key, entry_value, expires_at)
    VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (group_name, entry_key)
    DO UPDATE SET entry_value = excluded.entry_value, expires_at = excluded.expires_at";

/// What the change history adds to the store's schema, removed in this order to give
/// the schema of the release before revisions: the triggers on `entries`, the history
/// table, the `revision` column.
const DROP_CHANGE_HISTORY: &str = "DROP TABLE entry_changes;
    ALTER TABLE entries DROP COLUMN revision";

/// The floor: one rusqlite connection running the store's statements directly.
pub struct RawBackend {
    connection: Connection,
    /// The upsert every write runs: the store's, or the one before revisions.
    upsert: &'static str,
    workspace_directory: PathBuf,
    archive_directory: PathBuf,
    workspace: RefCell<Option<RawWorkspace>>,
    /// Numbers the workspace ids and archive names.
    serial: Cell<u64>,
}

/// The store's schema as SQL, read from a database the store itself created.
fn store_schema(path: &Path) -> Result<Vec<String>> {
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let schema = connection
        .prepare(
            "SELECT sql FROM sqlite_master
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(schema)
}

impl RawBackend {
    /// Opens `path` (`:memory:` for memory) with the store's schema and pragmas. A file
    /// is first created by the store itself, so its schema is the store's by
    /// construction; an in-memory database runs the statements that created the tables
    /// and indexes of a file the store created. Its workspaces and archives go under
    /// `directory`.
    ///
    /// # Errors
    ///
    /// When the database cannot be opened or prepared.
    pub fn open(path: &Path, durability: Durability, directory: &Path) -> Result<RawBackend> {
        RawBackend::open_as("raw", path, durability, directory)
    }

    /// [`RawBackend::open`] for a subject whose scratch directories are named `subject`.
    fn open_as(
        subject: &str,
        path: &Path,
        durability: Durability,
        directory: &Path,
    ) -> Result<RawBackend> {
        let is_memory = path.as_os_str() == ":memory:";
        let connection = if is_memory {
            let template = tempfile::tempdir().context("create a temporary directory")?;
            let template_path = template.path().join("schema.db");
            Store::open_with(store_config(&template_path, durability))?.close()?;
            let connection = Connection::open_in_memory()?;
            for statement in store_schema(&template_path)? {
                connection.execute_batch(&statement)?;
            }
            connection
        } else {
            Store::open_with(store_config(path, durability))?.close()?;
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            Connection::open_with_flags(path, flags)?
        };
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |_row| Ok(()))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let synchronous = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        connection.pragma_update(None, "synchronous", synchronous)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(RawBackend {
            connection,
            upsert: SQL_UPSERT,
            workspace_directory: scratch(directory, subject, "state"),
            archive_directory: scratch(directory, subject, "archive"),
            workspace: RefCell::new(None),
            serial: Cell::new(0),
        })
    }

    /// [`RawBackend::open`] with the change history taken out of the schema (its
    /// triggers, the `entry_changes` table and the `revision` column of `entries`), running
    /// [`SQL_UPSERT_WITHOUT_REVISION`]: the store's writes as they were before revisions.
    ///
    /// # Errors
    ///
    /// As [`RawBackend::open`], or when the history cannot be removed.
    pub fn open_without_revisions(
        path: &Path,
        durability: Durability,
        directory: &Path,
    ) -> Result<RawBackend> {
        let mut backend = RawBackend::open_as("raw-norev", path, durability, directory)?;
        let triggers: Vec<String> = backend
            .connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'",
            )?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for trigger in triggers {
            backend.connection.execute_batch(&format!(
                "DROP TRIGGER \"{}\"",
                trigger.replace('"', "\"\"")
            ))?;
        }
        backend.connection.execute_batch(DROP_CHANGE_HISTORY)?;
        backend.upsert = SQL_UPSERT_WITHOUT_REVISION;
        Ok(backend)
    }

    fn next_serial(&self) -> u64 {
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        serial
    }

    fn upsert(&self, group: &str, key: &str, value: &str, expires_at: Option<i64>) -> Result<()> {
        self.connection
            .prepare_cached(self.upsert)?
            .execute(params![group, key, value, expires_at])?;
        Ok(())
    }

    fn page(&self, group: &str, after: Option<&str>) -> Result<Vec<(String, String)>> {
        let (sql, after) = match after {
            None => (SQL_KEYS_FIRST, ""),
            Some(last) => (SQL_KEYS_NEXT, last),
        };
        Ok(self
            .connection
            .prepare_cached(sql)?
            .query_map(params![group, after, now_ms(), PAGE_SIZE], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }
}

/// The store's expiry: `now + ceil(ttl in ms)`, saturating.
fn expires_at(ttl: Duration) -> i64 {
    let ttl_ms = i64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
    now_ms().saturating_add(ttl_ms)
}

impl Backend for RawBackend {
    fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.upsert(group, key, value, None)
    }

    fn set_with_ttl(&self, group: &str, key: &str, value: &str, ttl: Duration) -> Result<()> {
        self.upsert(group, key, value, Some(expires_at(ttl)))
    }

    fn get(&self, group: &str, key: &str) -> Result<Option<String>> {
        let row = self
            .connection
            .prepare_cached(SQL_GET)?
            .query_row(params![group, key], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
            })
            .optional()?;
        let Some((value, expires_at)) = row else {
            return Ok(None);
        };
        let now = now_ms();
        match expires_at {
            Some(expires_at) if expires_at <= now => {
                self.connection
                    .prepare_cached(SQL_DELETE_IF_EXPIRED)?
                    .execute(params![group, key, now])?;
                Ok(None)
            }
            _ => Ok(Some(value)),
        }
    }

    fn delete(&self, group: &str, key: &str) -> Result<()> {
        self.connection
            .prepare_cached(SQL_DELETE)?
            .execute(params![group, key])?;
        Ok(())
    }

    fn exists(&self, group: &str, key: &str) -> Result<bool> {
        Ok(self
            .connection
            .prepare_cached(SQL_EXISTS)?
            .exists(params![group, key, now_ms()])?)
    }

    fn count(&self, group: &str) -> Result<usize> {
        let count: i64 = self
            .connection
            .prepare_cached(SQL_COUNT)?
            .query_row(params![group, now_ms()], |row| row.get(0))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        Ok(self
            .connection
            .prepare_cached(SQL_GET_ALL)?
            .query_map(params![group, now_ms()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn all(&self, group: &str) -> Result<usize> {
        let mut yielded = 0;
        let mut page = self.page(group, None)?;
        loop {
            yielded += page.len();
            if page.len() < usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX) {
                return Ok(yielded);
            }
            let last = page.pop().map(|(key, _value)| key);
            page = self.page(group, last.as_deref())?;
        }
    }

    fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .connection
            .prepare_cached(SQL_GROUPS)?
            .query_map(
                params![group_prefix, PrefixEnd::new(group_prefix), now_ms()],
                |row| row.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn purge_expired(&self) -> Result<u64> {
        let cutoff = now_ms();
        let mut total = 0_u64;
        loop {
            let removed: Vec<(String, String)> = self
                .connection
                .prepare_cached(SQL_PURGE_BATCH)?
                // The whole store: from "" up to an empty BLOB, which sorts after all text.
                .query_map(
                    params![
                        cutoff,
                        "",
                        rusqlite::types::Value::Blob(Vec::new()),
                        PURGE_BATCH_LIMIT
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?
                .collect::<rusqlite::Result<_>>()?;
            total += removed.len() as u64;
            if removed.len() < PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    fn load(&self, rows: &mut dyn Iterator<Item = Row<'_>>) -> Result<()> {
        let transaction = rusqlite::Transaction::new_unchecked(
            &self.connection,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        {
            let mut statement = transaction.prepare_cached(self.upsert)?;
            for (group, key, value, expires_at) in rows {
                statement.execute(params![group, key, value, expires_at])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        // The store's: BEGIN IMMEDIATE, read the live row, write the sum with its expiry.
        let transaction = rusqlite::Transaction::new_unchecked(
            &self.connection,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        let row = transaction
            .prepare_cached(SQL_GET)?
            .query_row(params![group, key], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
            })
            .optional()?;
        let now = now_ms();
        let (current, expires_at) = match row {
            Some((value, expires_at)) if expires_at.is_none_or(|at| at > now) => (
                value
                    .parse::<i64>()
                    .map_err(|_| Failure::new(format!("{key} is not an integer")))?,
                expires_at,
            ),
            _ => (0, None),
        };
        let next = current
            .checked_add(delta)
            .ok_or_else(|| Failure::new("overflow".to_owned()))?;
        transaction.prepare_cached(self.upsert)?.execute(params![
            group,
            key,
            next.to_string(),
            expires_at
        ])?;
        transaction.commit()?;
        Ok(next)
    }

    fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        let expiry: Option<Option<i64>> = self
            .connection
            .prepare_cached(SQL_TTL)?
            .query_row(params![group, key, now_ms()], |row| row.get(0))
            .optional()?;
        Ok(expiry.flatten().map(|at| {
            Duration::from_millis(u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0))
        }))
    }

    fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        let changed = self
            .connection
            .prepare_cached(SQL_EXPIRE)?
            .execute(params![group, key, expires_at(ttl), now_ms()])?;
        Ok(changed > 0)
    }

    fn get_many(&self, group: &str, keys: &[&str]) -> Result<usize> {
        let json = serde_json::to_string(keys).map_err(|error| Failure::new(error.to_string()))?;
        let mut statement = self.connection.prepare_cached(SQL_GET_MANY)?;
        let mut rows = statement.query(params![group, json, now_ms()])?;
        let mut found = std::collections::HashMap::with_capacity(keys.len());
        while let Some(row) = rows.next()? {
            found.insert(row.get::<_, String>(0)?, row.get::<_, String>(1)?);
        }
        let values: Vec<Option<String>> = keys.iter().map(|key| found.remove(*key)).collect();
        Ok(values.iter().filter(|value| value.is_some()).count())
    }

    fn set_many(&self, group: &str, rows: &[(&str, &str)]) -> Result<()> {
        let transaction = rusqlite::Transaction::new_unchecked(
            &self.connection,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        for (key, value) in rows {
            transaction.prepare_cached(self.upsert)?.execute(params![
                group,
                key,
                value,
                Option::<i64>::None
            ])?;
        }
        transaction.commit()?;
        Ok(())
    }

    fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        self.connection
            .prepare_cached(self.upsert)?
            .execute(params![group, key, value, Option::<i64>::None])?;
        Ok(())
    }

    fn get_bytes(&self, group: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .connection
            .prepare_cached(SQL_GET)?
            .query_row(params![group, key], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Option<i64>>(1)?))
            })
            .optional()?;
        Ok(row
            .filter(|(_, expires_at)| expires_at.is_none_or(|at| at > now_ms()))
            .map(|(value, _)| value))
    }

    fn scoped_set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        pipeline::scoped_set(&self.connection, self.upsert, group, key, value)
    }

    fn set_in_transaction(&self, rows: &mut dyn Iterator<Item = (&str, &str, &str)>) -> Result<()> {
        let transaction = rusqlite::Transaction::new_unchecked(
            &self.connection,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        for (group, key, value) in rows {
            transaction.prepare_cached(self.upsert)?.execute(params![
                group,
                key,
                value,
                Option::<i64>::None
            ])?;
        }
        transaction.commit()?;
        Ok(())
    }

    fn start_workspace(&self, name: &str) -> Result<()> {
        let id = format!("{:032x}", self.next_serial());
        let workspace = pipeline::create_workspace(&self.workspace_directory, name, &id)?;
        drop(self.workspace.replace(Some(workspace)));
        Ok(())
    }

    fn workspace_put(&self, kind: &str, data: Map<String, Value>) -> Result<()> {
        let workspace = self.workspace.borrow();
        workspace
            .as_ref()
            .ok_or_else(|| Failure::new("no workspace started"))?
            .put(kind, &data)
    }

    fn commit_workspace(&self) -> Result<BTreeMap<String, u64>> {
        let workspace = self
            .workspace
            .take()
            .ok_or_else(|| Failure::new("no workspace started"))?;
        workspace.commit(&self.connection, self.upsert)
    }

    fn commit_to_journal(
        &self,
        measurement: &str,
        fields: &Map<String, Value>,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        pipeline::commit_point(&self.connection, measurement, fields, tags)
    }

    fn query_journal(&self, query: &pipeline::JournalQuery) -> Result<Vec<Map<String, Value>>> {
        pipeline::query_journal(&self.connection, query)
    }

    fn compact(&self) -> Result<bool> {
        let cutoff = compact_cutoff()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX)
            });
        let name = format!("journal-raw-{}.jsonl.gz", self.next_serial());
        let archived = pipeline::compact(&self.connection, &self.archive_directory, &name, cutoff)?;
        Ok(archived > 0)
    }

    fn load_points(&self, range: std::ops::Range<usize>) -> Result<()> {
        pipeline::load_points(&self.connection, range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_and_pragmas(connection: &Connection) -> Result<(Vec<String>, String, i64)> {
        let schema = connection
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let journal_mode = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        let synchronous = connection.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
        Ok((schema, journal_mode, synchronous))
    }

    #[test]
    fn raw_memory_schema_matches_store_file_schema() -> Result<()> {
        let directory = tempfile::tempdir()?;
        for durability in [Durability::Full, Durability::Normal] {
            let path = directory.path().join(format!("raw-{durability:?}.db"));
            let raw = RawBackend::open(&path, durability, directory.path())?;
            let memory = RawBackend::open(Path::new(":memory:"), durability, directory.path())?;
            let (file_schema, file_mode, file_sync) = schema_and_pragmas(&raw.connection)?;
            let (memory_schema, memory_mode, memory_sync) = schema_and_pragmas(&memory.connection)?;
            assert_eq!(file_schema, memory_schema);
            assert_eq!(
                (file_mode.as_str(), memory_mode.as_str()),
                ("wal", "memory")
            );
            let expected = if durability == Durability::Normal {
                1
            } else {
                2
            };
            assert_eq!((file_sync, memory_sync), (expected, expected));
        }
        Ok(())
    }

    #[test]
    fn raw_without_revisions_has_the_schema_before_revisions() -> Result<()> {
        let directory = tempfile::tempdir()?;
        let path = directory.path().join("norev.db");
        let file = RawBackend::open_without_revisions(&path, Durability::Normal, directory.path())?;
        let memory = RawBackend::open_without_revisions(
            Path::new(":memory:"),
            Durability::Normal,
            directory.path(),
        )?;
        let (file_schema, _, _) = schema_and_pragmas(&file.connection)?;
        let (memory_schema, _, _) = schema_and_pragmas(&memory.connection)?;
        assert_eq!(file_schema, memory_schema);
        let joined = file_schema.join("\n");
        assert!(!joined.contains("entry_changes"), "{joined}");
        assert!(!joined.contains("TRIGGER"), "{joined}");
        assert!(!joined.contains("revision"), "{joined}");
        assert!(joined.contains("CREATE TABLE entries"), "{joined}");
        let (with, without) = {
            let directory = directory.path();
            let with = RawBackend::open(Path::new(":memory:"), Durability::Normal, directory)?;
            (with.upsert, memory.upsert)
        };
        assert_eq!((with, without), (SQL_UPSERT, SQL_UPSERT_WITHOUT_REVISION));
        memory.set("g", "k", "v")?;
        assert_eq!(memory.get("g", "k")?, Some("v".to_owned()));
        Ok(())
    }

    #[test]
    fn raw_and_store_agree_on_every_operation() -> Result<()> {
        let directory = tempfile::tempdir()?;
        let memory = Path::new(":memory:");
        let raw = RawBackend::open(memory, Durability::Full, directory.path())?;
        let store = StoreBackend::open(memory, Durability::Full, directory.path())?;
        let norev = RawBackend::open_without_revisions(memory, Durability::Full, directory.path())?;
        let backends: [&dyn Backend; 3] = [&raw, &store, &norev];
        let mut journals = Vec::new();
        for backend in backends {
            let rows = [
                ("g1", "a", "1", None),
                ("g1", "b", "2", None),
                ("g2", "c", "3", Some(1)),
            ];
            backend.load(&mut rows.into_iter())?;
            backend.set("g2", "d", "4")?;
            backend.set_with_ttl("g2", "e", "5", Duration::from_secs(60))?;
            assert_eq!(backend.get("g1", "a")?, Some("1".to_owned()));
            assert_eq!(backend.get("g2", "c")?, None);
            assert!(backend.exists("g2", "e")?);
            assert_eq!(backend.count("g1")?, 2);
            assert_eq!(backend.get_all("g1")?.len(), 2);
            assert_eq!(backend.all("g2")?, 2);
            assert_eq!(backend.groups("")?, ["g1", "g2"]);
            backend.set_with_ttl("g2", "f", "6", Duration::ZERO)?;
            assert_eq!(backend.purge_expired()?, 1);
            backend.delete("g1", "a")?;
            assert_eq!(backend.count("g1")?, 1);

            backend.scoped_set("g3", "s", "7")?;
            assert_eq!(
                backend.get(&format!("{NAMESPACE}:g3"), "s")?,
                Some("7".to_owned())
            );
            backend.set_in_transaction(&mut [("g4", "t1", "8"), ("g4", "t2", "9")].into_iter())?;
            assert_eq!(backend.count("g4")?, 2);

            backend.start_workspace("run")?;
            backend.workspace_put("like", pipeline::record(1, "ada"))?;
            backend.workspace_put("like", pipeline::record(2, "bob"))?;
            backend.workspace_put("match", pipeline::record(3, "cy"))?;
            let aggregate = backend.commit_workspace()?;
            assert_eq!(
                aggregate,
                BTreeMap::from([("like".to_owned(), 2), ("match".to_owned(), 1)])
            );
            assert_eq!(
                backend.get("workspace:run", "summary")?,
                Some(r#"{"like":2,"match":1}"#.to_owned())
            );

            backend.load_points(0..20)?;
            let (fields, tags) = pipeline::point(23);
            backend.commit_to_journal(pipeline::MEASUREMENT, &fields, &tags)?;
            let rows = backend.query_journal(&pipeline::FLUX_QUERY)?;
            assert_eq!(rows.len(), 3, "points 3, 13 and 23 are on host-03");
            journals.push(
                rows.into_iter()
                    .map(|mut row| {
                        row.remove("committed_at");
                        row
                    })
                    .collect::<Vec<_>>(),
            );
            assert!(backend.compact()?);
            assert!(backend.query_journal(&pipeline::FLUX_QUERY)?.is_empty());
            assert!(!backend.compact()?);
        }
        assert_eq!(journals[0], journals[1]);
        assert_eq!(journals[0], journals[2]);
        for subject in ["raw", "store", "raw-norev"] {
            let mut archives: Vec<_> =
                std::fs::read_dir(directory.path().join(format!("{subject}-archive")))?
                    .collect::<std::io::Result<_>>()?;
            // Not the compaction lock (`.journal-compact.lock`) the store keeps there.
            archives.retain(|entry| entry.file_name().to_string_lossy().starts_with("journal-"));
            assert_eq!(archives.len(), 1);
            let points = store::read_archive(&archives[0].path())?;
            assert_eq!(
                points.len(),
                22,
                "{subject}: the workspace's point and 21 others"
            );
        }
        Ok(())
    }
}
