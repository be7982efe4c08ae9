//! The listener: a thread that takes change announcements from other servers and
//! delivers them to this store's watchers (PostgreSQL stores only).
//!
//! It is handed a closure that waits a short while for announcements, delivers them and
//! says whether to go on; the closure holds only a weak reference to the engine, as the
//! purge's does, and the thread stops when the store closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::error::{Error, Result};

pub(crate) struct ListenWorker {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl ListenWorker {
    /// Starts the thread: `listen_once` runs again and again until it returns false or
    /// the worker is stopped. Each call must return within a fraction of a second.
    pub(crate) fn start(mut listen_once: impl FnMut() -> bool + Send + 'static) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = thread::Builder::new()
            .name("store-listen".to_owned())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    if !listen_once() {
                        return;
                    }
                }
            })
            .map_err(|source| Error::io("store.open", "start the listener thread", source))?;
        Ok(ListenWorker { stop, handle })
    }

    /// Stops the thread and waits for its current wait to end, unless this is the
    /// listener thread itself (a watcher's callback closing the store).
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        if self.handle.thread().id() != thread::current().id() {
            // A panic on the listener thread has already been reported; nothing to add.
            let _ = self.handle.join();
        }
    }
}
