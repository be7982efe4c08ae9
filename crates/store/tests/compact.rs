//! Compaction into archives, `read_archive`, and exactly-once across crashes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use store::{read_archive, ArchiveFormat, CompactOptions, Error, Store, StoreConfig};

fn store_at(path: &Path) -> Store {
    Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        workspace_state_directory: path.with_extension("state"),
        ..StoreConfig::new(path)
    })
    .expect("open a file store")
}

fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

fn options(output: &Path, before: SystemTime, format: ArchiveFormat) -> CompactOptions {
    CompactOptions {
        output: output.to_owned(),
        format,
        ..CompactOptions::new(before)
    }
}

fn commit(store: &Store, measurement: &str, fields: Value) {
    let Value::Object(fields) = fields else {
        panic!("fields must be an object")
    };
    store
        .commit_to_journal(measurement, &fields, &BTreeMap::new())
        .expect("commit");
}

/// Inserts points directly into the file in one transaction: `(measurement, fields_json,
/// committed_at)`. Fast enough for hundreds of thousands of rows.
fn insert_points(path: &Path, points: impl IntoIterator<Item = (String, String, i64)>) {
    let mut connection = rusqlite::Connection::open(path).expect("open directly");
    let transaction = connection.transaction().expect("begin");
    {
        let mut statement = transaction
            .prepare(
                "INSERT INTO journal_entries
                    (bucket_name, measurement, fields_json, tags_json, committed_at)
                 VALUES ('store', ?1, ?2, '{\"source\":\"test\"}', ?3)",
            )
            .expect("prepare");
        for (measurement, fields_json, committed_at) in points {
            statement
                .execute(rusqlite::params![measurement, fields_json, committed_at])
                .expect("insert");
        }
    }
    transaction.commit().expect("commit");
}

/// Published archives in `output` (temporary files excluded), sorted.
fn archives(output: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(output)
        .map(|listing| {
            listing
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with("journal-"))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Every file in `output` but the compaction lock, sorted.
fn output_files(output: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(output)
        .expect("list")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".journal-compact.lock")
        .collect();
    names.sort();
    names
}

/// The temporary archives in `output`.
fn temporaries(output: &Path) -> Vec<String> {
    output_files(output)
        .into_iter()
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

fn is_archive_name(name: &str, extension: &str) -> bool {
    let Some(stem) = name
        .strip_prefix("journal-")
        .and_then(|rest| rest.strip_suffix(&format!(".jsonl.{extension}")))
    else {
        return false;
    };
    let mut parts = stem.split('-');
    let date = parts.next().unwrap_or_default();
    let time = parts.next().unwrap_or_default();
    let suffix_ok = parts.next().is_none_or(|n| n.parse::<u32>().is_ok());
    date.len() == 8
        && time.len() == 6
        && date
            .bytes()
            .chain(time.bytes())
            .all(|byte| byte.is_ascii_digit())
        && suffix_ok
}

fn decompressed(path: &Path) -> String {
    let mut text = String::new();
    let file = std::fs::File::open(path).expect("open archive");
    flate2::read::MultiGzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gunzip");
    text
}

#[test]
fn compact_good_gzip_archives_marks_and_hides_points() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_at(&directory.path().join("store.db"));
    for (index, name) in ["first", "second", "third"].iter().enumerate() {
        let tags = BTreeMap::from([("host".to_owned(), "a".to_owned())]);
        let Value::Object(fields) = json!({"n": index, "ok": true}) else {
            unreachable!()
        };
        store
            .commit_to_journal(name, &fields, &tags)
            .expect("commit");
    }
    let output = directory.path().join("archive");
    let path = store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("compact")
        .expect("an archive");
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    assert!(is_archive_name(name, "gz"), "{name}");
    assert_eq!(path.parent(), Some(output.as_path()));
    let entries = read_archive(&path).expect("read back");
    let measurements: Vec<&str> = entries
        .iter()
        .map(|entry| entry.measurement.as_str())
        .collect();
    assert_eq!(measurements, ["first", "second", "third"]);
    assert_eq!(entries[1].fields, {
        let Value::Object(fields) = json!({"n": 1, "ok": true}) else {
            unreachable!()
        };
        fields
    });
    assert_eq!(entries[0].tags["host"], "a");
    assert_eq!(entries[0].bucket, "store");
    assert!(store.query_journal("").expect("query").is_empty());
    assert!(store
        .query_journal(r#"from(bucket: "store")"#)
        .expect("flux")
        .is_empty());
    let raw = store
        .query_journal("SELECT archive_name, archived_at FROM journal_entries")
        .expect("raw SQL still sees them");
    assert_eq!(raw.len(), 3);
    assert!(raw
        .iter()
        .all(|row| row["archive_name"] == name && row["archived_at"].is_i64()));
    let recorded = store
        .query_journal("SELECT archive_name, final_path, published_at FROM journal_archives")
        .expect("archives");
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0]["published_at"].is_i64());
    assert!(Path::new(recorded[0]["final_path"].as_str().unwrap_or_default()).is_absolute());
    assert_eq!(archives(&output), std::slice::from_ref(&path));
    assert_eq!(
        output_files(&output),
        [path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()],
        "no temporary file is left"
    );
    let text = decompressed(&path);
    let first_line = text.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with(r#"{"bucket":"store","committed_at":"#)
            && first_line.ends_with(
                r#","fields":{"n":0,"ok":true},"measurement":"first","tags":{"host":"a"}}"#
            ),
        "{first_line}"
    );
    assert!(text.ends_with('\n'));
}

#[test]
fn compact_good_default_output_is_archive_beside_the_database() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("data").join("store.db");
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create data");
    let store = Store::open_with(StoreConfig {
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(&path)
    })
    .expect("open");
    commit(&store, "login", json!({"n": 1}));
    let options = CompactOptions::new(later());
    assert_eq!(options.output, PathBuf::new(), "empty: the default");
    let archive = store
        .compact(options)
        .expect("compact")
        .expect("one point archived");
    assert_eq!(
        archive.parent(),
        Some(directory.path().join("data").join("archive").as_path()),
        "beside the database, whatever the current directory"
    );
    assert_eq!(
        read_archive(&archive).expect("read")[0].measurement,
        "login"
    );
    store.close().expect("close");
}

#[test]
fn compact_good_zstd_and_detection_by_magic_bytes() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_at(&directory.path().join("store.db"));
    commit(&store, "m", json!({"x": 1}));
    let output = directory.path().join("archive");
    let path = store
        .compact(options(&output, later(), ArchiveFormat::Zstd))
        .expect("compact")
        .expect("an archive");
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    assert!(is_archive_name(name, "zst"), "{name}");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    let misnamed = directory.path().join("misnamed.jsonl.gz");
    std::fs::copy(&path, &misnamed).expect("copy");
    let entries = read_archive(&misnamed).expect("read by magic, not by name");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].fields["x"], 1);
}

#[test]
fn compact_good_none_when_nothing_is_old_enough() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_at(&directory.path().join("store.db"));
    let output = directory.path().join("archive");
    assert_eq!(
        store
            .compact(options(&output, later(), ArchiveFormat::Gzip))
            .expect("empty journal"),
        None
    );
    commit(&store, "m", json!({"v": 1}));
    let long_ago = UNIX_EPOCH + Duration::from_secs(1_000);
    assert_eq!(
        store
            .compact(options(&output, long_ago, ArchiveFormat::Gzip))
            .expect("nothing before"),
        None
    );
    assert!(archives(&output).is_empty());
    assert_eq!(store.query_journal("").expect("query").len(), 1);
}

#[test]
fn compact_good_respects_cutoff_and_names_are_unique() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    insert_points(
        &path,
        [
            ("old".to_owned(), "{}".to_owned(), 1_000),
            ("edge".to_owned(), "{}".to_owned(), 1_500),
            ("newer".to_owned(), "{}".to_owned(), 2_000),
        ],
    );
    let store = store_at(&path);
    let output = directory.path().join("archive");
    let cutoff = UNIX_EPOCH + Duration::from_millis(1_500);
    let first = store
        .compact(options(&output, cutoff, ArchiveFormat::Gzip))
        .expect("compact")
        .expect("an archive");
    let old: Vec<String> = read_archive(&first)
        .expect("read")
        .into_iter()
        .map(|entry| entry.measurement)
        .collect();
    assert_eq!(old, ["old"], "strictly before the cutoff");
    let second = store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("compact")
        .expect("an archive");
    assert_ne!(first, second);
    let rest: Vec<String> = read_archive(&second)
        .expect("read")
        .into_iter()
        .map(|entry| entry.measurement)
        .collect();
    assert_eq!(rest, ["edge", "newer"]);
    assert_eq!(archives(&output).len(), 2);
    commit(&store, "third", json!({"v": 1}));
    let third = store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("compact")
        .expect("an archive");
    assert_eq!(archives(&output).len(), 3, "{third:?}");
}

#[test]
fn compact_good_numbers_and_text_kept_exactly() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    let stored = r#"{"big":123456789012345678901234567890,"precise":1.10,"text":"ü\n"}"#;
    insert_points(&path, [("m".to_owned(), stored.to_owned(), 5)]);
    let store = store_at(&path);
    let output = directory.path().join("archive");
    let archive = store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("compact")
        .expect("an archive");
    let text = decompressed(&archive);
    assert!(text.contains(&format!(r#""fields":{stored}"#)), "{text}");
    let entries = read_archive(&archive).expect("read");
    assert_eq!(entries[0].fields["text"], "ü\n");
    assert_eq!(entries[0].committed_at, 5);
}

#[test]
fn compact_bad_before_cutoff_is_empty() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_at(&directory.path().join("store.db"));
    for before in [UNIX_EPOCH, UNIX_EPOCH - Duration::from_secs(5)] {
        let error = store
            .compact(options(directory.path(), before, ArchiveFormat::Gzip))
            .expect_err("refused");
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
        assert!(
            error.to_string().contains("before cutoff is empty"),
            "{error}"
        );
    }
}

#[test]
fn compact_bad_closed_store() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = store_at(&directory.path().join("store.db"));
    store.close().expect("close");
    let error = store
        .compact(options(directory.path(), later(), ArchiveFormat::Gzip))
        .expect_err("closed");
    assert!(
        matches!(
            error,
            Error::Closed {
                operation: "store.compact"
            }
        ),
        "{error:?}"
    );
}

#[test]
fn compact_bad_point_that_is_not_json_names_the_entry_and_changes_nothing() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    insert_points(&path, [("m".to_owned(), "not json".to_owned(), 5)]);
    let store = store_at(&path);
    let output = directory.path().join("archive");
    let error = store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect_err("not JSON");
    assert!(matches!(error, Error::Archive { .. }), "{error:?}");
    assert!(error.to_string().contains("journal entry 1"), "{error}");
    assert!(output_files(&output).is_empty(), "temp removed");
    let rows = store
        .query_journal("SELECT archived_at FROM journal_entries")
        .expect("raw");
    assert_eq!(rows[0]["archived_at"], Value::Null);
}

#[test]
fn archive_format_good_from_str_and_bad() {
    assert_eq!(
        "gzip".parse::<ArchiveFormat>().ok(),
        Some(ArchiveFormat::Gzip)
    );
    assert_eq!(
        "  ZStd ".parse::<ArchiveFormat>().ok(),
        Some(ArchiveFormat::Zstd)
    );
    let error = "lz4".parse::<ArchiveFormat>().expect_err("unknown");
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains(r#"format must be "gzip" or "zstd""#),
        "{error}"
    );
}

#[test]
fn read_archive_bad_missing_file_is_io() {
    let directory = tempfile::tempdir().expect("temp dir");
    let error = read_archive(&directory.path().join("missing.jsonl.gz")).expect_err("missing");
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("store.read_archive: "),
        "{error}"
    );
}

#[test]
fn read_archive_bad_magic_compression_and_lines() {
    let directory = tempfile::tempdir().expect("temp dir");
    let plain = directory.path().join("plain.jsonl.gz");
    std::fs::write(&plain, b"{\"bucket\":\"b\"}\n").expect("write");
    let error = read_archive(&plain).expect_err("not compressed");
    assert!(matches!(error, Error::Archive { .. }), "{error:?}");
    let broken = directory.path().join("broken.jsonl.gz");
    std::fs::write(&broken, [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef]).expect("write");
    let error = read_archive(&broken).expect_err("bad gzip");
    assert!(matches!(error, Error::Archive { .. }), "{error:?}");
    let bad_line = directory.path().join("bad-line.jsonl.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(
        &mut encoder,
        b"{\"bucket\":\"b\",\"committed_at\":1,\"fields\":{},\"measurement\":\"m\",\"tags\":{}}\n\n{\"bucket\":\"b\"}\n",
    )
    .expect("compress");
    std::fs::write(&bad_line, encoder.finish().expect("finish")).expect("write");
    let error = read_archive(&bad_line).expect_err("bad line");
    assert!(matches!(error, Error::Archive { .. }), "{error:?}");
    assert!(error.to_string().contains("line 3"), "{error}");
}

/// Inserts `count` points numbered 0.. (field `n`), committed at increasing times.
fn insert_numbered(path: &Path, count: u32) {
    insert_points(
        path,
        (0..count).map(|n| {
            (
                "bulk".to_owned(),
                format!("{{\"n\":{n}}}"),
                1_000_000 + i64::from(n / 3),
            )
        }),
    );
}

/// Every point numbered `0..count` is in exactly one of the published archives.
fn assert_each_exactly_once(output: &Path, count: u32) {
    let mut seen = BTreeSet::new();
    let mut total = 0_u64;
    for archive in archives(output) {
        let name = archive
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        assert!(is_archive_name(name, "gz"), "unexpected file {name}");
        for entry in read_archive(&archive).expect("read") {
            let n = entry.fields["n"].as_u64().expect("a number");
            assert!(seen.insert(n), "point {n} archived twice");
            total += 1;
        }
    }
    assert_eq!(total, u64::from(count));
    assert_eq!(seen.len(), count as usize);
    assert_eq!(seen.last().copied(), Some(u64::from(count) - 1));
}

#[test]
fn compact_good_exactly_once_200k() {
    const COUNT: u32 = 200_000;
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    let started = Instant::now();
    insert_numbered(&path, COUNT);
    let inserted = started.elapsed();
    let store = store_at(&path);
    let output = directory.path().join("archive");
    let started = Instant::now();
    let archive = store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("compact")
        .expect("an archive");
    let compacted = started.elapsed();
    let started = Instant::now();
    assert_each_exactly_once(&output, COUNT);
    eprintln!(
        "200k points: insert {inserted:.2?}, compact {compacted:.2?}, verify {:.2?}",
        started.elapsed()
    );
    let entries = read_archive(&archive).expect("read");
    let order: Vec<i64> = entries.iter().map(|entry| entry.committed_at).collect();
    assert!(
        order.windows(2).all(|pair| pair[0] <= pair[1]),
        "committed_at order"
    );
    assert!(store.query_journal("").expect("query").is_empty());
    assert_eq!(
        store
            .compact(options(&output, later(), ArchiveFormat::Gzip))
            .expect("again"),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Crash tests: a child compacts and is killed at each injected point.

const CRASH_POINTS: u32 = 1_000;

/// Not a test of its own: the body of the child processes started by the crash tests.
#[test]
fn child_process_entry() {
    let Some((directory, mode)) = common::child_settings() else {
        return;
    };
    assert_eq!(mode, "compact", "unknown child mode");
    let store = store_at(&directory.join("store.db"));
    store
        .compact(options(
            &directory.join("archive"),
            later(),
            ArchiveFormat::Gzip,
        ))
        .expect("compact");
    panic!("the crash point was never reached");
}

/// Archives the first 300 numbered points, so that the output directory is known to
/// the store (its open then looks there for temporary files).
fn compact_first_300(path: &Path, output: &Path) {
    let store = store_at(path);
    let cutoff = UNIX_EPOCH + Duration::from_millis(1_000_100);
    store
        .compact(options(output, cutoff, ArchiveFormat::Gzip))
        .expect("compact")
        .expect("an archive");
    store.close().expect("close");
}

fn crash_and_recover(point: &str, remove_temporary: bool) {
    crash_and_recover_with(point, remove_temporary, false);
}

fn crash_and_recover_with(point: &str, remove_temporary: bool, is_directory_known: bool) {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    insert_numbered(&path, CRASH_POINTS);
    let output = directory.path().join("archive");
    if is_directory_known {
        compact_first_300(&path, &output);
    }
    common::run_child_and_kill("child_process_entry", directory.path(), "compact", point);
    let has_temporary = point != "compact.after_rename";
    assert_eq!(
        temporaries(&output).len(),
        usize::from(has_temporary),
        "{point}: what the kill left"
    );
    if remove_temporary {
        for entry in std::fs::read_dir(&output)
            .expect("list")
            .filter_map(|entry| entry.ok())
        {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                std::fs::remove_file(entry.path()).expect("remove the temporary file");
            }
        }
    }
    let store = store_at(&path);
    let pending = store
        .query_journal("SELECT COUNT(*) AS n FROM journal_archives WHERE published_at IS NULL")
        .expect("pending");
    assert_eq!(pending[0]["n"], 0, "{point}: the open finished the archive");
    let earlier = usize::from(is_directory_known);
    if point != "compact.before_transaction" {
        assert_eq!(
            archives(&output).len(),
            earlier + 1,
            "{point}: published at open"
        );
        assert!(
            store.query_journal("").expect("query").is_empty(),
            "{point}"
        );
    }
    if point != "compact.before_transaction" || is_directory_known {
        // Finished or removed by the open, not an hour later.
        assert!(temporaries(&output).is_empty(), "{point}: after open");
    }
    // Archive whatever the crash left unarchived.
    store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("compact after the crash");
    assert!(
        temporaries(&output).is_empty(),
        "{point}: no temporary file outlives the next compaction"
    );
    assert_each_exactly_once(&output, CRASH_POINTS);
    assert!(
        store.query_journal("").expect("query").is_empty(),
        "{point}"
    );
    assert_eq!(
        store
            .compact(options(&output, later(), ArchiveFormat::Gzip))
            .expect("again"),
        None,
        "{point}"
    );
}

#[test]
fn compact_good_exactly_once_killed_before_transaction() {
    crash_and_recover("compact.before_transaction", false);
}

#[test]
fn open_good_removes_temporary_of_compaction_killed_before_transaction() {
    crash_and_recover_with("compact.before_transaction", false, true);
}

#[test]
fn open_good_publishes_temporary_of_compaction_killed_after_transaction() {
    crash_and_recover_with("compact.after_transaction", false, true);
}

#[test]
fn open_good_leaves_the_temporary_of_a_live_compaction_alone() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    insert_numbered(&path, CRASH_POINTS);
    let output = directory.path().join("archive");
    compact_first_300(&path, &output);
    // A compaction in another process, alive, paused with its temporary file written.
    let point = "compact.before_transaction";
    let child = common::ChildProcess::start(
        "child_process_entry",
        directory.path(),
        "compact",
        Some(point),
    );
    assert!(child.wait_for(&format!("STORE_CRASH_POINT reached {point}")));
    let live = temporaries(&output);
    assert_eq!(live.len(), 1);
    let store = store_at(&path);
    assert_eq!(
        temporaries(&output),
        live,
        "not touched while its owner lives"
    );
    store.close().expect("close");
    child.kill();
    let store = store_at(&path);
    assert!(
        temporaries(&output).is_empty(),
        "removed once its owner died"
    );
    store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("compact");
    assert_each_exactly_once(&output, CRASH_POINTS);
}

#[test]
fn compact_good_archive_in_place_returns_path_when_only_the_published_record_fails() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    insert_numbered(&path, 30);
    let refuse = rusqlite::Connection::open(&path).expect("open directly");
    refuse
        .execute_batch(
            "CREATE TRIGGER refuse_publishing BEFORE UPDATE OF published_at ON journal_archives
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .expect("a trigger that makes the last step fail");
    let store = store_at(&path);
    let output = directory.path().join("archive");
    let archive = store
        .compact(options(&output, later(), ArchiveFormat::Gzip))
        .expect("the archive is complete, so the compaction succeeded")
        .expect("an archive");
    assert_each_exactly_once(&output, 30);
    assert_eq!(read_archive(&archive).expect("read").len(), 30);
    let pending = store
        .query_journal("SELECT COUNT(*) AS n FROM journal_archives WHERE published_at IS NULL")
        .expect("pending");
    assert_eq!(pending[0]["n"], 1, "the record is still to be written");
    store.close().expect("close");
    refuse
        .execute_batch("DROP TRIGGER refuse_publishing")
        .expect("drop the trigger");
    drop(refuse);
    let store = store_at(&path);
    let pending = store
        .query_journal("SELECT COUNT(*) AS n FROM journal_archives WHERE published_at IS NULL")
        .expect("pending");
    assert_eq!(pending[0]["n"], 0, "written by the next open");
    assert_eq!(archives(&output), [archive]);
}

#[test]
fn compact_good_concurrent_compactions_into_one_directory_archive_each_point_once() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("store.db");
    store_at(&path).close().expect("create the schema");
    insert_numbered(&path, 3_000);
    let output = directory.path().join("archive");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (path, output, barrier) = (path.clone(), output.clone(), barrier.clone());
            std::thread::spawn(move || {
                // Two stores, as two processes would have.
                let store = store_at(&path);
                barrier.wait();
                store.compact(options(&output, later(), ArchiveFormat::Gzip))
            })
        })
        .collect();
    let mut made = 0;
    for run in runs {
        let outcome = run.join().expect("the thread");
        // Serialised: the second finds nothing left, rather than failing.
        made += usize::from(outcome.expect("neither fails").is_some());
    }
    assert_eq!(made, 1);
    assert_each_exactly_once(&output, 3_000);
    assert!(temporaries(&output).is_empty());
}

#[test]
fn compact_good_exactly_once_killed_after_transaction() {
    crash_and_recover("compact.after_transaction", false);
}

#[test]
fn compact_good_exactly_once_killed_after_transaction_temporary_lost() {
    crash_and_recover("compact.after_transaction", true);
}

#[test]
fn compact_good_exactly_once_killed_after_rename() {
    crash_and_recover("compact.after_rename", false);
}

#[test]
fn read_archive_bad_line_longer_than_64_mib_is_refused() {
    use std::io::Write as _;
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("bomb.jsonl.gz");
    let file = std::fs::File::create(&path).expect("create");
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..65 {
        encoder.write_all(&chunk).expect("write");
    }
    encoder.finish().expect("finish");
    assert!(
        std::fs::metadata(&path).expect("metadata").len() < 1 << 20,
        "a small file"
    );
    let error = store::read_archive(&path).expect_err("one enormous line");
    assert!(matches!(error, store::Error::Archive { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("line 1: longer than 67108864 bytes"),
        "{error}"
    );
}
