//! The engine: what every clone of a store shares, below the public handles.
//!
//! It owns the connection (`sqlite::connection`), the event hub (`kv::events`), the
//! InfluxDB outbox (`pipeline::outbox`) and the background workers (`background`), and
//! it is the [`Backend`] of a plain store call: one lock per call, events delivered at
//! once. The background threads hold a `Weak<Engine>` inside the closure they are given,
//! so they never keep a dropped store alive and never rebuild a public handle.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::background::listener::ListenWorker;
use crate::background::purge::PurgeWorker;
use crate::background::shipper::Shipper;
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::kv::events::{Event, EventHub};
use crate::kv::operations::{Backend, Names, Operations, PURGE_BATCH};
use crate::kv::rows;
use crate::pipeline::outbox::{NextRound, Outbox};
use crate::pipeline::point::LOCAL_BUCKET;
use crate::pipeline::workspace_file::OrphanCache;
use crate::postgresql::notify::{self, Listener};
use crate::postgresql::session::PgSession;
use crate::sqlite::connection::Database;
use crate::sqlite::schema;
use crate::sqlite::sql::now_ms;
use crate::storage::{Conn, Link, StorageResult};
use crate::sync::lock;

/// How long the listener waits for announcements before it checks whether the store
/// closed; also the pause between two attempts to reconnect.
const LISTEN_WAIT: Duration = Duration::from_millis(100);
/// The pause after a failed attempt to connect the listener.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Where a PostgreSQL store's listener connects, and the name of the store's own session
/// (whose announcements it skips).
#[derive(Clone)]
struct ListenSource {
    config: postgres::Config,
    schema: Option<String>,
    origin: String,
}

/// One round of the listener thread, as a closure: wait up to [`LISTEN_WAIT`] for
/// announcements and deliver them; reconnect (at most once a [`LISTEN_RETRY`]) after the
/// connection was lost. False once the store has closed or been dropped.
fn listen_round(
    engine: Weak<Engine>,
    source: ListenSource,
    connected: Listener,
) -> impl FnMut() -> bool + Send {
    let mut listener = Some(connected);
    let mut next_attempt = Instant::now();
    move || {
        // The strong handle lives only for this check, so waiting keeps no store alive.
        if engine
            .upgrade()
            .is_none_or(|engine| engine.database.is_closed())
        {
            return false;
        }
        if listener.is_none() {
            if Instant::now() < next_attempt {
                std::thread::sleep(LISTEN_WAIT);
                return true;
            }
            match Listener::connect(&source.config, source.schema.as_deref()) {
                Ok(connected) => listener = Some(connected),
                Err(error) => {
                    log::warn!(
                        "store: the change listener cannot connect to PostgreSQL ({error}); retrying"
                    );
                    next_attempt = Instant::now() + LISTEN_RETRY;
                    return true;
                }
            }
        }
        let Some(active) = listener.as_mut() else {
            return true;
        };
        match active.next_payloads(LISTEN_WAIT) {
            Ok(payloads) if payloads.is_empty() => true,
            Ok(payloads) => match engine.upgrade() {
                Some(engine) => {
                    engine.deliver_announced(active, &source.origin, &payloads);
                    true
                }
                None => false,
            },
            Err(error) => {
                log::warn!("store: the change listener lost PostgreSQL ({error}); reconnecting");
                listener = None;
                true
            }
        }
    }
}

/// The operation named by errors of the background purge.
const BACKGROUND_PURGE: &str = "store.purge";

pub(crate) struct Engine {
    pub(crate) config: StoreConfig,
    pub(crate) database: Database,
    pub(crate) events: Arc<EventHub>,
    purge_worker: Mutex<Option<PurgeWorker>>,
    /// The InfluxDB outbox, when a journal is configured (§12).
    outbox: Option<Outbox>,
    shipper: Mutex<Option<Shipper>>,
    /// Where the listener connects, for a PostgreSQL store.
    listen_source: Option<ListenSource>,
    listener: Mutex<Option<ListenWorker>>,
    /// Workspace files found waiting at open (§13), held until recovered or closed.
    pub(crate) orphans: OrphanCache,
}

impl Engine {
    /// Opens the connection for an already validated and normalised `config`. The
    /// background workers start later, in [`Engine::start_background`], once the public
    /// handle has finished its recovery steps.
    pub(crate) fn open(config: StoreConfig) -> Result<Arc<Engine>> {
        let read_only = config.read_only;
        let mut listen_source = None;
        let (link, has_change_feed) = if crate::postgresql::is_url(&config.database_path) {
            let url = config.database_path.to_string_lossy();
            let session = PgSession::open(&url, read_only)?;
            listen_source = Some(ListenSource {
                config: session.config().clone(),
                schema: session.schema().map(str::to_owned),
                origin: session.origin().to_owned(),
            });
            (Link::Postgres(Box::new(RefCell::new(session))), true)
        } else {
            let schema::Opened {
                connection,
                has_change_feed,
            } = schema::open_connection(&config)?;
            (Link::Sqlite(connection), has_change_feed)
        };
        // Read-only: nothing that writes runs in the background (no purge, no shipping).
        // On PostgreSQL the outbox ships on a connection of its own (see `outbox`).
        let postgres_url = matches!(link, Link::Postgres(_))
            .then(|| config.database_path.to_string_lossy().into_owned());
        let outbox = if read_only {
            None
        } else {
            config
                .journal
                .as_ref()
                .map(|journal| Outbox::new(journal, postgres_url))
        };
        Ok(Arc::new(Engine {
            database: Database::new(link, read_only, has_change_feed),
            events: Arc::new(EventHub::default()),
            purge_worker: Mutex::new(None),
            outbox,
            shipper: Mutex::new(None),
            listen_source,
            listener: Mutex::new(None),
            orphans: OrphanCache::default(),
            config,
        }))
    }

    /// Starts the purge thread (unless the interval is zero or the store is read-only)
    /// and the InfluxDB shipper (when a journal is configured).
    pub(crate) fn start_background(self: &Arc<Engine>) -> Result<()> {
        let interval = self.config.purge_interval;
        if !interval.is_zero() && !self.config.read_only {
            let engine = Arc::downgrade(self);
            let worker = PurgeWorker::start(interval, move || {
                engine
                    .upgrade()
                    .is_some_and(|engine| engine.purge_in_background())
            })?;
            *lock(&self.purge_worker) = Some(worker);
        }
        if let Some(source) = &self.listen_source {
            // Listening before open returns: every change committed after open is
            // announced to this store, whichever server makes it.
            let listener =
                Listener::connect(&source.config, source.schema.as_deref()).map_err(|error| {
                    crate::postgresql::error("store.open", "listen for changes", error)
                })?;
            let worker =
                ListenWorker::start(listen_round(Arc::downgrade(self), source.clone(), listener))?;
            *lock(&self.listener) = Some(worker);
        }
        if self.outbox.is_some() {
            let engine: Weak<Engine> = Arc::downgrade(self);
            let shipper = Shipper::start(move || {
                let Some(engine) = engine.upgrade() else {
                    return NextRound::Stop;
                };
                match &engine.outbox {
                    Some(outbox) if !engine.database.is_closed() => {
                        outbox.ship_due(&engine.database)
                    }
                    _ => NextRound::Stop,
                }
                // `engine` drops here; if it was the last handle, the store closes on the
                // shipper thread, which `Shipper::stop` allows for.
            })?;
            *lock(&self.shipper) = Some(shipper);
        }
        Ok(())
    }

    /// The operations of a plain store call, with the error names given.
    pub(crate) fn operations(&self, names: &'static Names) -> Operations<'_, Engine> {
        Operations {
            backend: self,
            names,
            scope: None,
        }
    }

    /// The purge, then the WAL check of [`StoreConfig::wal_size_limit`]: maintenance
    /// that runs on request and from the background purge.
    pub(crate) fn purge_expired_as(
        &self,
        names: &'static Names,
        operation: &'static str,
    ) -> Result<u64> {
        let removed = self.operations(names).purge_expired_named(operation)?;
        self.prune_changes(operation)?;
        self.database.checkpoint_if_over(
            operation,
            &self.config.database_path,
            self.config.wal_size_limit,
        )?;
        Ok(removed)
    }

    /// Prunes the change history to [`StoreConfig::change_retention`], oldest first, in
    /// batches of [`PURGE_BATCH`] rows, letting queued callers in between; returns how
    /// many changes went.
    fn prune_changes(&self, operation: &'static str) -> Result<u64> {
        let retention = self.config.change_retention;
        if (retention.max_changes.is_none() && retention.max_age.is_none())
            || !self.database.has_change_feed()
        {
            return Ok(0);
        }
        let cutoff = retention
            .max_age
            .map(|age| now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
        let keep_from =
            self.database
                .with_link(operation, "read change history", |connection| {
                    rows::keep_from(connection, retention.max_changes, cutoff)
                })?;
        let mut total = 0_u64;
        loop {
            let removed =
                self.database
                    .with_link(operation, "prune change history", |connection| {
                        rows::prune_changes(connection, keep_from, PURGE_BATCH)
                    })?;
            total += removed as u64;
            if removed < PURGE_BATCH {
                return Ok(total);
            }
            self.database.yield_to_waiters();
        }
    }

    /// One background purge, run only while this store holds the purge lock (see
    /// `kv::rows::try_lock_purge`): of all the servers sharing a PostgreSQL database, one
    /// purges at a time, and the others find the lock taken and wait for their next
    /// interval.
    fn purge_holding_the_lock(&self) -> Result<u64> {
        use crate::kv::operations::STORE_NAMES;
        let locked = self.database.with_link(
            BACKGROUND_PURGE,
            "take the purge lock",
            rows::try_lock_purge,
        )?;
        if !locked {
            return Ok(0);
        }
        let purged = self.purge_expired_as(&STORE_NAMES, BACKGROUND_PURGE);
        // A lost connection has dropped the lock with it; otherwise give it back.
        let unlocked = self.database.with_link(
            BACKGROUND_PURGE,
            "give the purge lock back",
            rows::unlock_purge,
        );
        let purged = purged?;
        unlocked?;
        Ok(purged)
    }

    /// Delivers other sessions' announcements to this store's watchers and callbacks.
    fn deliver_announced(&self, listener: &mut Listener, own_origin: &str, payloads: &[String]) {
        if !self.events.has_listeners() {
            return;
        }
        for payload in payloads {
            let Some(announced) = notify::parse(payload) else {
                log::warn!("store: skipped a change announcement this version cannot read");
                continue;
            };
            if announced.origin == own_origin {
                continue;
            }
            let value = match announced.value {
                Some(value) => value,
                None => match listener.value_of(&announced.group, &announced.key) {
                    Ok(value) => value,
                    Err(error) => {
                        log::warn!("store: could not read an announced value ({error})");
                        continue;
                    }
                },
            };
            let event = Event::new(
                announced.kind,
                &announced.group,
                &announced.key,
                &String::from_utf8_lossy(&value),
            );
            // A panicking callback must not end the listener for the rest of the store's
            // life.
            if panic::catch_unwind(AssertUnwindSafe(|| self.events.dispatch(&event))).is_err() {
                log::warn!("store: a change callback panicked on an announced change");
            }
        }
    }

    /// One background purge; false when the store has closed and the thread should end.
    fn purge_in_background(&self) -> bool {
        // Purge events run callbacks on this thread; a panicking callback must not end
        // the purge for the rest of the store's life.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.purge_holding_the_lock()));
        match outcome {
            Ok(Ok(_)) => true,
            Ok(Err(Error::Closed { .. })) => false,
            Ok(Err(error)) => {
                log::warn!("{error}; retrying at the next interval");
                !self.database.is_closed()
            }
            Err(_) => {
                log::warn!(
                    "{BACKGROUND_PURGE}: a change callback panicked during the background purge"
                );
                !self.database.is_closed()
            }
        }
    }

    /// The bucket journal points are committed to: the configured InfluxDB bucket, or
    /// `store` when the journal stays local.
    pub(crate) fn journal_bucket(&self) -> String {
        self.config.journal.as_ref().map_or_else(
            || LOCAL_BUCKET.to_owned(),
            |journal| journal.bucket_name.clone(),
        )
    }

    /// True when points are queued for InfluxDB as they are committed.
    pub(crate) fn is_shipping(&self) -> bool {
        self.outbox.is_some()
    }

    /// Wakes the shipper after a transaction that queued points has committed.
    pub(crate) fn point_committed(&self) {
        if let Some(shipper) = lock(&self.shipper).as_ref() {
            shipper.wake();
        }
    }

    /// The outbox, when a journal is configured.
    pub(crate) fn outbox(&self) -> Option<&Outbox> {
        self.outbox.as_ref()
    }

    /// Closes the engine once: marks it closed, stops the purge and the shipper, makes
    /// the outbox's last bounded attempt, ends every watcher and closes the connection.
    /// False when it was already closed.
    pub(crate) fn close(&self) -> Result<bool> {
        if !self.database.mark_closed() {
            return Ok(false);
        }
        let worker = lock(&self.purge_worker).take();
        if let Some(worker) = worker {
            worker.stop();
        }
        let shipper = lock(&self.shipper).take();
        if let Some(shipper) = shipper {
            shipper.stop();
        }
        let listener = lock(&self.listener).take();
        if let Some(listener) = listener {
            listener.stop();
        }
        if let Some(outbox) = &self.outbox {
            outbox.close(&self.database);
        }
        self.events.close();
        self.orphans.close();
        self.database.close_connection().map(|()| true)
    }
}

/// A plain call takes the lock for its statements alone and delivers its events at once.
impl Backend for Engine {
    fn run<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T> {
        self.database.with_link(operation, context, work)
    }

    fn run_atomic<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T> {
        self.database.with_atomic_link(operation, context, work)
    }

    fn wants_events(&self) -> bool {
        self.events.has_listeners()
    }

    fn emit(&self, event: Event) {
        self.events.dispatch(&event);
    }

    fn yield_to_waiters(&self) {
        self.database.yield_to_waiters();
    }

    fn check_change_feed(&self, operation: &'static str) -> Result<()> {
        self.database.check_change_feed(operation)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            log::warn!("{error} (while dropping the last handle)");
        }
    }
}
