//! The change feed (issue 13) across processes: how long a change takes to reach a
//! follower (`watch_from`) in another process, and how fast a follower replays a long
//! history and with how much memory.
//!
//! - **`feed_latency`**: the benchmark process opens a file store and a watcher, then
//!   starts a writer process that sets one key every 5 ms, each value the writer's clock
//!   (Unix microseconds) just before its `set`. The follower notes its own clock when the
//!   change arrives; the delay is the difference, so it covers the writer's commit (with
//!   its `fsync` in `full`), the follower's poll (every 10 ms for another process's
//!   changes) and its read. Both processes read the same system clock.
//! - **`replay`**: one child writes a history of changes (`set_many` of 10,000 keys per
//!   transaction, the retention keeping everything); a second, fresh child opens the file
//!   and times `watch_from("*", "*", 0)` delivering all of them, reading its peak RSS
//!   before and after, then times raw rusqlite running the watcher's statement over the
//!   same rows into the same owned fields (the floor).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use store::statements::changes as sql;
use store::{ChangeRetention, Store, StoreConfig};

use crate::backend::store_config;
use crate::failure::{Context, Failure, Result};
use crate::isolated::{child, one, peak_rss_mib};
use crate::keys::{group_name, value};
use crate::report::{rounded, verdict, FEED_LATENCY_GOAL_MS, REPLAY_GOAL};
use crate::stats::percentile;
use crate::workloads::Mode;

/// The group the latency writer writes.
const FEED_GROUP: &str = "feed";
/// The pause between two of the latency writer's sets.
const FEED_INTERVAL: Duration = Duration::from_millis(5);
/// How long the follower waits for the writer's next change before giving up.
const FEED_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys per `set_many` transaction when the replay history is written.
const REPLAY_FILL_BATCH: usize = 10_000;

/// How long changes took to reach a follower in another process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedLatencyFigure {
    /// Always `feed_latency`.
    pub workload: String,
    /// `full` or `normal`: the writer's durability.
    pub durability: String,
    /// Changes timed.
    pub changes: usize,
    /// The writer's pause between two sets, in milliseconds.
    pub interval_ms: f64,
    /// Median delay from the writer's `set` to the follower's `recv`, in milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile delay, in milliseconds.
    pub p99_ms: f64,
    /// The longest delay, in milliseconds.
    pub max_ms: f64,
}

/// How fast a fresh process replays the whole change history, and its memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayFigure {
    /// Always `replay`.
    pub workload: String,
    /// The durability the history was written with.
    pub durability: String,
    /// Changes replayed.
    pub changes: usize,
    /// Seconds for `watch_from("*", "*", 0)` to deliver them all.
    pub seconds: f64,
    /// Changes delivered per second.
    pub changes_per_sec: u64,
    /// Raw rusqlite running the watcher's statement over the same rows, per second.
    pub baseline_changes_per_sec: u64,
    /// The store's time per change over raw rusqlite's.
    pub ratio: f64,
    /// Peak resident set size after opening, before the replay.
    pub rss_before_mib: f64,
    /// Peak resident set size after the replay.
    pub peak_rss_mib: f64,
    /// What the replay added to the peak.
    pub rss_growth_mib: f64,
}

/// Unix microseconds by the system clock, which every process on the machine shares.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
        })
}

#[allow(clippy::cast_precision_loss)] // delays stay far below 2^52 µs
fn milliseconds(micros: u64) -> f64 {
    rounded(micros as f64 / 1_000.0, 2)
}

/// The cross-process delay of `changes` changes written by a child in `mode`.
///
/// # Errors
///
/// When the store fails, the writer fails, or a change does not arrive within a minute.
pub fn measure_latency(mode: Mode, changes: usize) -> Result<FeedLatencyFigure> {
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let path = directory.path().join("feed.db");
    let store = Store::open_with(store_config(&path, mode.durability()))?;
    let mut watcher = store.watch_from(FEED_GROUP, "*", store.revision()?)?;
    let executable = std::env::current_exe().context("find this executable")?;
    let mut writer = Command::new(executable)
        .args([
            "__feed-writer".to_owned(),
            "--path".to_owned(),
            path.display().to_string(),
            "--durability".to_owned(),
            mode.as_str().to_owned(),
            "--changes".to_owned(),
            changes.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start the writer process")?;
    let mut delays = Vec::with_capacity(changes);
    let outcome = (|| {
        while delays.len() < changes {
            let change = watcher
                .recv_timeout(FEED_TIMEOUT)?
                .ok_or_else(|| Failure::new("no change from the writer for a minute"))?;
            let arrived = now_us();
            let sent: i64 = change
                .value_text()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| Failure::new("a change without a send time"))?;
            delays.push(u64::try_from(arrived.saturating_sub(sent)).unwrap_or(0));
        }
        Ok::<(), Failure>(())
    })();
    if outcome.is_err() {
        // Best effort: the writer may have ended already.
        writer.kill().ok();
    }
    let status = writer.wait().context("wait for the writer")?;
    outcome?;
    if !status.success() {
        return Err(Failure::new(format!("the writer failed ({status})")));
    }
    drop(watcher);
    store.close()?;
    delays.sort_unstable();
    Ok(FeedLatencyFigure {
        workload: "feed_latency".to_owned(),
        durability: mode.as_str().to_owned(),
        changes,
        interval_ms: milliseconds(u64::try_from(FEED_INTERVAL.as_micros()).unwrap_or(0)),
        p50_ms: milliseconds(percentile(&delays, 50.0)),
        p99_ms: milliseconds(percentile(&delays, 99.0)),
        max_ms: milliseconds(delays.last().copied().unwrap_or(0)),
    })
}

/// Child: sets `changes` keys of the feed group, 5 ms apart, each value the time just
/// before its set.
///
/// # Errors
///
/// When the store fails.
pub fn feed_writer(path: &Path, mode: Mode, changes: usize) -> Result<()> {
    let store = Store::open_with(store_config(path, mode.durability()))?;
    for index in 0..changes {
        let sent = now_us();
        store.set(FEED_GROUP, &format!("key-{index:08}"), &sent.to_string())?;
        std::thread::sleep(FEED_INTERVAL);
    }
    store.close()?;
    Ok(())
}

/// A configuration that keeps the whole history.
fn keep_everything(path: &Path) -> StoreConfig {
    StoreConfig {
        change_retention: ChangeRetention {
            max_changes: None,
            max_age: None,
        },
        ..store_config(path, store::Durability::Normal)
    }
}

/// The replay of `changes` changes, in two fresh processes.
///
/// # Errors
///
/// When a child fails (e.g. no `/proc/self/status` on this system).
pub fn measure_replay(changes: usize) -> Result<ReplayFigure> {
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let path = directory.path().join("replay.db").display().to_string();
    let arguments = |command: &str| -> Vec<String> {
        vec![
            command.to_owned(),
            "--path".to_owned(),
            path.clone(),
            "--changes".to_owned(),
            changes.to_string(),
        ]
    };
    child::<serde_json::Value>(&arguments("__fill-replay"))?;
    one(child(&arguments("__replay"))?)
}

/// Child: writes a history of `changes` sets, 10,000 keys per transaction over 100 groups.
///
/// # Errors
///
/// When the store fails or the history comes out another length.
pub fn fill_replay(path: &Path, changes: usize) -> Result<()> {
    let store = Store::open_with(keep_everything(path))?;
    let value = value();
    let mut written = 0;
    let mut batch = 0;
    while written < changes {
        let end = (written + REPLAY_FILL_BATCH).min(changes);
        store.set_many(
            &group_name(batch % 100),
            (written..end).map(|index| (format!("key-{index:08}"), value.as_str())),
        )?;
        written = end;
        batch += 1;
    }
    let revision = store.revision()?;
    store.close()?;
    if revision != changes as u64 {
        return Err(Failure::new(format!(
            "the history holds {revision} changes, expected {changes}"
        )));
    }
    println!("{{}}");
    Ok(())
}

/// One owned row of the history, as the watcher builds it (the kind as a name, not an
/// allocation).
type RawChange = (i64, &'static str, String, String, Vec<u8>, Option<i64>, i64);

/// The kind of a history row, as the watcher reads it.
fn raw_kind(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Text(b"delete") => "delete",
        ValueRef::Text(b"expire") => "expire",
        ValueRef::Text(b"delete_group") => "delete_group",
        _ => "set",
    }
}

/// Raw rusqlite: the watcher's statement over the whole history, a batch at a time, each
/// row into owned fields; returns how many rows it read.
fn raw_replay(path: &Path) -> Result<usize> {
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let limit = i64::try_from(sql::REPLAY_BATCH).unwrap_or(i64::MAX);
    let mut after = 0_i64;
    let mut read = 0;
    loop {
        let batch: Vec<RawChange> = connection
            .prepare_cached(sql::AFTER)?
            .query_map(params![after, limit], |row| {
                Ok((
                    row.get(0)?,
                    raw_kind(row.get_ref(1)?),
                    row.get(2)?,
                    row.get(3)?,
                    match row.get_ref(4)? {
                        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.to_vec(),
                        _ => Vec::new(),
                    },
                    row.get(5)?,
                    row.get(6)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = batch.last() else {
            return Ok(read);
        };
        after = last.0;
        read += batch.len();
    }
}

/// Child: replays the whole history with `watch_from("*", "*", 0)`, checking that the
/// revisions run 1, 2, … `changes`, then times raw rusqlite over the same rows; prints a
/// [`ReplayFigure`].
///
/// # Errors
///
/// When the store fails, the replay comes out wrong, or the RSS cannot be read.
pub fn replay(path: &Path, changes: usize) -> Result<()> {
    let store = Store::open_with(keep_everything(path))?;
    let rss_before_mib = peak_rss_mib()?;
    let started = Instant::now();
    let mut watcher = store.watch_from("*", "*", 0)?;
    let mut last = 0;
    while let Some(change) = watcher.try_recv()? {
        if change.revision != last + 1 || change.value.is_empty() {
            return Err(Failure::new(format!(
                "revision {} followed {last}",
                change.revision
            )));
        }
        last = change.revision;
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mib = peak_rss_mib()?;
    drop(watcher);
    store.close()?;
    if last != changes as u64 {
        return Err(Failure::new(format!(
            "the replay delivered {last} changes, expected {changes}"
        )));
    }
    let raw_started = Instant::now();
    let raw_read = raw_replay(path)?;
    let raw_seconds = raw_started.elapsed().as_secs_f64();
    if raw_read != changes {
        return Err(Failure::new(format!(
            "raw rusqlite read {raw_read} changes, expected {changes}"
        )));
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let per_second = |seconds: f64| (changes as f64 / seconds.max(1e-9)).round() as u64;
    let figure = ReplayFigure {
        workload: "replay".to_owned(),
        durability: "normal".to_owned(),
        changes,
        seconds: rounded(seconds, 3),
        changes_per_sec: per_second(seconds),
        baseline_changes_per_sec: per_second(raw_seconds),
        ratio: rounded(seconds / raw_seconds.max(1e-9), 3),
        rss_before_mib: rounded(rss_before_mib, 1),
        peak_rss_mib: rounded(peak_rss_mib, 1),
        rss_growth_mib: rounded(peak_rss_mib - rss_before_mib, 1),
    };
    println!("{}", serde_json::to_string(&figure)?);
    Ok(())
}

/// The table line of a feed-latency figure.
#[must_use]
pub fn latency_row(figure: &FeedLatencyFigure) -> String {
    format!(
        "feed_latency ({}): {} changes from another process, {:.0} ms apart: delay p50 {:.2} ms, p99 {:.2} ms, longest {:.2} ms; goal median < {FEED_LATENCY_GOAL_MS} ms: {}",
        figure.durability,
        figure.changes,
        figure.interval_ms,
        figure.p50_ms,
        figure.p99_ms,
        figure.max_ms,
        verdict(figure.p50_ms < FEED_LATENCY_GOAL_MS)
    )
}

/// The table line of a replay figure.
#[must_use]
pub fn replay_row(figure: &ReplayFigure) -> String {
    #[allow(clippy::cast_precision_loss)] // rates stay far below 2^52
    let is_met = figure.changes_per_sec as f64 >= REPLAY_GOAL;
    format!(
        "replay: watch_from(\"*\", \"*\", 0) over {} changes: {:.3} s, {} changes/s (rusqlite {} /s, {:.3}×); peak RSS {:.1} MiB (after open {:.1} MiB, +{:.1} MiB); goal ≥ {REPLAY_GOAL} changes/s: {}",
        figure.changes,
        figure.seconds,
        figure.changes_per_sec,
        figure.baseline_changes_per_sec,
        figure.ratio,
        figure.peak_rss_mib,
        figure.rss_before_mib,
        figure.rss_growth_mib,
        verdict(is_met)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_good_judge_their_goals() {
        let latency = FeedLatencyFigure {
            workload: "feed_latency".into(),
            durability: "full".into(),
            changes: 200,
            interval_ms: 5.0,
            p50_ms: 6.0,
            p99_ms: 60.0,
            max_ms: 70.0,
        };
        assert!(latency_row(&latency).ends_with("goal median < 50 ms: met"));
        let replay = ReplayFigure {
            workload: "replay".into(),
            durability: "normal".into(),
            changes: 1_000_000,
            seconds: 2.5,
            changes_per_sec: 400_000,
            baseline_changes_per_sec: 800_000,
            ratio: 2.0,
            rss_before_mib: 5.0,
            peak_rss_mib: 9.0,
            rss_growth_mib: 4.0,
        };
        assert!(replay_row(&replay).ends_with("changes/s: MISSED"));
    }
}
