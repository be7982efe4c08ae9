//! The measurements that need a process of their own, so that nothing else the
//! benchmark did (its heap, its other databases) colours the figure: peak RSS while
//! `all()` walks 1,000,000 keys, the longest wait of a set while the background purge
//! removes 1,000,000 expired keys, and set/get latency percentiles.
//!
//! The parent re-runs this executable with a hidden subcommand and reads one JSON result
//! from its stdout.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde::de::DeserializeOwned;
use store::{Entry, Store, StoreConfig};

use crate::backend::{now_ms, store_config};
use crate::failure::{Context, Failure, Result};
use crate::keys::{group_name, value};
use crate::report::{Comparison, RssFigure, StallFigure};
use crate::runner::run_workload;
use crate::stats::Summary;
use crate::workloads::{self, Mode, Scale};

/// The group `all()` walks.
const WALKED_GROUP: &str = "walked";
/// How often the background purge runs in the stall measurement.
const PURGE_INTERVAL: Duration = Duration::from_millis(100);
/// How long the control loop (sets with no purge running) runs after the purge.
const CONTROL_TIME: Duration = Duration::from_secs(5);
/// Sets slower than this (the goal, 50 ms) are counted.
const SLOW_SET_NS: u64 = 50_000_000;
/// The stall measurement gives up after this long.
const STALL_TIME_LIMIT: Duration = Duration::from_secs(600);

/// Runs this executable with `arguments` and parses each line of its stdout.
pub(crate) fn child<T: DeserializeOwned>(arguments: &[String]) -> Result<Vec<T>> {
    let executable = std::env::current_exe().context("find this executable")?;
    let output = Command::new(executable)
        .args(arguments)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("run the child process")?;
    if !output.status.success() {
        return Err(Failure::new(format!(
            "the child process failed ({})",
            output.status
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).context(format!("read {line:?}")))
        .collect()
}

pub(crate) fn one<T>(mut results: Vec<T>) -> Result<T> {
    results
        .pop()
        .ok_or_else(|| Failure::new("the child process printed nothing"))
}

/// Peak RSS of a fresh process walking `keys` keys with `all()`.
///
/// # Errors
///
/// When a child fails (e.g. no `/proc/self/status` on this system).
pub fn measure_rss(keys: usize) -> Result<RssFigure> {
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let path = directory.path().join("walk.db").display().to_string();
    let keys_text = keys.to_string();
    let arguments = |command: &str| -> Vec<String> {
        vec![
            command.to_owned(),
            "--path".to_owned(),
            path.clone(),
            "--keys".to_owned(),
            keys_text.clone(),
        ]
    };
    child::<serde_json::Value>(&arguments("__fill-walk"))?;
    one(child(&arguments("__walk"))?)
}

/// The purge stall in a fresh process.
///
/// # Errors
///
/// When the child fails.
pub fn measure_stall(mode: Mode, keys: usize) -> Result<StallFigure> {
    one(child(&[
        "__purge-stall".to_owned(),
        "--durability".to_owned(),
        mode.as_str().to_owned(),
        "--keys".to_owned(),
        keys.to_string(),
    ])?)
}

/// set and get latencies in a fresh process, against raw rusqlite.
///
/// # Errors
///
/// When the child fails.
pub fn measure_latency(mode: Mode, keys: usize, rounds: usize) -> Result<Vec<Comparison>> {
    child(&[
        "__latency".to_owned(),
        "--durability".to_owned(),
        mode.as_str().to_owned(),
        "--keys".to_owned(),
        keys.to_string(),
        "--rounds".to_owned(),
        rounds.to_string(),
    ])
}

/// A `/proc/self/status` field in kibibytes (`VmHWM:` is the peak resident set size).
pub(crate) fn status_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("read /proc/self/status (peak RSS is measured on Linux only)")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Failure::new(format!("no {field} line in /proc/self/status")))
}

/// The process's peak resident set size in MiB, from `/proc/self/status`.
#[allow(clippy::cast_precision_loss)] // kibibytes stay far below 2^52
pub(crate) fn peak_rss_mib() -> Result<f64> {
    Ok(status_kib("VmHWM:")? as f64 / 1024.0)
}

fn expired_entries(keys: usize, groups: usize, expires_at: i64) -> impl Iterator<Item = Entry> {
    let value = value();
    (0..keys).map(move |index| Entry {
        group: group_name(index % groups),
        key: format!("key-{index:08}"),
        value: value.clone(),
        expires_at: Some(expires_at),
    })
}

/// Child: writes `keys` keys into one group.
///
/// # Errors
///
/// When the store fails.
pub fn fill_walk(path: &Path, keys: usize) -> Result<()> {
    let store = Store::open_with(store_config(path, store::Durability::Normal))?;
    let value = value();
    store.import((0..keys).map(|index| Entry {
        group: WALKED_GROUP.to_owned(),
        key: format!("key-{index:08}"),
        value: value.clone(),
        expires_at: None,
    }))?;
    store.close()?;
    println!("{{}}");
    Ok(())
}

/// Child: walks the group with `all()` and prints an [`RssFigure`].
///
/// # Errors
///
/// When the store fails, the walk comes up short, or the RSS cannot be read.
pub fn walk(path: &Path, keys: usize) -> Result<()> {
    let store = Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(path)
    })?;
    let rss_before_mib = peak_rss_mib()?;
    let started = Instant::now();
    let mut walked = 0_usize;
    for entry in store.all(WALKED_GROUP) {
        entry?;
        walked += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mib = peak_rss_mib()?;
    store.close()?;
    if walked != keys {
        return Err(Failure::new(format!(
            "all() yielded {walked} keys, expected {keys}"
        )));
    }
    let figure = RssFigure {
        workload: "all_rss".to_owned(),
        durability: "full".to_owned(),
        keys,
        rss_before_mib: (rss_before_mib * 10.0).round() / 10.0,
        peak_rss_mib: (peak_rss_mib * 10.0).round() / 10.0,
        seconds: (seconds * 1000.0).round() / 1000.0,
    };
    println!("{}", serde_json::to_string(&figure)?);
    Ok(())
}

/// Whether any expired row is left, read on a second connection (WAL readers never block
/// the store's writer).
fn expired_remaining(checker: &Connection) -> Result<bool> {
    Ok(checker.query_row(
        "SELECT EXISTS (SELECT 1 FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?1)",
        [now_ms()],
        |row| row.get(0),
    )?)
}

/// Child: fills `keys` expired keys, reopens the store with a background purge every
/// 100 ms, and times sets until the purge has removed them all; prints a [`StallFigure`].
///
/// # Errors
///
/// When the store fails or the purge does not finish within ten minutes.
pub fn purge_stall(mode: Mode, keys: usize) -> Result<()> {
    let directory = tempfile::tempdir().context("create a temporary directory")?;
    let path = directory.path().join("stall.db");
    let durability = mode.durability();
    let filler = Store::open_with(store_config(&path, durability))?;
    filler.import(expired_entries(keys, 100, now_ms() - 60_000))?;
    filler.close()?;

    let checker = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let value = value();
    let names: Vec<String> = (0..1_000_000)
        .map(|index| format!("key-{index:08}"))
        .collect();

    let mut latencies = Vec::new();
    let started = Instant::now();
    let store = Store::open_with(StoreConfig {
        purge_interval: PURGE_INTERVAL,
        durability,
        ..StoreConfig::new(&path)
    })?;
    loop {
        for _ in 0..64 {
            let name = &names[latencies.len() % names.len()];
            let before = Instant::now();
            store.set("writer", name, &value)?;
            latencies.push(u64::try_from(before.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        if !expired_remaining(&checker)? {
            break;
        }
        if started.elapsed() > STALL_TIME_LIMIT {
            return Err(Failure::new(
                "the background purge did not finish in ten minutes",
            ));
        }
    }
    let purge_seconds = started.elapsed().as_secs_f64();
    store.close()?;

    // The control, after the purge so that it cannot colour it: the same set loop on the
    // same file, reopened with no purge, for a fixed time. What it shows is the disk and
    // SQLite's own checkpoints, without the purge.
    let control = Store::open_with(store_config(&path, durability))?;
    let mut control_latencies = Vec::new();
    let control_started = Instant::now();
    while control_started.elapsed() < CONTROL_TIME {
        for _ in 0..64 {
            let name = &names[control_latencies.len() % names.len()];
            let before = Instant::now();
            control.set("control", name, &value)?;
            control_latencies.push(u64::try_from(before.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        // The same reads on the second connection as during the purge.
        expired_remaining(&checker)?;
    }
    control.close()?;
    let control_summary = Summary::of(&mut control_latencies)
        .ok_or_else(|| Failure::new("no control set was timed"))?;

    let sets = latencies.len();
    let slow_sets = latencies
        .iter()
        .filter(|&&latency| latency > SLOW_SET_NS)
        .count();
    let summary = Summary::of(&mut latencies).ok_or_else(|| Failure::new("no set was timed"))?;
    #[allow(clippy::cast_precision_loss)] // latencies stay far below 2^52 ns
    let figure = StallFigure {
        workload: "purge_stall".to_owned(),
        durability: mode.as_str().to_owned(),
        keys,
        sets,
        purge_seconds: (purge_seconds * 100.0).round() / 100.0,
        max_set_ms: (summary.max_ns as f64 / 10_000.0).round() / 100.0,
        p50_us: (summary.p50_ns as f64 / 100.0).round() / 10.0,
        p99_us: (summary.p99_ns as f64 / 100.0).round() / 10.0,
        slow_sets,
        control_sets: control_summary.operations,
        control_max_set_ms: (control_summary.max_ns as f64 / 10_000.0).round() / 100.0,
        control_p99_us: (control_summary.p99_ns as f64 / 100.0).round() / 10.0,
    };
    println!("{}", serde_json::to_string(&figure)?);
    Ok(())
}

/// Child: runs set and get (hit) against raw rusqlite and prints their comparisons as
/// `latency_set` and `latency_get`.
///
/// # Errors
///
/// When a workload fails.
pub fn latency(mode: Mode, keys: usize, rounds: usize) -> Result<()> {
    for (name, label) in [("set", "latency_set"), ("get_hit", "latency_get")] {
        let workload =
            workloads::find(name).ok_or_else(|| Failure::new(format!("no workload {name}")))?;
        for mut comparison in run_workload(workload, mode, Scale { keys }, rounds, &mut [])? {
            label.clone_into(&mut comparison.workload);
            println!("{}", serde_json::to_string(&comparison)?);
        }
    }
    Ok(())
}
