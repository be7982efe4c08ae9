//! Workspaces: buffers, commit into the journal, liveness locks and crash recovery.
//!
//! The crash tests re-run this test binary as a child process (selecting
//! `child_process_entry` with `STORE_TEST_CHILD_MODE`), let it stop at an injected crash
//! point (`STORE_CRASH_POINT`), kill it with SIGKILL, and check what recovery does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};
use store::{Error, EventType, Store, StoreConfig, Workspace};

mod common;

const HOLDING: &str = "CHILD HOLDING WORKSPACE";

fn store_in(directory: &Path) -> Store {
    Store::open_with(StoreConfig {
        workspace_state_directory: directory.join("state"),
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(directory.join("store.db"))
    })
    .expect("open a file store")
}

fn record(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(object) => object,
        other => panic!("not an object: {other}"),
    }
}

fn state_files(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory.join("state"))
        .map(|listing| {
            listing
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn journal_points(store: &Store, measurement: &str) -> Vec<store::Row> {
    store
        .query_journal(&format!(
            r#"from(bucket: "store") |> filter(fn: (r) => r._measurement == "{measurement}")"#
        ))
        .expect("query the journal")
}

fn fill(workspace: &Workspace) {
    for _ in 0..3 {
        workspace
            .put("like", record(json!({"user": "ada"})))
            .expect("put");
    }
    workspace
        .put("profile_match", record(json!({"score": 0.5})))
        .expect("put");
}

#[test]
fn new_workspace_good_creates_sqlite_file_with_schema_and_id() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    let path = directory.path().join("state").join("run.duckdb");
    assert_eq!(workspace.database_path(), path);
    assert_eq!(workspace.name(), "run");
    workspace.close().expect("close");
    let connection = rusqlite::Connection::open(&path).expect("a SQLite file");
    let objects: Vec<String> = connection
        .prepare("SELECT type || ':' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .expect("schema");
    assert_eq!(
        objects,
        [
            "view:entries",
            "table:workspace_entries",
            "table:workspace_meta"
        ]
    );
    let id: String = connection
        .query_row(
            "SELECT meta_value FROM workspace_meta WHERE meta_key = 'workspace_id'",
            [],
            |row| row.get(0),
        )
        .expect("an id");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit()), "{id}");
    let name: String = connection
        .query_row(
            "SELECT meta_value FROM workspace_meta WHERE meta_key = 'workspace_name'",
            [],
            |row| row.get(0),
        )
        .expect("a name");
    assert_eq!(name, "run");
}

#[test]
fn new_workspace_good_default_state_directory_is_beside_the_database() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("data").join("store.db");
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create data");
    let store = Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(&path)
    })
    .expect("open");
    let state = directory.path().join("data").join("state");
    assert_eq!(store.config().workspace_state_directory, state);
    let workspace = store.new_workspace("run").expect("new workspace");
    assert_eq!(
        workspace.database_path(),
        state.join("run.duckdb").as_path()
    );
    workspace.close().expect("close workspace");
    store.close().expect("close");
    // Reopened with only the database path, the waiting workspace is found again.
    let again = Store::open(&path).expect("reopen");
    let orphans = again.recover_orphans(None).expect("recover");
    let names: Vec<&str> = orphans.iter().map(Workspace::name).collect();
    assert_eq!(names, ["run"]);
    for orphan in orphans {
        orphan.discard().expect("discard");
    }
    again.close().expect("close");
}

#[test]
fn new_workspace_bad_invalid_names_create_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    for name in [
        "",
        ".hidden",
        "../escape",
        "a/b",
        "a\\b",
        "..",
        "c:",
        "what?",
        "a\nb",
        " padded",
        "padded ",
        &"x".repeat(201),
    ] {
        let error = store.new_workspace(name).expect_err(name);
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
        assert!(
            error.to_string().contains("invalid workspace name"),
            "{error}"
        );
        let error = store.open_workspace(name).expect_err(name);
        assert!(
            error.to_string().contains("invalid workspace name"),
            "{error}"
        );
    }
    assert!(!directory.path().join("state").exists());
    assert!(!directory.path().join("escape.duckdb").exists());
}

#[test]
fn new_workspace_bad_already_exists() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let first = store.new_workspace("run").expect("new");
    first.put("like", Map::new()).expect("put");
    let error = store.new_workspace("run").expect_err("exists");
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert!(
        error.to_string().contains("workspace already exists"),
        "{error}"
    );
    assert_eq!(first.count().expect("count"), 1, "the first is untouched");
}

#[test]
fn new_workspace_bad_closed_store() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    store.close().expect("close");
    assert!(matches!(
        store.new_workspace("run"),
        Err(Error::Closed { .. })
    ));
    assert!(matches!(
        store.open_workspace("run"),
        Err(Error::Closed { .. })
    ));
    assert!(matches!(
        store.recover_orphans(None),
        Err(Error::Closed { .. })
    ));
}

#[test]
fn put_good_stores_compact_sorted_json() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    workspace
        .put("like", record(json!({"b": 1, "a": [true, null], "c": "x"})))
        .expect("put");
    let rows = workspace
        .query("SELECT id, kind, data, created_at FROM entries")
        .expect("query");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], 1);
    assert_eq!(rows[0]["kind"], "like");
    assert_eq!(rows[0]["data"], r#"{"a":[true,null],"b":1,"c":"x"}"#);
    assert!(rows[0]["created_at"].as_i64().unwrap_or_default() > 1_600_000_000_000);
    assert!(!rows[0].contains_key("fields"), "no journal inflation");
}

#[test]
fn put_bad_empty_kind() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    let error = workspace.put("", Map::new()).expect_err("empty kind");
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert_eq!(error.to_string(), "store.workspace.put: kind is empty");
    assert_eq!(workspace.count().expect("count"), 0);
}

#[test]
fn workspace_bad_closed_store_refuses_all_but_discard() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    workspace.put("like", Map::new()).expect("put");
    let path = workspace.database_path().to_owned();
    store.close().expect("close");
    let closed = |result: Result<(), Error>, operation: &str| match result {
        Err(Error::Closed { operation: found }) => assert_eq!(found, operation),
        other => panic!("{operation}: {other:?}"),
    };
    closed(workspace.put("like", Map::new()), "store.workspace.put");
    closed(workspace.count().map(drop), "store.workspace.count");
    closed(workspace.aggregate().map(drop), "store.workspace.aggregate");
    closed(
        workspace.query("SELECT 1").map(drop),
        "store.workspace.query",
    );
    closed(workspace.commit().map(drop), "store.workspace.commit");
    assert!(path.exists(), "a failed commit keeps the file");
}

#[test]
fn workspace_good_discard_after_store_close_removes_files() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    workspace.put("like", Map::new()).expect("put");
    store.close().expect("close");
    workspace.discard().expect("discard");
    assert!(
        state_files(directory.path()).is_empty(),
        "{:?}",
        state_files(directory.path())
    );
}

#[test]
fn aggregate_good_counts_per_kind() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    assert!(workspace.aggregate().expect("empty").is_empty());
    workspace.put("like", Map::new()).expect("put");
    workspace.put("like", Map::new()).expect("put");
    workspace.put("profile_match", Map::new()).expect("put");
    assert_eq!(
        workspace.aggregate().expect("aggregate"),
        BTreeMap::from([("like".to_owned(), 2), ("profile_match".to_owned(), 1)])
    );
    assert_eq!(workspace.count().expect("count"), 3);
}

#[test]
fn query_good_group_by_kind() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    fill(&workspace);
    let rows = workspace
        .query("SELECT kind, COUNT(*) AS n FROM entries GROUP BY kind ORDER BY kind")
        .expect("query");
    assert_eq!(
        rows.iter()
            .map(|row| (row["kind"].clone(), row["n"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("like"), json!(3)),
            (json!("profile_match"), json!(1))
        ]
    );
}

#[test]
fn query_bad_writes_are_refused_and_change_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    fill(&workspace);
    for sql in [
        "DELETE FROM workspace_entries",
        "SELECT 1; DELETE FROM workspace_entries",
        "UPDATE workspace_meta SET meta_value = 'x'",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA locking_mode = NORMAL",
    ] {
        let error = workspace.query(sql).expect_err(sql);
        assert!(matches!(error, Error::Query { .. }), "{error:?}");
        assert!(error.to_string().contains("read-only"), "{sql}: {error}");
        assert!(error.to_string().starts_with("store.workspace.query: "));
    }
    let error = workspace
        .query("SELECT nope FROM entries")
        .expect_err("bad SQL");
    assert!(matches!(error, Error::Query { .. }), "{error:?}");
    assert_eq!(workspace.count().expect("count"), 4);
}

#[test]
fn commit_good_writes_point_summary_and_event_then_removes_files() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let watcher = store.watch("workspace:run", "summary");
    let workspace = store.new_workspace("run").expect("new");
    fill(&workspace);
    let aggregate = workspace.commit().expect("commit");
    assert_eq!(
        aggregate,
        BTreeMap::from([("like".to_owned(), 3), ("profile_match".to_owned(), 1)])
    );
    let points = journal_points(&store, "run");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0]["fields"], json!({"like": 3, "profile_match": 1}));
    assert_eq!(points[0]["tags"], json!({"workspace": "run"}));
    assert_eq!(points[0]["bucket_name"], "store");
    let summary = r#"{"like":3,"profile_match":1}"#;
    assert_eq!(
        store.get("workspace:run", "summary").expect("summary"),
        summary
    );
    let event = watcher.try_recv().expect("a Set event");
    assert_eq!(event.kind, EventType::Set);
    assert_eq!(event.value, summary);
    assert!(watcher.try_recv().is_none());
    assert!(
        state_files(directory.path()).is_empty(),
        "{:?}",
        state_files(directory.path())
    );
    let commits = store
        .query_journal("SELECT workspace_name, entry_id FROM workspace_commits")
        .expect("commits");
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0]["workspace_name"], "run");
}

#[test]
fn commit_good_empty_workspace_writes_summary_but_no_point() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let watcher = store.watch("workspace:empty", "summary");
    let workspace = store.new_workspace("empty").expect("new");
    let path = workspace.database_path().to_owned();
    let aggregate = workspace.commit().expect("commit");
    assert!(aggregate.is_empty());
    // A point with no field cannot reach InfluxDB, so none is written.
    assert!(journal_points(&store, "empty").is_empty());
    let raw = store
        .query_journal("SELECT COUNT(*) AS n FROM journal_entries")
        .expect("raw");
    assert_eq!(raw[0]["n"], 0);
    assert_eq!(
        store.get("workspace:empty", "summary").expect("summary"),
        "{}"
    );
    let event = watcher.recv().expect("the summary's Set event");
    assert_eq!(event.value, "{}");
    assert!(!path.exists(), "the file is removed");
}

#[test]
fn commit_good_already_committed_copy_writes_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    fill(&workspace);
    let path = workspace.database_path().to_owned();
    workspace.close().expect("close");
    let copy = directory.path().join("copy.duckdb");
    std::fs::copy(&path, &copy).expect("copy the closed file");
    store
        .open_workspace("run")
        .expect("reopen")
        .commit()
        .expect("commit");
    let watcher = store.watch("*", "*");
    // The file comes back, as after a crash between the commit and its removal.
    std::fs::copy(&copy, &path).expect("restore");
    assert!(store.recover_orphans(None).expect("recover").is_empty());
    assert!(!path.exists(), "recovery removes a committed file");
    std::fs::copy(&copy, &path).expect("restore again");
    let reopened = store.open_workspace("run").expect("open");
    assert_eq!(reopened.count().expect("count"), 0, "a fresh workspace");
    assert_eq!(journal_points(&store, "run").len(), 1);
    assert!(watcher.try_recv().is_none());
}

#[test]
fn close_good_keeps_file_and_open_workspace_reopens_it() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.open_workspace("run").expect("created");
    fill(&workspace);
    workspace.close().expect("close");
    assert_eq!(state_files(directory.path()), ["run.duckdb"]);
    let workspace = store.open_workspace("run").expect("reopened");
    assert_eq!(workspace.count().expect("count"), 4);
    drop(workspace);
    assert_eq!(state_files(directory.path()), ["run.duckdb"]);
}

#[test]
fn open_workspace_bad_held_by_a_live_handle() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = store.new_workspace("run").expect("new");
    let error = store.open_workspace("run").expect_err("held");
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert!(
        error.to_string().contains("workspace already exists"),
        "{error}"
    );
    let other_store = store_in(directory.path());
    assert!(other_store.open_workspace("run").is_err());
    assert!(other_store.recover_orphans(None).expect("scan").is_empty());
    workspace.put("like", Map::new()).expect("still usable");
}

#[test]
fn recover_orphans_good_cached_at_open_and_returned_once() {
    let directory = tempfile::tempdir().expect("temp dir");
    {
        let store = store_in(directory.path());
        let first = store.new_workspace("b-second").expect("new");
        fill(&first);
        let second = store.new_workspace("a-first").expect("new");
        second.put("like", Map::new()).expect("put");
        drop((first, second));
        store.close().expect("close");
    }
    let store = store_in(directory.path());
    // The open cached both and holds them: another store cannot take them.
    assert!(store_in(directory.path())
        .recover_orphans(None)
        .expect("scan")
        .is_empty());
    let state = directory.path().join("state");
    let with_separator = PathBuf::from(format!("{}/", state.display()));
    let orphans = store
        .recover_orphans(Some(&with_separator))
        .expect("recover");
    let names: Vec<&str> = orphans.iter().map(Workspace::name).collect();
    assert_eq!(names, ["a-first", "b-second"]);
    assert!(store.recover_orphans(None).expect("again").is_empty());
    for orphan in orphans {
        orphan.commit().expect("commit");
    }
    assert_eq!(
        journal_points(&store, "b-second")[0]["fields"],
        json!({"like": 3, "profile_match": 1})
    );
    assert!(state_files(directory.path()).is_empty());
}

#[test]
fn recover_orphans_good_other_directory_scans_only_it() {
    let directory = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open_with(StoreConfig {
            workspace_state_directory: elsewhere.path().to_owned(),
            purge_interval: Duration::ZERO,
            ..StoreConfig::new(directory.path().join("store.db"))
        })
        .expect("open");
        drop(store.new_workspace("moved").expect("new"));
    }
    let store = store_in(directory.path());
    assert!(store.recover_orphans(None).expect("configured").is_empty());
    let found = store
        .recover_orphans(Some(elsewhere.path()))
        .expect("elsewhere");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name(), "moved");
    assert_eq!(
        found[0].database_path(),
        elsewhere.path().join("moved.duckdb")
    );
}

#[test]
fn recover_orphans_good_missing_directory_creates_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let missing = directory.path().join("missing");
    assert!(store
        .recover_orphans(Some(&missing))
        .expect("scan")
        .is_empty());
    assert!(!missing.exists());
    assert!(store.recover_orphans(None).expect("scan").is_empty());
    assert!(!directory.path().join("state").exists());
}

#[test]
fn recover_orphans_good_quarantines_files_that_are_not_workspaces() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let state = directory.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(
        state.join("junk.duckdb"),
        b"this is not SQLite at all, not even close",
    )
    .expect("junk");
    std::fs::write(state.join("junk.duckdb-wal"), b"wal").expect("junk wal");
    let other = rusqlite::Connection::open(state.join("plain.duckdb")).expect("plain");
    other
        .execute_batch("CREATE TABLE unrelated (x)")
        .expect("a SQLite file without workspace_entries");
    drop(other);
    std::fs::write(state.join("notes.txt"), b"ignored").expect("other file");
    assert!(store.recover_orphans(None).expect("scan").is_empty());
    let mut quarantined: Vec<String> = std::fs::read_dir(state.join("quarantine"))
        .expect("quarantine")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    quarantined.sort();
    assert_eq!(
        quarantined,
        ["junk.duckdb", "junk.duckdb-wal", "plain.duckdb"]
    );
    assert_eq!(state_files(directory.path()), ["notes.txt", "quarantine"]);
    std::fs::write(state.join("junk.duckdb"), b"junk again, still not SQLite").expect("junk");
    assert!(store.recover_orphans(None).expect("scan").is_empty());
    assert!(state.join("quarantine").join("junk.1.duckdb").exists());
}

/// Copies a live WAL-mode SQLite file made by `build`, with its `-wal` (and a `-shm`),
/// to `target` while the connection is still open, so that the WAL still holds frames.
fn copy_live_wal_file(target: &Path, build: &str) {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let source = scratch.path().join("source.db");
    let connection = rusqlite::Connection::open(&source).expect("source");
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    connection
        .pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no checkpoint");
    connection.execute_batch(build).expect("build");
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", source.display()));
        let to = PathBuf::from(format!("{}{suffix}", target.display()));
        std::fs::copy(&from, &to).expect("copy a side file");
    }
    drop(connection);
}

#[test]
fn recover_orphans_good_quarantines_corrupt_file_with_side_files_byte_identical() {
    let directory = tempfile::tempdir().expect("temp dir");
    let state = directory.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    // 1. A WAL-mode SQLite file that is not a workspace, its tables in the WAL.
    copy_live_wal_file(
        &state.join("plain.duckdb"),
        "CREATE TABLE unrelated (x); INSERT INTO unrelated VALUES (1), (2);",
    );
    // 2. A workspace whose main file's header was damaged (say by a power cut): its WAL
    //    is the only copy of the recent puts and must survive untouched.
    copy_live_wal_file(
        &state.join("torn.duckdb"),
        "CREATE TABLE workspace_entries (entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
            entry_kind TEXT NOT NULL, entry_data TEXT NOT NULL, created_at INTEGER NOT NULL);
         PRAGMA wal_checkpoint(TRUNCATE);
         INSERT INTO workspace_entries (entry_kind, entry_data, created_at)
            VALUES ('like', '{}', 1);",
    );
    let torn = state.join("torn.duckdb");
    let mut bytes = std::fs::read(&torn).expect("read");
    bytes[..16].copy_from_slice(b"not SQLite, torn");
    std::fs::write(&torn, bytes).expect("damage the header");
    // 3. Junk with junk side files.
    std::fs::write(state.join("junk.duckdb"), b"this is not SQLite at all").expect("junk");
    std::fs::write(state.join("junk.duckdb-wal"), b"wal bytes").expect("junk wal");
    std::fs::write(state.join("junk.duckdb-shm"), b"shm bytes").expect("junk shm");
    // 4. An empty file beside a WAL (SQLite deletes such a WAL the moment it opens it).
    std::fs::write(state.join("empty.duckdb"), b"").expect("empty");
    std::fs::write(state.join("empty.duckdb-wal"), b"orphaned wal").expect("wal");
    std::fs::write(state.join("empty.duckdb-shm"), b"orphaned shm").expect("shm");
    let mut before = BTreeMap::new();
    for name in ["plain", "torn", "junk", "empty"] {
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{name}.duckdb{suffix}");
            let bytes = std::fs::read(state.join(&file)).expect("a file to quarantine");
            assert!(!bytes.is_empty() || name == "empty", "{file}");
            before.insert(file, bytes);
        }
    }
    let store = store_in(directory.path());
    let names: Vec<String> = store
        .recover_orphans(None)
        .expect("scan")
        .iter()
        .map(|orphan| orphan.name().to_owned())
        .collect();
    assert!(names.is_empty(), "{names:?}");
    assert_eq!(state_files(directory.path()), ["quarantine"]);
    let mut after = BTreeMap::new();
    for entry in std::fs::read_dir(state.join("quarantine")).expect("quarantine") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        after.insert(name, std::fs::read(entry.path()).expect("read"));
    }
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &before {
        assert!(after[name] == *bytes, "{name} changed in quarantine");
    }
}

#[test]
fn recover_orphans_good_assigns_an_id_to_a_file_without_one() {
    let directory = tempfile::tempdir().expect("temp dir");
    let state = directory.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let legacy = rusqlite::Connection::open(state.join("legacy.duckdb")).expect("legacy");
    legacy
        .execute_batch(
            "CREATE TABLE workspace_entries (entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
                entry_kind TEXT NOT NULL, entry_data TEXT NOT NULL, created_at INTEGER NOT NULL);
             INSERT INTO workspace_entries (entry_kind, entry_data, created_at)
                VALUES ('like', '{}', 1), ('like', '{}', 2);",
        )
        .expect("a workspace file without meta");
    drop(legacy);
    let store = store_in(directory.path());
    let orphans = store.recover_orphans(None).expect("recover");
    assert_eq!(orphans.len(), 1);
    let ids = orphans[0]
        .query("SELECT meta_value FROM workspace_meta WHERE meta_key = 'workspace_id'")
        .expect("meta");
    assert_eq!(ids[0]["meta_value"].as_str().map(str::len), Some(32));
    let aggregate = orphans.into_iter().next().map(Workspace::commit);
    assert_eq!(
        aggregate.transpose().expect("commit"),
        Some(BTreeMap::from([("like".to_owned(), 2)]))
    );
}

// ---------------------------------------------------------------------------------------
// Crash tests: a child process, killed at injected points.

/// Not a test of its own: the body of the child processes started by the crash tests.
/// Without `STORE_TEST_CHILD_MODE` it does nothing.
#[test]
fn child_process_entry() {
    let Some((directory, mode)) = common::child_settings() else {
        return;
    };
    let store = store_in(&directory);
    match mode.as_str() {
        "commit" => {
            let workspace = store.new_workspace("crashy").expect("new");
            fill(&workspace);
            workspace.commit().expect("commit");
        }
        "hold" => {
            let workspace = store.new_workspace("held").expect("new");
            workspace.put("like", Map::new()).expect("put");
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{HOLDING}").expect("print");
            stdout.flush().expect("flush");
            drop(stdout);
            loop {
                std::thread::sleep(Duration::from_secs(3_600));
            }
        }
        other => panic!("unknown child mode {other}"),
    }
    panic!("the crash point was never reached");
}

#[test]
fn commit_good_exactly_once_when_killed_at_each_crash_point() {
    for (point, orphans_expected) in [
        ("workspace.commit.before_transaction", 1),
        ("workspace.commit.after_transaction", 0),
        ("workspace.commit.after_remove", 0),
    ] {
        let directory = tempfile::tempdir().expect("temp dir");
        common::run_child_and_kill("child_process_entry", directory.path(), "commit", point);
        let store = store_in(directory.path());
        let orphans = store.recover_orphans(None).expect("recover");
        assert_eq!(orphans.len(), orphans_expected, "{point}");
        for orphan in orphans {
            assert_eq!(orphan.name(), "crashy");
            orphan.commit().expect("commit the orphan");
        }
        let points = journal_points(&store, "crashy");
        assert_eq!(points.len(), 1, "{point}: exactly one journal point");
        assert_eq!(
            points[0]["fields"],
            json!({"like": 3, "profile_match": 1}),
            "{point}"
        );
        assert_eq!(
            store.get("workspace:crashy", "summary").expect("summary"),
            r#"{"like":3,"profile_match":1}"#
        );
        assert!(
            state_files(directory.path()).is_empty(),
            "{point}: {:?}",
            state_files(directory.path())
        );
        store.close().expect("close");
        let store = store_in(directory.path());
        assert!(store.recover_orphans(None).expect("again").is_empty());
        assert_eq!(journal_points(&store, "crashy").len(), 1, "{point}");
    }
}

#[test]
fn recover_orphans_good_skips_a_workspace_held_by_another_process() {
    let directory = tempfile::tempdir().expect("temp dir");
    let child = common::ChildProcess::start("child_process_entry", directory.path(), "hold", None);
    let held = child.wait_for(HOLDING);
    let checks = std::panic::catch_unwind(|| {
        assert!(held, "the child never took the workspace");
        let store = store_in(directory.path());
        assert!(store.recover_orphans(None).expect("scan").is_empty());
        let error = store.open_workspace("held").expect_err("held elsewhere");
        assert!(
            error.to_string().contains("workspace already exists"),
            "{error}"
        );
        assert!(store.new_workspace("held").is_err());
    });
    child.kill();
    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
    let store = store_in(directory.path());
    let orphans = store.recover_orphans(None).expect("scan after the kill");
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].name(), "held");
    assert_eq!(orphans[0].count().expect("count"), 1);
}

#[test]
fn workspace_good_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Workspace>();
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_in(directory.path());
    let workspace = std::sync::Arc::new(store.new_workspace("shared").expect("new"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let workspace = std::sync::Arc::clone(&workspace);
            std::thread::spawn(move || {
                for _ in 0..250 {
                    workspace.put("like", Map::new()).expect("put");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
    assert_eq!(workspace.count().expect("count"), 1_000);
}
