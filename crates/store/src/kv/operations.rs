//! The key-value operations, written once for every way of calling them.
//!
//! `Store`, `Transaction`, `ScopedStore` and `ScopedTransaction` expose the same methods.
//! They differ only in where a statement runs (a fresh lock per call, or the connection a
//! transaction holds), when events go out (at once, or after the commit), what the
//! operation is called in errors, and whether groups live inside a namespace. Those four
//! differences are the [`Backend`] and the fields of [`Operations`]; the logic is here.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use rusqlite::types::ValueRef;

use crate::error::{Error, QuotaLimit, Result};
use crate::kv::entries::{Expiry, KeyValue, Lookup};
use crate::kv::events::{Event, EventType};
use crate::kv::namespace::Scope;
use crate::kv::rows;
use crate::sqlite::sql::{self, now_ms};
use crate::storage::{Conn, StorageResult};
use crate::template;

/// How many expired rows one purge statement removes at most.
pub(crate) const PURGE_BATCH: usize = 500;

/// Where statements run and where events go.
pub(crate) trait Backend {
    /// Runs `work` on the connection; its failures become the crate's errors
    /// (`Error::Database` for SQLite, `Error::Postgres` for PostgreSQL).
    fn run<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T>;

    /// Like [`Backend::run`], with every statement of `work` committed together and
    /// serialised against all other such work (on every server, for PostgreSQL).
    fn run_atomic<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&mut Conn<'_>) -> StorageResult<T>,
    ) -> Result<T>;

    /// True when somebody listens, so building events is worth it.
    fn wants_events(&self) -> bool;

    /// Delivers (or, in a transaction, buffers) one event.
    fn emit(&self, event: Event);

    /// Between two steps of a long job (purge batches), lets callers queued for the
    /// connection go first. A transaction holds the connection throughout: nothing to do.
    fn yield_to_waiters(&self) {}

    /// Refuses `operation` when the file has no change history (see
    /// `Database::check_change_feed`).
    fn check_change_feed(&self, operation: &'static str) -> Result<()>;
}

/// The error names of one kind of caller, e.g. `store.scoped.get`.
pub(crate) struct Names {
    pub(crate) get: &'static str,
    pub(crate) exists: &'static str,
    pub(crate) set: &'static str,
    pub(crate) set_with_ttl: &'static str,
    pub(crate) delete: &'static str,
    pub(crate) delete_group: &'static str,
    pub(crate) delete_prefix: &'static str,
    pub(crate) group_exists: &'static str,
    pub(crate) count: &'static str,
    pub(crate) count_all: &'static str,
    pub(crate) get_all: &'static str,
    pub(crate) get_page: &'static str,
    pub(crate) all: &'static str,
    pub(crate) groups: &'static str,
    pub(crate) groups_iter: &'static str,
    pub(crate) get_split: &'static str,
    pub(crate) get_fields: &'static str,
    pub(crate) render: &'static str,
    pub(crate) purge_expired: &'static str,
    pub(crate) get_bytes: &'static str,
    pub(crate) set_bytes: &'static str,
    pub(crate) set_bytes_with_ttl: &'static str,
    pub(crate) increment: &'static str,
    pub(crate) ttl: &'static str,
    pub(crate) expire: &'static str,
    pub(crate) persist: &'static str,
    pub(crate) get_and_touch: &'static str,
    pub(crate) get_many: &'static str,
    pub(crate) set_many: &'static str,
    pub(crate) delete_many: &'static str,
    pub(crate) revision: &'static str,
    pub(crate) get_with_revision: &'static str,
    pub(crate) get_bytes_with_revision: &'static str,
    pub(crate) set_if: &'static str,
    pub(crate) set_bytes_if: &'static str,
    pub(crate) delete_if: &'static str,
    pub(crate) watch_from: &'static str,
}

macro_rules! names {
    ($prefix:literal) => {
        Names {
            get: concat!($prefix, "get"),
            exists: concat!($prefix, "exists"),
            set: concat!($prefix, "set"),
            set_with_ttl: concat!($prefix, "set_with_ttl"),
            delete: concat!($prefix, "delete"),
            delete_group: concat!($prefix, "delete_group"),
            delete_prefix: concat!($prefix, "delete_prefix"),
            group_exists: concat!($prefix, "group_exists"),
            count: concat!($prefix, "count"),
            count_all: concat!($prefix, "count_all"),
            get_all: concat!($prefix, "get_all"),
            get_page: concat!($prefix, "get_page"),
            all: concat!($prefix, "all"),
            groups: concat!($prefix, "groups"),
            groups_iter: concat!($prefix, "groups_iter"),
            get_split: concat!($prefix, "get_split"),
            get_fields: concat!($prefix, "get_fields"),
            render: concat!($prefix, "render"),
            purge_expired: concat!($prefix, "purge_expired"),
            get_bytes: concat!($prefix, "get_bytes"),
            set_bytes: concat!($prefix, "set_bytes"),
            set_bytes_with_ttl: concat!($prefix, "set_bytes_with_ttl"),
            increment: concat!($prefix, "increment"),
            ttl: concat!($prefix, "ttl"),
            expire: concat!($prefix, "expire"),
            persist: concat!($prefix, "persist"),
            get_and_touch: concat!($prefix, "get_and_touch"),
            get_many: concat!($prefix, "get_many"),
            set_many: concat!($prefix, "set_many"),
            delete_many: concat!($prefix, "delete_many"),
            revision: concat!($prefix, "revision"),
            get_with_revision: concat!($prefix, "get_with_revision"),
            get_bytes_with_revision: concat!($prefix, "get_bytes_with_revision"),
            set_if: concat!($prefix, "set_if"),
            set_bytes_if: concat!($prefix, "set_bytes_if"),
            delete_if: concat!($prefix, "delete_if"),
            watch_from: concat!($prefix, "watch_from"),
        }
    };
}

pub(crate) static STORE_NAMES: Names = names!("store.");
pub(crate) static TRANSACTION_NAMES: Names = names!("store.transaction.");
pub(crate) static SCOPED_NAMES: Names = names!("store.scoped.");
pub(crate) static SCOPED_TRANSACTION_NAMES: Names = names!("store.scoped.transaction.");

/// The operations of one caller: a backend, its error names, and an optional namespace.
pub(crate) struct Operations<'a, B> {
    pub(crate) backend: &'a B,
    pub(crate) names: &'static Names,
    pub(crate) scope: Option<&'a Scope>,
}

impl<B: Backend> Operations<'_, B> {
    /// The stored group name: the group itself, or `namespace:group` in a scope.
    fn stored<'g>(&self, group: &'g str) -> Cow<'g, str> {
        match self.scope {
            None => Cow::Borrowed(group),
            Some(scope) => Cow::Owned(scope.stored_group(group)),
        }
    }

    pub(crate) fn get(&self, group: &str, key: &str) -> Result<String> {
        self.get_named(self.names.get, group, key)
    }

    fn get_named(&self, operation: &'static str, group: &str, key: &str) -> Result<String> {
        let bytes = self.get_bytes_named(operation, group, key)?;
        into_text(operation, group, key, bytes)
    }

    /// The value's bytes, whether it was stored as text or bytes.
    pub(crate) fn get_bytes(&self, group: &str, key: &str) -> Result<Vec<u8>> {
        self.get_bytes_named(self.names.get_bytes, group, key)
    }

    fn get_bytes_named(&self, operation: &'static str, group: &str, key: &str) -> Result<Vec<u8>> {
        let stored = self.stored(group);
        let lookup = self.backend.run(operation, "read entry", |connection| {
            rows::lookup_bytes(connection, &stored, key)
        })?;
        match lookup {
            Lookup::Live(value) => Ok(value),
            Lookup::Missing | Lookup::Expired { was_deleted: false } => {
                Err(not_found(operation, group, key))
            }
            Lookup::Expired { was_deleted: true } => {
                if self.backend.wants_events() {
                    self.backend
                        .emit(Event::new(EventType::Expire, &stored, key, ""));
                }
                Err(not_found(operation, group, key))
            }
        }
    }

    pub(crate) fn exists(&self, group: &str, key: &str) -> Result<bool> {
        let stored = self.stored(group);
        self.backend
            .run(self.names.exists, "read entry", |connection| {
                rows::exists(connection, &stored, key)
            })
    }

    pub(crate) fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.upsert(
            self.names.set,
            group,
            key,
            ValueRef::Text(value.as_bytes()),
            None,
        )
    }

    pub(crate) fn set_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<()> {
        let expires_at = sql::expires_at(now_ms(), ttl);
        self.upsert(
            self.names.set_with_ttl,
            group,
            key,
            ValueRef::Text(value.as_bytes()),
            Some(expires_at),
        )
    }

    pub(crate) fn set_bytes(&self, group: &str, key: &str, value: &[u8]) -> Result<()> {
        self.upsert(
            self.names.set_bytes,
            group,
            key,
            ValueRef::Blob(value),
            None,
        )
    }

    pub(crate) fn set_bytes_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        let expires_at = sql::expires_at(now_ms(), ttl);
        self.upsert(
            self.names.set_bytes_with_ttl,
            group,
            key,
            ValueRef::Blob(value),
            Some(expires_at),
        )
    }

    fn upsert(
        &self,
        operation: &'static str,
        group: &str,
        key: &str,
        value: ValueRef<'_>,
        expires_at: Option<i64>,
    ) -> Result<()> {
        let stored = self.stored(group);
        match self.scope.filter(|scope| scope.has_quota()) {
            None => self.backend.run(operation, "write entry", |connection| {
                rows::upsert_value(connection, &stored, key, value, expires_at)
            })?,
            Some(scope) => {
                // The check and the write share one write-locked transaction, so no other
                // thread or process can slip a key in between them.
                let refused = self
                    .backend
                    .run_atomic(operation, "write entry", |connection| {
                        let refused = scope.refusal(connection, &stored, key)?;
                        if refused.is_none() {
                            rows::upsert_value(connection, &stored, key, value, expires_at)?;
                        }
                        Ok(refused)
                    })?;
                if let Some(limit) = refused {
                    return Err(scope.quota_error(operation, limit));
                }
            }
        }
        if self.backend.wants_events() {
            self.backend
                .emit(Event::new(EventType::Set, &stored, key, &event_text(value)));
        }
        Ok(())
    }

    pub(crate) fn delete(&self, group: &str, key: &str) -> Result<()> {
        let stored = self.stored(group);
        let removed = self
            .backend
            .run(self.names.delete, "delete entry", |connection| {
                rows::delete(connection, &stored, key)
            })?;
        if removed && self.backend.wants_events() {
            self.backend
                .emit(Event::new(EventType::Delete, &stored, key, ""));
        }
        Ok(())
    }

    pub(crate) fn delete_group(&self, group: &str) -> Result<()> {
        let stored = self.stored(group);
        let removed =
            self.backend
                .run_atomic(self.names.delete_group, "delete group", |connection| {
                    rows::delete_group(connection, &stored)
                })?;
        if removed && self.backend.wants_events() {
            self.backend
                .emit(Event::new(EventType::DeleteGroup, &stored, "", ""));
        }
        Ok(())
    }

    pub(crate) fn delete_prefix(&self, group_prefix: &str) -> Result<()> {
        let stored = self.stored(group_prefix);
        let groups =
            self.backend
                .run_atomic(self.names.delete_prefix, "delete groups", |connection| {
                    rows::delete_prefix(connection, &stored)
                })?;
        if self.backend.wants_events() {
            for group in &groups {
                self.backend
                    .emit(Event::new(EventType::DeleteGroup, group, "", ""));
            }
        }
        Ok(())
    }

    pub(crate) fn group_exists(&self, group: &str) -> Result<bool> {
        let stored = self.stored(group);
        let count = self
            .backend
            .run(self.names.group_exists, "count entries", |connection| {
                rows::count(connection, &stored)
            })?;
        Ok(count > 0)
    }

    pub(crate) fn count(&self, group: &str) -> Result<usize> {
        let stored = self.stored(group);
        self.backend
            .run(self.names.count, "count entries", |connection| {
                rows::count(connection, &stored)
            })
    }

    pub(crate) fn count_all(&self, group_prefix: &str) -> Result<usize> {
        let stored = self.stored(group_prefix);
        self.backend
            .run(self.names.count_all, "count entries", |connection| {
                rows::count_prefix(connection, &stored)
            })
    }

    pub(crate) fn get_all(&self, group: &str) -> Result<BTreeMap<String, String>> {
        self.get_all_named(self.names.get_all, group)
    }

    fn get_all_named(
        &self,
        operation: &'static str,
        group: &str,
    ) -> Result<BTreeMap<String, String>> {
        let stored = self.stored(group);
        self.backend.run(operation, "read group", |connection| {
            rows::get_all(connection, &stored)
        })
    }

    pub(crate) fn get_page(
        &self,
        group: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<KeyValue>> {
        let stored = self.stored(group);
        self.backend
            .run(self.names.get_page, "read page", |connection| {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                rows::get_page(connection, &stored, offset, limit)
            })
    }

    /// One page for `all`, after the key `after`.
    pub(crate) fn key_page(&self, group: &str, after: Option<&KeyValue>) -> Result<Vec<KeyValue>> {
        let stored = self.stored(group);
        self.backend.run(self.names.all, "read page", |connection| {
            rows::key_page(connection, &stored, after.map(|last| last.key.as_str()))
        })
    }

    pub(crate) fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        let stored = self.stored(group_prefix);
        let groups = self
            .backend
            .run(self.names.groups, "read groups", |connection| {
                rows::groups(connection, &stored)
            })?;
        Ok(self.local_groups(groups))
    }

    /// One page for `groups_iter`, after the local group name `after`.
    pub(crate) fn group_page(
        &self,
        group_prefix: &str,
        after: Option<&String>,
    ) -> Result<Vec<String>> {
        let stored_prefix = self.stored(group_prefix);
        let stored_after = after.map(|last| self.stored(last));
        let groups = self
            .backend
            .run(self.names.groups_iter, "read groups", |connection| {
                rows::group_page(connection, &stored_prefix, stored_after.as_deref())
            })?;
        Ok(self.local_groups(groups))
    }

    fn local_groups(&self, mut groups: Vec<String>) -> Vec<String> {
        if let Some(scope) = self.scope {
            for group in &mut groups {
                scope.strip_in_place(group);
            }
        }
        groups
    }

    pub(crate) fn get_split(&self, group: &str, key: &str, separator: &str) -> Result<Vec<String>> {
        let value = self.get_named(self.names.get_split, group, key)?;
        Ok(split(&value, separator))
    }

    pub(crate) fn get_fields(&self, group: &str, key: &str) -> Result<Vec<String>> {
        let value = self.get_named(self.names.get_fields, group, key)?;
        Ok(value.split_whitespace().map(str::to_owned).collect())
    }

    pub(crate) fn render(&self, template_source: &str, group: &str) -> Result<String> {
        let operation = self.names.render;
        let data = self.get_all_named(operation, group)?;
        template::render(template_source, &data).map_err(|error| Error::Template {
            operation,
            message: error.to_string(),
        })
    }

    /// Removes expired rows (of the namespace, in a scope) in batches of
    /// [`PURGE_BATCH`], each its own statement; returns how many.
    pub(crate) fn purge_expired(&self) -> Result<u64> {
        self.purge_expired_named(self.names.purge_expired)
    }

    pub(crate) fn purge_expired_named(&self, operation: &'static str) -> Result<u64> {
        let prefix = self.scope.map_or("", Scope::prefix);
        let cutoff = now_ms();
        let mut total = 0_u64;
        loop {
            let removed = self
                .backend
                .run(operation, "purge expired entries", |connection| {
                    rows::purge_batch(connection, prefix, cutoff, PURGE_BATCH)
                })?;
            total += removed.len() as u64;
            if self.backend.wants_events() {
                for (group, key) in &removed {
                    self.backend
                        .emit(Event::new(EventType::Expire, group, key, ""));
                }
            }
            if removed.len() < PURGE_BATCH {
                return Ok(total);
            }
            self.backend.yield_to_waiters();
        }
    }
}

/// What an `increment` found inside its transaction.
enum Increment {
    Done(i64),
    NotInteger,
    Overflow(i64),
    Refused(QuotaLimit),
}

/// Counters, expiry control and batches (issue 14).
impl<B: Backend> Operations<'_, B> {
    /// Adds `delta` to the integer value of a key in one write transaction (`BEGIN
    /// IMMEDIATE`), so concurrent increments from threads or processes never lose an
    /// update. A missing or expired key counts from 0 and is created with no expiry (after
    /// the quota check, in a namespace); a live key keeps its expiry, as Redis `INCR` does.
    pub(crate) fn increment(&self, group: &str, key: &str, delta: i64) -> Result<i64> {
        let operation = self.names.increment;
        let stored = self.stored(group);
        let quota = self.scope.filter(|scope| scope.has_quota());
        let outcome = self
            .backend
            .run_atomic(operation, "increment entry", |connection| {
                let (current, expires_at) = if let Some((bytes, expires_at)) =
                    rows::live_bytes(connection, &stored, key)?
                {
                    let Some(current) = parse_integer(&bytes) else {
                        return Ok(Increment::NotInteger);
                    };
                    (current, expires_at)
                } else {
                    if let Some(scope) = quota {
                        if let Some(limit) = scope.refusal(connection, &stored, key)? {
                            return Ok(Increment::Refused(limit));
                        }
                    }
                    (0, None)
                };
                let Some(next) = current.checked_add(delta) else {
                    return Ok(Increment::Overflow(current));
                };
                let text = next.to_string();
                rows::upsert_value(
                    connection,
                    &stored,
                    key,
                    ValueRef::Text(text.as_bytes()),
                    expires_at,
                )?;
                Ok(Increment::Done(next))
            })?;
        let invalid = |reason: String| Error::InvalidValue {
            operation,
            group: group.to_owned(),
            key: key.to_owned(),
            reason,
        };
        match outcome {
            Increment::Done(next) => {
                if self.backend.wants_events() {
                    self.backend
                        .emit(Event::new(EventType::Set, &stored, key, &next.to_string()));
                }
                Ok(next)
            }
            Increment::NotInteger => Err(invalid("not a decimal integer".to_owned())),
            Increment::Overflow(current) => Err(invalid(format!(
                "{current} + {delta} overflows a 64-bit signed integer"
            ))),
            Increment::Refused(limit) => Err(quota.map_or_else(
                || Error::invalid_input(operation, "quota"),
                |scope| scope.quota_error(operation, limit),
            )),
        }
    }

    /// The time a live key has left: `None` when it never expires.
    pub(crate) fn ttl(&self, group: &str, key: &str) -> Result<Option<Duration>> {
        let operation = self.names.ttl;
        let stored = self.stored(group);
        let expiry = self.backend.run(operation, "read expiry", |connection| {
            rows::expiry(connection, &stored, key)
        })?;
        match expiry {
            Expiry::Missing => Err(not_found(operation, group, key)),
            Expiry::Never => Ok(None),
            Expiry::At(expires_at) => {
                let left = u64::try_from(expires_at.saturating_sub(now_ms())).unwrap_or(0);
                Ok(Some(Duration::from_millis(left.max(1))))
            }
        }
    }

    /// Gives a live key a new expiry `ttl` from now without rewriting its value; false
    /// when there is no live key. Emits `Set` with the current value.
    pub(crate) fn expire(&self, group: &str, key: &str, ttl: Duration) -> Result<bool> {
        let stored = self.stored(group);
        let expires_at = sql::expires_at(now_ms(), ttl);
        let wants_events = self.backend.wants_events();
        let value = self
            .backend
            .run(self.names.expire, "write expiry", |connection| {
                rows::expire(connection, &stored, key, expires_at, wants_events)
            })?;
        self.emit_set(&stored, key, value.as_deref(), wants_events);
        Ok(value.is_some())
    }

    /// Removes a live key's expiry without rewriting its value; false when there is no
    /// live key or it had no expiry. Emits `Set` with the current value when it changed.
    pub(crate) fn persist(&self, group: &str, key: &str) -> Result<bool> {
        let stored = self.stored(group);
        let wants_events = self.backend.wants_events();
        let value = self
            .backend
            .run(self.names.persist, "write expiry", |connection| {
                rows::persist(connection, &stored, key, wants_events)
            })?;
        self.emit_set(&stored, key, value.as_deref(), wants_events);
        Ok(value.is_some())
    }

    /// `get` that also sets the key's expiry to `ttl` from now (a sliding expiry), in one
    /// statement. Emits `Set` with the value.
    pub(crate) fn get_and_touch(&self, group: &str, key: &str, ttl: Duration) -> Result<String> {
        let operation = self.names.get_and_touch;
        let stored = self.stored(group);
        let expires_at = sql::expires_at(now_ms(), ttl);
        let touched = self.backend.run(operation, "touch entry", |connection| {
            rows::expire(connection, &stored, key, expires_at, true)
        })?;
        let Some(bytes) = touched else {
            // Not live: the ordinary read reports it (and deletes an expired row).
            return self.get_named(operation, group, key);
        };
        let wants_events = self.backend.wants_events();
        self.emit_set(&stored, key, Some(&bytes), wants_events);
        into_text(operation, group, key, bytes)
    }

    fn emit_set(&self, stored: &str, key: &str, value: Option<&[u8]>, wants_events: bool) {
        if let (Some(value), true) = (value, wants_events) {
            self.backend.emit(Event::new(
                EventType::Set,
                stored,
                key,
                &String::from_utf8_lossy(value),
            ));
        }
    }

    /// The live values of `keys` in their order, `None` for a missing or expired key: one
    /// lock and one statement. Expired rows are left for the purge.
    pub(crate) fn get_many<K: AsRef<str>>(
        &self,
        group: &str,
        keys: &[K],
    ) -> Result<Vec<Option<String>>> {
        let operation = self.names.get_many;
        let stored = self.stored(group);
        let values = self.backend.run(operation, "read entries", |connection| {
            rows::get_many(connection, &stored, keys)
        })?;
        values
            .into_iter()
            .zip(keys)
            .map(|(value, key)| {
                value
                    .map(|bytes| into_text(operation, group, key.as_ref(), bytes))
                    .transpose()
            })
            .collect()
    }

    /// Writes every entry in one write transaction: all of them, or (on a quota refusal or
    /// a database failure) none. Emits `Set` for each after the commit.
    pub(crate) fn set_many<K: AsRef<str>, V: AsRef<str>>(
        &self,
        group: &str,
        pairs: &[(K, V)],
    ) -> Result<()> {
        let operation = self.names.set_many;
        let stored = self.stored(group);
        let quota = self.scope.filter(|scope| scope.has_quota());
        let refused = self
            .backend
            .run_atomic(operation, "write entries", |connection| {
                // A savepoint, so that a refusal inside a caller's transaction undoes the
                // entries of this batch already written, and nothing else.
                if quota.is_some() {
                    rows::batch(connection, "SAVEPOINT store_set_many")?;
                }
                for (key, value) in pairs {
                    let key = key.as_ref();
                    if let Some(scope) = quota {
                        if let Some(limit) = scope.refusal(connection, &stored, key)? {
                            rows::batch(
                                connection,
                                "ROLLBACK TO store_set_many; RELEASE store_set_many",
                            )?;
                            return Ok(Some((scope, limit)));
                        }
                    }
                    let value = ValueRef::Text(value.as_ref().as_bytes());
                    rows::upsert_value(connection, &stored, key, value, None)?;
                }
                if quota.is_some() {
                    rows::batch(connection, "RELEASE store_set_many")?;
                }
                Ok(None)
            })?;
        if let Some((scope, limit)) = refused {
            return Err(scope.quota_error(operation, limit));
        }
        if self.backend.wants_events() {
            for (key, value) in pairs {
                self.backend.emit(Event::new(
                    EventType::Set,
                    &stored,
                    key.as_ref(),
                    value.as_ref(),
                ));
            }
        }
        Ok(())
    }

    /// Removes every key of `keys` (live or expired) in one statement; returns how many
    /// rows went. Emits `Delete` for each after the commit.
    pub(crate) fn delete_many<K: AsRef<str>>(&self, group: &str, keys: &[K]) -> Result<usize> {
        let stored = self.stored(group);
        let removed =
            self.backend
                .run_atomic(self.names.delete_many, "delete entries", |connection| {
                    rows::delete_many(connection, &stored, keys)
                })?;
        if self.backend.wants_events() {
            for key in &removed {
                self.backend
                    .emit(Event::new(EventType::Delete, &stored, key, ""));
            }
        }
        Ok(removed.len())
    }
}

/// What a compare-and-set found inside its transaction.
enum Checked<'s> {
    Done(u64),
    Conflict(Option<u64>),
    Refused(&'s Scope, QuotaLimit),
}

/// Revisions and compare-and-set (issue 13).
impl<B: Backend> Operations<'_, B> {
    /// The newest revision of the whole file (every namespace): 0 before the first change.
    pub(crate) fn revision(&self) -> Result<u64> {
        let operation = self.names.revision;
        self.backend.check_change_feed(operation)?;
        self.backend
            .run(operation, "read revision", rows::latest_revision)
    }

    /// The live value of a key with the revision that last wrote it (0 for a row written
    /// before the file recorded revisions). An expired row is handled as `get` does.
    pub(crate) fn get_with_revision(&self, group: &str, key: &str) -> Result<(String, u64)> {
        let operation = self.names.get_with_revision;
        let (bytes, revision) = self.get_bytes_with_revision_named(operation, group, key)?;
        Ok((into_text(operation, group, key, bytes)?, revision))
    }

    /// [`Operations::get_with_revision`] of the value's bytes, text or binary.
    pub(crate) fn get_bytes_with_revision(&self, group: &str, key: &str) -> Result<(Vec<u8>, u64)> {
        self.get_bytes_with_revision_named(self.names.get_bytes_with_revision, group, key)
    }

    fn get_bytes_with_revision_named(
        &self,
        operation: &'static str,
        group: &str,
        key: &str,
    ) -> Result<(Vec<u8>, u64)> {
        self.backend.check_change_feed(operation)?;
        let stored = self.stored(group);
        let found = self.backend.run(operation, "read entry", |connection| {
            rows::entry_with_revision(connection, &stored, key)
        })?;
        match found {
            Some(entry) if entry.is_live(now_ms()) => Ok((entry.value, entry.revision)),
            // Expired: the ordinary read deletes it (with its `Expire` event).
            Some(_) => self
                .get_bytes_named(operation, group, key)
                .and(Err(not_found(operation, group, key))),
            None => Err(not_found(operation, group, key)),
        }
    }

    /// Writes `value` only when the key's live revision is `expected` (`None`: only when
    /// there is no live key), in one write transaction; returns the new revision. A
    /// mismatch is `Conflict` with the current revision and changes and emits nothing.
    pub(crate) fn set_if(
        &self,
        operation: &'static str,
        group: &str,
        key: &str,
        value: ValueRef<'_>,
        expected: Option<u64>,
    ) -> Result<u64> {
        self.backend.check_change_feed(operation)?;
        let stored = self.stored(group);
        let quota = self.scope.filter(|scope| scope.has_quota());
        let outcome = self
            .backend
            .run_atomic(operation, "write entry", |connection| {
                let current = rows::live_revision(connection, &stored, key, now_ms())?;
                if current != expected {
                    return Ok(Checked::Conflict(current));
                }
                if let (None, Some(scope)) = (current, quota) {
                    if let Some(limit) = scope.refusal(connection, &stored, key)? {
                        return Ok(Checked::Refused(scope, limit));
                    }
                }
                rows::upsert_value(connection, &stored, key, value, None)?;
                Ok(Checked::Done(rows::latest_revision(connection)?))
            })?;
        match outcome {
            Checked::Done(revision) => {
                if self.backend.wants_events() {
                    self.backend
                        .emit(Event::new(EventType::Set, &stored, key, &event_text(value)));
                }
                Ok(revision)
            }
            Checked::Conflict(current) => Err(conflict(operation, group, key, expected, current)),
            Checked::Refused(scope, limit) => Err(scope.quota_error(operation, limit)),
        }
    }

    /// Deletes the key only when its live revision is `expected`, in one write
    /// transaction; returns the revision of the delete. A missing key or another
    /// revision is `Conflict` and changes and emits nothing.
    pub(crate) fn delete_if(&self, group: &str, key: &str, expected: u64) -> Result<u64> {
        let operation = self.names.delete_if;
        self.backend.check_change_feed(operation)?;
        let stored = self.stored(group);
        // `Err(current)`: the key is at another revision (or has none).
        let outcome = self
            .backend
            .run_atomic(operation, "delete entry", |connection| {
                let current = rows::live_revision(connection, &stored, key, now_ms())?;
                if current != Some(expected) {
                    return Ok(Err(current));
                }
                rows::delete(connection, &stored, key)?;
                Ok(Ok(rows::latest_revision(connection)?))
            })?;
        let revision =
            outcome.map_err(|current| conflict(operation, group, key, Some(expected), current))?;
        if self.backend.wants_events() {
            self.backend
                .emit(Event::new(EventType::Delete, &stored, key, ""));
        }
        Ok(revision)
    }
}

fn conflict(
    operation: &'static str,
    group: &str,
    key: &str,
    expected: Option<u64>,
    current: Option<u64>,
) -> Error {
    Error::Conflict {
        operation,
        group: group.to_owned(),
        key: key.to_owned(),
        expected,
        current,
    }
}

/// A value as text; bytes that are not UTF-8 are an error naming the key, never a lossy
/// conversion.
fn into_text(operation: &'static str, group: &str, key: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::InvalidValue {
        operation,
        group: group.to_owned(),
        key: key.to_owned(),
        reason: "not UTF-8 text (read it with get_bytes)".to_owned(),
    })
}

/// The text an event carries for a value: bytes that are not UTF-8 are shown with
/// U+FFFD replacements (events carry text).
fn event_text(value: ValueRef<'_>) -> Cow<'_, str> {
    match value {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => String::from_utf8_lossy(bytes),
        _ => Cow::Borrowed(""),
    }
}

/// A counter's value: optional sign and decimal digits, nothing else (no spaces).
fn parse_integer(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn not_found(operation: &'static str, group: &str, key: &str) -> Error {
    Error::NotFound {
        operation,
        group: group.to_owned(),
        key: key.to_owned(),
    }
}

/// Go's `strings.Split`.
fn split(value: &str, separator: &str) -> Vec<String> {
    if separator.is_empty() {
        value.chars().map(String::from).collect()
    } else {
        value.split(separator).map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_good_matches_go_strings_split() {
        assert_eq!(split(",a,,b,", ","), ["", "a", "", "b", ""]);
        assert_eq!(split("", ","), [""]);
        assert_eq!(split("ab", ""), ["a", "b"]);
        assert!(split("", "").is_empty());
        assert_eq!(split("a--b", "--"), ["a", "b"]);
    }
}
