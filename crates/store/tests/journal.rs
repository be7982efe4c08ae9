//! The journal: `commit_to_journal` and `query_journal` (empty, read-only SQL, Flux), on
//! this run's backend (see `backends`). Raw SQL names the same tables on both; where the
//! two dialects differ (PRAGMA, blob literals, error texts) a test says so.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};
use store::{Error, JournalConfig, Store, StoreConfig};

mod backends;

/// A fresh store on this run's backend (SQLite in memory, or a PostgreSQL schema).
fn memory() -> Store {
    Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..backends::config()
    })
    .expect("open a fresh store")
}

/// A fresh store with a journal whose InfluxDB is nowhere (port 9: nothing listens).
fn with_unreachable_journal() -> Store {
    Store::open_with(StoreConfig {
        journal: Some(JournalConfig::new("http://127.0.0.1:9", "core", "events")),
        purge_interval: Duration::ZERO,
        ..backends::config()
    })
    .expect("open")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(object) => object,
        other => panic!("not an object: {other}"),
    }
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn commit(store: &Store, measurement: &str, fields: Value, tag_pairs: &[(&str, &str)]) {
    store
        .commit_to_journal(measurement, &object(fields), &tags(tag_pairs))
        .expect("commit a point");
}

fn measurements(rows: &[store::Row]) -> Vec<String> {
    rows.iter()
        .map(|row| row["measurement"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn commit_to_journal_good_returns_copies_of_inputs() {
    let store = memory();
    let mut fields = object(json!({"likes": 3, "ratio": 0.5, "name": "ada"}));
    let mut tag_map = tags(&[("user", "ada")]);
    let before = store::Row::new();
    let entry = store
        .commit_to_journal("activity", &fields, &tag_map)
        .expect("commit");
    fields.insert("likes".into(), json!(99));
    tag_map.insert("user".into(), "bob".into());
    assert_eq!(entry.bucket, "store");
    assert_eq!(entry.measurement, "activity");
    assert_eq!(
        entry.fields,
        object(json!({"likes": 3, "ratio": 0.5, "name": "ada"}))
    );
    assert_eq!(entry.tags, tags(&[("user", "ada")]));
    assert!(
        entry.committed_at > 1_600_000_000_000,
        "{}",
        entry.committed_at
    );
    assert!(before.is_empty());
}

#[test]
fn commit_to_journal_good_stores_sorted_compact_json() {
    let store = memory();
    commit(
        &store,
        "m",
        json!({"b": 1, "a": {"z": 1, "y": [1, 2.5]}}),
        &[("t2", "x"), ("t1", "y")],
    );
    let rows = store
        .query_journal("SELECT fields_json, tags_json FROM journal_entries")
        .expect("raw SQL");
    assert_eq!(rows[0]["fields_json"], r#"{"a":{"y":[1,2.5],"z":1},"b":1}"#);
    assert_eq!(rows[0]["tags_json"], r#"{"t1":"y","t2":"x"}"#);
}

#[test]
fn commit_to_journal_good_uses_configured_bucket() {
    let store = with_unreachable_journal();
    let entry = store
        .commit_to_journal("m", &object(json!({"v": 1})), &BTreeMap::new())
        .expect("commit");
    assert_eq!(entry.bucket, "events");
    let rows = store.query_journal("").expect("query");
    assert_eq!(rows[0]["bucket_name"], "events");
}

#[test]
fn commit_to_journal_good_emits_no_event() {
    let store = memory();
    let watcher = store.watch("*", "*");
    commit(&store, "m", json!({"n": 1}), &[]);
    assert!(watcher.try_recv().is_none());
}

#[test]
fn commit_to_journal_bad_empty_measurement() {
    let store = memory();
    let error = store
        .commit_to_journal("", &Map::new(), &BTreeMap::new())
        .expect_err("an empty measurement is refused");
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "store.commit_to_journal: measurement is empty"
    );
    assert!(store.query_journal("").expect("query").is_empty());
}

#[test]
fn commit_to_journal_bad_no_field_is_refused_and_writes_nothing() {
    let store = with_unreachable_journal();
    for fields in [
        json!({}),
        json!({"gone": null}),
        json!({"": 1, "also": null}),
    ] {
        let error = store
            .commit_to_journal("m", &object(fields.clone()), &tags(&[("host", "a")]))
            .expect_err("a point without a field is refused");
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with("store.commit_to_journal: fields are empty"),
            "{fields}: {message}"
        );
        assert!(message.contains("InfluxDB cannot store"), "{message}");
    }
    let counts = store
        .query_journal(
            "SELECT (SELECT COUNT(*) FROM journal_entries) AS points,
                (SELECT COUNT(*) FROM journal_outbox) AS queued",
        )
        .expect("raw SQL");
    assert_eq!(counts[0]["points"], 0);
    assert_eq!(counts[0]["queued"], 0);
    // One real field among empty ones is enough.
    let entry = store
        .commit_to_journal(
            "m",
            &object(json!({"v": 0, "gone": null})),
            &BTreeMap::new(),
        )
        .expect("commit");
    assert_eq!(entry.fields, object(json!({"v": 0, "gone": null})));
}

#[test]
fn commit_to_journal_bad_closed_store() {
    let store = memory();
    store.close().expect("close");
    let error = store
        .commit_to_journal("m", &Map::new(), &BTreeMap::new())
        .expect_err("closed");
    assert!(matches!(error, Error::Closed { .. }), "{error:?}");
    let error = store.query_journal("").expect_err("closed");
    assert!(matches!(
        error,
        Error::Closed {
            operation: "store.query_journal"
        }
    ));
}

#[test]
fn query_journal_good_empty_query_returns_eight_keys_in_order() {
    let store = memory();
    for name in ["first", "second", "third"] {
        commit(&store, name, json!({"n": 4}), &[("host", "a")]);
    }
    let rows = store.query_journal("  \n ").expect("query");
    assert_eq!(measurements(&rows), ["first", "second", "third"]);
    let keys: Vec<&str> = rows[0].keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "archived_at",
            "bucket_name",
            "committed_at",
            "fields",
            "fields_json",
            "measurement",
            "tags",
            "tags_json"
        ]
    );
    assert_eq!(rows[0]["fields"], json!({"n": 4}));
    assert!(rows[0]["fields"]["n"].is_u64(), "integers stay integers");
    assert_eq!(rows[0]["tags"], json!({"host": "a"}));
    assert_eq!(rows[0]["archived_at"], Value::Null);
    assert!(rows[0]["committed_at"].is_i64());
}

#[test]
fn query_journal_good_sql_maps_types_and_inflates() {
    let store = memory();
    commit(&store, "m", json!({"n": 1}), &[("k", "v")]);
    // The same bytes, in each dialect's spelling of a blob.
    let blob = if backends::is_postgres() {
        "'\\x41'::bytea"
    } else {
        "x'41'"
    };
    let rows = store
        .query_journal(&format!(
            "select entry_id, measurement, fields_json, tags_json, 2.5 AS real, \
             NULL AS missing, {blob} AS blob, 1 AS twice, 2 AS twice FROM journal_entries"
        ))
        .expect("raw SQL");
    let row = &rows[0];
    assert_eq!(row["entry_id"], 1);
    assert_eq!(row["real"], 2.5);
    assert_eq!(row["missing"], Value::Null);
    assert_eq!(row["blob"], "A");
    assert_eq!(row["twice"], 2, "a repeated name keeps the last value");
    assert_eq!(row["fields"], json!({"n": 1}));
    assert_eq!(row["tags"], json!({"k": "v"}));
}

#[test]
fn query_journal_good_with_explain_pragma() {
    let store = memory();
    commit(&store, "m", json!({"v": 1}), &[]);
    let rows = store
        .query_journal("WITH x AS (SELECT COUNT(*) AS n FROM journal_entries) SELECT n FROM x;")
        .expect("WITH");
    assert_eq!(rows[0]["n"], 1);
    let explain = if backends::is_postgres() {
        "EXPLAIN SELECT * FROM journal_entries"
    } else {
        "EXPLAIN QUERY PLAN SELECT * FROM journal_entries"
    };
    assert!(!store.query_journal(explain).expect("EXPLAIN").is_empty());
    let columns = if backends::is_postgres() {
        store
            .query_journal(
                "SELECT column_name AS name FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'journal_entries'
                ORDER BY ordinal_position",
            )
            .expect("information_schema")
    } else {
        store
            .query_journal("PRAGMA table_info(journal_entries)")
            .expect("PRAGMA")
    };
    let names: Vec<&str> = columns
        .iter()
        .filter_map(|row| row["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "entry_id",
            "bucket_name",
            "measurement",
            "fields_json",
            "tags_json",
            "committed_at",
            "archived_at",
            "archive_name"
        ]
    );
}

#[test]
fn query_journal_bad_sql_that_writes_is_refused_and_changes_nothing() {
    let store = memory();
    commit(&store, "m", json!({"v": 1}), &[]);
    store.set("config", "colour", "blue").expect("set");
    let mut writes = vec![
        "DELETE FROM journal_entries",
        "SELECT 1; DELETE FROM journal_entries",
        "select 1;\n drop table entries",
        "WITH doomed AS (SELECT 1) DELETE FROM journal_entries",
        "ATTACH DATABASE 'other.db' AS other",
        "insert into entries values ('a', 'b', 'c', NULL)",
        "UPDATE entries SET entry_value = 'x'",
        "VACUUM",
        "BEGIN",
    ];
    if backends::is_postgres() {
        // Writes PostgreSQL's READ ONLY transaction refuses, whatever their first word.
        writes.extend([
            "WITH doomed AS (DELETE FROM journal_entries RETURNING 1) SELECT * FROM doomed",
            "SELECT * INTO copied FROM journal_entries",
            "SELECT * FROM journal_entries FOR UPDATE",
            "SELECT nextval(pg_get_serial_sequence('journal_entries', 'entry_id'))",
            "SELECT 1; SELECT 2",
        ]);
    } else {
        writes.extend(["PRAGMA user_version = 7", "PRAGMA journal_mode=DELETE"]);
    }
    for sql in writes {
        let error = store.query_journal(sql).expect_err(sql);
        assert!(matches!(error, Error::Query { .. }), "{sql}: {error:?}");
        assert!(error.to_string().contains("read-only"), "{sql}: {error}");
        assert!(
            error.to_string().starts_with("store.query_journal: "),
            "{error}"
        );
    }
    assert_eq!(store.query_journal("").expect("query").len(), 1);
    assert_eq!(store.get("config", "colour").expect("get"), "blue");
    if backends::is_postgres() {
        let copied = store
            .query_journal("SELECT to_regclass('copied') IS NULL AS gone")
            .expect("catalogue");
        assert_eq!(copied[0]["gone"], 1, "SELECT INTO created no table");
    } else {
        let version = store.query_journal("PRAGMA user_version").expect("pragma");
        assert_eq!(version[0]["user_version"], 0);
    }
    assert!(!std::path::Path::new("other.db").exists());
}

#[test]
fn query_journal_good_explain_of_a_write_runs_nothing() {
    let store = memory();
    commit(&store, "m", json!({"v": 1}), &[]);
    // EXPLAIN only describes the statement; whether SQLite calls it read-only or not,
    // the journal is unchanged.
    let outcome = store.query_journal("EXPLAIN DELETE FROM journal_entries");
    if let Err(error) = &outcome {
        assert!(error.to_string().contains("read-only"), "{error}");
    }
    assert_eq!(store.query_journal("").expect("query").len(), 1);
}

#[test]
fn query_journal_bad_load_extension_fails() {
    let store = memory();
    let error = store
        .query_journal("SELECT load_extension('/nonexistent/library')")
        .expect_err("extension loading is off");
    assert!(matches!(error, Error::Query { .. }), "{error:?}");
}

#[test]
fn query_journal_bad_sql_error_is_a_query_error() {
    let store = memory();
    let error = store
        .query_journal("SELECT * FROM no_such_table")
        .expect_err("missing table");
    assert!(matches!(error, Error::Query { .. }), "{error:?}");
    if backends::is_postgres() {
        // PostgreSQL's own message and SQLSTATE, in the text (the error's source is
        // SQLite's type, so it has none here).
        let message = error.to_string();
        assert!(
            message.contains(r#"relation "no_such_table" does not exist"#),
            "{message}"
        );
        assert!(message.contains("42P01"), "{message}");
    } else {
        assert!(error.to_string().contains("no such table"), "{error}");
        assert!(std::error::Error::source(&error).is_some());
    }
}

#[test]
fn query_journal_good_sql_sees_archived_rows_flux_does_not() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = if backends::is_postgres() {
        backends::path()
    } else {
        directory.path().join("store.db").display().to_string()
    };
    let store = Store::open(&path).expect("open");
    commit(&store, "old", json!({"v": 1}), &[]);
    commit(&store, "new", json!({"v": 1}), &[]);
    store.close().expect("close");
    backends::execute_directly(
        &path,
        "UPDATE journal_entries SET archived_at = 1 WHERE measurement = 'old'",
    );
    let store = Store::open(&path).expect("reopen");
    assert_eq!(
        measurements(&store.query_journal("").expect("empty")),
        ["new"]
    );
    let flux = store
        .query_journal(r#"from(bucket: "store")"#)
        .expect("flux");
    assert_eq!(measurements(&flux), ["new"]);
    let raw = store
        .query_journal("SELECT measurement FROM journal_entries ORDER BY entry_id")
        .expect("raw");
    assert_eq!(measurements(&raw), ["old", "new"]);
}

#[test]
fn query_journal_good_flux_filters_measurement_tags_fields() {
    let store = memory();
    commit(
        &store,
        "login",
        json!({"ok": true, "n": 2}),
        &[("user", "ada")],
    );
    commit(
        &store,
        "login",
        json!({"ok": false, "n": 3}),
        &[("user", "bob")],
    );
    commit(&store, "logout", json!({"ok": true, "user": "ada"}), &[]);
    let query = |filter: &str| {
        let source =
            format!(r#"from(bucket: "store") |> range(start: -1h) |> filter(fn: (r) => {filter})"#);
        let rows = store.query_journal(&source).expect(&source);
        rows.iter()
            .map(|row| {
                format!(
                    "{}:{}",
                    row["measurement"].as_str().unwrap_or_default(),
                    row["fields"]["n"]
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        query(r#"r._measurement == "login""#),
        ["login:2", "login:3"]
    );
    assert_eq!(query(r#"r["user"] == "ada""#), ["login:2", "logout:null"]);
    assert_eq!(query("r.n == 3.0"), ["login:3"]);
    assert_eq!(query("r.ok == true and r.n == 2"), ["login:2"]);
    assert_eq!(
        query(r#"r.measurement == "logout" and r.ok == false"#),
        Vec::<String>::new()
    );
    assert_eq!(query(r#"r._bucket == "elsewhere""#), Vec::<String>::new());
}

#[test]
fn query_journal_good_flux_bucket_and_range() {
    let store = memory();
    commit(&store, "m", json!({"v": 1}), &[]);
    let rows = |source: &str| store.query_journal(source).expect(source).len();
    assert_eq!(rows(r#"from(bucket: "store")"#), 1);
    assert_eq!(rows(r#"from(bucket: "other")"#), 0);
    assert_eq!(rows(r#"from(bucket: "store") |> range(start: -1h)"#), 1);
    assert_eq!(rows(r#"from(bucket: "store") |> range(start: 1h)"#), 0);
    assert_eq!(
        rows(r#"from(bucket: "store") |> range(start: -1d, stop: -1h)"#),
        0
    );
    assert_eq!(
        rows(
            r#"from(bucket: "store") |> range(start: 2000-01-01T00:00:00Z, stop: time(v: "2999-01-01T00:00:00+01:00"))"#
        ),
        1
    );
}

#[test]
fn query_journal_bad_flux_unsupported_is_named_with_the_supported_list() {
    let store = memory();
    commit(&store, "m", json!({"v": 1}), &[]);
    for (source, named) in [
        (r#"from(bucket: "store") |> limit(n: 1)"#, "limit()"),
        (
            r#"from(bucket: "store") |> filter(fn: (r) => r._value > 1)"#,
            "_value",
        ),
        (
            r#"from(bucket: "store") |> filter(fn: (r) => r.a == "x" or r.b == "y")"#,
            "`or`",
        ),
        (
            r#"from(bucket: "store") |> aggregateWindow(every: 1m, fn: mean)"#,
            "aggregateWindow()",
        ),
        (r#"from(bucket: "store") |> range(start: -1mo)"#, "`mo`"),
        ("show measurements", "`show`"),
    ] {
        let error = store.query_journal(source).expect_err(source);
        assert!(matches!(error, Error::Query { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("unsupported"), "{source}: {message}");
        assert!(message.contains(named), "{source}: {message}");
        assert!(message.contains("supported: from(bucket:"), "{message}");
    }
}

#[test]
fn query_journal_bad_flux_unparsable_time() {
    let store = memory();
    let error = store
        .query_journal(r#"from(bucket: "store") |> range(start: "last tuesday")"#)
        .expect_err("a bad time");
    assert!(matches!(error, Error::Query { .. }), "{error:?}");
    assert!(error.to_string().contains("parse"), "{error}");
}

/// About SQLite files: a journal table written by the Go package.
#[test]
fn open_good_adds_archive_name_to_a_go_journal_table() {
    if backends::is_postgres() {
        return;
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("go.db");
    let connection = rusqlite::Connection::open(&path).expect("create");
    connection
        .execute_batch(
            "CREATE TABLE journal_entries (
                entry_id INTEGER PRIMARY KEY AUTOINCREMENT, bucket_name TEXT NOT NULL,
                measurement TEXT NOT NULL, fields_json TEXT NOT NULL, tags_json TEXT NOT NULL,
                committed_at INTEGER NOT NULL, archived_at INTEGER);
             INSERT INTO journal_entries (bucket_name, measurement, fields_json, tags_json,
                committed_at) VALUES ('events', 'go', '{\"n\":1}', '{}', 5);",
        )
        .expect("a Go journal");
    drop(connection);
    let store = Store::open(&path).expect("open a Go file");
    commit(&store, "rust", json!({"v": 1}), &[]);
    let rows = store.query_journal("").expect("query");
    assert_eq!(measurements(&rows), ["go", "rust"]);
    assert_eq!(rows[0]["fields"], json!({"n": 1}));
    let names = store
        .query_journal(
            "SELECT name FROM pragma_table_info('journal_entries') WHERE name = 'archive_name'",
        )
        .expect("columns");
    assert_eq!(names.len(), 1);
}
