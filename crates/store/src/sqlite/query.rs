//! Read-only SQL from callers, and SQLite rows as JSON objects or as a [`Table`] that
//! keeps the statement's columns in order.
//!
//! The Go package executed whatever `QueryJournal` was given. Here SQLite itself decides
//! what a caller's SQL may do: while the statement is prepared, the connection's
//! authorizer (`sqlite3_set_authorizer`) is told of every action the statement would take
//! — each table it reads, each function, pragma, write, attach, transaction or schema
//! change — and the statement runs only if every action is a read
//! ([`permits`]), SQLite reports the statement read-only (`sqlite3_stmt_readonly`), and it
//! is the only statement in the text. So a query can never change the store, attach
//! another file or run a second statement smuggled after a `;`, whatever its spelling,
//! comments or `WITH` clauses. `EXPLAIN` (of anything) only describes a statement and
//! runs none of it, so it is allowed. Extension loading is off in the bundled SQLite, and
//! `load_extension()` is refused as well.
//!
//! Preparing a statement executes nothing, so the authorizer only records what it sees
//! and always allows: the refusal is made here, before the first step, with one message.
//!
//! A read-only query can still be endless (`WITH RECURSIVE` without a stop) or huge, and
//! it holds the store's connection while it runs, so it is bounded: it is interrupted
//! after [`QUERY_TIME_LIMIT`] and refused past [`QUERY_ROW_LIMIT`] rows, with an error
//! that says which, rather than hanging every other caller or exhausting memory.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// The message of every refusal, so that callers can match `read-only`.
const READ_ONLY: &str = "only a single read-only SQL statement is allowed \
     (SELECT, WITH, EXPLAIN, or PRAGMA in its query form)";

/// Pragmas whose argument names a table, index or schema to inspect; every other pragma's
/// argument sets something, so only the bare query form is accepted.
const INSPECTING_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_info",
    "index_xinfo",
    "index_list",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// Whether a row's `fields_json` and `tags_json` columns are also returned parsed, as
/// `fields` and `tags` (journal queries), or left as text (workspace queries).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inflate {
    JournalColumns,
    Nothing,
}

/// The longest a caller's SQL may run before it is interrupted.
pub(crate) const QUERY_TIME_LIMIT: Duration = Duration::from_secs(60);
/// The most rows a caller's SQL may return (add a `LIMIT` for more, page by page).
pub(crate) const QUERY_ROW_LIMIT: usize = 1_000_000;
/// How many SQLite virtual-machine steps pass between two looks at the clock.
const PROGRESS_STEPS: i32 = 10_000;

/// How long a caller's query may run and how many rows it may return.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryLimits {
    pub(crate) time: Duration,
    pub(crate) rows: usize,
}

impl QueryLimits {
    pub(crate) const DEFAULT: QueryLimits = QueryLimits {
        time: QUERY_TIME_LIMIT,
        rows: QUERY_ROW_LIMIT,
    };
}

/// The result of a read-only SQL query as the statement gives it: its columns in order,
/// with their names as SQLite reports them (a name selected twice appears twice), and each
/// row's values in the same order. [`Row`](crate::Row), a map, sorts its keys and keeps one
/// value per name; a `Table` keeps the statement's shape. Serialised (serde) it is
/// `{"columns":[...],"rows":[[...],...]}`. Returned by
/// [`Store::query_journal_table`](crate::Store::query_journal_table).
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// let table = store.query_journal_table("SELECT 'x' AS z, 1 AS a, 2 AS a")?;
/// assert_eq!(table.columns, ["z", "a", "a"]);
/// assert_eq!(table.rows, [vec![serde_json::json!("x"), 1.into(), 2.into()]]);
/// assert_eq!(
///     serde_json::to_string(&table)?,
///     r#"{"columns":["z","a","a"],"rows":[["x",1,2]]}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Table {
    /// The result columns' names, in the statement's order.
    pub columns: Vec<String>,
    /// One entry per result row, each with one value per column, in column order.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// The rows as maps, one key per column name (a repeated name keeps the last value),
    /// with `fields`/`tags` added per `inflate`.
    pub(crate) fn into_objects(self, inflate: Inflate) -> Vec<Map<String, Value>> {
        let Table { columns, rows } = self;
        rows.into_iter()
            .map(|values| {
                let mut object: Map<String, Value> = columns.iter().cloned().zip(values).collect();
                if inflate == Inflate::JournalColumns {
                    inflate_journal_columns(&mut object);
                }
                object
            })
            .collect()
    }
}

/// Runs one read-only statement and returns its rows, one key per result column, within
/// [`QueryLimits::DEFAULT`].
pub(crate) fn query_read_only(
    connection: &mut Connection,
    operation: &'static str,
    sql: &str,
    inflate: Inflate,
) -> Result<Vec<Map<String, Value>>> {
    query_read_only_within(connection, operation, sql, inflate, QueryLimits::DEFAULT)
}

/// [`query_read_only`] with explicit limits; SQLite is interrupted once `limits.time` has
/// passed, and the progress handler is removed again before returning.
pub(crate) fn query_read_only_within(
    connection: &mut Connection,
    operation: &'static str,
    sql: &str,
    inflate: Inflate,
    limits: QueryLimits,
) -> Result<Vec<Map<String, Value>>> {
    Ok(query_table_within(connection, operation, sql, limits)?.into_objects(inflate))
}

/// Runs one read-only statement and returns its columns and rows in the statement's order,
/// within [`QueryLimits::DEFAULT`].
pub(crate) fn query_read_only_table(
    connection: &mut Connection,
    operation: &'static str,
    sql: &str,
) -> Result<Table> {
    query_table_within(connection, operation, sql, QueryLimits::DEFAULT)
}

/// [`query_read_only_table`] with explicit limits; SQLite is interrupted once
/// `limits.time` has passed, and the progress handler is removed again before returning.
fn query_table_within(
    connection: &mut Connection,
    operation: &'static str,
    sql: &str,
    limits: QueryLimits,
) -> Result<Table> {
    let deadline = Instant::now() + limits.time;
    connection
        .progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))
        .map_err(|source| Error::database(operation, "limit query time", source))?;
    let refused = Arc::new(Mutex::new(None::<String>));
    let audit = Arc::clone(&refused);
    let audited = connection.authorizer(Some(move |context: AuthContext<'_>| {
        if !permits(&context.action) {
            let mut first = audit.lock().unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert_with(|| describe(&context.action));
        }
        Authorization::Allow
    }));
    let result = audited
        .map_err(|source| Error::database(operation, "audit query", source))
        .and_then(|()| run_read_only(connection, operation, sql, limits, &refused));
    let unaudited = connection.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    let removed = connection.progress_handler(0, None::<fn() -> bool>);
    let rows = result.map_err(|error| match error {
        Error::Query { .. } if Instant::now() >= deadline => Error::query(
            operation,
            format!(
                "query interrupted: it ran longer than {} s",
                limits.time.as_secs_f64()
            ),
            None,
        ),
        other => other,
    })?;
    removed.map_err(|source| Error::database(operation, "limit query time", source))?;
    unaudited.map_err(|source| Error::database(operation, "audit query", source))?;
    Ok(rows)
}

fn run_read_only(
    connection: &Connection,
    operation: &'static str,
    sql: &str,
    limits: QueryLimits,
    refused: &Mutex<Option<String>>,
) -> Result<Table> {
    let mut statement = connection.prepare(sql).map_err(|source| match source {
        rusqlite::Error::MultipleStatement => Error::query(operation, READ_ONLY, None),
        rusqlite::Error::Empty => Error::query(operation, "query is empty", None),
        other => Error::query(operation, format!("prepare query: {other}"), Some(other)),
    })?;
    let is_explain = statement.is_explain() > 0;
    let refusal = refused
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(action) = refusal.filter(|_| !is_explain) {
        return Err(Error::query(
            operation,
            format!("{READ_ONLY}; this one would {action}"),
            None,
        ));
    }
    if !statement.readonly() && !is_explain {
        return Err(Error::query(operation, READ_ONLY, None));
    }
    let columns: Vec<String> = statement.column_names().map(str::to_owned).collect();
    let failed = |source: rusqlite::Error| {
        Error::query(operation, format!("run query: {source}"), Some(source))
    };
    let mut rows = statement.query([]).map_err(failed)?;
    let mut result = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        if result.len() >= limits.rows {
            return Err(Error::query(
                operation,
                format!(
                    "query returns more than {} rows: add a LIMIT and read it page by page",
                    limits.rows
                ),
                None,
            ));
        }
        let values = (0..columns.len())
            .map(|index| row.get_ref(index).map(json_value))
            .collect::<rusqlite::Result<Vec<Value>>>()
            .map_err(failed)?;
        result.push(values);
    }
    Ok(Table {
        columns,
        rows: result,
    })
}

/// The statement kinds a caller may run, by first keyword: how `query_journal` tells SQL
/// from Flux. It decides nothing about safety; [`permits`] does.
pub(crate) const READ_ONLY_KEYWORDS: &[&str] = &["select", "with", "explain", "pragma"];

/// Whether [`Store::query_journal`](crate::Store::query_journal) runs `query` as SQL
/// rather than Flux: its first word, after white space and SQL comments, is `SELECT`,
/// `WITH`, `EXPLAIN` or `PRAGMA`. It says nothing about whether the SQL may run.
///
/// ```
/// assert!(store::is_sql_query("-- recent\nSELECT COUNT(*) FROM journal_entries"));
/// assert!(!store::is_sql_query(r#"from(bucket: "store")"#));
/// ```
#[must_use]
pub fn is_sql_query(query: &str) -> bool {
    let (keyword, _) = first_keyword(query);
    READ_ONLY_KEYWORDS
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(keyword))
}

/// The first word of `sql` after white space and SQL comments, and the text after it.
pub(crate) fn first_keyword(sql: &str) -> (&str, &str) {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    let end = rest
        .find(|character: char| !character.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    rest.split_at(end)
}

/// Pragmas that act even in their bare form: `optimize` runs `ANALYZE`, which creates and
/// fills `sqlite_stat1`, from a statement SQLite reports as read-only (the writes happen
/// in SQL it runs itself); `incremental_vacuum` frees pages.
const ACTING_PRAGMAS: &[&str] = &["optimize", "incremental_vacuum"];

/// Whether a caller's statement may take `action`: reads, the functions SQLite ships
/// (not `load_extension`), recursive common table expressions, and pragmas in their
/// query form or inspecting a table. Everything else — writes, schema changes, attach,
/// transactions, savepoints, `ANALYZE`, `REINDEX`, virtual-table changes and any action
/// this SQLite names that rusqlite does not — is refused.
fn permits(action: &AuthAction<'_>) -> bool {
    match action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => true,
        AuthAction::Function { function_name } => {
            !function_name.eq_ignore_ascii_case("load_extension")
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            match pragma_value {
                None => !ACTING_PRAGMAS.contains(&name.as_str()),
                Some(_) => INSPECTING_PRAGMAS.contains(&name.as_str()),
            }
        }
        _ => false,
    }
}

/// What a refused action would have done, for the error message.
fn describe(action: &AuthAction<'_>) -> String {
    match action {
        AuthAction::Pragma {
            pragma_name,
            pragma_value: Some(value),
        } => format!("set PRAGMA {pragma_name} to {value}"),
        AuthAction::Pragma { pragma_name, .. } => format!("run PRAGMA {pragma_name}"),
        AuthAction::Function { function_name } => format!("call {function_name}()"),
        AuthAction::Insert { table_name } => format!("insert into {table_name}"),
        AuthAction::Update { table_name, .. } => format!("update {table_name}"),
        AuthAction::Delete { table_name } => format!("delete from {table_name}"),
        AuthAction::Attach { filename } => format!("attach {filename:?}"),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            "begin or end a transaction".to_owned()
        }
        other => format!("change the database ({other:?})"),
    }
}

/// SQLite's value as JSON: INTEGER → integer, REAL → number (non-finite → null), TEXT →
/// string, BLOB → lossy UTF-8 string, NULL → null.
pub(crate) fn json_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(integer) => Value::Number(integer.into()),
        ValueRef::Real(real) => Number::from_f64(real).map_or(Value::Null, Value::Number),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
    }
}

/// Adds `fields` when `fields_json` holds a JSON object and `tags` when `tags_json` holds
/// an object of strings.
fn inflate_journal_columns(object: &mut Map<String, Value>) {
    if let Some(Value::String(text)) = object.get("fields_json") {
        if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) {
            object.insert("fields".to_owned(), Value::Object(fields));
        }
    }
    if let Some(Value::String(text)) = object.get("tags_json") {
        if let Ok(Value::Object(tags)) = serde_json::from_str::<Value>(text) {
            if tags.values().all(Value::is_string) {
                object.insert("tags".to_owned(), Value::Object(tags));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let connection = Connection::open_in_memory().expect("open");
        connection
            .execute_batch("CREATE TABLE t (a INTEGER, b REAL, c TEXT, d BLOB, e)")
            .expect("create");
        connection
            .execute("INSERT INTO t VALUES (4, 2.5, 'x', x'ff41', NULL)", [])
            .expect("insert");
        connection
    }

    #[test]
    fn query_read_only_good_maps_every_type() {
        let rows = query_read_only(
            &mut connection(),
            "test",
            "SELECT * FROM t",
            Inflate::Nothing,
        )
        .expect("query");
        assert_eq!(
            Value::Object(rows[0].clone()),
            serde_json::json!({"a": 4, "b": 2.5, "c": "x", "d": "\u{fffd}A", "e": null})
        );
    }

    #[test]
    fn query_read_only_table_good_keeps_order_and_repeated_names() {
        let table = query_read_only_table(
            &mut connection(),
            "test",
            "SELECT c AS z, a, 1 AS a, d FROM t",
        )
        .expect("query");
        assert_eq!(table.columns, ["z", "a", "a", "d"]);
        assert_eq!(
            table.rows,
            [vec![
                Value::from("x"),
                Value::from(4),
                Value::from(1),
                Value::from("\u{fffd}A")
            ]]
        );
        let objects = table.into_objects(Inflate::Nothing);
        assert_eq!(
            objects[0].get("a"),
            Some(&Value::from(1)),
            "the last value wins"
        );
    }

    #[test]
    fn query_read_only_bad_writes_and_second_statements() {
        let mut connection = connection();
        for sql in [
            "DELETE FROM t",
            "SELECT 1; DELETE FROM t",
            "WITH x AS (SELECT 1) INSERT INTO t (a) SELECT * FROM x",
            "PRAGMA user_version = 5",
            "PRAGMA cache_size(10)",
            "ATTACH DATABASE ':memory:' AS other",
            "BEGIN",
            "/* hidden */ DETACH DATABASE main",
            "PRAGMA optimize",
            "pragma main . \"OPTIMIZE\" /* x */;",
            "PRAGMA/**/optimize(0xfffe)",
            "PRAGMA incremental_vacuum",
        ] {
            let error =
                query_read_only(&mut connection, "test", sql, Inflate::Nothing).expect_err(sql);
            assert!(error.to_string().contains("read-only"), "{sql}: {error}");
        }
        let count: i64 = connection
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(count, 1);
    }

    #[test]
    fn query_read_only_bad_pragma_spellings_are_refused_by_the_authorizer() {
        let mut connection = connection();
        for sql in [
            "PRAGMA optimize",
            "pragma main . \"Optimize\" -- x\n",
            "/* a */ PRAGMA [optimize](5)",
            "PRAGMA user_version = 3",
            "PRAGMA main.user_version(3)",
            "PRAGMA incremental_vacuum",
        ] {
            let error =
                query_read_only(&mut connection, "test", sql, Inflate::Nothing).expect_err(sql);
            assert!(error.to_string().contains("read-only"), "{sql}: {error}");
        }
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, 0, "nothing was set");
        let rows = query_read_only(
            &mut connection,
            "test",
            "PRAGMA table_info(t)",
            Inflate::Nothing,
        )
        .expect("an inspecting pragma");
        assert!(!rows.is_empty());
    }

    #[test]
    fn query_read_only_good_trailing_comment_and_pragma_query() {
        let mut connection = connection();
        let rows = query_read_only(
            &mut connection,
            "test",
            "-- first\nSELECT 1 AS one; -- done",
            Inflate::Nothing,
        )
        .expect("query");
        assert_eq!(rows[0].get("one"), Some(&Value::from(1)));
        let rows = query_read_only(
            &mut connection,
            "test",
            "PRAGMA table_info(t)",
            Inflate::Nothing,
        )
        .expect("pragma");
        assert_eq!(rows.len(), 5);
    }

    const ENDLESS: &str =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

    #[test]
    fn query_read_only_bad_endless_query_is_interrupted_and_connection_stays_usable() {
        let mut connection = connection();
        let limits = QueryLimits {
            time: Duration::from_millis(200),
            rows: QUERY_ROW_LIMIT,
        };
        let started = Instant::now();
        let error =
            query_read_only_within(&mut connection, "test", ENDLESS, Inflate::Nothing, limits)
                .expect_err("endless");
        assert!(error.to_string().contains("query interrupted"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(30));
        // The progress handler is gone: a later query runs to its end.
        let rows = query_read_only(&mut connection, "test", "SELECT a FROM t", Inflate::Nothing)
            .expect("later query");
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn query_read_only_bad_too_many_rows_is_refused() {
        let mut connection = connection();
        let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 50) SELECT x FROM c";
        let limits = |rows| QueryLimits {
            time: QUERY_TIME_LIMIT,
            rows,
        };
        let error =
            query_read_only_within(&mut connection, "test", sql, Inflate::Nothing, limits(10))
                .expect_err("over the cap");
        assert!(error.to_string().contains("more than 10 rows"), "{error}");
        let rows =
            query_read_only_within(&mut connection, "test", sql, Inflate::Nothing, limits(50))
                .expect("at the cap");
        assert_eq!(rows.len(), 50);
    }
}
