//! `Store::stats` (SPEC §17, §12).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};
use store::{CompactOptions, Error, JournalConfig, Store, StoreConfig, StoreStats};

fn fields(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

#[test]
fn stats_good_empty_memory_store_is_all_zero() {
    let store = Store::open(":memory:").expect("open");
    assert_eq!(store.stats().expect("stats"), StoreStats::default());
}

#[test]
fn stats_good_counts_entries_groups_and_expired() {
    let store = Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(":memory:")
    })
    .expect("open");
    store.set("config", "colour", "blue").expect("set");
    store.set("config", "size", "10").expect("set");
    store
        .set_with_ttl("sessions", "alice", "t", Duration::from_secs(3_600))
        .expect("set");
    store
        .set_with_ttl("cache", "old", "v", Duration::ZERO)
        .expect("set");
    store
        .set_with_ttl("cache", "older", "v", Duration::ZERO)
        .expect("set");
    let stats = store.stats().expect("stats");
    assert_eq!(stats.entries, 3);
    assert_eq!(stats.groups, 2, "cache has no live entry");
    assert_eq!(stats.expired_unpurged, 2);
    assert_eq!(store.purge_expired().expect("purge"), 2);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.entries, stats.expired_unpurged), (3, 0));
}

#[test]
fn stats_good_journal_and_archived_points_and_file_size() {
    let directory = tempfile::tempdir().expect("a directory");
    let store = Store::open(directory.path().join("s.db")).expect("open");
    let empty = store.stats().expect("stats");
    assert!(empty.file_size_bytes > 0, "the schema is on disk");
    for value in 0..3 {
        store
            .commit_to_journal("m", &fields(&json!({ "v": value })), &BTreeMap::new())
            .expect("commit");
    }
    let stats = store.stats().expect("stats");
    assert_eq!((stats.journal_points, stats.archived_points), (3, 0));
    assert!(
        stats.file_size_bytes > empty.file_size_bytes,
        "the WAL grew"
    );
    let archive = store
        .compact(CompactOptions {
            output: directory.path().join("archive"),
            ..CompactOptions::new(SystemTime::now() + Duration::from_secs(1))
        })
        .expect("compact");
    assert!(archive.is_some());
    let stats = store.stats().expect("stats");
    assert_eq!((stats.journal_points, stats.archived_points), (0, 3));
    assert_eq!((stats.pending_exports, stats.failed_exports), (0, 0));
    store.close().expect("close");
}

#[test]
fn stats_good_pending_exports_and_last_error_while_influxdb_is_down() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let journal = JournalConfig::new(&format!("http://127.0.0.1:{port}"), "core", "events");
    let store = Store::open_with(StoreConfig {
        journal: Some(journal),
        ..StoreConfig::new(":memory:")
    })
    .expect("open");
    for value in 0..3 {
        store
            .commit_to_journal("m", &fields(&json!({ "v": value })), &BTreeMap::new())
            .expect("commit");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let stats = loop {
        let stats = store.stats().expect("stats");
        if stats.last_export_error.is_some() || Instant::now() > deadline {
            break stats;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!((stats.pending_exports, stats.failed_exports), (3, 0));
    let last_error = stats.last_export_error.expect("the shipper's failure");
    assert!(last_error.contains(&port.to_string()), "{last_error}");
    assert_eq!(stats.journal_points, 3);
}

#[test]
fn stats_bad_closed_store() {
    let store = Store::open(":memory:").expect("open");
    store.close().expect("close");
    assert!(matches!(
        store.stats(),
        Err(Error::Closed {
            operation: "store.stats"
        })
    ));
}
