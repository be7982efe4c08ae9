//! The PostgreSQL tables, created on first use.
//!
//! Creation runs in one transaction under an advisory lock, so that several processes
//! opening the same new database at once do not race in `CREATE TABLE IF NOT EXISTS`
//! (which is not safe against concurrent creators of the same name).

use postgres::Client;

use crate::postgresql::session::quote_identifier;
use crate::postgresql::{changes, notify};

/// The key of the advisory lock that creation holds (any fixed number: "stor" in ASCII).
const CREATE_LOCK: i64 = 0x7374_6f72;

/// The entries table: the same rows as SQLite's, as bytes (see the module docs of
/// `postgres`). The partial index serves the purge.
const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS entries (
    group_name    BYTEA   NOT NULL,
    entry_key     BYTEA   NOT NULL,
    entry_value   BYTEA   NOT NULL,
    value_is_text BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at    BIGINT,
    revision      BIGINT,
    PRIMARY KEY (group_name, entry_key)
);
CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
";

/// The version of the tables and functions below; an open that finds it runs no DDL at
/// all (DDL takes table locks, and an open must never wait for, or block, other servers'
/// writes). Change it whenever the DDL changes.
const SCHEMA_VERSION: &str = "store postgres schema 1";

/// The version row, created with the tables.
const CREATE_VERSION: &str = "CREATE TABLE IF NOT EXISTS store_schema (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version   TEXT    NOT NULL
)";

/// True when the store schema already holds this version's tables and functions.
fn is_current(client: &mut impl postgres::GenericClient) -> Result<bool, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('store_schema') IS NOT NULL", &[])?
        .try_get(0)?;
    if !exists {
        return Ok(false);
    }
    let version: Option<String> = client
        .query_opt("SELECT version FROM store_schema", &[])?
        .map(|row| row.try_get(0))
        .transpose()?;
    Ok(version.as_deref() == Some(SCHEMA_VERSION))
}

/// Creates the schema (when the URL named one), the tables and the functions, unless
/// they are already this version's.
pub(crate) fn ensure(client: &mut Client, schema: Option<&str>) -> Result<(), postgres::Error> {
    if is_current(client)? {
        return Ok(());
    }
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&CREATE_LOCK])?;
    if let Some(schema) = schema {
        transaction.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_identifier(schema)
        ))?;
    }
    // Another process may have finished while this one waited for the lock.
    if is_current(&mut transaction)? {
        return transaction.commit();
    }
    transaction.batch_execute(CREATE_TABLES)?;
    transaction.batch_execute(crate::postgresql::journal::CREATE_JOURNAL)?;
    transaction.batch_execute(crate::postgresql::archive::CREATE_ARCHIVES)?;
    transaction.batch_execute(crate::postgresql::workspace::CREATE_WORKSPACE_COMMITS)?;
    transaction.batch_execute(changes::CREATE_CHANGE_FEED)?;
    transaction.batch_execute(notify::CREATE_FUNCTION)?;
    let has_trigger: bool = transaction
        .query_one(notify::SQL_HAS_TRIGGER, &[])?
        .try_get(0)?;
    if !has_trigger {
        transaction.batch_execute(notify::CREATE_TRIGGER)?;
    }
    transaction.batch_execute(CREATE_VERSION)?;
    transaction.execute(
        "INSERT INTO store_schema (singleton, version) VALUES (TRUE, $1)
        ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
        &[&SCHEMA_VERSION],
    )?;
    transaction.commit()
}
