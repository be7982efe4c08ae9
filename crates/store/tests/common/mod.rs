//! Helpers shared by the crash tests: run this test binary again as a child process, let
//! it reach an injected crash point, and kill it there.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the child keeps its files.
pub const CHILD_DIRECTORY: &str = "STORE_TEST_CHILD_DIRECTORY";
/// What the child does.
pub const CHILD_MODE: &str = "STORE_TEST_CHILD_MODE";

/// Runs the test `entry` of this binary in `mode`, with `STORE_CRASH_POINT` set to
/// `crash_point`, waits for its marker line, then kills it with SIGKILL.
pub fn run_child_and_kill(entry: &str, directory: &Path, mode: &str, crash_point: &str) {
    let marker = format!("STORE_CRASH_POINT reached {crash_point}");
    let executable = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(executable)
        .args([entry, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIRECTORY, directory)
        .env(CHILD_MODE, mode)
        .env("STORE_CRASH_POINT", crash_point)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(&marker) {
                sender.send(()).ok();
                return;
            }
        }
    });
    let reached = receiver.recv_timeout(Duration::from_secs(120));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    assert!(reached.is_ok(), "the child never reached {crash_point}");
}

/// The child's directory and mode, when this process is a child.
pub fn child_settings() -> Option<(std::path::PathBuf, String)> {
    Some((
        std::env::var_os(CHILD_DIRECTORY)?.into(),
        std::env::var(CHILD_MODE).ok()?,
    ))
}
