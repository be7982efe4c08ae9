//! How an async call reaches SQLite: on the calling thread when that cannot wait, on the
//! store's own thread otherwise. See the module docs of `asynchronous` for the
//! measurements behind it.

use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::sqlite::connection::{self, without_waiting};
use crate::store::Store;

/// How long a call may take, as far as running it on a runtime thread goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A point read (one indexed row): microseconds.
    Read,
    /// A point write (one row): microseconds when nothing waits for the disk.
    Write,
    /// Anything else (scans, many rows, transactions, close): always off the runtime.
    Long,
}

/// What a store lets run on the runtime's own thread, decided once when it becomes async.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inline {
    /// Point reads may run inline (when the connection is free).
    reads: bool,
    /// Point writes may run inline: only an in-memory store, where no commit waits for
    /// `fsync` or a checkpoint.
    writes: bool,
}

impl Inline {
    /// Prepares `store` for async calls. A file-backed store gets a commit hook that
    /// refuses any write attempted inline (a `get` that finds an expired row deletes it),
    /// so that the attempt is rolled back and made again off the runtime.
    pub(crate) fn prepare(store: &Store) -> Inline {
        // Every PostgreSQL call is a round trip over the network: always off the runtime.
        if store.engine.database.is_postgres() {
            return Inline {
                reads: false,
                writes: false,
            };
        }
        let config = store.config();
        let is_memory = config.database_path.as_os_str() == crate::sqlite::schema::MEMORY_PATH;
        if is_memory {
            return Inline {
                reads: true,
                writes: true,
            };
        }
        let hooked = store
            .engine
            .database
            .with_connection("store.into_async", |connection| {
                connection
                    .commit_hook(Some(|| {
                        let refuses = connection::refuses_to_wait();
                        if refuses {
                            connection::refuse();
                        }
                        refuses
                    }))
                    .map_err(|source| {
                        Error::database("store.into_async", "install commit hook", source)
                    })
            });
        Inline {
            // Without the hook a read could write inline: then nothing runs inline.
            reads: hooked.is_ok(),
            writes: false,
        }
    }

    /// Runs `work` here and now if `kind` allows it, no callback is registered (user code
    /// never runs on a runtime thread), no earlier call waits on the worker (calls keep
    /// their order) and the connection is free this instant; `None` when it must run off
    /// the runtime instead (nothing was done).
    pub(crate) fn attempt<T>(
        self,
        kind: Kind,
        store: &Store,
        worker: &Worker,
        work: impl FnOnce() -> Result<T>,
    ) -> Option<Result<T>> {
        let allowed = match kind {
            Kind::Read => self.reads,
            Kind::Write => self.writes,
            Kind::Long => false,
        };
        if !allowed || store.engine.events.has_callbacks() || !worker.is_idle() {
            return None;
        }
        without_waiting(work)
    }
}

/// The store's own thread for work that may wait: a queue served in order. Cheaper than
/// `spawn_blocking` (one wake-up each way, no pool bookkeeping), and under load it serves
/// queued calls back to back (see the module docs for the figures).
#[derive(Clone)]
pub(crate) struct Worker {
    queue: Result<Sender<Job>, Arc<(io::ErrorKind, String)>>,
    /// Calls queued or running: while any is, no call runs inline, so that calls run in
    /// the order they were made even when an earlier one's future was dropped.
    pending: Arc<AtomicUsize>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Worker {
    /// Starts the thread; it ends when the last handle (store, stream, pending call) is
    /// dropped. A thread that cannot be started makes every off-thread call fail with
    /// `Io` rather than panic.
    pub(crate) fn start() -> Worker {
        let (sender, receiver) = mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("store-async".to_owned())
            .spawn(move || serve(&receiver));
        Worker {
            pending: Arc::new(AtomicUsize::new(0)),
            queue: started
                .map(|_| sender)
                .map_err(|error| Arc::new((error.kind(), error.to_string()))),
        }
    }

    /// True when no call is queued or running on the thread.
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }

    /// Runs `work` on the worker thread. The work runs to its end even if the returned
    /// future is dropped, so a write lands whole or, if it never started, not at all; the
    /// connection is never left half used.
    pub(crate) fn run<T, F>(&self, operation: &'static str, work: F) -> OffThread<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        let pending = Arc::clone(&self.pending);
        pending.fetch_add(1, Ordering::AcqRel);
        let queued = match &self.queue {
            Ok(queue) => queue
                .send(Box::new(move || {
                    let outcome = panic::catch_unwind(AssertUnwindSafe(work));
                    pending.fetch_sub(1, Ordering::AcqRel);
                    // The caller may have stopped waiting: the work is done all the same.
                    let _ = sender.send(outcome);
                }))
                .is_ok(),
            Err(_) => false,
        };
        OffThread {
            operation,
            receiver: queued.then_some(receiver),
            failure: self.queue.as_ref().err().cloned(),
        }
    }
}

/// How long the worker looks for the next call before it sleeps: a task awaiting one call
/// after another sends the next within a few microseconds, and finding it awake saves
/// the wake-up (measured: a `set` to a file on a current-thread runtime went from 27.6
/// to 13.6 µs).
const STAY_AWAKE: Duration = Duration::from_micros(20);

/// The worker's loop: runs calls in order until every sender is gone.
fn serve(receiver: &Receiver<Job>) {
    loop {
        let job = match receiver.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                let deadline = Instant::now() + STAY_AWAKE;
                let mut found = None;
                while found.is_none() && Instant::now() < deadline {
                    thread::yield_now();
                    found = receiver.try_recv().ok();
                }
                match found {
                    Some(job) => job,
                    None => match receiver.recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    },
                }
            }
        };
        job();
    }
}

/// The result of [`Worker::run`].
pub(crate) struct OffThread<T> {
    operation: &'static str,
    receiver: Option<oneshot::Receiver<thread::Result<Result<T>>>>,
    failure: Option<Arc<(io::ErrorKind, String)>>,
}

impl<T> OffThread<T> {
    fn unavailable(&self) -> Error {
        match &self.failure {
            Some(failure) => Error::Io {
                operation: self.operation,
                context: "start the store's async thread".to_owned(),
                source: io::Error::new(failure.0, failure.1.clone()),
            },
            None => Error::Closed {
                operation: self.operation,
            },
        }
    }
}

impl<T> Future for OffThread<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Result<T>> {
        let Some(receiver) = self.receiver.as_mut() else {
            return Poll::Ready(Err(self.unavailable()));
        };
        match Pin::new(receiver).poll(context) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(outcome))) => Poll::Ready(outcome),
            // A panic in a transaction closure reaches the awaiting task, as it would
            // reach the caller of the blocking store.
            Poll::Ready(Ok(Err(payload))) => panic::resume_unwind(payload),
            Poll::Ready(Err(_)) => Poll::Ready(Err(self.unavailable())),
        }
    }
}

/// One async method: tries `$body` inline (for `Read` and `Write`), and otherwise runs it
/// on the store's thread with the listed arguments owned. `$handle` is the blocking handle
/// the body calls (a `Store` or a `ScopedStore`), bound to `$name` in the body. A new
/// store method gets its async twin with one line of this.
macro_rules! call {
    ($self:ident, $handle:expr, $kind:ident, $operation:literal, [$($arg:ident),*], |$name:ident| $body:expr) => {{
        if let Some(outcome) = $self.inline.attempt(
            $crate::asynchronous::dispatch::Kind::$kind,
            &$self.store,
            &$self.worker,
            || {
                let $name = &$handle;
                // Here the arguments are still borrowed: `&group` is a `&&str`.
                #[allow(clippy::needless_borrow, clippy::needless_return)]
                return $body;
            },
        ) {
            return outcome;
        }
        $(
            #[allow(clippy::implicit_clone, clippy::clone_on_copy)]
            let $arg = $arg.to_owned();
        )*
        let handle = $handle.clone();
        $self.worker.run($operation, move || {
            let $name = &handle;
            $body
        })
        .await
    }};
}

pub(crate) use call;
