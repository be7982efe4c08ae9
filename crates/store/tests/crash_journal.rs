//! Crash safety of the journal pipeline: a child process commits journal points and
//! workspaces with shipping configured to an endpoint nobody listens on (so every point
//! waits in the outbox, and the shipper keeps retrying and rewriting outbox rows while
//! the child runs), and reports each acknowledged step on stdout. The parent kills it with
//! SIGKILL at a random moment — while it opens the store (recovering the last crash), in
//! the middle of a commit, or between commits — then checks the file:
//!
//! - SQLite's integrity check is `ok`;
//! - every acknowledged point is in `journal_entries` exactly once, with its fields, and
//!   has exactly one outbox row, pending; no outbox row lacks its point;
//! - every acknowledged workspace has exactly one journal point and one
//!   `workspace_commits` row pointing at it;
//! - the one step in flight is there whole (point, outbox row and commit record) or not
//!   at all; a workspace whose commit did not land is recovered as an orphan by the next
//!   open, and committing it then gives it exactly one point too.
//!
//! `workspace.rs` stops the child at each injected point inside the commit
//! (`commit_good_exactly_once_when_killed_at_each_crash_point`); this file kills it
//! wherever the scheduler happens to be.
//!
//! CI runs 10 trials; `STORE_LONG_RUN=1` runs 100. `STORE_TEST_SEED=<n>` replays the
//! choice of steps and moments.
#![cfg(unix)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use store::{JournalConfig, Store, StoreConfig};
use support::{integrity_check, lines_of, next_report, remaining_reports, sized, spawn_child, Rng};

const CHILD_TEST: &str = "crash_journal_child_commits_and_reports";
const PATH_ENV: &str = "STORE_CRASH_JOURNAL_PATH";
const SEED_ENV: &str = "STORE_CRASH_JOURNAL_SEED";
const START_ENV: &str = "STORE_CRASH_JOURNAL_START";
/// Marks the child's report lines among libtest's own.
const REPORT: &str = "crash-journal-report: ";
/// The discard port on loopback: nothing listens there, so every request fails at once
/// (checked before the trials start).
const DEAD_ENDPOINT: &str = "127.0.0.1:9";

/// Step `number` of the run seeded with `seed`: a journal point, or a workspace of
/// `likes` rows committed into one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Point,
    Workspace { likes: u64 },
}

impl Step {
    fn of(seed: u64, number: u64) -> Step {
        let mut rng = Rng::new(seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if rng.one_in(3) {
            Step::Workspace {
                likes: 1 + rng.below(4) as u64,
            }
        } else {
            Step::Point
        }
    }

    /// The measurement of step `number`: `p<n>` for a point, `w<n>` (the workspace's
    /// name) for a workspace.
    fn measurement(self, number: u64) -> String {
        match self {
            Step::Point => format!("p{number}"),
            Step::Workspace { .. } => format!("w{number}"),
        }
    }

    fn fields(self, number: u64) -> Value {
        match self {
            Step::Point => json!({ "n": number }),
            Step::Workspace { likes } => json!({ "like": likes }),
        }
    }
}

fn config(path: &Path) -> StoreConfig {
    StoreConfig {
        journal: Some(JournalConfig::new(
            &format!("http://{DEAD_ENDPOINT}"),
            "org",
            "bucket",
        )),
        purge_interval: Duration::ZERO,
        workspace_state_directory: state_directory(path),
        ..StoreConfig::new(path)
    }
}

fn state_directory(path: &Path) -> PathBuf {
    path.with_extension("state")
}

// ---------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------

fn report(text: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{REPORT}{text}").expect("report to the parent");
    stdout.flush().expect("report to the parent");
}

fn environment(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

#[test]
#[ignore = "a child process of the journal crash test; does nothing when run by hand"]
fn crash_journal_child_commits_and_reports() {
    let Ok(path) = std::env::var(PATH_ENV) else {
        return;
    };
    let seed: u64 = environment(SEED_ENV).parse().expect("a numeric seed");
    let start: u64 = environment(START_ENV).parse().expect("a numeric start");
    report("opening");
    let store = Store::open_with(config(Path::new(&path))).expect("open the store");
    report("ready");
    for number in start..start + 1_000_000 {
        let step = Step::of(seed, number);
        let measurement = step.measurement(number);
        match step {
            Step::Point => {
                let fields = step.fields(number).as_object().cloned().expect("object");
                let tags = BTreeMap::from([("step".to_owned(), number.to_string())]);
                report(&format!("committing {number}"));
                store
                    .commit_to_journal(&measurement, &fields, &tags)
                    .expect("commit a point");
            }
            Step::Workspace { likes } => {
                let workspace = store.new_workspace(&measurement).expect("new workspace");
                for _ in 0..likes {
                    workspace.put("like", Map::new()).expect("put");
                }
                report(&format!("committing {number}"));
                workspace.commit().expect("commit the workspace");
            }
        }
        report(&format!("ack {number}"));
    }
}

// ---------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------

/// Figures for RELIABILITY.md.
#[derive(Debug, Default)]
struct Figures {
    trials: usize,
    killed_while_opening: usize,
    killed_while_committing: usize,
    acknowledged_points: u64,
    acknowledged_workspaces: u64,
    in_flight_landed: u64,
    orphans_committed_after_recovery: u64,
    files_quarantined: usize,
}

/// A journal row as the parent reads it from the file.
#[derive(Debug)]
struct Point {
    entry_id: i64,
    fields: Value,
    tags: Value,
}

/// Everything the parent reads from the file with a connection of its own.
struct FileState {
    /// measurement → its points.
    points: BTreeMap<String, Vec<Point>>,
    /// entry id → pending (no `failed_at`).
    outbox: BTreeMap<i64, bool>,
    /// workspace name → (workspace id, entry id).
    commits: BTreeMap<String, Vec<(String, i64)>>,
}

fn read_file(path: &Path) -> FileState {
    let connection = rusqlite::Connection::open(path).expect("open the file");
    let mut points: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    let has_schema = connection
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master \
             WHERE name IN ('workspace_commits', 'journal_outbox')",
            [],
            |row| row.get::<_, i64>(0),
        )
        .expect("read the schema")
        == 2;
    if !has_schema {
        // Killed while creating the store: nothing can have been acknowledged.
        return FileState {
            points,
            outbox: BTreeMap::new(),
            commits: BTreeMap::new(),
        };
    }
    let mut statement = connection
        .prepare("SELECT entry_id, measurement, fields_json, tags_json FROM journal_entries")
        .expect("prepare");
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .expect("query");
    for row in rows {
        let (entry_id, measurement, fields, tags) = row.expect("a row");
        points.entry(measurement).or_default().push(Point {
            entry_id,
            fields: serde_json::from_str(&fields).expect("fields JSON"),
            tags: serde_json::from_str(&tags).expect("tags JSON"),
        });
    }
    let mut statement = connection
        .prepare("SELECT entry_id, failed_at IS NULL FROM journal_outbox")
        .expect("prepare");
    let outbox = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("outbox rows");
    let mut commits: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    let mut statement = connection
        .prepare("SELECT workspace_name, workspace_id, entry_id FROM workspace_commits")
        .expect("prepare");
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("query");
    for row in rows {
        let (name, id, entry_id): (String, String, i64) = row.expect("a row");
        commits.entry(name).or_default().push((id, entry_id));
    }
    FileState {
        points,
        outbox,
        commits,
    }
}

fn state_files(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_directory(path))
        .map(|listing| {
            listing
                .map(|entry| {
                    entry
                        .expect("entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

struct Run {
    seed: u64,
    /// Steps `0..next` are in the file; step → the fields its point must carry (`None`
    /// for an orphan the parent committed, whose rows depend on when the child died).
    landed: BTreeMap<u64, Option<Value>>,
    next: u64,
    /// Workspace steps that were in flight at a kill, whose half-made files recovery may
    /// have quarantined.
    in_flight_workspaces: BTreeSet<String>,
    figures: Figures,
}

impl Run {
    fn acknowledge(&mut self, report: &str, context: &str) {
        if let Some(number) = report.strip_prefix("ack ") {
            let number: u64 = number.parse().expect("a step number");
            assert_eq!(
                number, self.next,
                "{context}: steps are acknowledged in order"
            );
            let step = Step::of(self.seed, number);
            self.landed.insert(number, Some(step.fields(number)));
            self.next += 1;
            match step {
                Step::Point => self.figures.acknowledged_points += 1,
                Step::Workspace { .. } => self.figures.acknowledged_workspaces += 1,
            }
        } else {
            assert!(
                report.starts_with("committing ") || report == "opening" || report == "ready",
                "{context}: unexpected report {report:?}"
            );
        }
    }

    /// Checks the file as the crash left it, then opens it as the next user would.
    fn verify(&mut self, path: &Path, context: &str) {
        assert_eq!(integrity_check(path), "ok", "{context}: integrity");
        let file = read_file(path);
        // The step in flight landed whole, or not at all.
        let in_flight = Step::of(self.seed, self.next);
        let in_flight_name = in_flight.measurement(self.next);
        let has_landed = file.points.contains_key(&in_flight_name);
        if let Some(points) = file.points.get(&in_flight_name) {
            assert_eq!(points.len(), 1, "{context}: {in_flight_name} twice");
            self.landed
                .insert(self.next, Some(in_flight.fields(self.next)));
            self.next += 1;
            self.figures.in_flight_landed += 1;
        } else if matches!(in_flight, Step::Workspace { .. }) {
            self.in_flight_workspaces.insert(in_flight_name.clone());
        }
        self.check_file(&file, context);

        // Recovery: committed workspaces' files go at open; an uncommitted one is an
        // orphan, committed here exactly once.
        let store = Store::open_with(config(path)).expect("reopen after the crash");
        let orphans = store.recover_orphans(None).expect("recover orphans");
        let orphan_names: Vec<String> = orphans.iter().map(|w| w.name().to_owned()).collect();
        assert!(
            orphan_names.is_empty() || (!has_landed && orphan_names == [in_flight_name]),
            "{context}: orphans {orphan_names:?}"
        );
        for orphan in orphans {
            let aggregate = orphan.commit().expect("commit the orphan");
            // An orphan killed before its first put commits no point (a point needs a
            // field), only its summary.
            if let Some(likes) = aggregate.get("like").copied() {
                self.landed
                    .insert(self.next, Some(json!({ "like": likes })));
            }
            self.next += 1;
            self.figures.orphans_committed_after_recovery += 1;
        }
        store.close().expect("close");
        let left: Vec<String> = state_files(path)
            .into_iter()
            .filter(|name| name != "quarantine")
            .collect();
        assert!(left.is_empty(), "{context}: files left {left:?}");
        self.check_quarantine(path, context);
        self.check_file(&read_file(path), context);
    }

    fn check_file(&self, file: &FileState, context: &str) {
        let expected: BTreeSet<String> = self
            .landed
            .keys()
            .map(|number| Step::of(self.seed, *number).measurement(*number))
            .collect();
        let present: BTreeSet<String> = file.points.keys().cloned().collect();
        assert_eq!(present, expected, "{context}: points present");
        let mut entry_ids = BTreeSet::new();
        for (number, fields) in &self.landed {
            let step = Step::of(self.seed, *number);
            let name = step.measurement(*number);
            let points = &file.points[&name];
            assert_eq!(points.len(), 1, "{context}: {name} journaled {points:?}");
            let point = &points[0];
            if let Some(fields) = fields {
                assert_eq!(&point.fields, fields, "{context}: {name}");
            }
            entry_ids.insert(point.entry_id);
            assert_eq!(
                file.outbox.get(&point.entry_id),
                Some(&true),
                "{context}: {name} has no pending outbox row"
            );
            match step {
                Step::Point => {
                    assert_eq!(point.tags, json!({ "step": number.to_string() }));
                    assert!(!file.commits.contains_key(&name), "{context}: {name}");
                }
                Step::Workspace { .. } => {
                    assert_eq!(point.tags, json!({ "workspace": name }), "{context}");
                    let commits = file.commits.get(&name).map_or(&[][..], Vec::as_slice);
                    assert_eq!(commits.len(), 1, "{context}: {name} commits {commits:?}");
                    assert_eq!(commits[0].1, point.entry_id, "{context}: {name}");
                }
            }
        }
        let outbox: BTreeSet<i64> = file.outbox.keys().copied().collect();
        assert_eq!(outbox, entry_ids, "{context}: one outbox row per point");
        let ids: BTreeSet<&String> = file.commits.values().flatten().map(|(id, _)| id).collect();
        assert_eq!(
            ids.len(),
            file.commits.values().map(Vec::len).sum::<usize>(),
            "{context}: workspace ids are distinct"
        );
    }

    /// Only half-made files of workspaces that were in flight at a kill may have been
    /// quarantined (a file killed between its creation and its schema is not SQLite yet).
    fn check_quarantine(&mut self, path: &Path, context: &str) {
        let Ok(listing) = std::fs::read_dir(state_directory(path).join("quarantine")) else {
            return;
        };
        let mut count = 0;
        for entry in listing {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let stem = name.split('.').next().unwrap_or_default();
            assert!(
                self.in_flight_workspaces.contains(stem),
                "{context}: quarantined {name}"
            );
            count += 1;
        }
        self.figures.files_quarantined = count;
    }
}

#[test]
fn crash_good_journal_outbox_and_workspace_commits_exactly_once() {
    assert!(
        std::net::TcpStream::connect(DEAD_ENDPOINT).is_err(),
        "something listens on {DEAD_ENDPOINT}: the outbox would drain"
    );
    let seed = support::seed();
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("journal.db");
    let mut rng = Rng::new(seed);
    let mut run = Run {
        seed,
        landed: BTreeMap::new(),
        next: 0,
        in_flight_workspaces: BTreeSet::new(),
        figures: Figures::default(),
    };
    for trial in 0..sized(10, 100) {
        let context = format!("trial {trial} (replay with {}={seed})", support::SEED_ENV);
        // A random moment: while opening one time in eight; else as the child reports
        // that commit `wanted` starts (so the kill lands inside it), or once it is
        // acknowledged (between commits).
        let wanted = if rng.one_in(8) {
            None
        } else {
            let number = run.next + rng.below(sized(30, 80)) as u64;
            let marker = if rng.one_in(2) { "committing" } else { "ack" };
            Some(format!("{marker} {number}"))
        };
        let mut child = spawn_child(
            CHILD_TEST,
            &[
                (PATH_ENV, path.display().to_string()),
                (SEED_ENV, seed.to_string()),
                (START_ENV, run.next.to_string()),
            ],
        );
        let lines = lines_of(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Some(report) = next_report(&lines, REPORT, deadline) {
            run.acknowledge(&report, &context);
            let is_moment = match &wanted {
                None => report == "opening",
                Some(wanted) => report == *wanted,
            };
            if is_moment {
                break;
            }
        }
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("wait for the child");
        for report in remaining_reports(&lines, REPORT) {
            run.acknowledge(&report, &context);
        }
        assert_eq!(
            status.signal(),
            Some(9),
            "{context}: the child must die by SIGKILL, not end by itself ({status})"
        );
        run.figures.killed_while_opening += usize::from(wanted.is_none());
        run.figures.killed_while_committing += usize::from(
            wanted
                .as_deref()
                .is_some_and(|wanted| wanted.starts_with("committing")),
        );
        run.verify(&path, &context);
        run.figures.trials += 1;
    }
    println!(
        "crash journal: {:?}, acknowledged points lost or duplicated: 0 (seed {seed})",
        run.figures
    );
    assert!(
        run.figures.acknowledged_points > 0 && run.figures.acknowledged_workspaces > 0,
        "{:?}",
        run.figures
    );
}
