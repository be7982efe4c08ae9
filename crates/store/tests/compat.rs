//! Files written by the Go package open unchanged; older schemas are migrated.

use std::path::{Path, PathBuf};

use store::{EventType, Store};

/// Copies a fixture into a fresh temporary directory, so tests never change the original.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join(name);
    std::fs::copy(&source, &path).expect("copy fixture");
    (directory, path)
}

fn table_sql(path: &Path, table: &str) -> Option<String> {
    let connection = rusqlite::Connection::open(path).expect("sqlite");
    connection
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |row| row.get(0),
        )
        .ok()
}

#[test]
fn open_good_go_file_reads_and_writes_unchanged() {
    let (_directory, path) = fixture("go-entries.db");
    let store = Store::open(&path).expect("open a Go file");
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    assert_eq!(
        store.get("sessions", "alice").expect("future expiry"),
        "live-token"
    );
    assert!(store
        .get("sessions", "bob")
        .expect_err("expired in 1970")
        .is_not_found());
    assert_eq!(store.count_all("").expect("count"), 4);
    assert_eq!(
        store.groups("tenant-a:").expect("groups"),
        ["tenant-a:config"]
    );
    store.set("config", "colour", "green").expect("write");
    assert_eq!(
        store.purge_expired().expect("purge"),
        0,
        "bob was deleted lazily"
    );
    store.close().expect("close");
    // The Go table keeps its rowid layout; Go's own statements still work on it.
    let sql = table_sql(&path, "entries").expect("entries table");
    assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    let connection = rusqlite::Connection::open(&path).expect("sqlite");
    let value: String = connection
        .query_row(
            "SELECT entry_value FROM entries WHERE group_name = ?1 AND entry_key = ?2",
            ["config", "colour"],
            |row| row.get(0),
        )
        .expect("Go-style read");
    assert_eq!(value, "green");
}

#[test]
fn open_good_new_file_is_without_rowid_and_go_compatible() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("new.db");
    let store = Store::open(&path).expect("open");
    store
        .set_with_ttl(
            "sessions",
            "alice",
            "token",
            std::time::Duration::from_secs(60),
        )
        .expect("set");
    store.close().expect("close");
    let sql = table_sql(&path, "entries").expect("entries table");
    assert!(sql.contains("WITHOUT ROWID"), "{sql}");
    // What Go does: insert and read by column name, expiry in Unix milliseconds.
    let connection = rusqlite::Connection::open(&path).expect("sqlite");
    connection
        .execute(
            "INSERT INTO entries (group_name, entry_key, entry_value, expires_at) VALUES (?1, ?2, ?3, NULL)",
            ["config", "colour", "blue"],
        )
        .expect("Go-style insert");
    let expires_at: i64 = connection
        .query_row(
            "SELECT expires_at FROM entries WHERE group_name = 'sessions' AND entry_key = 'alice'",
            [],
            |row| row.get(0),
        )
        .expect("expiry");
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("millis");
    assert!(
        (expires_at - now_ms - 60_000).abs() < 30_000,
        "{expires_at}"
    );
    drop(connection);
    assert_eq!(
        Store::open(&path)
            .expect("reopen")
            .get("config", "colour")
            .expect("get"),
        "blue"
    );
}

#[test]
fn open_good_adds_missing_expires_at_column() {
    let (_directory, path) = fixture("go-entries-no-expiry.db");
    let store = Store::open(&path).expect("open");
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    store
        .set_with_ttl("config", "size", "10", std::time::Duration::from_secs(60))
        .expect("TTL works after migration");
    store.close().expect("close");
    let sql = table_sql(&path, "entries").expect("entries");
    assert!(sql.contains("expires_at"), "{sql}");
    // Opening again finds the column and changes nothing.
    assert_eq!(
        Store::open(&path)
            .expect("reopen")
            .count("config")
            .expect("count"),
        2
    );
}

#[test]
fn open_good_migrates_legacy_kv_and_existing_entries_win() {
    let (_directory, path) = fixture("go-legacy-kv.db");
    let store = Store::open(&path).expect("open");
    let watcher = store.watch("*", "*");
    assert_eq!(store.get("config", "colour").expect("migrated"), "blue");
    assert_eq!(
        store.get("config", "size").expect("entries row wins"),
        "from-entries"
    );
    assert_eq!(
        store.get("sessions", "alice").expect("expiry copied"),
        "token"
    );
    assert!(watcher.try_recv().is_none(), "migration emits nothing");
    store.close().expect("close");
    assert!(table_sql(&path, "kv").is_none(), "kv dropped");
}

#[test]
fn open_good_migrates_kv_without_expiry_column() {
    let (_directory, path) = fixture("go-legacy-kv-no-expiry.db");
    let store = Store::open(&path).expect("open");
    assert_eq!(store.get_all("config").expect("get all").len(), 2);
    assert_eq!(store.get("config", "size").expect("get"), "10");
    store.close().expect("close");
    assert!(table_sql(&path, "kv").is_none());
    assert!(table_sql(&path, "entries")
        .expect("entries")
        .contains("WITHOUT ROWID"));
}

#[test]
fn get_bad_invalid_utf8_written_by_another_program_is_invalid_value() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("foreign.db");
    drop(Store::open(&path).expect("create"));
    let connection = rusqlite::Connection::open(&path).expect("sqlite");
    connection
        .execute(
            "INSERT INTO entries (group_name, entry_key, entry_value, expires_at) VALUES ('g', 'k', CAST(X'61FF62' AS TEXT), NULL)",
            [],
        )
        .expect("insert invalid UTF-8");
    drop(connection);
    let store = Store::open(&path).expect("open");
    // Issue 14: a clear error naming the key, not a lossy conversion; the bytes are there.
    let error = store.get("g", "k").expect_err("not UTF-8");
    assert!(error.is_invalid_value(), "{error:?}");
    assert!(
        error.to_string().contains(r#"group "g", key "k""#),
        "{error}"
    );
    assert_eq!(store.get_bytes("g", "k").expect("get_bytes"), b"a\xffb");
    // Whole-group reads stay lossy.
    assert_eq!(store.get_all("g").expect("get_all")["k"], "a\u{FFFD}b");
    let watcher = store.watch("g", "*");
    store.delete("g", "k").expect("delete");
    assert_eq!(
        watcher.try_recv().map(|event| event.kind),
        Some(EventType::Delete)
    );
}
