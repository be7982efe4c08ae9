//! The async twins of revisions, compare-and-set and the change feed (`crate::revisions`):
//! `revision` and `get_with_revision` are point reads, `set_if`, `set_bytes_if` and
//! `delete_if` point writes, routed as every other call is (see the module above), and
//! [`AsyncChangeWatcher`], the change feed for async tasks.
//!
//! # How the change watcher waits
//!
//! A [`ChangeWatcher`] waits in two ways: on a condition variable for this process's
//! commits, and by reading the history every 10 ms for other processes' commits. Neither
//! may happen on a runtime thread, and the store's own thread serves every call of the
//! store, so it cannot wait there either. [`AsyncChangeWatcher::recv`] therefore:
//!
//! 1. returns a change the watcher already read from the history (it reads up to 1,000
//!    at a time) at once, with no I/O and no hop;
//! 2. otherwise hands the blocking watcher to a thread of tokio's blocking pool
//!    (`spawn_blocking`; off a tokio runtime, a short-lived thread of its own) for one
//!    *slice* of at most 100 ms, and gets it back through a oneshot channel with what the
//!    slice found: a change, nothing (then the next slice starts), or a closed store.
//!
//! A waiting `recv` occupies one blocking-pool thread. A slice looks every 10 ms whether
//! the watcher is still wanted, so dropping an [`AsyncChangeWatcher`] frees its thread
//! within about 10 ms, and a runtime shutting down never waits long for it.
//!
//! # Cancellation
//!
//! `recv` is cancellation-safe: dropping its future (in a `select!` that another branch
//! won, say) loses no change and delivers none twice. Everything in flight belongs to
//! the [`AsyncChangeWatcher`], not to the future: the blocking watcher, and while a
//! slice runs, the receiving end of the channel that brings it back with what it found.
//! A later `recv` takes up that same slice where the dropped one left it, so a change
//! the slice found after the future was dropped is the next one returned.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures_core::Stream;
use tokio::sync::oneshot;

use crate::asynchronous::dispatch::call;
use crate::asynchronous::{AsyncScopedStore, AsyncStore};
use crate::error::{Error, Result};
use crate::kv::changes::Change;
use crate::revisions::{ChangeWatcher, Waited};

/// The longest one blocking wait of an [`AsyncChangeWatcher`] lasts before it hands the
/// watcher back and the next begins.
const SLICE: Duration = Duration::from_millis(100);

impl AsyncStore {
    /// [`Store::revision`](crate::Store::revision): the newest revision of the store.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// assert_eq!(store.revision().await?, 0);
    /// store.set("config", "colour", "blue").await?;
    /// assert_eq!(store.revision().await?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::revision`](crate::Store::revision).
    pub async fn revision(&self) -> Result<u64> {
        call!(self, self.store, Read, "store.revision", [], |store| store
            .revision())
    }

    /// [`Store::get_with_revision`](crate::Store::get_with_revision): a live value with
    /// the revision that last wrote it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let revision = store.set_if("config", "colour", "blue", None).await?;
    /// let (value, read) = store.get_with_revision("config", "colour").await?;
    /// assert_eq!((value.as_str(), read), ("blue", revision));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_with_revision`](crate::Store::get_with_revision).
    pub async fn get_with_revision(&self, group: &str, key: &str) -> Result<(String, u64)> {
        call!(
            self,
            self.store,
            Read,
            "store.get_with_revision",
            [group, key],
            |store| store.get_with_revision(&group, &key)
        )
    }

    /// [`Store::get_bytes_with_revision`](crate::Store::get_bytes_with_revision): a live
    /// value's bytes with the revision that last wrote it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let revision = store.set_bytes_if("blocks", "b1", &[0, 255], None).await?;
    /// assert_eq!(store.get_bytes_with_revision("blocks", "b1").await?, (vec![0, 255], revision));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes_with_revision`](crate::Store::get_bytes_with_revision).
    pub async fn get_bytes_with_revision(&self, group: &str, key: &str) -> Result<(Vec<u8>, u64)> {
        call!(
            self,
            self.store,
            Read,
            "store.get_bytes_with_revision",
            [group, key],
            |store| store.get_bytes_with_revision(&group, &key)
        )
    }

    /// [`Store::set_if`](crate::Store::set_if): sets a text value only if the key is at
    /// revision `expected` (`None`: only if absent); returns the new revision.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let first = store.set_if("config", "colour", "blue", None).await?;
    /// store.set_if("config", "colour", "green", Some(first)).await?;
    /// let error = store.set_if("config", "colour", "red", Some(first)).await.unwrap_err();
    /// assert!(error.is_conflict());
    /// assert_eq!(store.get("config", "colour").await?, "green");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_if`](crate::Store::set_if).
    pub async fn set_if(
        &self,
        group: &str,
        key: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64> {
        call!(
            self,
            self.store,
            Write,
            "store.set_if",
            [group, key, value, expected],
            |store| store.set_if(&group, &key, &value, expected)
        )
    }

    /// [`Store::set_bytes_if`](crate::Store::set_bytes_if): [`AsyncStore::set_if`] for a
    /// binary value.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let revision = store.set_bytes_if("blocks", "b1", &[0, 255], None).await?;
    /// assert!(store.set_bytes_if("blocks", "b1", &[1], None).await.unwrap_err().is_conflict());
    /// store.set_bytes_if("blocks", "b1", &[1], Some(revision)).await?;
    /// assert_eq!(store.get_bytes("blocks", "b1").await?, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::set_bytes_if`](crate::Store::set_bytes_if).
    pub async fn set_bytes_if(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<u64> {
        call!(
            self,
            self.store,
            Write,
            "store.set_bytes_if",
            [group, key, value, expected],
            |store| store.set_bytes_if(&group, &key, &value, expected)
        )
    }

    /// [`Store::delete_if`](crate::Store::delete_if): deletes a key only if it is at
    /// revision `expected`; returns the revision of the delete.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let revision = store.set_if("locks", "job-7", "worker-a", None).await?;
    /// assert!(store.delete_if("locks", "job-7", revision + 1).await.unwrap_err().is_conflict());
    /// store.delete_if("locks", "job-7", revision).await?;
    /// assert!(!store.exists("locks", "job-7").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::delete_if`](crate::Store::delete_if).
    pub async fn delete_if(&self, group: &str, key: &str, expected: u64) -> Result<u64> {
        call!(
            self,
            self.store,
            Write,
            "store.delete_if",
            [group, key, expected],
            |store| store.delete_if(&group, &key, expected)
        )
    }

    /// [`Store::watch_from`](crate::Store::watch_from) for async tasks: replays every
    /// retained change of `group` and `key` (either may be `"*"`) after `revision`, then
    /// follows new ones, other processes' included, without blocking the runtime.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("config", "colour", "blue").await?;
    /// let mut watcher = store.watch_from("config", "*", 0).await?;
    /// let change = watcher.recv().await?.expect("the replayed change");
    /// assert_eq!((change.revision, change.value_text()), (1, Some("blue")));
    /// store.delete("config", "colour").await?;
    /// let change = watcher.recv().await?.expect("the followed change");
    /// assert_eq!(change.kind, store::EventType::Delete);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::watch_from`](crate::Store::watch_from).
    pub async fn watch_from(
        &self,
        group: &str,
        key: &str,
        revision: u64,
    ) -> Result<AsyncChangeWatcher> {
        call!(
            self,
            self.store,
            Read,
            "store.watch_from",
            [group, key, revision],
            |store| store
                .watch_from(&group, &key, revision)
                .map(AsyncChangeWatcher::new)
        )
    }
}

impl AsyncScopedStore {
    /// [`ScopedStore::revision`](crate::ScopedStore::revision): the newest revision of
    /// the whole store.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// tenant.set("config", "colour", "blue").await?;
    /// assert_eq!(tenant.revision().await?, store.revision().await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::revision`](crate::Store::revision).
    pub async fn revision(&self) -> Result<u64> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.revision",
            [],
            |store| store.revision()
        )
    }

    /// [`ScopedStore::get_with_revision`](crate::ScopedStore::get_with_revision).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// let revision = tenant.set_if("config", "colour", "blue", None).await?;
    /// assert_eq!(tenant.get_with_revision("config", "colour").await?, ("blue".to_owned(), revision));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_with_revision`](crate::Store::get_with_revision).
    pub async fn get_with_revision(&self, group: &str, key: &str) -> Result<(String, u64)> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.get_with_revision",
            [group, key],
            |store| store.get_with_revision(&group, &key)
        )
    }

    /// [`ScopedStore::get_bytes_with_revision`](crate::ScopedStore::get_bytes_with_revision).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// let revision = tenant.set_bytes_if("blocks", "b1", &[7], None).await?;
    /// assert_eq!(tenant.get_bytes_with_revision("blocks", "b1").await?, (vec![7], revision));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::get_bytes_with_revision`](crate::Store::get_bytes_with_revision).
    pub async fn get_bytes_with_revision(&self, group: &str, key: &str) -> Result<(Vec<u8>, u64)> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.get_bytes_with_revision",
            [group, key],
            |store| store.get_bytes_with_revision(&group, &key)
        )
    }

    /// [`ScopedStore::set_if`](crate::ScopedStore::set_if): compare-and-set in the
    /// namespace; the quota is checked when the write would create the key.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// let first = tenant.set_if("config", "colour", "blue", None).await?;
    /// assert!(tenant.set_if("config", "colour", "red", None).await.unwrap_err().is_conflict());
    /// tenant.set_if("config", "colour", "green", Some(first)).await?;
    /// assert_eq!(store.get("tenant-a:config", "colour").await?, "green");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_if`](crate::ScopedStore::set_if).
    pub async fn set_if(
        &self,
        group: &str,
        key: &str,
        value: &str,
        expected: Option<u64>,
    ) -> Result<u64> {
        call!(
            self,
            self.scoped,
            Write,
            "store.scoped.set_if",
            [group, key, value, expected],
            |store| store.set_if(&group, &key, &value, expected)
        )
    }

    /// [`ScopedStore::set_bytes_if`](crate::ScopedStore::set_bytes_if).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// tenant.set_bytes_if("blocks", "b1", &[0, 255], None).await?;
    /// assert!(tenant.set_bytes_if("blocks", "b1", &[1], None).await.unwrap_err().is_conflict());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::set_if`](crate::ScopedStore::set_if).
    pub async fn set_bytes_if(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<u64> {
        call!(
            self,
            self.scoped,
            Write,
            "store.scoped.set_bytes_if",
            [group, key, value, expected],
            |store| store.set_bytes_if(&group, &key, &value, expected)
        )
    }

    /// [`ScopedStore::delete_if`](crate::ScopedStore::delete_if).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// let revision = tenant.set_if("locks", "job-7", "worker-a", None).await?;
    /// tenant.delete_if("locks", "job-7", revision).await?;
    /// assert!(!tenant.exists("locks", "job-7").await?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ScopedStore::delete_if`](crate::ScopedStore::delete_if).
    pub async fn delete_if(&self, group: &str, key: &str, expected: u64) -> Result<u64> {
        call!(
            self,
            self.scoped,
            Write,
            "store.scoped.delete_if",
            [group, key, expected],
            |store| store.delete_if(&group, &key, expected)
        )
    }

    /// [`ScopedStore::watch_from`](crate::ScopedStore::watch_from) for async tasks:
    /// changes of the namespace's groups, delivered with their local group names.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let tenant = store::AsyncScopedStore::new(&store, "tenant-a")?;
    /// store.set("config", "colour", "outside").await?;
    /// tenant.set("config", "colour", "blue").await?;
    /// let mut watcher = tenant.watch_from("config", "*", 0).await?;
    /// let change = watcher.recv().await?.expect("the tenant's change");
    /// assert_eq!((change.group.as_str(), change.value_text()), ("config", Some("blue")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::watch_from`](crate::Store::watch_from).
    pub async fn watch_from(
        &self,
        group: &str,
        key: &str,
        revision: u64,
    ) -> Result<AsyncChangeWatcher> {
        call!(
            self,
            self.scoped,
            Read,
            "store.scoped.watch_from",
            [group, key, revision],
            |store| store
                .watch_from(&group, &key, revision)
                .map(AsyncChangeWatcher::new)
        )
    }
}

/// What a slice sends back: the watcher and what it found, or the panic it raised.
type SliceOutcome = thread::Result<(ChangeWatcher, Result<Waited>)>;

/// Where the blocking watcher is.
enum State {
    /// Here, between waits.
    Idle(Box<ChangeWatcher>),
    /// Away on a blocking thread for one slice; it comes back through this channel.
    Waiting(oneshot::Receiver<SliceOutcome>),
    /// The store closed (or the watcher could not be brought back): only `None` follows.
    Ended,
}

/// [`ChangeWatcher`] for async tasks: the durable, ordered, resumable feed of the changes
/// matching one `(group, key)` filter, whose [`recv`](AsyncChangeWatcher::recv) never
/// blocks a runtime thread and is cancellation-safe. It is also a
/// [`Stream`](futures_core::Stream) of `Result<Change>` that ends when the store closes.
///
/// Created by [`AsyncStore::watch_from`] (or [`AsyncScopedStore::watch_from`]). It
/// replays the retained changes after the revision it was given, then follows new ones,
/// from this process (at once) and from others (within about 10 ms). Its buffer is the
/// file's history, so a watcher that is not read never slows a writer and never drops a
/// change. See the [module docs](self) for how it waits and why dropping a `recv` future
/// loses nothing.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let store = store::AsyncStore::open(":memory:").await?;
/// let mut watcher = store.watch_from("sessions", "*", store.revision().await?).await?;
/// let writer = store.clone();
/// tokio::spawn(async move { writer.set("sessions", "alice", "token").await });
/// let change = watcher.recv().await?.expect("the change");
/// assert_eq!(change.key, "alice");
/// assert_eq!(watcher.revision(), change.revision);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncChangeWatcher {
    operation: &'static str,
    state: State,
    /// Every matching change up to this revision has been returned.
    revision: u64,
}

impl AsyncChangeWatcher {
    fn new(watcher: ChangeWatcher) -> AsyncChangeWatcher {
        AsyncChangeWatcher {
            operation: watcher.operation(),
            revision: watcher.revision(),
            state: State::Idle(Box::new(watcher)),
        }
    }

    /// The revision this watcher has reached: every matching change up to it has been
    /// returned. Pass it to `watch_from` to resume with no gap and no duplicate. While a
    /// `recv` waits it stays where the last `recv` left it (changes skipped meanwhile
    /// because they did not match are counted once the wait returns).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("g", "a", "1").await?;
    /// store.set("other", "b", "2").await?;
    /// let mut watcher = store.watch_from("g", "*", 0).await?;
    /// assert_eq!(watcher.revision(), 0);
    /// assert_eq!(watcher.recv().await?.map(|change| change.revision), Some(1));
    /// assert_eq!(watcher.revision(), 2, "the other group's change was read and skipped");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Waits for the next change without blocking the runtime; `Ok(None)` once the store
    /// has been closed (and every change read before has been returned).
    /// Cancellation-safe: dropping the future loses no change (see the
    /// [module docs](self)).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("g", "k", "v").await?;
    /// let mut watcher = store.watch_from("*", "*", 0).await?;
    /// assert_eq!(watcher.recv().await?.map(|change| change.key), Some("k".to_owned()));
    /// store.close().await?;
    /// assert!(watcher.recv().await?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Compacted` when the changes it needs next were pruned (the watcher stays where it
    /// was); `Database`; `Io` when no thread could be started to wait on; `Closed` when
    /// the runtime shut down while the watcher was away waiting (it is gone with it).
    pub async fn recv(&mut self) -> Result<Option<Change>> {
        poll_fn(|context| self.poll_recv(context)).await
    }

    /// [`AsyncChangeWatcher::recv`] as a poll function, for hand-written futures.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use std::future::poll_fn;
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// store.set("g", "k", "v").await?;
    /// let mut watcher = store.watch_from("g", "k", 0).await?;
    /// let change = poll_fn(|context| watcher.poll_recv(context)).await?;
    /// assert_eq!(change.map(|change| change.revision), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AsyncChangeWatcher::recv`].
    pub fn poll_recv(&mut self, context: &mut Context<'_>) -> Poll<Result<Option<Change>>> {
        loop {
            // Taken out and put back: a panic half way leaves the watcher ended.
            match std::mem::replace(&mut self.state, State::Ended) {
                State::Ended => return Poll::Ready(Ok(None)),
                State::Idle(mut watcher) => {
                    if let Some(change) = watcher.take_buffered() {
                        self.revision = watcher.revision();
                        self.state = State::Idle(watcher);
                        return Poll::Ready(Ok(Some(change)));
                    }
                    match start_slice(*watcher) {
                        Ok(receiver) => self.state = State::Waiting(receiver),
                        Err(source) => {
                            return Poll::Ready(Err(Error::Io {
                                operation: self.operation,
                                context: "start a thread to wait for changes".to_owned(),
                                source,
                            }))
                        }
                    }
                }
                State::Waiting(mut receiver) => {
                    let outcome = match Pin::new(&mut receiver).poll(context) {
                        Poll::Pending => {
                            self.state = State::Waiting(receiver);
                            return Poll::Pending;
                        }
                        Poll::Ready(outcome) => outcome,
                    };
                    let (watcher, waited) = match outcome {
                        Ok(Ok(returned)) => returned,
                        // A panic while waiting reaches the awaiting task, as it would
                        // reach the caller of the blocking watcher.
                        Ok(Err(payload)) => panic::resume_unwind(payload),
                        // The slice was dropped unrun: the runtime is shutting down.
                        Err(_) => {
                            return Poll::Ready(Err(Error::Closed {
                                operation: self.operation,
                            }))
                        }
                    };
                    self.revision = watcher.revision();
                    let waited = match waited {
                        Ok(Waited::Closed) => return Poll::Ready(Ok(None)),
                        Ok(Waited::Nothing) => None,
                        Ok(Waited::Change(change)) => Some(Ok(Some(change))),
                        Err(error) => Some(Err(error)),
                    };
                    self.state = State::Idle(Box::new(watcher));
                    if let Some(outcome) = waited {
                        return Poll::Ready(outcome);
                    }
                }
            }
        }
    }
}

/// Sends `watcher` to wait for one slice on a blocking thread; the receiver brings it
/// back. Fails only when no thread could be started (the watcher is then gone).
fn start_slice(watcher: ChangeWatcher) -> io::Result<oneshot::Receiver<SliceOutcome>> {
    let (sender, receiver) = oneshot::channel();
    let job = move || {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut watcher = watcher;
            let deadline = Instant::now() + SLICE;
            let waited = loop {
                let poll = watcher.poll_interval();
                match watcher.wait_for(poll) {
                    // Keep waiting while someone still wants the answer.
                    Ok(Waited::Nothing) if !sender.is_closed() && Instant::now() < deadline => {}
                    waited => break waited,
                }
            };
            (watcher, waited)
        }));
        // The watcher may have been dropped meanwhile: then so is what it found.
        let _ = sender.send(outcome);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            // Detached: the result comes back through the channel.
            drop(runtime.spawn_blocking(job));
        }
        Err(_) => {
            thread::Builder::new()
                .name("store-watch".to_owned())
                .spawn(job)?;
        }
    }
    Ok(receiver)
}

/// The changes in order, each a `Result`; ends once the store is closed.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// let store = store::AsyncStore::open(":memory:").await?;
/// store.set("g", "a", "1").await?;
/// let mut watcher = store.watch_from("g", "*", 0).await?;
/// let change = poll_fn(|context| Pin::new(&mut watcher).poll_next(context)).await.transpose()?;
/// assert_eq!(change.map(|change| change.key), Some("a".to_owned()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl Stream for AsyncChangeWatcher {
    type Item = Result<Change>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_recv(context).map(Result::transpose)
    }
}

impl fmt::Debug for AsyncChangeWatcher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Idle(_) => "idle",
            State::Waiting(_) => "waiting",
            State::Ended => "ended",
        };
        formatter
            .debug_struct("AsyncChangeWatcher")
            .field("revision", &self.revision)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
