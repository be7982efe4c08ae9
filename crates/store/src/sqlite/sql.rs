//! SQL helpers shared by every concept: clocks, literal prefix ranges, lossy text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::ToSql;

/// Wall-clock time as Unix milliseconds (the unit of `expires_at` and `committed_at`).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// `now_ms + ceil(ttl in ms)`, saturating. A zero TTL gives `now_ms`: already expired.
pub(crate) fn expires_at(now_ms: i64, ttl: Duration) -> i64 {
    let ttl_ms = i64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
    now_ms.saturating_add(ttl_ms)
}

/// The exclusive upper bound of the names that literally start with a prefix.
///
/// SQLite compares `TEXT` with the `BINARY` collation, i.e. `memcmp` over every byte,
/// NULs included, so `name >= prefix AND name < upper` selects exactly the names that
/// start with `prefix` byte for byte — unlike `LIKE`, which folds ASCII case and treats
/// `%` and `_` as patterns, and `substr`, which stops at NUL. The bound is the prefix with
/// its last byte incremented; it may not be valid UTF-8, which is why it is bound as raw
/// text bytes. The empty prefix has no such bound: it binds an empty `BLOB`, which SQLite
/// orders after every `TEXT` value.
pub(crate) struct PrefixEnd {
    bytes: Option<Vec<u8>>,
}

impl PrefixEnd {
    pub(crate) fn new(prefix: &str) -> PrefixEnd {
        let mut bytes = prefix.as_bytes().to_vec();
        while let Some(last) = bytes.pop() {
            if last < u8::MAX {
                bytes.push(last + 1);
                return PrefixEnd { bytes: Some(bytes) };
            }
        }
        PrefixEnd { bytes: None }
    }

    /// The bound's bytes; `None` for the empty prefix, which has no bound.
    pub(crate) fn into_bytes(self) -> Option<Vec<u8>> {
        self.bytes
    }
}

impl ToSql for PrefixEnd {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match &self.bytes {
            Some(bytes) => ValueRef::Text(bytes),
            None => ValueRef::Blob(&[]),
        }))
    }
}

/// Reads a column as a `String`, replacing invalid UTF-8 (only possible in files written
/// by other programs) with U+FFFD rather than failing.
pub(crate) fn text(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<String> {
    Ok(match row.get_ref(index)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        },
        ValueRef::Integer(integer) => integer.to_string(),
        ValueRef::Real(real) => real.to_string(),
        ValueRef::Null => String::new(),
    })
}

/// Converts a count or offset to SQLite's integer, saturating.
pub(crate) fn to_sql_integer(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Converts a count read from SQLite, which is never negative.
pub(crate) fn from_sql_count(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_at_rounds_up_and_saturates() {
        assert_eq!(expires_at(1_000, Duration::ZERO), 1_000);
        assert_eq!(expires_at(1_000, Duration::from_nanos(1)), 1_001);
        assert_eq!(expires_at(1_000, Duration::from_micros(1_500)), 1_002);
        assert_eq!(expires_at(1_000, Duration::from_secs(1)), 2_000);
        assert_eq!(expires_at(1_000, Duration::MAX), i64::MAX);
    }

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(PrefixEnd::new("ab").bytes, Some(b"ac".to_vec()));
        assert_eq!(PrefixEnd::new("a\u{7f}").bytes, Some(vec![b'a', 0x80]));
        assert_eq!(PrefixEnd::new("").bytes, None);
    }
}
