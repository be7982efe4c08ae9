//! `store`: the command-line face of the `store` library, for people who inspect and
//! script a store file the way they use `sqlite3` or `redis-cli`.
//!
//! It is a thin layer: every command is one library call (or a few), and every message
//! is the library's. Exit status: 0 success; 1 not found; 2 bad usage or bad input;
//! 3 any other failure; 4 a conditional write (`set --if-revision`, `set --if-absent`,
//! `delete --if-revision`) found another revision; 5 `watch --from` a revision whose
//! changes were pruned.
//!
//! Decisions a script can rely on (also in `store --help` and the README):
//!
//! * A closed standard output (`store export | head -1`) ends the command quietly with
//!   status 0: the reader has all it wanted. Nothing is ever printed with `println!`, and a
//!   message that cannot be written to a closed standard error is dropped, never a panic.
//! * `--ttl` under 1 ms is refused (status 2): it would store a value that has already
//!   expired. Delete the key instead.
//! * `delete-prefix` with an empty or absent PREFIX deletes nothing unless `--all` is
//!   given (status 2): an empty prefix matches every group.
//! * `set GROUP KEY -` reads the value from standard input, whole and exactly (no newline
//!   is stripped), so values past the argument-length limit can be set; bytes that are not
//!   UTF-8 are stored as a binary value.
//! * `watch` prints JSON lines whatever `--json` says, one per change, flushed at once; a
//!   value that is not UTF-8 adds `value_base64`, as in `export`. SIGINT or SIGTERM ends
//!   it with status 0. It only reads: no command runs the background purge, so a watcher
//!   never deletes expired entries or prunes the change history (`store purge` does).
//! * A conditional `set`/`delete` prints the revision it made (plain `set` stays quiet),
//!   and `get --revision` prints `REVISION<TAB>VALUE`: the revision the next
//!   `--if-revision` expects.
//! * The InfluxDB options are read, and checked, only by the commands that ship journal
//!   points (`journal commit`, `journal flush`, `workspace commit`); a bad
//!   `STORE_INFLUX_URL` never stops `get` or `list`.
//! * Workspace state and archives default to `state/` and `archive/` beside the `--db`
//!   file, so the same `--db` reached from any directory sees the same workspaces.
#![forbid(unsafe_code)]
#![deny(clippy::all, clippy::pedantic)]
// Doc comments on the argument types are the help text people read: no Markdown there.
#![allow(clippy::doc_markdown)]

mod commands;
mod failure;
mod journal;
mod output;
mod progress;
mod revisions;
mod time;
mod values;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::failure::Failure;

/// Inspect and script a store file.
/// The decisions a script relies on, under `store --help`.
const AFTER_HELP: &str = "\
Exit status: 0 success; 1 not found; 2 bad usage or bad input; 3 any other failure;
4 a conditional write (set --if-revision/--if-absent, delete --if-revision) found another
revision; 5 watch --from a revision whose changes were pruned.
A closed standard output (store export | head -1) ends the command quietly with status 0.
Workspace state and archives default to state/ and archive/ beside the --db file
(the current directory's .core/state and .core/archive for --db :memory:).
The InfluxDB options are used, and checked, only by journal commit, journal flush and
workspace commit: the commands that ship journal points.";

#[derive(Debug, Parser)]
#[command(name = "store", version, about, long_about = None, after_help = AFTER_HELP)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
// Command-line switches are bools by nature.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
struct Global {
    /// The database file (its parent folders are created), or a `postgres://` URL.
    #[arg(
        long,
        global = true,
        env = "STORE_DB",
        default_value = ".core/store.db"
    )]
    db: PathBuf,
    /// Machine-readable output: one JSON value, or JSON lines for streams.
    #[arg(long, global = true)]
    json: bool,
    /// The workspace state directory [default: state beside the --db file].
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// Ship journal points to this InfluxDB (read only by journal commit, journal flush
    /// and workspace commit).
    #[arg(long, global = true, env = "STORE_INFLUX_URL")]
    influx_url: Option<String>,
    /// The InfluxDB organisation (required with --influx-url, except with --influx-v1).
    #[arg(long, global = true, env = "STORE_INFLUX_ORG")]
    influx_org: Option<String>,
    /// The InfluxDB bucket (the database for InfluxDB 1.x; required with --influx-url).
    #[arg(long, global = true, env = "STORE_INFLUX_BUCKET")]
    influx_bucket: Option<String>,
    /// The InfluxDB token.
    #[arg(
        long,
        global = true,
        env = "STORE_INFLUX_TOKEN",
        hide_env_values = true
    )]
    influx_token: Option<String>,
    /// Speak InfluxDB 1.x's `/write?db=` instead of `/api/v2/write` (an empty
    /// STORE_INFLUX_V1 is off).
    #[arg(long, global = true, env = "STORE_INFLUX_V1", value_parser = parse_switch)]
    influx_v1: bool,
    /// Open the database read-only: writes are refused (read commands do this by
    /// themselves when the file exists but this user may not write it).
    #[arg(long, global = true)]
    read_only: bool,
    /// Set by main: the command only reads the store.
    #[arg(skip)]
    reads_only: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set a value, optionally with a TTL (90s, 5m, 2h, 7d). VALUE "-" reads the value from
    /// standard input, byte for byte (stored as binary when it is not UTF-8).
    ///
    /// With --if-revision N or --if-absent the write is a compare-and-set: it happens only
    /// if the key's live revision is N (as printed by get --revision) or there is no live
    /// key, and prints the new revision (--json: {"ok":true,"revision":N}). Otherwise it
    /// changes nothing and exits with status 4, naming the revision it found.
    Set {
        group: String,
        key: String,
        /// The value; "-" reads the whole of standard input instead, exactly (no newline
        /// is stripped; bytes that are not UTF-8 are stored as binary), for values too long
        /// for the command line. To store a lone "-", pipe it: printf - | store set GROUP KEY -
        value: String,
        /// Expire the entry after this long; at least 1ms (a shorter TTL would store an
        /// already-expired value). Not with --if-revision or --if-absent.
        #[arg(long, value_parser = time::parse_ttl)]
        ttl: Option<std::time::Duration>,
        /// Write only if the key's live revision is N; prints the new revision (status 4
        /// on a conflict).
        #[arg(long, value_name = "N", conflicts_with_all = ["ttl", "if_absent"])]
        if_revision: Option<u64>,
        /// Write only if there is no live key; prints the new revision (status 4 on a
        /// conflict).
        #[arg(long, conflicts_with = "ttl")]
        if_absent: bool,
    },
    /// Print a value (raw bytes: no newline is added to the value's own). With --json: a
    /// string, or {"value_base64": ...} for a binary value that is not UTF-8.
    ///
    /// With --revision: the revision that last wrote the key, a tab, then the value as
    /// above (--json: {"value": ..., "revision": N}, value_base64 for binary values).
    Get {
        group: String,
        key: String,
        /// Also print the key's revision, for set --if-revision.
        #[arg(long)]
        revision: bool,
    },
    /// Add DELTA (default 1, may be negative) to an integer value atomically; prints the new
    /// value. A missing key counts from 0; a live key keeps its TTL.
    Incr {
        group: String,
        key: String,
        #[arg(default_value_t = 1, allow_negative_numbers = true)]
        delta: i64,
    },
    /// Print the time a key has left (e.g. "1m 29s 998ms"; --json: milliseconds), or
    /// "no expiry" (--json: null). Exit status 1 when the key is missing.
    Ttl { group: String, key: String },
    /// Make a key expire after TTL (90s, 5m, 2h, 7d) without changing its value. Exit status
    /// 1 when the key is missing.
    Expire {
        group: String,
        key: String,
        #[arg(value_parser = time::parse_duration)]
        ttl: std::time::Duration,
    },
    /// Remove a key's TTL without changing its value. Exit status 1 when the key is missing.
    Persist { group: String, key: String },
    /// Delete a key. With --if-revision N only if its live revision is N: prints the
    /// revision of the delete, or exits with status 4 (a missing key is a conflict too).
    Delete {
        group: String,
        key: String,
        /// Delete only if the key's live revision is N.
        #[arg(long, value_name = "N")]
        if_revision: Option<u64>,
    },
    /// Delete every key of a group.
    DeleteGroup { group: String },
    /// Delete every group whose name starts with PREFIX (literally, case-sensitively);
    /// an empty PREFIX needs --all.
    DeletePrefix {
        /// The prefix; empty or absent only with --all.
        prefix: Option<String>,
        /// Delete every group of the store (required when PREFIX is empty or absent).
        #[arg(long)]
        all: bool,
    },
    /// Count the live keys of a group.
    Count { group: String },
    /// Count the live keys of every group starting with PREFIX.
    CountAll {
        #[arg(default_value = "")]
        prefix: String,
    },
    /// Every live key and value of a group, sorted by key.
    List { group: String },
    /// Group names, sorted.
    Groups {
        #[arg(default_value = "")]
        prefix: String,
    },
    /// Render a Go-style template over a group.
    Render {
        group: String,
        /// The template text.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        template: Option<String>,
        /// Read the template from a file.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Remove expired entries now; prints how many.
    Purge,
    /// Follow changes as JSON lines until interrupted (SIGINT or SIGTERM: status 0).
    ///
    /// One line per change, flushed at once, whatever --json says: {"revision", "kind"
    /// (set, delete, expire or delete_group), "group", "key" (null for delete_group),
    /// "value" (null for all but set), "expires_at" (Unix ms or null), "timestamp" (Unix
    /// ms)}; a value that is not UTF-8 adds "value_base64" with its exact bytes, as in
    /// export. Changes made by other processes are seen within about 10ms. The watcher
    /// only reads: it never purges expired entries or prunes the change history.
    Watch {
        /// The group, or "*" for every group.
        group: String,
        /// The key, or "*" for every key of the group.
        #[arg(default_value = "*")]
        key: String,
        /// First replay the retained changes after this revision (0: all of them); the
        /// default is the current revision: only new changes. Status 5 when those changes
        /// have been pruned.
        #[arg(long, value_name = "REV")]
        from: Option<u64>,
    },
    /// Every live entry as JSON lines: group, key, value, expires_at (Unix ms or null).
    Export {
        /// Only groups starting with this prefix.
        #[arg(long, default_value = "")]
        group_prefix: String,
    },
    /// Read JSON lines as written by export (stdin by default) in one transaction.
    Import {
        /// The file to read; standard input when absent.
        file: Option<PathBuf>,
    },
    /// The journal: time-series points.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Workspaces: buffers of events that end as one journal point.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Archive journal points older than an age or time into a compressed file.
    Compact {
        /// An age (90d, 12h; 0s is now: every point so far) or an RFC 3339 time: points
        /// committed before it are archived.
        #[arg(long, value_parser = time::parse_age_or_time)]
        before: std::time::SystemTime,
        /// The folder the archive is written to [default: archive beside the --db file].
        #[arg(long)]
        output: Option<PathBuf>,
        /// gzip or zstd.
        #[arg(long, default_value = "gzip", value_parser = parse_format)]
        format: store::ArchiveFormat,
    },
    /// Archives written by compact.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// File size, entries, groups, expired-but-unpurged, journal points, pending exports.
    Stats,
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Commit one point.
    Commit {
        measurement: String,
        /// A field, KEY=VALUE; VALUE is read as JSON when it is JSON (3, 1.5, true), else as text.
        #[arg(long = "field", value_parser = journal::parse_pair)]
        fields: Vec<(String, String)>,
        /// A tag, KEY=VALUE.
        #[arg(long = "tag", value_parser = journal::parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Run a Flux query (from/range/filter) or read-only SQL; every unarchived point when empty.
    ///
    /// Text: a header line of column names, then one tab-separated line per row, columns in
    /// the SQL statement's order (the eight point columns for empty and Flux queries).
    /// --json: SQL prints {"columns":[...],"rows":[[...],...]}, keeping the statement's
    /// order and repeated names; empty and Flux queries print an array of point objects.
    Query {
        #[arg(default_value = "")]
        query: String,
    },
    /// Ship pending points to InfluxDB now; prints how many were accepted.
    Flush,
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Append a record (created if absent, reopened if present).
    Put {
        name: String,
        kind: String,
        /// A JSON object, e.g. '{"user":"ada"}'.
        json_object: String,
    },
    /// A waiting workspace's count of records per kind.
    Show { name: String },
    /// Commit a waiting workspace into one journal point.
    Commit { name: String },
    /// Throw a waiting workspace away.
    Discard { name: String },
    /// Workspaces waiting in the state directory, with their aggregates.
    List,
}

#[derive(Debug, Subcommand)]
enum ArchiveCommand {
    /// Print an archive's entries as JSON lines.
    Cat { path: PathBuf },
}

/// `STORE_INFLUX_V1`/`--influx-v1`: a boolean (1, true, yes, on, 0, false, …), and off
/// when set but empty, so that an empty variable does not stop every command.
fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "n" | "no" | "f" | "false" | "off" => Ok(false),
        "1" | "y" | "yes" | "t" | "true" | "on" => Ok(true),
        _ => Err(format!(
            "expected a boolean such as 1, 0, true or false, got {text:?}"
        )),
    }
}

fn parse_format(text: &str) -> Result<store::ArchiveFormat, String> {
    text.parse()
        .map_err(|error: store::Error| error.to_string())
}

/// The organisation recorded for an InfluxDB 1.x journal when none is given; 1.x ignores it.
const V1_ORGANISATION: &str = "core";

impl Command {
    /// True for the commands that only read the store.
    fn reads_only(&self) -> bool {
        matches!(
            self,
            Command::Get { .. }
                | Command::Count { .. }
                | Command::CountAll { .. }
                | Command::List { .. }
                | Command::Groups { .. }
                | Command::Render { .. }
                | Command::Export { .. }
                | Command::Stats
                | Command::Watch { .. }
                | Command::Journal(JournalCommand::Query { .. })
        )
    }
}

/// True when `path` exists and this process may not write it. Opening for writing
/// (without truncating) asks the kernel the access question with the effective user and
/// writes nothing.
fn exists_but_not_writable(path: &std::path::Path) -> bool {
    path.exists()
        && std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .is_err_and(|error| error.kind() == std::io::ErrorKind::PermissionDenied)
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    cli.global.reads_only = cli.command.reads_only();
    match commands::run(&cli.global, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message().is_empty() {
                // A closed stderr loses the message, but must not turn it into a panic.
                let _ = writeln!(std::io::stderr(), "{}", failure.message());
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

impl Global {
    /// Where journal points are shipped, for a command that ships them; `None` when no
    /// `--influx-url`/`STORE_INFLUX_URL` is given.
    ///
    /// # Errors
    ///
    /// Bad input naming the option and its variable: an empty URL, a missing organisation
    /// (InfluxDB 2/3) or bucket, or a URL that is not absolute `http(s)://`.
    fn journal_config(&self) -> Result<Option<store::JournalConfig>, Failure> {
        let Some(url) = &self.influx_url else {
            return Ok(None);
        };
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .filter(|value| !value.trim().is_empty())
                .map(str::to_owned)
        };
        if url.trim().is_empty() {
            return Err(Failure::bad_input(
                "store: STORE_INFLUX_URL (--influx-url) is set but empty: unset it to keep the journal local",
            ));
        }
        // InfluxDB 1.x has no organisations: name one so that only V2 must be told.
        let organisation = match (given(&self.influx_org), self.influx_v1) {
            (Some(organisation), _) => organisation,
            (None, true) => V1_ORGANISATION.to_owned(),
            (None, false) => {
                return Err(Failure::bad_input(
                    "store: STORE_INFLUX_ORG (--influx-org) is required with STORE_INFLUX_URL (--influx-url), unless STORE_INFLUX_V1 (--influx-v1) is set for InfluxDB 1.x",
                ))
            }
        };
        let Some(bucket) = given(&self.influx_bucket) else {
            return Err(Failure::bad_input(
                "store: STORE_INFLUX_BUCKET (--influx-bucket) is required with STORE_INFLUX_URL (--influx-url)",
            ));
        };
        let journal = store::JournalConfig {
            token: self.influx_token.clone(),
            protocol: if self.influx_v1 {
                store::JournalProtocol::V1
            } else {
                store::JournalProtocol::V2
            },
            ..store::JournalConfig::new(url, &organisation, &bucket)
        };
        // What is left for the library to refuse is the URL's form.
        let alone = store::StoreConfig {
            journal: Some(journal.clone()),
            ..store::StoreConfig::new(":memory:")
        };
        alone.validate().map_err(|error| {
            Failure::bad_input(format!(
                "store: STORE_INFLUX_URL (--influx-url) {url:?}: {}",
                Failure::from(error).message()
            ))
        })?;
        Ok(Some(journal))
    }

    /// Opens the store these options describe, creating the file's folders. Only a command
    /// that ships journal points (`ships_journal`) reads the InfluxDB options.
    fn open(&self, ships_journal: bool) -> Result<store::Store, Failure> {
        let journal = if ships_journal {
            self.journal_config()?
        } else {
            None
        };
        // A PostgreSQL URL names a database, not a file: no folders to create, and the
        // server decides what this user may write.
        let is_url = self
            .db
            .to_str()
            .is_some_and(|db| db.starts_with("postgres://") || db.starts_with("postgresql://"));
        let read_only =
            self.read_only || (self.reads_only && !is_url && exists_but_not_writable(&self.db));
        // Read-only creates nothing, not even the folders.
        if let Some(parent) = self
            .db
            .parent()
            .filter(|parent| !read_only && !is_url && !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                Failure::other(format!("store: create {}: {error}", parent.display()))
            })?;
        }
        let defaults = store::StoreConfig::new(&self.db);
        let config = store::StoreConfig {
            journal,
            // A command lives for a moment: expired entries are invisible anyway, and
            // `store purge` removes them on request.
            purge_interval: std::time::Duration::ZERO,
            // The library's default is `state` beside the database file.
            workspace_state_directory: self
                .state_dir
                .clone()
                .unwrap_or(defaults.workspace_state_directory.clone()),
            read_only,
            ..defaults
        };
        store::Store::open_with(config).map_err(Failure::from)
    }
}
