//! The journal's durable outbox for InfluxDB, and how a batch of it is shipped.
//!
//! Every point committed while [`StoreConfig::journal`](crate::StoreConfig::journal) is set
//! gets a `journal_outbox` row in the same SQLite transaction as its journal row, so a
//! point can never be committed without being queued, and nothing queued is lost while
//! InfluxDB is down, slow or restarting, or when the program stops. A background thread,
//! woken by each commit, sends the queued points in batches of InfluxDB line protocol and
//! deletes their outbox rows only after InfluxDB answers 2xx. Connection errors, timeouts,
//! 408, 429 and 5xx are retried with capped exponential backoff; any other answer is
//! permanent for that batch: its rows are marked failed (kept, with the error) and
//! reported by [`Store::stats`](crate::Store::stats), never retried in a loop.
//!
//! Nothing here runs while the connection lock is held except short reads and writes of
//! the outbox, so shipping never blocks or slows a commit.
//!
//! Within one store, a point is sent once unless InfluxDB's answer is lost (a timeout
//! or a dropped connection after the server stored the batch), which is inherent in
//! at-least-once delivery. The batch lock keeps the shipper, `flush_journal` and `close`
//! from sending the same rows at once, and the answer to a request is settled even when
//! `close` began while it was in flight (`Access::settle`): before that, the rows of a
//! batch acknowledged during close stayed queued and close's last attempt sent them a
//! second time. Two processes (or two `Store`s) shipping the same file's outbox at the
//! same moment can still both send a row: the lock is per store, not a claim in the
//! file.
//!
//! **On PostgreSQL** several servers ship one outbox, so the claim is in the database:
//! each batch is read with `FOR UPDATE SKIP LOCKED` inside a transaction that stays open
//! while the request is in flight and, once InfluxDB has answered, deletes (or puts off,
//! or marks failed) exactly the rows it claimed before it commits. No two servers ever
//! send the same row at the same time; a row goes out twice only when an answer is lost
//! (the claiming server died or its connection broke after InfluxDB stored the batch),
//! as with any at-least-once delivery. That transaction runs on a connection of the
//! outbox's own ([`PgShipping`]), opened at the first batch, so that a request in flight
//! never holds the store's connection and commits go on meanwhile.

use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use crate::config::JournalConfig;
use crate::error::{Error, Result};
use crate::pipeline::influx::{agent, Agent, SendFailure, Target};
use crate::pipeline::line_protocol::line;
use crate::pipeline::point::{parse_object, to_json, StoredPoint};
use crate::postgresql::journal as pg;
use crate::postgresql::session::PgSession;
use crate::sqlite::connection::Database;
use crate::sqlite::sql::{now_ms, text};
use crate::sync::lock;

/// The operation named by errors of the background shipper.
const BACKGROUND: &str = "store.ship";
pub(crate) const FLUSH: &str = "store.flush_journal";
const CLOSE: &str = "store.close";

/// At most this many points in one request (InfluxDB's recommended batch size).
const MAX_BATCH_POINTS: usize = 5_000;
/// At most this many bytes of line protocol in one request.
const MAX_BATCH_BYTES: usize = 1 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The last attempt at close, and how long close waits for a request in flight: together
/// they bound close when the server has gone.
const CLOSE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const CLOSE_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
pub(crate) const CLOSE_WAIT_FOR_SHIPPER: Duration = Duration::from_secs(2);
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A `Retry-After` beyond this is taken as this: a confused server must not park the
/// outbox for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);
/// How long the shipper waits after the outbox itself could not be read or written.
const DATABASE_RETRY: Duration = Duration::from_secs(1);
/// On PostgreSQL, how soon the shipper looks again when every pending row is claimed by
/// another server's batch in flight: that server settles them itself, and should it die
/// its claim ends with its connection and the rows are this server's to ship.
const CLAIMED_RECHECK: Duration = Duration::from_secs(2);

/// The due pending rows with their points, oldest first. A `LEFT JOIN`, so that an outbox
/// row whose journal row has gone (removed by another program) is found and dropped.
const SQL_DUE: &str = "SELECT o.entry_id, o.attempts, j.bucket_name, j.measurement,
        j.fields_json, j.tags_json, j.committed_at
    FROM journal_outbox AS o LEFT JOIN journal_entries AS j ON j.entry_id = o.entry_id
    WHERE o.failed_at IS NULL AND o.next_attempt_at <= ?1
    ORDER BY o.entry_id LIMIT ?2";
/// The id lists are bound as one JSON array, so a batch of 5,000 is one statement.
const SQL_DELETE: &str =
    "DELETE FROM journal_outbox WHERE entry_id IN (SELECT value FROM json_each(?1))";
const SQL_RETRY_LATER: &str = "UPDATE journal_outbox
    SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
    WHERE entry_id IN (SELECT value FROM json_each(?1))";
const SQL_FAIL: &str = "UPDATE journal_outbox
    SET attempts = attempts + 1, failed_at = ?2, last_error = ?3
    WHERE entry_id IN (SELECT value FROM json_each(?1))";
const SQL_NEXT_DUE: &str =
    "SELECT MIN(next_attempt_at) FROM journal_outbox WHERE failed_at IS NULL";
const SQL_INSERT_OUTBOX: &str = "INSERT INTO journal_outbox (entry_id) VALUES (?1)";

/// Queues a just-inserted journal row for shipping, inside the caller's transaction.
pub(crate) fn queue_point(connection: &Connection, entry_id: i64) -> rusqlite::Result<()> {
    connection
        .prepare_cached(SQL_INSERT_OUTBOX)?
        .execute([entry_id])
        .map(|_| ())
}

/// Everything a store with a journal configured keeps for shipping: where to, the
/// HTTP agent, the batch lock and the last failure. The thread that ships on its own is
/// `background::shipper`; this is what it, `flush_journal` and `close` call.
pub(crate) struct Outbox {
    target: Target,
    agent: Agent,
    /// Held while one batch is read, sent and settled, so that `flush_journal`, the
    /// shipper and `close` never send the same row at the same time.
    batch: Mutex<Shipping>,
    /// The most recent failure since open; cleared by the next batch InfluxDB accepts.
    last_error: Mutex<Option<String>>,
}

/// What the batch lock guards: for a PostgreSQL store, the outbox's own session.
struct Shipping {
    postgres: Option<PgShipping>,
}

/// The outbox's connection to PostgreSQL, opened at the first batch and kept (it
/// reconnects after a loss like every session). The claim transaction of a batch stays
/// open on it while the request to InfluxDB is in flight, which the store's own
/// connection, shared by every call, must not do.
pub(crate) struct PgShipping {
    url: String,
    session: Option<PgSession>,
}

impl PgShipping {
    /// The session, opened on first use; errors name `operation`.
    fn session(&mut self, operation: &'static str) -> Result<&mut PgSession> {
        match &mut self.session {
            Some(session) => Ok(session),
            slot @ None => {
                let session = PgSession::open(&self.url, false).map_err(|error| match error {
                    Error::Postgres {
                        context, source, ..
                    } => Error::Postgres {
                        operation,
                        context: format!("open the outbox's connection: {context}"),
                        source,
                    },
                    other => other,
                })?;
                Ok(slot.insert(session))
            }
        }
    }
}

impl Outbox {
    /// The outbox of a store with `journal` configured; `postgres_url` is the store's URL
    /// when it lives in PostgreSQL.
    pub(crate) fn new(journal: &JournalConfig, postgres_url: Option<String>) -> Outbox {
        Outbox {
            target: Target::new(journal),
            agent: agent(CONNECT_TIMEOUT, REQUEST_TIMEOUT),
            batch: Mutex::new(Shipping {
                postgres: postgres_url.map(|url| PgShipping { url, session: None }),
            }),
            last_error: Mutex::new(None),
        }
    }

    /// Makes one last bounded attempt to ship what is pending. Called by close after the
    /// store is marked closed and the shipper stopped, before the connection closes.
    pub(crate) fn close(&self, database: &Database) {
        // A request still in flight (the shipper's, or a flush on another thread) holds
        // the batch lock: wait a little for its answer to be settled (see
        // `Access::settle`), but not for the whole request timeout.
        let Some(mut guard) = self.batch_lock_within(CLOSE_WAIT_FOR_SHIPPER) else {
            log::warn!("{CLOSE}: a request to InfluxDB is still in flight; not waiting");
            return;
        };
        let agent = agent(CLOSE_CONNECT_TIMEOUT, CLOSE_REQUEST_TIMEOUT);
        let deadline = Instant::now() + CLOSE_REQUEST_TIMEOUT;
        while Instant::now() < deadline {
            match self.ship_batch_locked(&mut guard, database, Access::Closing, &agent, Due::All) {
                Ok(Batch::Shipped(_) | Batch::Dropped) => {}
                Ok(Batch::Empty) => break,
                Err(failure) => {
                    log::warn!(
                        "{}; the points stay queued for the next open",
                        failure.error
                    );
                    break;
                }
            }
        }
        // The outbox's own PostgreSQL connection ends with the store.
        let session = guard
            .postgres
            .as_mut()
            .and_then(|postgres| postgres.session.take());
        if let Some(session) = session {
            if let Err(error) = session.close() {
                log::warn!(
                    "{CLOSE}: close the outbox's connection: PostgreSQL: {}",
                    crate::postgresql::describe(&error)
                );
            }
        }
    }

    /// Ships every pending point now, batch by batch, ignoring any backoff; how many
    /// points InfluxDB acknowledged (`Store::flush_journal`).
    pub(crate) fn flush(&self, database: &Database) -> Result<usize> {
        let mut shipped = 0;
        loop {
            match self.ship_batch(database, Access::Open(FLUSH), Due::All) {
                Ok(Batch::Shipped(points)) => shipped += points,
                Ok(Batch::Dropped) => {}
                Ok(Batch::Empty) => return Ok(shipped),
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// The batch lock, if it comes free within `wait` (polled: `Mutex` has no timed lock).
    fn batch_lock_within(&self, wait: Duration) -> Option<MutexGuard<'_, Shipping>> {
        let deadline = Instant::now() + wait;
        loop {
            match self.batch.try_lock() {
                Ok(guard) => return Some(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return Some(poisoned.into_inner())
                }
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => return None,
            }
        }
    }

    /// The most recent export failure since open, if no batch has been accepted since.
    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    fn record_outcome(&self, error: Option<String>) {
        *lock(&self.last_error) = error;
    }

    /// Ships one batch: reads it, sends it and settles its rows, under the batch lock.
    fn ship_batch(
        &self,
        database: &Database,
        access: Access,
        due: Due,
    ) -> Result<Batch, Box<Failure>> {
        let mut guard = lock(&self.batch);
        self.ship_batch_locked(&mut guard, database, access, &self.agent, due)
    }

    fn ship_batch_locked(
        &self,
        shipping: &mut Shipping,
        database: &Database,
        access: Access,
        agent: &Agent,
        due: Due,
    ) -> Result<Batch, Box<Failure>> {
        let now = now_ms();
        let due_before = match due {
            Due::Now => now,
            Due::All => i64::MAX,
        };
        if let Some(postgres) = shipping.postgres.as_mut() {
            return self.ship_claimed(postgres, access.operation(), agent, due_before, now);
        }
        let rows = access.run(database, "read the export outbox", |connection| {
            read_due(connection, due_before)
        })?;
        let Some(batch) = PreparedBatch::from_rows(rows) else {
            return Ok(Batch::Empty);
        };
        if batch.body.is_empty() {
            access.run(database, "drop unsendable points", |connection| {
                delete_rows(connection, &batch.dropped)
            })?;
            return Ok(Batch::Dropped);
        }
        let sent = self.target.send(agent, &batch.bucket, &batch.body);
        self.settle(database, access, &batch, sent, now)
    }

    /// Records what InfluxDB answered: rows removed, put off, or marked failed.
    fn settle(
        &self,
        database: &Database,
        access: Access,
        batch: &PreparedBatch,
        sent: Result<(), SendFailure>,
        now: i64,
    ) -> Result<Batch, Box<Failure>> {
        let verdict = Verdict::of(batch, sent, now);
        // Settled even when close has begun since the request went out: see
        // `Access::settle`.
        access.settle(database, verdict.context(), |connection| {
            let transaction = immediate(connection)?;
            let ids = to_json(&batch.sent);
            match &verdict {
                Verdict::Delivered => delete_rows(&transaction, &batch.sent)?,
                Verdict::RetryLater {
                    next_attempt_at,
                    summary,
                    ..
                } => {
                    transaction
                        .prepare_cached(SQL_RETRY_LATER)?
                        .execute(params![ids, next_attempt_at, summary])?;
                }
                Verdict::Failed { summary, .. } => {
                    transaction
                        .prepare_cached(SQL_FAIL)?
                        .execute(params![ids, now, summary])?;
                }
            }
            delete_rows(&transaction, &batch.dropped)?;
            transaction.commit()
        })?;
        self.conclude(verdict, access.operation(), batch)
    }

    /// Reports a settled batch: the count InfluxDB acknowledged, or its failure; and
    /// keeps the outcome for `Store::stats`.
    fn conclude(
        &self,
        verdict: Verdict,
        operation: &'static str,
        batch: &PreparedBatch,
    ) -> Result<Batch, Box<Failure>> {
        match verdict {
            Verdict::Delivered => {
                self.record_outcome(None);
                Ok(Batch::Shipped(batch.sent.len()))
            }
            Verdict::RetryLater {
                wait,
                summary,
                failure,
                ..
            } => {
                self.record_outcome(Some(summary));
                Err(Box::new(Failure {
                    error: failure.into_error(operation, batch.sent.len()),
                    retry_at: Some(Instant::now() + wait),
                }))
            }
            Verdict::Failed { summary, failure } => {
                self.record_outcome(Some(summary));
                Err(Box::new(Failure {
                    error: failure.into_error(operation, batch.sent.len()),
                    retry_at: None,
                }))
            }
        }
    }

    /// One batch on PostgreSQL: claims the due rows in a transaction on the outbox's own
    /// session, sends them with that transaction open, records the answer and commits;
    /// any failure of the database rolls back, which ends the claim (see the module
    /// docs).
    fn ship_claimed(
        &self,
        postgres: &mut PgShipping,
        operation: &'static str,
        agent: &Agent,
        due_before: i64,
        now: i64,
    ) -> Result<Batch, Box<Failure>> {
        let session = postgres.session(operation)?;
        let failed = |context: &'static str| {
            move |source: postgres::Error| crate::postgresql::error(operation, context, source)
        };
        session
            .batch("BEGIN")
            .map_err(failed("read the export outbox"))?;
        let outcome = self.ship_claimed_in(session, operation, agent, due_before, now);
        if outcome.is_err() {
            session.rollback();
        }
        outcome?
    }

    /// [`Outbox::ship_claimed`] inside its transaction: the outer error is the database's
    /// (the caller rolls back); the inner result is the batch's, the transaction ended.
    fn ship_claimed_in(
        &self,
        session: &mut PgSession,
        operation: &'static str,
        agent: &Agent,
        due_before: i64,
        now: i64,
    ) -> Result<Result<Batch, Box<Failure>>> {
        let failed = |context: &'static str| {
            move |source: postgres::Error| crate::postgresql::error(operation, context, source)
        };
        let limit = i64::try_from(MAX_BATCH_POINTS).unwrap_or(i64::MAX);
        let rows = pg::claim_due(session, due_before, limit)
            .map_err(failed("read the export outbox"))?
            .into_iter()
            .map(|row| DueRow {
                entry_id: row.entry_id,
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                point: row.point,
            })
            .collect();
        let Some(batch) = PreparedBatch::from_rows(rows) else {
            session.rollback();
            return Ok(Ok(Batch::Empty));
        };
        if batch.body.is_empty() {
            pg::delete_rows(session, &batch.dropped).map_err(failed("drop unsendable points"))?;
            session.commit().map_err(failed("drop unsendable points"))?;
            return Ok(Ok(Batch::Dropped));
        }
        let sent = self.target.send(agent, &batch.bucket, &batch.body);
        let verdict = Verdict::of(&batch, sent, now);
        let context = verdict.context();
        match &verdict {
            Verdict::Delivered => pg::delete_rows(session, &batch.sent),
            Verdict::RetryLater {
                next_attempt_at,
                summary,
                ..
            } => pg::retry_later(session, &batch.sent, *next_attempt_at, summary),
            Verdict::Failed { summary, .. } => pg::fail_rows(session, &batch.sent, now, summary),
        }
        .and_then(|()| pg::delete_rows(session, &batch.dropped))
        .and_then(|()| session.commit())
        .map_err(failed(context))?;
        Ok(self.conclude(verdict, operation, &batch))
    }

    /// When the shipper should look at the outbox again: `None` when nothing is pending,
    /// else the earliest time a pending row is due (on PostgreSQL, of the rows no other
    /// server has claimed; see [`CLAIMED_RECHECK`]).
    fn next_due(&self, database: &Database) -> Result<Option<Instant>> {
        let next_attempt_at = {
            let mut guard = lock(&self.batch);
            match guard.postgres.as_mut() {
                Some(postgres) => {
                    let session = postgres.session(BACKGROUND)?;
                    match pg::next_due(session).map_err(|source| {
                        crate::postgresql::error(BACKGROUND, "read the export outbox", source)
                    })? {
                        (Some(unclaimed), _) => Some(unclaimed),
                        (None, Some(_)) => {
                            return Ok(Some(Instant::now() + CLAIMED_RECHECK));
                        }
                        (None, None) => None,
                    }
                }
                None => database.with(BACKGROUND, "read the export outbox", |connection| {
                    connection.query_row(SQL_NEXT_DUE, [], |row| row.get::<_, Option<i64>>(0))
                })?,
            }
        };
        Ok(next_attempt_at.map(|next_attempt_at| {
            let wait = u64::try_from(next_attempt_at.saturating_sub(now_ms())).unwrap_or(0);
            Instant::now() + Duration::from_millis(wait)
        }))
    }

    /// What the shipper thread does when woken: ships every due batch, then says when to
    /// look again.
    pub(crate) fn ship_due(&self, database: &Database) -> NextRound {
        loop {
            let failure = match self.ship_batch(database, Access::Open(BACKGROUND), Due::Now) {
                Ok(Batch::Shipped(_) | Batch::Dropped) => continue,
                Ok(Batch::Empty) => break,
                Err(failure) => *failure,
            };
            match failure {
                Failure {
                    error: Error::Closed { .. },
                    ..
                } => return NextRound::Stop,
                Failure {
                    error,
                    retry_at: Some(retry_at),
                } => {
                    log::warn!("{error}");
                    return NextRound::Paused(retry_at);
                }
                // A permanent refusal has marked its rows failed; the rest may still go.
                Failure {
                    error: error @ Error::Export { .. },
                    retry_at: None,
                } => log::warn!("{error}"),
                Failure { error, .. } => {
                    log::warn!("{error}; retrying in {DATABASE_RETRY:?}");
                    return NextRound::Paused(Instant::now() + DATABASE_RETRY);
                }
            }
        }
        match self.next_due(database) {
            Ok(None) => NextRound::Idle,
            Ok(Some(due)) => NextRound::At(due),
            Err(Error::Closed { .. }) => NextRound::Stop,
            Err(error) => {
                log::warn!("{error}; retrying in {DATABASE_RETRY:?}");
                NextRound::Paused(Instant::now() + DATABASE_RETRY)
            }
        }
    }
}

/// The outcome of one batch that did not fail.
enum Batch {
    /// Nothing was pending.
    Empty,
    /// Only points with no field were pending; their rows were removed.
    Dropped,
    /// InfluxDB acknowledged this many points.
    Shipped(usize),
}

/// Which pending rows a batch may take.
#[derive(Clone, Copy)]
enum Due {
    /// Those whose backoff has expired (the shipper).
    Now,
    /// All of them (`flush_journal`, `close`).
    All,
}

/// How the outbox is reached: as a normal call, or by close after the store is marked
/// closed.
#[derive(Clone, Copy)]
enum Access {
    Open(&'static str),
    Closing,
}

impl Access {
    fn operation(self) -> &'static str {
        match self {
            Access::Open(operation) => operation,
            Access::Closing => CLOSE,
        }
    }

    fn run<T>(
        self,
        database: &Database,
        context: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        match self {
            Access::Open(operation) => database.with(operation, context, work),
            Access::Closing => database.with_while_closing(CLOSE, context, work),
        }
    }

    /// Records the answer to a request already sent, even when the store has been
    /// marked closed since (as long as its connection is still open).
    ///
    /// This is the fix for points reaching InfluxDB twice with nothing failing: the
    /// shipper (or a `flush_journal` on another thread) sent a batch, `close` marked the
    /// store closed while the request was in flight, and the 2xx that followed could not
    /// delete the rows because every normal access now answered `Closed`. Close's own
    /// last attempt, a moment later, read the same rows and sent them again (or the next
    /// open did). Close waits for the batch in flight before its last attempt and closes
    /// the connection only after it, so the acknowledgement lands first.
    fn settle<T>(
        self,
        database: &Database,
        context: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        database.with_while_closing(self.operation(), context, work)
    }
}

/// What InfluxDB's answer means for the rows of a batch.
enum Verdict {
    /// Accepted: the rows go.
    Delivered,
    /// A transient failure: the rows wait `wait`, until `next_attempt_at`.
    RetryLater {
        next_attempt_at: i64,
        wait: Duration,
        summary: String,
        failure: SendFailure,
    },
    /// A permanent refusal: the rows are kept, marked failed, never retried.
    Failed {
        summary: String,
        failure: SendFailure,
    },
}

impl Verdict {
    fn of(batch: &PreparedBatch, sent: Result<(), SendFailure>, now: i64) -> Verdict {
        match sent {
            Ok(()) => Verdict::Delivered,
            Err(failure) => {
                let summary = failure.summary();
                if failure.is_transient() {
                    let wait = backoff(batch.max_attempts.saturating_add(1), failure.retry_after);
                    Verdict::RetryLater {
                        next_attempt_at: now.saturating_add(millis(wait)),
                        wait,
                        summary,
                        failure,
                    }
                } else {
                    Verdict::Failed { summary, failure }
                }
            }
        }
    }

    /// What recording it is, for an error of the database.
    fn context(&self) -> &'static str {
        match self {
            Verdict::Delivered => "mark exported points",
            Verdict::RetryLater { .. } | Verdict::Failed { .. } => "record the export failure",
        }
    }
}

/// A batch that failed: the error to report and, for a transient failure, when to retry.
struct Failure {
    error: Error,
    retry_at: Option<Instant>,
}

/// The outbox itself could not be read or written.
impl From<Error> for Box<Failure> {
    fn from(error: Error) -> Box<Failure> {
        Box::new(Failure {
            error,
            retry_at: None,
        })
    }
}

/// What the shipper thread does next.
pub(crate) enum NextRound {
    /// Nothing pending: sleep until a point is committed.
    Idle,
    /// The earliest backoff expires then; a commit wakes it sooner.
    At(Instant),
    /// InfluxDB is unavailable: commits do not wake it before then.
    Paused(Instant),
    /// The store has closed.
    Stop,
}

/// One pending row as read from the outbox.
struct DueRow {
    entry_id: i64,
    attempts: u32,
    /// `None` when the journal row is missing.
    point: Option<StoredPoint>,
}

fn read_due(connection: &Connection, due_before: i64) -> rusqlite::Result<Vec<DueRow>> {
    let limit = i64::try_from(MAX_BATCH_POINTS).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(SQL_DUE)?;
    let rows = statement.query_map(params![due_before, limit], |row| {
        let bucket: Option<String> = row.get(2)?;
        let point = match bucket {
            None => None,
            Some(bucket) => Some(StoredPoint {
                entry_id: row.get(0)?,
                bucket,
                measurement: text(row, 3)?,
                fields_json: text(row, 4)?,
                tags_json: text(row, 5)?,
                committed_at: row.get(6)?,
            }),
        };
        Ok(DueRow {
            entry_id: row.get(0)?,
            attempts: u32::try_from(row.get::<_, i64>(1)?).unwrap_or(u32::MAX),
            point,
        })
    })?;
    rows.collect()
}

fn delete_rows(connection: &Connection, entry_ids: &[i64]) -> rusqlite::Result<()> {
    if !entry_ids.is_empty() {
        connection
            .prepare_cached(SQL_DELETE)?
            .execute([to_json(&entry_ids)])?;
    }
    Ok(())
}

fn immediate(connection: &Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Immediate)
}

/// One request's worth of points: one bucket, in `entry_id` order, within the limits.
struct PreparedBatch {
    bucket: String,
    body: String,
    /// The rows whose lines are in `body`.
    sent: Vec<i64>,
    /// Rows with nothing to send (no field, no measurement, or no journal row): removed
    /// from the outbox whatever InfluxDB answers.
    dropped: Vec<i64>,
    max_attempts: u32,
}

impl PreparedBatch {
    /// `None` when nothing is pending.
    fn from_rows(rows: Vec<DueRow>) -> Option<PreparedBatch> {
        let bucket = rows
            .iter()
            .find_map(|row| row.point.as_ref().map(|point| point.bucket.clone()));
        let mut batch = PreparedBatch {
            bucket: bucket.unwrap_or_default(),
            body: String::new(),
            sent: Vec::new(),
            dropped: Vec::new(),
            max_attempts: 0,
        };
        if rows.is_empty() {
            return None;
        }
        for row in rows {
            let Some(point) = row.point else {
                batch.dropped.push(row.entry_id);
                continue;
            };
            // Points of another bucket go in a later request.
            if point.bucket != batch.bucket {
                continue;
            }
            let fields = parse_object(&point.fields_json);
            let tags = parse_object(&point.tags_json);
            let Some(line) = line(&point.measurement, &tags, &fields, point.committed_at) else {
                batch.dropped.push(row.entry_id);
                continue;
            };
            if !batch.sent.is_empty() && batch.body.len() + line.len() > MAX_BATCH_BYTES {
                break;
            }
            batch.body.push_str(&line);
            batch.sent.push(row.entry_id);
            batch.max_attempts = batch.max_attempts.max(row.attempts);
        }
        Some(batch)
    }
}

/// How long to wait before attempt `attempts + 1`: a `Retry-After` (capped at an hour),
/// else 1 s doubling per attempt up to 300 s, with ±20 % jitter so that many stores do
/// not retry in step.
fn backoff(attempts: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(retry_after) = retry_after {
        return retry_after.min(MAX_RETRY_AFTER);
    }
    let exponent = attempts.saturating_sub(1).min(16);
    let base = INITIAL_BACKOFF
        .saturating_mul(1 << exponent)
        .min(MAX_BACKOFF);
    let mut random = [0_u8; 2];
    // Without randomness the backoff is still correct, only not spread.
    let spread = if getrandom::fill(&mut random).is_ok() {
        u32::from(u16::from_le_bytes(random)) % 401
    } else {
        200
    };
    // 800‰ to 1200‰ of the base.
    base * (800 + spread) / 1000
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The newest permanent failure recorded in the outbox, for `Store::stats`.
pub(crate) const SQL_LAST_FAILURE: &str = "SELECT last_error FROM journal_outbox
    WHERE failed_at IS NOT NULL ORDER BY failed_at DESC, entry_id DESC LIMIT 1";

pub(crate) fn last_recorded_failure(connection: &Connection) -> rusqlite::Result<Option<String>> {
    connection
        .prepare_cached(SQL_LAST_FAILURE)?
        .query_row([], |row| row.get::<_, Option<String>>(0))
        .optional()
        .map(Option::flatten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_good_doubles_with_jitter_and_caps() {
        for (attempts, base) in [(1_u32, 1_000_u64), (2, 2_000), (3, 4_000), (9, 256_000)] {
            let wait = u64::try_from(backoff(attempts, None).as_millis()).unwrap_or(0);
            assert!(
                (base * 8 / 10..=base * 12 / 10).contains(&wait),
                "{attempts}: {wait}"
            );
        }
        for attempts in [10, 40, u32::MAX] {
            let wait = backoff(attempts, None);
            assert!(wait >= Duration::from_secs(240) && wait <= Duration::from_secs(360));
        }
    }

    #[test]
    fn backoff_good_retry_after_wins_capped() {
        assert_eq!(
            backoff(5, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(1_000_000))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn prepared_batch_good_one_bucket_and_drops() {
        let row = |entry_id, bucket: &str, fields: &str| DueRow {
            entry_id,
            attempts: u32::try_from(entry_id).unwrap_or(0),
            point: Some(StoredPoint {
                entry_id,
                bucket: bucket.to_owned(),
                measurement: "m".to_owned(),
                fields_json: fields.to_owned(),
                tags_json: "{}".to_owned(),
                committed_at: 5,
            }),
        };
        let rows = vec![
            DueRow {
                entry_id: 1,
                attempts: 0,
                point: None,
            },
            row(2, "a", r#"{"v":1}"#),
            row(3, "b", r#"{"v":1}"#),
            row(4, "a", "{}"),
            row(5, "a", r#"{"v":2}"#),
        ];
        let batch = PreparedBatch::from_rows(rows).expect("a batch");
        assert_eq!(batch.bucket, "a");
        assert_eq!(batch.sent, [2, 5]);
        assert_eq!(batch.dropped, [1, 4]);
        assert_eq!(batch.max_attempts, 5);
        assert_eq!(batch.body, "m v=1i 5\nm v=2i 5\n");
        assert!(PreparedBatch::from_rows(Vec::new()).is_none());
    }
}
