//! Files written by the Go package open unchanged; older schemas are migrated; the Go
//! package's own statements keep working on a file with the change history, and its
//! writes are numbered there like ours.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::OptionalExtension;
use store::{Change, Error, EventType, Store, StoreConfig};

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

// The Go package on a file with the change history (issue 13).

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("millis")
}

/// The Go package as another program sees the file: a connection of its own, and the
/// SQL statements the Go package runs, column names and all.
struct GoPackage {
    connection: rusqlite::Connection,
}

impl GoPackage {
    /// What the Go package's constructor runs: WAL, the busy timeout, then its schema
    /// steps (look for the tables; add `expires_at` when the column is missing; create
    /// `entries` when there is none).
    fn open(path: &Path) -> GoPackage {
        let connection = rusqlite::Connection::open(path).expect("Go's connection");
        let mode: String = connection
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .expect("WAL");
        assert_eq!(mode, "wal");
        connection
            .execute_batch("PRAGMA busy_timeout=5000")
            .expect("busy timeout");
        let go = GoPackage { connection };
        let has_entries = go.table_exists("entries");
        assert!(!go.table_exists("kv"), "our store migrated the kv table");
        if has_entries {
            if !go.has_column("entries", "expires_at") {
                go.connection
                    .execute_batch("ALTER TABLE entries ADD COLUMN expires_at INTEGER")
                    .expect("Go's expiry migration");
            }
        } else {
            go.connection
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS entries (
                        group_name  TEXT NOT NULL,
                        entry_key   TEXT NOT NULL,
                        entry_value TEXT NOT NULL,
                        expires_at  INTEGER,
                        PRIMARY KEY (group_name, entry_key)
                    )",
                )
                .expect("Go's create table");
        }
        go
    }

    fn table_exists(&self, table: &str) -> bool {
        self.connection
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                [table],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .expect("Go's table lookup")
            .is_some()
    }

    /// Go reads all six columns of `PRAGMA table_info` for each row.
    fn has_column(&self, table: &str, column: &str) -> bool {
        let mut statement = self
            .connection
            .prepare(&format!("PRAGMA table_info({table})"))
            .expect("table_info");
        let names = statement
            .query_map([], |row| {
                let _id: i64 = row.get(0)?;
                let name: String = row.get(1)?;
                let _type: String = row.get(2)?;
                let _not_null: i64 = row.get(3)?;
                let _default: Option<String> = row.get(4)?;
                let _primary_key: i64 = row.get(5)?;
                Ok(name)
            })
            .expect("table_info rows")
            .collect::<rusqlite::Result<Vec<String>>>()
            .expect("table_info scan");
        names.iter().any(|name| name == column)
    }

    /// The first Go `Set`: the value only, an existing expiry left as it was.
    fn set(&self, group: &str, key: &str, value: &str) {
        self.connection
            .execute(
                "INSERT INTO entries (group_name, entry_key, entry_value) VALUES (?, ?, ?) \
                 ON CONFLICT(group_name, entry_key) DO UPDATE SET entry_value = excluded.entry_value",
                [group, key, value],
            )
            .expect("Go Set");
    }

    /// The later Go `Set`, which clears the expiry.
    fn set_clearing_expiry(&self, group: &str, key: &str, value: &str) {
        self.connection
            .execute(
                "INSERT INTO entries (group_name, entry_key, entry_value, expires_at) VALUES (?, ?, ?, NULL) \
                 ON CONFLICT(group_name, entry_key) DO UPDATE SET entry_value = excluded.entry_value, expires_at = NULL",
                [group, key, value],
            )
            .expect("Go Set (clearing the expiry)");
    }

    fn set_with_ttl(&self, group: &str, key: &str, value: &str, expires_at: i64) {
        self.connection
            .execute(
                "INSERT INTO entries (group_name, entry_key, entry_value, expires_at) VALUES (?,?,?,?) \
                 ON CONFLICT(group_name, entry_key) DO UPDATE SET entry_value = excluded.entry_value, expires_at = excluded.expires_at",
                rusqlite::params![group, key, value, expires_at],
            )
            .expect("Go SetWithTTL");
    }

    fn get(&self, group: &str, key: &str) -> Option<(String, Option<i64>)> {
        self.connection
            .query_row(
                "SELECT entry_value, expires_at FROM entries WHERE group_name = ? AND entry_key = ?",
                [group, key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .expect("Go Get")
    }

    fn delete(&self, group: &str, key: &str) -> usize {
        self.connection
            .execute(
                "DELETE FROM entries WHERE group_name = ? AND entry_key = ?",
                [group, key],
            )
            .expect("Go Delete")
    }

    fn delete_group(&self, group: &str) -> usize {
        self.connection
            .execute("DELETE FROM entries WHERE group_name = ?", [group])
            .expect("Go DeleteGroup")
    }

    fn purge_expired(&self, now: i64) -> usize {
        self.connection
            .execute(
                "DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?",
                [now],
            )
            .expect("Go PurgeExpired")
    }

    fn all(&self, group: &str, now: i64) -> Vec<(String, String)> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT entry_key, entry_value FROM entries WHERE group_name = ? \
                 AND (expires_at IS NULL OR expires_at > ?) ORDER BY entry_key",
            )
            .expect("Go All");
        statement
            .query_map(rusqlite::params![group, now], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .expect("Go All rows")
            .collect::<rusqlite::Result<_>>()
            .expect("Go All scan")
    }
}

/// Every change after `after` the store can read, in order.
fn changes_after(store: &Store, after: u64) -> Vec<Change> {
    let mut watcher = store.watch_from("*", "*", after).expect("watch_from");
    let mut changes = Vec::new();
    while let Some(change) = watcher.try_recv().expect("read the history") {
        changes.push(change);
    }
    changes
}

/// A change without its revision and times; the value as text (empty for a delete).
fn summary(change: &Change) -> (EventType, String, String, String) {
    (
        change.kind,
        change.group.clone(),
        change.key.clone(),
        change.value_text().expect("text values").to_owned(),
    )
}

fn text(value: &str) -> String {
    value.to_owned()
}

/// The Go package's statements on a file our store has open, revision `base` before
/// them, holding the rows of `go-entries.db`: each works, and our store sees each write
/// as a numbered change (and a revision-stamped row).
fn go_statements_are_numbered_changes(store: &Store, path: &Path, base: u64) {
    let go = GoPackage::open(path);
    // Go's schema steps changed nothing: the column was there, no table was created.
    assert_eq!(store.revision().expect("revision"), base);
    // Go releases that ran the ALTER unconditionally ignored exactly this error.
    let duplicate = go
        .connection
        .execute_batch("ALTER TABLE entries ADD COLUMN expires_at INTEGER")
        .expect_err("the column exists");
    assert!(
        duplicate.to_string().contains("duplicate column name"),
        "{duplicate}"
    );

    let now = now_ms();
    let in_an_hour = now + 3_600_000;
    go.set("config", "colour", "red");
    go.set_clearing_expiry("go", "new", "1");
    go.set_with_ttl("sessions", "carol", "tok", in_an_hour);
    go.set_with_ttl("cache", "old", "v", 1000);
    go.set_with_ttl("go", "new", "2", in_an_hour);
    assert_eq!(go.get("config", "colour"), Some(("red".to_owned(), None)));
    assert_eq!(
        go.get("go", "new"),
        Some(("2".to_owned(), Some(in_an_hour)))
    );
    assert_eq!(
        go.all("config", now),
        [
            ("colour".to_owned(), "red".to_owned()),
            ("size".to_owned(), "10".to_owned())
        ]
    );
    assert_eq!(go.delete("config", "size"), 1);
    assert_eq!(go.delete("config", "missing"), 0, "no row, no change");
    assert_eq!(go.purge_expired(now_ms()), 2, "sessions/bob and cache/old");
    assert_eq!(go.delete_group("tenant-a:config"), 1);

    let changes = changes_after(store, base);
    let revisions: Vec<u64> = changes.iter().map(|change| change.revision).collect();
    assert_eq!(revisions, (base + 1..=base + 9).collect::<Vec<u64>>());
    assert_eq!(store.revision().expect("revision"), base + 9);
    let summaries: Vec<_> = changes.iter().map(summary).collect();
    assert_eq!(
        summaries[..6],
        [
            (
                EventType::Set,
                "config".into(),
                "colour".into(),
                text("red")
            ),
            (EventType::Set, "go".into(), "new".into(), text("1")),
            (
                EventType::Set,
                "sessions".into(),
                "carol".into(),
                text("tok")
            ),
            (EventType::Set, "cache".into(), "old".into(), text("v")),
            (EventType::Set, "go".into(), "new".into(), text("2")),
            (
                EventType::Delete,
                "config".into(),
                "size".into(),
                String::new()
            ),
        ]
    );
    assert_eq!(changes[2].expires_at, Some(in_an_hour));
    assert_eq!(changes[1].expires_at, None);
    // The purge removed two expired rows, in whatever order SQLite visited them.
    let mut expired: Vec<_> = summaries[6..8].to_vec();
    expired.sort_by(|left, right| (&left.1, &left.2).cmp(&(&right.1, &right.2)));
    assert_eq!(
        expired,
        [
            (
                EventType::Expire,
                "cache".into(),
                "old".into(),
                String::new()
            ),
            (
                EventType::Expire,
                "sessions".into(),
                "bob".into(),
                String::new()
            ),
        ]
    );
    // Go's DeleteGroup is a delete per row, not a group delete.
    assert_eq!(
        summaries[8],
        (
            EventType::Delete,
            "tenant-a:config".into(),
            "theme".into(),
            String::new()
        )
    );

    // Each row Go wrote is stamped with the revision of its change.
    assert_eq!(
        store
            .get_with_revision("config", "colour")
            .expect("Go's update"),
        ("red".to_owned(), base + 1)
    );
    assert_eq!(
        store.get_with_revision("go", "new").expect("Go's insert"),
        ("2".to_owned(), base + 5)
    );
    assert_eq!(
        store
            .get_with_revision("sessions", "carol")
            .expect("Go's TTL insert"),
        ("tok".to_owned(), base + 3)
    );
    assert!(store.ttl("sessions", "carol").expect("ttl").is_some());
    // Compare-and-set sees Go's revisions: the stale one loses, the current one wins,
    // and Go reads the result.
    assert!(store
        .set_if("config", "colour", "stale", Some(base))
        .expect_err("Go moved it on")
        .is_conflict());
    assert_eq!(
        store
            .set_if("config", "colour", "ours", Some(base + 1))
            .expect("set_if on Go's revision"),
        base + 10
    );
    assert_eq!(go.get("config", "colour"), Some(("ours".to_owned(), None)));
    assert_eq!(
        store.delete_if("go", "new", base + 5).expect("delete_if"),
        base + 11
    );
    assert_eq!(go.get("go", "new"), None);
}

#[test]
fn go_statements_good_on_a_go_file_our_store_migrated() {
    let (_directory, path) = fixture("go-entries.db");
    let store = Store::open(&path).expect("open a Go file");
    // Migrated: the history is there, the Go table keeps its rowid layout.
    assert!(table_sql(&path, "entry_changes").is_some());
    let sql = table_sql(&path, "entries").expect("entries table");
    assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
    assert!(sql.contains("revision"), "{sql}");
    go_statements_are_numbered_changes(&store, &path, 0);
    store.close().expect("close");
    // A later open finds everything current and carries on from the same revision.
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.revision().expect("revision"), 11);
}

#[test]
fn go_statements_good_on_a_file_our_store_created() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("new.db");
    let store = Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(&path)
    })
    .expect("create");
    // The rows of go-entries.db, written by our store.
    store.set("config", "colour", "blue").expect("set");
    store.set("config", "size", "10").expect("set");
    store.set("tenant-a:config", "theme", "dark").expect("set");
    store
        .set_with_ttl(
            "sessions",
            "alice",
            "live-token",
            Duration::from_secs(86_400),
        )
        .expect("set");
    store
        .set_with_ttl("sessions", "bob", "expired-token", Duration::ZERO)
        .expect("set");
    let base = store.revision().expect("revision");
    assert_eq!(base, 5);
    assert!(table_sql(&path, "entries")
        .expect("entries")
        .contains("WITHOUT ROWID"));
    go_statements_are_numbered_changes(&store, &path, base);
}

#[test]
fn open_good_go_fixture_gains_history_without_recording_its_rows() {
    for name in [
        "go-entries.db",
        "go-entries-no-expiry.db",
        "go-legacy-kv.db",
        "go-legacy-kv-no-expiry.db",
    ] {
        let (_directory, path) = fixture(name);
        let store = Store::open(&path).expect("open a Go file");
        let watcher = store.watch("*", "*");
        assert_eq!(store.revision().expect("revision"), 0, "{name}");
        assert!(changes_after(&store, 0).is_empty(), "{name}");
        let history = rusqlite::Connection::open(&path)
            .expect("sqlite")
            .query_row("SELECT count(*) FROM entry_changes", [], |row| {
                row.get::<_, i64>(0)
            })
            .expect("the history table");
        assert_eq!(history, 0, "{name}: the existing rows are not changes");
        // Every fixture has config/colour = blue, written before revisions: revision 0.
        assert_eq!(
            store.get_with_revision("config", "colour").expect("get"),
            ("blue".to_owned(), 0),
            "{name}"
        );
        // "Only if absent" loses to the old row, which reports revision 0.
        match store.set_if("config", "colour", "x", None) {
            Err(Error::Conflict {
                expected, current, ..
            }) => assert_eq!((expected, current), (None, Some(0)), "{name}"),
            other => panic!("{name}: expected Conflict, got {other:?}"),
        }
        assert!(
            watcher.try_recv().is_none(),
            "{name}: opening emits nothing"
        );
        // Revision 0 is the old row's revision: compare-and-set on it works, once.
        assert_eq!(
            store
                .set_if("config", "colour", "green", Some(0))
                .expect("set_if on revision 0"),
            1,
            "{name}"
        );
        assert!(store
            .set_if("config", "colour", "again", Some(0))
            .expect_err("now at revision 1")
            .is_conflict());
        assert_eq!(
            watcher.try_recv().map(|event| event.kind),
            Some(EventType::Set)
        );
        assert_eq!(
            store.get_with_revision("config", "colour").expect("get"),
            ("green".to_owned(), 1)
        );
    }
    // delete_if on revision 0 too.
    let (_directory, path) = fixture("go-entries.db");
    let store = Store::open(&path).expect("open");
    assert_eq!(store.delete_if("config", "size", 0).expect("delete_if"), 1);
    let changes = changes_after(&store, 0);
    assert_eq!(
        changes.iter().map(summary).collect::<Vec<_>>(),
        [(
            EventType::Delete,
            "config".into(),
            "size".into(),
            String::new()
        )]
    );
}

/// A file of the previous release: the current schema but for the change history
/// (no `entry_changes`, its triggers or the `revision` column).
fn previous_release_file(directory: &tempfile::TempDir) -> PathBuf {
    let path = directory.path().join("previous.db");
    let store = Store::open(&path).expect("create");
    store.set("config", "colour", "blue").expect("set");
    store.set_bytes("blocks", "b1", &[0, 255]).expect("set");
    store.close().expect("close");
    let connection = rusqlite::Connection::open(&path).expect("sqlite");
    let triggers: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("triggers")
        .collect::<rusqlite::Result<_>>()
        .expect("trigger names");
    assert!(!triggers.is_empty(), "the change history has triggers");
    for trigger in triggers {
        connection
            .execute_batch(&format!("DROP TRIGGER \"{trigger}\""))
            .expect("drop trigger");
    }
    connection
        .execute_batch(
            "DROP TABLE entry_changes;
             ALTER TABLE entries DROP COLUMN revision;",
        )
        .expect("take the change history out");
    let leftovers: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'entry_changes%'",
            [],
            |row| row.get(0),
        )
        .expect("schema");
    assert_eq!(leftovers, 0);
    drop(connection);
    assert!(!table_sql(&path, "entries")
        .expect("entries")
        .contains("revision"));
    path
}

#[test]
fn open_good_read_only_previous_release_reads_and_refuses_revisions() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = previous_release_file(&directory);
    let store = Store::open_with(StoreConfig {
        read_only: true,
        ..StoreConfig::new(&path)
    })
    .expect("a read-only open of the previous release");
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    assert_eq!(store.get_bytes("blocks", "b1").expect("bytes"), [0, 255]);
    assert_eq!(store.count_all("").expect("count"), 2);
    assert_eq!(store.get_all("config").expect("get_all").len(), 1);
    for error in [
        store.revision().expect_err("no history"),
        store
            .get_with_revision("config", "colour")
            .expect_err("no history"),
        store.watch_from("*", "*", 0).expect_err("no history"),
    ] {
        assert!(error.is_read_only(), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("no change history"), "{message}");
        assert!(message.contains("open it once for writing"), "{message}");
    }
    match store.revision() {
        Err(Error::ReadOnly { operation, .. }) => assert_eq!(operation, "store.revision"),
        other => panic!("expected ReadOnly, got {other:?}"),
    }
    assert!(store
        .set_if("config", "colour", "x", Some(0))
        .expect_err("read-only")
        .is_read_only());
    store.close().expect("close");
    // The read-only open wrote nothing.
    assert!(table_sql(&path, "entry_changes").is_none());
}

#[test]
fn open_good_read_write_previous_release_adds_the_history() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = previous_release_file(&directory);
    let store = Store::open(&path).expect("open for writing");
    assert!(table_sql(&path, "entry_changes").is_some());
    assert!(table_sql(&path, "entries")
        .expect("entries")
        .contains("revision"));
    // The rows from before read as revision 0, and nothing was recorded for them.
    assert_eq!(store.revision().expect("revision"), 0);
    assert!(changes_after(&store, 0).is_empty());
    assert_eq!(
        store.get_with_revision("config", "colour").expect("get"),
        ("blue".to_owned(), 0)
    );
    let revision = store
        .set_if("config", "colour", "green", Some(0))
        .expect("set_if on revision 0");
    assert_eq!(revision, 1);
    store.close().expect("close");
    // Now a read-only open has revisions too.
    let store = Store::open_with(StoreConfig {
        read_only: true,
        ..StoreConfig::new(&path)
    })
    .expect("read-only");
    assert_eq!(store.revision().expect("revision"), 1);
    assert_eq!(
        store.get_with_revision("config", "colour").expect("get"),
        ("green".to_owned(), 1)
    );
}
