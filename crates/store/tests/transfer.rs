//! Export and import: entries with their expiry, all or nothing.

use std::time::Duration;

use store::{Entry, EventType, Store};

fn memory() -> Store {
    Store::open(":memory:").expect("open an in-memory store")
}

#[test]
fn export_import_good_round_trip_with_ttl() {
    let source = memory();
    source.set("config", "colour", "blue").expect("set");
    source
        .set_with_ttl("sessions", "alice", "token", Duration::from_secs(3600))
        .expect("set");
    source
        .set_with_ttl("sessions", "gone", "x", Duration::ZERO)
        .expect("expired");
    source.set("nul\0group", "ключ", "値\0").expect("set");
    let exported: Vec<Entry> = source.export("").collect::<Result<_, _>>().expect("export");
    assert_eq!(exported.len(), 3, "expired entries are not exported");
    let copy = memory();
    assert_eq!(copy.import(exported.clone()).expect("import"), 3);
    let again: Vec<Entry> = copy.export("").collect::<Result<_, _>>().expect("export");
    assert_eq!(again, exported);
    let alice = again
        .iter()
        .find(|entry| entry.key == "alice")
        .expect("alice");
    assert!(alice.expires_at.is_some());
}

#[test]
fn export_good_prefix_is_literal() {
    let store = memory();
    store.set("a_b", "k", "v").expect("set");
    store.set("axb", "k", "v").expect("set");
    let groups: Vec<String> = store
        .export("a_")
        .map(|entry| entry.map(|entry| entry.group))
        .collect::<Result<_, _>>()
        .expect("export");
    assert_eq!(groups, ["a_b"]);
}

#[test]
fn import_good_overwrites_and_emits_after_commit() {
    let store = memory();
    store.set("g", "k", "old").expect("set");
    let watcher = store.watch("g", "*");
    let written = store
        .import([
            Entry {
                group: "g".into(),
                key: "k".into(),
                value: "new".into(),
                expires_at: None,
            },
            Entry {
                group: "g".into(),
                key: "j".into(),
                value: "v".into(),
                expires_at: Some(1),
            },
        ])
        .expect("import");
    assert_eq!(written, 2);
    assert_eq!(store.get("g", "k").expect("get"), "new");
    assert!(!store.exists("g", "j").expect("already expired, as given"));
    let events: Vec<(EventType, String)> = std::iter::from_fn(|| watcher.try_recv())
        .map(|event| (event.kind, event.key))
        .collect();
    assert_eq!(
        events,
        [(EventType::Set, "k".into()), (EventType::Set, "j".into())]
    );
}

#[test]
fn import_good_empty_is_zero() {
    let store = memory();
    assert_eq!(store.import(Vec::new()).expect("import"), 0);
}

#[test]
fn import_bad_failure_rolls_back_everything() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    let store = Store::open(&path).expect("open");
    store.set("g", "existing", "kept").expect("set");
    // A trigger stands in for a failure half way through (e.g. a full disk).
    let connection = rusqlite::Connection::open(&path).expect("sqlite");
    connection
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN NEW.entry_key = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .expect("trigger");
    drop(connection);
    let watcher = store.watch("*", "*");
    let entries = ["a", "b", "bad", "c"].map(|key| Entry {
        group: "g".into(),
        key: key.into(),
        value: "v".into(),
        expires_at: None,
    });
    let error = store.import(entries).expect_err("refused");
    assert!(error.to_string().starts_with("store.import: "), "{error}");
    assert!(error.to_string().contains("refused"), "{error}");
    assert_eq!(
        store.get_all("g").expect("get all").len(),
        1,
        "nothing written"
    );
    assert!(watcher.try_recv().is_none(), "no events for a rollback");
}
