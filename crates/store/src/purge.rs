//! The background purge: a thread that removes expired entries every `purge_interval`.
//!
//! It holds only a weak reference to the store, so it never keeps a store alive that every
//! caller has dropped, and it stops when the store closes.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Weak;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::store::{Inner, Store};

const OPERATION: &str = "store.purge";

pub(crate) struct PurgeWorker {
    /// Dropping the sender wakes the thread and tells it to stop.
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl PurgeWorker {
    pub(crate) fn start(store: Weak<Inner>, interval: Duration) -> Result<PurgeWorker> {
        let (stop, stop_requested) = mpsc::channel::<()>();
        let handle = thread::Builder::new()
            .name("store-purge".to_owned())
            .spawn(move || loop {
                match stop_requested.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let Some(inner) = store.upgrade() else {
                    return;
                };
                if !purge_once(&Store::from_inner(inner)) {
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

/// One purge; false when the store has closed and the thread should end.
fn purge_once(store: &Store) -> bool {
    // Purge events run callbacks on this thread; a panicking callback must not end the
    // purge for the rest of the store's life.
    match panic::catch_unwind(AssertUnwindSafe(|| store.purge_expired_as(OPERATION))) {
        Ok(Ok(_)) => true,
        Ok(Err(Error::Closed { .. })) => false,
        Ok(Err(error)) => {
            log::warn!("{error}; retrying at the next interval");
            !store.is_closed()
        }
        Err(_) => {
            log::warn!("{OPERATION}: a change callback panicked during the background purge");
            !store.is_closed()
        }
    }
}
