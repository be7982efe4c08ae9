//! The two subjects measured in this process: the store, and raw rusqlite running exactly
//! the store's SQL on one connection with the store's schema and pragmas.
//!
//! Both sit behind [`Backend`], so a workload is written once and both subjects do the
//! same calls with the same data and return the same owned results (`String`s, a
//! `BTreeMap` for `get_all`), which isolates what the store adds on top of SQLite: its
//! lock, closed and re-entrancy checks, error mapping and event checks.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, ToSql};
use store::{Durability, Entry, Store, StoreConfig, Subscription, Watcher};

use crate::failure::Result;

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
    /// The store, for workloads that use what only the store has (events).
    fn as_store(&self) -> Option<&StoreBackend> {
        None
    }
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
    watchers: RefCell<Vec<Watcher>>,
    subscriptions: RefCell<Vec<Subscription>>,
}

impl StoreBackend {
    /// Opens the store at `path` (`:memory:` for memory).
    ///
    /// # Errors
    ///
    /// When the store cannot be opened.
    pub fn open(path: &Path, durability: Durability) -> Result<StoreBackend> {
        Ok(StoreBackend {
            store: Store::open_with(store_config(path, durability))?,
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

    fn as_store(&self) -> Option<&StoreBackend> {
        Some(self)
    }
}

// The store's SQL, character for character (`crates/store/src/entries.rs` and `schema.rs`);
// the test `raw_sql_is_the_stores_sql` fails if the store's text changes.
const CREATE_ENTRIES: &str = "CREATE TABLE IF NOT EXISTS entries (
    group_name  TEXT NOT NULL,
    entry_key   TEXT NOT NULL,
    entry_value TEXT NOT NULL,
    expires_at  INTEGER,
    PRIMARY KEY (group_name, entry_key)
) WITHOUT ROWID";
const CREATE_EXPIRES_AT_INDEX: &str = "CREATE INDEX IF NOT EXISTS entries_expires_at_idx
    ON entries (expires_at) WHERE expires_at IS NOT NULL";
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
const SQL_COUNT: &str = "SELECT COUNT(*) FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const SQL_GET_ALL: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY entry_key";
const SQL_KEYS_FIRST: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND entry_key >= ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY entry_key LIMIT ?4";
const SQL_KEYS_NEXT: &str = "SELECT entry_key, entry_value FROM entries
    WHERE group_name = ?1 AND entry_key > ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY entry_key LIMIT ?4";
const SQL_GROUPS: &str = "SELECT DISTINCT group_name FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name";
const SQL_PURGE_BATCH: &str = "DELETE FROM entries WHERE (group_name, entry_key) IN (
        SELECT group_name, entry_key FROM entries
        WHERE expires_at IS NOT NULL AND expires_at <= ?1 AND group_name >= ?2 AND group_name < ?3
        LIMIT ?4)
    RETURNING group_name, entry_key";
/// The store's page size for `all()` and its purge batch.
const PAGE_SIZE: i64 = 256;
const PURGE_BATCH: usize = 500;
const PURGE_BATCH_LIMIT: i64 = 500;
/// The store's pragmas and statement cache (`crates/store/src/schema.rs`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The floor: one rusqlite connection running the store's statements directly.
pub struct RawBackend {
    connection: Connection,
}

impl RawBackend {
    /// Opens `path` (`:memory:` for memory) with the store's schema and pragmas. A file
    /// is first created by the store itself, so its schema is the store's by
    /// construction; an in-memory database runs the store's `CREATE` statements.
    ///
    /// # Errors
    ///
    /// When the database cannot be opened or prepared.
    pub fn open(path: &Path, durability: Durability) -> Result<RawBackend> {
        let is_memory = path.as_os_str() == ":memory:";
        let connection = if is_memory {
            Connection::open_in_memory()?
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
        if is_memory {
            connection.execute_batch(CREATE_ENTRIES)?;
            connection.execute_batch(CREATE_EXPIRES_AT_INDEX)?;
        }
        Ok(RawBackend { connection })
    }

    fn upsert(&self, group: &str, key: &str, value: &str, expires_at: Option<i64>) -> Result<()> {
        self.connection
            .prepare_cached(SQL_UPSERT)?
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

/// The exclusive upper bound of the names starting with a prefix, bound as the store
/// binds it: the prefix with its last byte incremented, or an empty `BLOB` (which sorts
/// after all text) when there is none.
struct PrefixEnd(Option<Vec<u8>>);

impl PrefixEnd {
    fn new(prefix: &str) -> PrefixEnd {
        let mut bytes = prefix.as_bytes().to_vec();
        while let Some(last) = bytes.pop() {
            if last < u8::MAX {
                bytes.push(last + 1);
                return PrefixEnd(Some(bytes));
            }
        }
        PrefixEnd(None)
    }
}

impl ToSql for PrefixEnd {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match &self.0 {
            Some(bytes) => ValueRef::Text(bytes),
            None => ValueRef::Blob(&[]),
        }))
    }
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
            let mut statement = transaction.prepare_cached(SQL_UPSERT)?;
            for (group, key, value, expires_at) in rows {
                statement.execute(params![group, key, value, expires_at])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE_SOURCE: &str = include_str!("../../store/src/entries.rs");
    const OPERATIONS_SOURCE: &str = include_str!("../../store/src/operations.rs");
    const SCHEMA_SOURCE: &str = include_str!("../../store/src/schema.rs");

    #[test]
    fn raw_sql_is_the_stores_sql() {
        for sql in [
            SQL_GET,
            SQL_DELETE_IF_EXPIRED,
            SQL_EXISTS,
            SQL_UPSERT,
            SQL_DELETE,
            SQL_COUNT,
            SQL_GET_ALL,
            SQL_KEYS_FIRST,
            SQL_KEYS_NEXT,
            SQL_GROUPS,
            SQL_PURGE_BATCH,
        ] {
            assert!(
                STORE_SOURCE.contains(sql),
                "the store no longer runs: {sql}"
            );
        }
        for sql in [CREATE_ENTRIES, CREATE_EXPIRES_AT_INDEX] {
            assert!(
                SCHEMA_SOURCE.contains(sql),
                "the store no longer runs: {sql}"
            );
        }
        assert!(STORE_SOURCE.contains("PAGE_SIZE"));
        assert!(OPERATIONS_SOURCE.contains("PURGE_BATCH: usize = 500"));
        assert!(SCHEMA_SOURCE.contains("Duration::from_secs(5)"));
        assert!(SCHEMA_SOURCE.contains("STATEMENT_CACHE_CAPACITY: usize = 64"));
    }

    fn schema_and_pragmas(connection: &Connection) -> Result<(Vec<String>, String, i64)> {
        let schema = connection
            .prepare(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name = 'entries' ORDER BY name",
            )?
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
            let raw = RawBackend::open(&path, durability)?;
            let memory = RawBackend::open(Path::new(":memory:"), durability)?;
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
    fn raw_and_store_agree_on_every_operation() -> Result<()> {
        let memory = Path::new(":memory:");
        let raw = RawBackend::open(memory, Durability::Full)?;
        let store = StoreBackend::open(memory, Durability::Full)?;
        let backends: [&dyn Backend; 2] = [&raw, &store];
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
        }
        Ok(())
    }
}
