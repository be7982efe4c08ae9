//! Binary values, counters and expiry control (issue 14): `get` and `set … -` with raw
//! bytes, `incr`, `ttl`, `expire`, `persist`.

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::failure::Failure;
use crate::output::Output;

/// A value given as `-`: all of standard input, exactly, as text when its bytes are
/// UTF-8 and as a binary value otherwise.
pub(crate) enum StdinValue {
    /// UTF-8: stored as text.
    Text(String),
    /// Any other bytes (NUL and invalid UTF-8 included): stored as a `BLOB`.
    Binary(Vec<u8>),
}

/// Reads all of standard input as a [`StdinValue`].
pub(crate) fn read_stdin_value() -> Result<StdinValue, Failure> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|error| Failure::other(format!("store set: read standard input: {error}")))?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => StdinValue::Text(text),
        Err(error) => StdinValue::Binary(error.into_bytes()),
    })
}

/// `set GROUP KEY -`: the bytes of standard input, exactly; stored as text when they are
/// UTF-8, as a binary value otherwise.
pub(crate) fn set_from_stdin(
    store: &store::Store,
    group: &str,
    key: &str,
    ttl: Option<Duration>,
) -> Result<(), Failure> {
    match (read_stdin_value()?, ttl) {
        (StdinValue::Text(text), Some(ttl)) => store.set_with_ttl(group, key, &text, ttl)?,
        (StdinValue::Text(text), None) => store.set(group, key, &text)?,
        (StdinValue::Binary(bytes), Some(ttl)) => {
            store.set_bytes_with_ttl(group, key, &bytes, ttl)?;
        }
        (StdinValue::Binary(bytes), None) => store.set_bytes(group, key, &bytes)?,
    }
    Ok(())
}

/// `get`: the value's bytes as they are; with `--json`, a string, or
/// `{"value_base64": …}` for bytes that are not UTF-8.
pub(crate) fn get(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
) -> Result<(), Failure> {
    // The command is `get`: a missing key reads as `store.get`'s error, as before.
    let bytes = store.get_bytes(group, key).map_err(|error| match error {
        store::Error::NotFound { group, key, .. } => store::Error::NotFound {
            operation: "store.get",
            group,
            key,
        },
        other => other,
    })?;
    let json = match value_json(&bytes) {
        ("value", text) => text,
        (field, encoded) => json!({ field: encoded }),
    };
    output.raw_bytes(&bytes, &json)?;
    Ok(())
}

/// How `--json` shows a value: (`"value"`, the text) when it is UTF-8, else
/// (`"value_base64"`, its exact bytes in base64).
pub(crate) fn value_json(bytes: &[u8]) -> (&'static str, Value) {
    match std::str::from_utf8(bytes) {
        Ok(text) => ("value", Value::String(text.to_owned())),
        Err(_) => ("value_base64", Value::String(encode(bytes))),
    }
}

/// `incr GROUP KEY [DELTA]`: prints the new value.
pub(crate) fn incr(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
    delta: i64,
) -> Result<(), Failure> {
    let value = store.increment(group, key, delta)?;
    output.line(&value.to_string(), &json!(value))?;
    Ok(())
}

/// `ttl GROUP KEY`: the time left (`1m 29s 998ms`; `--json`: milliseconds), or
/// `no expiry` (`--json`: `null`); exit 1 for a missing key.
pub(crate) fn ttl(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
) -> Result<(), Failure> {
    match store.ttl(group, key)? {
        None => output.line("no expiry", &Value::Null)?,
        Some(left) => {
            let left = Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
            let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            output.line(
                &humantime::format_duration(left).to_string(),
                &json!(millis),
            )?;
        }
    }
    Ok(())
}

/// `expire GROUP KEY TTL`: exit 1 when the key is missing.
pub(crate) fn expire(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
    ttl: Duration,
) -> Result<(), Failure> {
    if !store.expire(group, key, ttl)? {
        return Err(missing("store expire", group, key));
    }
    output.done()?;
    Ok(())
}

/// `persist GROUP KEY`: exit 1 when the key is missing; a key with no expiry is fine.
pub(crate) fn persist(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
) -> Result<(), Failure> {
    if !store.persist(group, key)? && !store.exists(group, key)? {
        return Err(missing("store persist", group, key));
    }
    output.done()?;
    Ok(())
}

fn missing(operation: &str, group: &str, key: &str) -> Failure {
    Failure::not_found(format!(
        "{operation}: not found: group {group:?}, key {key:?}"
    ))
}

/// A stored value as JSON lines show it (`export`, `watch`): text as it is; bytes that are
/// not UTF-8 as their exact bytes in base64 (the second part, for `value_base64`), with a
/// lossy text to read (U+FFFD replacements).
pub(crate) fn text_or_base64(bytes: Vec<u8>) -> (String, Option<String>) {
    match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(error) => (
            String::from_utf8_lossy(error.as_bytes()).into_owned(),
            Some(encode(error.as_bytes())),
        ),
    }
}

/// Standard base64 with padding, the encoding of `value_base64`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a `value_base64`.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|error| format!("value_base64: {error}"))
}
