//! Shipping the journal to InfluxDB (SPEC §12).
//!
//! The V1 tests run a real `influxd` (Debian's `influxdb` package, 1.6) on free loopback
//! ports in a temporary directory; in CI (`CI=true`) a missing `influxd` fails them. V2
//! requests are checked against a small HTTP listener of the test's own, as no InfluxDB 2
//! server is available here.
//!
//! Each store lives on this run's backend (see `backends`): the file each test names, or,
//! with `STORE_TEST_BACKEND=postgres`, a PostgreSQL schema of its own for that file name,
//! so that reopening the same path reopens the same store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use store::{Durability, Error, JournalConfig, JournalProtocol, Store, StoreConfig};

mod backends;

// ---------------------------------------------------------------------------------------
// A real influxd

/// An `influxd` on loopback ports, killed when dropped.
struct Influxd {
    directory: tempfile::TempDir,
    config_path: PathBuf,
    url: String,
    child: Option<Child>,
}

impl Influxd {
    /// Starts one, or returns `None` (with a note) when `influxd` is not installed
    /// outside CI. In CI a missing `influxd` is a failure: the tests must run there.
    fn start() -> Option<Influxd> {
        let is_installed = Command::new("influxd")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !is_installed {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "influxd is not installed: .ci/run installs Debian's influxdb package"
            );
            eprintln!("NOTE: influxd is not installed; skipping this InfluxDB test locally");
            return None;
        }
        let directory = tempfile::tempdir().expect("a temporary directory");
        let http_port = free_port();
        let rpc_port = free_port();
        let root = directory.path().display().to_string();
        let config = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"#
        );
        let config_path = directory.path().join("influxd.conf");
        std::fs::write(&config_path, config).expect("write the influxd config");
        let mut influxd = Influxd {
            directory,
            config_path,
            url: format!("http://127.0.0.1:{http_port}"),
            child: None,
        };
        influxd.run();
        Some(influxd)
    }

    /// Starts the process (again, after `stop`, on the same data and ports) and waits
    /// until `/ping` answers.
    fn run(&mut self) {
        let log = std::fs::File::create(self.directory.path().join("influxd.log"))
            .expect("the influxd log");
        let child = Command::new("influxd")
            .arg("-config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log handle"))
            .stderr(log)
            .spawn()
            .expect("start influxd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = http().get(format!("{}/ping", self.url)).call() {
                if response.status().as_u16() == 204 {
                    return;
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        let log =
            std::fs::read_to_string(self.directory.path().join("influxd.log")).unwrap_or_default();
        panic!("influxd did not answer /ping within 60 s:\n{log}");
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs an InfluxQL statement; returns the JSON answer.
    fn query(&self, database: &str, statement: &str) -> Value {
        let mut response = http()
            .post(format!("{}/query", self.url))
            .query("db", database)
            .query("epoch", "ms")
            .query("q", statement)
            .send_empty()
            .expect("query influxd");
        assert_eq!(response.status().as_u16(), 200, "{statement}");
        let text = response.body_mut().read_to_string().expect("the answer");
        serde_json::from_str(&text).expect("a JSON answer")
    }

    fn create_database(&self, database: &str) {
        self.query(database, &format!("CREATE DATABASE \"{database}\""));
    }

    /// The rows of every series of `SELECT …`, each as column name to value.
    fn rows(&self, database: &str, statement: &str) -> Vec<Map<String, Value>> {
        let answer = self.query(database, statement);
        let mut rows = Vec::new();
        for series in answer["results"][0]["series"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let columns = series["columns"].as_array().cloned().unwrap_or_default();
            for values in series["values"].as_array().cloned().unwrap_or_default() {
                let mut row = Map::new();
                for (column, value) in columns.iter().zip(values.as_array().expect("values")) {
                    row.insert(column.as_str().expect("name").to_owned(), value.clone());
                }
                rows.push(row);
            }
        }
        rows
    }

    fn journal(&self, database: &str) -> JournalConfig {
        JournalConfig {
            protocol: JournalProtocol::V1,
            ..JournalConfig::new(&self.url, "unused-by-v1", database)
        }
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

// ---------------------------------------------------------------------------------------
// A small HTTP listener standing in for InfluxDB 2

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: String,
    received_at: Instant,
}

/// What the listener answers to the request with this index (from 0).
#[derive(Clone)]
enum Reply {
    Status(u16, &'static [(&'static str, &'static str)], &'static str),
    /// Reads the request and never answers.
    Hang,
}

struct Listener {
    url: String,
    requests: Receiver<Request>,
    is_stopping: Arc<AtomicBool>,
    address: std::net::SocketAddr,
}

impl Listener {
    fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the listener");
        let address = listener.local_addr().expect("its address");
        let (sender, requests) = mpsc::channel();
        let is_stopping = Arc::new(AtomicBool::new(false));
        let reply = Arc::new(reply);
        let count = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::clone(&is_stopping);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (sender, reply, count, stopping) = (
                    sender.clone(),
                    Arc::clone(&reply),
                    Arc::clone(&count),
                    Arc::clone(&stopping),
                );
                thread::spawn(move || serve(stream, &sender, &*reply, &count, &stopping));
            }
        });
        Listener {
            url: format!("http://{address}"),
            requests,
            is_stopping,
            address,
        }
    }

    fn next(&self, within: Duration) -> Option<Request> {
        self.requests.recv_timeout(within).ok()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.is_stopping.store(true, Ordering::Release);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.address);
    }
}

fn serve(
    stream: TcpStream,
    sender: &Sender<Request>,
    reply: &(dyn Fn(usize) -> Reply + Send + Sync),
    count: &AtomicUsize,
    is_stopping: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut writer = stream.try_clone().expect("a second handle");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
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
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length = headers
            .get("content-length")
            .and_then(|length| length.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let index = count.fetch_add(1, Ordering::AcqRel);
        let _ = sender.send(Request {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            received_at: Instant::now(),
        });
        match reply(index) {
            Reply::Hang => {
                // Hold the connection open without answering until the test ends.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !is_stopping.load(Ordering::Acquire) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(50));
                }
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Status(status, extra_headers, body) => {
                let mut response = format!(
                    "HTTP/1.1 {status} Status\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (name, value) in extra_headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(body);
                if writer.write_all(response.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

const NO_CONTENT: Reply = Reply::Status(204, &[], "");

// ---------------------------------------------------------------------------------------
// Helpers

/// Where the store "at" `path` lives on this run's backend: that file, or a fresh
/// PostgreSQL schema per path, the same one for every open of the path in this process.
fn location(path: &Path) -> String {
    if !backends::is_postgres() {
        return path.display().to_string();
    }
    static SCHEMAS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let url = std::env::var(backends::POSTGRES_ENV).expect("STORE_TEST_POSTGRES is set");
    let mut schemas = SCHEMAS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    schemas
        .entry(path.to_owned())
        .or_insert_with(|| backends::fresh_schema_url(&url))
        .clone()
}

fn open(path: &Path, journal: Option<JournalConfig>) -> Store {
    Store::open_with(StoreConfig {
        journal,
        durability: Durability::Normal,
        purge_interval: Duration::ZERO,
        workspace_state_directory: path.with_extension("state"),
        ..StoreConfig::new(location(path))
    })
    .expect("open the store")
}

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// Polls `condition` until it holds or `within` passes; true when it held.
fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn outbox_rows(store: &Store) -> Vec<Map<String, Value>> {
    store
        .query_journal("SELECT * FROM journal_outbox ORDER BY entry_id")
        .expect("read the outbox")
}

/// A loopback port with nothing listening on it.
fn dead_endpoint() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

// ---------------------------------------------------------------------------------------
// Against a real InfluxDB 1.6 (V1)

#[test]
fn influxd_good_points_arrive_with_tags_fields_and_timestamps() {
    let Some(influx) = Influxd::start() else {
        return;
    };
    influx.create_database("shapes");
    let directory = tempfile::tempdir().expect("a directory");
    let store = open(
        &directory.path().join("s.db"),
        Some(influx.journal("shapes")),
    );
    let first = store
        .commit_to_journal(
            "web request",
            &fields(json!({
                "duration_ms": 42, "ratio": 0.25, "ok": true, "path": "/a \"b\" \\c\nd",
                "nested": {"k": [1, 2]}, "missing": null
            })),
            &tags(&[
                ("route", "/login,x=y z"),
                ("host", r"C:\srv"),
                ("empty", ""),
            ]),
        )
        .expect("commit");
    let second = store
        .commit_to_journal(
            "web request",
            &fields(json!({"duration_ms": 7})),
            &tags(&[("route", "/home")]),
        )
        .expect("commit");
    // The shipper may have sent some first; either way both are acknowledged now.
    let shipped = store.flush_journal().expect("flush");
    assert!(shipped <= 2);
    let stats = store.stats().expect("stats");
    assert_eq!((stats.pending_exports, stats.failed_exports), (0, 0));
    let rows = influx.rows("shapes", r#"SELECT * FROM "web request" ORDER BY time"#);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["time"], json!(first.committed_at));
    assert_eq!(row["duration_ms"], json!(42));
    assert_eq!(row["ratio"], json!(0.25));
    assert_eq!(row["ok"], json!(true));
    assert_eq!(row["path"], json!("/a \"b\" \\c\nd"));
    assert_eq!(row["nested"], json!(r#"{"k":[1,2]}"#));
    assert_eq!(row["route"], json!("/login,x=y z"));
    assert_eq!(row["host"], json!(r"C:\srv"));
    assert_eq!(row.get("empty"), None, "empty tag values are omitted");
    assert_eq!(row.get("missing"), None, "null fields are omitted");
    assert_eq!(rows[1]["time"], json!(second.committed_at));
    assert_eq!(rows[1]["route"], json!("/home"));
    // The types arrived as typed: an integer, a float, a boolean, strings.
    let types = influx.rows("shapes", r#"SHOW FIELD KEYS FROM "web request""#);
    let types: BTreeMap<String, String> = types
        .iter()
        .map(|row| {
            (
                row["fieldKey"].as_str().expect("key").to_owned(),
                row["fieldType"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    assert_eq!(types["duration_ms"], "integer");
    assert_eq!(types["ratio"], "float");
    assert_eq!(types["ok"], "boolean");
    assert_eq!(types["nested"], "string");
    assert!(outbox_rows(&store).is_empty());
    store.close().expect("close");
}

#[test]
fn influxd_good_restart_delivers_all_1000_points_exactly_once() {
    const POINTS: usize = 1_000;
    let Some(mut influx) = Influxd::start() else {
        return;
    };
    influx.create_database("restart");
    let directory = tempfile::tempdir().expect("a directory");
    let store = open(
        &directory.path().join("r.db"),
        Some(influx.journal("restart")),
    );
    influx.stop();
    for sequence in 0..POINTS {
        store
            .commit_to_journal(
                "restart_test",
                &fields(json!({ "value": sequence })),
                &tags(&[("sequence", &sequence.to_string())]),
            )
            .expect("commit while InfluxDB is down");
    }
    // The shipper has met the outage and kept every point.
    assert!(
        eventually(Duration::from_secs(30), || store
            .stats()
            .is_ok_and(|stats| stats.last_export_error.is_some())),
        "the outage is reported"
    );
    let stats = store.stats().expect("stats");
    assert_eq!(stats.pending_exports, POINTS as u64);
    assert_eq!(stats.failed_exports, 0);
    influx.run();
    // No flush: the background shipper delivers once its backoff expires.
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(120), || store
            .stats()
            .is_ok_and(|stats| stats.pending_exports == 0)),
        "the shipper delivers after the restart: {:?}",
        store.stats()
    );
    eprintln!("delivered after the restart in {:?}", started.elapsed());
    let rows = influx.rows(
        "restart",
        r#"SELECT "value", "sequence" FROM "restart_test""#,
    );
    let sequences: BTreeSet<String> = rows
        .iter()
        .map(|row| row["sequence"].as_str().expect("a tag").to_owned())
        .collect();
    assert_eq!(rows.len(), POINTS, "every point once");
    assert_eq!(sequences.len(), POINTS);
    for row in &rows {
        assert_eq!(
            row["value"].to_string(),
            row["sequence"].as_str().expect("a tag")
        );
    }
    let count = influx.rows("restart", r#"SELECT COUNT("value") FROM "restart_test""#);
    assert_eq!(count[0]["count"], json!(POINTS));
    let stats = store.stats().expect("stats");
    assert_eq!(stats.last_export_error, None, "cleared by the delivery");
    assert!(outbox_rows(&store).is_empty());
    store.close().expect("close");
}

#[test]
fn influxd_bad_field_type_conflict_is_reported_and_not_retried() {
    let Some(influx) = Influxd::start() else {
        return;
    };
    influx.create_database("conflict");
    let directory = tempfile::tempdir().expect("a directory");
    let store = open(
        &directory.path().join("c.db"),
        Some(influx.journal("conflict")),
    );
    store
        .commit_to_journal("typed", &fields(json!({"value": 1})), &BTreeMap::new())
        .expect("commit an integer");
    store.flush_journal().expect("the integer is accepted");
    store
        .commit_to_journal("typed", &fields(json!({"value": "text"})), &BTreeMap::new())
        .expect("commit a string for the same field");
    // The shipper or this flush sends it; either way InfluxDB answers 400.
    match store.flush_journal() {
        Err(Error::Export {
            status, message, ..
        }) => {
            assert_eq!(status, Some(400), "{message}");
            assert!(message.contains("conflict"), "{message}");
        }
        Ok(0) => {} // the shipper got there first and recorded the failure
        other => panic!("expected a 400 refusal, got {other:?}"),
    }
    assert!(eventually(Duration::from_secs(30), || store
        .stats()
        .is_ok_and(|stats| stats.failed_exports == 1)));
    let stats = store.stats().expect("stats");
    assert_eq!(stats.pending_exports, 0);
    let last_error = stats.last_export_error.expect("the refusal is reported");
    assert!(last_error.starts_with("400: "), "{last_error}");
    assert!(last_error.contains("field type conflict"), "{last_error}");
    // A failed point is not pending: flushing again sends nothing and succeeds.
    assert_eq!(store.flush_journal().expect("nothing to send"), 0);
    let outbox = outbox_rows(&store);
    assert_eq!(outbox.len(), 1);
    assert!(outbox[0]["failed_at"].is_i64());
    assert_eq!(outbox[0]["attempts"], json!(1));
    store.close().expect("close");
}

// ---------------------------------------------------------------------------------------
// Against the test's own listener (V2 and failure modes)

fn v2_journal(url: &str) -> JournalConfig {
    JournalConfig {
        token: Some("s3cret token".into()),
        ..JournalConfig::new(&format!("{url}/"), "my org&co", "events/2026")
    }
}

#[test]
fn v2_good_request_path_query_headers_and_body() {
    let listener = Listener::start(|_| NO_CONTENT);
    let directory = tempfile::tempdir().expect("a directory");
    let store = open(
        &directory.path().join("v2.db"),
        Some(v2_journal(&listener.url)),
    );
    let entry = store
        .commit_to_journal(
            "cpu",
            &fields(json!({"load": 1.5, "cores": 4})),
            &tags(&[("host", "a b")]),
        )
        .expect("commit");
    let request = listener
        .next(Duration::from_secs(30))
        .expect("the shipper sends the point without a flush");
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.target,
        "/api/v2/write?org=my%20org%26co&bucket=events%2F2026&precision=ms"
    );
    assert_eq!(request.headers["authorization"], "Token s3cret token");
    assert_eq!(request.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        request.body,
        format!("cpu,host=a\\ b cores=4i,load=1.5 {}\n", entry.committed_at)
    );
    assert!(eventually(Duration::from_secs(10), || outbox_rows(&store).is_empty()));
    assert_eq!(store.flush_journal().expect("nothing left"), 0);
    store.close().expect("close");
}

#[test]
fn v1_good_request_path_and_no_token() {
    let listener = Listener::start(|_| NO_CONTENT);
    let directory = tempfile::tempdir().expect("a directory");
    let journal = JournalConfig {
        protocol: JournalProtocol::V1,
        ..JournalConfig::new(&listener.url, "core", "my db")
    };
    let store = open(&directory.path().join("v1.db"), Some(journal));
    store
        .commit_to_journal("m", &fields(json!({"v": true})), &BTreeMap::new())
        .expect("commit");
    let request = listener.next(Duration::from_secs(30)).expect("a request");
    assert_eq!(request.target, "/write?db=my%20db&precision=ms");
    assert!(!request.headers.contains_key("authorization"));
    store.close().expect("close");
}

#[test]
fn v2_good_flush_counts_batches_of_at_most_5000() {
    let listener = Listener::start(|_| NO_CONTENT);
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("batches.db");
    // Queue the points with the shipper pointed at nothing, then ship them all at once.
    let store = open(&path, Some(v2_journal(&dead_endpoint())));
    for value in 0..6_001 {
        store
            .commit_to_journal("bulk", &fields(json!({ "v": value })), &BTreeMap::new())
            .expect("commit");
    }
    store.close().expect("close");
    let store = open(&path, Some(v2_journal(&listener.url)));
    let shipped = store.flush_journal().expect("flush");
    // The shipper may have taken some batches itself.
    let mut lines = Vec::new();
    while let Some(request) = listener.next(Duration::from_millis(500)) {
        lines.push(request.body.lines().count());
    }
    assert!(lines.iter().all(|&count| count <= 5_000), "{lines:?}");
    assert_eq!(lines.iter().sum::<usize>(), 6_001);
    assert!(shipped <= 6_001);
    assert_eq!(store.stats().expect("stats").pending_exports, 0);
    store.close().expect("close");
}

#[test]
fn v2_good_transient_503_is_retried_after_retry_after() {
    let listener = Listener::start(|index| {
        if index == 0 {
            Reply::Status(503, &[("Retry-After", "1")], "restarting")
        } else {
            NO_CONTENT
        }
    });
    let directory = tempfile::tempdir().expect("a directory");
    let store = open(
        &directory.path().join("retry.db"),
        Some(v2_journal(&listener.url)),
    );
    store
        .commit_to_journal("m", &fields(json!({"v": 1})), &BTreeMap::new())
        .expect("commit");
    let first = listener.next(Duration::from_secs(30)).expect("first try");
    assert!(eventually(Duration::from_secs(10), || store
        .stats()
        .is_ok_and(
            |stats| stats.last_export_error.as_deref() == Some("503: restarting")
        )));
    let outbox = outbox_rows(&store);
    assert_eq!(outbox[0]["attempts"], json!(1));
    assert!(outbox[0]["failed_at"].is_null());
    let second = listener.next(Duration::from_secs(30)).expect("the retry");
    assert_eq!(second.body, first.body);
    let waited = second.received_at - first.received_at;
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(eventually(Duration::from_secs(10), || store
        .stats()
        .is_ok_and(
            |stats| stats.pending_exports == 0 && stats.last_export_error.is_none()
        )));
    store.close().expect("close");
}

#[test]
fn v2_bad_400_is_permanent_and_not_retried_in_a_loop() {
    let listener = Listener::start(|_| {
        Reply::Status(
            400,
            &[],
            r#"{"code":"invalid","message":"partial write: field type conflict"}"#,
        )
    });
    let directory = tempfile::tempdir().expect("a directory");
    let store = open(
        &directory.path().join("refused.db"),
        Some(v2_journal(&listener.url)),
    );
    store
        .commit_to_journal("m", &fields(json!({"v": 1})), &BTreeMap::new())
        .expect("commit");
    listener
        .next(Duration::from_secs(30))
        .expect("the shipper tries once");
    assert!(eventually(Duration::from_secs(10), || store
        .stats()
        .is_ok_and(|stats| stats.failed_exports == 1)));
    // Not retried: no further request arrives.
    assert!(listener.next(Duration::from_millis(1_500)).is_none());
    let stats = store.stats().expect("stats");
    assert_eq!(stats.pending_exports, 0);
    let last_error = stats.last_export_error.expect("reported");
    assert!(last_error.starts_with("400: "), "{last_error}");
    assert!(last_error.contains("field type conflict"), "{last_error}");
    // flush reports a refusal of its own batch with the status.
    store
        .commit_to_journal("m", &fields(json!({"v": 2})), &BTreeMap::new())
        .expect("commit");
    let error = loop {
        match store.flush_journal() {
            Err(error) => break error,
            // The shipper took the point first; it is failed now, so commit another.
            Ok(_) => {
                store
                    .commit_to_journal("m", &fields(json!({"v": 3})), &BTreeMap::new())
                    .expect("commit");
            }
        }
    };
    assert!(
        matches!(
            error,
            Error::Export {
                status: Some(400),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.operation(), "store.flush_journal");
    assert!(error.to_string().starts_with("store.flush_journal: "));
    assert!(error.to_string().contains("400"));
    store.close().expect("close");
}

#[test]
fn v2_bad_long_refusal_body_is_cut_to_200_bytes() {
    const LONG: &str = concat!(
        "0123456789012345678901234567890123456789012345678901234567890123456789",
        "0123456789012345678901234567890123456789012345678901234567890123456789",
        "0123456789012345678901234567890123456789012345678901234567890123456789",
        "TAIL"
    );
    let listener = Listener::start(|_| Reply::Status(422, &[], LONG));
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("long.db");
    let store = open(&path, Some(v2_journal(&dead_endpoint())));
    store
        .commit_to_journal("m", &fields(json!({"v": 1})), &BTreeMap::new())
        .expect("commit");
    store.close().expect("close");
    let store = open(&path, Some(v2_journal(&listener.url)));
    let _ = store.flush_journal();
    assert!(eventually(Duration::from_secs(10), || store
        .stats()
        .is_ok_and(|stats| stats.failed_exports == 1)));
    let last_error = store
        .stats()
        .expect("stats")
        .last_export_error
        .expect("reported");
    assert_eq!(last_error, format!("422: {}", &LONG[..200]));
    store.close().expect("close");
}

#[test]
fn close_good_bounded_while_the_server_hangs_and_commits_are_not_blocked() {
    let listener = Listener::start(|_| Reply::Hang);
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("hang.db");
    let store = open(&path, Some(v2_journal(&listener.url)));
    store
        .commit_to_journal("m", &fields(json!({"v": 0})), &BTreeMap::new())
        .expect("commit");
    listener
        .next(Duration::from_secs(30))
        .expect("the shipper's request is in flight");
    // The request will hang for its whole 30 s timeout; commits go on meanwhile.
    let started = Instant::now();
    for value in 1..=50 {
        store
            .commit_to_journal("m", &fields(json!({ "v": value })), &BTreeMap::new())
            .expect("commit");
    }
    let workspace = store.new_workspace("run-1").expect("a workspace");
    workspace
        .put("click", fields(json!({"x": 1})))
        .expect("put");
    workspace
        .commit()
        .expect("a workspace commit is not blocked either");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "commits waited for the shipper: {:?}",
        started.elapsed()
    );
    assert_eq!(store.stats().expect("stats").pending_exports, 52);
    let started = Instant::now();
    store.close().expect("close");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "close took {took:?}");
    // Nothing was acknowledged, so everything is still queued for the next open.
    let store = open(&path, None);
    assert_eq!(outbox_rows(&store).len(), 52);
    store.close().expect("close");
}

#[test]
fn close_good_quick_when_the_server_is_gone_and_points_wait_for_the_next_open() {
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("gone.db");
    let store = open(&path, Some(v2_journal(&dead_endpoint())));
    for value in 0..3 {
        store
            .commit_to_journal("m", &fields(json!({ "v": value })), &BTreeMap::new())
            .expect("commit");
    }
    let error = store.flush_journal().expect_err("nobody listens");
    assert!(
        matches!(error, Error::Export { status: None, .. }),
        "{error:?}"
    );
    assert!(std::error::Error::source(&error).is_some());
    let started = Instant::now();
    store.close().expect("close");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The next open with a server ships them.
    let listener = Listener::start(|_| NO_CONTENT);
    let store = open(&path, Some(v2_journal(&listener.url)));
    let _ = store.flush_journal().expect("flush");
    let mut lines = 0;
    while let Some(request) = listener.next(Duration::from_millis(500)) {
        lines += request.body.lines().count();
    }
    assert_eq!(lines, 3);
    assert_eq!(store.stats().expect("stats").pending_exports, 0);
    store.close().expect("close");
}

#[test]
fn workspace_commit_good_is_queued_and_shipped() {
    let listener = Listener::start(|_| NO_CONTENT);
    let directory = tempfile::tempdir().expect("a directory");
    let store = open(
        &directory.path().join("ws.db"),
        Some(v2_journal(&listener.url)),
    );
    let workspace = store.new_workspace("batch-7").expect("a workspace");
    workspace
        .put("click", fields(json!({"x": 1})))
        .expect("put");
    workspace
        .put("click", fields(json!({"x": 2})))
        .expect("put");
    workspace.commit().expect("commit");
    let request = listener.next(Duration::from_secs(30)).expect("shipped");
    assert!(
        request
            .body
            .starts_with("batch-7,workspace=batch-7 click=2i "),
        "{}",
        request.body
    );
    store.close().expect("close");
}

#[test]
fn point_without_fields_bad_is_refused_and_a_stored_one_is_dropped_not_sent() {
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("empty.db");
    let store = open(&path, Some(v2_journal(&dead_endpoint())));
    let error = store
        .commit_to_journal("m", &fields(json!({"only": null})), &tags(&[("a", "b")]))
        .expect_err("InfluxDB cannot store a point without a field");
    assert!(
        error
            .to_string()
            .starts_with("store.commit_to_journal: fields are empty"),
        "{error}"
    );
    assert!(outbox_rows(&store).is_empty(), "nothing queued");
    store.close().expect("close");
    // One written by an older version (or another program) is still dropped quietly.
    let old_point = if backends::is_postgres() {
        "WITH point AS (INSERT INTO journal_entries (bucket_name, measurement, fields_json,
                tags_json, committed_at) VALUES ('events/2026', 'm', '{\"only\":null}', '{}', 5)
                RETURNING entry_id)
            INSERT INTO journal_outbox (entry_id) SELECT entry_id FROM point"
    } else {
        "INSERT INTO journal_entries (bucket_name, measurement, fields_json, tags_json,
            committed_at) VALUES ('events/2026', 'm', '{\"only\":null}', '{}', 5);
         INSERT INTO journal_outbox (entry_id) VALUES (last_insert_rowid());"
    };
    backends::execute_directly(&location(&path), old_point);
    let store = open(&path, Some(v2_journal(&dead_endpoint())));
    // Nothing to send, so nothing fails even with nobody listening.
    assert_eq!(store.flush_journal().expect("flush"), 0);
    assert!(outbox_rows(&store).is_empty());
    assert_eq!(store.query_journal("").expect("journal").len(), 1);
    store.close().expect("close");
}

/// The values of field `n` in the line-protocol bodies received so far, however many
/// requests carried them; waits `within` for each further request.
fn received_numbers(listener: &Listener, within: Duration) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    while let Some(request) = listener.next(within) {
        for line in request.body.lines() {
            let number = line
                .split(' ')
                .nth(1)
                .and_then(|fields| fields.strip_prefix("n="))
                .and_then(|value| value.strip_suffix('i'))
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            *seen.entry(number).or_insert(0) += 1;
        }
    }
    seen
}

#[test]
fn close_good_points_acknowledged_while_closing_are_not_sent_again() {
    // The first request is answered only once the store has been marked closed: the
    // shipper's 2xx then arrives while close is waiting for it.
    let (open_gate, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let listener = Listener::start(move |index| {
        if index == 0 {
            let gate = gate
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = gate.recv_timeout(Duration::from_secs(30));
        }
        NO_CONTENT
    });
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("closing.db");
    let store = open(&path, Some(v2_journal(&listener.url)));
    store
        .commit_to_journal("m", &fields(json!({"n": 1})), &BTreeMap::new())
        .expect("commit");
    let first = listener
        .next(Duration::from_secs(30))
        .expect("the shipper sends the point");
    assert!(first.body.starts_with("m n=1i "), "{}", first.body);
    let closing = store.clone();
    let closer = thread::spawn(move || closing.close());
    assert!(eventually(Duration::from_secs(30), || store.is_closed()));
    open_gate.send(()).expect("open the gate");
    closer.join().expect("the closing thread").expect("close");
    // Close's own last attempt would have sent it again before returning.
    assert!(
        listener.next(Duration::ZERO).is_none(),
        "the acknowledged point was sent again by close"
    );
    let store = open(&path, Some(v2_journal(&listener.url)));
    assert!(
        outbox_rows(&store).is_empty(),
        "acknowledged rows are deleted"
    );
    assert_eq!(store.flush_journal().expect("flush"), 0);
    store.close().expect("close");
    assert!(
        listener.next(Duration::ZERO).is_none(),
        "nor by the next open"
    );
}

#[test]
fn shipper_good_each_of_20_points_arrives_exactly_once_with_flushes_and_closes() {
    let listener = Listener::start(|_| NO_CONTENT);
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("once.db");
    // Ten points from one store with the shipper running and a second thread flushing
    // all along; then ten from short-lived stores (as the `store` command runs: open,
    // commit, maybe flush, close), each racing its shipper against flush and close.
    let store = open(&path, Some(v2_journal(&listener.url)));
    let (done, is_done) = mpsc::channel::<()>();
    let flusher = {
        let store = store.clone();
        thread::spawn(move || {
            while is_done.try_recv().is_err() {
                store.flush_journal().expect("flush");
            }
        })
    };
    for n in 0..10 {
        store
            .commit_to_journal("m", &fields(json!({ "n": n })), &BTreeMap::new())
            .expect("commit");
    }
    done.send(()).expect("stop the flusher");
    flusher.join().expect("the flusher");
    store.flush_journal().expect("flush");
    store.close().expect("close");
    for n in 10..20 {
        let store = open(&path, Some(v2_journal(&listener.url)));
        store
            .commit_to_journal("m", &fields(json!({ "n": n })), &BTreeMap::new())
            .expect("commit");
        if n % 2 == 0 {
            store.flush_journal().expect("flush");
        }
        store.close().expect("close");
    }
    let store = open(&path, Some(v2_journal(&listener.url)));
    store.flush_journal().expect("flush what is left");
    store.close().expect("close");
    let seen = received_numbers(&listener, Duration::from_millis(500));
    let expected: BTreeMap<u64, usize> = (0..20).map(|n| (n, 1)).collect();
    assert_eq!(seen, expected, "point number to times received");
}

#[test]
fn no_journal_good_nothing_queued_and_flush_is_zero() {
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("local.db");
    let store = open(&path, None);
    store
        .commit_to_journal("m", &fields(json!({"v": 1})), &BTreeMap::new())
        .expect("commit");
    assert!(outbox_rows(&store).is_empty());
    assert_eq!(store.flush_journal().expect("flush"), 0);
    store.close().expect("close");
    let error = store.flush_journal().expect_err("closed");
    assert!(
        matches!(
            error,
            Error::Closed {
                operation: "store.flush_journal"
            }
        ),
        "{error:?}"
    );
    // No backfill: opening with a journal later does not queue old points.
    let store = open(&path, Some(v2_journal(&dead_endpoint())));
    assert!(outbox_rows(&store).is_empty());
    store.close().expect("close");
}

#[test]
fn open_bad_partial_journal_config_is_refused() {
    let directory = tempfile::tempdir().expect("a directory");
    for (journal, fragment) in [
        (
            JournalConfig::new("", "core", "events"),
            "endpoint URL is empty",
        ),
        (
            JournalConfig::new("http://127.0.0.1:8086", "", "events"),
            "organisation is empty",
        ),
        (
            JournalConfig::new("http://127.0.0.1:8086", "core", ""),
            "bucket name is empty",
        ),
        (
            JournalConfig::new("127.0.0.1:8086", "core", "events"),
            "endpoint URL is invalid",
        ),
    ] {
        let error = Store::open_with(StoreConfig {
            journal: Some(journal),
            ..StoreConfig::new(directory.path().join("x.db"))
        })
        .expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("validate config"), "{message}");
        assert!(message.contains(fragment), "{message}");
    }
}
