//! Revisions (issue 13): `watch`, `get --revision`, and the compare-and-set forms
//! `set --if-revision N`, `set --if-absent` and `delete --if-revision N`.
//!
//! Output, decided here and stated in the commands' help:
//!
//! * `watch` prints one JSON line per change, whatever `--json` says (it is a stream, like
//!   `export`), and flushes each line at once so a pipe sees it when it happens:
//!   `{"revision","kind","group","key","value","expires_at","timestamp"}`. `kind` is
//!   `set`, `delete`, `expire` or `delete_group`; `key` is `null` for `delete_group` and
//!   `value` is `null` for every kind but `set`; a value that is not UTF-8 adds
//!   `value_base64` (its exact bytes), with `value` showing them lossily, as `export`
//!   does; `expires_at` and `timestamp` are Unix milliseconds.
//! * `get --revision` prints `REVISION<TAB>VALUE` (the value raw, as `get` prints it:
//!   no newline added), or `{"value":...,"revision":N}` with `--json`.
//! * A conditional `set`/`delete` prints the new revision on a line (`--json`:
//!   `{"ok":true,"revision":N}`), which is what the next `--if-revision` needs; plain
//!   `set` stays quiet as before. A conflict exits with status 4.
//!
//! `watch` only reads: the CLI opens every store with the background purge off, and a
//! watcher keeps it off, so following a file never deletes expired entries or prunes the
//! change history under the processes that write it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;

use crate::failure::Failure;
use crate::output::Output;
use crate::values::{self, StdinValue};

/// How often `watch` looks up from waiting to see whether it was interrupted.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// One line of `watch`.
#[derive(Serialize)]
struct ChangeLine {
    revision: u64,
    kind: &'static str,
    group: String,
    /// `None` for a whole-group delete, which has no key.
    key: Option<String>,
    /// `None` for every kind but `set`: deletes and expiries carry no value.
    value: Option<String>,
    /// The exact bytes of a value that is not UTF-8, in standard base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
    expires_at: Option<i64>,
    timestamp: u64,
}

impl From<store::Change> for ChangeLine {
    fn from(change: store::Change) -> ChangeLine {
        let (value, value_base64) = if change.kind == store::EventType::Set {
            let (value, value_base64) = values::text_or_base64(change.value);
            (Some(value), value_base64)
        } else {
            (None, None)
        };
        let key = (change.kind != store::EventType::DeleteGroup).then_some(change.key);
        // A clock before 1970 (the writer's) reads as 0 rather than failing the stream.
        let timestamp = change
            .timestamp
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        ChangeLine {
            revision: change.revision,
            kind: change.kind.as_str(),
            group: change.group,
            key,
            value,
            value_base64,
            expires_at: change.expires_at,
            timestamp,
        }
    }
}

/// `watch GROUP [KEY] [--from REV]`: replays the retained changes after `from` (default:
/// the current revision, so only new changes), then follows until interrupted (SIGINT or
/// SIGTERM, status 0) or until standard output is closed (status 0).
pub(crate) fn watch(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
    from: Option<u64>,
) -> Result<(), Failure> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted)).map_err(|error| {
            Failure::other(format!("store watch: handle signal {signal}: {error}"))
        })?;
    }
    let from = match from {
        Some(revision) => revision,
        None => store.revision()?,
    };
    let mut watcher = store.watch_from(group, key, from).map_err(compacted)?;
    while !interrupted.load(Ordering::Relaxed) {
        let Some(change) = watcher.recv_timeout(STOP_CHECK).map_err(compacted)? else {
            continue;
        };
        output.json_line(&ChangeLine::from(change))?;
        output.flush()?;
    }
    Ok(())
}

/// The library's `Compacted` message (it names the oldest retained revision), with what
/// to do about it.
fn compacted(error: store::Error) -> Failure {
    let is_compacted = error.is_compacted();
    let failure = Failure::from(error);
    if !is_compacted {
        return failure;
    }
    failure.reworded(|message| {
        format!(
            "store watch: {message}: read the data afresh, then watch from its current revision (no --from)"
        )
    })
}

/// `get GROUP KEY --revision`: `REVISION<TAB>VALUE` (the value's bytes as they are, as
/// plain `get` prints them), or `{"value","revision"}` with `--json` (`value_base64`
/// for bytes that are not UTF-8, as plain `get`).
pub(crate) fn get(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
) -> Result<(), Failure> {
    let (bytes, revision) = store.get_bytes_with_revision(group, key)?;
    let (field, value) = values::value_json(&bytes);
    let json = json!({ field: value, "revision": revision });
    let mut plain = format!("{revision}\t").into_bytes();
    plain.extend_from_slice(&bytes);
    output.raw_bytes(&plain, &json)?;
    Ok(())
}

/// `set GROUP KEY VALUE --if-revision N` (`expected` is `Some(N)`) or `--if-absent`
/// (`None`); VALUE `-` reads standard input as plain `set` does. Prints the new revision.
pub(crate) fn set_if(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
    value: &str,
    expected: Option<u64>,
) -> Result<(), Failure> {
    let revision = if value == "-" {
        match values::read_stdin_value()? {
            StdinValue::Text(text) => store.set_if(group, key, &text, expected)?,
            StdinValue::Binary(bytes) => store.set_bytes_if(group, key, &bytes, expected)?,
        }
    } else {
        store.set_if(group, key, value, expected)?
    };
    print_revision(output, revision)
}

/// `delete GROUP KEY --if-revision N`: prints the revision of the delete.
pub(crate) fn delete_if(
    store: &store::Store,
    output: &mut Output,
    group: &str,
    key: &str,
    expected: u64,
) -> Result<(), Failure> {
    let revision = store.delete_if(group, key, expected)?;
    print_revision(output, revision)
}

/// The result of a conditional write: the revision it made.
fn print_revision(output: &mut Output, revision: u64) -> Result<(), Failure> {
    output.line(
        &revision.to_string(),
        &json!({ "ok": true, "revision": revision }),
    )?;
    Ok(())
}
