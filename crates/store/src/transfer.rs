//! Export and import of entries, TTL included: backups, copies between files, and the
//! command line's `export | import`.

use rusqlite::params;

use crate::error::Result;
use crate::kv::events::{Event, EventType};
use crate::sqlite::paging::{Paged, PAGE_SIZE};
use crate::sqlite::sql::{now_ms, text, to_sql_integer, PrefixEnd};
use crate::store::Store;

/// One stored entry with its expiry, as [`Store::export`] yields it and [`Store::import`]
/// takes it.
///
/// ```
/// let entry = store::Entry {
///     group: "sessions".into(),
///     key: "alice".into(),
///     value: "token".into(),
///     expires_at: None, // Unix milliseconds; None never expires
/// };
/// let store = store::Store::open(":memory:")?;
/// assert_eq!(store.import([entry.clone()])?, 1);
/// assert_eq!(store.export("").next().transpose()?, Some(entry));
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The group.
    pub group: String,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// When the entry expires, in Unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
}

const SQL_EXPORT_FIRST: &str = "SELECT group_name, entry_key, entry_value, expires_at FROM entries
    WHERE group_name >= ?1 AND group_name < ?2 AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name, entry_key LIMIT ?4";
const SQL_EXPORT_NEXT: &str = "SELECT group_name, entry_key, entry_value, expires_at FROM entries
    WHERE (group_name, entry_key) > (?1, ?5) AND group_name < ?2
        AND (expires_at IS NULL OR expires_at > ?3)
    ORDER BY group_name, entry_key LIMIT ?4";

impl Store {
    /// Every live entry whose group starts with `group_prefix` (byte for byte; `""` for
    /// all), in (group, key) order, read a page at a time with no lock held between pages.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set("config", "colour", "blue")?;
    /// store.set("cache", "page", "html")?;
    /// let groups: Vec<String> = store
    ///     .export("")
    ///     .map(|entry| entry.map(|entry| entry.group))
    ///     .collect::<store::Result<_>>()?;
    /// assert_eq!(groups, ["cache", "config"]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn export(&self, group_prefix: &str) -> impl Iterator<Item = Result<Entry>> {
        let store = self.clone();
        let prefix = group_prefix.to_owned();
        let end = PrefixEnd::new(group_prefix);
        Paged::new(move |cursor: Option<&Entry>| {
            let (sql, group, key) = match cursor {
                None => (SQL_EXPORT_FIRST, prefix.as_str(), ""),
                Some(last) => (SQL_EXPORT_NEXT, last.group.as_str(), last.key.as_str()),
            };
            store
                .engine
                .database
                .with("store.export", "read entries", |connection| {
                    let mut statement = connection.prepare_cached(sql)?;
                    let limit = to_sql_integer(PAGE_SIZE);
                    let rows = if cursor.is_some() {
                        statement.query(params![group, end, now_ms(), limit, key])?
                    } else {
                        statement.query(params![group, end, now_ms(), limit])?
                    };
                    rows.mapped(|row| {
                        Ok(Entry {
                            group: text(row, 0)?,
                            key: text(row, 1)?,
                            value: text(row, 2)?,
                            expires_at: row.get(3)?,
                        })
                    })
                    .collect()
                })
        })
    }

    /// Writes every entry exactly as given (value and expiry, even one already past) in
    /// one transaction: all of them or, on any failure, none. Emits `Set` for each after
    /// the commit and returns how many were written.
    ///
    /// ```
    /// let source = store::Store::open(":memory:")?;
    /// source.set("config", "colour", "blue")?;
    /// let copy = store::Store::open(":memory:")?;
    /// let written = copy.import(source.export("").collect::<store::Result<Vec<_>>>()?)?;
    /// assert_eq!(written, 1);
    /// assert_eq!(copy.get("config", "colour")?, "blue");
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Closed`; `Database` (nothing is written).
    pub fn import<I>(&self, entries: I) -> Result<usize>
    where
        I: IntoIterator<Item = Entry>,
    {
        let wants_events = self.engine.events.has_listeners();
        let mut events = Vec::new();
        let written = self.engine.database.with_write_transaction(
            "store.import",
            "write entries",
            |transaction| {
                let mut written = 0_usize;
                for entry in entries {
                    crate::kv::entries::upsert(
                        transaction,
                        &entry.group,
                        &entry.key,
                        &entry.value,
                        entry.expires_at,
                    )?;
                    written += 1;
                    if wants_events {
                        events.push(Event::new(
                            EventType::Set,
                            &entry.group,
                            &entry.key,
                            &entry.value,
                        ));
                    }
                }
                Ok(written)
            },
        )?;
        self.engine.events.dispatch_all(&events);
        Ok(written)
    }
}
