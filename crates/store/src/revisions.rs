//! Revisions, compare-and-set and the durable change feed (issue 13), on every handle:
//! [`Store`], [`Transaction`], [`ScopedStore`] and [`ScopedTransaction`], and the
//! [`ChangeWatcher`] that follows the feed. The logic is in `kv::operations` and
//! `kv::changes`; the triggers that record changes are in `sqlite::schema`.
//!
//! Decisions, in one place:
//!
//! - **One revision per change, store-wide.** Every committed change to `entries` gets
//!   the next revision, a `u64` written in the same SQLite transaction as the change, by
//!   triggers in the file itself: so revisions are strictly increasing and gap-free across
//!   every process sharing the file, survive crashes, and number the Go package's writes
//!   (and `sqlite3`'s) as well. A `set` of any kind, `increment`, `expire`, `persist`,
//!   `get_and_touch`, an import row and a workspace summary each make one `Set` change;
//!   a `delete` (or `delete_many` row) one `Delete`; a `delete_group` one `DeleteGroup`
//!   (and `delete_prefix` one per group); the removal of an expired row (by `get` or a
//!   purge) one `Expire`. A transaction's changes take consecutive revisions when it
//!   commits, none when it rolls back. A row written before the file recorded revisions
//!   reads as revision 0.
//! - **Expiry is an event of its own kind**, [`EventType::Expire`] (`"expire"`), for
//!   live watchers and callbacks too: the Go package said `delete`, but event names never
//!   leave the process, so nothing needs the old name. A `delete` of a row that had
//!   already expired is recorded as `expire` (it was gone already).
//! - **Compare-and-set** (`set_if`, `set_bytes_if`, `delete_if`) reads the key's live
//!   revision and writes in one `BEGIN IMMEDIATE` transaction, so it is exact across
//!   threads and processes; `expected: None` means "only if there is no live key" (an
//!   expired row counts as absent). A mismatch is [`Error::Conflict`] carrying the
//!   current revision, and changes nothing and emits nothing. In a namespace the quota is
//!   checked when the write would create the key.
//! - **The change feed.** [`Store::watch_from`] returns a [`ChangeWatcher`] that reads
//!   the file's history after a revision, in order, then follows new changes, including
//!   those of other processes. Its buffer is the history itself: a slow watcher never
//!   loses a change and never makes a writer wait, it only reads further behind. The one
//!   way to lose place is to fall behind the retention ([`ChangeRetention`]): then the
//!   watcher returns [`Error::Compacted`] with the oldest revision still retained, where
//!   a resumed watcher has to start from a fresh read. Changes of this process wake a
//!   waiting watcher at once; changes of other processes are found by polling the
//!   history every 10 ms (one indexed read), so they arrive within about that.
//!
//! [`ChangeRetention`]: crate::ChangeRetention
//! [`EventType::Expire`]: crate::EventType::Expire
//! [`Error::Conflict`]: crate::Error::Conflict
//! [`Error::Compacted`]: crate::Error::Compacted

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::kv::changes::Change;
use crate::kv::events::Filter;
use crate::kv::operations::{SCOPED_NAMES, STORE_NAMES};
use crate::kv::rows;
use crate::scoped::{ScopedStore, ScopedTransaction};
use crate::store::Store;
use crate::transaction::Transaction;

/// How often a waiting [`ChangeWatcher`] looks for changes made by other processes.
pub(crate) const FOLLOW_POLL: Duration = Duration::from_millis(10);

/// The same on PostgreSQL, where other servers' changes wake the watcher through their
/// announcements (`postgresql::notify`): the poll only covers an announcement missed
/// while the listener was reconnecting, and costs a query on the store's connection.
const FOLLOW_POLL_ANNOUNCED: Duration = Duration::from_millis(250);

/// How many changes a watcher reads from the history at a time: its memory bound.
pub(crate) const REPLAY_BATCH: usize = 1_000;

/// Revisions and compare-and-set; see the [module docs](self).
impl Store {
    /// The newest revision of the store (every group, every namespace): 0 before the
    /// first change. Another process's committed change is included.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// assert_eq!(store.revision()?, 0);
    /// store.set("config", "colour", "blue")?;
    /// store.delete("config", "colour")?;
    /// assert_eq!(store.revision()?, 2);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`; `ReadOnly` for a file of an earlier release opened
    /// read-only (it has no history until opened once for writing).
    pub fn revision(&self) -> Result<u64> {
        self.operations().revision()
    }

    /// The live value of a key with the revision that last wrote it (0 for a row
    /// written before the file recorded revisions). An expired row is deleted, as by
    /// `get`, and reported as not found.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// let (value, revision) = store.get_with_revision("config", "colour")?;
    /// assert_eq!((value.as_str(), revision), ("blue", store.revision()?));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get`]; `ReadOnly` as for [`Store::revision`].
    pub fn get_with_revision(&self, group: &str, key: &str) -> Result<(String, u64)> {
        self.operations().get_with_revision(group, key)
    }

    /// [`Store::get_with_revision`] of the value's bytes: a binary value as it was
    /// stored, a text value as its UTF-8 bytes.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let revision = store.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    /// assert_eq!(store.get_bytes_with_revision("blocks", "b1")?, (vec![0, 255], revision));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes`]; `ReadOnly` as for [`Store::revision`].
    pub fn get_bytes_with_revision(&self, group: &str, key: &str) -> Result<(Vec<u8>, u64)> {
        self.operations().get_bytes_with_revision(group, key)
    }

    /// Sets a text value only if the key's live revision is `expected` (`None`: only if
    /// there is no live key), atomically; returns the new revision. Emits `Set`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let first = store.set_if("config", "colour", "blue", None)?;
    /// let second = store.set_if("config", "colour", "green", Some(first))?;
    /// assert!(second > first);
    /// // A writer holding the old revision loses, and nothing changes.
    /// let error = store.set_if("config", "colour", "red", Some(first)).unwrap_err();
    /// assert!(error.is_conflict());
    /// assert_eq!(store.get("config", "colour")?, "green");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Conflict` (with the current revision) when the key is at another revision;
    /// `Closed`; `Database`; `ReadOnly`.
    pub fn set_if(
        &self,
        group: &str,
        key: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_if;
        operations.set_if(
            operation,
            group,
            key,
            ValueRef::Text(value.as_bytes()),
            expected,
        )
    }

    /// [`Store::set_if`] for a binary value (any bytes, stored as a `BLOB`).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let revision = store.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    /// assert!(store.set_bytes_if("blocks", "b1", &[1], None).unwrap_err().is_conflict());
    /// store.set_bytes_if("blocks", "b1", &[1], Some(revision))?;
    /// assert_eq!(store.get_bytes("blocks", "b1")?, [1]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_if`].
    pub fn set_bytes_if(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_bytes_if;
        operations.set_if(operation, group, key, ValueRef::Blob(value), expected)
    }

    /// Deletes a key only if its live revision is `expected`, atomically; returns the
    /// revision of the delete. Emits `Delete`.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let revision = store.set_if("locks", "job-7", "worker-a", None)?;
    /// assert!(store.delete_if("locks", "job-7", revision + 1).unwrap_err().is_conflict());
    /// store.delete_if("locks", "job-7", revision)?;
    /// assert!(!store.exists("locks", "job-7")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Conflict` when the key is missing, expired or at another revision; `Closed`;
    /// `Database`; `ReadOnly`.
    pub fn delete_if(&self, group: &str, key: &str, expected: u64) -> Result<u64> {
        self.operations().delete_if(group, key, expected)
    }

    /// A watcher of `group` and `key` (either may be `"*"`, as for [`Store::watch`])
    /// that first replays every retained change after `revision`, in order, then
    /// follows new changes, including those committed by other processes on the same
    /// file. Pass 0 for the whole retained history, or the [`ChangeWatcher::revision`]
    /// of an earlier watcher to resume exactly where it stopped: no change is missed
    /// and none is delivered twice. A `revision` newer than the store's starts with the
    /// changes after it.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// let start = store.revision()?;
    /// store.set("config", "colour", "green")?;
    /// let mut watcher = store.watch_from("config", "*", start)?;
    /// let change = watcher.recv()?.expect("the replayed change");
    /// assert_eq!((change.revision, change.value_text()), (start + 1, Some("green")));
    /// store.delete("config", "colour")?;
    /// assert_eq!(watcher.recv()?.map(|change| change.kind), Some(store::EventType::Delete));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Compacted` when changes after `revision` have been pruned; `Closed`;
    /// `Database`; `ReadOnly` as for [`Store::revision`].
    pub fn watch_from(&self, group: &str, key: &str, revision: u64) -> Result<ChangeWatcher> {
        ChangeWatcher::start(
            &self.engine,
            STORE_NAMES.watch_from,
            Filter::new(None, group, key),
            revision,
        )
    }
}

/// The same operations inside a transaction.
impl Transaction<'_> {
    /// [`Store::revision`] inside the transaction: it includes the transaction's own
    /// changes so far.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set("g", "a", "1")?;
    ///     store.set("g", "b", "2")?;
    ///     assert_eq!(store.revision()?, 2);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::revision`]; a database failure rolls the transaction back.
    pub fn revision(&self) -> Result<u64> {
        self.operations().revision()
    }

    /// [`Store::get_with_revision`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     let revision = store.set_if("config", "colour", "blue", None)?;
    ///     assert_eq!(store.get_with_revision("config", "colour")?, ("blue".to_owned(), revision));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_with_revision`]; a database failure rolls the transaction back.
    pub fn get_with_revision(&self, group: &str, key: &str) -> Result<(String, u64)> {
        self.operations().get_with_revision(group, key)
    }

    /// [`Store::get_bytes_with_revision`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     let revision = store.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    ///     assert_eq!(store.get_bytes_with_revision("blocks", "b1")?, (vec![0, 255], revision));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes_with_revision`]; a database failure rolls the transaction back.
    pub fn get_bytes_with_revision(&self, group: &str, key: &str) -> Result<(Vec<u8>, u64)> {
        self.operations().get_bytes_with_revision(group, key)
    }

    /// [`Store::set_if`] inside the transaction. A `Conflict` does not roll the
    /// transaction back: the closure decides (return the error to roll back).
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let first = store.set_if("config", "colour", "blue", None)?;
    /// store.transaction(|store| {
    ///     store.set_if("config", "colour", "green", Some(first))?;
    ///     assert!(store.set_if("config", "colour", "red", Some(first)).unwrap_err().is_conflict());
    ///     Ok(())
    /// })?;
    /// assert_eq!(store.get("config", "colour")?, "green");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_if`]; a database failure rolls the transaction back.
    pub fn set_if(
        &self,
        group: &str,
        key: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_if;
        operations.set_if(
            operation,
            group,
            key,
            ValueRef::Text(value.as_bytes()),
            expected,
        )
    }

    /// [`Store::set_bytes_if`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.transaction(|store| {
    ///     store.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    ///     assert!(store.set_bytes_if("blocks", "b1", &[1], None).unwrap_err().is_conflict());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_if`]; a database failure rolls the transaction back.
    pub fn set_bytes_if(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_bytes_if;
        operations.set_if(operation, group, key, ValueRef::Blob(value), expected)
    }

    /// [`Store::delete_if`] inside the transaction.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let revision = store.set_if("locks", "job-7", "worker-a", None)?;
    /// store.transaction(|store| {
    ///     store.delete_if("locks", "job-7", revision)?;
    ///     Ok(())
    /// })?;
    /// assert!(!store.exists("locks", "job-7")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_if`]; a database failure rolls the transaction back.
    pub fn delete_if(&self, group: &str, key: &str, expected: u64) -> Result<u64> {
        self.operations().delete_if(group, key, expected)
    }
}

/// The same operations on a namespace.
impl ScopedStore {
    /// [`Store::revision`]: the newest revision of the whole store (revisions are
    /// store-wide, so another namespace's change moves it too).
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.set("config", "colour", "blue")?;
    /// assert_eq!(tenant.revision()?, root.revision()?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::revision`].
    pub fn revision(&self) -> Result<u64> {
        self.operations().revision()
    }

    /// [`Store::get_with_revision`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// let revision = tenant.set_if("config", "colour", "blue", None)?;
    /// assert_eq!(tenant.get_with_revision("config", "colour")?, ("blue".to_owned(), revision));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_with_revision`].
    pub fn get_with_revision(&self, group: &str, key: &str) -> Result<(String, u64)> {
        self.operations().get_with_revision(group, key)
    }

    /// [`Store::get_bytes_with_revision`] of a group in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// let revision = tenant.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    /// assert_eq!(tenant.get_bytes_with_revision("blocks", "b1")?, (vec![0, 255], revision));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes_with_revision`].
    pub fn get_bytes_with_revision(&self, group: &str, key: &str) -> Result<(Vec<u8>, u64)> {
        self.operations().get_bytes_with_revision(group, key)
    }

    /// [`Store::set_if`] in the namespace; creating the key is checked against the quota.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let quota = store::QuotaConfig { max_keys: 1, max_groups: 0 };
    /// let tenant = store::ScopedStore::with_quota(&root, "tenant-a", quota)?;
    /// let revision = tenant.set_if("config", "colour", "blue", None)?;
    /// tenant.set_if("config", "colour", "green", Some(revision))?;
    /// assert!(tenant.set_if("config", "size", "10", None).unwrap_err().is_quota_exceeded());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_if`]; `QuotaExceeded` when creating the key would pass a quota.
    pub fn set_if(
        &self,
        group: &str,
        key: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_if;
        operations.set_if(
            operation,
            group,
            key,
            ValueRef::Text(value.as_bytes()),
            expected,
        )
    }

    /// [`Store::set_bytes_if`] in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    /// assert_eq!(root.get_bytes("tenant-a:blocks", "b1")?, [0, 255]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_if`].
    pub fn set_bytes_if(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_bytes_if;
        operations.set_if(operation, group, key, ValueRef::Blob(value), expected)
    }

    /// [`Store::delete_if`] in the namespace.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// let revision = tenant.set_if("locks", "job-7", "worker-a", None)?;
    /// tenant.delete_if("locks", "job-7", revision)?;
    /// assert!(!tenant.exists("locks", "job-7")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_if`].
    pub fn delete_if(&self, group: &str, key: &str, expected: u64) -> Result<u64> {
        self.operations().delete_if(group, key, expected)
    }

    /// [`Store::watch_from`] for groups of the namespace: changes are delivered with
    /// their local group names, and other namespaces' changes are skipped.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// root.set("config", "colour", "outside")?;
    /// tenant.set("config", "colour", "blue")?;
    /// let mut watcher = tenant.watch_from("config", "*", 0)?;
    /// let change = watcher.recv()?.expect("the tenant's change");
    /// assert_eq!((change.group.as_str(), change.value_text()), ("config", Some("blue")));
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::watch_from`].
    pub fn watch_from(&self, group: &str, key: &str, revision: u64) -> Result<ChangeWatcher> {
        ChangeWatcher::start(
            self.engine(),
            SCOPED_NAMES.watch_from,
            Filter::new(Some(self.scope_prefix()), group, key),
            revision,
        )
    }
}

/// The same operations on a namespace inside a transaction.
impl ScopedTransaction<'_> {
    /// [`ScopedStore::revision`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set("config", "colour", "blue")?;
    ///     assert_eq!(store.revision()?, 1);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::revision`]; a database failure rolls the transaction back.
    pub fn revision(&self) -> Result<u64> {
        self.operations().revision()
    }

    /// [`ScopedStore::get_with_revision`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     let revision = store.set_if("config", "colour", "blue", None)?;
    ///     assert_eq!(store.get_with_revision("config", "colour")?.1, revision);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_with_revision`]; a database failure rolls the transaction back.
    pub fn get_with_revision(&self, group: &str, key: &str) -> Result<(String, u64)> {
        self.operations().get_with_revision(group, key)
    }

    /// [`ScopedStore::get_bytes_with_revision`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     let revision = store.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    ///     assert_eq!(store.get_bytes_with_revision("blocks", "b1")?.1, revision);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes_with_revision`]; a database failure rolls the transaction back.
    pub fn get_bytes_with_revision(&self, group: &str, key: &str) -> Result<(Vec<u8>, u64)> {
        self.operations().get_bytes_with_revision(group, key)
    }

    /// [`ScopedStore::set_if`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_if("config", "colour", "blue", None)?;
    ///     assert!(store.set_if("config", "colour", "red", None).unwrap_err().is_conflict());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_if`]; a database failure rolls the transaction back.
    pub fn set_if(
        &self,
        group: &str,
        key: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_if;
        operations.set_if(
            operation,
            group,
            key,
            ValueRef::Text(value.as_bytes()),
            expected,
        )
    }

    /// [`ScopedStore::set_bytes_if`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// tenant.transaction(|store| {
    ///     store.set_bytes_if("blocks", "b1", &[0, 255], None)?;
    ///     Ok(())
    /// })?;
    /// assert_eq!(tenant.get_bytes("blocks", "b1")?, [0, 255]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_if`]; a database failure rolls the transaction back.
    pub fn set_bytes_if(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<u64> {
        let operations = self.operations();
        let operation = operations.names.set_bytes_if;
        operations.set_if(operation, group, key, ValueRef::Blob(value), expected)
    }

    /// [`ScopedStore::delete_if`] inside the transaction.
    ///
    /// ```
    /// let root = store::Store::open(":memory:")?;
    /// let tenant = store::ScopedStore::new(&root, "tenant-a")?;
    /// let revision = tenant.set_if("locks", "job-7", "worker-a", None)?;
    /// tenant.transaction(|store| {
    ///     store.delete_if("locks", "job-7", revision)?;
    ///     Ok(())
    /// })?;
    /// assert!(!tenant.exists("locks", "job-7")?);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::delete_if`]; a database failure rolls the transaction back.
    pub fn delete_if(&self, group: &str, key: &str, expected: u64) -> Result<u64> {
        self.operations().delete_if(group, key, expected)
    }
}

/// A durable, ordered, resumable stream of the changes matching one `(group, key)`
/// filter, read from the file's change history; see the [module docs](self).
///
/// Created by [`Store::watch_from`] (or [`ScopedStore::watch_from`]). It first replays
/// the retained changes after the revision it was given, then follows new ones, from
/// this process and from others. It keeps no more than 1,000 changes in memory, and its
/// only buffer is the file: a watcher that is not read never slows a writer and never
/// drops a change. It holds no reference that keeps the store open; once the store is
/// closed (or dropped), `recv` returns `Ok(None)`.
///
/// [`ChangeWatcher::revision`] is where it stands: every change up to it has been
/// delivered (or did not match). Saving it and passing it to `watch_from` later resumes
/// with no gap and no duplicate.
///
/// ```
/// use std::time::Duration;
/// let store = store::Store::open(":memory:")?;
/// let mut watcher = store.watch_from("sessions", "*", store.revision()?)?;
/// store.set("sessions", "alice", "token")?;
/// let change = watcher.recv_timeout(Duration::from_secs(5))?.expect("the change");
/// assert_eq!(change.key, "alice");
/// assert_eq!(watcher.revision(), change.revision);
/// assert!(watcher.try_recv()?.is_none());
/// # Ok::<(), store::Error>(())
/// ```
pub struct ChangeWatcher {
    engine: Weak<Engine>,
    operation: &'static str,
    filter: Filter,
    /// Every change up to this revision has been read from the history.
    scanned: u64,
    /// Changes read and matched but not yet returned, oldest first.
    buffer: VecDeque<Change>,
    /// How often to look for changes no signal announced.
    poll: Duration,
}

impl ChangeWatcher {
    fn start(
        engine: &Arc<Engine>,
        operation: &'static str,
        filter: Filter,
        revision: u64,
    ) -> Result<ChangeWatcher> {
        engine.database.check_change_feed(operation)?;
        let oldest =
            engine
                .database
                .with_link(operation, "read change history", rows::oldest_revision)?;
        if let Some(oldest) = oldest {
            if revision.saturating_add(1) < oldest {
                return Err(Error::Compacted {
                    operation,
                    requested: revision,
                    oldest,
                });
            }
        }
        engine.events.follow(true);
        Ok(ChangeWatcher {
            engine: Arc::downgrade(engine),
            operation,
            filter,
            scanned: revision,
            buffer: VecDeque::new(),
            poll: if engine.database.is_postgres() {
                FOLLOW_POLL_ANNOUNCED
            } else {
                FOLLOW_POLL
            },
        })
    }

    /// The revision this watcher has reached: every matching change up to it has been
    /// returned. Pass it to `watch_from` to resume after a restart.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("g", "a", "1")?;
    /// store.set("other", "b", "2")?;
    /// let mut watcher = store.watch_from("g", "*", 0)?;
    /// assert_eq!(watcher.revision(), 0);
    /// assert_eq!(watcher.recv()?.map(|change| change.revision), Some(1));
    /// assert!(watcher.try_recv()?.is_none());
    /// assert_eq!(watcher.revision(), 2, "the other group's change was read and skipped");
    /// # Ok::<(), store::Error>(())
    /// ```
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.buffer
            .front()
            .map_or(self.scanned, |next| next.revision.saturating_sub(1))
    }

    /// Waits for the next change. `Ok(None)` once the store has been closed.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("g", "k", "v")?;
    /// let mut watcher = store.watch_from("*", "*", 0)?;
    /// assert_eq!(watcher.recv()?.map(|change| change.key), Some("k".to_owned()));
    /// store.close()?;
    /// assert!(watcher.recv()?.is_none());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Compacted` when the changes it needs next were pruned; `Database`.
    pub fn recv(&mut self) -> Result<Option<Change>> {
        self.next_change(None)
    }

    /// Waits at most `timeout` for the next change; `Ok(None)` when none came (or the
    /// store was closed).
    ///
    /// ```
    /// use std::time::Duration;
    /// let store = store::Store::open(":memory:")?;
    /// let mut watcher = store.watch_from("g", "*", 0)?;
    /// assert!(watcher.recv_timeout(Duration::from_millis(10))?.is_none());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ChangeWatcher::recv`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Change>> {
        self.next_change(Some(Instant::now() + timeout))
    }

    /// The next change if one is committed, without waiting.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let mut watcher = store.watch_from("g", "k", 0)?;
    /// assert!(watcher.try_recv()?.is_none());
    /// store.set("g", "k", "v")?;
    /// assert!(watcher.try_recv()?.is_some());
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ChangeWatcher::recv`].
    pub fn try_recv(&mut self) -> Result<Option<Change>> {
        if self.buffer.is_empty() {
            let Some(engine) = self.engine.upgrade() else {
                return Ok(None);
            };
            if !self.fill(&engine)? {
                return Ok(None);
            }
        }
        Ok(self.buffer.pop_front())
    }

    fn next_change(&mut self, deadline: Option<Instant>) -> Result<Option<Change>> {
        match self.wait_until(deadline)? {
            Waited::Change(change) => Ok(Some(change)),
            Waited::Nothing | Waited::Closed => Ok(None),
        }
    }

    /// [`ChangeWatcher::recv_timeout`] telling a wait that found nothing from a closed
    /// store (the async watcher waits in slices and must know which it was).
    #[cfg(feature = "tokio")]
    pub(crate) fn wait_for(&mut self, timeout: Duration) -> Result<Waited> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    /// The next change already read from the history, if any: no I/O, no waiting.
    #[cfg(feature = "tokio")]
    pub(crate) fn take_buffered(&mut self) -> Option<Change> {
        self.buffer.pop_front()
    }

    /// How long one wait lasts before the history is read again.
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// The operation name this watcher reports its errors under.
    #[cfg(feature = "tokio")]
    pub(crate) fn operation(&self) -> &'static str {
        self.operation
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<Waited> {
        loop {
            if let Some(change) = self.buffer.pop_front() {
                return Ok(Waited::Change(change));
            }
            let Some(engine) = self.engine.upgrade() else {
                return Ok(Waited::Closed);
            };
            // Read the generation first: a change committed after it wakes the wait.
            let generation = engine.events.change_generation();
            if !self.fill(&engine)? {
                return Ok(Waited::Closed);
            }
            if !self.buffer.is_empty() {
                continue;
            }
            let mut pause = self.poll;
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(Waited::Nothing);
                }
                pause = pause.min(deadline - now);
            }
            let events = Arc::clone(&engine.events);
            // Not holding the engine while waiting lets a dropped store close.
            drop(engine);
            events.wait_for_change(generation, pause);
        }
    }

    /// Reads the next batch of the history into the buffer; false when the store is
    /// closed.
    fn fill(&mut self, engine: &Engine) -> Result<bool> {
        let after = self.scanned;
        let batch =
            match engine
                .database
                .with_link(self.operation, "read change history", |connection| {
                    rows::changes_after(connection, after, REPLAY_BATCH)
                }) {
                Ok(batch) => batch,
                Err(Error::Closed { .. }) => return Ok(false),
                Err(error) => return Err(error),
            };
        if let Some(first) = batch.first() {
            // The history is gap-free, so a first change past the next revision means
            // the ones between were pruned.
            if first.revision > after.saturating_add(1) {
                return Err(Error::Compacted {
                    operation: self.operation,
                    requested: after,
                    oldest: first.revision,
                });
            }
        }
        for change in batch {
            self.scanned = change.revision;
            if let Some(change) = self.filter.deliverable_change(change) {
                self.buffer.push_back(change);
            }
        }
        Ok(true)
    }
}

/// What one wait of a [`ChangeWatcher`] came to.
pub(crate) enum Waited {
    /// The next matching change.
    Change(Change),
    /// None before the deadline.
    Nothing,
    /// The store was closed (or dropped) and every change read before has been returned.
    Closed,
}

/// Blocks for each change in turn; ends when the store closes.
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// store.set("g", "a", "1")?;
/// store.set("g", "b", "2")?;
/// let watcher = store.watch_from("g", "*", 0)?;
/// let keys: Vec<String> = watcher
///     .take(2)
///     .map(|change| change.map(|change| change.key))
///     .collect::<store::Result<_>>()?;
/// assert_eq!(keys, ["a", "b"]);
/// # Ok::<(), store::Error>(())
/// ```
impl Iterator for ChangeWatcher {
    type Item = Result<Change>;

    fn next(&mut self) -> Option<Result<Change>> {
        self.recv().transpose()
    }
}

impl fmt::Debug for ChangeWatcher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ChangeWatcher")
            .field("revision", &self.revision())
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl Drop for ChangeWatcher {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.upgrade() {
            engine.events.follow(false);
        }
    }
}
