//! Crash safety: a child process writes and reports each acknowledged step on stdout; the
//! parent kills it with SIGKILL at a random moment, then reopens the file and checks that
//! SQLite finds it intact and that it holds every acknowledged write, with its value.
//!
//! The steps are a pure function of (seed, sequence number), so parent and child agree on
//! them without sharing anything but the seed, and the parent replays the acknowledged ones
//! on a plain in-memory model. The file lives from trial to trial, so each trial also
//! recovers from the previous crash (and one trial in eight kills the child while it is
//! opening the store, i.e. during that recovery). The one step in flight when the child died
//! may or may not have landed: the file must equal the model either without it or with all
//! of it — which is also what proves a transaction is all or nothing.
//!
//! The change feed (issue 13) is crashed the same way, from both ends: a writer killed
//! while a follower in another process reads its changes, and a follower killed while it
//! reads. Each time the follower resumes from the revision it had reached and must get
//! every revision exactly once, in order, with the value that revision wrote.
//!
//! CI runs 10 trials per scenario (4 per change-feed test); `STORE_LONG_RUN=1` runs 100
//! (40). `STORE_TEST_SEED=<n>` replays a run; every failure message names its seed.
#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use store::{
    ChangeRetention, Durability, Error, EventType, QuotaConfig, ScopedStore, Store, StoreConfig,
};
use support::{integrity_check, lines_of, next_report, remaining_reports, sized, spawn_child, Rng};

const CHILD_TEST: &str = "crash_child_writes_and_reports";
const SCENARIO_ENV: &str = "STORE_CRASH_SCENARIO";
const PATH_ENV: &str = "STORE_CRASH_PATH";
const SEED_ENV: &str = "STORE_CRASH_SEED";
const START_ENV: &str = "STORE_CRASH_START";
/// Marks the child's report lines among libtest's own.
const REPORT: &str = "crash-report: ";

const NAMESPACE: &str = "tenant-a";
const QUOTA: QuotaConfig = QuotaConfig {
    max_keys: 24,
    max_groups: 4,
};
/// Long enough that nothing written during a run expires before it is checked.
const LONG_TTL: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// Single writes with `Durability::Full`.
    Full,
    /// Single writes with `Durability::Normal`: only a power cut may lose a commit, never
    /// a killed process.
    Normal,
    /// Transactions of one to six writes, one in five rolled back on purpose.
    Transactions,
    /// Scoped writes and scoped transactions against a namespace with a quota.
    Quotas,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::Full,
        Scenario::Normal,
        Scenario::Transactions,
        Scenario::Quotas,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Full => "full",
            Scenario::Normal => "normal",
            Scenario::Transactions => "transactions",
            Scenario::Quotas => "quotas",
        }
    }

    fn durability(self) -> Durability {
        match self {
            Scenario::Full | Scenario::Transactions => Durability::Full,
            Scenario::Normal | Scenario::Quotas => Durability::Normal,
        }
    }

    fn quota(self) -> Option<QuotaConfig> {
        (self == Scenario::Quotas).then_some(QUOTA)
    }

    /// Step `number` of the run seeded with `seed`.
    fn step(self, seed: u64, number: u64) -> Step {
        let mut rng = Rng::new(seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let transaction = |rng: &mut Rng, most: usize, rollbacks_one_in: usize| {
            let count = 1 + rng.below(most);
            Step::Transaction {
                writes: (0..count).map(|index| write(rng, number, index)).collect(),
                commit: !rng.one_in(rollbacks_one_in),
            }
        };
        match self {
            Scenario::Full | Scenario::Normal => Step::One(write(&mut rng, number, 0)),
            Scenario::Transactions => transaction(&mut rng, 6, 5),
            Scenario::Quotas if rng.one_in(4) => transaction(&mut rng, 4, 6),
            Scenario::Quotas => Step::One(write(&mut rng, number, 0)),
        }
    }
}

/// A write; groups are local to the namespace in the quota scenario.
#[derive(Clone, Debug)]
enum Write {
    Set {
        group: String,
        key: String,
        value: String,
    },
    SetWithTtl {
        group: String,
        key: String,
        value: String,
    },
    Delete {
        group: String,
        key: String,
    },
    DeleteGroup {
        group: String,
    },
    DeletePrefix {
        prefix: String,
    },
}

/// Six groups of twelve keys: small enough that writes overwrite and delete each other,
/// and that the quota scenario keeps hitting its limits.
fn write(rng: &mut Rng, number: u64, index: usize) -> Write {
    let group = format!("g{}", rng.below(6));
    let key = format!("k{}", rng.below(12));
    let value = format!("v{number}.{index}");
    match rng.below(40) {
        0..=21 => Write::Set { group, key, value },
        22..=27 => Write::SetWithTtl { group, key, value },
        28..=35 => Write::Delete { group, key },
        36..=38 => Write::DeleteGroup { group },
        _ => Write::DeletePrefix {
            prefix: ["g1", "g2", "g", "x"][rng.below(4)].to_owned(),
        },
    }
}

#[derive(Clone, Debug)]
enum Step {
    One(Write),
    /// All of them or none; `commit: false` makes the closure return an error.
    Transaction {
        writes: Vec<Write>,
        commit: bool,
    },
}

impl Step {
    fn writes(&self) -> usize {
        match self {
            Step::One(_) => 1,
            Step::Transaction { writes, .. } => writes.len(),
        }
    }
}

/// What a step did, as the child reports it and the model predicts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    /// A quota refused a write (in a transaction: the whole transaction).
    Refused,
    /// The transaction closure returned an error on purpose.
    RolledBack,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Refused => "refused",
            Outcome::RolledBack => "rolled-back",
        }
    }

    fn parse(name: &str) -> Option<Outcome> {
        [Outcome::Done, Outcome::Refused, Outcome::RolledBack]
            .into_iter()
            .find(|outcome| outcome.name() == name)
    }
}

/// The stored entries, (stored group, key) → value; nothing in these runs expires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Model {
    entries: BTreeMap<(String, String), String>,
}

impl Model {
    fn stored_group(quota: Option<QuotaConfig>, group: &str) -> String {
        match quota {
            Some(_) => format!("{NAMESPACE}:{group}"),
            None => group.to_owned(),
        }
    }

    fn apply(&mut self, step: &Step, quota: Option<QuotaConfig>) -> Outcome {
        match step {
            Step::One(write) => self.apply_write(write, quota),
            Step::Transaction { writes, commit } => {
                let mut pending = self.clone();
                for write in writes {
                    if pending.apply_write(write, quota) == Outcome::Refused {
                        return Outcome::Refused;
                    }
                }
                if !commit {
                    return Outcome::RolledBack;
                }
                *self = pending;
                Outcome::Done
            }
        }
    }

    fn apply_write(&mut self, write: &Write, quota: Option<QuotaConfig>) -> Outcome {
        let stored = |group: &str| Model::stored_group(quota, group);
        match write {
            Write::Set { group, key, value } | Write::SetWithTtl { group, key, value } => {
                let entry = (stored(group), key.clone());
                if let Some(quota) = quota {
                    if !self.allows(&entry, quota) {
                        return Outcome::Refused;
                    }
                }
                self.entries.insert(entry, value.clone());
            }
            Write::Delete { group, key } => {
                self.entries.remove(&(stored(group), key.clone()));
            }
            Write::DeleteGroup { group } => {
                let group = stored(group);
                self.entries.retain(|(stored, _), _| *stored != group);
            }
            Write::DeletePrefix { prefix } => {
                let prefix = stored(prefix);
                self.entries
                    .retain(|(stored, _), _| !stored.starts_with(&prefix));
            }
        }
        Outcome::Done
    }

    /// SPEC §9: an existing key may always be rewritten; a new key needs room under
    /// `max_keys`, and a new group room under `max_groups`.
    fn allows(&self, entry: &(String, String), quota: QuotaConfig) -> bool {
        if self.entries.contains_key(entry) {
            return true;
        }
        if self.entries.len() >= quota.max_keys {
            return false;
        }
        let groups = self.groups();
        groups.contains(&entry.0) || groups.len() < quota.max_groups
    }

    fn groups(&self) -> std::collections::BTreeSet<String> {
        self.entries
            .keys()
            .map(|(group, _)| group.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------

fn report(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A parent that has gone away ends the child here (broken pipe).
    writeln!(stdout, "{REPORT}{text}").expect("report to the parent");
    stdout.flush().expect("report to the parent");
}

fn environment(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

/// One write on a `Store`, `Transaction`, `ScopedStore` or `ScopedTransaction`: they share
/// method names, not a trait.
macro_rules! perform {
    ($target:expr, $write:expr) => {
        match $write {
            Write::Set { group, key, value } => $target.set(group, key, value),
            Write::SetWithTtl { group, key, value } => {
                $target.set_with_ttl(group, key, value, LONG_TTL)
            }
            Write::Delete { group, key } => $target.delete(group, key),
            Write::DeleteGroup { group } => $target.delete_group(group),
            Write::DeletePrefix { prefix } => $target.delete_prefix(prefix),
        }
    };
}

fn rollback() -> Error {
    Error::InvalidInput {
        operation: "crash.rollback",
        message: "rolled back on purpose".to_owned(),
    }
}

/// What the store answered, as an outcome; anything unexpected ends the child with a
/// panic, which the parent sees as an exit that was not SIGKILL.
fn outcome(result: store::Result<()>, step: &Step) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(error) if error.is_quota_exceeded() => Outcome::Refused,
        Err(Error::InvalidInput { operation, .. })
            if operation == "crash.rollback"
                && matches!(step, Step::Transaction { commit: false, .. }) =>
        {
            Outcome::RolledBack
        }
        Err(error) => panic!("step {step:?} failed: {error}"),
    }
}

#[test]
#[ignore = "a child process of the crash tests; does nothing when run by hand"]
fn crash_child_writes_and_reports() {
    let Ok(scenario) = std::env::var(SCENARIO_ENV) else {
        return;
    };
    let scenario = Scenario::ALL
        .into_iter()
        .find(|known| known.name() == scenario)
        .expect("a known scenario");
    let seed: u64 = environment(SEED_ENV).parse().expect("a numeric seed");
    let start: u64 = environment(START_ENV).parse().expect("a numeric start");
    report("opening");
    let config = StoreConfig {
        durability: scenario.durability(),
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(environment(PATH_ENV))
    };
    let store = Store::open_with(config).expect("open the store");
    let scoped = ScopedStore::with_quota(&store, NAMESPACE, QUOTA).expect("scope");
    report("ready");
    // The parent kills the child long before the end.
    for number in start..start + 1_000_000 {
        let step = scenario.step(seed, number);
        let result = match (&step, scenario.quota()) {
            (Step::One(write), None) => perform!(store, write),
            (Step::One(write), Some(_)) => perform!(scoped, write),
            (Step::Transaction { writes, commit }, None) => store.transaction(|transaction| {
                for write in writes {
                    perform!(transaction, write)?;
                }
                if *commit {
                    Ok(())
                } else {
                    Err(rollback())
                }
            }),
            (Step::Transaction { writes, commit }, Some(_)) => scoped.transaction(|transaction| {
                for write in writes {
                    perform!(transaction, write)?;
                }
                if *commit {
                    Ok(())
                } else {
                    Err(rollback())
                }
            }),
        };
        let outcome = outcome(result, &step);
        report(&format!("ack {number} {}", outcome.name()));
    }
}

// ---------------------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------------------

/// Figures for RELIABILITY.md, printed at the end of each test (`--nocapture` shows them).
#[derive(Debug, Default)]
struct Figures {
    trials: usize,
    killed_while_opening: usize,
    acknowledged_steps: u64,
    acknowledged_writes: u64,
    in_flight_landed: u64,
}

/// The parent's view of one run: the model of every acknowledged step, and the sequence
/// number of the next one.
struct Run {
    scenario: Scenario,
    seed: u64,
    model: Model,
    next: u64,
    figures: Figures,
}

impl Run {
    /// Checks one `ack <number> <outcome>` report against the model and applies it.
    fn acknowledge(&mut self, report: &str, context: &str) {
        let mut words = report.split(' ');
        let (Some("ack"), Some(number), Some(outcome), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            panic!("{context}: unexpected report {report:?}");
        };
        let number: u64 = number.parse().expect("a step number");
        let outcome = Outcome::parse(outcome).expect("a known outcome");
        assert_eq!(
            number, self.next,
            "{context}: steps are acknowledged in order"
        );
        let step = self.scenario.step(self.seed, number);
        let expected = self.model.apply(&step, self.scenario.quota());
        assert_eq!(outcome, expected, "{context}: step {number} {step:?}");
        self.next += 1;
        self.figures.acknowledged_steps += 1;
        self.figures.acknowledged_writes += step.writes() as u64;
    }

    /// Opens the file as the next user would and compares it with the model, allowing
    /// the one step in flight to have landed whole.
    fn verify(&mut self, path: &Path, context: &str) {
        assert_eq!(integrity_check(path), "ok", "{context}: integrity");
        let config = StoreConfig {
            durability: self.scenario.durability(),
            purge_interval: Duration::ZERO,
            ..StoreConfig::new(path)
        };
        let store = Store::open_with(config).expect("reopen after the crash");
        let actual: BTreeMap<(String, String), String> = store
            .export("")
            .map(|entry| entry.map(|entry| ((entry.group, entry.key), entry.value)))
            .collect::<store::Result<_>>()
            .expect("read everything back");
        store.close().expect("close");

        let in_flight = self.scenario.step(self.seed, self.next);
        let mut landed = self.model.clone();
        landed.apply(&in_flight, self.scenario.quota());
        if actual == self.model.entries {
            // Nothing of the step in flight reached the file (or it changed nothing).
        } else if actual == landed.entries {
            self.model = landed;
            self.next += 1;
            self.figures.in_flight_landed += 1;
        } else {
            let lost: Vec<_> = self
                .model
                .entries
                .iter()
                .filter(|(entry, value)| actual.get(*entry) != Some(*value))
                .collect();
            let unexpected: Vec<_> = actual
                .iter()
                .filter(|(entry, value)| self.model.entries.get(*entry) != Some(*value))
                .collect();
            panic!(
                "{context}: the file matches neither the acknowledged steps nor them plus \
                 step {} {in_flight:?}\n  acknowledged but missing or changed: {lost:?}\n  \
                 not acknowledged: {unexpected:?}",
                self.next
            );
        }
        if let Some(quota) = self.scenario.quota() {
            let groups = self.model.groups();
            assert!(
                self.model.entries.len() <= quota.max_keys,
                "{context}: keys"
            );
            assert!(groups.len() <= quota.max_groups, "{context}: groups");
        }
    }
}

fn crash_trials(scenario: Scenario) -> Figures {
    let seed = support::seed();
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("crash.db");
    let mut rng = Rng::new(seed);
    let mut run = Run {
        scenario,
        seed,
        model: Model::default(),
        next: 0,
        figures: Figures::default(),
    };
    let trials = sized(10, 100);
    for trial in 0..trials {
        let context = format!(
            "{} trial {trial} (replay with {}={seed})",
            scenario.name(),
            support::SEED_ENV
        );
        // A random moment: while the store opens (recovering the last crash) one time in
        // eight, else after a random number of acknowledged steps.
        let wanted = if rng.one_in(8) {
            0
        } else {
            1 + rng.below(sized(120, 250))
        };
        let mut child = spawn_child(
            CHILD_TEST,
            &[
                (SCENARIO_ENV, scenario.name().to_owned()),
                (PATH_ENV, path.display().to_string()),
                (SEED_ENV, seed.to_string()),
                (START_ENV, run.next.to_string()),
            ],
        );
        let lines = lines_of(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut acknowledged = 0;
        while let Some(report) = next_report(&lines, REPORT, deadline) {
            match report.as_str() {
                "opening" if wanted == 0 => break,
                "opening" | "ready" => {}
                _ => {
                    run.acknowledge(&report, &context);
                    acknowledged += 1;
                    if acknowledged == wanted {
                        break;
                    }
                }
            }
        }
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("wait for the child");
        // Steps acknowledged between the decision and the kill count too.
        for report in remaining_reports(&lines, REPORT) {
            if report != "opening" && report != "ready" {
                run.acknowledge(&report, &context);
            }
        }
        assert_eq!(
            status.signal(),
            Some(9),
            "{context}: the child must die by SIGKILL, not end by itself ({status})"
        );
        run.verify(&path, &context);
        run.figures.trials += 1;
        run.figures.killed_while_opening += usize::from(wanted == 0);
    }
    println!(
        "crash {}: {:?}, acknowledged writes lost: 0 (seed {seed})",
        scenario.name(),
        run.figures
    );
    run.figures
}

#[test]
fn crash_good_full_durability_loses_no_acknowledged_write() {
    let figures = crash_trials(Scenario::Full);
    assert!(figures.acknowledged_writes > 0, "{figures:?}");
}

#[test]
fn crash_good_normal_durability_loses_no_acknowledged_write() {
    let figures = crash_trials(Scenario::Normal);
    assert!(figures.acknowledged_writes > 0, "{figures:?}");
}

#[test]
fn crash_good_transactions_are_all_or_nothing() {
    let figures = crash_trials(Scenario::Transactions);
    assert!(
        figures.acknowledged_writes > figures.acknowledged_steps,
        "{figures:?}"
    );
}

#[test]
fn crash_good_scoped_quotas_hold_after_recovery() {
    let figures = crash_trials(Scenario::Quotas);
    assert!(figures.acknowledged_writes > 0, "{figures:?}");
}

// ---------------------------------------------------------------------------------------
// The change feed: a killed writer, a killed follower
// ---------------------------------------------------------------------------------------

const FEED_CHILD_TEST: &str = "crash_child_feeds_and_reports";
/// `writer` or `follower`: what the change-feed child does.
const FEED_ROLE_ENV: &str = "STORE_FEED_ROLE";
/// The revision a follower child resumes after.
const FEED_AFTER_ENV: &str = "STORE_FEED_AFTER";
const FEED_GROUP: &str = "feed";
/// Write `n` sets key `k{n % FEED_KEYS}` to `n`, so keys are overwritten over and over.
const FEED_KEYS: u64 = 32;
/// How long the parent waits for one change before calling the feed stuck.
const FEED_WAIT: Duration = Duration::from_secs(60);

fn feed_key(number: u64) -> String {
    format!("k{}", number % FEED_KEYS)
}

/// Full durability, no background purge, and a history that is never pruned.
fn feed_config(path: &Path) -> StoreConfig {
    StoreConfig {
        durability: Durability::Full,
        purge_interval: Duration::ZERO,
        change_retention: ChangeRetention {
            max_changes: None,
            max_age: None,
        },
        ..StoreConfig::new(path)
    }
}

/// One report written with one `write` call, so a kill never leaves half a line.
fn report_line(text: &str) {
    let line = format!("{REPORT}{text}\n");
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .expect("report to the parent");
    stdout.flush().expect("report to the parent");
}

#[test]
#[ignore = "a child process of the crash tests; does nothing when run by hand"]
fn crash_child_feeds_and_reports() {
    let Ok(role) = std::env::var(FEED_ROLE_ENV) else {
        return;
    };
    let path = environment(PATH_ENV);
    let store = Store::open_with(feed_config(Path::new(&path))).expect("open the store");
    match role.as_str() {
        "writer" => {
            // The only writer on the file: set `n` is revision `n`.
            let start = store.revision().expect("read the revision") + 1;
            report_line(&format!("ready {start}"));
            // The parent kills the child long before the end.
            for number in start..start + 10_000_000 {
                store
                    .set(FEED_GROUP, &feed_key(number), &number.to_string())
                    .expect("set");
                report_line(&format!("ack {number}"));
            }
        }
        "follower" => {
            let after: u64 = environment(FEED_AFTER_ENV).parse().expect("a revision");
            let mut watcher = store.watch_from("*", "*", after).expect("watch_from");
            report_line("ready");
            // A parent that died without killing this child leaves no change coming.
            loop {
                let change = watcher
                    .recv_timeout(FEED_WAIT)
                    .expect("read the change feed")
                    .expect("a change within a minute");
                report_line(&format!(
                    "change {} {} {} {} {}",
                    change.revision,
                    change.kind.as_str(),
                    change.group,
                    change.key,
                    change.value_text().unwrap_or("<binary>")
                ));
            }
        }
        other => panic!("unknown feed role {other:?}"),
    }
}

/// Checks that a change is the set the single writer made as its revision: key
/// `k{revision % FEED_KEYS}` set to the revision's number.
fn check_feed_fields(
    (revision, kind, group, key, value): (u64, &str, &str, &str, Option<&str>),
    context: &str,
) {
    assert_eq!(
        (kind, group, key),
        (
            EventType::Set.as_str(),
            FEED_GROUP,
            feed_key(revision).as_str()
        ),
        "{context}: revision {revision}"
    );
    let expected = revision.to_string();
    assert_eq!(
        value,
        Some(expected.as_str()),
        "{context}: revision {revision} carries the value its set wrote"
    );
}

fn check_feed_change(change: &store::Change, context: &str) {
    check_feed_fields(
        (
            change.revision,
            change.kind.as_str(),
            &change.group,
            &change.key,
            change.value_text(),
        ),
        context,
    );
}

/// Every change after `after` up to the newest, read by a watcher that starts there;
/// returns the watcher's revision at the end.
fn read_to_end(store: &Store, after: u64, delivered: &mut Vec<u64>, context: &str) -> u64 {
    let mut watcher = store
        .watch_from("*", "*", after)
        .expect("resume watch_from");
    while let Some(change) = watcher.try_recv().expect("read the change feed") {
        check_feed_change(&change, context);
        delivered.push(change.revision);
    }
    watcher.revision()
}

/// Asserts that `delivered` is exactly `1..=latest`: no gap, no duplicate, in order.
fn assert_gap_free(delivered: &[u64], latest: u64, context: &str) {
    if let Some(position) = delivered
        .iter()
        .zip(1_u64..)
        .position(|(revision, expected)| *revision != expected)
    {
        panic!(
            "{context}: delivered revision {} where {} was due (around {:?})",
            delivered[position],
            position + 1,
            &delivered[position.saturating_sub(3)..(position + 3).min(delivered.len())]
        );
    }
    assert_eq!(
        delivered.len() as u64,
        latest,
        "{context}: every revision up to the newest was delivered"
    );
}

/// Applies one `ack <n>` report of the writer child: acks come in order, and each is
/// the value of its key from then on.
fn acknowledge(
    report: &str,
    context: &str,
    last: &mut u64,
    acknowledged: &mut BTreeMap<String, u64>,
) {
    let number: u64 = report
        .strip_prefix("ack ")
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("{context}: unexpected report {report:?}"));
    assert_eq!(number, *last + 1, "{context}: acks in order");
    *last = number;
    acknowledged.insert(feed_key(number), number);
}

#[test]
fn crash_good_change_feed_resumes_without_gap_after_the_writer_is_killed() {
    let seed = support::seed();
    let mut rng = Rng::new(seed);
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("feed.db");
    let mut delivered: Vec<u64> = Vec::new();
    // The last value the child acknowledged for each key.
    let mut acknowledged: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_acknowledged = 0;
    let mut resume = 0;
    let mut in_flight_landed = 0;
    let trials = sized(4, 40);
    for trial in 0..trials {
        let context = format!(
            "feed writer trial {trial} (replay with {}={seed})",
            support::SEED_ENV
        );
        let mut child = spawn_child(
            FEED_CHILD_TEST,
            &[
                (FEED_ROLE_ENV, "writer".to_owned()),
                (PATH_ENV, path.display().to_string()),
            ],
        );
        let lines = lines_of(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + Duration::from_secs(120);
        let ready = next_report(&lines, REPORT, deadline).expect("the writer starts");
        assert_eq!(
            ready,
            format!("ready {}", resume + 1),
            "{context}: the writer starts after the newest revision"
        );

        // A follower in this process reads some of the writer's changes as they come,
        // notes where it stands and stops.
        let store = Store::open_with(feed_config(&path)).expect("open beside the writer");
        let mut watcher = store.watch_from("*", "*", resume).expect("watch_from");
        for _ in 0..1 + rng.below(sized(150, 400)) {
            let change = watcher
                .recv_timeout(FEED_WAIT)
                .expect("read the change feed")
                .unwrap_or_else(|| panic!("{context}: no change from the writer"));
            check_feed_change(&change, &context);
            delivered.push(change.revision);
        }
        let saved = watcher.revision();
        drop(watcher);
        assert_eq!(
            Some(&saved),
            delivered.last(),
            "{context}: where the follower stands"
        );

        // The writer goes on past that point and is killed mid-stream.
        let kill_after = saved + 1 + rng.below(100) as u64;
        while last_acknowledged < kill_after {
            let report = next_report(&lines, REPORT, deadline)
                .unwrap_or_else(|| panic!("{context}: the writer ended by itself"));
            acknowledge(&report, &context, &mut last_acknowledged, &mut acknowledged);
        }
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("wait for the writer");
        for report in remaining_reports(&lines, REPORT) {
            acknowledge(&report, &context, &mut last_acknowledged, &mut acknowledged);
        }
        assert_eq!(status.signal(), Some(9), "{context}: killed ({status})");
        store.close().expect("close");

        // Reopen as the next user would and resume where the follower stopped.
        assert_eq!(integrity_check(&path), "ok", "{context}: integrity");
        let store = Store::open_with(feed_config(&path)).expect("reopen after the crash");
        let latest = store.revision().expect("revision");
        assert!(
            latest == last_acknowledged || latest == last_acknowledged + 1,
            "{context}: newest revision {latest}, last acknowledged set {last_acknowledged}"
        );
        if latest > last_acknowledged {
            // The set in flight landed: it is the newest change and the key's value.
            in_flight_landed += 1;
            acknowledged.insert(feed_key(latest), latest);
        }
        let reached = read_to_end(&store, saved, &mut delivered, &context);
        assert_eq!(
            reached, latest,
            "{context}: the resumed follower reached the end"
        );
        assert_gap_free(&delivered, latest, &context);
        for (key, number) in &acknowledged {
            assert_eq!(
                store.get(FEED_GROUP, key).expect("an acknowledged key"),
                number.to_string(),
                "{context}: {key} keeps the last acknowledged value"
            );
        }
        store.close().expect("close");
        last_acknowledged = latest;
        resume = latest;
    }
    assert!(
        resume > trials as u64,
        "{resume} changes in {trials} trials"
    );
    println!(
        "crash feed writer: {trials} trials, {resume} changes delivered once each, \
         in-flight set landed {in_flight_landed} times (seed {seed})"
    );
}

/// Checks one `change <revision> <kind> <group> <key> <value>` report of the follower
/// child; returns its revision.
fn check_reported_change(report: &str, context: &str) -> u64 {
    let words: Vec<&str> = report.split(' ').collect();
    let ["change", revision, kind, group, key, value] = words.as_slice() else {
        panic!("{context}: unexpected report {report:?}");
    };
    let revision: u64 = revision.parse().expect("a revision");
    check_feed_fields((revision, kind, group, key, Some(value)), context);
    revision
}

/// Writes the next `count` sets of the feed (`written` is the last one so far).
fn write_feed(store: &Store, written: u64, count: u64) {
    for number in written + 1..=written + count {
        store
            .set(FEED_GROUP, &feed_key(number), &number.to_string())
            .expect("set");
    }
}

#[test]
fn crash_good_change_feed_resumes_without_gap_after_the_follower_is_killed() {
    const BATCH: u64 = 150;
    let seed = support::seed();
    let mut rng = Rng::new(seed);
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("feed.db");
    // This process is the only writer: set `n` is revision `n`. A history to replay first.
    let store = Store::open_with(feed_config(&path)).expect("open");
    write_feed(&store, 0, BATCH);
    let mut written = BATCH;
    let mut delivered: Vec<u64> = Vec::new();
    let mut resume = 0;
    let trials = sized(4, 40);
    for trial in 0..trials {
        let context = format!(
            "feed follower trial {trial} (replay with {}={seed})",
            support::SEED_ENV
        );
        let mut child = spawn_child(
            FEED_CHILD_TEST,
            &[
                (FEED_ROLE_ENV, "follower".to_owned()),
                (PATH_ENV, path.display().to_string()),
                (FEED_AFTER_ENV, resume.to_string()),
            ],
        );
        let lines = lines_of(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + Duration::from_secs(120);
        let ready = next_report(&lines, REPORT, deadline).expect("the follower starts");
        assert_eq!(ready, "ready", "{context}");
        // Kill the follower after a random number of changes, while this process writes
        // more: it may be replaying the history or following live writes.
        let available = written + BATCH - resume;
        let wanted = 1 + rng.below(usize::try_from(available).expect("small"));
        let mut accept = |report: &str| {
            let revision = check_reported_change(report, &context);
            let due = delivered.last().map_or(1, |last| last + 1);
            assert_eq!(revision, due, "{context}: the follower's changes in order");
            delivered.push(revision);
        };
        std::thread::scope(|scope| {
            scope.spawn(|| write_feed(&store, written, BATCH));
            for _ in 0..wanted {
                let report = next_report(&lines, REPORT, deadline)
                    .unwrap_or_else(|| panic!("{context}: the follower ended by itself"));
                accept(&report);
            }
            child.kill().expect("SIGKILL the follower");
        });
        written += BATCH;
        let status = child.wait().expect("wait for the follower");
        // What it printed before it died was delivered too.
        for report in remaining_reports(&lines, REPORT) {
            accept(&report);
        }
        assert_eq!(status.signal(), Some(9), "{context}: killed ({status})");
        // Resume from the last revision the killed follower printed.
        resume = delivered.last().copied().unwrap_or(resume);
    }
    let context = format!(
        "feed follower end (replay with {}={seed})",
        support::SEED_ENV
    );
    let reached = read_to_end(&store, resume, &mut delivered, &context);
    let latest = store.revision().expect("revision");
    assert_eq!((reached, latest), (written, written), "{context}");
    assert_gap_free(&delivered, latest, &context);
    store.close().expect("close");
    println!(
        "crash feed follower: {trials} followers killed, {latest} changes delivered once \
         each (seed {seed})"
    );
}
