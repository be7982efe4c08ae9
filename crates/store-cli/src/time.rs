//! Durations: `90s`, `5m`, `2h`, `7d`.

use std::time::Duration;

/// Parses a duration such as `90s`, `5m`, `2h`, `7d` or `1h30m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration: use e.g. 90s, 5m, 2h or 7d".to_owned());
    }
    humantime::parse_duration(trimmed)
        .map_err(|error| format!("invalid duration {text:?} ({error}): use e.g. 90s, 5m, 2h or 7d"))
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
}
