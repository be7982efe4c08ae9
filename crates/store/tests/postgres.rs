//! What only the PostgreSQL backend has: the URL, several processes and servers sharing
//! one database, and events between them. The shared behaviour is tested by the other
//! files, run once per backend (see `backends`).
//!
//! Each test skips when `STORE_TEST_POSTGRES` is unset, and fails instead under `CI`.

mod backends;

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use store::{Error, EventType, QuotaConfig, ScopedStore, Store, StoreConfig};

/// Long enough for an announcement to cross a loaded machine; tests wait for an event,
/// never sleep for one.
const ARRIVAL: Duration = Duration::from_secs(10);

/// The child mode of `quota_good_exact_across_eight_processes`.
const CHILD_URL_ENV: &str = "STORE_TEST_PG_CHILD_URL";
const CHILD_INDEX_ENV: &str = "STORE_TEST_PG_CHILD_INDEX";

#[test]
fn open_bad_unreachable_server_names_operation() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let error = Store::open("postgres://store@127.0.0.1:1/none?connect_timeout=5").unwrap_err();
    assert_eq!(error.operation(), "store.open");
    assert!(matches!(error, Error::Postgres { .. }), "{error:?}");
    assert!(error.is_connection_lost(), "{error}");
    assert!(
        error.to_string().starts_with("store.open: connect"),
        "{error}"
    );
}

#[test]
fn open_bad_schema_name_is_refused_before_connecting() {
    let error = Store::open("postgres://store@127.0.0.1:1/none?schema=no-dashes").unwrap_err();
    assert!(
        matches!(
            error,
            Error::InvalidInput {
                operation: "store.open",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn open_good_schema_keeps_stores_apart_and_shares_one_schema() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let first_url = backends::fresh_schema_url(&url);
    let first = Store::open(&first_url).expect("open");
    let second = backends::postgres_store(&url);
    first.set("config", "colour", "blue").expect("set");
    assert!(second.get("config", "colour").unwrap_err().is_not_found());
    // Another store on the same schema (another server, say) sees the same rows.
    let again = Store::open(&first_url).expect("open again");
    assert_eq!(again.get("config", "colour").expect("get"), "blue");
}

#[test]
fn debug_good_hides_the_password() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    // The test cluster trusts loopback, so any password is accepted and ignored.
    let with_password = url.replacen("store@", "store:hunter2@", 1);
    let store = Store::open(backends::fresh_schema_url(&with_password)).expect("open");
    let text = format!("{store:?}");
    assert!(
        !text.contains("hunter2") && text.contains("store:***@"),
        "{text}"
    );
}

#[test]
fn read_only_good_reads_and_refuses_writes() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    Store::open(&url)
        .expect("open")
        .set("config", "colour", "blue")
        .expect("set");
    let reader = Store::open_with(StoreConfig {
        read_only: true,
        ..StoreConfig::new(&url)
    })
    .expect("open read-only");
    assert_eq!(reader.get("config", "colour").expect("get"), "blue");
    let error = reader.set("config", "colour", "red").unwrap_err();
    assert!(error.is_read_only(), "{error:?}");
    assert_eq!(error.operation(), "store.set");
}

/// Receives the next event, or fails the test after [`ARRIVAL`].
fn next(watcher: &store::Watcher) -> (EventType, String, String, String) {
    let event = watcher
        .recv_timeout(ARRIVAL)
        .expect("an event within the arrival time");
    (event.kind, event.group, event.key, event.value)
}

#[test]
fn events_good_reach_a_store_on_another_connection_once_each() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    let writer = Store::open(&url).expect("open the writer");
    let reader = Store::open(&url).expect("open the reader");
    let remote = reader.watch("*", "*");
    let local = writer.watch("*", "*");
    let kind = |kind: EventType, group: &str, key: &str, value: &str| {
        (kind, group.to_owned(), key.to_owned(), value.to_owned())
    };

    writer.set("config", "colour", "blue").expect("set");
    writer
        .set_bytes("blobs", "b", &[0xff, b'a'])
        .expect("set bytes");
    let big = "x".repeat(10_000);
    writer.set("config", "big", &big).expect("set a big value");
    writer.delete("config", "colour").expect("delete");
    writer.delete_group("config").expect("delete group");
    writer
        .set_with_ttl("cache", "page", "html", Duration::from_millis(1))
        .expect("set with ttl");
    std::thread::sleep(Duration::from_millis(20)); // let the key expire
    assert!(writer.get("cache", "page").unwrap_err().is_not_found());

    let expected = [
        kind(EventType::Set, "config", "colour", "blue"),
        kind(EventType::Set, "blobs", "b", "\u{fffd}a"),
        kind(EventType::Set, "config", "big", &big),
        kind(EventType::Delete, "config", "colour", ""),
        kind(EventType::DeleteGroup, "config", "", ""),
        kind(EventType::Set, "cache", "page", "html"),
        kind(EventType::Expire, "cache", "page", ""),
    ];
    for want in &expected {
        assert_eq!(&next(&local), want, "in process");
    }
    for want in &expected {
        assert_eq!(&next(&remote), want, "from another connection");
    }
    // Each change arrived once: the writer's own announcements were not delivered again.
    writer.set("done", "k", "v").expect("set");
    assert_eq!(next(&local), kind(EventType::Set, "done", "k", "v"));
    assert_eq!(next(&remote), kind(EventType::Set, "done", "k", "v"));
    assert!(local.try_recv().is_none());
    assert!(remote.try_recv().is_none());
}

#[test]
fn events_good_a_rolled_back_transaction_announces_nothing() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    let writer = Store::open(&url).expect("open the writer");
    let reader = Store::open(&url).expect("open the reader");
    let remote = reader.watch("*", "*");
    let failed: store::Result<()> = writer.transaction(|transaction| {
        transaction.set("g", "rolled-back", "v")?;
        transaction.get("g", "missing")?;
        Ok(())
    });
    assert!(failed.unwrap_err().is_not_found());
    writer
        .transaction(|transaction| transaction.set("g", "committed", "v"))
        .expect("commit");
    let (kind, _, key, _) = next(&remote);
    assert_eq!((kind, key.as_str()), (EventType::Set, "committed"));
    assert!(writer.get("g", "rolled-back").unwrap_err().is_not_found());
}

#[test]
fn events_good_namespace_watcher_sees_other_servers_writes_with_local_names() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    let writer = Store::open(&url).expect("open the writer");
    let reader = Store::open(&url).expect("open the reader");
    let tenant = ScopedStore::new(&reader, "tenant-a").expect("scope");
    let watcher = tenant.watch("*", "*");
    ScopedStore::new(&writer, "tenant-b")
        .expect("scope")
        .set("config", "x", "other tenant")
        .expect("set");
    ScopedStore::new(&writer, "tenant-a")
        .expect("scope")
        .set("config", "x", "mine")
        .expect("set");
    assert_eq!(
        next(&watcher),
        (EventType::Set, "config".into(), "x".into(), "mine".into())
    );
}

/// The body of one racing process: as many keys as it can into a namespace with a
/// quota of 20 keys. Prints how many it wrote.
#[test]
fn quota_child_process_entry() {
    let (Ok(url), Ok(index)) = (std::env::var(CHILD_URL_ENV), std::env::var(CHILD_INDEX_ENV))
    else {
        return; // Not a child: nothing to do.
    };
    let store = Store::open(&url).expect("child open");
    let quota = QuotaConfig {
        max_keys: 20,
        max_groups: 0,
    };
    let scoped = ScopedStore::with_quota(&store, "tenant", quota).expect("child scope");
    let mut written = 0;
    for key in 0..10 {
        match scoped.set("g", &format!("p{index}-k{key}"), "v") {
            Ok(()) => written += 1,
            Err(error) if error.is_quota_exceeded() => {}
            Err(error) => panic!("child {index}: {error}"),
        }
    }
    println!("WRITTEN {written}");
}

#[test]
fn quota_good_exact_across_eight_processes() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    // Create the schema first, so that the children race on the quota, not on creation.
    let store = Store::open(&url).expect("open");
    let executable = std::env::current_exe().expect("the test binary");
    let (sender, receiver) = mpsc::channel();
    let children: Vec<_> = (0..8)
        .map(|index| {
            let sender = sender.clone();
            let mut command = Command::new(&executable);
            command
                .args([
                    "quota_child_process_entry",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_URL_ENV, &url)
                .env(CHILD_INDEX_ENV, index.to_string());
            std::thread::spawn(move || {
                let output = command.output().expect("run a child");
                sender.send(output).expect("report");
            })
        })
        .collect();
    drop(sender);
    let mut total = 0;
    for output in receiver {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "a child failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let written: usize = stdout
            .split("WRITTEN ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("no count in the child's output: {stdout}"));
        total += written;
    }
    for child in children {
        child.join().expect("child thread");
    }
    // 80 attempts, 20 allowed: exactly 20 landed, whatever the interleaving.
    assert_eq!(total, 20);
    assert_eq!(store.count_all("tenant:").expect("count"), 20);
}

#[test]
fn stats_good_counts_entries_and_measures_the_table() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let store = backends::postgres_store(&url);
    store.set("config", "colour", "blue").expect("set");
    store.set("config", "size", "large").expect("set");
    store
        .set_with_ttl("cache", "page", "html", Duration::from_millis(1))
        .expect("set with ttl");
    std::thread::sleep(Duration::from_millis(20)); // let the key expire
    let stats = store.stats().expect("stats");
    assert_eq!(
        (stats.entries, stats.groups, stats.expired_unpurged),
        (2, 1, 1)
    );
    assert!(stats.file_size_bytes > 0, "{stats:?}");
    assert_eq!(stats.journal_points, 0);
    // Three writes, three changes retained, the first numbered 1.
    assert_eq!(
        (
            stats.revision,
            stats.oldest_revision,
            stats.retained_changes
        ),
        (3, 1, 3)
    );
}

#[test]
fn watch_from_good_follows_another_servers_changes_in_revision_order() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    let writer = Store::open(&url).expect("open the writer");
    let follower = Store::open(&url).expect("open the follower");
    writer.set("config", "colour", "blue").expect("set");
    let mut watcher = follower.watch_from("config", "*", 0).expect("watch_from");
    let first = watcher
        .recv_timeout(ARRIVAL)
        .expect("read")
        .expect("the replayed set");
    assert_eq!((first.revision, first.kind), (1, EventType::Set));
    // Changes committed later by the other store arrive in revision order.
    writer.set("config", "colour", "green").expect("set");
    writer.delete("config", "colour").expect("delete");
    let second = watcher
        .recv_timeout(ARRIVAL)
        .expect("read")
        .expect("the set");
    let third = watcher
        .recv_timeout(ARRIVAL)
        .expect("read")
        .expect("the delete");
    assert_eq!(
        (
            second.revision,
            second.value_text(),
            third.revision,
            third.kind
        ),
        (2, Some("green"), 3, EventType::Delete)
    );
    assert_eq!(follower.revision().expect("revision"), 3);
}

#[test]
fn purge_good_background_purge_waits_while_another_server_holds_the_lock() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let (schema_url, schema) = backends::fresh_schema(&url);
    Store::open(&schema_url)
        .expect("create the schema")
        .set_with_ttl("cache", "page", "html", Duration::from_millis(1))
        .expect("set with ttl");
    // Another server's background purge: this test holds its lock.
    let mut other = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let key = format!("dappco.re/store purge:{schema}");
    other
        .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&key])
        .expect("take the purge lock");
    let store = Store::open_with(StoreConfig {
        purge_interval: Duration::from_millis(20),
        ..StoreConfig::new(&schema_url)
    })
    .expect("open with a background purge");
    // Many intervals pass; the purge must leave the expired row to the lock's holder.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(store.stats().expect("stats").expired_unpurged, 1);
    other
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
            &[&key],
        )
        .expect("give the lock back");
    let deadline = std::time::Instant::now() + ARRIVAL;
    while store.stats().expect("stats").expired_unpurged > 0 {
        assert!(std::time::Instant::now() < deadline, "the purge never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn blocking_store_good_works_and_drops_inside_an_async_runtime() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let url = backends::fresh_schema_url(&url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    // The PostgreSQL client runs a runtime of its own; called (or dropped) on a thread
    // that drives another, it would panic unless the store moves it off that thread.
    let value = runtime.block_on(async {
        let store = Store::open(&url).expect("open inside the runtime");
        store.set("config", "colour", "blue").expect("set");
        let value = store.get("config", "colour").expect("get");
        drop(store); // the last handle: the connection closes here
        value
    });
    assert_eq!(value, "blue");
}

#[test]
fn compact_good_archives_the_postgres_journal_once_into_local_files() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let store = backends::postgres_store(&url);
    let fields = |value: i64| {
        let mut fields = serde_json::Map::new();
        fields.insert("ms".into(), serde_json::json!(value));
        fields
    };
    for value in [12, 15, 30] {
        store
            .commit_to_journal(
                "request",
                &fields(value),
                &std::collections::BTreeMap::new(),
            )
            .expect("commit");
    }
    let directory = tempfile::tempdir().expect("temp dir");
    let options = store::CompactOptions {
        output: directory.path().to_owned(),
        format: store::ArchiveFormat::Gzip,
        ..store::CompactOptions::new(std::time::SystemTime::now() + Duration::from_secs(1))
    };
    let archive = store
        .compact(options.clone())
        .expect("compact")
        .expect("an archive");
    let lines = store::read_archive(&archive).expect("read the archive");
    assert_eq!(lines.len(), 3);
    assert_eq!(store.stats().expect("stats").journal_points, 0);
    // Every point was archived once: a second compaction finds nothing.
    assert_eq!(store.compact(options).expect("compact again"), None);
}

#[test]
fn workspace_good_commits_a_local_scratch_file_into_the_postgres_journal_once() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let state = tempfile::tempdir().expect("temp dir");
    let store = Store::open_with(StoreConfig {
        workspace_state_directory: state.path().to_owned(),
        ..StoreConfig::new(backends::fresh_schema_url(&url))
    })
    .expect("open");
    let workspace = store.new_workspace("signup-42").expect("workspace");
    let record = |user: &str| {
        let mut record = serde_json::Map::new();
        record.insert("user".into(), serde_json::json!(user));
        record
    };
    workspace.put("like", record("ada")).expect("put");
    workspace.put("like", record("bob")).expect("put");
    let scratch = workspace.database_path().to_owned();
    assert!(
        scratch.starts_with(state.path()),
        "the scratch file is local"
    );
    let aggregate = workspace.commit().expect("commit");
    assert_eq!(aggregate.get("like"), Some(&2));
    assert!(!scratch.exists());
    let points = store
        .query_journal(r#"from(bucket: "store") |> filter(fn: (r) => r.workspace == "signup-42")"#)
        .expect("query");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0]["fields"]["like"], 2);
    assert_eq!(
        store
            .get("workspace:signup-42", "summary")
            .expect("summary"),
        r#"{"like":2}"#
    );
}

/// A stand-in for InfluxDB's V2 write endpoint: a thread per connection answers 204 to
/// every request after `delay` (long enough for two servers' batches to be in flight at
/// once) and counts, per first path segment (which store sent it), the requests, and
/// per value of the field `n`, the points received.
struct CountingInflux {
    url: String,
    address: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<ShippedPoints>>,
    is_stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What [`CountingInflux`] received: requests per sender, and times each point arrived.
#[derive(Default)]
struct ShippedPoints {
    requests: std::collections::BTreeMap<String, usize>,
    points: std::collections::BTreeMap<i64, usize>,
}

impl CountingInflux {
    fn start(delay: Duration) -> CountingInflux {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let received = std::sync::Arc::new(std::sync::Mutex::new(ShippedPoints::default()));
        let is_stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (shared, stopping) = (received.clone(), is_stopping.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || serve_counting(stream, delay, &shared));
            }
        });
        CountingInflux {
            url: format!("http://{address}"),
            address,
            received,
            is_stopping,
        }
    }
}

impl Drop for CountingInflux {
    fn drop(&mut self) {
        self.is_stopping
            .store(true, std::sync::atomic::Ordering::Release);
        // Wakes the accept loop so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.address);
    }
}

/// Serves the requests of one connection until the client closes it.
fn serve_counting(
    stream: std::net::TcpStream,
    delay: Duration,
    received: &std::sync::Mutex<ShippedPoints>,
) {
    use std::io::{BufRead, Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = std::io::BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let sender = request_line
            .split_whitespace()
            .nth(1)
            .and_then(|target| target.trim_start_matches('/').split('/').next())
            .unwrap_or_default()
            .to_owned();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        {
            let mut received = received
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *received.requests.entry(sender).or_insert(0) += 1;
            for line in String::from_utf8_lossy(&body).lines() {
                let number = line
                    .split(' ')
                    .nth(1)
                    .and_then(|fields| fields.strip_prefix("n="))
                    .and_then(|value| value.strip_suffix('i'))
                    .and_then(|value| value.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected line {line:?}"));
                *received.points.entry(number).or_insert(0) += 1;
            }
        }
        std::thread::sleep(delay);
        let response = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn ship_good_two_stores_on_one_schema_never_send_a_point_twice() {
    /// Eight batches of the outbox's 5,000 points.
    const POINTS: i64 = 40_000;
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let schema_url = backends::fresh_schema_url(&url);
    // The tables, then the points queued as commits with a journal leave them (written
    // directly, which is quicker than 40,000 commits).
    Store::open(&schema_url).expect("create the schema");
    backends::execute_directly(
        &schema_url,
        &format!(
            "WITH point AS (
                INSERT INTO journal_entries (bucket_name, measurement, fields_json, tags_json,
                    committed_at)
                SELECT 'events', 'm', '{{\"n\":' || n || '}}', '{{}}', 1700000000000 + n
                FROM generate_series(0, {}) AS n
                RETURNING entry_id)
            INSERT INTO journal_outbox (entry_id) SELECT entry_id FROM point",
            POINTS - 1
        ),
    );
    // 300 ms per request: one server alone would take 2.4 s, so both have batches in
    // flight at the same moment.
    let influx = CountingInflux::start(Duration::from_millis(300));
    let open = |name: &str| {
        Store::open_with(StoreConfig {
            journal: Some(store::JournalConfig::new(
                &format!("{}/{name}", influx.url),
                "core",
                "events",
            )),
            purge_interval: Duration::ZERO,
            ..StoreConfig::new(&schema_url)
        })
        .expect("open a shipping store")
    };
    // Both shippers start at open, and each store also flushes from a thread of its own,
    // all at once.
    let stores = [open("first"), open("second")];
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(stores.len()));
    let flushers: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.flush_journal().expect("flush")
            })
        })
        .collect();
    for flusher in flushers {
        flusher.join().expect("a flusher");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stores[0].stats().expect("stats").pending_exports > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox never emptied"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for store in &stores {
        store.close().expect("close");
    }
    let received = influx
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let twice: Vec<_> = received
        .points
        .iter()
        .filter(|(_, &count)| count != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "{} points sent more than once, the first: {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    assert_eq!(
        received.points.len(),
        usize::try_from(POINTS).expect("fits")
    );
    // Both servers shipped: the claims really were contended.
    assert!(
        received
            .requests
            .get("first")
            .is_some_and(|&count| count > 0)
            && received
                .requests
                .get("second")
                .is_some_and(|&count| count > 0),
        "{:?}",
        received.requests
    );
}

/// The child mode of `compact_good_exactly_once_when_killed_mid_compaction`.
const COMPACT_URL_ENV: &str = "STORE_TEST_PG_COMPACT_URL";
const COMPACT_OUTPUT_ENV: &str = "STORE_TEST_PG_COMPACT_OUTPUT";

fn compact_options(output: &std::path::Path) -> store::CompactOptions {
    store::CompactOptions {
        output: output.to_owned(),
        format: store::ArchiveFormat::Gzip,
        ..store::CompactOptions::new(std::time::SystemTime::now() + Duration::from_secs(60))
    }
}

/// The body of the compacting process, stopped (and killed) at a crash point.
#[test]
fn compact_child_process_entry() {
    let (Ok(url), Ok(output)) = (
        std::env::var(COMPACT_URL_ENV),
        std::env::var(COMPACT_OUTPUT_ENV),
    ) else {
        return; // Not a child: nothing to do.
    };
    let store = Store::open(&url).expect("child open");
    store
        .compact(compact_options(std::path::Path::new(&output)))
        .expect("child compact");
}

#[test]
fn compact_good_exactly_once_when_killed_mid_compaction() {
    use std::io::{BufRead, BufReader};
    let Some(url) = backends::postgres_url() else {
        return;
    };
    for point in ["compact.after_transaction", "compact.after_rename"] {
        let url = backends::fresh_schema_url(&url);
        let store = Store::open(&url).expect("open");
        for value in 0..50 {
            let mut fields = serde_json::Map::new();
            fields.insert("n".into(), serde_json::json!(value));
            store
                .commit_to_journal("tick", &fields, &std::collections::BTreeMap::new())
                .expect("commit");
        }
        let output = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "compact_child_process_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(COMPACT_URL_ENV, &url)
            .env(COMPACT_OUTPUT_ENV, output.path())
            .env("STORE_CRASH_POINT", point)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the child");
        let stdout = child.stdout.take().expect("the child's stdout");
        let (sender, reached) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("STORE_CRASH_POINT reached") {
                    let _ = sender.send(());
                }
            }
        });
        reached
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the child never reached {point}"));
        child.kill().expect("kill the child");
        child.wait().expect("reap the child");

        // Reopening finishes the interrupted archive: published, every point once.
        let reopened = Store::open(&url).expect("reopen after the crash");
        let archives: Vec<_> = std::fs::read_dir(output.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "gz"))
            .collect();
        assert_eq!(archives.len(), 1, "{point}: {archives:?}");
        let lines = store::read_archive(&archives[0]).expect("read the archive");
        assert_eq!(lines.len(), 50, "{point}");
        assert_eq!(
            reopened.stats().expect("stats").journal_points,
            0,
            "{point}"
        );
        assert_eq!(
            reopened
                .compact(compact_options(output.path()))
                .expect("compact again"),
            None,
            "{point}: nothing is archived twice"
        );
    }
}

#[test]
fn ship_good_rows_another_server_has_claimed_are_skipped_then_shipped_once_released() {
    let Some(url) = backends::postgres_url() else {
        return;
    };
    let (schema_url, schema) = backends::fresh_schema(&url);
    Store::open(&schema_url).expect("create the schema");
    backends::execute_directly(
        &schema_url,
        "WITH point AS (
            INSERT INTO journal_entries (bucket_name, measurement, fields_json, tags_json,
                committed_at)
            SELECT 'events', 'm', '{\"n\":' || n || '}', '{}', 1700000000000 + n
            FROM generate_series(0, 9) AS n
            RETURNING entry_id)
        INSERT INTO journal_outbox (entry_id) SELECT entry_id FROM point",
    );
    // Another server's batch in flight: its shipping transaction holds every row.
    let mut other = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    other
        .batch_execute(&format!(
            "SET search_path TO \"{schema}\"; BEGIN;
            SELECT entry_id FROM journal_outbox FOR UPDATE;"
        ))
        .expect("claim every row");
    let influx = CountingInflux::start(Duration::ZERO);
    let store = Store::open_with(StoreConfig {
        journal: Some(store::JournalConfig::new(&influx.url, "core", "events")),
        purge_interval: Duration::ZERO,
        ..StoreConfig::new(&schema_url)
    })
    .expect("open a shipping store");
    // Neither the shipper nor a flush waits for the claim, nor sends a claimed row.
    let started = std::time::Instant::now();
    assert_eq!(store.flush_journal().expect("flush"), 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the flush waited"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(store.stats().expect("stats").pending_exports, 10);
    // The other server goes away without settling: the rows are this one's to ship, and
    // its shipper finds them without a commit to wake it.
    other.batch_execute("ROLLBACK").expect("let go");
    let deadline = std::time::Instant::now() + ARRIVAL;
    while store.stats().expect("stats").pending_exports > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the rows were never shipped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    store.close().expect("close");
    let received = influx
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let expected: std::collections::BTreeMap<i64, usize> = (0..10).map(|n| (n, 1)).collect();
    assert_eq!(received.points, expected, "point number to times received");
}
