//! Time in UTC, by `jiff`: RFC 3339 times in Flux ranges, and archive names of the form
//! `journal-YYYYMMDD-HHMMSS`.
//!
//! Calendar arithmetic is jiff's, not ours: it is exact for every date it can represent,
//! and it reads RFC 3339 with any offset (`Z`, `+01:00`, `-05:00`), with or without a
//! fraction, as Flux does.

use jiff::Timestamp;

/// `YYYYMMDD-HHMMSS` in UTC for a Unix time in milliseconds. A time outside jiff's range
/// (years -9999 to 9999) is clamped to its nearest end, which no clock reading reaches.
pub(crate) fn compact_stamp(unix_ms: i64) -> String {
    let timestamp = Timestamp::from_millisecond(unix_ms).unwrap_or(if unix_ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    timestamp.strftime("%Y%m%d-%H%M%S").to_string()
}

/// Parses an RFC 3339 time (`2024-01-31T12:00:00Z`, `2024-01-31T12:00:00.5+01:00`) into
/// nanoseconds since the Unix epoch; `None` when it is not one. A time without an offset
/// is refused: it names no instant.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i128> {
    text.parse::<Timestamp>().ok().map(Timestamp::as_nanosecond)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_stamp_good_utc() {
        assert_eq!(compact_stamp(0), "19700101-000000");
        // 2024-02-29T23:59:58.999Z
        assert_eq!(compact_stamp(1_709_251_198_999), "20240229-235958");
        assert_eq!(compact_stamp(-1), "19691231-235959");
    }

    #[test]
    fn parse_rfc3339_good_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T23:59:58.999Z"),
            Some(1_709_251_198_999_000_000)
        );
        assert_eq!(
            parse_rfc3339("1970-01-01T01:00:00+01:00"),
            Some(0),
            "offsets are subtracted"
        );
        assert_eq!(parse_rfc3339("1970-01-01t00:00:00.000000001z"), Some(1));
        assert_eq!(
            parse_rfc3339("1969-12-31T19:00:00-05:00"),
            Some(0),
            "negative offsets"
        );
        assert_eq!(
            parse_rfc3339("1970-01-01 00:00:00Z"),
            Some(0),
            "a space for T"
        );
    }

    #[test]
    fn parse_rfc3339_bad_forms() {
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00Zjunk",
            "yyyy-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
