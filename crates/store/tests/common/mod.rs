//! Helpers shared by the crash tests: run this test binary again as a child process, let
//! it reach an injected crash point (or a marker of its own), and kill it there.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the child keeps its files.
const CHILD_DIRECTORY: &str = "STORE_TEST_CHILD_DIRECTORY";
/// What the child does.
const CHILD_MODE: &str = "STORE_TEST_CHILD_MODE";
/// How long a child may take to reach its marker on a busy machine.
const MARKER_TIMEOUT: Duration = Duration::from_secs(120);

/// A child process running the test `entry` of this binary in `mode`, stopped at
/// `crash_point` if one is given.
pub struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildProcess {
    pub fn start(entry: &str, directory: &Path, mode: &str, crash_point: Option<&str>) -> Self {
        let executable = std::env::current_exe().expect("the test binary");
        let mut command = Command::new(executable);
        command
            .args([entry, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIRECTORY, directory)
            .env(CHILD_MODE, mode)
            .env_remove("STORE_CRASH_POINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(point) = crash_point {
            command.env("STORE_CRASH_POINT", point);
        }
        let mut child = command.spawn().expect("spawn the child");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        ChildProcess { child, lines }
    }

    /// True once the child has printed a line containing `marker`.
    pub fn wait_for(&self, marker: &str) -> bool {
        let deadline = std::time::Instant::now() + MARKER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the child");
        self.child.wait().expect("reap the child");
    }
}

/// Runs the test `entry` of this binary in `mode` with `STORE_CRASH_POINT=crash_point`,
/// waits until it reports reaching the point, then kills it with SIGKILL.
pub fn run_child_and_kill(entry: &str, directory: &Path, mode: &str, crash_point: &str) {
    let child = ChildProcess::start(entry, directory, mode, Some(crash_point));
    let reached = child.wait_for(&format!("STORE_CRASH_POINT reached {crash_point}"));
    child.kill();
    assert!(reached, "the child never reached {crash_point}");
}

/// The child's directory and mode, when this process is a child.
pub fn child_settings() -> Option<(PathBuf, String)> {
    Some((
        std::env::var_os(CHILD_DIRECTORY)?.into(),
        std::env::var(CHILD_MODE).ok()?,
    ))
}
