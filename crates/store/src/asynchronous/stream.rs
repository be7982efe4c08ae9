//! Streams: change events for async tasks, and the paged iterators fetched off the
//! runtime a page at a time.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use futures_core::Stream;

use std::future::Future;

use crate::asynchronous::dispatch::{OffThread, Worker};
use crate::error::Result;
use crate::kv::events::{Event, EventHub};
use crate::sqlite::paging::PAGE_SIZE;

/// A [`Stream`] of the events matching one `(group, key)` filter, for async tasks:
/// [`Watcher`](crate::Watcher) without a thread. It buffers 16 events; further ones are
/// dropped (and counted in [`AsyncWatcher::dropped`]) rather than slowing the writer. It
/// ends once the store is closed and the events buffered before that have been read.
/// Dropping it stops delivery.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use std::future::poll_fn;
/// use std::pin::pin;
/// use futures_core::Stream;
/// let store = store::AsyncStore::open(":memory:").await?;
/// let mut watcher = pin!(store.watch("config", "*"));
/// store.set("config", "colour", "blue").await?;
/// store.close().await?;
/// let event = poll_fn(|context| watcher.as_mut().poll_next(context)).await;
/// assert_eq!(event.map(|event| event.value), Some("blue".to_owned()));
/// assert!(poll_fn(|context| watcher.as_mut().poll_next(context)).await.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncWatcher {
    id: u64,
    receiver: tokio::sync::mpsc::Receiver<Event>,
    dropped: Arc<AtomicU64>,
    hub: Weak<EventHub>,
}

impl AsyncWatcher {
    pub(crate) fn new(
        hub: &Arc<EventHub>,
        namespace_prefix: Option<&str>,
        group: &str,
        key: &str,
    ) -> AsyncWatcher {
        let (id, receiver, dropped) = hub.watch_async(namespace_prefix, group, key);
        AsyncWatcher {
            id,
            receiver,
            dropped,
            hub: Arc::downgrade(hub),
        }
    }

    /// How many events were dropped because this watcher's buffer of 16 was full.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let store = store::AsyncStore::open(":memory:").await?;
    /// let watcher = store.watch("g", "*");
    /// for index in 0..20 {
    ///     store.set("g", &index.to_string(), "v").await?;
    /// }
    /// assert_eq!(watcher.dropped(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Stream for AsyncWatcher {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Event>> {
        self.receiver.poll_recv(context)
    }
}

impl fmt::Debug for AsyncWatcher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AsyncWatcher")
            .field("id", &self.id)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Drop for AsyncWatcher {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.unwatch(self.id);
        }
    }
}

/// A blocking paged iterator of the store (`all`, `groups_iter`, `export`, …).
type Pages<T> = Box<dyn Iterator<Item = Result<T>> + Send>;

/// One page, and the iterator to fetch the next from.
type Fetched<T> = (Pages<T>, Vec<Result<T>>);

/// A [`Stream`] over one of the store's paged iterators (`all`, `groups_iter`,
/// `export`): each page is read on the store's own thread, and no lock is held
/// between pages, so the task consuming it may use the store, writes included. A store
/// closed between pages ends the stream with a `Closed` error.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use std::future::poll_fn;
/// use std::pin::pin;
/// use futures_core::Stream;
/// let store = store::AsyncStore::open(":memory:").await?;
/// store.set("config", "colour", "blue").await?;
/// let mut entries = pin!(store.all("config"));
/// while let Some(entry) = poll_fn(|context| entries.as_mut().poll_next(context)).await {
///     let entry = entry?;
///     store.set("copy", &entry.key, &entry.value).await?; // writing inside the loop is fine
/// }
/// assert_eq!(store.count("copy").await?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PageStream<T> {
    operation: &'static str,
    worker: Worker,
    pages: Option<Pages<T>>,
    page: VecDeque<Result<T>>,
    fetching: Option<OffThread<Fetched<T>>>,
    is_exhausted: bool,
}

impl<T: Send + 'static> PageStream<T> {
    pub(crate) fn new(
        operation: &'static str,
        worker: &Worker,
        pages: impl Iterator<Item = Result<T>> + Send + 'static,
    ) -> PageStream<T> {
        PageStream {
            operation,
            worker: worker.clone(),
            pages: Some(Box::new(pages)),
            page: VecDeque::new(),
            fetching: None,
            is_exhausted: false,
        }
    }
}

// Nothing in it is pinned: it is moved about freely between polls.
impl<T> Unpin for PageStream<T> {}

impl<T: Send + 'static> Stream for PageStream<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        loop {
            if let Some(item) = self.page.pop_front() {
                return Poll::Ready(Some(item));
            }
            if self.is_exhausted {
                return Poll::Ready(None);
            }
            if let Some(fetching) = self.fetching.as_mut() {
                let outcome = match Pin::new(fetching).poll(context) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(outcome) => outcome,
                };
                self.fetching = None;
                match outcome {
                    Ok((pages, page)) => {
                        // The blocking iterator fetches exactly one page per PAGE_SIZE
                        // items taken; a short page (or an error, which ends it) is the last.
                        self.is_exhausted = page.len() < PAGE_SIZE;
                        self.pages = Some(pages);
                        self.page = page.into();
                    }
                    Err(error) => {
                        self.is_exhausted = true;
                        return Poll::Ready(Some(Err(error)));
                    }
                }
                continue;
            }
            let Some(mut pages) = self.pages.take() else {
                return Poll::Ready(None);
            };
            let operation = self.operation;
            self.fetching = Some(self.worker.run(operation, move || {
                let page: Vec<Result<T>> = pages.by_ref().take(PAGE_SIZE).collect();
                Ok((pages, page))
            }));
        }
    }
}

impl<T> fmt::Debug for PageStream<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PageStream")
            .field("operation", &self.operation)
            .field("buffered", &self.page.len())
            .field("is_exhausted", &self.is_exhausted)
            .finish_non_exhaustive()
    }
}
