//! The background shipper: a thread, woken by each commit, that ships the outbox.
//!
//! It is handed a closure that ships what is due and says when to look again; the
//! closure holds only a weak reference to the engine, so the thread never keeps a
//! dropped store alive, and it stops when the store closes.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::pipeline::outbox::{NextRound, CLOSE_WAIT_FOR_SHIPPER};
use crate::sync::lock;

/// The operation named when close stops waiting for a request in flight.
const CLOSE: &str = "store.close";

/// The running shipper: its wake-up signal and its thread.
pub(crate) struct Shipper {
    signal: Arc<Signal>,
    worker: ShipperWorker,
}

impl Shipper {
    /// Starts the thread; `ship_due` runs each time it wakes.
    pub(crate) fn start(ship_due: impl FnMut() -> NextRound + Send + 'static) -> Result<Shipper> {
        let signal = Arc::new(Signal::default());
        let worker = ShipperWorker::start(ship_due, Arc::clone(&signal))?;
        Ok(Shipper { signal, worker })
    }

    /// Wakes the shipper: a point was committed. Never blocks on shipping.
    pub(crate) fn wake(&self) {
        self.signal.wake();
    }

    /// Stops the thread, waiting a little for a request in flight.
    pub(crate) fn stop(self) {
        self.signal.stop();
        self.worker.stop();
    }
}

/// Wakes the shipper thread; shared with it so that it need not hold the store.
#[derive(Default)]
struct Signal {
    state: Mutex<SignalState>,
    changed: Condvar,
}

#[derive(Default)]
struct SignalState {
    is_woken: bool,
    is_stopping: bool,
}

impl Signal {
    fn wake(&self) {
        lock(&self.state).is_woken = true;
        self.changed.notify_one();
    }

    fn stop(&self) {
        lock(&self.state).is_stopping = true;
        self.changed.notify_all();
    }

    /// Waits until `deadline` (forever when `None`), until woken when `accepts_wakes`,
    /// or until stopped; false when stopped.
    fn wait(&self, deadline: Option<Instant>, accepts_wakes: bool) -> bool {
        let mut state = lock(&self.state);
        loop {
            if state.is_stopping {
                return false;
            }
            if accepts_wakes && state.is_woken {
                state.is_woken = false;
                return true;
            }
            state = match deadline {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return true;
                    }
                    self.changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

struct ShipperWorker {
    handle: JoinHandle<()>,
    /// Disconnected when the thread ends.
    finished: Receiver<()>,
}

impl ShipperWorker {
    fn start(
        ship_due: impl FnMut() -> NextRound + Send + 'static,
        signal: Arc<Signal>,
    ) -> Result<ShipperWorker> {
        let (finished_sender, finished) = mpsc::channel::<()>();
        let handle = thread::Builder::new()
            .name("store-ship".to_owned())
            .spawn(move || {
                let _finished = finished_sender;
                run_shipper(ship_due, &signal);
            })
            .map_err(|source| Error::io("store.open", "start the shipper thread", source))?;
        Ok(ShipperWorker { handle, finished })
    }

    /// Waits for the thread to end, at most for a little while: a request in flight to
    /// a server that has gone must not hold close for the whole request timeout. A thread
    /// left running finds the store closed and ends after its request.
    fn stop(self) {
        if self.handle.thread().id() == thread::current().id() {
            // The last handle was dropped on the shipper thread itself.
            return;
        }
        match self.finished.recv_timeout(CLOSE_WAIT_FOR_SHIPPER) {
            Err(RecvTimeoutError::Timeout) => {
                log::warn!("{CLOSE}: a request to InfluxDB is still in flight; not waiting");
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                // A panic on the shipper thread has already been reported.
                let _ = self.handle.join();
            }
        }
    }
}

fn run_shipper(mut ship_due: impl FnMut() -> NextRound, signal: &Signal) {
    loop {
        let is_running = match ship_due() {
            NextRound::Stop => false,
            NextRound::Idle => signal.wait(None, true),
            NextRound::At(deadline) => signal.wait(Some(deadline), true),
            NextRound::Paused(until) => signal.wait(Some(until), false),
        };
        if !is_running {
            return;
        }
    }
}
