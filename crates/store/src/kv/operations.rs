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

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::kv::entries::{self, KeyValue, Lookup};
use crate::kv::events::{Event, EventType};
use crate::kv::namespace::Scope;
use crate::sqlite::sql::{self, now_ms};
use crate::template;

/// How many expired rows one purge statement removes at most.
pub(crate) const PURGE_BATCH: usize = 500;

/// Where statements run and where events go.
pub(crate) trait Backend {
    /// Runs `work` on the connection; SQLite errors become `Error::Database`.
    fn run<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T>;

    /// Like [`Backend::run`], with every statement of `work` committed together.
    fn run_atomic<T>(
        &self,
        operation: &'static str,
        context: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T>;

    /// True when somebody listens, so building events is worth it.
    fn wants_events(&self) -> bool;

    /// Delivers (or, in a transaction, buffers) one event.
    fn emit(&self, event: Event);

    /// Between two steps of a long job (purge batches), lets callers queued for the
    /// connection go first. A transaction holds the connection throughout: nothing to do.
    fn yield_to_waiters(&self) {}
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
        let stored = self.stored(group);
        let lookup = self.backend.run(operation, "read entry", |connection| {
            entries::lookup(connection, &stored, key)
        })?;
        match lookup {
            Lookup::Live(value) => Ok(value),
            Lookup::Missing | Lookup::Expired { was_deleted: false } => {
                Err(not_found(operation, group, key))
            }
            Lookup::Expired { was_deleted: true } => {
                if self.backend.wants_events() {
                    self.backend
                        .emit(Event::new(EventType::Delete, &stored, key, ""));
                }
                Err(not_found(operation, group, key))
            }
        }
    }

    pub(crate) fn exists(&self, group: &str, key: &str) -> Result<bool> {
        let stored = self.stored(group);
        self.backend
            .run(self.names.exists, "read entry", |connection| {
                entries::exists(connection, &stored, key)
            })
    }

    pub(crate) fn set(&self, group: &str, key: &str, value: &str) -> Result<()> {
        self.upsert(self.names.set, group, key, value, None)
    }

    pub(crate) fn set_with_ttl(
        &self,
        group: &str,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<()> {
        let expires_at = sql::expires_at(now_ms(), ttl);
        self.upsert(self.names.set_with_ttl, group, key, value, Some(expires_at))
    }

    fn upsert(
        &self,
        operation: &'static str,
        group: &str,
        key: &str,
        value: &str,
        expires_at: Option<i64>,
    ) -> Result<()> {
        let stored = self.stored(group);
        match self.scope.filter(|scope| scope.has_quota()) {
            None => self.backend.run(operation, "write entry", |connection| {
                entries::upsert(connection, &stored, key, value, expires_at)
            })?,
            Some(scope) => {
                // The check and the write share one write-locked transaction, so no other
                // thread or process can slip a key in between them.
                let refused = self
                    .backend
                    .run_atomic(operation, "write entry", |connection| {
                        let refused = scope.refusal(connection, &stored, key)?;
                        if refused.is_none() {
                            entries::upsert(connection, &stored, key, value, expires_at)?;
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
                .emit(Event::new(EventType::Set, &stored, key, value));
        }
        Ok(())
    }

    pub(crate) fn delete(&self, group: &str, key: &str) -> Result<()> {
        let stored = self.stored(group);
        let removed = self
            .backend
            .run(self.names.delete, "delete entry", |connection| {
                entries::delete(connection, &stored, key)
            })?;
        if removed && self.backend.wants_events() {
            self.backend
                .emit(Event::new(EventType::Delete, &stored, key, ""));
        }
        Ok(())
    }

    pub(crate) fn delete_group(&self, group: &str) -> Result<()> {
        let stored = self.stored(group);
        let removed = self
            .backend
            .run(self.names.delete_group, "delete group", |connection| {
                entries::delete_group(connection, &stored)
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
                    entries::delete_prefix(connection, &stored)
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
                entries::count(connection, &stored)
            })?;
        Ok(count > 0)
    }

    pub(crate) fn count(&self, group: &str) -> Result<usize> {
        let stored = self.stored(group);
        self.backend
            .run(self.names.count, "count entries", |connection| {
                entries::count(connection, &stored)
            })
    }

    pub(crate) fn count_all(&self, group_prefix: &str) -> Result<usize> {
        let stored = self.stored(group_prefix);
        self.backend
            .run(self.names.count_all, "count entries", |connection| {
                entries::count_prefix(connection, &stored)
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
            entries::get_all(connection, &stored)
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
                entries::get_page(connection, &stored, offset, limit)
            })
    }

    /// One page for `all`, after the key `after`.
    pub(crate) fn key_page(&self, group: &str, after: Option<&KeyValue>) -> Result<Vec<KeyValue>> {
        let stored = self.stored(group);
        self.backend.run(self.names.all, "read page", |connection| {
            entries::key_page(connection, &stored, after.map(|last| last.key.as_str()))
        })
    }

    pub(crate) fn groups(&self, group_prefix: &str) -> Result<Vec<String>> {
        let stored = self.stored(group_prefix);
        let groups = self
            .backend
            .run(self.names.groups, "read groups", |connection| {
                entries::groups(connection, &stored)
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
                entries::group_page(connection, &stored_prefix, stored_after.as_deref())
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
                    entries::purge_batch(connection, prefix, cutoff, PURGE_BATCH)
                })?;
            total += removed.len() as u64;
            if self.backend.wants_events() {
                for (group, key) in &removed {
                    self.backend
                        .emit(Event::new(EventType::Delete, group, key, ""));
                }
            }
            if removed.len() < PURGE_BATCH {
                return Ok(total);
            }
            self.backend.yield_to_waiters();
        }
    }
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
