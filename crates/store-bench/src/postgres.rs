//! The PostgreSQL mode (`--postgres URL`): the store opened on a `postgres://` URL against
//! raw calls of the `postgres` crate running the store's own SQL, in the same run.
//!
//! - **`set` and `get_hit` in the `postgres` column.** The store is opened on
//!   `URL?schema=bench_<pid>` with the benchmark's configuration (no background purge).
//!   The baseline `postgres` is one raw client on schema `bench_<pid>_raw`, created by
//!   opening a store on it, so that its tables, index, functions and change-announcing
//!   trigger are the store's by construction. The client runs the store's statements
//!   (copied below; a test checks them against the store's source), each prepared once and
//!   reused, with the session settings a store makes (`search_path`, `store.origin`), and
//!   returns the same owned `String`s. A store also keeps a second connection that
//!   `LISTEN`s on its schema's channel, so a store is opened on the raw schema as well and
//!   left listening while the clock runs: the server then does the same work for both
//!   sides, announcement delivery included, and the ratio is what the store's own code
//!   adds to a call.
//! - **`pg_norev`** (set only): a raw client on schema `bench_<pid>_norev` (also made by
//!   a store, also listened on) running the upsert of the PostgreSQL backend before
//!   revisions: one `INSERT … ON CONFLICT` into `entries`, no revision counter, no
//!   `entry_changes` row. The ratio against it is what revisions and the change history
//!   cost a write, as `rusqlite_norev` shows for SQLite.
//! - **`pg_concurrency`**: operations per second of set and of get with 1, 4 and 16
//!   clients, each a thread with its own store (one connection each, and its listener),
//!   against as many threads of raw `postgres` clients (each with a listening store beside
//!   it on the raw schema).
//!
//! The sides take turns operation by operation (the first of each turn rotating), each
//! operation timed on its own: over loopback every operation is a round trip between two
//! processes, and on a shared machine rounds of many operations (as `runner.rs` runs for
//! SQLite) let a burst of other work fall on one side only. And every side connects anew
//! at the start of each of `--rounds` segments (untimed), so that no side keeps one server
//! process for the whole run: on the shared 2-core machine one side's median get was
//! sometimes twice the other's for a whole run (either side's, in different runs), which
//! this makes rarer but has not removed (see BENCHMARKS.md). The data set is written into
//! every table a slice at a time in turn, then each is vacuumed and analysed. The schemas
//! are dropped before and after each measurement.

use std::ops::Range;
use std::path::Path;
use std::str::FromStr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use serde::{Deserialize, Serialize};
use store::{Durability, Store};

use crate::backend::{now_ms, store_config};
use crate::failure::{Context, Failure, Result};
use crate::keys::{permuted, DataSet};
use crate::report::{rounded, Comparison};
use crate::stats::Summary;
use crate::workloads::{Contents, Mode, Plan, Scale, Workload};

/// The name of the mode in the report's `durability` column.
pub const MODE: &str = "postgres";
/// The name of the subject under test.
const STORE: &str = "store";
/// The name of the raw baseline: the store's statements on a schema the store made.
pub const BASELINE: &str = "postgres";
/// The name of the raw upsert before revisions (set only).
pub const WITHOUT_REVISIONS: &str = "pg_norev";
/// The name of the concurrency workload.
pub const CONCURRENCY: &str = "pg_concurrency";
/// The client counts `pg_concurrency` measures.
pub const CLIENTS: [usize; 3] = [1, 4, 16];

// The store's statements on PostgreSQL, exactly as `crates/store/src/postgresql/entries.rs`
// writes them (`store::statements` has only SQLite's); the test `raw_sql_is_the_stores_sql`
// fails if the store's text changes. A set is one call of the store's write function,
// which takes the schema's revision counter, records the change in `entry_changes` and
// upserts the entry (`crates/store/src/postgresql/changes.rs`).
const SQL_GET: &str =
    "SELECT entry_value, expires_at FROM entries WHERE group_name = $1 AND entry_key = $2";
const SQL_UPSERT: &str = "SELECT store_upsert($1, $2, $3, $4, $5, $6)";

/// The PostgreSQL backend's upsert before revisions: `pg_norev` runs it on a table the
/// store made (whose `revision` column it leaves empty).
pub const SQL_UPSERT_WITHOUT_REVISION: &str =
    "INSERT INTO entries (group_name, entry_key, entry_value, value_is_text, expires_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (group_name, entry_key)
    DO UPDATE SET entry_value = excluded.entry_value, value_is_text = excluded.value_is_text,
        expires_at = excluded.expires_at";

/// Keys written into one table before the next table's turn (as in `runner.rs`).
const FILL_SLICE: usize = 1_000;

/// The most operations one client runs in one round of `pg_concurrency`: more rounds, each
/// on clients opened anew, let bursts of other work and the placement of processes fall
/// on both sides alike.
const CLIENT_ROUND_OPERATIONS: usize = 200;

/// The database the mode runs on, and the names of the schemas it uses there.
pub struct Target {
    /// The URL as given (no `schema` parameter).
    url: String,
    /// The store's schema; the raw clients' are this with `_raw` and `_norev` after it.
    schema: String,
}

impl Target {
    /// The database at `url`, with schemas named after this process.
    ///
    /// # Errors
    ///
    /// When the URL is not a `postgres://` URL the client can read, or already names a
    /// schema (the benchmark picks its own).
    pub fn new(url: &str) -> Result<Target> {
        Target::with_schema(url, format!("bench_{}", std::process::id()))
    }

    fn with_schema(url: &str, schema: String) -> Result<Target> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Failure::new(
                "--postgres needs a postgres:// or postgresql:// URL",
            ));
        }
        let query = url.split_once('?').map_or("", |(_, query)| query);
        if query.split('&').any(|pair| pair.starts_with("schema=")) {
            return Err(Failure::new(
                "the --postgres URL must not name a schema: the benchmark uses schemas of its own (bench_<pid>)",
            ));
        }
        postgres::Config::from_str(url).context("read the --postgres URL")?;
        Ok(Target {
            url: url.to_owned(),
            schema,
        })
    }

    /// The `postgres` baseline's schema.
    fn raw_schema(&self) -> String {
        format!("{}_raw", self.schema)
    }

    /// The `pg_norev` baseline's schema.
    fn norev_schema(&self) -> String {
        format!("{}_norev", self.schema)
    }

    /// Every schema, in the order of [`STORE`], [`BASELINE`], [`WITHOUT_REVISIONS`].
    fn schemas(&self) -> [String; 3] {
        [self.schema.clone(), self.raw_schema(), self.norev_schema()]
    }

    /// The URL a store opens to keep its tables in `schema`.
    fn store_url(&self, schema: &str) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}schema={schema}", self.url)
    }

    fn connect(&self) -> Result<Client> {
        Ok(postgres::Config::from_str(&self.url)?.connect(NoTls)?)
    }

    /// Runs `statement` once for each of `schemas`, with `{s}` standing for the quoted
    /// schema name. One statement per call: `VACUUM` cannot run in the implicit
    /// transaction of a string of several.
    fn on_schemas(&self, schemas: &[String], statement: &str) -> Result<()> {
        let mut client = self.connect()?;
        for schema in schemas {
            client.batch_execute(&statement.replace("{s}", &format!("\"{schema}\"")))?;
        }
        Ok(client.close()?)
    }

    fn drop_schemas(&self) -> Result<()> {
        self.on_schemas(&self.schemas(), "DROP SCHEMA IF EXISTS {s} CASCADE")
    }

    /// Fresh, empty schemas; dropped again when the returned guard goes.
    fn fresh(&self) -> Result<Schemas<'_>> {
        self.drop_schemas().context("drop old benchmark schemas")?;
        Ok(Schemas { target: self })
    }

    /// A store on `schema` (the store's own, or a raw one's, to listen there).
    fn open_store(&self, schema: &str) -> Result<Store> {
        // The benchmark's configuration (no background purge); the durability setting is
        // SQLite's and means nothing to PostgreSQL.
        Ok(Store::open_with(store_config(
            Path::new(&self.store_url(schema)),
            Durability::Full,
        ))?)
    }

    /// A raw client on `schema`, which a store creates first (with the store's tables,
    /// index, functions and trigger), then closes.
    fn open_raw(&self, schema: &str, upsert: &'static str) -> Result<RawClient> {
        self.open_store(schema)?.close()?;
        RawClient::connect(self, schema, upsert)
    }
}

/// Drops the benchmark's schemas when a measurement ends, whether or not it succeeded.
struct Schemas<'a> {
    target: &'a Target,
}

impl Drop for Schemas<'_> {
    fn drop(&mut self) {
        if let Err(failure) = self.target.drop_schemas() {
            eprintln!(
                "store-bench: could not drop the schemas {}: {failure}",
                self.target.schemas().join(", ")
            );
        }
    }
}

/// What the timed operations ask of each side.
trait Subject {
    fn set(&mut self, group: &str, key: &str, value: &str) -> Result<()>;
    fn get(&mut self, group: &str, key: &str) -> Result<Option<String>>;
    /// Writes keys `range` of the data set in one transaction, untimed.
    fn fill(&mut self, data: &DataSet, range: Range<usize>) -> Result<()>;
}

impl Subject for Store {
    fn set(&mut self, group: &str, key: &str, value: &str) -> Result<()> {
        Ok(Store::set(self, group, key, value)?)
    }

    fn get(&mut self, group: &str, key: &str) -> Result<Option<String>> {
        match Store::get(self, group, key) {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn fill(&mut self, data: &DataSet, range: Range<usize>) -> Result<()> {
        Ok(self.transaction(|transaction| {
            for index in range {
                transaction.set(data.group_of(index), data.key(index), data.value())?;
            }
            Ok(())
        })?)
    }
}

/// One `postgres` client running the store's read and an upsert, each prepared once.
struct RawClient {
    client: Client,
    schema: String,
    upsert: Statement,
    /// Whether `upsert` is the store's (which takes the writer's clock as a sixth
    /// parameter) rather than the one before revisions.
    has_revisions: bool,
    get: Statement,
}

impl RawClient {
    /// Connects as a store session does: the schema first in `search_path`, and a name in
    /// `store.origin` (which the trigger writes into each announcement).
    fn connect(target: &Target, schema: &str, upsert: &'static str) -> Result<RawClient> {
        let mut client = target.connect()?;
        let origin = (1_u64 << 63) | u64::from(std::process::id());
        client.batch_execute(&format!(
            "SET search_path TO \"{schema}\"; SET store.origin = '{origin}';"
        ))?;
        let prepared = client.prepare(upsert)?;
        let get = client.prepare(SQL_GET)?;
        Ok(RawClient {
            client,
            schema: schema.to_owned(),
            upsert: prepared,
            has_revisions: upsert == SQL_UPSERT,
            get,
        })
    }

    /// The upsert of a text value with no expiry, as `Store::set` binds it.
    fn upsert_on(
        client: &mut impl postgres::GenericClient,
        statement: &Statement,
        has_revisions: bool,
        (group, key, value): (&str, &str, &str),
    ) -> Result<()> {
        let (group, key, value) = (group.as_bytes(), key.as_bytes(), value.as_bytes());
        let expires_at: Option<i64> = None;
        if has_revisions {
            let now = now_ms();
            let params: [&(dyn ToSql + Sync); 6] = [&group, &key, &value, &true, &expires_at, &now];
            client.execute(statement, &params)?;
        } else {
            let params: [&(dyn ToSql + Sync); 5] = [&group, &key, &value, &true, &expires_at];
            client.execute(statement, &params)?;
        }
        Ok(())
    }

    /// Replaces the connection with a new one, set up and prepared the same way.
    fn reconnect(&mut self, target: &Target) -> Result<()> {
        let upsert = if self.has_revisions {
            SQL_UPSERT
        } else {
            SQL_UPSERT_WITHOUT_REVISION
        };
        let fresh = RawClient::connect(target, &self.schema, upsert)?;
        std::mem::replace(self, fresh).close()
    }

    fn close(self) -> Result<()> {
        Ok(self.client.close()?)
    }
}

impl Subject for RawClient {
    fn set(&mut self, group: &str, key: &str, value: &str) -> Result<()> {
        RawClient::upsert_on(
            &mut self.client,
            &self.upsert,
            self.has_revisions,
            (group, key, value),
        )
    }

    fn get(&mut self, group: &str, key: &str) -> Result<Option<String>> {
        let Some(row) = self
            .client
            .query_opt(&self.get, &[&group.as_bytes(), &key.as_bytes()])?
        else {
            return Ok(None);
        };
        let value: Vec<u8> = row.try_get(0)?;
        let expires_at: Option<i64> = row.try_get(1)?;
        if expires_at.is_some_and(|at| at <= now_ms()) {
            return Ok(None);
        }
        Ok(Some(String::from_utf8(value)?))
    }

    fn fill(&mut self, data: &DataSet, range: Range<usize>) -> Result<()> {
        let mut transaction = self.client.transaction()?;
        for index in range {
            let row = (data.group_of(index), data.key(index), data.value());
            RawClient::upsert_on(&mut transaction, &self.upsert, self.has_revisions, row)?;
        }
        Ok(transaction.commit()?)
    }
}

/// The operations the mode measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    /// `set` of a new key, as the `set` workload.
    Set,
    /// `get` of an existing key, as the `get_hit` workload.
    Get,
}

impl Operation {
    /// The operation of a workload of the registry, if the mode runs it.
    fn of(workload: &str) -> Option<Operation> {
        match workload {
            "set" => Some(Operation::Set),
            "get_hit" => Some(Operation::Get),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Operation::Set => "set",
            Operation::Get => "get",
        }
    }

    /// Operation number `index`: key `permuted(index)`, as in `workloads.rs`.
    fn run(self, subject: &mut dyn Subject, data: &DataSet, index: usize) -> Result<()> {
        let key = permuted(index, data.len());
        match self {
            Operation::Set => subject.set(data.group_of(key), data.key(key), data.value()),
            Operation::Get => match subject.get(data.group_of(key), data.key(key))? {
                Some(_) => Ok(()),
                None => Err(Failure::new(format!("key {} is missing", data.key(key)))),
            },
        }
    }
}

/// Whether the mode runs `workload`.
#[must_use]
pub fn runs(workload: &Workload) -> bool {
    Operation::of(workload.name).is_some()
}

/// The size of a workload in this mode: every key once, as in `normal`. (A tenth, as in
/// `full`, was too few operations to average out a shared machine's noise.)
fn plan_of(workload: &Workload, scale: Scale) -> Plan {
    (workload.plan)(scale, Mode::Normal)
}

/// Writes the data set into every side's tables, a slice at a time in turn, the first of
/// each turn rotating (as `runner.rs` does); then vacuums and analyses those tables, so
/// that autovacuum meets none of them while the clock runs.
fn fill_all(
    target: &Target,
    subjects: &mut [(&'static str, &mut dyn Subject)],
    data: &DataSet,
) -> Result<()> {
    let count = subjects.len();
    let mut start = 0;
    let mut turn = 0;
    while start < data.len() {
        let end = (start + FILL_SLICE).min(data.len());
        for offset in 0..count {
            let (name, subject) = &mut subjects[(turn + offset) % count];
            subject.fill(data, start..end).context(*name)?;
        }
        start = end;
        turn += 1;
    }
    let schemas = target.schemas();
    target.on_schemas(
        schemas.get(..count).unwrap_or(&schemas),
        "VACUUM ANALYZE {s}.entries, {s}.entry_changes",
    )
}

fn nanoseconds(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.duration_since(from).as_nanos()).unwrap_or(u64::MAX)
}

/// Operations `start..end` on one side, one clock read each after the first (as in
/// `runner.rs`).
fn timed(
    subject: &mut dyn Subject,
    operation: Operation,
    data: &DataSet,
    operations: Range<usize>,
    latencies: &mut Vec<u64>,
) -> Result<()> {
    let mut last = Instant::now();
    for index in operations {
        operation.run(subject, data, index)?;
        let now = Instant::now();
        latencies.push(nanoseconds(last, now));
        last = now;
    }
    Ok(())
}

/// The sides of a point measurement: the store, the raw baseline, and for set the upsert
/// before revisions.
struct Sides {
    store: Store,
    raw: RawClient,
    norev: Option<RawClient>,
}

impl Sides {
    fn open(target: &Target, with_norev: bool) -> Result<Sides> {
        let store = target.open_store(&target.schema).context(STORE)?;
        let raw = target
            .open_raw(&target.raw_schema(), SQL_UPSERT)
            .context(BASELINE)?;
        let norev = if with_norev {
            Some(
                target
                    .open_raw(&target.norev_schema(), SQL_UPSERT_WITHOUT_REVISION)
                    .context(WITHOUT_REVISIONS)?,
            )
        } else {
            None
        };
        Ok(Sides { store, raw, norev })
    }

    /// Each side with its name, in report order.
    fn each(&mut self) -> Vec<(&'static str, &mut dyn Subject)> {
        let mut sides: Vec<(&'static str, &mut dyn Subject)> =
            vec![(STORE, &mut self.store), (BASELINE, &mut self.raw)];
        if let Some(norev) = &mut self.norev {
            sides.push((WITHOUT_REVISIONS, norev));
        }
        sides
    }

    /// Every side on new connections (so, on the server, new backend processes).
    fn reconnect(&mut self, target: &Target) -> Result<()> {
        self.store.close().context(STORE)?;
        self.store = target.open_store(&target.schema).context(STORE)?;
        self.raw.reconnect(target).context(BASELINE)?;
        if let Some(norev) = &mut self.norev {
            norev.reconnect(target).context(WITHOUT_REVISIONS)?;
        }
        Ok(())
    }

    fn close(self) -> Result<()> {
        self.store.close().context(STORE)?;
        self.raw.close().context(BASELINE)?;
        match self.norev {
            Some(norev) => norev.close().context(WITHOUT_REVISIONS),
            None => Ok(()),
        }
    }
}

/// `workload` (`set` or `get_hit`) on the store against raw `postgres` calls (and, for
/// set, the upsert before revisions), taking turns operation by operation, every side
/// connecting anew at the start of each of `segments` (untimed); the comparisons, none for
/// a workload the mode does not run.
///
/// # Errors
///
/// When the server cannot be reached, or a side fails to open or run.
pub fn measure_point(
    workload: &Workload,
    target: &Target,
    scale: Scale,
    segments: usize,
) -> Result<Vec<Comparison>> {
    let Some(operation) = Operation::of(workload.name) else {
        return Ok(Vec::new());
    };
    let plan = plan_of(workload, scale);
    let data = DataSet::new(plan.keys, plan.groups);
    let schemas = target.fresh()?;
    let mut sides = Sides::open(target, operation == Operation::Set)?;
    if workload.contents == Contents::DataSet {
        fill_all(target, &mut sides.each(), &data)?;
    }
    // Listening on the raw schemas as the store's own listener does on the store's.
    let listened = if sides.norev.is_some() { 2 } else { 1 };
    let listeners = [target.raw_schema(), target.norev_schema()][..listened]
        .iter()
        .map(|schema| target.open_store(schema))
        .collect::<Result<Vec<_>>>()
        .context("a listening store")?;
    let count = sides.each().len();
    let mut latencies = vec![Vec::with_capacity(plan.operations); count];
    let segments = segments.clamp(1, plan.operations.max(1));
    for segment in 0..segments {
        // Also after the fill: the store's listener then has no announcements of it left
        // to read while the clock runs.
        sides.reconnect(target)?;
        let mut each = sides.each();
        let start = plan.operations * segment / segments;
        for index in start..plan.operations * (segment + 1) / segments {
            for turn in 0..count {
                let side = (index + turn) % count;
                let (name, subject) = &mut each[side];
                timed(
                    *subject,
                    operation,
                    &data,
                    index..index + 1,
                    &mut latencies[side],
                )
                .context(*name)?;
            }
        }
    }
    let names: Vec<&'static str> = sides.each().iter().map(|(name, _)| *name).collect();
    for listening in listeners {
        listening.close().context("a listening store")?;
    }
    sides.close()?;
    drop(schemas);
    let mut summaries = names
        .into_iter()
        .zip(&mut latencies)
        .filter_map(|(name, latencies)| Some((name, Summary::of(latencies)?)));
    let Some((_, store_summary)) = summaries.next() else {
        return Ok(Vec::new());
    };
    Ok(summaries
        .map(|(name, summary)| Comparison::new(workload.name, MODE, &store_summary, name, &summary))
        .collect())
}

/// Throughput of one operation with some clients, store against raw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConcurrencyFigure {
    /// Always `pg_concurrency`.
    pub workload: String,
    /// Concurrent clients, each a thread with its own store or raw client.
    pub clients: usize,
    /// `set` (of new keys) or `get` (of existing keys).
    pub operation: String,
    /// Always `postgres`.
    pub durability: String,
    /// Operations each side ran, in all.
    pub operations: usize,
    /// The stores' operations per second, all clients together (wall-clock time).
    pub ops_per_sec: u64,
    /// Always `postgres` (raw clients).
    pub baseline: String,
    /// The raw clients' operations per second, all together.
    pub baseline_ops_per_sec: u64,
    /// The stores' time per operation over the raw clients' (`baseline_ops_per_sec /
    /// ops_per_sec`); below 1 the store is faster.
    pub ratio: f64,
}

/// The header of the concurrency table.
#[must_use]
pub fn concurrency_header() -> String {
    format!(
        "{CONCURRENCY}: throughput with concurrent clients, each a thread with its own store or raw client\n{:<9} {:>7} {:>12} {:>14} {:>8}\n{}",
        "operation",
        "clients",
        "store op/s",
        "postgres op/s",
        "ratio",
        "-".repeat(54)
    )
}

/// One row of the concurrency table.
#[must_use]
pub fn concurrency_row(figure: &ConcurrencyFigure) -> String {
    format!(
        "{:<9} {:>7} {:>12} {:>14} {:>7.3}×",
        figure.operation,
        figure.clients,
        figure.ops_per_sec,
        figure.baseline_ops_per_sec,
        figure.ratio
    )
}

/// Runs `work(client, index)` on every client at once, each on a thread of its own, and
/// returns the wall-clock time from their release to the last one's end.
fn at_once<S: Send>(
    clients: &mut [S],
    work: impl Fn(&mut S, usize) -> Result<()> + Sync,
) -> Result<Duration> {
    // The threads wait for the gate (held for writing until all are started), so that
    // none starts early and a thread that fails to start leaves none waiting for ever.
    let gate = RwLock::new(());
    std::thread::scope(|scope| {
        let closed = gate.write();
        let mut handles = Vec::with_capacity(clients.len());
        let mut outcome = Ok(());
        for (index, client) in clients.iter_mut().enumerate() {
            let (gate, work) = (&gate, &work);
            let spawned = std::thread::Builder::new()
                .name(format!("client-{index}"))
                .spawn_scoped(scope, move || {
                    drop(gate.read());
                    work(client, index)
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    outcome = Err(Failure::from(error).within("start a client thread"));
                    break;
                }
            }
        }
        drop(closed);
        let started = Instant::now();
        for handle in handles {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err(Failure::new("a client thread panicked")));
            if outcome.is_ok() {
                outcome = result;
            }
        }
        outcome.map(|()| started.elapsed())
    })
}

#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
#[allow(clippy::cast_sign_loss)] // a rate, rounded to whole operations
fn per_second(operations: usize, elapsed: Duration) -> u64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        (operations as f64 / seconds).round() as u64
    } else {
        u64::MAX
    }
}

/// One operation with `clients` clients: both sides in `rounds` interleaved rounds, each
/// round a share of the operations spread evenly over the clients, on clients opened
/// anew for each round (untimed; see the module docs).
fn measure_clients(
    target: &Target,
    operation: Operation,
    clients: usize,
    data: &DataSet,
    scale: Scale,
    rounds: usize,
) -> Result<ConcurrencyFigure> {
    // Every key once, as in the point workloads (at least one per client per round).
    let total = scale.keys;
    let rounds = rounds
        .max(total / (clients * CLIENT_ROUND_OPERATIONS))
        .clamp(1, (total / clients).max(1));
    let share = (total / rounds / clients).max(1);
    let mut elapsed = [Duration::ZERO; 2];
    for round in 0..rounds {
        let mut opened = Clients::open(target, clients)?;
        let (stores, raws) = (&mut opened.stores, &mut opened.raws);
        let first = round * share * clients;
        let work = |subject: &mut dyn Subject, client: usize| {
            let start = first + client * share;
            for index in start..start + share {
                operation.run(subject, data, index)?;
            }
            Ok(())
        };
        for turn in 0..2 {
            if (round + turn) % 2 == 0 {
                elapsed[0] +=
                    at_once(stores, |store, client| work(store, client)).context(STORE)?;
            } else {
                elapsed[1] += at_once(raws, |raw, client| work(raw, client)).context(BASELINE)?;
            }
        }
        opened.close()?;
    }
    let operations = rounds * share * clients;
    let (store_rate, raw_rate) = (
        per_second(operations, elapsed[0]),
        per_second(operations, elapsed[1]),
    );
    #[allow(clippy::cast_precision_loss)] // rates far below 2^52
    let ratio = if store_rate > 0 {
        rounded(raw_rate as f64 / store_rate as f64, 3)
    } else {
        f64::INFINITY
    };
    Ok(ConcurrencyFigure {
        workload: CONCURRENCY.to_owned(),
        clients,
        operation: operation.as_str().to_owned(),
        durability: MODE.to_owned(),
        operations,
        ops_per_sec: store_rate,
        baseline: BASELINE.to_owned(),
        baseline_ops_per_sec: raw_rate,
        ratio,
    })
}

/// The clients of one round, freshly opened (so that no listener has announcements of
/// earlier work still to read): `clients` stores, as many raw clients,
/// and as many stores listening on the raw schema, one beside each raw client as each
/// store has its own listener.
struct Clients {
    stores: Vec<Store>,
    raws: Vec<RawClient>,
    listeners: Vec<Store>,
}

impl Clients {
    fn open(target: &Target, clients: usize) -> Result<Clients> {
        let stores = (0..clients)
            .map(|_| target.open_store(&target.schema))
            .collect::<Result<Vec<_>>>()
            .context(STORE)?;
        let raws = (0..clients)
            .map(|_| RawClient::connect(target, &target.raw_schema(), SQL_UPSERT))
            .collect::<Result<Vec<_>>>()
            .context(BASELINE)?;
        let listeners = (0..clients)
            .map(|_| target.open_store(&target.raw_schema()))
            .collect::<Result<Vec<_>>>()
            .context("a listening store")?;
        Ok(Clients {
            stores,
            raws,
            listeners,
        })
    }

    fn close(self) -> Result<()> {
        for store in self.stores.into_iter().chain(self.listeners) {
            store.close().context(STORE)?;
        }
        for raw in self.raws {
            raw.close().context(BASELINE)?;
        }
        Ok(())
    }
}

/// `pg_concurrency`: set (of new keys: both sides' tables are emptied before each client
/// count) and get (of the data set's keys) with 1, 4 and 16 clients. Each round opens
/// clients of its own, so that with one client one store listens on each schema.
///
/// # Errors
///
/// When the server cannot be reached, or a client fails to open or run.
pub fn measure_concurrency(
    target: &Target,
    scale: Scale,
    rounds: usize,
) -> Result<Vec<ConcurrencyFigure>> {
    let data = DataSet::new(scale.keys, 100);
    let schemas = target.fresh()?;
    target.open_store(&target.schema)?.close().context(STORE)?;
    target
        .open_raw(&target.raw_schema(), SQL_UPSERT)
        .and_then(RawClient::close)
        .context(BASELINE)?;
    let both = &target.schemas()[..2];
    let empty = "TRUNCATE {s}.entries, {s}.entry_changes";
    let mut figures = Vec::new();
    for operation in [Operation::Set, Operation::Get] {
        if operation == Operation::Get {
            // Written by one store and one raw client, closed before the clients open.
            let mut store = target.open_store(&target.schema).context(STORE)?;
            let mut raw =
                RawClient::connect(target, &target.raw_schema(), SQL_UPSERT).context(BASELINE)?;
            target.on_schemas(both, empty)?;
            fill_all(
                target,
                &mut [(STORE, &mut store), (BASELINE, &mut raw)],
                &data,
            )?;
            store.close().context(STORE)?;
            raw.close().context(BASELINE)?;
        }
        for clients in CLIENTS {
            eprintln!(
                "store-bench: {CONCURRENCY} {} with {clients} clients",
                operation.as_str()
            );
            if operation == Operation::Set {
                target.on_schemas(both, empty)?;
            }
            let figure = measure_clients(target, operation, clients, &data, scale, rounds)
                .context(format!("{} with {clients} clients", operation.as_str()))?;
            figures.push(figure);
        }
    }
    drop(schemas);
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads;

    /// The store's PostgreSQL statements, read from its source when this test is built.
    const STORE_SOURCE: &str = include_str!("../../store/src/postgresql/entries.rs");

    /// The text of the string constant `name` in `source`.
    fn constant<'s>(source: &'s str, name: &str) -> Option<&'s str> {
        let (_, rest) = source.split_once(&format!("const {name}: &str ="))?;
        let rest = rest.trim_start().strip_prefix('"')?;
        rest.split_once("\";").map(|(text, _)| text)
    }

    #[test]
    fn raw_sql_is_the_stores_sql() {
        for (name, sql) in [("SQL_GET", SQL_GET), ("SQL_UPSERT", SQL_UPSERT)] {
            assert_eq!(
                constant(STORE_SOURCE, name),
                Some(sql),
                "{name} differs from crates/store/src/postgresql/entries.rs"
            );
        }
    }

    #[test]
    fn target_good_names_the_schemas() -> Result<()> {
        let target = Target::with_schema("postgres://u@h/db", "bench_7".to_owned())?;
        assert_eq!(
            target.store_url("bench_7"),
            "postgres://u@h/db?schema=bench_7"
        );
        assert_eq!(
            target.schemas(),
            ["bench_7", "bench_7_raw", "bench_7_norev"].map(str::to_owned)
        );
        let target = Target::with_schema("postgres://u@h/db?connect_timeout=5", "b".to_owned())?;
        assert_eq!(
            target.store_url("b_raw"),
            "postgres://u@h/db?connect_timeout=5&schema=b_raw"
        );
        Ok(())
    }

    #[test]
    fn target_bad_refuses_a_schema_or_a_file() {
        for url in ["postgres://u@h/db?schema=mine", "/tmp/store.db", ""] {
            assert!(Target::new(url).is_err(), "{url}");
        }
    }

    #[test]
    fn operation_good_maps_set_and_get_hit_only() {
        let runs_by_name = |name: &str| workloads::find(name).is_some_and(runs);
        assert!(runs_by_name("set") && runs_by_name("get_hit"));
        assert!(!runs_by_name("get_miss") && !runs_by_name("delete"));
    }

    #[test]
    fn concurrency_line_good_has_workload_then_clients() -> serde_json::Result<()> {
        let figure = ConcurrencyFigure {
            workload: CONCURRENCY.to_owned(),
            clients: 4,
            operation: "set".to_owned(),
            durability: MODE.to_owned(),
            operations: 1_000,
            ops_per_sec: 900,
            baseline: BASELINE.to_owned(),
            baseline_ops_per_sec: 1_000,
            ratio: 1.111,
        };
        let line = crate::report::json_line(&figure)?;
        assert!(
            line.starts_with(r#"{"workload":"pg_concurrency","clients":4,"operation":"set","#),
            "{line}"
        );
        assert!(concurrency_row(&figure).contains("1.111×"));
        Ok(())
    }

    /// The database `STORE_TEST_POSTGRES` names, as the store's own tests use it; `None`
    /// (skip) without one, a failure in CI.
    fn test_target(name: &str) -> Option<Target> {
        let Ok(url) = std::env::var("STORE_TEST_POSTGRES") else {
            assert!(
                std::env::var("CI").is_err(),
                "STORE_TEST_POSTGRES is not set: in CI the PostgreSQL tests must run"
            );
            eprintln!("skipped: set STORE_TEST_POSTGRES to run the PostgreSQL tests");
            return None;
        };
        let schema = format!("bench_test_{}_{name}", std::process::id());
        Target::with_schema(&url, schema).ok()
    }

    /// The columns, indexes and triggers of `schema.entries`, its rows, and the changes
    /// recorded in `schema.entry_changes`.
    fn shape(client: &mut Client, schema: &str) -> Result<(String, String, String, i64, i64)> {
        let row = client.query_one(
            "SELECT (SELECT string_agg(column_name || ' ' || data_type, ', '
                    ORDER BY ordinal_position) FROM information_schema.columns
                    WHERE table_schema = $1 AND table_name = 'entries'),
                (SELECT string_agg(indexname, ', ' ORDER BY indexname) FROM pg_indexes
                    WHERE schemaname = $1 AND tablename = 'entries'),
                (SELECT string_agg(t.tgname, ', ' ORDER BY t.tgname) FROM pg_trigger t
                    JOIN pg_class c ON c.oid = t.tgrelid
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = $1 AND c.relname = 'entries' AND NOT t.tgisinternal)",
            &[&schema],
        )?;
        let count = |client: &mut Client, table: &str| -> Result<i64> {
            Ok(client
                .query_one(&format!("SELECT count(*) FROM \"{schema}\".{table}"), &[])?
                .try_get(0)?)
        };
        Ok((
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            count(client, "entries")?,
            count(client, "entry_changes")?,
        ))
    }

    #[test]
    fn raw_and_store_agree_on_postgres() -> Result<()> {
        let Some(target) = test_target("agree") else {
            return Ok(());
        };
        let schemas = target.fresh()?;
        let mut store = target.open_store(&target.schema)?;
        let mut raw = target.open_raw(&target.raw_schema(), SQL_UPSERT)?;
        let mut norev = target.open_raw(&target.norev_schema(), SQL_UPSERT_WITHOUT_REVISION)?;
        let data = DataSet::new(2_500, 10);
        fill_all(
            &target,
            &mut [
                (STORE, &mut store),
                (BASELINE, &mut raw),
                (WITHOUT_REVISIONS, &mut norev),
            ],
            &data,
        )?;
        for subject in [&mut store as &mut dyn Subject, &mut raw, &mut norev] {
            assert_eq!(
                subject.get(data.group_of(3), data.key(3))?.as_deref(),
                Some(data.value())
            );
            assert_eq!(subject.get("nowhere", "nothing")?, None);
            subject.set("g", "k", "v")?;
            subject.set("g", "k", "w")?;
            assert_eq!(subject.get("g", "k")?.as_deref(), Some("w"));
        }
        // Every side's tables are the store's; the store and `postgres` record every
        // change, the upsert before revisions none.
        let mut client = target.connect()?;
        let store_shape = shape(&mut client, &target.schema)?;
        assert_eq!(shape(&mut client, &target.raw_schema())?, store_shape);
        let norev_shape = shape(&mut client, &target.norev_schema())?;
        assert_eq!(
            (
                &norev_shape.0,
                &norev_shape.1,
                &norev_shape.2,
                norev_shape.3
            ),
            (
                &store_shape.0,
                &store_shape.1,
                &store_shape.2,
                store_shape.3
            )
        );
        assert_eq!(
            store_shape.2, "entries_notify",
            "the change-announcing trigger"
        );
        assert_eq!((store_shape.3, store_shape.4), (2_501, 2_502));
        assert_eq!(norev_shape.4, 0);
        store.close()?;
        raw.close()?;
        norev.close()?;
        drop(schemas);
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1)",
                &[&target.schemas().to_vec()],
            )?
            .try_get(0)?;
        assert_eq!(left, 0, "the schemas are dropped");
        Ok(())
    }

    #[test]
    fn postgres_mode_good_reports_every_figure() -> Result<()> {
        let Some(target) = test_target("mode") else {
            return Ok(());
        };
        let scale = Scale { keys: 320 };
        for name in ["set", "get_hit"] {
            let workload = workloads::find(name).ok_or_else(|| Failure::new(name))?;
            let baselines: Vec<(String, String)> = measure_point(workload, &target, scale, 2)?
                .into_iter()
                .map(|comparison| (comparison.durability, comparison.baseline))
                .collect();
            let mut expected = vec![(MODE.to_owned(), BASELINE.to_owned())];
            if name == "set" {
                expected.push((MODE.to_owned(), WITHOUT_REVISIONS.to_owned()));
            }
            assert_eq!(baselines, expected);
        }
        let figures = measure_concurrency(&target, scale, 2)?;
        let shape: Vec<(String, usize)> = figures
            .iter()
            .map(|figure| (figure.operation.clone(), figure.clients))
            .collect();
        let expected: Vec<(String, usize)> = ["set", "get"]
            .into_iter()
            .flat_map(|operation| CLIENTS.map(|clients| (operation.to_owned(), clients)))
            .collect();
        assert_eq!(shape, expected);
        assert!(figures
            .iter()
            .all(|figure| figure.operations >= figure.clients));
        Ok(())
    }
}
