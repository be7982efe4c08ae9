//! Several threads mixing every operation: no deadlock, no lost acknowledged write.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use store::{EventType, Store, StoreConfig};

const THREADS: usize = 8;

#[test]
fn mixed_operations_from_eight_threads_lose_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig {
        purge_interval: Duration::from_millis(10),
        ..StoreConfig::new(directory.path().join("app.db"))
    };
    let store = Store::open_with(config).expect("open");

    // A callback that writes: every set in a "work:" group is audited in "audit".
    let writer = store.clone();
    let audited = Arc::new(AtomicUsize::new(0));
    let audit_count = Arc::clone(&audited);
    let subscription = store.on_change(move |event| {
        if event.kind == EventType::Set && event.group.starts_with("work:") {
            writer
                .set(
                    "audit",
                    &format!("{}/{}", event.group, event.key),
                    &event.value,
                )
                .expect("audit write from a callback");
            audit_count.fetch_add(1, Ordering::Relaxed);
        }
    });

    let barrier = Arc::new(Barrier::new(THREADS));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let group = format!("work:{thread}");
                let watcher = store.watch(&group, "*");
                // What this thread's group must hold at the end: the acknowledged writes.
                let mut model: BTreeMap<String, String> = BTreeMap::new();
                let mut operations = 0_u64;
                barrier.wait();
                let mut step = 0_u64;
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    step += 1;
                    let key = format!("k{}", step % 50);
                    match step % 7 {
                        0..=2 => {
                            let value = format!("v{step}");
                            store.set(&group, &key, &value).expect("set");
                            model.insert(key.clone(), value);
                        }
                        3 => {
                            store.delete(&group, &key).expect("delete");
                            model.remove(&key);
                        }
                        4 => {
                            let expected = model.get(&key);
                            match store.get(&group, &key) {
                                Ok(value) => assert_eq!(Some(&value), expected),
                                Err(error) => {
                                    assert!(error.is_not_found(), "{error}");
                                    assert!(expected.is_none());
                                }
                            }
                        }
                        5 => {
                            let all = store.get_all(&group).expect("get all");
                            assert_eq!(all, model);
                        }
                        _ => {
                            store
                                .set_with_ttl("scratch", &key, "x", Duration::ZERO)
                                .expect("expired write for the purge");
                            while watcher.try_recv().is_some() {}
                            let other = store.watch("*", &key);
                            store.unwatch(other);
                        }
                    }
                    operations += 1;
                }
                (group, model, operations)
            })
        })
        .collect();

    let mut total_operations = 0;
    let mut models = Vec::new();
    for handle in handles {
        let (group, model, operations) = handle.join().expect("no thread panicked or deadlocked");
        total_operations += operations;
        models.push((group, model));
    }
    stop.store(true, Ordering::Relaxed);
    subscription.unregister();
    assert!(
        total_operations > 100,
        "only {total_operations} operations ran"
    );
    for (group, model) in &models {
        assert_eq!(&store.get_all(group).expect("get all"), model, "{group}");
    }
    assert!(audited.load(Ordering::Relaxed) > 0);
    store.close().expect("close");

    // Everything acknowledged is on disk.
    let reopened = Store::open(directory.path().join("app.db")).expect("reopen");
    for (group, model) in &models {
        assert_eq!(
            &reopened.get_all(group).expect("get all"),
            model,
            "{group} after reopen"
        );
    }
}

#[test]
fn close_during_concurrent_writes_ends_cleanly() {
    let store = Store::open(":memory:").expect("open");
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut acknowledged = 0_u64;
                loop {
                    match store.set("g", &format!("{thread}-{acknowledged}"), "v") {
                        Ok(()) => acknowledged += 1,
                        Err(store::Error::Closed { .. }) => return acknowledged,
                        Err(other) => panic!("unexpected {other}"),
                    }
                }
            })
        })
        .collect();
    barrier.wait();
    std::thread::sleep(Duration::from_millis(50));
    store.close().expect("close");
    for handle in handles {
        handle.join().expect("writer ended with Closed");
    }
}
