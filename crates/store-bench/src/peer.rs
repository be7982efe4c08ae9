//! Peers that cannot share this process, driven round by round over a line protocol on
//! their stdin and stdout (described in `peers/denokv/src/main.rs`): `denokv_sqlite`, whose
//! SQLite library version cannot be linked beside the store's, and Python's diskcache.
//!
//! Each peer times its own operations and replies with their latencies, so the pipe's cost
//! is never counted; the rounds still alternate with the store's and raw rusqlite's.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::failure::{Context, Failure, Result};
use crate::workloads::{Mode, Plan};

/// The diskcache peer, run with `python3 -c`.
const DISKCACHE_SCRIPT: &str = include_str!("../peers/diskcache_peer.py");

/// A running peer process.
pub struct Peer {
    /// `denokv_sqlite` or `diskcache`.
    pub name: &'static str,
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(name: &'static str, command: &mut Command) -> Result<Peer> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context(format!("start the {name} peer"))?;
        let input = child
            .stdin
            .take()
            .ok_or_else(|| Failure::new(format!("{name} peer: no stdin")))?;
        let output = child
            .stdout
            .take()
            .ok_or_else(|| Failure::new(format!("{name} peer: no stdout")))?;
        Ok(Peer {
            name,
            child,
            input,
            output: BufReader::new(output),
        })
    }

    /// Sends one request and returns the numbers of its `ok` reply.
    ///
    /// # Errors
    ///
    /// An `err` reply, a malformed reply, or a peer that has gone.
    pub fn request(&mut self, line: &str) -> Result<Vec<u64>> {
        let context = || format!("{} peer: {}", self.name, line);
        writeln!(self.input, "{line}").context(context())?;
        self.input.flush().context(context())?;
        let mut reply = String::new();
        if self.output.read_line(&mut reply).context(context())? == 0 {
            return Err(Failure::new("the peer exited").within(context()));
        }
        let mut words = reply.split_whitespace();
        match words.next() {
            Some("ok") => words
                .map(|word| word.parse::<u64>().context(context()))
                .collect(),
            Some("err") => Err(Failure::new(reply.trim_end().to_owned()).within(context())),
            _ => Err(Failure::new(format!("unexpected reply {reply:?}")).within(context())),
        }
    }

    /// Whether this peer can run in `mode` (diskcache has no in-memory mode).
    #[must_use]
    pub fn supports(&self, mode: Mode) -> bool {
        !(self.name == "diskcache" && mode == Mode::Memory)
    }

    /// Opens the peer's database for `mode` under `directory`.
    ///
    /// # Errors
    ///
    /// When the peer fails to open it.
    pub fn open(&mut self, mode: Mode, directory: &Path) -> Result<()> {
        let location = if mode == Mode::Memory {
            ":memory:".to_owned()
        } else {
            directory.join(self.name).display().to_string()
        };
        self.request(&format!("open {} {location}", mode.as_str()))
            .map(drop)
    }

    /// Writes the data set of `plan`, untimed.
    ///
    /// # Errors
    ///
    /// When the peer fails to write it.
    pub fn fill(&mut self, plan: &Plan) -> Result<()> {
        self.request(&format!("fill {} {}", plan.keys, plan.groups))
            .map(drop)
    }

    /// Times operations `start..end` of `operation` and returns their latencies.
    ///
    /// # Errors
    ///
    /// When an operation fails in the peer.
    pub fn run(
        &mut self,
        operation: &str,
        plan: &Plan,
        start: usize,
        end: usize,
    ) -> Result<Vec<u64>> {
        self.request(&format!(
            "run {operation} {} {} {start} {end}",
            plan.keys, plan.groups
        ))
    }

    /// Closes the peer's database.
    ///
    /// # Errors
    ///
    /// When the peer fails to close it.
    pub fn close(&mut self) -> Result<()> {
        self.request("close").map(drop)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Every database has been closed by then; nothing is lost by ending the process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the diskcache peer, or says why it cannot run.
///
/// # Errors
///
/// A note for the report when Python or the `diskcache` package is missing.
pub fn start_diskcache() -> Result<Peer> {
    let probe = Command::new("python3")
        .args(["-c", "import diskcache"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Err(_) => return Err(Failure::new("python3 was not found")),
        Ok(status) if !status.success() => {
            return Err(Failure::new(
                "the Python package diskcache is not installed (pip install diskcache)",
            ))
        }
        Ok(_) => {}
    }
    Peer::spawn(
        "diskcache",
        Command::new("python3").args(["-c", DISKCACHE_SCRIPT]),
    )
}

/// Where Cargo puts the denokv peer: beside this binary's own target directory
/// (`target/release/store-bench` → `target/denokv-peer/release/denokv-peer`).
fn denokv_target_directory() -> Result<PathBuf> {
    let executable = std::env::current_exe().context("find this executable")?;
    executable
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("denokv-peer"))
        .ok_or_else(|| Failure::new("find the target directory"))
}

/// Builds (if needed) and starts the `denokv_sqlite` peer, or says why it cannot run.
///
/// The peer is its own Cargo workspace under `peers/denokv`; building it needs Cargo and
/// the crates.io index once, and takes a minute or two the first time.
///
/// # Errors
///
/// A note for the report when the peer cannot be built or started.
pub fn start_denokv(quiet: bool) -> Result<Peer> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/denokv/Cargo.toml");
    if !manifest.is_file() {
        return Err(Failure::new(format!(
            "its source {} is not on this machine",
            manifest.display()
        )));
    }
    let target = denokv_target_directory()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    if !quiet {
        eprintln!("store-bench: building the denokv_sqlite peer (the first time takes a while)");
    }
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .stdout(Stdio::null());
    if quiet {
        build.stderr(Stdio::null());
    }
    let status = build
        .status()
        .context("run cargo to build the denokv_sqlite peer")?;
    if !status.success() {
        return Err(Failure::new(format!(
            "building it with cargo failed ({status}); see `cargo build --release --manifest-path {}`",
            manifest.display()
        )));
    }
    Peer::spawn(
        "denokv_sqlite",
        &mut Command::new(target.join("release").join("denokv-peer")),
    )
}
