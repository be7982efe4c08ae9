//! Export and import of entries, TTL included: backups, copies between files, and the
//! command line's `export | import`.

use rusqlite::params;
use rusqlite::types::ValueRef;

use crate::error::Result;
use crate::kv::entries::bytes;
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
///     value_bytes: None, // Some(bytes) for a binary value that is not UTF-8
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
    /// The exact bytes of a binary value that is not valid UTF-8 (written with
    /// [`Store::set_bytes`]); `value` then holds them with U+FFFD replacements, for
    /// display only. `None` for a text value (or binary bytes that are valid UTF-8),
    /// which `value` holds exactly. [`Store::import`] writes `value_bytes` as a `BLOB`
    /// when it is set, and `value` as text otherwise, so export and import are lossless.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_bytes("blocks", "b1", &[0xff, 0x00])?;
    /// let entry = store.export("").next().transpose()?.expect("one entry");
    /// assert_eq!(entry.value_bytes.as_deref(), Some(&[0xff, 0x00][..]));
    /// let copy = store::Store::open(":memory:")?;
    /// copy.import([entry])?;
    /// assert_eq!(copy.get_bytes("blocks", "b1")?, [0xff, 0x00]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub value_bytes: Option<Vec<u8>>,
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
                        let (value, value_bytes) = match String::from_utf8(bytes(row, 2)?) {
                            Ok(value) => (value, None),
                            Err(error) => {
                                let bytes = error.into_bytes();
                                (String::from_utf8_lossy(&bytes).into_owned(), Some(bytes))
                            }
                        };
                        Ok(Entry {
                            group: text(row, 0)?,
                            key: text(row, 1)?,
                            value,
                            expires_at: row.get(3)?,
                            value_bytes,
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
                    let value = match &entry.value_bytes {
                        Some(bytes) => ValueRef::Blob(bytes),
                        None => ValueRef::Text(entry.value.as_bytes()),
                    };
                    crate::kv::entries::upsert_value(
                        transaction,
                        &entry.group,
                        &entry.key,
                        value,
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
