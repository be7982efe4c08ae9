//! One PostgreSQL session: the client, its prepared statements, and reconnection.
//!
//! A store's URL is a libpq-style URL (`postgres://user:password@host:port/database`,
//! with the client's own parameters such as `connect_timeout`), plus one of ours:
//! `schema=NAME` keeps the store's tables in that schema (created on first use), so that
//! several stores can share one database. Without it the tables go where the server's
//! `search_path` puts them (normally `public`).
//!
//! When the server goes away (a restart, a dropped socket) the call that meets it fails
//! with [`Error::Postgres`] and the session forgets the client; the next call connects
//! again, sets the schema again and prepares its statements anew. Nothing is retried
//! behind the caller's back: a write that failed may or may not have committed, exactly
//! as the error says, and a write that returned `Ok` was committed by the server.

use std::collections::HashMap;
use std::str::FromStr;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use crate::error::Error;
use crate::postgresql::schema;

/// Runs `work` where the PostgreSQL client may block: here, or, when this thread is
/// driving a tokio runtime (a store used from async code, or its last handle dropped
/// there), on a short-lived thread of its own. The client runs a runtime of its own and
/// would panic if it blocked inside another.
pub(crate) fn outside_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return work();
    }
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked))
    })
}

/// The parameters of one statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A PostgreSQL connection that comes back after the server went away.
pub(crate) struct PgSession {
    config: postgres::Config,
    schema: Option<String>,
    read_only: bool,
    /// This session's name in change announcements (see `notify`), the same across
    /// reconnections.
    origin: String,
    client: Option<Client>,
    /// Statements prepared on the current client; cleared when it is replaced.
    statements: HashMap<&'static str, Statement>,
}

impl PgSession {
    /// Connects to `url`, makes the tables ready (unless `read_only`), and returns the
    /// session.
    pub(crate) fn open(url: &str, read_only: bool) -> Result<PgSession, Error> {
        const OPERATION: &str = "store.open";
        let (url, schema) = split_schema(url)?;
        let config = postgres::Config::from_str(&url).map_err(|source| Error::Postgres {
            operation: OPERATION,
            context: "read the PostgreSQL URL".to_owned(),
            source,
        })?;
        let mut session = PgSession {
            config,
            schema,
            read_only,
            origin: random_origin(),
            client: None,
            statements: HashMap::new(),
        };
        let schema_name = session.schema.clone();
        let client = session
            .client()
            .map_err(|source| crate::postgresql::error(OPERATION, "connect", source))?;
        if !read_only {
            outside_runtime(|| schema::ensure(client, schema_name.as_deref()))
                .map_err(|source| crate::postgresql::error(OPERATION, "ensure schema", source))?;
        }
        Ok(session)
    }

    /// This session's name in change announcements.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The connection settings, for a second connection (the listener).
    pub(crate) fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// The schema the URL named, if any.
    pub(crate) fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// True when the session refuses writes.
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The client, connecting first when there is none (at open, or after a loss).
    pub(crate) fn client(&mut self) -> Result<&mut Client, postgres::Error> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.forget_client();
        }
        match &mut self.client {
            Some(client) => Ok(client),
            slot @ None => {
                let config = &self.config;
                let mut client = outside_runtime(|| config.connect(NoTls))?;
                // PostgreSQL accepts a schema that does not exist yet in the path;
                // `schema::ensure` creates it at open.
                let mut setup = self.schema.as_deref().map_or_else(String::new, |schema| {
                    format!("SET search_path TO {};", quote_identifier(schema))
                });
                setup.push_str("SET store.origin = '");
                setup.push_str(&self.origin);
                setup.push_str("';");
                if self.read_only {
                    setup.push_str("SET default_transaction_read_only = on;");
                }
                if !setup.is_empty() {
                    outside_runtime(|| client.batch_execute(&setup))?;
                }
                Ok(slot.insert(client))
            }
        }
    }

    /// Drops the client and its statements, so that the next call connects again.
    fn forget_client(&mut self) {
        if let Some(client) = self.client.take() {
            outside_runtime(move || drop(client));
        }
        self.statements.clear();
    }

    /// After a failed statement: forgets a client whose connection is gone.
    pub(crate) fn after_error(&mut self, error: &postgres::Error) {
        if crate::postgresql::is_connection_lost(error) {
            self.forget_client();
        }
    }

    /// The statement for `sql`, prepared once per client.
    fn prepared(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let client = self.client()?;
        let statement = outside_runtime(|| client.prepare(sql))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Runs `work` with the client and `sql` prepared, forgetting a lost client.
    fn on_statement<T: Send>(
        &mut self,
        sql: &'static str,
        work: impl FnOnce(&mut Client, &Statement) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, postgres::Error> {
        let outcome = self.prepared(sql).and_then(|statement| {
            let client = self.client()?;
            outside_runtime(|| work(client, &statement))
        });
        if let Err(error) = &outcome {
            self.after_error(error);
        }
        outcome
    }

    /// Every row `sql` returns.
    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        self.on_statement(sql, |client, statement| client.query(statement, params))
    }

    /// The row `sql` returns, if any (an error if it returns more than one).
    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        self.on_statement(sql, |client, statement| client.query_opt(statement, params))
    }

    /// The one row `sql` returns.
    pub(crate) fn query_one(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Row, postgres::Error> {
        self.on_statement(sql, |client, statement| client.query_one(statement, params))
    }

    /// Runs `sql`; returns how many rows it changed.
    pub(crate) fn execute(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        self.on_statement(sql, |client, statement| client.execute(statement, params))
    }

    /// Runs statements that take no parameters (`BEGIN`, `COMMIT`, savepoints).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        let outcome = self
            .client()
            .and_then(|client| outside_runtime(|| client.batch_execute(sql)));
        if let Err(error) = &outcome {
            self.after_error(error);
        }
        outcome
    }

    /// `BEGIN`, then the store's advisory lock: the transaction runs alone among the
    /// store's serialised work on every server (see the module docs of `postgres`).
    pub(crate) fn begin_serialised(&mut self) -> Result<(), postgres::Error> {
        self.batch("BEGIN")?;
        if let Err(error) = crate::postgresql::entries::lock_store(self) {
            self.rollback();
            return Err(error);
        }
        Ok(())
    }

    /// `COMMIT`. A failure leaves nothing committed (PostgreSQL rolls back), and a lost
    /// connection is forgotten.
    pub(crate) fn commit(&mut self) -> Result<(), postgres::Error> {
        self.batch("COMMIT")
    }

    /// `ROLLBACK`, best effort: a connection that is gone has rolled back already.
    pub(crate) fn rollback(&mut self) {
        if let Some(client) = &mut self.client {
            if let Err(error) = outside_runtime(|| client.batch_execute("ROLLBACK")) {
                self.after_error(&error);
            }
        }
    }

    /// Ends the session.
    pub(crate) fn close(mut self) -> Result<(), postgres::Error> {
        self.statements.clear();
        match self.client.take() {
            Some(client) => outside_runtime(move || client.close()),
            None => Ok(()),
        }
    }
}

/// A random name for a session: 16 hex digits (from the clock and process id should the
/// system's random source fail, which only has to differ between live sessions).
fn random_origin() -> String {
    let mut bytes = [0_u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let low = u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or(0);
        let mixed = low ^ (u64::from(std::process::id()) << 32);
        bytes = mixed.to_le_bytes();
    }
    u64::from_le_bytes(bytes).to_string()
}

/// The URL without our `schema` parameter, and the schema it named.
fn split_schema(url: &str) -> Result<(String, Option<String>), Error> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("schema", name)) => {
                if !is_valid_schema(name) {
                    return Err(Error::invalid_input(
                        "store.open",
                        format!(
                            "invalid schema {name:?} in the PostgreSQL URL: use 1 to 63 ASCII letters, digits and '_', not starting with a digit"
                        ),
                    ));
                }
                schema = Some(name.to_owned());
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, schema))
}

impl Drop for PgSession {
    /// Drops the client where it may block (see [`outside_runtime`]).
    fn drop(&mut self) {
        self.forget_client();
    }
}

/// A schema name we accept: a plain SQL identifier, so it needs no escaping anywhere.
fn is_valid_schema(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// `"name"`: a validated identifier, quoted so that its case is kept.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_schema_good_takes_our_parameter_and_keeps_the_rest() {
        let (url, schema) =
            split_schema("postgres://u@h/db?connect_timeout=5&schema=tenant_a").unwrap();
        assert_eq!(url, "postgres://u@h/db?connect_timeout=5");
        assert_eq!(schema.as_deref(), Some("tenant_a"));
        let (url, schema) = split_schema("postgres://u@h/db").unwrap();
        assert_eq!((url.as_str(), schema), ("postgres://u@h/db", None));
    }

    #[test]
    fn split_schema_bad_refuses_names_that_need_quoting() {
        for name in ["", "1abc", "a-b", "a\"b", &"x".repeat(64)] {
            let error = split_schema(&format!("postgres://u@h/db?schema={name}")).unwrap_err();
            assert!(
                error.to_string().starts_with("store.open: invalid schema"),
                "{error}"
            );
        }
    }
}
