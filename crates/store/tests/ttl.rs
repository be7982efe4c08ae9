//! Expiry in three layers: lazy delete on get, invisible to reads, purged in batches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use store::{Entry, EventType, Store, StoreConfig};

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or PostgreSQL).
fn memory() -> Store {
    backends::open()
}

fn now_ms() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(elapsed.as_millis()).expect("millis")
}

/// Writes an entry that expired a second ago, without waiting.
fn set_expired(store: &Store, group: &str, key: &str) {
    store
        .import([Entry {
            group: group.into(),
            key: key.into(),
            value: "stale".into(),
            expires_at: Some(now_ms() - 1_000),
        }])
        .expect("import expired entry");
}

#[test]
fn set_with_ttl_good_live_until_expiry() {
    let store = memory();
    store
        .set_with_ttl("sessions", "alice", "token", Duration::from_secs(3600))
        .expect("set");
    assert_eq!(store.get("sessions", "alice").expect("get"), "token");
    let exported = store.export("sessions").next().expect("entry").expect("ok");
    let expires_at = exported.expires_at.expect("an expiry");
    let expected = now_ms() + 3_600_000;
    assert!(
        (expected - expires_at).abs() < 60_000,
        "{expires_at} vs {expected}"
    );
}

#[test]
fn set_with_ttl_good_expires_on_get() {
    let store = memory();
    store
        .set_with_ttl("cache", "page", "html", Duration::from_millis(50))
        .expect("set");
    std::thread::sleep(Duration::from_millis(300));
    let watcher = store.watch("cache", "*");
    assert!(store
        .get("cache", "page")
        .expect_err("expired")
        .is_not_found());
    let event = watcher.try_recv().expect("lazy delete event");
    assert_eq!(
        (event.kind, event.key.as_str(), event.value.as_str()),
        (EventType::Expire, "page", "")
    );
    // The row is gone now: a second get finds nothing to delete and emits nothing.
    assert!(store.get("cache", "page").expect_err("gone").is_not_found());
    assert!(watcher.try_recv().is_none());
    assert_eq!(store.purge_expired().expect("purge"), 0);
}

#[test]
fn set_with_ttl_good_zero_is_already_expired_but_emits_set() {
    let store = memory();
    let watcher = store.watch("g", "k");
    store
        .set_with_ttl("g", "k", "v", Duration::ZERO)
        .expect("set");
    assert_eq!(
        watcher.try_recv().map(|event| event.kind),
        Some(EventType::Set)
    );
    assert!(!store.exists("g", "k").expect("exists"));
    assert!(store.get("g", "k").expect_err("expired").is_not_found());
    assert_eq!(
        watcher.try_recv().map(|event| event.kind),
        Some(EventType::Expire)
    );
}

#[test]
fn set_with_ttl_good_replaces_value_and_expiry() {
    let store = memory();
    store
        .set_with_ttl("g", "k", "old", Duration::ZERO)
        .expect("set");
    store
        .set_with_ttl("g", "k", "new", Duration::from_secs(3600))
        .expect("set again");
    assert_eq!(store.get("g", "k").expect("get"), "new");
}

#[test]
fn expired_entries_are_invisible_to_every_read() {
    let store = memory();
    store.set("g", "live", "v").expect("set");
    set_expired(&store, "g", "dead");
    set_expired(&store, "gone", "dead");
    assert!(!store.exists("g", "dead").expect("exists"));
    assert_eq!(store.count("g").expect("count"), 1);
    assert_eq!(store.count_all("").expect("count all"), 1);
    assert!(!store.group_exists("gone").expect("group exists"));
    assert_eq!(store.get_all("g").expect("get all").len(), 1);
    assert_eq!(store.get_page("g", 0, 10).expect("page").len(), 1);
    assert_eq!(store.all("g").count(), 1);
    assert_eq!(store.groups("").expect("groups"), ["g"]);
    assert_eq!(store.groups_iter("").count(), 1);
    assert_eq!(store.export("").count(), 1);
    assert_eq!(store.render("{{ len . }}", "g").expect("render"), "1");
    // None of those reads deleted anything.
    assert_eq!(store.purge_expired().expect("purge"), 2);
}

#[test]
fn get_split_bad_expired_is_not_found_with_expire_event() {
    let store = memory();
    set_expired(&store, "g", "list");
    let watcher = store.watch("g", "list");
    let error = store.get_split("g", "list", ",").expect_err("expired");
    assert!(error.is_not_found());
    assert_eq!(
        watcher.try_recv().map(|event| event.kind),
        Some(EventType::Expire)
    );
}

#[test]
fn purge_expired_good_batches_and_events() {
    let store = memory();
    let entries: Vec<Entry> = (0..1_234)
        .map(|index| Entry {
            group: format!("g{}", index % 7),
            key: format!("k{index}"),
            value: "v".into(),
            expires_at: Some(now_ms() - 1_000),
        })
        .collect();
    store.import(entries).expect("import");
    store.set("g0", "live", "v").expect("set");
    let deletes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&deletes);
    store.on_change(move |event| {
        if event.kind == EventType::Expire {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    assert_eq!(store.purge_expired().expect("purge"), 1_234);
    assert_eq!(deletes.load(std::sync::atomic::Ordering::SeqCst), 1_234);
    assert_eq!(store.count_all("").expect("count"), 1);
    assert_eq!(store.purge_expired().expect("purge again"), 0);
}

#[test]
fn purge_expired_good_callback_may_write_between_batches() {
    let store = memory();
    let entries: Vec<Entry> = (0..1_100)
        .map(|index| Entry {
            group: "g".into(),
            key: format!("k{index:05}"),
            value: "v".into(),
            expires_at: Some(now_ms() - 1_000),
        })
        .collect();
    store.import(entries).expect("import");
    let writer = store.clone();
    store.on_change(move |event| {
        if event.kind == EventType::Expire {
            writer
                .set("log", &event.key, "purged")
                .expect("write from callback");
        }
    });
    assert_eq!(store.purge_expired().expect("purge"), 1_100);
    assert_eq!(store.count("log").expect("count"), 1_100);
}

#[test]
fn background_purge_good_removes_expired_rows() {
    let directory = tempfile::tempdir().expect("temp dir");
    let config = StoreConfig {
        purge_interval: Duration::from_millis(20),
        ..StoreConfig::new(directory.path().join("app.db"))
    };
    let store = Store::open_with(config).expect("open");
    let (sender, receiver) = std::sync::mpsc::channel();
    store.on_change(move |event| {
        if event.kind == EventType::Expire {
            sender.send(event.key.clone()).ok();
        }
    });
    set_expired(&store, "cache", "page");
    let key = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the background purge removed the row");
    assert_eq!(key, "page");
    // Read through a second connection: the row is physically gone.
    let connection = rusqlite::Connection::open(directory.path().join("app.db")).expect("sqlite");
    let rows: i64 = connection
        .query_row("SELECT COUNT(*) FROM entries", [], |row| row.get(0))
        .expect("count");
    assert_eq!(rows, 0);
    store.close().expect("close stops the purge thread");
}

#[test]
fn background_purge_good_zero_interval_disables_it() {
    let config = StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(":memory:")
    };
    let store = Store::open_with(config).expect("open");
    set_expired(&store, "cache", "page");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(store.purge_expired().expect("purge"), 1);
}

#[test]
fn background_purge_good_stops_when_last_handle_drops() {
    let config = StoreConfig {
        purge_interval: Duration::from_millis(5),
        ..StoreConfig::new(":memory:")
    };
    let store = Store::open_with(config).expect("open");
    let watcher = store.watch("*", "*");
    drop(store);
    // Dropping the last handle closed the store: the watcher ends instead of hanging.
    assert!(watcher.recv().is_none());
}
