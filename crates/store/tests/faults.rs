//! Faults: a disk that fills up (a child past its file-size limit) and a database the
//! process may only read.
//!
//! The file-size limit is `RLIMIT_FSIZE`, set by the child on itself. Past it the kernel
//! sends SIGXFSZ, whose default action kills the process; the child catches the signal
//! (with `signal-hook`, a safe API, so no `unsafe` here) and the write then fails with
//! `EFBIG`, which SQLite reports as a full disk. Lifting the limit is the parent reopening
//! the file: it has none.
//!
//! A read-only file is only read-only for a user who is not root, and CI runs as root, so
//! when run as root the read-only child first drops to the `nobody` user id.
#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::{Durability, Error, Store, StoreConfig};
use support::{integrity_check, lines_of, remaining_reports, spawn_child};

const CHILD_TEST: &str = "fault_child_runs_its_role";
const ROLE_ENV: &str = "STORE_FAULT_ROLE";
const PATH_ENV: &str = "STORE_FAULT_PATH";
const LIMIT_ENV: &str = "STORE_FAULT_LIMIT";
const DURABILITY_ENV: &str = "STORE_FAULT_DURABILITY";
const VALUE_SIZE_ENV: &str = "STORE_FAULT_VALUE_SIZE";
/// Marks the child's report lines among libtest's own.
const REPORT: &str = "fault-report: ";

/// The user id of `nobody` on Linux; a user id needs no passwd entry to be used.
const NOBODY: u32 = 65_534;
/// Consecutive failed writes after which the filling child stops.
const ERRORS_TO_SEE: usize = 20;

fn report(text: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{REPORT}{text}").expect("report to the parent");
    stdout.flush().expect("report to the parent");
}

fn environment(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"))
}

fn fill_key(number: usize) -> String {
    format!("k{number:06}")
}

/// A value that names its own key at both ends, so a page mixed up with another shows.
fn fill_value(number: usize, size: usize) -> String {
    let tag = format!("<{number}>");
    let filler = size.saturating_sub(2 * tag.len());
    format!("{tag}{}{tag}", ".".repeat(filler))
}

fn durability_named(name: &str) -> Durability {
    match name {
        "full" => Durability::Full,
        "normal" => Durability::Normal,
        other => panic!("unknown durability {other:?}"),
    }
}

#[test]
#[ignore = "a child process of the fault tests; does nothing when run by hand"]
fn fault_child_runs_its_role() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("fill") => fill_child(),
        Ok("read-only") => read_only_child(false),
        Ok("read-only-config") => read_only_child(true),
        Ok("disk-full") => disk_full_child(),
        Ok(other) => panic!("unknown role {other:?}"),
        Err(_) => {}
    }
}

/// Writes until the file-size limit makes writes fail, reporting every acknowledged one,
/// then checks that the store answers every other call with an error, not a panic.
fn fill_child() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};

    let limit: u64 = environment(LIMIT_ENV).parse().expect("a numeric limit");
    let value_size: usize = environment(VALUE_SIZE_ENV).parse().expect("a size");
    let caught = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGXFSZ, Arc::clone(&caught))
        .expect("catch SIGXFSZ");
    let (_, hard) = getrlimit(Resource::RLIMIT_FSIZE).expect("read the limit");
    setrlimit(Resource::RLIMIT_FSIZE, limit, hard).expect("lower the file-size limit");

    let config = StoreConfig {
        durability: durability_named(&environment(DURABILITY_ENV)),
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(environment(PATH_ENV))
    };
    let store = Store::open_with(config).expect("open below the limit");
    let mut consecutive_errors = 0;
    for number in 0..1_000_000 {
        match store.set("fill", &fill_key(number), &fill_value(number, value_size)) {
            Ok(()) => {
                consecutive_errors = 0;
                report(&format!("ack {number}"));
            }
            Err(error) => {
                assert!(
                    matches!(
                        error,
                        Error::Database { .. } | Error::Io { .. } | Error::DiskFull { .. }
                    ),
                    "{error:?}"
                );
                report(&format!("write-error {error}"));
                consecutive_errors += 1;
                if consecutive_errors == ERRORS_TO_SEE {
                    break;
                }
            }
        }
    }
    // Every other kind of call on a store whose disk is full: an answer, never a panic.
    let transaction = store.transaction(|transaction| {
        transaction.set("fill", "in-a-transaction", &fill_value(0, value_size))
    });
    report(&format!("transaction {}", describe(&transaction)));
    let read = store.get("fill", &fill_key(0));
    report(&format!("read {}", describe(&read)));
    let count = store.count("fill");
    report(&format!("count {}", describe(&count)));
    report(&format!("close {}", describe(&store.close())));
    report(&format!("sigxfsz {}", caught.load(Ordering::SeqCst)));
    report("done");
}

fn describe<T>(result: &store::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("error {error}"),
    }
}

/// Opens a database the process may not write, and reports what it could do.
fn read_only_child(configured: bool) {
    use nix::unistd::{geteuid, setgid, setgroups, setuid, Gid, Uid};

    if geteuid().is_root() {
        setgroups(&[]).expect("drop supplementary groups");
        setgid(Gid::from_raw(NOBODY)).expect("drop to nobody's group");
        setuid(Uid::from_raw(NOBODY)).expect("drop to nobody");
    }
    let config = StoreConfig {
        read_only: configured,
        ..StoreConfig::new(environment(PATH_ENV))
    };
    match Store::open_with(config) {
        Err(error) => report(&format!("open-error {error}")),
        Ok(store) => {
            report("open-ok");
            match store.get_all("config") {
                Ok(entries) => report(&format!("read {}", entries.len())),
                Err(error) => report(&format!("read-error {error}")),
            }
            match store.set("config", "new", "value") {
                Ok(()) => report("write-ok"),
                Err(error) => report(&format!("write-error {error}")),
            }
            report(&format!("close {}", describe(&store.close())));
        }
    }
    report("done");
}

/// Runs a child to its end and returns its reports.
fn run_child(environment: &[(&str, String)]) -> Vec<String> {
    let mut child = spawn_child(CHILD_TEST, environment);
    let lines = lines_of(child.stdout.take().expect("piped stdout"));
    let started = Instant::now();
    let reports = remaining_reports(&lines, REPORT);
    let status = child.wait().expect("wait for the child");
    assert!(
        status.success(),
        "the child must end normally, not panic or die by a signal ({status}); it said {:?}",
        reports.last()
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the child took too long"
    );
    assert_eq!(
        reports.last().map(String::as_str),
        Some("done"),
        "{reports:?}"
    );
    reports
}

fn seed_database(path: &Path) -> BTreeMap<String, String> {
    let store = Store::open(path).expect("create the database");
    for (key, value) in [("colour", "blue"), ("size", "10"), ("shape", "round")] {
        store.set("config", key, value).expect("seed");
    }
    let entries = store.get_all("config").expect("read the seed");
    store.close().expect("close");
    entries
}

/// Fills a store past a file-size limit, then checks what the next user finds.
fn fill_past_the_limit(limit: u64, durability: &str, value_size: usize) -> (u64, u64) {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("full.db");
    let seeded = seed_database(&path);
    let reports = run_child(&[
        (ROLE_ENV, "fill".to_owned()),
        (PATH_ENV, path.display().to_string()),
        (LIMIT_ENV, limit.to_string()),
        (DURABILITY_ENV, durability.to_owned()),
        (VALUE_SIZE_ENV, value_size.to_string()),
    ]);
    let acknowledged: Vec<usize> = reports
        .iter()
        .filter_map(|report| report.strip_prefix("ack "))
        .map(|number| number.parse().expect("a number"))
        .collect();
    let write_errors: Vec<&String> = reports
        .iter()
        .filter(|report| report.starts_with("write-error "))
        .collect();
    assert!(!acknowledged.is_empty(), "some writes fit: {reports:?}");
    assert_eq!(write_errors.len(), ERRORS_TO_SEE, "{reports:?}");
    for error in &write_errors {
        assert!(error.starts_with("write-error store.set: "), "{error}");
    }
    assert!(
        reports.contains(&"sigxfsz true".to_owned()),
        "the kernel's limit was what failed the writes: {reports:?}"
    );
    for call in ["transaction", "read", "count", "close"] {
        assert!(
            reports.iter().any(|report| report.starts_with(call)),
            "{call} answered: {reports:?}"
        );
    }

    let size = |suffix: &str| {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        std::fs::metadata(name).map_or(0, |metadata| metadata.len())
    };
    let (main_size, wal_size) = (size(""), size("-wal"));

    // The limit is lifted: this process has none.
    assert_eq!(integrity_check(&path), "ok");
    let store = Store::open(&path).expect("reopen without the limit");
    assert_eq!(store.get_all("config").expect("seed"), seeded);
    for &number in &acknowledged {
        assert_eq!(
            store
                .get("fill", &fill_key(number))
                .expect("acknowledged write"),
            fill_value(number, value_size),
            "write {number}"
        );
    }
    // And the store works again.
    store
        .set("after", "key", "value")
        .expect("write after the fault");
    store.close().expect("close");
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.get("after", "key").expect("get"), "value");
    println!(
        "fill {durability} limit {limit}: {} acknowledged writes, all present; {} failed \
         writes; main file {main_size} bytes, WAL {wal_size} bytes",
        acknowledged.len(),
        write_errors.len(),
    );
    (main_size, wal_size)
}

#[test]
fn fsize_bad_small_limit_fails_writes_and_keeps_acknowledged_ones() {
    // The WAL reaches the limit first.
    fill_past_the_limit(256 << 10, "full", 1 << 10);
}

#[test]
fn fsize_bad_limit_hit_by_checkpoint_keeps_acknowledged_writes() {
    // The WAL checkpoints into the main file at 1000 pages (about 4 MiB); with a 6 MiB
    // limit the second checkpoint fails part way through the main file, then the WAL
    // itself reaches the limit.
    let limit = 6 << 20;
    let (main_size, _) = fill_past_the_limit(limit, "normal", 4 << 10);
    assert_eq!(main_size, limit, "a checkpoint ran into the limit");
}

/// How the read-only child may find the database.
#[derive(Clone, Copy, Debug)]
enum ReadOnly {
    /// The file is read-only; its directory is writable (SQLite may add `-wal`/`-shm`).
    File,
    /// The file and its directory are read-only.
    FileAndDirectory,
}

/// Runs the read-only child on a seeded database and checks that it could read it or
/// refused clearly, and that the file is byte for byte what it was.
fn open_read_only(case: ReadOnly) {
    open_read_only_as(case, "read-only");
}

fn open_read_only_as(case: ReadOnly, role: &str) -> Vec<String> {
    use nix::unistd::geteuid;

    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("read-only.db");
    let seeded = seed_database(&path);
    let before = std::fs::read(&path).expect("read the file");
    let set_mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    set_mode(&path, 0o444);
    match case {
        ReadOnly::File => {
            if geteuid().is_root() {
                std::os::unix::fs::chown(directory.path(), Some(NOBODY), Some(NOBODY))
                    .expect("chown");
            }
            set_mode(directory.path(), 0o755);
        }
        ReadOnly::FileAndDirectory => set_mode(directory.path(), 0o555),
    }

    let reports = run_child(&[
        (ROLE_ENV, role.to_owned()),
        (PATH_ENV, path.display().to_string()),
    ]);
    set_mode(directory.path(), 0o755);
    set_mode(&path, 0o644);

    match reports.first().map(String::as_str) {
        Some("open-ok") => {
            let read = format!("read {}", seeded.len());
            assert_eq!(reports.get(1), Some(&read), "every entry read: {reports:?}");
            let write = reports.get(2).expect("a write answer");
            assert!(
                write.starts_with("write-error store.set: "),
                "a read-only file refuses a write with an error: {reports:?}"
            );
        }
        Some(open_error) => {
            let message = open_error
                .strip_prefix("open-error ")
                .unwrap_or_else(|| panic!("{reports:?}"));
            assert!(message.starts_with("store.open: "), "{message}");
        }
        None => panic!("the child reported nothing"),
    }
    assert_eq!(
        std::fs::read(&path).expect("read the file"),
        before,
        "the file is unchanged ({case:?}: {reports:?})"
    );
    assert_eq!(integrity_check(&path), "ok");
    let store = Store::open(&path).expect("open once writable again");
    assert_eq!(store.get_all("config").expect("read"), seeded);
    println!("read-only {case:?}: {reports:?}");
    reports
}

#[test]
fn open_read_only_file_reads_or_fails_clearly_and_never_corrupts() {
    open_read_only(ReadOnly::File);
}

#[test]
fn open_read_only_directory_reads_or_fails_clearly_and_never_corrupts() {
    open_read_only(ReadOnly::FileAndDirectory);
}

#[test]
fn open_read_only_config_good_reads_file_in_read_only_directory() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not root: the read-only child runs as this user");
    }
    let reports = open_read_only_as(ReadOnly::FileAndDirectory, "read-only-config");
    assert_eq!(
        reports,
        [
            "open-ok",
            "read 3",
            "write-error store.set: refused: the store is open read-only (write)",
            "close ok",
            "done"
        ]
    );
}

/// Fills a small file system while a reader holds the WAL, so neither the WAL nor its
/// index can be checkpointed away, and reports every error it meets.
fn disk_full_child() {
    let path = environment(PATH_ENV);
    let config = StoreConfig {
        purge_interval: Duration::ZERO,
        wal_size_limit: 0,
        ..StoreConfig::new(&path)
    };
    let store = Store::open_with(config).expect("open on the small file system");
    let reader = rusqlite::Connection::open(&path).expect("reader");
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM entries;")
        .expect("hold a snapshot");
    let mut consecutive_errors = 0;
    for number in 0..1_000_000 {
        match store.set("fill", &fill_key(number), &fill_value(number, 512)) {
            Ok(()) => consecutive_errors = 0,
            Err(error) => {
                report(&format!("error disk-full={} {error}", error.is_disk_full()));
                consecutive_errors += 1;
                if consecutive_errors == 5 {
                    break;
                }
            }
        }
    }
    drop(reader);
    report(&format!("close {}", describe(&store.close())));
    report("done");
}

/// A mounted loop file system that is unmounted (and its image removed) when dropped.
struct SmallFileSystem {
    mount_point: tempfile::TempDir,
    _image_directory: tempfile::TempDir,
}

impl SmallFileSystem {
    /// A 4 MiB ext4 with 1 KiB blocks, or why one could not be had.
    fn mount() -> Result<SmallFileSystem, String> {
        use std::process::Command;

        if !nix::unistd::geteuid().is_root() {
            return Err("not root".to_owned());
        }
        let image_directory = tempfile::tempdir().map_err(|error| error.to_string())?;
        let image = image_directory.path().join("small.img");
        let file = std::fs::File::create(&image).map_err(|error| error.to_string())?;
        file.set_len(4 << 20).map_err(|error| error.to_string())?;
        drop(file);
        let mount_point = tempfile::tempdir().map_err(|error| error.to_string())?;
        let run = |program: &str, arguments: &[&std::ffi::OsStr]| -> Result<(), String> {
            let output = Command::new(program)
                .args(arguments)
                .output()
                .map_err(|error| format!("{program}: {error}"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{program}: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
        };
        run(
            "mkfs.ext4",
            &[
                "-q".as_ref(),
                "-b".as_ref(),
                "1024".as_ref(),
                image.as_os_str(),
            ],
        )?;
        run(
            "mount",
            &[
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                mount_point.path().as_os_str(),
            ],
        )?;
        Ok(SmallFileSystem {
            mount_point,
            _image_directory: image_directory,
        })
    }
}

impl Drop for SmallFileSystem {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.mount_point.path())
            .status();
    }
}

#[test]
fn disk_full_good_reports_disk_full_and_never_faults() {
    let file_system = match SmallFileSystem::mount() {
        Ok(file_system) => file_system,
        Err(why) => {
            eprintln!(
                "SKIPPED disk_full_good_reports_disk_full_and_never_faults: no loop-mounted \
                 ext4 ({why}); the error mapping is unit-tested in error.rs"
            );
            return;
        }
    };
    let path = file_system.mount_point.path().join("full.db");
    let reports = run_child(&[
        (ROLE_ENV, "disk-full".to_owned()),
        (PATH_ENV, path.display().to_string()),
    ]);
    let errors: Vec<&String> = reports
        .iter()
        .filter(|report| report.starts_with("error "))
        .collect();
    assert_eq!(errors.len(), 5, "{reports:?}");
    for error in &errors {
        assert!(
            error.starts_with("error disk-full=true store.set: disk full: "),
            "{reports:?}"
        );
    }
    assert_eq!(integrity_check(&path), "ok");
    println!("disk full: {reports:?}");
}
