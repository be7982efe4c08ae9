//! Watchers and callbacks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{Event, EventType, Store};

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or PostgreSQL).
fn memory() -> Store {
    backends::open()
}

fn drain(watcher: &store::Watcher) -> Vec<(EventType, String, String, String)> {
    std::iter::from_fn(|| watcher.try_recv())
        .map(|event| (event.kind, event.group, event.key, event.value))
        .collect()
}

fn tuple(
    kind: EventType,
    group: &str,
    key: &str,
    value: &str,
) -> (EventType, String, String, String) {
    (kind, group.into(), key.into(), value.into())
}

#[test]
fn watch_good_each_write_kind() {
    let store = memory();
    let watcher = store.watch("*", "*");
    store.set("g", "a", "1").expect("set");
    store.set("g", "a", "1").expect("set unchanged still emits");
    store
        .set_with_ttl("g", "b", "2", Duration::from_secs(60))
        .expect("set ttl");
    store.delete("g", "a").expect("delete");
    store.delete("g", "a").expect("delete absent: no event");
    store.delete_group("g").expect("delete group");
    store
        .delete_group("g")
        .expect("delete empty group: no event");
    store.set("p:x", "k", "v").expect("set");
    store.set("p:y", "k", "v").expect("set");
    store.delete_prefix("p:").expect("delete prefix");
    store
        .delete_prefix("p:")
        .expect("delete prefix again: no event");
    assert_eq!(
        drain(&watcher),
        vec![
            tuple(EventType::Set, "g", "a", "1"),
            tuple(EventType::Set, "g", "a", "1"),
            tuple(EventType::Set, "g", "b", "2"),
            tuple(EventType::Delete, "g", "a", ""),
            tuple(EventType::DeleteGroup, "g", "", ""),
            tuple(EventType::Set, "p:x", "k", "v"),
            tuple(EventType::Set, "p:y", "k", "v"),
            tuple(EventType::DeleteGroup, "p:x", "", ""),
            tuple(EventType::DeleteGroup, "p:y", "", ""),
        ]
    );
}

#[test]
fn watch_good_reads_emit_nothing() {
    let store = memory();
    store.set("g", "k", "v").expect("set");
    let watcher = store.watch("*", "*");
    store.get("g", "k").expect("get");
    store.exists("g", "k").expect("exists");
    store.get_all("g").expect("get all");
    store.count_all("").expect("count");
    assert!(store.all("g").all(|entry| entry.is_ok()));
    store.render("{{ .k }}", "g").expect("render");
    assert!(store.get("g", "missing").is_err());
    assert!(drain(&watcher).is_empty());
}

#[test]
fn watch_good_filters_by_group_and_key() {
    let store = memory();
    let exact = store.watch("config", "colour");
    let any_key = store.watch("config", "*");
    let any_group = store.watch("*", "colour");
    let other = store.watch("cache", "*");
    store.set("config", "colour", "blue").expect("set");
    store.set("config", "size", "10").expect("set");
    store.set("theme", "colour", "dark").expect("set");
    store.delete_group("config").expect("delete group");
    assert_eq!(
        drain(&exact),
        vec![
            tuple(EventType::Set, "config", "colour", "blue"),
            tuple(EventType::DeleteGroup, "config", "", ""),
        ]
    );
    assert_eq!(drain(&any_key).len(), 3);
    assert_eq!(
        drain(&any_group),
        vec![
            tuple(EventType::Set, "config", "colour", "blue"),
            tuple(EventType::Set, "theme", "colour", "dark"),
            // A group delete removes the watched key too, whatever the key filter.
            tuple(EventType::DeleteGroup, "config", "", ""),
        ]
    );
    assert!(drain(&other).is_empty());
}

#[test]
fn watch_good_several_watchers_each_get_a_copy() {
    let store = memory();
    let first = store.watch("g", "k");
    let second = store.watch("g", "k");
    store.set("g", "k", "v").expect("set");
    assert_eq!(drain(&first).len(), 1);
    assert_eq!(drain(&second).len(), 1);
}

#[test]
fn watch_good_full_buffer_drops_and_counts_without_blocking() {
    let store = memory();
    let watcher = store.watch("g", "*");
    for index in 0..100 {
        store
            .set("g", &index.to_string(), "v")
            .expect("set never blocks");
    }
    assert_eq!(watcher.dropped(), 84);
    let received = drain(&watcher);
    assert_eq!(received.len(), 16);
    assert_eq!(received[0].2, "0");
    assert_eq!(received[15].2, "15");
}

#[test]
fn watch_good_recv_blocks_until_an_event_arrives() {
    let store = memory();
    let watcher = store.watch("g", "k");
    let writer = store.clone();
    let handle = std::thread::spawn(move || writer.set("g", "k", "from thread"));
    let event = watcher
        .recv_timeout(Duration::from_secs(30))
        .expect("event");
    assert_eq!(event.value, "from thread");
    handle.join().expect("thread").expect("set");
}

#[test]
fn unwatch_good_stops_delivery_after_draining() {
    let store = memory();
    let watcher = store.watch("g", "*");
    store.set("g", "k", "v").expect("set");
    store.unwatch(watcher);
    store.set("g", "k", "w").expect("set after unwatch");
    let kept = store.watch("g", "*");
    drop(kept);
    store.set("g", "k", "x").expect("set after drop");
}

#[test]
fn close_good_ends_watchers_after_their_buffered_events() {
    let store = memory();
    let watcher = store.watch("*", "*");
    store.set("g", "k", "v").expect("set");
    let waiting = store.watch("nothing", "*");
    let handle = std::thread::spawn(move || waiting.recv());
    store.close().expect("close");
    assert_eq!(watcher.recv().map(|event| event.value), Some("v".into()));
    assert!(watcher.recv().is_none());
    assert!(watcher.recv_timeout(Duration::from_millis(1)).is_none());
    assert!(
        handle.join().expect("thread").is_none(),
        "a blocked recv wakes on close"
    );
}

#[test]
fn event_good_timestamp_is_now() {
    let store = memory();
    let watcher = store.watch("g", "k");
    let before = std::time::SystemTime::now();
    store.set("g", "k", "v").expect("set");
    let after = std::time::SystemTime::now();
    let event: Event = watcher.try_recv().expect("event");
    assert!(event.timestamp >= before && event.timestamp <= after);
    assert_eq!(event.kind.to_string(), "set");
}

#[test]
fn on_change_good_runs_in_registration_order_after_commit() {
    let store = memory();
    let order = Arc::new(Mutex::new(Vec::new()));
    for name in ["first", "second"] {
        let order = Arc::clone(&order);
        let reader = store.clone();
        store.on_change(move |event| {
            // The write has committed and no lock is held: a read sees it.
            let value = reader.get(&event.group, &event.key).unwrap_or_default();
            order.lock().expect("lock").push(format!("{name}:{value}"));
        });
    }
    store.set("g", "k", "v").expect("set");
    assert_eq!(*order.lock().expect("lock"), ["first:v", "second:v"]);
}

#[test]
fn on_change_good_callback_writes_depth_first() {
    let store = memory();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let writer = store.clone();
    let log = Arc::clone(&seen);
    store.on_change(move |event| {
        log.lock()
            .expect("lock")
            .push(format!("{}/{}", event.group, event.key));
        if event.group == "orders" {
            writer
                .set("audit", &event.key, "seen")
                .expect("nested write");
        }
    });
    store.set("orders", "1", "v").expect("set");
    store.set("orders", "2", "v").expect("set");
    assert_eq!(
        *seen.lock().expect("lock"),
        ["orders/1", "audit/1", "orders/2", "audit/2"]
    );
    assert_eq!(store.count("audit").expect("count"), 2);
}

#[test]
fn on_change_good_unregister_inside_callback_and_idempotent() {
    let store = memory();
    let calls = Arc::new(AtomicUsize::new(0));
    let slot: Arc<Mutex<Option<store::Subscription>>> = Arc::new(Mutex::new(None));
    let counter = Arc::clone(&calls);
    let own = Arc::clone(&slot);
    let subscription = store.on_change(move |_event| {
        counter.fetch_add(1, Ordering::SeqCst);
        if let Some(subscription) = own.lock().expect("lock").as_ref() {
            subscription.unregister();
        }
    });
    *slot.lock().expect("lock") = Some(subscription.clone());
    store.set("g", "k", "1").expect("set");
    store.set("g", "k", "2").expect("set");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    subscription.unregister();
    subscription.unregister();
}

#[test]
fn on_change_good_registration_during_dispatch_sees_next_event() {
    let store = memory();
    let late_calls = Arc::new(AtomicUsize::new(0));
    let registered = Arc::new(AtomicUsize::new(0));
    let registrar = store.clone();
    let late = Arc::clone(&late_calls);
    let done = Arc::clone(&registered);
    store.on_change(move |_event| {
        if done.fetch_add(1, Ordering::SeqCst) == 0 {
            let late = Arc::clone(&late);
            registrar.on_change(move |_event| {
                late.fetch_add(1, Ordering::SeqCst);
            });
            // Watching and unwatching from a callback must not deadlock either.
            let watcher = registrar.watch("*", "*");
            registrar.unwatch(watcher);
        }
    });
    store.set("g", "k", "1").expect("set");
    assert_eq!(late_calls.load(Ordering::SeqCst), 0);
    store.set("g", "k", "2").expect("set");
    assert_eq!(late_calls.load(Ordering::SeqCst), 1);
}

#[test]
fn on_change_good_unregistered_by_earlier_callback_still_gets_current_event() {
    let store = memory();
    let second_calls = Arc::new(AtomicUsize::new(0));
    let victim: Arc<Mutex<Option<store::Subscription>>> = Arc::new(Mutex::new(None));
    let target = Arc::clone(&victim);
    store.on_change(move |_event| {
        if let Some(subscription) = target.lock().expect("lock").as_ref() {
            subscription.unregister();
        }
    });
    let counter = Arc::clone(&second_calls);
    let subscription = store.on_change(move |_event| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    *victim.lock().expect("lock") = Some(subscription);
    store.set("g", "k", "1").expect("set");
    store.set("g", "k", "2").expect("set");
    assert_eq!(second_calls.load(Ordering::SeqCst), 1);
}

#[test]
fn on_change_bad_panic_propagates_after_commit_and_store_survives() {
    let store = memory();
    let subscription = store.on_change(|event| {
        assert!(event.key != "boom", "callback refuses boom");
    });
    let writer = store.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        writer.set("g", "boom", "v")
    }));
    assert!(result.is_err(), "the panic reached the writer");
    assert_eq!(store.get("g", "boom").expect("the write committed"), "v");
    subscription.unregister();
    store.set("g", "after", "v").expect("store still usable");
}

#[test]
fn on_change_good_callback_may_close_the_store() {
    let store = memory();
    let closer = store.clone();
    store.on_change(move |_event| {
        closer.close().expect("close from a callback");
    });
    store.set("g", "k", "v").expect("set");
    assert!(store.is_closed());
}

#[test]
fn close_good_drops_callbacks_and_subscription_is_inert() {
    let store = memory();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let subscription = store.on_change(move |_event| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    store.close().expect("close");
    subscription.unregister();
    let late = store.on_change(|_event| {});
    late.unregister();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn watcher_is_send_and_subscription_is_send_sync() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<store::Watcher>();
    assert_send_sync::<store::Subscription>();
    assert_send_sync::<Store>();
}
