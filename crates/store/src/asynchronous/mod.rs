//! The store for tokio programs (cargo feature `tokio`): [`AsyncStore`] and
//! [`AsyncScopedStore`], every read and write of [`Store`] as an `async fn`, watchers and
//! paged iterators as [`futures_core::Stream`]s.
//!
//! # How a call reaches SQLite
//!
//! The store has one connection behind one lock, and most calls hold it for a few
//! microseconds. Handing each call to another thread costs more than the call itself,
//! so an async call takes the cheapest route that can never block a runtime thread:
//!
//! - **Inline**, on the task's own thread, for point reads (`get`, `exists`,
//!   `get_split`, `get_fields`) and, on an in-memory store, point writes (`set`,
//!   `set_with_ttl`, `delete`) — but only when the connection lock is free at that
//!   instant (a try-lock), no call of this store is queued on its thread (calls keep
//!   their order) and no `on_change` callback is registered (user code never runs on a
//!   runtime thread). A busy lock refuses the attempt before any statement runs, and the
//!   call goes off-thread instead. A point read takes about 2 µs: less than a thread
//!   hop, and less than many a runtime's own bookkeeping per poll.
//! - **Off-thread**, on the store's own thread (one per [`AsyncStore`] and its clones,
//!   ending with the last of them), for everything else: every write to a file (a
//!   commit in [`Durability::Full`](crate::Durability::Full) waits for `fsync`, and in
//!   `Normal` an automatic checkpoint may), scans (`count`, `get_all`, `groups`,
//!   `render`), transactions, purges, the journal, open and close, and each page of a
//!   stream. On a file-backed store a commit hook refuses any write attempted inline — a
//!   `get` that finds an expired row deletes it — so that attempt is rolled back and
//!   made again off-thread.
//!
//! The store's own thread rather than `spawn_blocking`, measured on the CI machine (2
//! shared cores, release build, `:memory:`, `get` of one key):
//!
//! | route | one task | 64 tasks (per call) |
//! |---|---|---|
//! | blocking `Store::get` | 2.1 µs | — |
//! | `spawn_blocking` | 18–25 µs | 24–28 µs |
//! | a dedicated thread, channel in, oneshot out | 11–12 µs | 5.1–5.4 µs |
//! | inline (this module, mixed calls for 64 tasks) | 3.2 µs (store 3.4 µs) | 2.4 µs |
//!
//! The pool pays for its bookkeeping and spreads 64 waiting calls over many threads
//! that then fight for the one lock; one thread serves a queue back to back, in order,
//! with one wake-up each way. The one connection is the bottleneck either way, so one
//! thread loses no parallelism. `store-bench --workload async_get,async_set,
//! async_concurrency` measures the routes against the blocking store and raw rusqlite;
//! `--quick --rounds 5` on the same machine (time per call, async ÷ blocking store):
//!
//! | workload | memory | `Normal` file | `Full` file |
//! |---|---|---|---|
//! | `get`, current-thread | 2.29 µs, 1.05× | 5.12 µs, 0.96× | 5.64 µs, 0.99× |
//! | `get`, multi-thread | 1.80 µs, 0.82× | 6.16 µs, 1.16× | 5.38 µs, 0.95× |
//! | `set`, current-thread | 3.29 µs, 1.03× | 20.1 µs, 2.10× | 13.6 µs, 2.07× |
//! | `set`, multi-thread | 3.42 µs, 1.07× | 23.5 µs, 2.46× | 20.6 µs, 3.14× |
//! | 64 tasks ÷ 1 task, current-thread | 1.00× | 0.68× | 0.74× |
//! | 64 tasks ÷ 1 task, multi-thread | 1.04× | 0.73× | 1.51× |
//!
//! The worker stays awake for 20 µs after each call before it sleeps: a task awaiting one
//! call after another finds it awake, which took a `set` to a `Full` file on a
//! current-thread runtime from 27.6 to 13.6 µs.
//!
//! A write to a file pays one hop (10–20 µs here) because it must not wait for the disk
//! on a runtime thread. In this run the virtual disk acknowledged `fsync` almost at once
//! (a blocking `set` in `Full` took 6.6 µs), so the hop shows; where one `fsync` takes
//! a quarter of a millisecond or more, as in `BENCHMARKS.md`'s reference run, the hop is
//! lost in it. (The machine was shared and loaded: between two runs the multi-thread
//! `Full` concurrency ratio moved from 0.84× to 1.51× and the `Normal` one from 1.16×
//! to 0.73×.)
//!
//! # Cancellation
//!
//! An inline call finishes within one poll, so there is nothing to cancel half way. An
//! off-thread call, once polled, is queued and runs to its end even when its future is
//! dropped: a write lands whole (and its events go out), a transaction commits or rolls
//! back as one, and calls run in the order they were first polled, dropped or not; a
//! future dropped before its first poll did nothing. Dropping a future never leaves the
//! connection held or the store unusable.
//!
//! # Transactions
//!
//! [`AsyncStore::transaction`] takes the same closure as [`Store::transaction`], `Send`
//! and `'static`, and runs it on the store's thread. It is not an `async` closure on
//! purpose: a transaction holds the store's only connection, and holding it across an
//! `.await` (a network call, say) would stall every other caller of the store.
//!
//! # Revisions and the change feed
//!
//! `revision` and `get_with_revision` are point reads, `set_if`, `set_bytes_if` and
//! `delete_if` point writes, on the routes above. `watch_from` returns an
//! [`AsyncChangeWatcher`], whose `recv` waits on tokio's blocking pool in slices of at
//! most 100 ms and is cancellation-safe (see [`AsyncChangeWatcher`]'s module,
//! `asynchronous/revisions.rs`).

mod dispatch;
mod revisions;
mod scoped;
mod stream;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::StoreConfig;
use crate::error::Result;
use crate::kv::entries::KeyValue;
use crate::kv::events::{Event, Subscription};
use crate::pipeline::archive::CompactOptions;
use crate::pipeline::point::Row;
use crate::stats::StoreStats;
use crate::store::Store;
use crate::transaction::Transaction;
use crate::transfer::Entry;

use dispatch::{call, Inline, Worker};

pub use revisions::AsyncChangeWatcher;
pub use scoped::AsyncScopedStore;
pub use stream::{AsyncWatcher, PageStream};

/// The store for async programs: every read and write of [`Store`] as an `async fn`
/// that never blocks the runtime's threads (see the [module docs](self) for how calls
/// reach SQLite). Clone it freely; every clone shares one connection, and
/// [`AsyncStore::blocking`] gives the [`Store`] behind it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = store::AsyncStore::open(":memory:").await?;
/// store.set("config", "colour", "blue").await?;
/// assert_eq!(store.get("config", "colour").await?, "blue");
/// // The same connection, blocking, for code that is not async.
/// assert_eq!(store.blocking().count("config")?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AsyncStore {
    store: Store,
    inline: Inline,
    worker: Worker,
}

impl Store {
    /// This store as an [`AsyncStore`], on the same connection (clones of either keep
    /// working). It starts the store's async thread and, for a file, takes the connection
    /// once to install the commit hook that keeps writes off runtime threads: call it
    /// where a short wait for the lock is fine, e.g. at start-up.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// let shared = store.clone().into_async();
    /// assert_eq!(shared.get("config", "colour").await?, "blue");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn into_async(self) -> AsyncStore {
        AsyncStore::with_worker(self, Worker::start())
    }
}

impl AsyncStore {
    /// [`Store::open`] off the runtime: opens (or creates) the store at `database_path`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let directory = tempfile::tempdir()?;
    /// let store = store::AsyncStore::open(directory.path().join("app.db")).await?;
    /// store.set("config", "colour", "blue").await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::open`].
    pub async fn open(database_path: impl AsRef<Path>) -> Result<AsyncStore> {
        AsyncStore::open_with(StoreConfig::new(database_path.as_ref())).await
    }

    /// [`Store::open_with`] off the runtime: opens the store described by `config`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let config = store::StoreConfig {
    ///     purge_interval: std::time::Duration::ZERO,
    ///     ..store::StoreConfig::new(":memory:")
    /// };
    /// let store = store::AsyncStore::open_with(config).await?;
    /// assert!(!store.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::open_with`].
    pub async fn open_with(config: StoreConfig) -> Result<AsyncStore> {
        let worker = Worker::start();
        let store = worker
            .run("store.open", move || Store::open_with(config))
            .await?;
        Ok(AsyncStore::with_worker(store, worker))
    }

    fn with_worker(store: Store, worker: Worker) -> AsyncStore {
        AsyncStore {
            inline: Inline::prepare(&store),
            store,
            worker,
        }
    }

    /// The blocking [`Store`] on the same connection.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.blocking().set("config", "colour", "blue")?;
    /// assert_eq!(store.get("config", "colour").await?, "blue");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn blocking(&self) -> &Store {
        &self.store
    }

    /// Runs `work` with the blocking [`Store`] on the store's own thread: any store
    /// method, including one this type has no async twin for yet.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// let keys = store.run(|store| store.all("config").map(|entry| entry.map(|entry| entry.key)).collect::<store::Result<Vec<_>>>()).await?;
    /// assert_eq!(keys, ["colour"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `work` returns; `Io` if the store's thread could not be started.
    pub async fn run<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        self.worker.run("store.run", move || work(&store)).await
    }

    /// [`Store::config`]: the configuration the store was opened with.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// assert_eq!(store.config().database_path, std::path::PathBuf::from(":memory:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn config(&self) -> StoreConfig {
        self.store.config()
    }

    /// [`Store::database_path`]: the database path exactly as given.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// assert_eq!(store.database_path(), std::path::PathBuf::from(":memory:"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn database_path(&self) -> PathBuf {
        self.store.database_path()
    }

    /// True once the store has been closed through any handle.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.close().await?;
    /// assert!(store.is_closed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.store.is_closed()
    }

    /// [`Store::close`] off the runtime: closes the store for every handle; watchers end
    /// after their buffered events, and later calls return `Closed`. Idempotent.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.close().await?;
    /// store.close().await?;
    /// assert!(matches!(store.get("g", "k").await, Err(store::Error::Closed { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::close`].
    pub async fn close(&self) -> Result<()> {
        call!(self, self.store, Long, "store.close", [], |store| store
            .close())
    }

    /// [`Store::get`]: the live value of a key. Runs inline (see the module docs).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(store.get("config", "colour").await?, "blue");
    /// assert!(store.get("config", "size").await.unwrap_err().is_not_found());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` when the key is missing or expired; `Closed`; `Database`.
    pub async fn get(&self, group: &str, key: &str) -> Result<String> {
        call!(self, self.store, Read, "store.get", [group, key], |store| {
            store.get(&group, &key)
        })
    }

    /// [`Store::exists`]: true if the key has a live value.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// assert!(store.exists("config", "colour").await?);
    /// assert!(!store.exists("config", "size").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn exists(&self, group: &str, key: &str) -> Result<bool> {
        call!(
            self,
            self.store,
            Read,
            "store.exists",
            [group, key],
            |store| store.exists(&group, &key)
        )
    }

    /// [`Store::set`]: sets a value with no expiry. Emits `Set`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(store.get("config", "colour").await?, "blue");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        call!(
            self,
            self.store,
            Write,
            "store.set",
            [group, key, value],
            |store| store.set(&group, &key, &value)
        )
    }

    /// [`Store::set_with_ttl`]: sets a value that expires after `ttl`. Emits `Set`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// use std::time::Duration;
    /// store.set_with_ttl("sessions", "alice", "token", Duration::from_secs(60)).await?;
    /// assert_eq!(store.get("sessions", "alice").await?, "token");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn set_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<()> {
        call!(
            self,
            self.store,
            Write,
            "store.set_with_ttl",
            [group, key, value, ttl],
            |store| store.set_with_ttl(&group, &key, &value, ttl)
        )
    }

    /// [`Store::delete`]: removes a key; a missing key is not an error.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// store.delete("config", "colour").await?;
    /// assert!(!store.exists("config", "colour").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn delete(&self, group: &str, key: &str) -> Result<()> {
        call!(
            self,
            self.store,
            Write,
            "store.delete",
            [group, key],
            |store| store.delete(&group, &key)
        )
    }

    /// [`Store::delete_group`]: removes every key of a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// store.delete_group("config").await?;
    /// assert_eq!(store.count("config").await?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        call!(
            self,
            self.store,
            Long,
            "store.delete_group",
            [group],
            |store| store.delete_group(&group)
        )
    }

    /// [`Store::delete_prefix`]: removes every group whose name starts with `group_prefix`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("tenant-a:config", "colour", "blue").await?;
    /// store.set("tenant-b:config", "colour", "red").await?;
    /// store.delete_prefix("tenant-a:").await?;
    /// assert_eq!(store.groups("").await?, ["tenant-b:config"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database` (nothing is removed).
    pub async fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        call!(
            self,
            self.store,
            Long,
            "store.delete_prefix",
            [group_prefix],
            |store| store.delete_prefix(&group_prefix)
        )
    }

    /// [`Store::group_exists`]: true if the group has a live entry.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// assert!(store.group_exists("config").await?);
    /// assert!(!store.group_exists("cache").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn group_exists(&self, group: &str) -> Result<bool> {
        call!(
            self,
            self.store,
            Long,
            "store.group_exists",
            [group],
            |store| store.group_exists(&group)
        )
    }

    /// [`Store::count`]: the number of live entries in a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// store.set("config", "size", "10").await?;
    /// assert_eq!(store.count("config").await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn count(&self, group: &str) -> Result<usize> {
        call!(self, self.store, Long, "store.count", [group], |store| {
            store.count(&group)
        })
    }

    /// [`Store::count_all`]: the live entries of every group starting with `group_prefix`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("tenant-a:config", "colour", "blue").await?;
    /// store.set("tenant-b:config", "colour", "red").await?;
    /// assert_eq!(store.count_all("tenant-a:").await?, 1);
    /// assert_eq!(store.count_all("").await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn count_all(&self, group_prefix: &str) -> Result<usize> {
        call!(
            self,
            self.store,
            Long,
            "store.count_all",
            [group_prefix],
            |store| store.count_all(&group_prefix)
        )
    }

    /// [`Store::get_all`]: every live key and value of a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// let all = store.get_all("config").await?;
    /// assert_eq!(all.get("colour").map(String::as_str), Some("blue"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        call!(self, self.store, Long, "store.get_all", [group], |store| {
            store.get_all(&group)
        })
    }

    /// [`Store::get_page`]: up to `limit` live entries of a group in key order, after skipping `offset`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// for key in ["a", "b", "c"] {
    ///     store.set("letters", key, key).await?;
    /// }
    /// let page = store.get_page("letters", 1, 1).await?;
    /// assert_eq!(page[0].key, "b");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn get_page(
        &self,
        group: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        call!(
            self,
            self.store,
            Long,
            "store.get_page",
            [group, offset, limit],
            |store| store.get_page(&group, offset, limit)
        )
    }

    /// [`Store::groups`]: the names of the groups with a live entry starting with `group_prefix`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("a", "k", "v").await?;
    /// store.set("b", "k", "v").await?;
    /// assert_eq!(store.groups("").await?, ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        call!(
            self,
            self.store,
            Long,
            "store.groups",
            [group_prefix],
            |store| store.groups(&group_prefix)
        )
    }

    /// [`Store::get_split`]: the value split at every `separator`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "hosts", "a,b").await?;
    /// assert_eq!(store.get_split("config", "hosts", ",").await?, ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncStore::get`].
    pub async fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        call!(
            self,
            self.store,
            Read,
            "store.get_split",
            [group, key, separator],
            |store| store.get_split(&group, &key, &separator)
        )
    }

    /// [`Store::get_fields`]: the value split on runs of white space.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "flags", " -v  --colour ").await?;
    /// assert_eq!(store.get_fields("config", "flags").await?, ["-v", "--colour"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncStore::get`].
    pub async fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        call!(
            self,
            self.store,
            Read,
            "store.get_fields",
            [group, key],
            |store| store.get_fields(&group, &key)
        )
    }

    /// [`Store::render`]: fills a Go `text/template` from a group.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("user", "name", "Ada").await?;
    /// assert_eq!(store.render("hello {{ .name }}", "user").await?, "hello Ada");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Template`; `Closed`; `Database`.
    pub async fn render(&self, template_source: &str, group: &str) -> Result<String> {
        call!(
            self,
            self.store,
            Long,
            "store.render",
            [template_source, group],
            |store| store.render(&template_source, &group)
        )
    }

    /// [`Store::purge_expired`]: removes every expired entry now; returns how many.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set_with_ttl("cache", "old", "v", std::time::Duration::ZERO).await?;
    /// assert_eq!(store.purge_expired().await?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database`.
    pub async fn purge_expired(&self) -> Result<u64> {
        call!(self, self.store, Long, "store.purge_expired", [], |store| {
            store.purge_expired()
        })
    }

    /// [`Store::stats`]: counts and sizes of the store.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(store.stats().await?.entries, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database`.
    pub async fn stats(&self) -> Result<StoreStats> {
        call!(self, self.store, Long, "store.stats", [], |store| store
            .stats())
    }

    /// [`Store::query_journal`]: a Flux subset or read-only SQL over the journal.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// assert!(store.query_journal("").await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad query; `Closed`; `Database`.
    pub async fn query_journal(&self, query: &str) -> Result<Vec<Row>> {
        call!(
            self,
            self.store,
            Long,
            "store.query_journal",
            [query],
            |store| store.query_journal(&query)
        )
    }

    /// [`Store::flush_journal`]: ships the queued journal points now; returns how many.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// assert_eq!(store.flush_journal().await?, 0); // no journal configured
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As the blocking method.
    pub async fn flush_journal(&self) -> Result<usize> {
        call!(self, self.store, Long, "store.flush_journal", [], |store| {
            store.flush_journal()
        })
    }

    /// [`Store::compact`]: moves journal points older than `options.before` into an archive.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let directory = tempfile::tempdir()?;
    /// let options = store::CompactOptions { output: directory.path().to_owned(), ..store::CompactOptions::new(std::time::SystemTime::now()) };
    /// assert_eq!(store.compact(options).await?, None); // nothing to archive
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As the blocking method.
    pub async fn compact(&self, options: CompactOptions) -> Result<Option<PathBuf>> {
        call!(
            self,
            self.store,
            Long,
            "store.compact",
            [options],
            |store| store.compact(options.clone())
        )
    }

    /// [`Store::all`] as a stream: every live entry of a group in key order, a page at a
    /// time off the runtime, no lock held between pages.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::future::poll_fn;
    /// use std::pin::pin;
    /// use futures_core::Stream;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// let mut entries = pin!(store.all("config"));
    /// let first = poll_fn(|context| entries.as_mut().poll_next(context)).await.transpose()?;
    /// assert_eq!(first.map(|entry| entry.key), Some("colour".to_owned()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn all(&self, group: &str) -> PageStream<KeyValue> {
        PageStream::new("store.all", &self.worker, self.store.all(group))
    }

    /// [`Store::groups_iter`] as a stream, a page at a time off the runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::future::poll_fn;
    /// use std::pin::pin;
    /// use futures_core::Stream;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("a", "k", "v").await?;
    /// let mut names = pin!(store.groups_iter(""));
    /// let first = poll_fn(|context| names.as_mut().poll_next(context)).await.transpose()?;
    /// assert_eq!(first.as_deref(), Some("a"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn groups_iter(&self, group_prefix: &str) -> PageStream<String> {
        PageStream::new(
            "store.groups_iter",
            &self.worker,
            self.store.groups_iter(group_prefix),
        )
    }

    /// [`Store::export`] as a stream: every live entry with its expiry, a page at a time.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::future::poll_fn;
    /// use std::pin::pin;
    /// use futures_core::Stream;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// let mut entries = pin!(store.export(""));
    /// let first = poll_fn(|context| entries.as_mut().poll_next(context)).await.transpose()?;
    /// assert_eq!(first.map(|entry| entry.group), Some("config".to_owned()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn export(&self, group_prefix: &str) -> PageStream<Entry> {
        PageStream::new(
            "store.export",
            &self.worker,
            self.store.export(group_prefix),
        )
    }

    /// [`Store::import`] off the runtime: writes every entry in one transaction.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let entry = store::Entry { group: "g".into(), key: "k".into(), value: "v".into(), expires_at: None };
    /// assert_eq!(store.import(vec![entry]).await?, 1);
    /// assert_eq!(store.get("g", "k").await?, "v");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `ReadOnly`; `Database` (nothing is written).
    pub async fn import<I>(&self, entries: I) -> Result<usize>
    where
        I: IntoIterator<Item = Entry> + Send + 'static,
    {
        let store = self.store.clone();
        self.worker
            .run("store.import", move || store.import(entries))
            .await
    }

    /// [`Store::commit_to_journal`] off the runtime: writes one point to the journal.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let fields = serde_json::json!({ "duration_ms": 12 });
    /// let fields = fields.as_object().cloned().unwrap_or_default();
    /// let entry = store.commit_to_journal("request", &fields, &Default::default()).await?;
    /// assert_eq!(entry.measurement, "request");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::commit_to_journal`].
    pub async fn commit_to_journal(
        &self,
        measurement: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
        tags: &BTreeMap<String, String>,
    ) -> Result<crate::pipeline::point::JournalEntry> {
        call!(
            self,
            self.store,
            Long,
            "store.commit_to_journal",
            [measurement, fields, tags],
            |store| store.commit_to_journal(&measurement, &fields, &tags)
        )
    }

    /// [`Store::transaction`] off the runtime: `operation` runs in one transaction on the
    /// store's thread (see the [module docs](self) for why it is not an `async` closure).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.transaction(|transaction| {
    ///     transaction.set("accounts", "alice", "90")?;
    ///     transaction.set("accounts", "bob", "110")
    /// }).await?;
    /// assert_eq!(store.count("accounts").await?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::transaction`].
    pub async fn transaction<T, F>(&self, operation: F) -> Result<T>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        self.worker
            .run("store.transaction", move || store.transaction(operation))
            .await
    }

    /// [`Store::watch`] as a [`Stream`](futures_core::Stream): the events for `group` and
    /// `key` (`"*"` matches anything), buffered 16 deep, ending when the store closes.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let watcher = store.watch("config", "*");
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(watcher.dropped(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn watch(&self, group: &str, key: &str) -> AsyncWatcher {
        AsyncWatcher::new(&self.store.engine.events, None, group, key)
    }

    /// Stops a watcher; the same as dropping it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.unwatch(store.watch("*", "*"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unwatch(&self, watcher: AsyncWatcher) {
        drop(watcher);
    }

    /// [`Store::on_change`]: `callback` runs for every event on the thread that made the
    /// change. While any callback is registered no call runs inline, so a callback never
    /// runs on a runtime thread.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&seen);
    /// let subscription = store.on_change(move |_event| {
    ///     counter.fetch_add(1, Ordering::SeqCst);
    /// });
    /// store.set("g", "k", "v").await?;
    /// subscription.unregister();
    /// assert_eq!(seen.load(Ordering::SeqCst), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_change<F>(&self, callback: F) -> Subscription
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.store.on_change(callback)
    }
}

impl fmt::Debug for AsyncStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AsyncStore")
            .field("store", &self.store)
            .field("inline", &self.inline)
            .finish_non_exhaustive()
    }
}
