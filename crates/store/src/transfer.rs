//! Export and import of entries, TTL included: backups, copies between files, and the
//! command line's `export | import`.

use rusqlite::types::ValueRef;

use crate::error::Result;
use crate::kv::events::{Event, EventType};
use crate::kv::rows;
use crate::sqlite::paging::Paged;
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

/// An entry with its value's exact stored bytes, as [`Store::export_raw`] yields it and
/// [`Store::import_raw`] writes it: the lossless form for binary values (written with
/// [`Store::set_bytes`]), which an [`Entry`]'s `String` cannot hold.
///
/// ```
/// let store = store::Store::open(":memory:")?;
/// store.set_bytes("blocks", "b1", &[0xff, 0x00])?;
/// let entry = store.export_raw("").next().transpose()?.expect("one entry");
/// assert_eq!(entry.value, [0xff, 0x00]);
/// let copy = store::Store::open(":memory:")?;
/// copy.import_raw([entry])?;
/// assert_eq!(copy.get_bytes("blocks", "b1")?, [0xff, 0x00]);
/// # Ok::<(), store::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// The group.
    pub group: String,
    /// The key.
    pub key: String,
    /// The value's bytes exactly as stored (UTF-8 text, or any bytes).
    pub value: Vec<u8>,
    /// When the entry expires, in Unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
}

impl RawEntry {
    /// The entry with its value as text; bytes that are not UTF-8 become U+FFFD.
    fn into_text(self) -> Entry {
        let value = match String::from_utf8(self.value) {
            Ok(value) => value,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        };
        Entry {
            group: self.group,
            key: self.key,
            value,
            expires_at: self.expires_at,
        }
    }
}

impl Store {
    /// Every live entry whose group starts with `group_prefix` (byte for byte; `""` for
    /// all), in (group, key) order, read a page at a time with no lock held between pages.
    /// A binary value that is not UTF-8 comes as text with U+FFFD replacements; use
    /// [`Store::export_raw`] for its exact bytes.
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
        self.export_raw(group_prefix)
            .map(|entry| entry.map(RawEntry::into_text))
    }

    /// [`Store::export`] with each value's exact stored bytes: the lossless export of
    /// binary values, for [`Store::import_raw`].
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// store.set_bytes("blocks", "b1", &[0, 159, 146, 150])?;
    /// let entries: Vec<store::RawEntry> = store.export_raw("").collect::<store::Result<_>>()?;
    /// assert_eq!(entries[0].value, [0, 159, 146, 150]);
    /// # Ok::<(), store::Error>(())
    /// ```
    pub fn export_raw(&self, group_prefix: &str) -> impl Iterator<Item = Result<RawEntry>> {
        let store = self.clone();
        let prefix = group_prefix.to_owned();
        Paged::new(move |cursor: Option<&RawEntry>| {
            let after = cursor.map(|last| (last.group.as_str(), last.key.as_str()));
            let rows =
                store
                    .engine
                    .database
                    .with_link("store.export", "read entries", |connection| {
                        rows::export_page(connection, &prefix, after)
                    })?;
            Ok(rows
                .into_iter()
                .map(|row| RawEntry {
                    group: row.group,
                    key: row.key,
                    value: row.value,
                    expires_at: row.expires_at,
                })
                .collect())
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
        self.import_values(entries.into_iter().map(|entry| {
            let Entry {
                group,
                key,
                value,
                expires_at,
            } = entry;
            (group, key, StoredValue::Text(value), expires_at)
        }))
    }

    /// [`Store::import`] of [`RawEntry`]s: a value that is valid UTF-8 is written as text
    /// (as the Go package writes values), any other as a binary value, so an
    /// [`Store::export_raw`] round-trips exactly.
    ///
    /// ```
    /// let store = store::Store::open(":memory:")?;
    /// let entry = store::RawEntry {
    ///     group: "blocks".into(),
    ///     key: "b1".into(),
    ///     value: vec![0xff, 0xfe],
    ///     expires_at: None,
    /// };
    /// assert_eq!(store.import_raw([entry])?, 1);
    /// assert_eq!(store.get_bytes("blocks", "b1")?, [0xff, 0xfe]);
    /// # Ok::<(), store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::import`].
    pub fn import_raw<I>(&self, entries: I) -> Result<usize>
    where
        I: IntoIterator<Item = RawEntry>,
    {
        self.import_values(entries.into_iter().map(|entry| {
            let value = match String::from_utf8(entry.value) {
                Ok(text) => StoredValue::Text(text),
                Err(error) => StoredValue::Bytes(error.into_bytes()),
            };
            (entry.group, entry.key, value, entry.expires_at)
        }))
    }

    fn import_values<I>(&self, entries: I) -> Result<usize>
    where
        I: IntoIterator<Item = (String, String, StoredValue, Option<i64>)>,
    {
        let wants_events = self.engine.events.has_listeners();
        let mut events = Vec::new();
        let written = self.engine.database.with_atomic_link(
            "store.import",
            "write entries",
            |transaction| {
                let mut written = 0_usize;
                for (group, key, value, expires_at) in entries {
                    let stored = match &value {
                        StoredValue::Text(text) => ValueRef::Text(text.as_bytes()),
                        StoredValue::Bytes(bytes) => ValueRef::Blob(bytes),
                    };
                    rows::upsert_value(transaction, &group, &key, stored, expires_at)?;
                    written += 1;
                    if wants_events {
                        let text = match &value {
                            StoredValue::Text(text) => std::borrow::Cow::Borrowed(text.as_str()),
                            StoredValue::Bytes(bytes) => String::from_utf8_lossy(bytes),
                        };
                        events.push(Event::new(EventType::Set, &group, &key, &text));
                    }
                }
                Ok(written)
            },
        )?;
        self.engine.events.dispatch_all(&events);
        Ok(written)
    }
}

/// A value to import: text (stored as `TEXT`) or bytes that are not UTF-8 (a `BLOB`).
enum StoredValue {
    Text(String),
    Bytes(Vec<u8>),
}
