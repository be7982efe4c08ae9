//! Helpers shared by the reliability tests (crash, faults): a seeded random source, child
//! processes that report on stdout, and SQLite's own integrity check.
//!
//! Each test binary uses a different subset, so unused items are expected here.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set to `1` for the long run recorded in RELIABILITY.md (100 crash trials, more
/// operations); CI runs the short sizes.
pub const LONG_RUN_ENV: &str = "STORE_LONG_RUN";

/// Set to a number to replay a failing run: every random choice derives from it.
pub const SEED_ENV: &str = "STORE_TEST_SEED";

/// True for the long run.
pub fn is_long_run() -> bool {
    std::env::var(LONG_RUN_ENV).is_ok_and(|value| value == "1")
}

/// `short` in CI, `long` when [`LONG_RUN_ENV`] is set.
pub fn sized(short: usize, long: usize) -> usize {
    if is_long_run() {
        long
    } else {
        short
    }
}

/// The seed of this run: from [`SEED_ENV`] when given, else from the clock. Tests print
/// it in every failure message so that a failure can be replayed.
pub fn seed() -> u64 {
    if let Some(seed) = std::env::var(SEED_ENV)
        .ok()
        .and_then(|value| value.parse().ok())
    {
        return seed;
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    // Fold the 128-bit count into 64 bits; the low bits change fastest.
    (nanos as u64) ^ ((nanos >> 64) as u64) ^ u64::from(std::process::id())
}

/// xorshift64*: small, fast, and the same sequence for the same seed on every platform.
/// Good enough to pick crash moments and operations; not for cryptography.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // SplitMix64 scrambles the seed so that nearby seeds give unrelated sequences and
        // a zero seed does not stick at zero.
        let mut mixed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^= mixed >> 31;
        Rng { state: mixed | 1 }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Starts this test binary again, running only the `#[ignore]`d child test `test_name`,
/// with `environment` telling it what to do. Its stdout is piped to the caller.
pub fn spawn_child(test_name: &str, environment: &[(&str, String)]) -> Child {
    let executable = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(executable);
    command
        .args([test_name, "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in environment {
        command.env(name, value);
    }
    command.spawn().expect("start the child process")
}

/// The lines a child prints, read on a thread of their own so that the parent can wait
/// for them with a deadline. The channel ends when the child's stdout closes.
pub fn lines_of(stdout: ChildStdout) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// The next line carrying `marker` (libtest's own lines are skipped), the text after the
/// marker; `None` once the child's stdout has closed.
///
/// # Panics
///
/// When `deadline` passes first: the child hung.
pub fn next_report(lines: &Receiver<String>, marker: &str, deadline: Instant) -> Option<String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                // libtest may print "test name ... " without a newline before the first
                // line the test itself prints, so look for the marker anywhere.
                if let Some(position) = line.find(marker) {
                    return Some(line[position + marker.len()..].to_owned());
                }
            }
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => panic!("the child printed nothing for too long"),
        }
    }
}

/// Every remaining report of a child that has ended.
pub fn remaining_reports(lines: &Receiver<String>, marker: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    std::iter::from_fn(|| next_report(lines, marker, deadline)).collect()
}

/// `PRAGMA integrity_check` of a database file, through a connection of its own: `"ok"`
/// when SQLite finds nothing wrong.
pub fn integrity_check(path: &Path) -> String {
    let connection = rusqlite::Connection::open(path).expect("open for the integrity check");
    let report: Vec<String> = connection
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .expect("run the integrity check");
    report.join("\n")
}
