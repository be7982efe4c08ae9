//! Raw SQL from callers (`query_journal`, `Workspace::query`) can only read: it cannot
//! write, attach another database, load an extension or run a second statement, and
//! after every attempt the data — every table, the schema and the header's user version —
//! is byte for byte what it was, no file has appeared, and the connection still works.
//!
//! `journal.rs` and `workspace.rs` already prove the common refusals
//! (`query_journal_bad_sql_that_writes_is_refused_and_changes_nothing`,
//! `query_journal_good_explain_of_a_write_runs_nothing`,
//! `query_journal_bad_load_extension_fails`,
//! `query_bad_writes_are_refused_and_change_nothing`); this file covers every statement
//! kind on both entry points and compares whole snapshots rather than row counts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use serde_json::{json, Map, Value};
use store::{Error, Row, Store, StoreConfig, Workspace};

/// What must be refused with a `read-only` error. `{dir}` is the test's directory, so an
/// attach or a `VACUUM INTO` that ran would leave a file there.
const REFUSED: &[&str] = &[
    // Writes, as the first statement.
    "INSERT INTO {table} DEFAULT VALUES",
    "insert or replace into {table} select * from {table}",
    "REPLACE INTO {table} SELECT * FROM {table}",
    "UPDATE {table} SET {column} = {column}",
    "DELETE FROM {table}",
    "delete from {table} where 1",
    "CREATE TABLE evil (a)",
    "CREATE TEMP TABLE evil (a)",
    "CREATE INDEX evil ON {table} ({column})",
    "CREATE VIEW evil AS SELECT 1",
    "CREATE TRIGGER evil AFTER INSERT ON {table} BEGIN DELETE FROM {table}; END",
    "DROP TABLE {table}",
    "DROP VIEW IF EXISTS entries",
    "ALTER TABLE {table} RENAME TO evil",
    "VACUUM",
    "VACUUM INTO '{dir}/copy.db'",
    "REINDEX",
    "ANALYZE",
    "BEGIN IMMEDIATE",
    "SAVEPOINT evil",
    // Writes hidden behind WITH, comments, white space and case.
    "WITH doomed AS (SELECT 1) DELETE FROM {table}",
    "WITH doomed AS (SELECT 1) INSERT INTO {table} SELECT * FROM {table}",
    "WITH doomed AS (SELECT 1) UPDATE {table} SET {column} = {column}",
    "WITH doomed AS (SELECT 1) REPLACE INTO {table} SELECT * FROM {table}",
    "/* SELECT */ DELETE FROM {table}",
    "-- SELECT\nDELETE FROM {table}",
    " \n\t dElEtE FROM {table}",
    // A second statement after a read.
    "SELECT 1; DELETE FROM {table}",
    "SELECT 1;DROP TABLE {table}",
    "SELECT 1; -- fine so far\nDELETE FROM {table}",
    "SELECT 1 /* ; */; DELETE FROM {table}",
    "SELECT ';'; DELETE FROM {table}",
    "SELECT 1; SELECT 2",
    "SELECT 1; ATTACH DATABASE '{dir}/evil.db' AS evil",
    "PRAGMA user_version; DELETE FROM {table}",
    // Other databases.
    "ATTACH DATABASE '{dir}/evil.db' AS evil",
    "attach '{dir}/evil.db' as evil",
    "ATTACH 'file:{dir}/evil.db?mode=rwc' AS evil",
    "DETACH DATABASE main",
    // Settings, through PRAGMA.
    "PRAGMA user_version = 9",
    "PRAGMA main.user_version = 9",
    "PRAGMA user_version(9)",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA journal_mode(DELETE)",
    "PRAGMA writable_schema = ON",
    "PRAGMA schema_version = 1",
    "PRAGMA query_only = 0",
    "PRAGMA foreign_keys = ON",
    "PRAGMA wal_checkpoint(TRUNCATE)",
    "PRAGMA incremental_vacuum(1)",
    "PRAGMA case_sensitive_like(1)",
];

/// May be answered (with a description, or a harmless figure) or refused, but must
/// change nothing: `EXPLAIN` only describes a statement, and these pragmas' bare forms
/// either only read or are refused because SQLite calls them writes.
const RUN_NOTHING: &[&str] = &[
    "EXPLAIN DELETE FROM {table}",
    "EXPLAIN INSERT INTO {table} SELECT * FROM {table}",
    "EXPLAIN DROP TABLE {table}",
    "EXPLAIN CREATE TABLE evil (a)",
    "EXPLAIN QUERY PLAN DELETE FROM {table}",
    "EXPLAIN ATTACH DATABASE '{dir}/evil.db' AS evil",
    "EXPLAIN VACUUM INTO '{dir}/copy.db'",
    "explain with doomed as (select 1) delete from {table}",
    "PRAGMA optimize",
    "PRAGMA incremental_vacuum",
    "PRAGMA shrink_memory",
    "PRAGMA wal_checkpoint",
    "PRAGMA user_version",
    "PRAGMA database_list",
];

/// Extension loading: always refused, whatever the library.
const LOAD_EXTENSION: &[&str] = &[
    "SELECT load_extension('{dir}/libevil.so')",
    "SELECT load_extension('libc.so.6', 'puts')",
    "WITH x AS (SELECT load_extension('{dir}/libevil')) SELECT * FROM x",
];

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

fn fill_in(directory: &Path) -> Store {
    let store = Store::open_with(StoreConfig {
        workspace_state_directory: directory.join("state"),
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(directory.join("store.db"))
    })
    .expect("open a file store");
    store.set("config", "colour", "blue").expect("set");
    store
        .set_with_ttl("sessions", "ada", "token", Duration::from_secs(3_600))
        .expect("set with TTL");
    let tags = BTreeMap::from([("user".to_owned(), "ada".to_owned())]);
    store
        .commit_to_journal("login", &object(json!({"n": 1})), &tags)
        .expect("commit");
    let workspace = store.new_workspace("done").expect("workspace");
    workspace.put("like", Map::new()).expect("put");
    workspace.commit().expect("commit the workspace");
    store
}

fn fill_workspace(store: &Store) -> Workspace {
    let workspace = store.new_workspace("run").expect("workspace");
    for kind in ["like", "like", "profile_match"] {
        workspace
            .put(kind, object(json!({"user": "ada"})))
            .expect("put");
    }
    workspace
}

/// A value as text that tells the types apart.
fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Integer(integer) => format!("i{integer}"),
        ValueRef::Real(real) => format!("r{real:?}"),
        ValueRef::Text(text) => format!("t{:?}", String::from_utf8_lossy(text)),
        ValueRef::Blob(blob) => format!("b{blob:?}"),
    }
}

/// Every row of every table, the schema and the user version of the store's file, read
/// through a connection of its own.
fn store_snapshot(path: &Path) -> Vec<String> {
    let connection = rusqlite::Connection::open(path).expect("open for a snapshot");
    let read = |sql: &str| -> Vec<String> {
        let mut statement = connection.prepare(sql).expect("prepare");
        let columns = statement.column_count();
        statement
            .query_map([], |row| {
                (0..columns)
                    .map(|index| row.get_ref(index).map(describe))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map(|values| values.join(" | "))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    };
    let mut snapshot = read("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name");
    snapshot.extend(read("PRAGMA user_version"));
    for table in read("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") {
        let name = table.trim_start_matches("t\"").trim_end_matches('"');
        snapshot.push(format!("table {name}"));
        let mut rows = read(&format!("SELECT * FROM \"{name}\""));
        rows.sort();
        snapshot.extend(rows);
    }
    snapshot
}

/// The same for a workspace, read through its own query (its file is locked).
fn workspace_snapshot(workspace: &Workspace) -> Vec<Row> {
    let mut snapshot = Vec::new();
    for sql in [
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name",
        "PRAGMA user_version",
        "SELECT * FROM workspace_entries ORDER BY entry_id",
        "SELECT * FROM workspace_meta ORDER BY meta_key",
    ] {
        snapshot.extend(workspace.query(sql).expect("snapshot"));
    }
    snapshot
}

fn files_in(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn statements(list: &[&str], directory: &Path, table: &str, column: &str) -> Vec<String> {
    list.iter()
        .map(|sql| {
            sql.replace("{dir}", &directory.display().to_string())
                .replace("{table}", table)
                .replace("{column}", column)
        })
        .collect()
}

/// Asserts that `outcome` is a `Query` error of `operation` whose message contains
/// `reason`.
fn assert_refused(outcome: store::Result<Vec<Row>>, operation: &str, reason: &str, sql: &str) {
    match outcome {
        Err(error @ Error::Query { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("{operation}: ")),
                "{sql}: {message}"
            );
            assert!(message.contains(reason), "{sql}: {message}");
        }
        other => panic!("{sql}: not refused: {other:?}"),
    }
}

#[test]
fn query_journal_bad_writes_attach_extensions_and_second_statements_change_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    let store = fill_in(directory.path());
    let before = store_snapshot(&path);
    let files = files_in(directory.path());
    for table in ["journal_entries", "entries", "workspace_commits"] {
        let column = if table == "entries" {
            "entry_value"
        } else {
            "committed_at"
        };
        for sql in statements(REFUSED, directory.path(), table, column) {
            let outcome = store.query_journal(&sql);
            assert_refused(outcome, "store.query_journal", "read-only", &sql);
            assert_eq!(store_snapshot(&path), before, "{sql}");
        }
        for sql in statements(RUN_NOTHING, directory.path(), table, column) {
            let outcome = store.query_journal(&sql);
            if outcome.is_err() {
                assert_refused(outcome, "store.query_journal", "read-only", &sql);
            }
            assert_eq!(store_snapshot(&path), before, "{sql}");
        }
    }
    for sql in statements(LOAD_EXTENSION, directory.path(), "", "") {
        let outcome = store.query_journal(&sql);
        assert_refused(
            outcome,
            "store.query_journal",
            "would call load_extension()",
            &sql,
        );
    }
    assert_eq!(store_snapshot(&path), before);
    assert_eq!(files_in(directory.path()), files, "a file appeared");
    // Nothing was attached, no transaction was left open, and writes still work.
    let databases = store.query_journal("PRAGMA database_list").expect("list");
    let names: Vec<&Value> = databases.iter().map(|row| &row["name"]).collect();
    assert_eq!(names, [&json!("main")]);
    store
        .set("config", "size", "10")
        .expect("a write after the attempts");
    assert_ne!(store_snapshot(&path), before);
    store.close().expect("close");
}

#[test]
fn workspace_query_bad_writes_attach_extensions_and_second_statements_change_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = fill_in(directory.path());
    let workspace = fill_workspace(&store);
    let store_before = store_snapshot(&directory.path().join("store.db"));
    let before = workspace_snapshot(&workspace);
    let files = files_in(directory.path());
    let state_files = files_in(&directory.path().join("state"));
    // (The `entries` view cannot be written to at all, so it proves nothing here.)
    for (table, column) in [
        ("workspace_entries", "entry_data"),
        ("workspace_meta", "meta_value"),
    ] {
        for sql in statements(REFUSED, directory.path(), table, column) {
            let outcome = workspace.query(&sql);
            assert_refused(outcome, "store.workspace.query", "read-only", &sql);
            assert_eq!(workspace_snapshot(&workspace), before, "{sql}");
        }
        for sql in statements(RUN_NOTHING, directory.path(), table, column) {
            let outcome = workspace.query(&sql);
            if outcome.is_err() {
                assert_refused(outcome, "store.workspace.query", "read-only", &sql);
            }
            assert_eq!(workspace_snapshot(&workspace), before, "{sql}");
        }
    }
    for sql in statements(LOAD_EXTENSION, directory.path(), "", "") {
        let outcome = workspace.query(&sql);
        assert_refused(
            outcome,
            "store.workspace.query",
            "would call load_extension()",
            &sql,
        );
    }
    assert_eq!(workspace_snapshot(&workspace), before);
    assert_eq!(files_in(directory.path()), files, "a file appeared");
    assert_eq!(
        files_in(&directory.path().join("state")),
        state_files,
        "a file appeared"
    );
    assert_eq!(
        store_snapshot(&directory.path().join("store.db")),
        store_before
    );
    // The workspace still takes rows and commits them.
    workspace
        .put("like", Map::new())
        .expect("a put after the attempts");
    let aggregate = workspace.commit().expect("commit");
    assert_eq!(
        aggregate,
        BTreeMap::from([("like".to_owned(), 3), ("profile_match".to_owned(), 1)])
    );
}
