//! Transactions: all or nothing, events after commit, no deadlock on re-entry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use store::{Entry, Error, EventType, QuotaConfig, ScopedStore, Store};

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or PostgreSQL).
fn memory() -> Store {
    backends::open()
}

fn events(watcher: &store::Watcher) -> Vec<(EventType, String, String)> {
    std::iter::from_fn(|| watcher.try_recv())
        .map(|event| (event.kind, event.group, event.key))
        .collect()
}

#[test]
fn transaction_good_commits_and_returns_value() {
    let store = memory();
    let total = store
        .transaction(|transaction| {
            transaction.set("accounts", "alice", "90")?;
            transaction.set("accounts", "bob", "110")?;
            transaction.count("accounts")
        })
        .expect("commit");
    assert_eq!(total, 2);
    assert_eq!(store.get("accounts", "alice").expect("get"), "90");
}

#[test]
fn transaction_good_reads_see_pending_writes() {
    let store = memory();
    store.set("g", "old", "v").expect("set");
    store
        .transaction(|transaction| {
            transaction.set("g", "new", "v")?;
            transaction.delete("g", "old")?;
            assert_eq!(transaction.get("g", "new")?, "v");
            assert!(transaction.exists("g", "new")?);
            assert!(!transaction.exists("g", "old")?);
            assert_eq!(transaction.count("g")?, 1);
            assert_eq!(transaction.count_all("")?, 1);
            assert_eq!(transaction.groups("")?, ["g"]);
            assert!(transaction.group_exists("g")?);
            assert_eq!(transaction.get_all("g")?.len(), 1);
            assert_eq!(transaction.get_page("g", 0, 10)?.len(), 1);
            assert_eq!(transaction.all("g").count(), 1);
            assert_eq!(transaction.groups_iter("").count(), 1);
            Ok(())
        })
        .expect("commit");
}

#[test]
fn transaction_bad_err_rolls_back_and_returns_same_error() {
    let store = memory();
    store.set("stock", "apples", "3").expect("set");
    let watcher = store.watch("*", "*");
    let error = store
        .transaction(|transaction| {
            transaction.set("stock", "apples", "2")?;
            transaction.set("stock", "pears", "1")?;
            transaction.get("stock", "plums")?;
            Ok(())
        })
        .expect_err("not found");
    assert!(error.is_not_found());
    assert!(
        error
            .to_string()
            .starts_with("store.transaction.get: not found"),
        "{error}"
    );
    assert_eq!(store.get("stock", "apples").expect("get"), "3");
    assert!(!store.exists("stock", "pears").expect("exists"));
    assert!(events(&watcher).is_empty(), "no events for a rollback");
}

#[test]
fn transaction_bad_custom_error_is_returned_unchanged() {
    let store = memory();
    let error = store
        .transaction(|transaction| -> store::Result<()> {
            transaction.set("g", "k", "v")?;
            Err(Error::NotFound {
                operation: "caller.check",
                group: "x".into(),
                key: "y".into(),
            })
        })
        .expect_err("caller error");
    assert!(matches!(
        error,
        Error::NotFound {
            operation: "caller.check",
            ..
        }
    ));
    assert!(!store.exists("g", "k").expect("exists"));
}

#[test]
fn transaction_good_events_after_commit_in_statement_order() {
    let store = memory();
    store.set("g", "gone", "v").expect("set");
    let watcher = store.watch("*", "*");
    let (sender, receiver) = mpsc::channel();
    let reader = store.clone();
    store.on_change(move |event| {
        // Callbacks run after the commit: the whole transaction is visible.
        sender
            .send((event.key.clone(), reader.count("g").unwrap_or(usize::MAX)))
            .ok();
    });
    store
        .transaction(|transaction| {
            transaction.set("g", "a", "1")?;
            transaction.set("g", "b", "2")?;
            transaction.delete("g", "gone")?;
            transaction.delete("g", "absent")?;
            assert!(
                watcher.try_recv().is_none(),
                "nothing delivered before the commit"
            );
            Ok(())
        })
        .expect("commit");
    assert_eq!(
        events(&watcher),
        [
            (EventType::Set, "g".into(), "a".into()),
            (EventType::Set, "g".into(), "b".into()),
            (EventType::Delete, "g".into(), "gone".into()),
        ]
    );
    let seen: Vec<(String, usize)> = receiver.try_iter().collect();
    assert_eq!(seen, [("a".into(), 2), ("b".into(), 2), ("gone".into(), 2)]);
}

#[test]
fn transaction_bad_panic_rolls_back_and_store_stays_usable() {
    let store = memory();
    let watcher = store.watch("*", "*");
    let inner = store.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        inner.transaction(|transaction| -> store::Result<()> {
            transaction.set("g", "k", "v")?;
            panic!("closure fails half way");
        })
    }));
    assert!(result.is_err());
    assert!(!store.exists("g", "k").expect("rolled back"));
    store
        .set("g", "after", "v")
        .expect("usable after the panic");
    store
        .transaction(|transaction| transaction.set("g", "again", "v"))
        .expect("transactions still work");
    assert_eq!(store.count("g").expect("count"), 2);
    assert_eq!(events(&watcher).len(), 2);
}

#[test]
fn transaction_bad_nested_call_is_an_error_not_a_deadlock() {
    let store = memory();
    let outer = store.clone();
    store
        .transaction(|transaction| {
            transaction.set("g", "k", "v")?;
            let nested = outer.transaction(|_| Ok(()));
            let error = nested.expect_err("nested transaction");
            assert!(
                error.to_string().contains("inside a transaction"),
                "{error}"
            );
            assert!(matches!(
                error,
                Error::InvalidInput {
                    operation: "store.transaction",
                    ..
                }
            ));
            let direct = outer
                .get("g", "k")
                .expect_err("store call on the same thread");
            assert!(direct.to_string().starts_with("store.get: "), "{direct}");
            assert!(
                direct.to_string().contains("inside a transaction"),
                "{direct}"
            );
            let scoped = ScopedStore::new(&outer, "a").expect("scope");
            assert!(scoped
                .set("g", "k", "v")
                .expect_err("scoped too")
                .to_string()
                .contains("inside a transaction"));
            assert!(outer
                .close()
                .expect_err("close too")
                .to_string()
                .contains("inside a transaction"));
            // Nothing that refuses poisons the transaction.
            Ok(())
        })
        .expect("the outer transaction still commits");
    assert_eq!(store.get("g", "k").expect("get"), "v");
    assert!(!store.is_closed());
}

#[test]
fn transaction_good_other_threads_wait_for_it() {
    let store = memory();
    let barrier = Arc::new(Barrier::new(2));
    let writer = store.clone();
    let started = Arc::clone(&barrier);
    let finished = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&finished);
    let handle = std::thread::spawn(move || {
        started.wait();
        // Blocks until the transaction below ends, then sees its result.
        let value = writer.get("g", "k");
        (value, done.load(Ordering::SeqCst))
    });
    store
        .transaction(|transaction| {
            transaction.set("g", "k", "v")?;
            barrier.wait();
            std::thread::sleep(Duration::from_millis(50));
            finished.store(true, Ordering::SeqCst);
            Ok(())
        })
        .expect("commit");
    let (value, was_finished) = handle.join().expect("thread");
    assert_eq!(value.expect("get after commit"), "v");
    assert!(was_finished);
}

#[test]
fn transaction_bad_database_error_poisons_even_if_closure_returns_ok() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    let store = Store::open(&path).expect("open");
    let connection = rusqlite::Connection::open(&path).expect("sqlite");
    connection
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN NEW.entry_key = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .expect("trigger");
    drop(connection);
    let error = store
        .transaction(|transaction| {
            transaction.set("g", "good", "v")?;
            let refused = transaction.set("g", "bad", "v");
            assert!(refused.is_err());
            transaction.set("g", "later", "v").ok();
            Ok(()) // ignores the failure: the transaction must still roll back
        })
        .expect_err("poisoned");
    assert!(
        matches!(
            error,
            Error::Database {
                operation: "store.transaction.set",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("refused"), "{error}");
    assert_eq!(store.count("g").expect("count"), 0);
}

#[test]
fn transaction_bad_not_found_and_quota_do_not_poison() {
    let store = memory();
    let tenant = ScopedStore::with_quota(
        &store,
        "t",
        QuotaConfig {
            max_keys: 1,
            max_groups: 0,
        },
    )
    .expect("scope");
    tenant
        .transaction(|transaction| {
            transaction.set("g", "a", "1")?;
            assert!(transaction
                .get("g", "missing")
                .expect_err("missing")
                .is_not_found());
            assert!(transaction
                .set("g", "b", "2")
                .expect_err("over quota")
                .is_quota_exceeded());
            Ok(())
        })
        .expect("commits despite handled errors");
    assert_eq!(tenant.count("g").expect("count"), 1);
}

#[test]
fn transaction_bad_closed_store_does_not_call_closure() {
    let store = memory();
    store.close().expect("close");
    let mut called = false;
    let error = store
        .transaction(|_| {
            called = true;
            Ok(())
        })
        .expect_err("closed");
    assert!(matches!(
        error,
        Error::Closed {
            operation: "store.transaction"
        }
    ));
    assert!(!called);
}

#[test]
fn transaction_bad_close_from_another_thread_rolls_it_back() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = Store::open(directory.path().join("app.db")).expect("open");
    let (inside, inside_received) = mpsc::channel();
    let closer = store.clone();
    let handle = std::thread::spawn(move || {
        inside_received.recv().expect("transaction started");
        closer.close()
    });
    let error = store
        .transaction(|transaction| {
            transaction.set("g", "k", "v")?;
            inside.send(()).expect("signal");
            // Wait until close has been requested, then try to write again.
            while !transaction_sees_closed(transaction) {
                std::thread::sleep(Duration::from_millis(1));
            }
            transaction.set("g", "after", "v")?;
            Ok(())
        })
        .expect_err("closed mid-transaction");
    assert!(
        matches!(
            error,
            Error::Closed {
                operation: "store.transaction.set"
            }
        ),
        "{error:?}"
    );
    handle
        .join()
        .expect("thread")
        .expect("close completes after the transaction");
    let reopened = Store::open(directory.path().join("app.db")).expect("reopen");
    assert_eq!(reopened.count("g").expect("count"), 0, "rolled back");
}

fn transaction_sees_closed(transaction: &store::Transaction<'_>) -> bool {
    matches!(
        transaction.exists("probe", "probe"),
        Err(Error::Closed { .. })
    )
}

#[test]
fn transaction_good_expired_get_deletes_inside_and_emits_after_commit() {
    let store = memory();
    store
        .import([Entry {
            group: "g".into(),
            key: "old".into(),
            value: "v".into(),
            expires_at: Some(1),
        }])
        .expect("import");
    let watcher = store.watch("g", "*");
    store
        .transaction(|transaction| {
            assert!(transaction
                .get("g", "old")
                .expect_err("expired")
                .is_not_found());
            Ok(())
        })
        .expect("commit");
    assert_eq!(
        events(&watcher),
        [(EventType::Expire, "g".into(), "old".into())]
    );
    assert_eq!(store.purge_expired().expect("purge"), 0);
}

#[test]
fn transaction_good_ten_thousand_keys_are_seen_all_or_none() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    let store = Store::open(&path).expect("open");
    let reader = Store::open(&path).expect("a second connection");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        let mut observed = Vec::new();
        while !stop_reader.load(Ordering::SeqCst) {
            observed.push(reader.count("bulk").expect("count"));
        }
        observed.push(reader.count("bulk").expect("count"));
        observed
    });
    store
        .transaction(|transaction| {
            for index in 0..10_000 {
                transaction.set("bulk", &format!("k{index:05}"), "v")?;
            }
            Ok(())
        })
        .expect("commit");
    stop.store(true, Ordering::SeqCst);
    let observed = handle.join().expect("reader");
    assert!(
        observed.iter().all(|count| *count == 0 || *count == 10_000),
        "{observed:?}"
    );
    assert_eq!(observed.last(), Some(&10_000));
}

#[test]
fn scoped_transaction_good_quota_against_pending_state() {
    let store = memory();
    let tenant = ScopedStore::with_quota(
        &store,
        "t",
        QuotaConfig {
            max_keys: 2,
            max_groups: 1,
        },
    )
    .expect("scope");
    let watcher = tenant.watch("*", "*");
    let error = tenant
        .transaction(|transaction| {
            transaction.set("g", "a", "1")?;
            transaction.set("g", "b", "2")?;
            transaction.set("g", "c", "3")?;
            Ok(())
        })
        .expect_err("third pending key exceeds the quota");
    assert!(error.is_quota_exceeded());
    assert!(
        error
            .to_string()
            .starts_with("store.scoped.transaction.set: quota exceeded"),
        "{error}"
    );
    assert_eq!(tenant.count_all("").expect("count"), 0, "rolled back");
    tenant
        .transaction(|transaction| {
            transaction.set("g", "a", "1")?;
            assert!(transaction
                .set("h", "a", "1")
                .expect_err("second group")
                .is_quota_exceeded());
            transaction.delete("g", "a")?;
            transaction.set("h", "a", "1")?;
            assert_eq!(transaction.groups("")?, ["h"]);
            Ok(())
        })
        .expect("commit");
    assert_eq!(store.groups("").expect("groups"), ["t:h"]);
    let delivered: Vec<(EventType, String, String)> = events(&watcher);
    assert_eq!(
        delivered,
        [
            (EventType::Set, "g".into(), "a".into()),
            (EventType::Delete, "g".into(), "a".into()),
            (EventType::Set, "h".into(), "a".into()),
        ]
    );
}

#[test]
fn scoped_transaction_good_every_method_is_confined() {
    let store = memory();
    store.set("g", "k", "outside").expect("set");
    let tenant = ScopedStore::new(&store, "t").expect("scope");
    tenant
        .transaction(|transaction| {
            transaction.set("g", "k", "inside")?;
            transaction.set_with_ttl("g", "gone", "v", Duration::ZERO)?;
            assert_eq!(transaction.get("g", "k")?, "inside");
            assert_eq!(transaction.count_all("")?, 1);
            assert_eq!(transaction.get_all("g")?.len(), 1);
            assert_eq!(transaction.all("g").count(), 1);
            assert_eq!(transaction.groups_iter("").count(), 1);
            assert_eq!(transaction.purge_expired()?, 1);
            assert_eq!(transaction.render("{{ .k }}", "g")?, "inside");
            transaction.delete_prefix("")?;
            assert!(!transaction.group_exists("g")?);
            Ok(())
        })
        .expect("commit");
    assert_eq!(store.get("g", "k").expect("outside untouched"), "outside");
    assert_eq!(store.count_all("").expect("count"), 1);
}
