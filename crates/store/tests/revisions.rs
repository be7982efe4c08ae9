//! Revisions, compare-and-set and the durable change feed (issue 13).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use store::{ChangeRetention, Entry, EventType, QuotaConfig, ScopedStore, Store, StoreConfig};

const WAIT: Duration = Duration::from_secs(10);

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or PostgreSQL).
fn memory() -> Store {
    backends::open()
}

fn file_store(path: &std::path::Path) -> Store {
    Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(path)
    })
    .expect("open")
}

/// Every retained change after `after`, as (revision, kind, group, key, value).
fn history(store: &Store, after: u64) -> Vec<(u64, EventType, String, String, String)> {
    let mut watcher = store.watch_from("*", "*", after).expect("watch_from");
    let mut changes = Vec::new();
    while let Some(change) = watcher.try_recv().expect("read") {
        changes.push((
            change.revision,
            change.kind,
            change.group.clone(),
            change.key.clone(),
            String::from_utf8_lossy(&change.value).into_owned(),
        ));
    }
    changes
}

fn kinds(store: &Store, after: u64) -> Vec<(u64, EventType, String)> {
    history(store, after)
        .into_iter()
        .map(|(revision, kind, group, key, _)| (revision, kind, format!("{group}/{key}")))
        .collect()
}

// ---- Revisions ----

#[test]
fn revision_good_every_kind_of_change_is_numbered_in_order() {
    let store = memory();
    assert_eq!(store.revision().expect("revision"), 0);
    store.set("g", "a", "1").expect("set");
    store
        .set_with_ttl("g", "b", "2", Duration::from_secs(60))
        .expect("set_with_ttl");
    store.increment("counters", "n", 5).expect("increment");
    store.delete("g", "a").expect("delete");
    store.delete("g", "missing").expect("delete of nothing");
    store.set("h", "x", "1").expect("set");
    store.set("h", "y", "2").expect("set");
    store.delete_group("h").expect("delete_group");
    store.delete_group("h").expect("delete_group of nothing");
    store
        .set_with_ttl("cache", "page", "p", Duration::ZERO)
        .expect("expired at once");
    assert!(store
        .get("cache", "page")
        .expect_err("expired")
        .is_not_found());
    assert_eq!(
        kinds(&store, 0),
        [
            (1, EventType::Set, "g/a".to_owned()),
            (2, EventType::Set, "g/b".to_owned()),
            (3, EventType::Set, "counters/n".to_owned()),
            (4, EventType::Delete, "g/a".to_owned()),
            (5, EventType::Set, "h/x".to_owned()),
            (6, EventType::Set, "h/y".to_owned()),
            (7, EventType::DeleteGroup, "h/".to_owned()),
            (8, EventType::Set, "cache/page".to_owned()),
            (9, EventType::Expire, "cache/page".to_owned()),
        ]
    );
    assert_eq!(store.revision().expect("revision"), 9);
}

#[test]
fn revision_good_delete_prefix_records_one_change_per_group() {
    let store = memory();
    store.set("tenant-a:config", "k", "v").expect("set");
    store.set("tenant-a:config", "l", "v").expect("set");
    store.set("tenant-a:sessions", "k", "v").expect("set");
    store.set("tenant-b:config", "k", "v").expect("set");
    store.delete_prefix("tenant-a:").expect("delete_prefix");
    assert_eq!(
        kinds(&store, 4),
        [
            (5, EventType::DeleteGroup, "tenant-a:config/".to_owned()),
            (6, EventType::DeleteGroup, "tenant-a:sessions/".to_owned()),
        ]
    );
    assert_eq!(store.get("tenant-b:config", "k").expect("untouched"), "v");
}

#[test]
fn revision_good_purge_records_expire_for_each_row() {
    let store = memory();
    let expired = store::Entry {
        group: "cache".into(),
        key: String::new(),
        value: "v".into(),
        expires_at: Some(1),
    };
    let entries: Vec<Entry> = (0..3)
        .map(|index| Entry {
            key: format!("k{index}"),
            ..expired.clone()
        })
        .collect();
    store.import(entries).expect("import");
    assert_eq!(store.purge_expired().expect("purge"), 3);
    let expiries: Vec<_> = kinds(&store, 3);
    assert_eq!(
        expiries,
        [
            (4, EventType::Expire, "cache/k0".to_owned()),
            (5, EventType::Expire, "cache/k1".to_owned()),
            (6, EventType::Expire, "cache/k2".to_owned()),
        ]
    );
}

#[test]
fn revision_good_transaction_commits_consecutive_revisions_and_rollback_none() {
    let store = memory();
    store.set("g", "before", "v").expect("set");
    let failed: store::Result<()> = store.transaction(|transaction| {
        transaction.set("g", "lost", "v")?;
        Err(store::Error::Closed {
            operation: "test.rollback",
        })
    });
    assert!(failed.is_err());
    assert_eq!(
        store.revision().expect("revision"),
        1,
        "a rollback gives its number back"
    );
    store
        .transaction(|transaction| {
            transaction.set("g", "a", "1")?;
            transaction.delete("g", "before")?;
            assert_eq!(transaction.revision()?, 3);
            Ok(())
        })
        .expect("commit");
    assert_eq!(
        kinds(&store, 1),
        [
            (2, EventType::Set, "g/a".to_owned()),
            (3, EventType::Delete, "g/before".to_owned()),
        ]
    );
}

#[test]
fn get_with_revision_good_returns_the_revision_that_last_wrote_the_key() {
    let store = memory();
    store.set("g", "a", "1").expect("set");
    store.set("g", "b", "1").expect("set");
    store.set("g", "a", "2").expect("set");
    assert_eq!(
        store.get_with_revision("g", "a").expect("get"),
        ("2".to_owned(), 3)
    );
    assert_eq!(
        store.get_with_revision("g", "b").expect("get"),
        ("1".to_owned(), 2)
    );
    store
        .expire("g", "b", Duration::from_secs(60))
        .expect("expire");
    assert_eq!(store.get_with_revision("g", "b").expect("get").1, 4);
    assert!(store
        .get_with_revision("g", "missing")
        .expect_err("missing")
        .is_not_found());
}

#[test]
fn get_with_revision_bad_expired_is_not_found_and_records_expire() {
    let store = memory();
    store
        .set_with_ttl("g", "k", "v", Duration::ZERO)
        .expect("set");
    let watcher = store.watch("g", "*");
    assert!(store
        .get_with_revision("g", "k")
        .expect_err("expired")
        .is_not_found());
    assert_eq!(
        watcher.try_recv().map(|event| event.kind),
        Some(EventType::Expire)
    );
    assert_eq!(kinds(&store, 1), [(2, EventType::Expire, "g/k".to_owned())]);
}

// ---- Compare-and-set ----

#[test]
fn set_if_good_absent_then_matching_revision() {
    let store = memory();
    let first = store.set_if("g", "k", "a", None).expect("absent");
    let second = store.set_if("g", "k", "b", Some(first)).expect("matching");
    assert_eq!((first, second), (1, 2));
    assert_eq!(
        store.get_with_revision("g", "k").expect("get"),
        ("b".to_owned(), 2)
    );
}

#[test]
fn set_if_bad_conflict_changes_nothing_and_emits_nothing() {
    let store = memory();
    let revision = store.set_if("g", "k", "a", None).expect("absent");
    let watcher = store.watch("*", "*");
    let error = store.set_if("g", "k", "b", None).expect_err("not absent");
    match &error {
        store::Error::Conflict {
            operation,
            expected,
            current,
            ..
        } => {
            assert_eq!(*operation, "store.set_if");
            assert_eq!((*expected, *current), (None, Some(revision)));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let error = store
        .set_if("g", "k", "b", Some(revision + 7))
        .expect_err("stale");
    assert!(error.is_conflict(), "{error:?}");
    assert!(store
        .set_if("g", "other", "b", Some(1))
        .expect_err("missing key")
        .is_conflict());
    assert_eq!(store.get("g", "k").expect("get"), "a");
    assert_eq!(store.revision().expect("revision"), revision);
    assert!(watcher.try_recv().is_none(), "a conflict emits nothing");
}

#[test]
fn set_if_good_expired_key_counts_as_absent() {
    let store = memory();
    store
        .set_with_ttl("g", "k", "old", Duration::ZERO)
        .expect("set");
    let error = store.set_if("g", "k", "x", Some(1)).expect_err("expired");
    assert!(
        matches!(error, store::Error::Conflict { current: None, .. }),
        "{error:?}"
    );
    store.set_if("g", "k", "new", None).expect("absent");
    assert_eq!(store.get("g", "k").expect("get"), "new");
    assert_eq!(
        store.ttl("g", "k").expect("ttl"),
        None,
        "set_if writes no expiry"
    );
}

#[test]
fn set_if_good_exactly_one_of_racing_threads_wins() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("race.db");
    let store = file_store(&path);
    let start = store.set_if("locks", "job", "free", None).expect("seed");
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let (barrier, path) = (Arc::clone(&barrier), path.clone());
            std::thread::spawn(move || {
                let store = file_store(&path); // a connection each, as processes have
                barrier.wait();
                store.set_if("locks", "job", &format!("worker-{index}"), Some(start))
            })
        })
        .collect();
    let outcomes: Vec<_> = handles
        .into_iter()
        .map(|handle| handle.join().expect("thread"))
        .collect();
    let winners: Vec<_> = outcomes.iter().filter(|outcome| outcome.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().err())
        .all(store::Error::is_conflict));
    assert_eq!(store.revision().expect("revision"), start + 1);
}

#[test]
fn delete_if_good_matching_revision_deletes() {
    let store = memory();
    let revision = store.set_if("g", "k", "v", None).expect("set");
    let watcher = store.watch("g", "k");
    let deleted = store.delete_if("g", "k", revision).expect("delete_if");
    assert_eq!(deleted, revision + 1);
    assert!(!store.exists("g", "k").expect("exists"));
    assert_eq!(
        watcher.try_recv().map(|event| event.kind),
        Some(EventType::Delete)
    );
}

#[test]
fn delete_if_bad_conflict_keeps_the_key() {
    let store = memory();
    let revision = store.set_if("g", "k", "v", None).expect("set");
    let error = store.delete_if("g", "k", revision + 1).expect_err("stale");
    assert!(matches!(
        error,
        store::Error::Conflict { expected: Some(_), current: Some(current), .. } if current == revision
    ));
    assert!(store
        .delete_if("g", "missing", 1)
        .expect_err("missing")
        .is_conflict());
    assert_eq!(store.get("g", "k").expect("kept"), "v");
}

#[test]
fn set_if_good_in_transaction_rolls_back_with_it() {
    let store = memory();
    let revision = store.set_if("g", "k", "a", None).expect("set");
    let outcome: store::Result<()> = store.transaction(|transaction| {
        transaction.set_if("g", "k", "b", Some(revision))?;
        // The second write sees the first one's revision: a conflict, returned.
        transaction.set_if("g", "k", "c", Some(revision))?;
        Ok(())
    });
    assert!(outcome.expect_err("conflict").is_conflict());
    assert_eq!(
        store.get_with_revision("g", "k").expect("get"),
        ("a".to_owned(), revision)
    );
}

#[test]
fn set_if_bad_scoped_quota_refuses_new_key_but_not_update() {
    let root = memory();
    let tenant = ScopedStore::with_quota(
        &root,
        "tenant-a",
        QuotaConfig {
            max_keys: 1,
            max_groups: 0,
        },
    )
    .expect("scoped");
    let revision = tenant.set_if("config", "a", "1", None).expect("first key");
    tenant
        .set_if("config", "a", "2", Some(revision))
        .expect("update is no new key");
    let error = tenant.set_if("config", "b", "1", None).expect_err("quota");
    assert!(error.is_quota_exceeded(), "{error:?}");
    assert!(tenant
        .set_if("config", "a", "3", None)
        .expect_err("present")
        .is_conflict());
    assert_eq!(root.get("tenant-a:config", "a").expect("stored"), "2");
}

// ---- The change feed ----

#[test]
fn watch_from_good_replays_then_follows() {
    let store = memory();
    for index in 0..5 {
        store.set("g", &format!("k{index}"), "v").expect("set");
    }
    let mut watcher = store.watch_from("g", "*", 2).expect("watch_from");
    let replayed: Vec<u64> = (0..3)
        .map(|_| watcher.recv().expect("recv").expect("change").revision)
        .collect();
    assert_eq!(replayed, [3, 4, 5]);
    let writer = store.clone();
    let handle = std::thread::spawn(move || writer.set("g", "late", "v"));
    let change = watcher
        .recv_timeout(WAIT)
        .expect("recv")
        .expect("the live change");
    handle.join().expect("thread").expect("set");
    assert_eq!((change.revision, change.key.as_str()), (6, "late"));
    assert_eq!(watcher.revision(), 6);
}

#[test]
fn watch_from_good_filters_by_group_and_key_and_delivers_group_deletes() {
    let store = memory();
    store.set("g", "k", "1").expect("set");
    store.set("g", "other", "1").expect("set");
    store.set("h", "k", "1").expect("set");
    store.delete_group("g").expect("delete_group");
    let mut watcher = store.watch_from("g", "k", 0).expect("watch_from");
    let mut seen = Vec::new();
    while let Some(change) = watcher.try_recv().expect("read") {
        seen.push((change.revision, change.kind));
    }
    assert_eq!(seen, [(1, EventType::Set), (4, EventType::DeleteGroup)]);
    assert_eq!(watcher.revision(), 4);
}

#[test]
fn watch_from_good_scoped_sees_only_its_namespace_with_local_names() {
    let root = memory();
    let tenant = ScopedStore::new(&root, "tenant-a").expect("scoped");
    let other = ScopedStore::new(&root, "tenant-b").expect("scoped");
    other.set("config", "k", "b").expect("set");
    tenant.set("config", "k", "a").expect("set");
    root.set("config", "k", "root").expect("set");
    let mut watcher = tenant.watch_from("*", "*", 0).expect("watch_from");
    let change = watcher
        .try_recv()
        .expect("read")
        .expect("the tenant's change");
    assert_eq!(
        (change.revision, change.group.as_str(), change.value_text()),
        (2, "config", Some("a"))
    );
    assert!(watcher.try_recv().expect("read").is_none());
}

#[test]
fn watch_from_good_binary_values_keep_their_bytes() {
    let store = memory();
    store
        .set_bytes("blocks", "b", &[0, 0xff, 7])
        .expect("set_bytes");
    let mut watcher = store.watch_from("blocks", "*", 0).expect("watch_from");
    let change = watcher.try_recv().expect("read").expect("change");
    assert_eq!(change.value, [0, 0xff, 7]);
    assert_eq!(change.value_text(), None);
}

#[test]
fn watch_from_good_resumes_without_gap_or_duplicate() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("resume.db");
    let store = file_store(&path);
    for index in 0..10 {
        store.set("g", &index.to_string(), "v").expect("set");
    }
    let mut first = store.watch_from("g", "*", 0).expect("watch_from");
    for _ in 0..4 {
        first.recv().expect("recv").expect("change");
    }
    let resume_at = first.revision();
    drop(first);
    store.close().expect("close");
    let store = file_store(&path);
    store.set("g", "after-restart", "v").expect("set");
    let mut second = store.watch_from("g", "*", resume_at).expect("resume");
    let mut revisions = Vec::new();
    while let Some(change) = second.try_recv().expect("read") {
        revisions.push(change.revision);
    }
    assert_eq!(revisions, (5..=11).collect::<Vec<u64>>());
}

#[test]
fn watch_from_good_follows_another_connection_on_the_same_file() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("follow.db");
    let follower = file_store(&path);
    let mut watcher = follower.watch_from("g", "*", 0).expect("watch_from");
    let writer = file_store(&path); // its own connection, as another process has
    writer
        .set("g", "k", "from the other connection")
        .expect("set");
    let change = watcher
        .recv_timeout(WAIT)
        .expect("recv")
        .expect("found by polling");
    assert_eq!(change.value_text(), Some("from the other connection"));
}

#[test]
fn watch_from_good_a_watcher_that_is_not_read_loses_nothing() {
    let store = memory();
    let mut watcher = store.watch_from("g", "*", 0).expect("watch_from");
    let live = store.watch("g", "*");
    for index in 0..2_500 {
        store.set("g", &format!("{index:05}"), "v").expect("set");
    }
    assert!(live.dropped() > 0, "the live watcher's buffer overflowed");
    let mut count = 0_u64;
    while let Some(change) = watcher.try_recv().expect("read") {
        count += 1;
        assert_eq!(change.revision, count, "in order, no gap");
    }
    assert_eq!(count, 2_500);
}

#[test]
fn watch_from_good_recv_ends_when_the_store_closes() {
    let store = memory();
    let mut watcher = store.watch_from("g", "*", 0).expect("watch_from");
    let closer = store.clone();
    let ready = Arc::new(Barrier::new(2));
    let waiting = Arc::clone(&ready);
    let handle = std::thread::spawn(move || {
        waiting.wait();
        watcher.recv()
    });
    // Closing while the thread waits in recv, or just before it gets there: either way
    // recv ends with no change rather than waiting for ever.
    ready.wait();
    closer.close().expect("close");
    assert!(handle.join().expect("thread").expect("recv").is_none());
}

#[test]
fn watch_from_bad_compacted_history_names_the_oldest_revision() {
    let store = Store::open_with(StoreConfig {
        change_retention: ChangeRetention {
            max_changes: Some(3),
            max_age: None,
        },
        ..backends::config()
    })
    .expect("open");
    for index in 0..10 {
        store.set("g", &index.to_string(), "v").expect("set");
    }
    store.purge_expired().expect("purge prunes the history");
    let error = store.watch_from("g", "*", 5).expect_err("pruned");
    match error {
        store::Error::Compacted {
            operation,
            requested,
            oldest,
        } => assert_eq!((operation, requested, oldest), ("store.watch_from", 5, 8)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    let mut watcher = store.watch_from("g", "*", 7).expect("just retained");
    assert_eq!(
        watcher.recv().expect("recv").map(|change| change.revision),
        Some(8)
    );
}

#[test]
fn watch_from_bad_watcher_left_behind_by_pruning_reports_compacted() {
    let store = Store::open_with(StoreConfig {
        change_retention: ChangeRetention {
            max_changes: Some(2),
            max_age: None,
        },
        ..backends::config()
    })
    .expect("open");
    store.set("g", "a", "v").expect("set");
    let mut watcher = store.watch_from("g", "*", 0).expect("watch_from");
    for index in 0..5 {
        store.set("g", &index.to_string(), "v").expect("set");
    }
    store.purge_expired().expect("prune");
    let error = watcher.recv().expect_err("fell behind");
    assert!(error.is_compacted(), "{error:?}");
    assert_eq!(
        watcher.revision(),
        0,
        "its place is kept for the caller to see"
    );
}

#[test]
fn change_retention_good_prunes_by_count_in_batches_and_keeps_the_newest() {
    let store = Store::open_with(StoreConfig {
        change_retention: ChangeRetention {
            max_changes: Some(1),
            max_age: None,
        },
        ..backends::config()
    })
    .expect("open");
    let pairs: Vec<(String, String)> = (0..1_234)
        .map(|index| (format!("k{index}"), "v".to_owned()))
        .collect();
    store.set_many("g", pairs).expect("set_many");
    store.purge_expired().expect("prune");
    assert!(store
        .watch_from("g", "*", 0)
        .expect_err("pruned")
        .is_compacted());
    assert_eq!(
        kinds(&store, 1_233),
        [(1_234, EventType::Set, "g/k1233".to_owned())]
    );
    assert_eq!(store.revision().expect("revision"), 1_234);
    store.set("g", "next", "v").expect("set");
    assert_eq!(store.revision().expect("numbering goes on"), 1_235);
}

#[test]
fn change_retention_good_prunes_by_age() {
    let store = Store::open_with(StoreConfig {
        change_retention: ChangeRetention {
            max_changes: None,
            max_age: Some(Duration::from_millis(200)),
        },
        ..backends::config()
    })
    .expect("open");
    store.set("g", "old-1", "v").expect("set");
    store.set("g", "old-2", "v").expect("set");
    std::thread::sleep(Duration::from_millis(600));
    store.set("g", "new", "v").expect("set");
    store.purge_expired().expect("prune");
    assert_eq!(kinds(&store, 2), [(3, EventType::Set, "g/new".to_owned())]);
    assert!(store
        .watch_from("g", "*", 0)
        .expect_err("pruned")
        .is_compacted());
}

#[test]
fn change_retention_good_none_keeps_everything() {
    let store = Store::open_with(StoreConfig {
        change_retention: ChangeRetention {
            max_changes: None,
            max_age: None,
        },
        ..backends::config()
    })
    .expect("open");
    for index in 0..20 {
        store.set("g", &index.to_string(), "v").expect("set");
    }
    store.purge_expired().expect("purge");
    assert_eq!(history(&store, 0).len(), 20);
}

// ---- Other writers ----

#[test]
fn revision_good_writes_by_another_program_are_numbered() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("foreign.db");
    let store = file_store(&path);
    store.set("g", "mine", "v").expect("set");
    // What the Go package runs: its own upsert (no revision), its delete and its purge.
    let go = rusqlite::Connection::open(&path).expect("sqlite");
    go.execute(
        "INSERT INTO entries (group_name, entry_key, entry_value) VALUES (?, ?, ?)
         ON CONFLICT(group_name, entry_key) DO UPDATE SET entry_value = excluded.entry_value",
        ["g", "theirs", "1"],
    )
    .expect("Go insert");
    go.execute(
        "INSERT INTO entries (group_name, entry_key, entry_value) VALUES (?, ?, ?)
         ON CONFLICT(group_name, entry_key) DO UPDATE SET entry_value = excluded.entry_value",
        ["g", "mine", "2"],
    )
    .expect("Go update");
    go.execute(
        "DELETE FROM entries WHERE group_name = ? AND entry_key = ?",
        ["g", "theirs"],
    )
    .expect("Go delete");
    drop(go);
    assert_eq!(
        kinds(&store, 0),
        [
            (1, EventType::Set, "g/mine".to_owned()),
            (2, EventType::Set, "g/theirs".to_owned()),
            (3, EventType::Set, "g/mine".to_owned()),
            (4, EventType::Delete, "g/theirs".to_owned()),
        ]
    );
    // The Go update stamped the row, so a stale compare-and-set fails.
    assert_eq!(
        store.get_with_revision("g", "mine").expect("get"),
        ("2".to_owned(), 3)
    );
    assert!(store
        .set_if("g", "mine", "x", Some(1))
        .expect_err("stale")
        .is_conflict());
}

#[test]
fn revision_good_insert_by_another_program_is_stamped_with_its_revision() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("foreign-insert.db");
    let store = file_store(&path);
    store.set("g", "mine", "v").expect("set");
    let other = rusqlite::Connection::open(&path).expect("sqlite");
    // Two rows in one statement: each is numbered and stamped in turn.
    other
        .execute_batch(
            "INSERT INTO entries (group_name, entry_key, entry_value)
             VALUES ('g', 'a', '1'), ('g', 'b', '2')",
        )
        .expect("insert");
    drop(other);
    assert_eq!(store.get_with_revision("g", "a").expect("a").1, 2);
    assert_eq!(store.get_with_revision("g", "b").expect("b").1, 3);
    // The store's next write follows on from the other program's.
    assert_eq!(store.set_if("g", "a", "x", Some(2)).expect("set_if"), 4);
    assert_eq!(store.revision().expect("revision"), 4);
}
