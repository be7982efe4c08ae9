//! Durations (`90s`, `5m`, `2h`, `7d`) and points in time (an age or RFC 3339).

use std::time::{Duration, SystemTime};

/// Parses a duration such as `90s`, `5m`, `2h`, `7d` or `1h30m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration: use e.g. 90s, 5m, 2h or 7d".to_owned());
    }
    humantime::parse_duration(trimmed)
        .map_err(|error| format!("invalid duration {text:?} ({error}): use e.g. 90s, 5m, 2h or 7d"))
}

/// The shortest TTL `set --ttl` accepts: expiry is kept in whole milliseconds, so anything
/// shorter stores a value that has already expired.
const MIN_TTL: Duration = Duration::from_millis(1);

/// Parses a TTL: a duration (see [`parse_duration`]) of at least 1 ms.
pub(crate) fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < MIN_TTL {
        return Err(format!(
            "TTL {text:?} is under 1ms: the value would expire before it is stored; use e.g. 90s, or `store delete` to remove a key"
        ));
    }
    Ok(ttl)
}

/// Parses an age (`90d`: that long ago) or an RFC 3339 time (`2026-01-02T03:04:05Z`).
pub(crate) fn parse_age_or_time(text: &str) -> Result<SystemTime, String> {
    let trimmed = text.trim();
    if let Ok(age) = humantime::parse_duration(trimmed) {
        return SystemTime::now()
            .checked_sub(age)
            .ok_or_else(|| format!("age {text:?} reaches before 1970"));
    }
    // jiff reads RFC 3339 with any offset (`Z`, `+02:00`), which humantime's does not.
    trimmed
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(system_time)
        .ok_or_else(|| {
            format!(
                "invalid time {text:?}: use an age such as 90d or 12h, or an RFC 3339 time such as 2026-01-02T03:04:05Z or 2026-01-02T05:04:05+02:00"
            )
        })
}

/// The same instant as a `SystemTime` (jiff converts only the other way).
fn system_time(timestamp: jiff::Timestamp) -> Option<SystemTime> {
    let since_epoch = timestamp.as_duration();
    let magnitude = since_epoch.unsigned_abs();
    if since_epoch.is_negative() {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_good_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn parse_duration_bad_inputs() {
        for bad in ["", "5", "five minutes", "5x", "-5m"] {
            let error = parse_duration(bad).expect_err(bad);
            assert!(error.contains("duration"), "{error}");
        }
    }

    #[test]
    fn parse_ttl_bad_under_one_millisecond() {
        for bad in ["0", "0s", "1ns", "999us", "0ms"] {
            let error = parse_ttl(bad).expect_err(bad);
            assert!(error.contains("under 1ms"), "{bad}: {error}");
        }
        assert_eq!(parse_ttl("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_ttl("5q").is_err_and(|error| error.contains("duration")));
    }

    #[test]
    fn parse_age_or_time_good_and_bad() {
        let week_ago = parse_age_or_time("7d").expect("age");
        let elapsed = SystemTime::now()
            .duration_since(week_ago)
            .expect("in the past");
        assert!(elapsed >= Duration::from_secs(604_800) && elapsed < Duration::from_secs(604_900));
        let fixed = parse_age_or_time("2026-01-02T03:04:05Z").expect("time");
        let since_epoch = fixed
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970");
        assert_eq!(since_epoch.as_secs(), 1_767_323_045);
        let offset = parse_age_or_time("2026-01-02T05:04:05+02:00").expect("offset time");
        assert_eq!(offset, fixed, "an offset names the same instant");
        for bad in [
            "yesterday",
            "",
            "2026-13-01T00:00:00Z",
            "2026-01-02T03:04:05",
        ] {
            assert!(parse_age_or_time(bad).is_err(), "{bad:?}");
        }
    }
}
