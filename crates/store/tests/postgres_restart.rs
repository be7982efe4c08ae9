//! A PostgreSQL restart in the middle of a run: calls fail with a clear error while the
//! server is away, then succeed again on the same store, and no acknowledged write is
//! lost. Its own test binary, because the restart cuts every connection of the cluster.
//!
//! `STORE_TEST_POSTGRES_RESTART` is the shell command that restarts the server
//! (`.ci/run` sets it to `scripts/postgres-test-cluster.sh restart DIR`). Without it (or
//! without `STORE_TEST_POSTGRES`) the test skips, and fails instead under `CI`.

mod backends;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use store::{Error, EventType, Store};

const RESTART_ENV: &str = "STORE_TEST_POSTGRES_RESTART";
/// How long the server may take to come back on a loaded machine.
const COME_BACK: Duration = Duration::from_secs(60);

/// Repeats `attempt` until it succeeds, checking that every failure on the way is a lost
/// connection; returns how many failures there were.
fn until_back(mut attempt: impl FnMut() -> store::Result<()>) -> usize {
    let deadline = Instant::now() + COME_BACK;
    let mut failures = 0;
    loop {
        match attempt() {
            Ok(()) => return failures,
            Err(error) => {
                assert!(
                    error.is_connection_lost() || matches!(error, Error::Postgres { .. }),
                    "a failure while the server restarts must be a PostgreSQL error: {error:?}"
                );
                failures += 1;
                assert!(
                    Instant::now() < deadline,
                    "the store did not come back: {error}"
                );
                // Polling an external server that is starting: nothing to wait on.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn restart_good_calls_fail_clearly_then_succeed_and_acknowledged_writes_stay() {
    let (Some(url), Some(restart)) = (
        backends::postgres_url(),
        backends::required_env(RESTART_ENV),
    ) else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    let store = Store::open(&url).expect("open");
    let observer = Store::open(&url).expect("open the observer");
    let watcher = observer.watch("after", "*");
    store
        .set("before", "k", "v")
        .expect("set before the restart");

    // A writer keeps writing through the restart and records what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let (acknowledged_sender, acknowledged) = mpsc::channel::<String>();
    let writer = {
        let store = store.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut index = 0_u64;
            while !stop.load(Ordering::Acquire) {
                let key = format!("k{index:06}");
                match store.set("through", &key, &key) {
                    Ok(()) => acknowledged_sender.send(key).expect("report"),
                    Err(error) => failures.push(error),
                }
                index += 1;
            }
            failures
        })
    };
    // Some writes land before the restart.
    let first = acknowledged.recv_timeout(COME_BACK).expect("a first write");
    let status = Command::new("sh")
        .args(["-c", &restart])
        .status()
        .expect("run the restart command");
    assert!(status.success(), "{restart} failed: {status}");

    // The same store (no reopening) works again.
    let failures = until_back(|| store.set("after", "probe", "1"));
    eprintln!("{failures} failed calls while the server restarted");
    // The writer also gets through again; then it stops.
    let mut keys = vec![first];
    let resumed_by = Instant::now() + COME_BACK;
    let mut after_restart = 0;
    while after_restart < 10 {
        let key = acknowledged
            .recv_timeout(resumed_by.saturating_duration_since(Instant::now()))
            .expect("the writer gets through again");
        keys.push(key);
        after_restart += 1;
    }
    stop.store(true, Ordering::Release);
    let writer_failures = writer.join().expect("writer thread");
    keys.extend(acknowledged.try_iter());
    for error in &writer_failures {
        assert!(matches!(error, Error::Postgres { .. }), "{error:?}");
    }

    // Nothing acknowledged was lost.
    assert_eq!(store.get("before", "k").expect("get"), "v");
    for key in &keys {
        assert_eq!(
            &store.get("through", key).expect("an acknowledged write"),
            key
        );
    }
    // The other store's listener reconnected: a new change reaches its watcher.
    let deadline = Instant::now() + COME_BACK;
    loop {
        store.set("after", "announced", "yes").expect("set");
        if let Some(event) = watcher.recv_timeout(Duration::from_millis(500)) {
            if event.key == "announced" {
                assert_eq!(event.kind, EventType::Set);
                break;
            }
        }
        assert!(Instant::now() < deadline, "the listener never came back");
    }
}
