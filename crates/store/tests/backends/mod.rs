//! One test body, two backends: the key-value test files open their stores through
//! [`open`], which gives an in-memory SQLite store, or, when `STORE_TEST_BACKEND` is
//! `postgres`, a store in a fresh schema of the PostgreSQL database at
//! `STORE_TEST_POSTGRES`. `.ci/run` runs those files once per backend.
//!
//! Each test binary uses a different subset, so unused items are expected here.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use store::{Store, StoreConfig};

/// The URL of the PostgreSQL database the tests may use (`scripts/postgres-test-cluster.sh
/// start` prints one).
pub const POSTGRES_ENV: &str = "STORE_TEST_POSTGRES";
/// `postgres` to run the shared test files against PostgreSQL.
pub const BACKEND_ENV: &str = "STORE_TEST_BACKEND";

/// True when this run tests the PostgreSQL backend.
pub fn is_postgres() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|backend| backend == "postgres")
}

/// The value of the environment variable `name`, which the PostgreSQL tests need, or
/// `None` (the test then skips) when it is unset or empty. In CI (`CI` set) a missing
/// value fails the test instead: there, PostgreSQL must be running (see .ci/run).
pub fn required_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "{name} is not set: in CI the PostgreSQL tests must run (see .ci/run)"
            );
            eprintln!("skipped: set {name} to run this PostgreSQL test");
            None
        }
    }
}

/// The database URL, or `None` when the PostgreSQL tests skip (see [`required_env`]).
pub fn postgres_url() -> Option<String> {
    required_env(POSTGRES_ENV)
}

/// A URL of a schema no other test uses (made unique by process, counter and clock).
pub fn fresh_schema_url(base: &str) -> String {
    fresh_schema(base).0
}

/// [`fresh_schema_url`] and the schema's name, for tests that address the schema
/// directly.
pub fn fresh_schema(base: &str) -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let schema = format!(
        "t_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let separator = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{separator}schema={schema}"), schema)
}

/// A PostgreSQL store in a fresh schema, with the background purge off as in `open`.
pub fn postgres_store(base: &str) -> Store {
    Store::open(fresh_schema_url(base)).expect("open a PostgreSQL store")
}

/// A fresh, empty store on this run's backend.
pub fn open() -> Store {
    if is_postgres() {
        let url = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
            panic!("{BACKEND_ENV}=postgres needs {POSTGRES_ENV}, the database URL")
        });
        return postgres_store(&url);
    }
    Store::open(":memory:").expect("open an in-memory store")
}

/// The configuration of a fresh, empty store on this run's backend.
pub fn config() -> StoreConfig {
    if is_postgres() {
        let url = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
            panic!("{BACKEND_ENV}=postgres needs {POSTGRES_ENV}, the database URL")
        });
        return StoreConfig::new(fresh_schema_url(&url));
    }
    StoreConfig::new(":memory:")
}

/// The path (or URL) of a fresh, empty store on this run's backend.
pub fn path() -> String {
    if is_postgres() {
        let url = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
            panic!("{BACKEND_ENV}=postgres needs {POSTGRES_ENV}, the database URL")
        });
        return fresh_schema_url(&url);
    }
    ":memory:".to_owned()
}

/// Runs `sql` (one or more statements) on the database of the store at `path` directly,
/// as another program would: an SQLite file, or the PostgreSQL schema of a URL from
/// [`path`] or [`fresh_schema_url`].
pub fn execute_directly(path: &str, sql: &str) {
    if !path.starts_with("postgres") {
        let connection = rusqlite::Connection::open(path).expect("open the file directly");
        connection.execute_batch(sql).expect("run SQL directly");
        return;
    }
    let (base, schema) = path
        .rsplit_once("schema=")
        .expect("a URL with a schema parameter");
    let base = base.trim_end_matches(['?', '&']);
    let mut client = postgres::Client::connect(base, postgres::NoTls).expect("connect directly");
    client
        .batch_execute(&format!("SET search_path TO \"{schema}\"; {sql}"))
        .expect("run SQL directly");
}
