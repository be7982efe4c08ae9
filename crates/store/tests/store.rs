//! Opening, closing and the key-value operations.

use std::collections::BTreeMap;
use std::time::Duration;

use store::{Durability, Error, KeyValue, Store, StoreConfig};

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or PostgreSQL).
fn memory() -> Store {
    backends::open()
}

#[test]
fn open_good_file_persists_across_reopen() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    {
        let store = Store::open(&path).expect("open");
        store.set("config", "colour", "blue").expect("set");
        store.close().expect("close");
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    assert_eq!(store.database_path(), path);
}

#[test]
fn open_good_file_uses_wal_and_durability() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    let config = StoreConfig {
        durability: Durability::Normal,
        ..StoreConfig::new(&path)
    };
    let store = Store::open_with(config).expect("open");
    store.set("g", "k", "v").expect("set");
    // The WAL file exists while the store is open: journal_mode=WAL took effect.
    assert!(directory.path().join("app.db-wal").exists());
    assert_eq!(store.config().durability, Durability::Normal);
}

#[test]
fn open_good_memory_stores_are_private() {
    let first = memory();
    let second = memory();
    first.set("g", "k", "v").expect("set");
    assert!(!second.exists("g", "k").expect("exists"));
    let clone = first.clone();
    assert_eq!(clone.get("g", "k").expect("get"), "v");
}

#[test]
fn open_bad_missing_parent_directory() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("missing").join("app.db");
    let error = Store::open(&path).expect_err("no parent directory");
    assert!(matches!(error, Error::Database { .. }), "{error:?}");
    assert!(error.to_string().starts_with("store.open: "), "{error}");
    assert!(!directory.path().join("missing").exists());
}

#[test]
fn open_bad_not_a_database() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("garbage.db");
    std::fs::write(&path, vec![0x5a_u8; 8192]).expect("write garbage");
    let error = Store::open(&path).expect_err("garbage is not SQLite");
    assert!(error.to_string().starts_with("store.open: "), "{error}");
    assert!(error.to_string().contains("not a database"), "{error}");
    assert_eq!(std::fs::read(&path).expect("read").len(), 8192);
}

#[test]
fn open_bad_entries_is_an_index() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("odd.db");
    {
        let connection = rusqlite::Connection::open(&path).expect("sqlite");
        connection
            .execute_batch("CREATE TABLE other (a TEXT); CREATE INDEX entries ON other (a);")
            .expect("schema");
    }
    let error = Store::open(&path).expect_err("entries is an index");
    assert!(error.to_string().contains("ensure schema"), "{error}");
}

#[cfg(unix)]
#[test]
fn open_bad_unwritable_directory() {
    use std::os::unix::fs::PermissionsExt;
    let directory = tempfile::tempdir().expect("temp dir");
    let locked = directory.path().join("locked");
    std::fs::create_dir(&locked).expect("mkdir");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let result = Store::open(locked.join("app.db"));
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // Root ignores permissions; anyone else must get a clear error.
    if let Err(error) = result {
        assert!(error.to_string().starts_with("store.open: "), "{error}");
    }
}

#[test]
fn open_with_bad_config_is_refused() {
    let error = Store::open_with(StoreConfig::new("")).expect_err("empty path");
    let message = error.to_string();
    assert!(message.contains("validate config"), "{message}");
    assert!(message.contains("database path is empty"), "{message}");
    assert!(matches!(error, Error::InvalidInput { .. }));
}

#[test]
fn open_with_good_normalises_state_directory() {
    let config = StoreConfig {
        workspace_state_directory: std::path::PathBuf::new(),
        ..StoreConfig::new(":memory:")
    };
    let store = Store::open_with(config).expect("open");
    assert_eq!(
        store.config().workspace_state_directory,
        std::path::PathBuf::from(".core/state")
    );
}

#[test]
fn get_bad_not_found() {
    let store = memory();
    let error = store.get("config", "colour").expect_err("missing");
    assert!(error.is_not_found());
    assert_eq!(
        error.to_string(),
        r#"store.get: not found: group "config", key "colour""#
    );
    match error {
        Error::NotFound {
            operation,
            group,
            key,
        } => assert_eq!(
            (operation, group.as_str(), key.as_str()),
            ("store.get", "config", "colour")
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn set_good_overwrites_and_clears_ttl() {
    let store = memory();
    store
        .set_with_ttl("g", "k", "old", Duration::from_millis(1))
        .expect("set with ttl");
    store.set("g", "k", "new").expect("set");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(store.get("g", "k").expect("still there"), "new");
}

#[test]
fn set_good_awkward_strings_round_trip() {
    let store = memory();
    let long_key = "k".repeat(10_000);
    let big_value = "v".repeat(100_000);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("", "", ""),
        ("group with spaces", "key\twith\ttabs", "line\nbreaks\r\n"),
        ("nul\0group", "nul\0key", "nul\0value\0"),
        ("日本語", "مفتاح", "😀 emoji ✓"),
        ("'; DROP TABLE entries;--", "100%", "a_b"),
        ("back\\slash", "^caret", "*star"),
        ("g", long_key.as_str(), big_value.as_str()),
    ];
    for (group, key, value) in &cases {
        store.set(group, key, value).expect("set");
    }
    for (group, key, value) in &cases {
        assert_eq!(
            &store.get(group, key).expect("get"),
            value,
            "{group:?}/{key:?}"
        );
        assert!(store.exists(group, key).expect("exists"));
    }
    assert_eq!(store.count("nul\0group").expect("count"), 1);
    assert_eq!(store.count("nul").expect("count"), 0);
}

#[test]
fn exists_good_and_missing() {
    let store = memory();
    store.set("g", "k", "v").expect("set");
    assert!(store.exists("g", "k").expect("exists"));
    assert!(!store.exists("g", "other").expect("exists"));
    assert!(!store.exists("other", "k").expect("exists"));
}

#[test]
fn delete_good_removes_and_missing_is_ok() {
    let store = memory();
    store.set("g", "k", "v").expect("set");
    store.set("g", "kept", "v").expect("set");
    store.delete("g", "k").expect("delete");
    store.delete("g", "k").expect("delete again");
    store.delete("nowhere", "k").expect("delete missing");
    assert!(!store.exists("g", "k").expect("exists"));
    assert_eq!(store.count("g").expect("count"), 1);
}

#[test]
fn delete_group_good_removes_only_that_group() {
    let store = memory();
    store.set("a", "1", "v").expect("set");
    store.set("a", "2", "v").expect("set");
    store.set("ab", "1", "v").expect("set");
    store.delete_group("a").expect("delete group");
    store.delete_group("a").expect("delete empty group");
    assert_eq!(store.count("a").expect("count"), 0);
    assert_eq!(store.count("ab").expect("count"), 1);
}

#[test]
fn delete_prefix_good_literal_and_case_sensitive() {
    let store = memory();
    for group in [
        "tenant-a:x",
        "tenant-a:y",
        "Tenant-A:x",
        "tenant-ab",
        "100%:x",
        "100x:x",
        "a_b",
        "axb",
    ] {
        store.set(group, "k", "v").expect("set");
    }
    store.delete_prefix("tenant-a:").expect("delete prefix");
    store.delete_prefix("100%").expect("percent");
    store.delete_prefix("a_").expect("underscore");
    assert_eq!(
        store.groups("").expect("groups"),
        ["100x:x", "Tenant-A:x", "axb", "tenant-ab"]
    );
    store.delete_prefix("").expect("everything");
    assert_eq!(store.count_all("").expect("count"), 0);
}

#[test]
fn count_all_good_literal_prefixes() {
    let store = memory();
    for group in [
        "tenant-a:x",
        "tenant-a:y",
        "Tenant-A:x",
        "tenant-a",
        "a%b",
        "aXb",
        "a_b",
        "a\0b",
        "a",
    ] {
        store.set(group, "k", "v").expect("set");
    }
    assert_eq!(store.count_all("tenant-a:").expect("count"), 2);
    assert_eq!(store.count_all("Tenant-A:").expect("count"), 1);
    assert_eq!(store.count_all("a%").expect("count"), 1);
    assert_eq!(store.count_all("a_").expect("count"), 1);
    assert_eq!(store.count_all("a\0").expect("count"), 1);
    assert_eq!(store.count_all("a").expect("count"), 5);
    assert_eq!(store.count_all("").expect("count"), 9);
    assert_eq!(store.count_all("zzz").expect("count"), 0);
}

#[test]
fn count_all_good_prefix_with_high_code_points() {
    let store = memory();
    for group in [
        "\u{7f}",
        "\u{7f}x",
        "\u{80}",
        "\u{10FFFF}",
        "\u{10FFFF}a",
        "\u{FFFF}",
    ] {
        store.set(group, "k", "v").expect("set");
    }
    assert_eq!(store.count_all("\u{7f}").expect("count"), 2);
    assert_eq!(store.count_all("\u{10FFFF}").expect("count"), 2);
    assert_eq!(store.count_all("\u{FFFF}").expect("count"), 1);
}

#[test]
fn group_exists_good_and_missing() {
    let store = memory();
    store.set("g", "k", "v").expect("set");
    assert!(store.group_exists("g").expect("exists"));
    assert!(!store.group_exists("h").expect("exists"));
}

#[test]
fn get_all_good_and_empty() {
    let store = memory();
    store.set("g", "b", "2").expect("set");
    store.set("g", "a", "1").expect("set");
    store.set("other", "c", "3").expect("set");
    let expected: BTreeMap<String, String> = [
        ("a".to_owned(), "1".to_owned()),
        ("b".to_owned(), "2".to_owned()),
    ]
    .into();
    assert_eq!(store.get_all("g").expect("get all"), expected);
    assert!(store.get_all("none").expect("get all").is_empty());
}

#[test]
fn get_page_good_offsets_and_limits() {
    let store = memory();
    for key in ["d", "a", "c", "b", "e"] {
        store.set("g", key, &key.to_uppercase()).expect("set");
    }
    let keys = |page: Vec<KeyValue>| page.into_iter().map(|entry| entry.key).collect::<Vec<_>>();
    assert_eq!(keys(store.get_page("g", 0, 2).expect("page")), ["a", "b"]);
    assert_eq!(keys(store.get_page("g", 2, 2).expect("page")), ["c", "d"]);
    assert_eq!(keys(store.get_page("g", 4, 2).expect("page")), ["e"]);
    assert!(store.get_page("g", 5, 2).expect("page").is_empty());
    assert!(store.get_page("g", 0, 0).expect("page").is_empty());
    assert!(store
        .get_page("g", usize::MAX, usize::MAX)
        .expect("page")
        .is_empty());
    let page = store.get_page("g", 1, 1).expect("page");
    assert_eq!(
        page,
        [KeyValue {
            key: "b".into(),
            value: "B".into()
        }]
    );
}

#[test]
fn groups_good_sorted_distinct_live() {
    let store = memory();
    store.set("b", "1", "v").expect("set");
    store.set("b", "2", "v").expect("set");
    store.set("a", "1", "v").expect("set");
    store
        .set_with_ttl("c", "1", "v", Duration::ZERO)
        .expect("set expired");
    assert_eq!(store.groups("").expect("groups"), ["a", "b"]);
    assert_eq!(store.groups("b").expect("groups"), ["b"]);
    assert!(store.groups("z").expect("groups").is_empty());
}

#[test]
fn get_split_good_like_go() {
    let store = memory();
    store.set("g", "list", ",a,,b,").expect("set");
    store.set("g", "empty", "").expect("set");
    store.set("g", "word", "héllo").expect("set");
    assert_eq!(
        store.get_split("g", "list", ",").expect("split"),
        ["", "a", "", "b", ""]
    );
    assert_eq!(store.get_split("g", "empty", ",").expect("split"), [""]);
    assert_eq!(
        store.get_split("g", "word", "").expect("split"),
        ["h", "é", "l", "l", "o"]
    );
    assert!(store.get_split("g", "empty", "").expect("split").is_empty());
    let error = store.get_split("g", "missing", ",").expect_err("missing");
    assert!(
        error.to_string().starts_with("store.get_split: not found"),
        "{error}"
    );
}

#[test]
fn get_fields_good_like_go() {
    let store = memory();
    store.set("g", "flags", " a\t b  \n").expect("set");
    store.set("g", "blank", " \t\n\u{3000}").expect("set");
    assert_eq!(store.get_fields("g", "flags").expect("fields"), ["a", "b"]);
    assert!(store.get_fields("g", "blank").expect("fields").is_empty());
    let error = store.get_fields("g", "missing").expect_err("missing");
    assert!(
        error.to_string().starts_with("store.get_fields: not found"),
        "{error}"
    );
}

#[test]
fn close_good_idempotent_and_every_operation_refused() {
    let store = memory();
    store.set("g", "k", "v").expect("set");
    let path_before_close = store.database_path();
    let clone = store.clone();
    store.close().expect("close");
    store.close().expect("close again");
    assert!(clone.is_closed());
    clone.close().expect("close a clone");
    let closed = |result: Result<(), Error>, operation: &str| match result {
        Err(Error::Closed { operation: named }) => assert_eq!(named, operation),
        other => panic!("{operation}: expected Closed, got {other:?}"),
    };
    closed(store.get("g", "k").map(drop), "store.get");
    closed(store.exists("g", "k").map(drop), "store.exists");
    closed(store.set("g", "k", "v"), "store.set");
    closed(
        store.set_with_ttl("g", "k", "v", Duration::from_secs(1)),
        "store.set_with_ttl",
    );
    closed(store.delete("g", "k"), "store.delete");
    closed(store.delete_group("g"), "store.delete_group");
    closed(store.delete_prefix("g"), "store.delete_prefix");
    closed(store.group_exists("g").map(drop), "store.group_exists");
    closed(store.count("g").map(drop), "store.count");
    closed(store.count_all("g").map(drop), "store.count_all");
    closed(store.get_all("g").map(drop), "store.get_all");
    closed(store.get_page("g", 0, 10).map(drop), "store.get_page");
    closed(store.get_page("g", 0, 0).map(drop), "store.get_page");
    closed(store.groups("").map(drop), "store.groups");
    closed(store.get_split("g", "k", ",").map(drop), "store.get_split");
    closed(store.get_fields("g", "k").map(drop), "store.get_fields");
    closed(store.render("{{ .k }}", "g").map(drop), "store.render");
    closed(store.render("{{ .unclosed", "g").map(drop), "store.render");
    closed(store.purge_expired().map(drop), "store.purge_expired");
    closed(store.import(Vec::new()).map(drop), "store.import");
    let mut all = store.all("g");
    closed(all.next().expect("one item").map(drop), "store.all");
    assert!(all.next().is_none());
    let mut groups = store.groups_iter("");
    closed(
        groups.next().expect("one item").map(drop),
        "store.groups_iter",
    );
    assert!(groups.next().is_none());
    let mut export = store.export("");
    closed(export.next().expect("one item").map(drop), "store.export");
    assert!(export.next().is_none());
    // Harmless after close.
    assert_eq!(store.database_path(), path_before_close);
    assert_eq!(store.config().database_path, path_before_close);
    let watcher = store.watch("*", "*");
    assert!(watcher.recv().is_none());
    store.unwatch(watcher);
    store.on_change(|_event| {}).unregister();
}

#[test]
fn close_good_drop_of_last_handle_releases_file() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    let store = Store::open(&path).expect("open");
    store.set("g", "k", "v").expect("set");
    drop(store);
    // The connection closed on drop, so the WAL was checkpointed and removed.
    assert!(!directory.path().join("app.db-wal").exists());
    assert_eq!(
        Store::open(&path)
            .expect("reopen")
            .get("g", "k")
            .expect("get"),
        "v"
    );
}

#[test]
fn debug_good_names_path() {
    let store = memory();
    let text = format!("{store:?}");
    let path = store.database_path().display().to_string();
    assert!(
        text.contains(&path) && text.contains("is_closed: false"),
        "{text}"
    );
}

fn seed(path: &std::path::Path) {
    let store = Store::open(path).expect("create");
    store.set("config", "colour", "blue").expect("seed");
    store
        .set_with_ttl("config", "stale", "old", Duration::ZERO)
        .expect("seed an expired entry");
    store.close().expect("close");
}

#[test]
fn open_good_reads_under_writer() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    seed(&path);
    let writer = rusqlite::Connection::open(&path).expect("second connection");
    writer
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO entries (group_name, entry_key, entry_value) VALUES ('config', 'size', '10')",
        )
        .expect("hold a write transaction");
    let started = std::time::Instant::now();
    let store = Store::open(&path).expect("open while another connection writes");
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    assert_eq!(store.count("config").expect("count"), 1);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "open and reads did not wait for the writer: {:?}",
        started.elapsed()
    );
    writer.execute_batch("COMMIT").expect("commit");
    assert_eq!(store.get("config", "size").expect("committed row"), "10");
}

#[test]
fn open_read_only_good_refuses_writes_and_leaves_file_unchanged() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    seed(&path);
    let before = std::fs::read(&path).expect("read the file");
    let config = StoreConfig {
        read_only: true,
        ..StoreConfig::new(&path)
    };
    let store = Store::open_with(config).expect("open read-only");
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    // Expired: reported missing, not deleted (a delete would be a write).
    assert!(store.get("config", "stale").unwrap_err().is_not_found());
    let refused = |error: Error, operation: &str| {
        assert!(error.is_read_only(), "{operation}: {error:?}");
        assert_eq!(error.operation(), operation);
        assert!(error.to_string().contains("read-only"), "{error}");
    };
    refused(
        store.set("config", "colour", "green").unwrap_err(),
        "store.set",
    );
    refused(
        store.delete("config", "colour").unwrap_err(),
        "store.delete",
    );
    refused(
        store.delete_group("config").unwrap_err(),
        "store.delete_group",
    );
    refused(store.purge_expired().unwrap_err(), "store.purge_expired");
    refused(
        store
            .import([store::Entry {
                group: "g".into(),
                key: "k".into(),
                value: "v".into(),
                expires_at: None,
            }])
            .unwrap_err(),
        "store.import",
    );
    let mut fields = serde_json::Map::new();
    fields.insert("n".into(), 1.into());
    refused(
        store
            .commit_to_journal("m", &fields, &BTreeMap::new())
            .unwrap_err(),
        "store.commit_to_journal",
    );
    let transaction = store.transaction(|transaction| transaction.set("config", "a", "b"));
    let error = transaction.unwrap_err();
    assert!(error.to_string().contains("read-only"), "{error:?}");
    store.close().expect("close");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "file unchanged"
    );
    let store = Store::open(&path).expect("reopen for writing");
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    assert!(store.exists("config", "colour").expect("exists"));
}

#[test]
fn open_read_only_bad_missing_file_is_refused_and_not_created() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("missing.db");
    let config = StoreConfig {
        read_only: true,
        ..StoreConfig::new(&path)
    };
    let error = Store::open_with(config).unwrap_err();
    assert_eq!(error.operation(), "store.open");
    assert!(
        error
            .to_string()
            .contains("read-only: the file does not exist"),
        "{error}"
    );
    assert!(!path.exists());
}

#[test]
fn purge_expired_good_shrinks_wal_after_a_long_reader() {
    const LIMIT: u64 = 1 << 20;
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("app.db");
    let config = StoreConfig {
        wal_size_limit: LIMIT,
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(&path)
    };
    let store = Store::open_with(config).expect("open");
    store.set("config", "colour", "blue").expect("set");
    let reader = rusqlite::Connection::open(&path).expect("reader");
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM entries;")
        .expect("hold a read snapshot");
    let value = "x".repeat(10 << 10);
    for number in 0..600 {
        store
            .set("bulk", &format!("k{number:04}"), &value)
            .expect("write");
    }
    let wal_size = || {
        std::fs::metadata(directory.path().join("app.db-wal")).map_or(0, |metadata| metadata.len())
    };
    let grown = wal_size();
    assert!(
        grown > 4 * LIMIT,
        "the reader kept the WAL growing: {grown}"
    );
    reader.execute_batch("COMMIT").expect("end the reader");
    drop(reader);
    assert_eq!(store.purge_expired().expect("purge"), 0);
    let shrunk = wal_size();
    assert!(
        shrunk <= LIMIT,
        "WAL {shrunk} bytes after the reader ended (was {grown})"
    );
    assert_eq!(store.count("bulk").expect("count"), 600);
}
