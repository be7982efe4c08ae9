//! Binary values, atomic counters, expiry control and batch calls, on every handle:
//! [`Store`], [`Transaction`], [`ScopedStore`] and [`ScopedTransaction`]. The logic is
//! written once in `kv::operations`; these are its public faces.
//!
//! Decisions, in one place:
//!
//! - **Binary values** are bound as SQLite `BLOB`s into the same `entry_value` column
//!   (its `TEXT` affinity converts only numbers, so a `BLOB` keeps every byte; Go's
//!   `database/sql` scans it into a `string` or `[]byte` with the same bytes). `get` of a
//!   `BLOB` that is valid UTF-8 returns the text; `get` of one that is not is
//!   [`InvalidValue`](crate::Error::InvalidValue) naming group and key, never a lossy
//!   conversion. `get_bytes` of a text value returns its UTF-8 bytes. Whole-group text
//!   reads (`get_all`, `get_page`, `all`, `render`) show invalid bytes as U+FFFD; `export`
//!   carries them exactly ([`Store::export_raw`](crate::Store::export_raw) and [`Store::import_raw`](crate::Store::import_raw)). Events carry text, so a
//!   binary value's event shows it with U+FFFD replacements.
//! - **`increment`** runs in one `BEGIN IMMEDIATE` transaction: exact across threads and
//!   processes. A missing or expired key counts from 0 and is created with no expiry
//!   (checked against the quota in a namespace); a live key keeps its expiry (as Redis
//!   `INCR`). A value that is not a decimal integer, or an overflow, is
//!   [`InvalidValue`](crate::Error::InvalidValue) and changes nothing. The value is
//!   stored as decimal text, so `get` and Go read it as usual. Emits `Set` with the new value.
//! - **`expire`/`persist`** change `expires_at` only. On a missing or expired key they
//!   return `Ok(false)` (Redis returns 0), not an error; `persist` also returns `false`
//!   for a key that had no expiry. `ttl` of a missing key is `NotFound` (the two "no"
//!   answers of Redis' `TTL`, -2 and -1, are `NotFound` and `Ok(None)`). They emit `Set`
//!   with the current value when they changed something. A zero TTL makes the key expire
//!   at once. Quotas: none of them creates a key, so none is refused; a key they expire
//!   stops counting as soon as it has expired.
//! - **`get_and_touch`** is `get` plus a new expiry `ttl` from now (a sliding expiry, as
//!   diskcache's `touch`), in one `UPDATE … RETURNING` statement; it emits `Set`.
//! - **Batches** take the lock once. `get_many` is one statement (`json_each` over the
//!   keys; keys holding NUL go key by key, under the same lock) and, like `exists`,
//!   deletes nothing. `set_many` is one write transaction with the quota checked per new
//!   key: on a refusal or a failure nothing of the batch is written. `delete_many` is one
//!   statement. Events follow the commit.

use std::time::Duration;

use crate::error::Result;
use crate::scoped::{ScopedStore, ScopedTransaction};
use crate::store::Store;
use crate::transaction::Transaction;

/// Binary values, counters, expiry control and batches; see the [module docs](self).
impl Store {
    /// The live value of a key as bytes: exactly the bytes given to
    /// [`Store::set_bytes`], or the UTF-8 bytes of a text value. An expired row found here is
    /// deleted (with an `Expire` event) and reported as not found.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_bytes("blocks", "b1", &[0, 159, 146, 150])?;
    /// assert_eq!(store.get_bytes("blocks", "b1")?, [0, 159, 146, 150]);
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.get_bytes("config", "colour")?, b"blue");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` when the key is missing or expired; `Closed`; `Database`.
    pub fn get_bytes(&self, group: &str, key: &str) -> Result<Vec<u8>> {
        self.operations().get_bytes(group, key)
    }

    /// Sets a binary value (any bytes, NUL and invalid UTF-8 included) with no expiry,
    /// stored as a SQLite `BLOB`. Emits `Set` (the event's text shows bytes that are not
    /// UTF-8 as U+FFFD).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_bytes("blocks", "b1", b"\x00\xffraw")?;
    /// assert_eq!(store.get_bytes("blocks", "b1")?, b"\x00\xffraw");
    /// assert!(store.get("blocks", "b1").unwrap_err().is_invalid_value());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        self.operations().set_bytes(group, key, value)
    }

    /// [`Store::set_bytes`] with an expiry `ttl` from now (rounded up to whole
    /// milliseconds). Emits `Set`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_bytes_with_ttl("blocks", "b1", &[1, 2, 3], std::time::Duration::from_secs(60))?;
    /// assert_eq!(store.get_bytes("blocks", "b1")?, [1, 2, 3]);
    /// assert!(store.ttl("blocks", "b1")?.is_some());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn set_bytes_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        self.operations().set_bytes_with_ttl(group, key, value, ttl)
    }

    /// Adds `delta` (which may be negative) to a key's integer value and returns the new
    /// value, atomically: one write transaction, so increments from many threads and
    /// processes lose no update. A missing or expired key counts from 0 and gets no expiry;
    /// a live key keeps its expiry (as Redis `INCR`). The value is stored as decimal text.
    /// Emits `Set` with the new value.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert_eq!(store.increment("counters", "visits", 1)?, 1);
    /// assert_eq!(store.increment("counters", "visits", 10)?, 11);
    /// assert_eq!(store.increment("counters", "visits", -2)?, 9);
    /// assert_eq!(store.get("counters", "visits")?, "9");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidValue` when the value is not a decimal integer (optional sign, digits,
    /// nothing else) or the sum overflows an `i64` (nothing is changed); `Closed`;
    /// `Database`.
    pub fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        self.operations().increment(group, key, delta)
    }

    /// The time a live key has left before it expires (at least a millisecond), or `None`
    /// when it never expires. Reads only.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    /// let left = store.ttl("sessions", "alice")?.expect("an expiry");
    /// assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60));
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.ttl("config", "colour")?, None);
    /// assert!(store.ttl("config", "size").unwrap_err().is_not_found());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` when the key is missing or expired; `Closed`; `Database`.
    pub fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        self.operations().ttl(group, key)
    }

    /// Makes a live key expire `ttl` from now (zero: at once) without rewriting its value.
    /// Returns `false`, changing nothing, when there is no live key (as Redis `EXPIRE`
    /// returns 0). Emits `Set` with the current value when it changed the key.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// use std::time::Duration;
    /// store.set("sessions", "alice", "token")?;
    /// assert!(store.expire("sessions", "alice", Duration::from_secs(60))?);
    /// assert!(store.ttl("sessions", "alice")?.is_some());
    /// assert!(!store.expire("sessions", "nobody", Duration::from_secs(60))?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        self.operations().expire(group, key, ttl)
    }

    /// Removes a live key's expiry without rewriting its value. Returns `false` when there
    /// is no live key or it had no expiry (as Redis `PERSIST`). Emits `Set` with the current
    /// value when it changed the key.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    /// assert!(store.persist("sessions", "alice")?);
    /// assert_eq!(store.ttl("sessions", "alice")?, None);
    /// assert!(!store.persist("sessions", "alice")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub fn persist(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().persist(group, key)
    }

    /// [`Store::get`] that also makes the key expire `ttl` from now, in one statement: a
    /// sliding expiry for sessions and caches (diskcache's `touch`). A key with no expiry
    /// gets one. Emits `Set` with the value.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(5))?;
    /// assert_eq!(store.get_and_touch("sessions", "alice", Duration::from_secs(3600))?, "token");
    /// assert!(store.ttl("sessions", "alice")?.expect("an expiry") > Duration::from_secs(60));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` when the key is missing or expired; `InvalidValue` for a value that
    /// is not UTF-8 (its expiry is still renewed); `Closed`; `Database`.
    pub fn get_and_touch(&self, group: &str, key: &str, ttl: Duration) -> Result<String> {
        self.operations().get_and_touch(group, key, ttl)
    }

    /// The live values of `keys`, in the same order (`None` for a key that is missing or
    /// expired; a key given twice is answered twice): one lock and one statement, so much
    /// faster than a `get` per key. Deletes nothing (expired rows are left for the purge).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// let values = store.get_many("config", &["size", "theme", "colour"])?;
    /// assert_eq!(values, [Some("10".to_owned()), None, Some("blue".to_owned())]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidValue` when one of the values is not UTF-8; `Closed`; `Database`.
    pub fn get_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<Vec<Option<String>>> {
        self.operations().get_many(group, keys)
    }

    /// Sets every `(key, value)` with no expiry in one write transaction: all of them or,
    /// on any failure, none. Emits `Set` for each after the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    /// assert_eq!(store.count("config")?, 2);
    /// assert_eq!(store.get("config", "size")?, "10");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database` (nothing is written).
    pub fn set_many<I, K, V>(&self, group: &str, entries: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.operations()
            .set_many(group, &entries.into_iter().collect::<Vec<_>>())
    }

    /// Removes every key of `keys` (live or expired; missing ones are not an error) in one
    /// statement and returns how many rows were removed. Emits `Delete` for each after the
    /// commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    /// assert_eq!(store.delete_many("config", &["colour", "size", "theme"])?, 2);
    /// assert_eq!(store.count("config")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database` (nothing is removed).
    pub fn delete_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<usize> {
        self.operations().delete_many(group, keys)
    }
}

/// The same operations on a transaction.
impl Transaction<'_> {
    /// [`Store::get_bytes`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_bytes("blocks", "b1", &[0, 159, 146, 150])?;
    ///     assert_eq!(store.get_bytes("blocks", "b1")?, [0, 159, 146, 150]);
    ///     store.set("config", "colour", "blue")?;
    ///     assert_eq!(store.get_bytes("config", "colour")?, b"blue");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes`]; a database failure rolls the transaction back.
    pub fn get_bytes(&self, group: &str, key: &str) -> Result<Vec<u8>> {
        self.operations().get_bytes(group, key)
    }

    /// [`Store::set_bytes`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_bytes("blocks", "b1", b"\x00\xffraw")?;
    ///     assert_eq!(store.get_bytes("blocks", "b1")?, b"\x00\xffraw");
    ///     assert!(store.get("blocks", "b1").unwrap_err().is_invalid_value());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_bytes`]; a database failure rolls the transaction back.
    pub fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        self.operations().set_bytes(group, key, value)
    }

    /// [`Store::set_bytes_with_ttl`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_bytes_with_ttl("blocks", "b1", &[1, 2, 3], std::time::Duration::from_secs(60))?;
    ///     assert_eq!(store.get_bytes("blocks", "b1")?, [1, 2, 3]);
    ///     assert!(store.ttl("blocks", "b1")?.is_some());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_bytes_with_ttl`]; a database failure rolls the transaction back.
    pub fn set_bytes_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        self.operations().set_bytes_with_ttl(group, key, value, ttl)
    }

    /// [`Store::increment`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     assert_eq!(store.increment("counters", "visits", 1)?, 1);
    ///     assert_eq!(store.increment("counters", "visits", 10)?, 11);
    ///     assert_eq!(store.increment("counters", "visits", -2)?, 9);
    ///     assert_eq!(store.get("counters", "visits")?, "9");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::increment`]; a database failure rolls the transaction back.
    pub fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        self.operations().increment(group, key, delta)
    }

    /// [`Store::ttl`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    ///     let left = store.ttl("sessions", "alice")?.expect("an expiry");
    ///     assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60));
    ///     store.set("config", "colour", "blue")?;
    ///     assert_eq!(store.ttl("config", "colour")?, None);
    ///     assert!(store.ttl("config", "size").unwrap_err().is_not_found());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::ttl`]; a database failure rolls the transaction back.
    pub fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        self.operations().ttl(group, key)
    }

    /// [`Store::expire`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set("sessions", "alice", "token")?;
    ///     assert!(store.expire("sessions", "alice", Duration::from_secs(60))?);
    ///     assert!(store.ttl("sessions", "alice")?.is_some());
    ///     assert!(!store.expire("sessions", "nobody", Duration::from_secs(60))?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::expire`]; a database failure rolls the transaction back.
    pub fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        self.operations().expire(group, key, ttl)
    }

    /// [`Store::persist`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    ///     assert!(store.persist("sessions", "alice")?);
    ///     assert_eq!(store.ttl("sessions", "alice")?, None);
    ///     assert!(!store.persist("sessions", "alice")?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::persist`]; a database failure rolls the transaction back.
    pub fn persist(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().persist(group, key)
    }

    /// [`Store::get_and_touch`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(5))?;
    ///     assert_eq!(store.get_and_touch("sessions", "alice", Duration::from_secs(3600))?, "token");
    ///     assert!(store.ttl("sessions", "alice")?.expect("an expiry") > Duration::from_secs(60));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_and_touch`]; a database failure rolls the transaction back.
    pub fn get_and_touch(&self, group: &str, key: &str, ttl: Duration) -> Result<String> {
        self.operations().get_and_touch(group, key, ttl)
    }

    /// [`Store::get_many`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set("config", "colour", "blue")?;
    ///     store.set("config", "size", "10")?;
    ///     let values = store.get_many("config", &["size", "theme", "colour"])?;
    ///     assert_eq!(values, [Some("10".to_owned()), None, Some("blue".to_owned())]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_many`]; a database failure rolls the transaction back.
    pub fn get_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<Vec<Option<String>>> {
        self.operations().get_many(group, keys)
    }

    /// [`Store::set_many`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    ///     assert_eq!(store.count("config")?, 2);
    ///     assert_eq!(store.get("config", "size")?, "10");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_many`]; a database failure rolls the transaction back.
    pub fn set_many<I, K, V>(&self, group: &str, entries: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.operations()
            .set_many(group, &entries.into_iter().collect::<Vec<_>>())
    }

    /// [`Store::delete_many`] inside the transaction: it commits or rolls back with it, and
    /// its events follow the commit.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    ///     assert_eq!(store.delete_many("config", &["colour", "size", "theme"])?, 2);
    ///     assert_eq!(store.count("config")?, 0);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_many`]; a database failure rolls the transaction back.
    pub fn delete_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<usize> {
        self.operations().delete_many(group, keys)
    }
}

/// The same operations on a namespace.
impl ScopedStore {
    /// [`Store::get_bytes`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// store.set_bytes("blocks", "b1", &[0, 159, 146, 150])?;
    /// assert_eq!(store.get_bytes("blocks", "b1")?, [0, 159, 146, 150]);
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.get_bytes("config", "colour")?, b"blue");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes`].
    pub fn get_bytes(&self, group: &str, key: &str) -> Result<Vec<u8>> {
        self.operations().get_bytes(group, key)
    }

    /// [`Store::set_bytes`] of a group in the namespace; a new key is checked against the
    /// quota.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// store.set_bytes("blocks", "b1", b"\x00\xffraw")?;
    /// assert_eq!(store.get_bytes("blocks", "b1")?, b"\x00\xffraw");
    /// assert!(store.get("blocks", "b1").unwrap_err().is_invalid_value());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_bytes`]; `QuotaExceeded` when a new key would break a quota
    /// (nothing is written).
    pub fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        self.operations().set_bytes(group, key, value)
    }

    /// [`Store::set_bytes_with_ttl`] of a group in the namespace; a new key is checked against the
    /// quota.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// store.set_bytes_with_ttl("blocks", "b1", &[1, 2, 3], std::time::Duration::from_secs(60))?;
    /// assert_eq!(store.get_bytes("blocks", "b1")?, [1, 2, 3]);
    /// assert!(store.ttl("blocks", "b1")?.is_some());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_bytes_with_ttl`]; `QuotaExceeded` when a new key would break a
    /// quota (nothing is written).
    pub fn set_bytes_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        self.operations().set_bytes_with_ttl(group, key, value, ttl)
    }

    /// [`Store::increment`] of a group in the namespace; a new key is checked against the
    /// quota.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// assert_eq!(store.increment("counters", "visits", 1)?, 1);
    /// assert_eq!(store.increment("counters", "visits", 10)?, 11);
    /// assert_eq!(store.increment("counters", "visits", -2)?, 9);
    /// assert_eq!(store.get("counters", "visits")?, "9");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::increment`]; `QuotaExceeded` when a new key would break a quota
    /// (nothing is written).
    pub fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        self.operations().increment(group, key, delta)
    }

    /// [`Store::ttl`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    /// let left = store.ttl("sessions", "alice")?.expect("an expiry");
    /// assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60));
    /// store.set("config", "colour", "blue")?;
    /// assert_eq!(store.ttl("config", "colour")?, None);
    /// assert!(store.ttl("config", "size").unwrap_err().is_not_found());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::ttl`].
    pub fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        self.operations().ttl(group, key)
    }

    /// [`Store::expire`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// use std::time::Duration;
    /// store.set("sessions", "alice", "token")?;
    /// assert!(store.expire("sessions", "alice", Duration::from_secs(60))?);
    /// assert!(store.ttl("sessions", "alice")?.is_some());
    /// assert!(!store.expire("sessions", "nobody", Duration::from_secs(60))?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::expire`].
    pub fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        self.operations().expire(group, key, ttl)
    }

    /// [`Store::persist`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    /// assert!(store.persist("sessions", "alice")?);
    /// assert_eq!(store.ttl("sessions", "alice")?, None);
    /// assert!(!store.persist("sessions", "alice")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::persist`].
    pub fn persist(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().persist(group, key)
    }

    /// [`Store::get_and_touch`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(5))?;
    /// assert_eq!(store.get_and_touch("sessions", "alice", Duration::from_secs(3600))?, "token");
    /// assert!(store.ttl("sessions", "alice")?.expect("an expiry") > Duration::from_secs(60));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_and_touch`].
    pub fn get_and_touch(&self, group: &str, key: &str, ttl: Duration) -> Result<String> {
        self.operations().get_and_touch(group, key, ttl)
    }

    /// [`Store::get_many`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("config", "size", "10")?;
    /// let values = store.get_many("config", &["size", "theme", "colour"])?;
    /// assert_eq!(values, [Some("10".to_owned()), None, Some("blue".to_owned())]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_many`].
    pub fn get_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<Vec<Option<String>>> {
        self.operations().get_many(group, keys)
    }

    /// [`Store::set_many`] of a group in the namespace; a new key is checked against the
    /// quota.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    /// assert_eq!(store.count("config")?, 2);
    /// assert_eq!(store.get("config", "size")?, "10");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_many`]; `QuotaExceeded` when a new key would break a quota
    /// (nothing is written).
    pub fn set_many<I, K, V>(&self, group: &str, entries: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.operations()
            .set_many(group, &entries.into_iter().collect::<Vec<_>>())
    }

    /// [`Store::delete_many`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let store = store::ScopedStore::new(&root, "tenant-a")?;
    /// store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    /// assert_eq!(store.delete_many("config", &["colour", "size", "theme"])?, 2);
    /// assert_eq!(store.count("config")?, 0);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_many`].
    pub fn delete_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<usize> {
        self.operations().delete_many(group, keys)
    }
}

/// The same operations on a namespace inside a transaction.
impl ScopedTransaction<'_> {
    /// [`ScopedStore::get_bytes`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_bytes("blocks", "b1", &[0, 159, 146, 150])?;
    ///     assert_eq!(store.get_bytes("blocks", "b1")?, [0, 159, 146, 150]);
    ///     store.set("config", "colour", "blue")?;
    ///     assert_eq!(store.get_bytes("config", "colour")?, b"blue");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get_bytes`]; a database failure rolls the transaction back.
    pub fn get_bytes(&self, group: &str, key: &str) -> Result<Vec<u8>> {
        self.operations().get_bytes(group, key)
    }

    /// [`ScopedStore::set_bytes`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_bytes("blocks", "b1", b"\x00\xffraw")?;
    ///     assert_eq!(store.get_bytes("blocks", "b1")?, b"\x00\xffraw");
    ///     assert!(store.get("blocks", "b1").unwrap_err().is_invalid_value());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_bytes`]; a database failure rolls the transaction back.
    pub fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        self.operations().set_bytes(group, key, value)
    }

    /// [`ScopedStore::set_bytes_with_ttl`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_bytes_with_ttl("blocks", "b1", &[1, 2, 3], std::time::Duration::from_secs(60))?;
    ///     assert_eq!(store.get_bytes("blocks", "b1")?, [1, 2, 3]);
    ///     assert!(store.ttl("blocks", "b1")?.is_some());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_bytes_with_ttl`]; a database failure rolls the transaction
    /// back.
    pub fn set_bytes_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        self.operations().set_bytes_with_ttl(group, key, value, ttl)
    }

    /// [`ScopedStore::increment`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     assert_eq!(store.increment("counters", "visits", 1)?, 1);
    ///     assert_eq!(store.increment("counters", "visits", 10)?, 11);
    ///     assert_eq!(store.increment("counters", "visits", -2)?, 9);
    ///     assert_eq!(store.get("counters", "visits")?, "9");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::increment`]; a database failure rolls the transaction back.
    pub fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        self.operations().increment(group, key, delta)
    }

    /// [`ScopedStore::ttl`] inside the transaction.
    ///
    /// ```
    /// use std::time::Duration;
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    ///     let left = store.ttl("sessions", "alice")?.expect("an expiry");
    ///     assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60));
    ///     store.set("config", "colour", "blue")?;
    ///     assert_eq!(store.ttl("config", "colour")?, None);
    ///     assert!(store.ttl("config", "size").unwrap_err().is_not_found());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::ttl`]; a database failure rolls the transaction back.
    pub fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        self.operations().ttl(group, key)
    }

    /// [`ScopedStore::expire`] inside the transaction.
    ///
    /// ```
    /// use std::time::Duration;
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set("sessions", "alice", "token")?;
    ///     assert!(store.expire("sessions", "alice", Duration::from_secs(60))?);
    ///     assert!(store.ttl("sessions", "alice")?.is_some());
    ///     assert!(!store.expire("sessions", "nobody", Duration::from_secs(60))?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::expire`]; a database failure rolls the transaction back.
    pub fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        self.operations().expire(group, key, ttl)
    }

    /// [`ScopedStore::persist`] inside the transaction.
    ///
    /// ```
    /// use std::time::Duration;
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60))?;
    ///     assert!(store.persist("sessions", "alice")?);
    ///     assert_eq!(store.ttl("sessions", "alice")?, None);
    ///     assert!(!store.persist("sessions", "alice")?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::persist`]; a database failure rolls the transaction back.
    pub fn persist(&self, group: &str, key: &str) -> Result<bool> {
        self.operations().persist(group, key)
    }

    /// [`ScopedStore::get_and_touch`] inside the transaction.
    ///
    /// ```
    /// use std::time::Duration;
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(5))?;
    ///     assert_eq!(store.get_and_touch("sessions", "alice", Duration::from_secs(3600))?, "token");
    ///     assert!(store.ttl("sessions", "alice")?.expect("an expiry") > Duration::from_secs(60));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get_and_touch`]; a database failure rolls the transaction
    /// back.
    pub fn get_and_touch(&self, group: &str, key: &str, ttl: Duration) -> Result<String> {
        self.operations().get_and_touch(group, key, ttl)
    }

    /// [`ScopedStore::get_many`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set("config", "colour", "blue")?;
    ///     store.set("config", "size", "10")?;
    ///     let values = store.get_many("config", &["size", "theme", "colour"])?;
    ///     assert_eq!(values, [Some("10".to_owned()), None, Some("blue".to_owned())]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::get_many`]; a database failure rolls the transaction back.
    pub fn get_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<Vec<Option<String>>> {
        self.operations().get_many(group, keys)
    }

    /// [`ScopedStore::set_many`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    ///     assert_eq!(store.count("config")?, 2);
    ///     assert_eq!(store.get("config", "size")?, "10");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_many`]; a database failure rolls the transaction back.
    pub fn set_many<I, K, V>(&self, group: &str, entries: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.operations()
            .set_many(group, &entries.into_iter().collect::<Vec<_>>())
    }

    /// [`ScopedStore::delete_many`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_many("config", [("colour", "blue"), ("size", "10")])?;
    ///     assert_eq!(store.delete_many("config", &["colour", "size", "theme"])?, 2);
    ///     assert_eq!(store.count("config")?, 0);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::delete_many`]; a database failure rolls the transaction back.
    pub fn delete_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<usize> {
        self.operations().delete_many(group, keys)
    }
}
