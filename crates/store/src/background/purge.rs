//! The background purge: a thread that removes expired entries every `purge_interval`.
//!
//! It is handed a closure that runs one purge and says whether to go on; the closure
//! holds only a weak reference to the engine, so the thread never keeps a store alive
//! that every caller has dropped, and it stops when the store closes.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};

pub(crate) struct PurgeWorker {
    /// Dropping the sender wakes the thread and tells it to stop.
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl PurgeWorker {
    /// Starts the thread: `purge_once` runs every `interval` until it returns false.
    pub(crate) fn start(
        interval: Duration,
        mut purge_once: impl FnMut() -> bool + Send + 'static,
    ) -> Result<PurgeWorker> {
        let (stop, stop_requested) = mpsc::channel::<()>();
        let handle = thread::Builder::new()
            .name("store-purge".to_owned())
            .spawn(move || loop {
                match stop_requested.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                if !purge_once() {
                    return;
                }
            })
            .map_err(|source| Error::io("store.open", "start the purge thread", source))?;
        Ok(PurgeWorker { stop, handle })
    }

    /// Stops the thread and waits for the batch in progress, unless this is the purge
    /// thread itself (a callback of a purge event closing the store).
    pub(crate) fn stop(self) {
        drop(self.stop);
        if self.handle.thread().id() != thread::current().id() {
            // A panic on the purge thread has already been logged; nothing to add.
            let _ = self.handle.join();
        }
    }
}
