//! The built `store` binary, run as a person or a script would run it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::Value;

/// A temporary folder with a database in it, and a way to run `store` against it.
struct Shell {
    directory: tempfile::TempDir,
}

impl Shell {
    fn new() -> Shell {
        Shell {
            directory: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn database(&self) -> PathBuf {
        self.directory.path().join("nested").join("store.db")
    }

    fn command(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_store"));
        command
            .current_dir(self.directory.path())
            .env_remove("STORE_DB")
            .env_remove("STORE_INFLUX_URL")
            .arg("--db")
            .arg(self.database())
            .args(arguments);
        command
    }

    fn run(&self, arguments: &[&str]) -> Output {
        self.command(arguments).output().expect("run store")
    }

    fn run_with_input(&self, arguments: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn store");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// Runs a command that must succeed and returns its standard output.
    fn ok(&self, arguments: &[&str]) -> String {
        let output = self.run(arguments);
        assert!(
            output.status.success(),
            "store {arguments:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    fn json(&self, arguments: &[&str]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(arguments);
        serde_json::from_str(&self.ok(&with_json)).expect("one JSON value")
    }
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn set_and_get_good_raw_value_and_parent_folders_created() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "colour", "blue"]);
    assert!(shell.database().exists());
    assert_eq!(shell.ok(&["get", "config", "colour"]), "blue");
    shell.ok(&["set", "config", "motd", "line one\nline two\n"]);
    assert_eq!(shell.ok(&["get", "config", "motd"]), "line one\nline two\n");
    assert_eq!(
        shell.json(&["get", "config", "colour"]),
        Value::from("blue")
    );
    assert_eq!(
        shell.json(&["set", "config", "size", "10"]),
        serde_json::json!({"ok": true})
    );
}

#[test]
fn get_bad_missing_key_exits_one() {
    let shell = Shell::new();
    let output = shell.run(&["get", "config", "colour"]);
    assert_eq!(code(&output), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output).trim_end(),
        r#"store.get: not found: group "config", key "colour""#
    );
}

#[test]
fn set_good_ttl_and_bad_ttl() {
    let shell = Shell::new();
    shell.ok(&["set", "sessions", "alice", "token", "--ttl", "2h"]);
    let exported: Value = serde_json::from_str(shell.ok(&["export"]).trim()).expect("JSON line");
    let expires_at = exported["expires_at"].as_i64().expect("an expiry");
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms");
    assert!(
        (expires_at - now_ms - 7_200_000).abs() < 60_000,
        "{expires_at}"
    );
    for bad in ["5q", "soon", ""] {
        let output = shell.run(&["set", "g", "k", "v", "--ttl", bad]);
        assert_eq!(code(&output), Some(2), "{bad:?}");
        assert!(stderr(&output).contains("duration"), "{}", stderr(&output));
    }
}

#[test]
fn delete_commands_good() {
    let shell = Shell::new();
    for (group, key) in [
        ("a", "1"),
        ("a", "2"),
        ("b", "1"),
        ("tenant:x", "1"),
        ("tenant:y", "1"),
    ] {
        shell.ok(&["set", group, key, "v"]);
    }
    shell.ok(&["delete", "a", "1"]);
    assert_eq!(shell.ok(&["count", "a"]), "1\n");
    shell.ok(&["delete-group", "a"]);
    assert_eq!(shell.ok(&["count", "a"]), "0\n");
    shell.ok(&["delete-prefix", "tenant:"]);
    assert_eq!(shell.json(&["groups"]), serde_json::json!(["b"]));
    assert_eq!(
        shell.json(&["delete", "nowhere", "k"]),
        serde_json::json!({"ok": true})
    );
}

#[test]
fn count_list_groups_good_plain_and_json() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "size", "10"]);
    shell.ok(&["set", "config", "colour", "blue"]);
    shell.ok(&["set", "Config", "x", "y"]);
    shell.ok(&["set", "cache", "page", "html"]);
    assert_eq!(shell.ok(&["count", "config"]), "2\n");
    assert_eq!(shell.json(&["count", "config"]), Value::from(2));
    assert_eq!(shell.ok(&["count-all"]), "4\n");
    assert_eq!(shell.ok(&["count-all", "c"]), "3\n");
    assert_eq!(shell.json(&["count-all", "C"]), Value::from(1));
    assert_eq!(shell.ok(&["list", "config"]), "colour\tblue\nsize\t10\n");
    assert_eq!(
        shell.json(&["list", "config"]),
        serde_json::json!({"colour": "blue", "size": "10"})
    );
    assert_eq!(shell.ok(&["groups"]), "Config\ncache\nconfig\n");
    assert_eq!(
        shell.json(&["groups", "c"]),
        serde_json::json!(["cache", "config"])
    );
}

#[test]
fn render_good_inline_and_file_and_bad_template() {
    let shell = Shell::new();
    shell.ok(&["set", "user", "name", "Ada"]);
    assert_eq!(
        shell.ok(&["render", "user", "hello {{ .name }}"]),
        "hello Ada"
    );
    let template = shell.directory.path().join("greeting.tmpl");
    std::fs::write(
        &template,
        "{{ range $k, $v := . }}{{ $k }}={{ $v }}{{ end }}\n",
    )
    .expect("write");
    let path = template.to_str().expect("UTF-8 path");
    assert_eq!(shell.ok(&["render", "user", "--file", path]), "name=Ada\n");
    assert_eq!(
        shell.json(&["render", "user", "{{ .name }}"]),
        Value::from("Ada")
    );
    let output = shell.run(&["render", "user", "{{ .unclosed"]);
    assert_eq!(code(&output), Some(2));
    assert!(
        stderr(&output).contains("parse template"),
        "{}",
        stderr(&output)
    );
    let output = shell.run(&["render", "user"]);
    assert_eq!(code(&output), Some(2), "a template or --file is required");
    let output = shell.run(&["render", "user", "--file", "/no/such/file"]);
    assert_eq!(code(&output), Some(2));
}

#[test]
fn purge_good_prints_count() {
    let shell = Shell::new();
    let lines = "{\"group\":\"g\",\"key\":\"old\",\"value\":\"v\",\"expires_at\":1}\n\
                 {\"group\":\"g\",\"key\":\"new\",\"value\":\"v\",\"expires_at\":null}\n";
    let output = shell.run_with_input(&["import"], lines.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(shell.ok(&["purge"]), "1\n");
    assert_eq!(shell.json(&["purge"]), Value::from(0));
}

#[test]
fn export_import_good_round_trip_of_ten_thousand_entries() {
    let source = Shell::new();
    let mut lines = String::new();
    for index in 0..10_000 {
        let expires_at = if index % 3 == 0 {
            "4102444800000".to_owned()
        } else {
            "null".to_owned()
        };
        lines.push_str(&format!(
            "{{\"group\":\"g{}\",\"key\":\"k{index:05}\",\"value\":\"value \\\"{index}\\\"\\n\",\"expires_at\":{expires_at}}}\n",
            index % 17
        ));
    }
    let output = source.run_with_input(&["import"], lines.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "10000\n");
    let exported = source.ok(&["export"]);
    assert_eq!(exported.lines().count(), 10_000);
    for line in exported.lines().take(3) {
        let value: Value = serde_json::from_str(line).expect("JSON line");
        assert!(
            value["group"].is_string() && value["key"].is_string() && value["value"].is_string()
        );
    }
    let copy = Shell::new();
    let output = copy.run_with_input(&["--json", "import"], exported.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        serde_json::from_slice::<Value>(&output.stdout).expect("JSON"),
        Value::from(10_000)
    );
    assert_eq!(
        copy.ok(&["export"]),
        exported,
        "export | import reproduces the store exactly"
    );
    let prefixed = copy.ok(&["export", "--group-prefix", "g1"]);
    assert!(prefixed.lines().all(|line| line.contains("\"group\":\"g1")));
    assert!(!prefixed.is_empty());
}

#[test]
fn import_bad_line_aborts_everything() {
    let shell = Shell::new();
    shell.ok(&["set", "g", "existing", "kept"]);
    let lines = "{\"group\":\"g\",\"key\":\"a\",\"value\":\"1\",\"expires_at\":null}\n\
                 {\"group\":\"g\",\"key\":\"b\",\"value\":\"2\",\"expires_at\":null}\n\
                 {\"group\":\"g\",\"key\":\"c\"}\n";
    let output = shell.run_with_input(&["import"], lines.as_bytes());
    assert_eq!(code(&output), Some(2));
    assert!(stderr(&output).contains("line 3: "), "{}", stderr(&output));
    assert_eq!(
        shell.json(&["list", "g"]),
        serde_json::json!({"existing": "kept"})
    );
    let output = shell.run_with_input(&["import"], b"{not json}\n");
    assert_eq!(code(&output), Some(2));
    assert!(stderr(&output).contains("line 1: "));
}

#[test]
fn import_good_from_file_argument() {
    let shell = Shell::new();
    let file = shell.directory.path().join("entries.jsonl");
    std::fs::write(&file, "{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}\n").expect("write");
    shell.ok(&["import", file.to_str().expect("UTF-8 path")]);
    assert_eq!(shell.ok(&["get", "g", "k"]), "v");
    let output = shell.run(&["import", "/no/such/file.jsonl"]);
    assert_eq!(code(&output), Some(2));
}

#[test]
fn usage_bad_exits_two() {
    let shell = Shell::new();
    for arguments in [&["frobnicate"][..], &["get", "only-group"][..], &[][..]] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(2), "{arguments:?}");
    }
}

#[test]
fn db_bad_not_a_database_exits_three() {
    let shell = Shell::new();
    let path = shell.directory.path().join("garbage.db");
    std::fs::write(&path, vec![7_u8; 4096]).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_store"))
        .args(["--db", path.to_str().expect("UTF-8"), "get", "g", "k"])
        .output()
        .expect("run");
    assert_eq!(code(&output), Some(3));
    assert!(
        stderr(&output).starts_with("store.open: "),
        "{}",
        stderr(&output)
    );
    assert_eq!(stderr(&output).lines().count(), 1, "one line on stderr");
}

#[test]
fn db_good_from_environment_variable() {
    let shell = Shell::new();
    let path: &Path = &shell.directory.path().join("from-env.db");
    let output = Command::new(env!("CARGO_BIN_EXE_store"))
        .env("STORE_DB", path)
        .args(["set", "g", "k", "v"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(path.exists());
}

#[test]
fn default_db_good_is_under_dot_core() {
    let shell = Shell::new();
    let output = Command::new(env!("CARGO_BIN_EXE_store"))
        .current_dir(shell.directory.path())
        .env_remove("STORE_DB")
        .args(["set", "g", "k", "v"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(shell.directory.path().join(".core/store.db").exists());
}

#[test]
fn journal_commit_and_query_good_plain_json_flux_and_sql() {
    let shell = Shell::new();
    let committed = shell.json(&[
        "journal",
        "commit",
        "request",
        "--field",
        "ms=12",
        "--field",
        "ok=true",
        "--field",
        "path=/home",
        "--tag",
        "host=a",
    ]);
    assert_eq!(committed["measurement"], "request");
    assert_eq!(
        committed["fields"],
        serde_json::json!({"ms": 12, "ok": true, "path": "/home"})
    );
    assert_eq!(committed["tags"], serde_json::json!({"host": "a"}));
    assert!(committed["committed_at"].as_i64().is_some());
    shell.ok(&[
        "journal", "commit", "request", "--field", "ms=15", "--tag", "host=b",
    ]);
    let all = shell.json(&["journal", "query"]);
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    let flux = shell.json(&[
        "journal",
        "query",
        r#"from(bucket: "store") |> range(start: -1h) |> filter(fn: (r) => r.host == "b")"#,
    ]);
    assert_eq!(flux.as_array().map(Vec::len), Some(1));
    assert_eq!(flux[0]["fields"]["ms"], 15);
    let sql = shell.json(&[
        "journal",
        "query",
        "SELECT COUNT(*) AS points FROM journal_entries",
    ]);
    assert_eq!(
        sql,
        serde_json::json!({"columns": ["points"], "rows": [[2]]})
    );
    let table = shell.ok(&["journal", "query"]);
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|header| header.contains("measurement")),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3);
}

#[test]
fn journal_bad_inputs_exit_two() {
    let shell = Shell::new();
    for arguments in [
        &[
            "journal",
            "query",
            r#"from(bucket: "store") |> limit(n: 1)"#,
        ][..],
        &["journal", "query", "DELETE FROM entries"][..],
        &["journal", "commit", ""][..],
        &["journal", "commit", "m", "--field", "novalue"][..],
    ] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(2), "{arguments:?}: {}", stderr(&output));
    }
    let output = shell.run(&[
        "journal",
        "query",
        r#"from(bucket: "store") |> limit(n: 1)"#,
    ]);
    assert!(
        stderr(&output).contains("unsupported"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn workspace_commands_good_put_show_list_commit_discard() {
    let shell = Shell::new();
    assert_eq!(
        shell.json(&["workspace", "put", "w1", "like", r#"{"user":"ada"}"#])["count"],
        1
    );
    shell.ok(&["workspace", "put", "w1", "like", r#"{"user":"bob"}"#]);
    shell.ok(&["workspace", "put", "w1", "match", "{}"]);
    shell.ok(&["workspace", "put", "w2", "view", "{}"]);
    assert_eq!(
        shell.json(&["workspace", "show", "w1"]),
        serde_json::json!({"like": 2, "match": 1})
    );
    assert_eq!(
        shell.ok(&["workspace", "show", "w1"]),
        "like\t2\nmatch\t1\n"
    );
    assert_eq!(
        shell.json(&["workspace", "list"]),
        serde_json::json!({"w1": {"like": 2, "match": 1}, "w2": {"view": 1}})
    );
    assert_eq!(
        shell.json(&["workspace", "commit", "w1"]),
        serde_json::json!({"like": 2, "match": 1})
    );
    assert_eq!(
        shell.ok(&["get", "workspace:w1", "summary"]),
        r#"{"like":2,"match":1}"#
    );
    let points = shell.json(&["journal", "query"]);
    assert_eq!(points[0]["measurement"], "w1");
    shell.ok(&["workspace", "discard", "w2"]);
    assert_eq!(shell.json(&["workspace", "list"]), serde_json::json!({}));
    assert!(shell.directory.path().join("nested/state").is_dir());
    assert!(!shell
        .directory
        .path()
        .join("nested/state/w2.duckdb")
        .exists());
}

#[test]
fn workspace_bad_missing_and_bad_input() {
    let shell = Shell::new();
    for arguments in [
        &["workspace", "show", "nope"][..],
        &["workspace", "commit", "nope"][..],
        &["workspace", "discard", "nope"][..],
    ] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(1), "{arguments:?}");
    }
    for arguments in [
        &["workspace", "put", "w", "kind", "[1]"][..],
        &["workspace", "put", "w", "kind", "{not json"][..],
        &["workspace", "put", "../escape", "kind", "{}"][..],
        &["workspace", "put", "w", "", "{}"][..],
    ] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(2), "{arguments:?}: {}", stderr(&output));
    }
}

#[test]
fn compact_and_archive_cat_good_both_formats() {
    let shell = Shell::new();
    shell.ok(&["journal", "commit", "old", "--field", "n=1"]);
    shell.ok(&["journal", "commit", "old", "--field", "n=2"]);
    let output_dir = shell.directory.path().join("archives");
    let output_arg = output_dir.to_str().expect("UTF-8");
    let path = shell.ok(&[
        "compact", "--before", "0s", "--output", output_arg, "--format", "zstd",
    ]);
    let path = path.trim_end();
    assert!(path.ends_with(".jsonl.zst"), "{path}");
    let lines = shell.ok(&["archive", "cat", path]);
    let entries: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["fields"]["n"], 2);
    assert_eq!(
        shell.ok(&["compact", "--before", "0s", "--output", output_arg]),
        "nothing to compact\n"
    );
    assert_eq!(
        shell.json(&["compact", "--before", "0s", "--output", output_arg]),
        Value::Null
    );
    shell.ok(&["journal", "commit", "later", "--field", "n=3"]);
    let gzip = shell.json(&[
        "compact",
        "--before",
        "2030-01-01T00:00:00Z",
        "--output",
        output_arg,
    ]);
    assert!(
        gzip.as_str()
            .is_some_and(|path| path.ends_with(".jsonl.gz")),
        "{gzip}"
    );
}

#[test]
fn compact_and_archive_bad_inputs() {
    let shell = Shell::new();
    for arguments in [
        &["compact", "--before", "junk"][..],
        &["compact", "--before", "1d", "--format", "bzip2"][..],
    ] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(2), "{arguments:?}");
    }
    let garbage = shell.directory.path().join("garbage.jsonl.gz");
    std::fs::write(&garbage, b"not an archive").expect("write");
    let output = shell.run(&["archive", "cat", garbage.to_str().expect("UTF-8")]);
    assert_eq!(code(&output), Some(3));
    assert!(
        stderr(&output).starts_with("store.read_archive"),
        "{}",
        stderr(&output)
    );
    assert!(!shell.database().exists(), "archive cat opens no store");
}

#[test]
fn stats_good_plain_and_json() {
    let shell = Shell::new();
    shell.ok(&["set", "g", "a", "1"]);
    shell.ok(&["set", "h", "b", "2"]);
    let lines = "{\"group\":\"g\",\"key\":\"old\",\"value\":\"v\",\"expires_at\":1}\n";
    assert!(shell
        .run_with_input(&["import"], lines.as_bytes())
        .status
        .success());
    shell.ok(&["journal", "commit", "m", "--field", "n=1"]);
    let stats = shell.json(&["stats"]);
    assert_eq!(stats["entries"], 2);
    assert_eq!(stats["groups"], 2);
    assert_eq!(stats["expired_unpurged"], 1);
    assert_eq!(stats["journal_points"], 1);
    assert_eq!(stats["archived_points"], 0);
    assert_eq!(stats["pending_exports"], 0);
    assert_eq!(stats["last_export_error"], Value::Null);
    assert!(stats["file_size_bytes"]
        .as_u64()
        .is_some_and(|size| size > 0));
    let plain = shell.ok(&["stats"]);
    assert!(
        plain
            .lines()
            .any(|line| line.starts_with("entries") && line.ends_with(" 2")),
        "{plain}"
    );
    assert!(plain.contains("last export error       none"), "{plain}");
}

/// A one-shot HTTP server on loopback that answers every request with `status` and
/// reports each request line and body.
fn http_listener(status: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            reader.read_line(&mut request_line).ok();
            let mut length = 0_usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0_u8; length];
            reader.read_exact(&mut body).ok();
            sender
                .send(format!(
                    "{}{}",
                    request_line.trim_end(),
                    String::from_utf8_lossy(&body)
                ))
                .ok();
            let response =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            stream.write_all(response.as_bytes()).ok();
        }
    });
    (address, receiver)
}

#[test]
fn journal_flush_good_without_and_with_influx() {
    let shell = Shell::new();
    shell.ok(&["journal", "commit", "local", "--field", "n=1"]);
    assert_eq!(
        shell.ok(&["journal", "flush"]),
        "0\n",
        "no InfluxDB configured: nothing to ship"
    );
    let (url, requests) = http_listener("204 No Content");
    let influx = [
        "--influx-url",
        url.as_str(),
        "--influx-bucket",
        "events",
        "--influx-v1",
    ];
    let mut commit = influx.to_vec();
    commit.extend([
        "journal", "commit", "request", "--field", "ms=12", "--tag", "host=a",
    ]);
    shell.ok(&commit);
    let mut flush = influx.to_vec();
    flush.extend(["--json", "journal", "flush"]);
    let output = shell.run(&flush);
    assert!(output.status.success(), "{}", stderr(&output));
    let request = requests
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the point reached the listener");
    assert!(
        request.starts_with("POST /write?db=events&precision=ms"),
        "{request}"
    );
    assert!(request.contains("request,host=a ms=12i "), "{request}");
    let shipped: u64 = serde_json::from_slice(&output.stdout).expect("a JSON number");
    assert!(
        shipped <= 1,
        "the point was shipped once, by the commit or by the flush"
    );
    let mut stats = influx.to_vec();
    stats.extend(["--json", "stats"]);
    let figures: Value = serde_json::from_str(&shell.ok(&stats)).expect("JSON");
    assert_eq!(figures["pending_exports"], 0);
}

#[test]
fn journal_flush_bad_unreachable_and_partial_config() {
    let shell = Shell::new();
    let unreachable = [
        "--influx-url",
        "http://127.0.0.1:9",
        "--influx-bucket",
        "events",
        "--influx-v1",
    ];
    let mut commit = unreachable.to_vec();
    commit.extend(["journal", "commit", "request", "--field", "ms=12"]);
    shell.ok(&commit);
    let mut flush = unreachable.to_vec();
    flush.extend(["journal", "flush"]);
    let output = shell.run(&flush);
    assert_eq!(code(&output), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("store.flush_journal"),
        "{}",
        stderr(&output)
    );
    let mut stats = unreachable.to_vec();
    stats.extend(["--json", "stats"]);
    let figures: Value = serde_json::from_str(&shell.ok(&stats)).expect("JSON");
    assert_eq!(
        figures["pending_exports"], 1,
        "the point waits for the next attempt"
    );
    let output = shell.run(&["--influx-url", "http://127.0.0.1:9", "journal", "flush"]);
    assert_eq!(
        code(&output),
        Some(2),
        "a partial journal config is bad input"
    );
    assert!(
        stderr(&output)
            .contains("STORE_INFLUX_ORG (--influx-org) is required with STORE_INFLUX_URL"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn get_good_while_another_connection_holds_a_write_transaction() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "colour", "blue"]);
    let writer = rusqlite::Connection::open(shell.database()).expect("second connection");
    writer
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO entries (group_name, entry_key, entry_value) VALUES ('config', 'size', '10')",
        )
        .expect("hold a write transaction");
    let started = std::time::Instant::now();
    assert_eq!(shell.ok(&["get", "config", "colour"]), "blue");
    assert_eq!(shell.ok(&["count", "config"]), "1\n");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the reads did not wait for the writer: {:?}",
        started.elapsed()
    );
    writer.execute_batch("COMMIT").expect("commit");
    assert_eq!(shell.ok(&["count", "config"]), "2\n");
}

#[test]
fn read_only_flag_good_reads_and_refuses_writes() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "colour", "blue"]);
    let before = std::fs::read(shell.database()).expect("read the file");
    assert_eq!(
        shell.ok(&["--read-only", "get", "config", "colour"]),
        "blue"
    );
    let output = shell.run(&["--read-only", "set", "config", "colour", "green"]);
    assert_eq!(code(&output), Some(3));
    assert_eq!(
        stderr(&output).trim_end(),
        "store.set: refused: the store is open read-only (write)"
    );
    assert_eq!(std::fs::read(shell.database()).expect("read"), before);
    assert_eq!(shell.ok(&["get", "config", "colour"]), "blue");
}

#[test]
fn read_only_flag_bad_missing_file_is_not_created() {
    let shell = Shell::new();
    let output = shell.run(&["--read-only", "get", "config", "colour"]);
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("read-only: the file does not exist"),
        "{}",
        stderr(&output)
    );
    assert!(!shell.database().exists());
    assert!(!shell.database().parent().expect("parent").exists());
}

#[test]
fn set_bad_ttl_under_one_millisecond_exits_two_and_keeps_the_value() {
    let shell = Shell::new();
    shell.ok(&["set", "g", "k", "old"]);
    for bad in ["0", "0s", "1ns", "999us"] {
        let output = shell.run(&["set", "g", "k", "new", "--ttl", bad]);
        assert_eq!(code(&output), Some(2), "{bad}: {}", stderr(&output));
        assert!(stderr(&output).contains("under 1ms"), "{}", stderr(&output));
    }
    assert_eq!(shell.ok(&["get", "g", "k"]), "old");
    shell.ok(&["set", "g", "k", "new", "--ttl", "1h"]);
    assert_eq!(shell.ok(&["get", "g", "k"]), "new");
}

#[test]
fn delete_prefix_bad_empty_prefix_needs_all() {
    let shell = Shell::new();
    for group in ["a", "b", "tenant:x"] {
        shell.ok(&["set", group, "k", "v"]);
    }
    for arguments in [
        &["delete-prefix", ""][..],
        &["delete-prefix"][..],
        &["delete-prefix", "tenant:", "--all"][..],
    ] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(2), "{arguments:?}");
        assert!(stderr(&output).contains("--all"), "{}", stderr(&output));
    }
    assert_eq!(shell.ok(&["count-all"]), "3\n", "nothing was deleted");
    shell.ok(&["delete-prefix", "tenant:"]);
    assert_eq!(shell.ok(&["groups"]), "a\nb\n");
    shell.ok(&["delete-prefix", "", "--all"]);
    assert_eq!(shell.ok(&["count-all"]), "0\n");
    shell.ok(&["set", "c", "k", "v"]);
    shell.ok(&["delete-prefix", "--all"]);
    assert_eq!(shell.ok(&["count-all"]), "0\n");
}

#[test]
fn influx_bad_environment_fails_only_shipping_commands_naming_the_variable() {
    let shell = Shell::new();
    shell.ok(&["set", "g", "k", "v"]);
    let run = |environment: &[(&str, &str)], arguments: &[&str]| {
        let mut command = shell.command(arguments);
        command.env_remove("STORE_INFLUX_ORG");
        command.env_remove("STORE_INFLUX_BUCKET");
        command.env_remove("STORE_INFLUX_V1");
        command.envs(environment.iter().copied());
        command.output().expect("run store")
    };
    let empty = [("STORE_INFLUX_URL", "")];
    let no_organisation = [
        ("STORE_INFLUX_URL", "http://127.0.0.1:9"),
        ("STORE_INFLUX_BUCKET", "events"),
    ];
    let no_bucket = [
        ("STORE_INFLUX_URL", "http://127.0.0.1:9"),
        ("STORE_INFLUX_ORG", "core"),
    ];
    let empty_v1 = [("STORE_INFLUX_V1", "")];
    for environment in [
        &empty[..],
        &no_organisation[..],
        &no_bucket[..],
        &empty_v1[..],
    ] {
        for arguments in [
            &["get", "g", "k"][..],
            &["journal", "query"][..],
            &["stats"][..],
        ] {
            let output = run(environment, arguments);
            assert_eq!(
                code(&output),
                Some(0),
                "{environment:?} {arguments:?}: {}",
                stderr(&output)
            );
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&run(&empty, &["get", "g", "k"]).stdout),
        "v"
    );
    for (environment, message) in [
        (
            &empty[..],
            "STORE_INFLUX_URL (--influx-url) is set but empty",
        ),
        (
            &no_organisation[..],
            "STORE_INFLUX_ORG (--influx-org) is required with STORE_INFLUX_URL",
        ),
        (
            &no_bucket[..],
            "STORE_INFLUX_BUCKET (--influx-bucket) is required with STORE_INFLUX_URL",
        ),
    ] {
        for arguments in [
            &["journal", "commit", "m", "--field", "n=1"][..],
            &["journal", "flush"][..],
            &["workspace", "commit", "w"][..],
        ] {
            let output = run(environment, arguments);
            assert_eq!(code(&output), Some(2), "{environment:?} {arguments:?}");
            assert!(
                stderr(&output).contains(message),
                "{environment:?} {arguments:?}: {}",
                stderr(&output)
            );
        }
    }
    let output = run(
        &[
            ("STORE_INFLUX_URL", "127.0.0.1:8086"),
            ("STORE_INFLUX_ORG", "core"),
            ("STORE_INFLUX_BUCKET", "b"),
        ],
        &["journal", "flush"],
    );
    assert_eq!(code(&output), Some(2));
    assert!(
        stderr(&output).contains("STORE_INFLUX_URL (--influx-url) \"127.0.0.1:8086\"")
            && stderr(&output).contains("endpoint URL is invalid"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        run(&empty_v1, &["journal", "flush"]).stdout,
        b"0\n",
        "an empty STORE_INFLUX_V1 is off"
    );
}

/// Runs `store export` over 10 000 entries (2 MB), reads one line of its output and
/// closes the pipe while the child is still writing, as `store export | head -1` does; its
/// stderr is piped and read (`stderr_open`) or closed before it can write anything.
/// Returns the exit status and what it wrote on stderr.
fn export_into_closed_pipe(stderr_open: bool) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Read};
    let shell = Shell::new();
    let value = "v".repeat(200);
    let lines: String = (0..10_000)
        .map(|index| format!("{{\"group\":\"g\",\"key\":\"k{index:05}\",\"value\":\"{value}\"}}\n"))
        .collect();
    assert!(shell
        .run_with_input(&["import"], lines.as_bytes())
        .status
        .success());
    let mut child = shell
        .command(&["export"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn store export");
    let mut errors = child.stderr.take();
    if !stderr_open {
        drop(errors.take());
    }
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("read one line");
    assert!(
        first.starts_with("{\"group\":\"g\",\"key\":\"k00000\""),
        "{first}"
    );
    drop(reader);
    let mut message = String::new();
    if let Some(mut errors) = errors {
        errors.read_to_string(&mut message).expect("read stderr");
    }
    let status = child.wait().expect("wait");
    (status.code(), message)
}

#[test]
fn export_good_closed_stdout_ends_quietly_with_status_zero() {
    assert_eq!(export_into_closed_pipe(true), (Some(0), String::new()));
}

#[test]
fn export_good_closed_stdout_and_stderr_end_with_status_zero_not_a_panic() {
    assert_eq!(export_into_closed_pipe(false).0, Some(0));
}

#[test]
fn workspace_good_same_db_from_two_directories_shares_state_and_archives() {
    let shell = Shell::new();
    let first = shell.directory.path().join("first");
    let second = shell.directory.path().join("second");
    std::fs::create_dir_all(&first).expect("first");
    std::fs::create_dir_all(&second).expect("second");
    let from = |directory: &Path, arguments: &[&str]| {
        let output = shell
            .command(arguments)
            .current_dir(directory)
            .output()
            .expect("run store");
        assert!(
            output.status.success(),
            "{arguments:?}: {}",
            stderr(&output)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    from(&first, &["workspace", "put", "w", "like", "{}"]);
    assert_eq!(from(&second, &["workspace", "list"]), "w\tlike=1\n");
    let state = shell.directory.path().join("nested/state");
    assert!(state.join("w.duckdb").exists());
    assert!(!first.join(".core").exists() && !second.join(".core").exists());
    assert_eq!(from(&second, &["workspace", "commit", "w"]), "like\t1\n");
    let archive = from(&first, &["compact", "--before", "2100-01-01T00:00:00Z"]);
    let archive = PathBuf::from(archive.trim_end());
    assert_eq!(
        archive.parent(),
        Some(shell.directory.path().join("nested/archive").as_path()),
        "archives go beside the database too"
    );
    assert!(from(
        &second,
        &["archive", "cat", archive.to_str().expect("UTF-8")]
    )
    .contains("\"measurement\":\"w\""));
}

#[test]
fn set_good_value_from_stdin_of_one_mebibyte() {
    let shell = Shell::new();
    let value: String = (0..1_048_576_usize)
        .map(|index| char::from(b'a' + u8::try_from(index % 26).expect("small")))
        .collect::<String>()
        + "\n";
    let output = shell.run_with_input(&["set", "big", "k", "-", "--ttl", "1h"], value.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    let read = shell.ok(&["get", "big", "k"]);
    assert_eq!(read.len(), value.len());
    assert!(
        read == value,
        "the value, trailing newline included, round-trips"
    );
    // Bytes that are not UTF-8 are stored as a binary value (issue 14), not refused.
    let output = shell.run_with_input(&["set", "big", "k", "-"], b"\xff\xfe");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(shell.run(&["get", "big", "k"]).stdout, b"\xff\xfe");
    let output = shell.run_with_input(&["set", "g", "dash", "-"], b"-");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(shell.ok(&["get", "g", "dash"]), "-");
}

#[test]
fn journal_query_good_sql_keeps_column_order_and_repeated_names() {
    let shell = Shell::new();
    shell.ok(&["journal", "commit", "request", "--field", "ms=12"]);
    let sql = "SELECT measurement AS z, 1 AS a, 2 AS a FROM journal_entries";
    assert_eq!(
        shell.json(&["journal", "query", sql]),
        serde_json::json!({"columns": ["z", "a", "a"], "rows": [["request", 1, 2]]})
    );
    assert_eq!(
        shell.ok(&["journal", "query", sql]),
        "z\ta\ta\nrequest\t1\t2\n"
    );
    assert_eq!(
        shell.json(&[
            "journal",
            "query",
            "SELECT fields_json FROM journal_entries"
        ]),
        serde_json::json!({"columns": ["fields_json"], "rows": [["{\"ms\":12}"]]}),
        "no unselected column is added"
    );
    let table = shell.ok(&["journal", "query"]);
    assert_eq!(
        table.lines().next(),
        Some("bucket_name\tmeasurement\tfields_json\ttags_json\tcommitted_at\tarchived_at\tfields\ttags")
    );
}

#[test]
fn import_bad_json_array_line_exits_two_and_imports_nothing() {
    let shell = Shell::new();
    let lines = "{\"group\":\"g\",\"key\":\"a\",\"value\":\"1\"}\n[\"g\",\"k\",\"v\"]\n";
    let output = shell.run_with_input(&["import"], lines.as_bytes());
    assert_eq!(code(&output), Some(2));
    assert!(
        stderr(&output).starts_with("store import: line 2: an entry must be a JSON object"),
        "{}",
        stderr(&output)
    );
    assert_eq!(shell.ok(&["count", "g"]), "0\n");
}

#[test]
fn journal_commit_bad_no_field_exits_two_and_commits_nothing() {
    let shell = Shell::new();
    for arguments in [
        &["journal", "commit", "m"][..],
        &["journal", "commit", "m", "--tag", "host=a"][..],
    ] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(2), "{arguments:?}: {}", stderr(&output));
        assert!(
            stderr(&output).starts_with("store.commit_to_journal: fields are empty"),
            "{}",
            stderr(&output)
        );
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("committed"),
            "{arguments:?}"
        );
    }
    let counted = shell.ok(&[
        "--json",
        "journal",
        "query",
        "SELECT COUNT(*) AS n FROM journal_entries",
    ]);
    assert!(counted.contains(r#""rows":[[0]]"#), "{counted}");
}

// ---- Binary values, counters and expiry control (issue 14) ----

#[test]
fn set_stdin_and_get_good_raw_bytes_round_trip() {
    let shell = Shell::new();
    let bytes: Vec<u8> = vec![0, 0xff, b'\n', 0xc3, 0x28, 0];
    let output = shell.run_with_input(&["set", "blocks", "b1", "-"], &bytes);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = shell.run(&["get", "blocks", "b1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output.stdout, bytes);
    assert_eq!(
        shell.json(&["get", "blocks", "b1"]),
        serde_json::json!({ "value_base64": "AP8KwygA" })
    );
    // UTF-8 from standard input is stored as text, newline included.
    let output = shell.run_with_input(&["set", "g", "text", "-", "--ttl", "1h"], b"hello\n");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(shell.ok(&["get", "g", "text"]), "hello\n");
    assert_eq!(shell.json(&["get", "g", "text"]), Value::from("hello\n"));
}

#[test]
fn export_import_good_binary_value_as_base64() {
    let shell = Shell::new();
    let output = shell.run_with_input(&["set", "blocks", "b1", "-"], &[0xff, 0, 1]);
    assert!(output.status.success(), "{}", stderr(&output));
    shell.ok(&["set", "g", "text", "plain"]);
    let exported = shell.ok(&["export"]);
    let lines: Vec<Value> = exported
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(lines[0]["value_base64"], "/wAB");
    assert!(lines[1].get("value_base64").is_none(), "{exported}");
    let copy = Shell::new();
    let output = copy.run_with_input(&["import"], exported.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(copy.run(&["get", "blocks", "b1"]).stdout, [0xff, 0, 1]);
    assert_eq!(copy.ok(&["get", "g", "text"]), "plain");
    let bad = "{\"group\":\"g\",\"key\":\"k\",\"value\":\"\",\"value_base64\":\"!!\"}\n";
    let output = copy.run_with_input(&["import"], bad.as_bytes());
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("value_base64"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn incr_good_counts_and_bad_value_exits_two() {
    let shell = Shell::new();
    assert_eq!(shell.ok(&["incr", "counters", "hits"]), "1\n");
    assert_eq!(shell.ok(&["incr", "counters", "hits", "10"]), "11\n");
    assert_eq!(shell.ok(&["incr", "counters", "hits", "-20"]), "-9\n");
    assert_eq!(shell.json(&["incr", "counters", "hits"]), Value::from(-8));
    shell.ok(&["set", "counters", "name", "alice"]);
    let output = shell.run(&["incr", "counters", "name"]);
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("store.increment: invalid value"),
        "{}",
        stderr(&output)
    );
    assert_eq!(shell.ok(&["get", "counters", "name"]), "alice");
}

#[test]
fn ttl_expire_persist_good_and_missing_key_exits_one() {
    let shell = Shell::new();
    shell.ok(&["set", "s", "a", "token"]);
    assert_eq!(shell.ok(&["ttl", "s", "a"]), "no expiry\n");
    assert_eq!(shell.json(&["ttl", "s", "a"]), Value::Null);
    shell.ok(&["expire", "s", "a", "2h"]);
    assert_eq!(shell.ok(&["get", "s", "a"]), "token");
    let left = shell
        .json(&["ttl", "s", "a"])
        .as_u64()
        .expect("milliseconds");
    assert!(left > 7_000_000 && left <= 7_200_000, "{left}");
    assert!(shell.ok(&["ttl", "s", "a"]).starts_with("1h 59m"));
    shell.ok(&["persist", "s", "a"]);
    assert_eq!(shell.ok(&["ttl", "s", "a"]), "no expiry\n");
    shell.ok(&["persist", "s", "a"]); // already persistent: fine
    for arguments in [
        &["ttl", "s", "missing"][..],
        &["expire", "s", "missing", "1h"],
        &["persist", "s", "missing"],
    ] {
        let output = shell.run(arguments);
        assert_eq!(code(&output), Some(1), "{arguments:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("not found"), "{}", stderr(&output));
    }
    let output = shell.run(&["expire", "s", "a", "soon"]);
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));
}

// ---- Revisions and the change feed (issue 13) ----

/// How long a test waits on `store watch` before it fails: generous, never a measure.
const WATCH_WAIT: Duration = Duration::from_secs(30);

/// A running `store watch`. A thread reads its standard output and sends each line on a
/// channel; it stops after `limit` lines, closing the pipe as `| head -n LIMIT` would.
/// Dropped, the process is killed, so a failed assertion leaves nothing running.
struct Watching {
    child: Option<Child>,
    lines: Receiver<String>,
}

impl Shell {
    fn watch(&self, arguments: &[&str], limit: usize) -> Watching {
        use std::io::BufRead;
        let mut with_watch = vec!["watch"];
        with_watch.extend_from_slice(arguments);
        let mut child = self
            .command(&with_watch)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn store watch");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines().take(limit);
            while let Some(Ok(line)) = lines.next() {
                if sender.send(line).is_err() {
                    break;
                }
            }
            // The pipe closes before the channel does, so a disconnected channel means a
            // closed pipe.
            drop(lines);
            drop(sender);
        });
        Watching {
            child: Some(child),
            lines,
        }
    }
}

impl Watching {
    /// The next line, as JSON.
    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(WATCH_WAIT)
            .expect("a line from store watch");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// Waits until the reader has closed the pipe, after its `limit` lines.
    fn reader_closed(&self) {
        match self.lines.recv_timeout(WATCH_WAIT) {
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
            other => panic!("the reader did not close the pipe: {other:?}"),
        }
    }

    /// Lines up to and including the one of `revision`, which must come.
    fn until(&self, revision: u64) -> Vec<Value> {
        let mut lines = Vec::new();
        loop {
            let line = self.next();
            let reached = line["revision"].as_u64().expect("a revision") >= revision;
            lines.push(line);
            if reached {
                return lines;
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C does, and waits for the process to end.
    fn interrupt(self) -> ExitStatus {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -INT {pid}");
        self.ended()
    }

    /// Waits for the process to end by itself; fails (killing it) if it does not.
    fn ended(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let (sender, ended) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(child.wait().expect("wait for store watch"));
        });
        match ended.recv_timeout(WATCH_WAIT) {
            Ok(status) => status,
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("store watch (pid {pid}) did not end");
            }
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The revision of a key, from `get --revision`.
fn revision_of(shell: &Shell, group: &str, key: &str) -> u64 {
    let printed = shell.ok(&["get", group, key, "--revision"]);
    let (revision, _) = printed.split_once('\t').expect("REVISION<TAB>VALUE");
    revision.parse().expect("a revision")
}

#[test]
fn watch_good_prints_other_processes_changes_as_json_lines_and_ends_on_sigint() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "before-1", "old"]);
    shell.ok(&["set", "config", "before-2", "old"]);
    let watching = shell.watch(&["config"], usize::MAX);
    // Without --from it starts at the revision current when it starts: write a probe
    // until one arrives, so the test knows it is following.
    let mut followed = None;
    for _ in 0..150 {
        shell.ok(&["set", "config", "probe", "p"]);
        if let Ok(line) = watching.lines.recv_timeout(Duration::from_millis(200)) {
            followed = Some(serde_json::from_str::<Value>(&line).expect("a JSON line"));
            break;
        }
    }
    let first = followed.expect("store watch followed the probes");
    assert_eq!(first["key"], "probe", "earlier changes are not replayed");
    assert!(first["revision"].as_u64().expect("revision") > 2, "{first}");
    // A probe written before the watcher noticed may still be on its way.
    let probed = revision_of(&shell, "config", "probe");
    if first["revision"].as_u64() != Some(probed) {
        watching.until(probed);
    }

    shell.ok(&["set", "config", "colour", "blue", "--ttl", "1h"]);
    shell.ok(&["set", "other", "k", "not watched"]);
    let output = shell.run_with_input(&["set", "config", "blob", "-"], &[0xff, 0]);
    assert!(output.status.success(), "{}", stderr(&output));
    shell.ok(&["delete", "config", "colour"]);
    let expired = "{\"group\":\"config\",\"key\":\"gone\",\"value\":\"v\",\"expires_at\":1}\n";
    let output = shell.run_with_input(&["import"], expired.as_bytes());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(shell.ok(&["purge"]), "1\n");
    shell.ok(&["delete-group", "config"]);

    let lines = watching.until(probed + 7);
    let summary: Vec<(u64, &str, &Value)> = lines
        .iter()
        .map(|line| {
            (
                line["revision"].as_u64().expect("revision"),
                line["kind"].as_str().expect("kind"),
                &line["key"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (probed + 1, "set", &Value::from("colour")),
            (probed + 3, "set", &Value::from("blob")),
            (probed + 4, "delete", &Value::from("colour")),
            (probed + 5, "set", &Value::from("gone")),
            (probed + 6, "expire", &Value::from("gone")),
            // The group's remaining keys (probe, blob) go in one change.
            (probed + 7, "delete_group", &Value::Null),
        ],
        "{lines:?}"
    );
    let (set, blob, delete, group_delete) = (&lines[0], &lines[1], &lines[2], &lines[5]);
    assert_eq!(
        (&set["group"], &set["value"]),
        (&"config".into(), &"blue".into())
    );
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms");
    let expires_at = set["expires_at"].as_i64().expect("an expiry");
    assert!((expires_at - now_ms - 3_600_000).abs() < 600_000, "{set}");
    let timestamp = set["timestamp"].as_i64().expect("a timestamp");
    assert!((timestamp - now_ms).abs() < 600_000, "{set}");
    assert_eq!(blob["value_base64"], "/wA=");
    assert_eq!(blob["value"], "\u{fffd}\u{0}");
    assert!(set.get("value_base64").is_none(), "{set}");
    assert_eq!(
        (&delete["value"], &delete["expires_at"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(group_delete["group"], "config");

    let status = watching.interrupt();
    assert_eq!(status.code(), Some(0), "SIGINT ends store watch quietly");
}

#[test]
fn watch_good_from_replays_retained_changes_then_follows_and_ends_on_closed_stdout() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "a", "1"]);
    shell.ok(&["set", "config", "b", "2"]);
    shell.ok(&["set", "config", "a", "3"]);
    let everything = shell.watch(&["*", "--from", "0"], usize::MAX);
    let replayed = everything.until(3);
    let values: Vec<&Value> = replayed.iter().map(|line| &line["value"]).collect();
    assert_eq!(values, [&Value::from("1"), &"2".into(), &"3".into()]);
    drop(everything);

    // Two lines, then the reader goes away as `| head -2` does.
    let one_key = shell.watch(&["config", "a", "--from", "1"], 2);
    let replayed = one_key.next();
    assert_eq!(
        (&replayed["revision"], &replayed["value"]),
        (&3.into(), &"3".into())
    );
    shell.ok(&["set", "config", "b", "skipped"]);
    shell.ok(&["set", "config", "a", "4"]);
    let followed = one_key.next();
    assert_eq!(
        (&followed["revision"], &followed["value"]),
        (&5.into(), &"4".into())
    );
    // Its next line finds the pipe closed: the watch ends quietly.
    one_key.reader_closed();
    shell.ok(&["set", "config", "a", "5"]);
    let status = one_key.ended();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn watch_bad_from_a_compacted_revision_exits_five_naming_the_oldest() {
    let shell = Shell::new();
    for value in ["1", "2", "3"] {
        shell.ok(&["set", "config", "a", value]);
    }
    // What the retention would do: only revision 3 is kept.
    rusqlite::Connection::open(shell.database())
        .expect("second connection")
        .execute("DELETE FROM entry_changes WHERE revision < 3", [])
        .expect("prune the history");
    let output = shell.run(&["watch", "config", "--from", "0"]);
    assert_eq!(code(&output), Some(5), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output).trim_end(),
        "store watch: store.watch_from: revision 0 is compacted: the oldest retained change is 3: read the data afresh, then watch from its current revision (no --from)"
    );
    // From the revision just before the oldest, nothing is missing.
    let watching = shell.watch(&["config", "--from", "2"], 1);
    assert_eq!(watching.next()["revision"], 3);
}

#[test]
fn get_revision_good_plain_json_and_binary_and_bad_missing() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "colour", "blue"]);
    shell.ok(&["set", "config", "motd", "line one\n"]);
    assert_eq!(
        shell.ok(&["get", "config", "colour", "--revision"]),
        "1\tblue"
    );
    assert_eq!(
        shell.ok(&["get", "config", "motd", "--revision"]),
        "2\tline one\n"
    );
    assert_eq!(
        shell.json(&["get", "config", "colour", "--revision"]),
        serde_json::json!({"value": "blue", "revision": 1})
    );
    let output = shell.run(&["get", "config", "missing", "--revision"]);
    assert_eq!(code(&output), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("not found"), "{}", stderr(&output));
    let output = shell.run_with_input(&["set", "blocks", "b1", "-"], &[0xff]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = shell.run(&["get", "blocks", "b1", "--revision"]);
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    assert_eq!(
        output.stdout, b"3\t\xff",
        "the bytes as they are, as plain get"
    );
    assert_eq!(
        shell.json(&["get", "blocks", "b1", "--revision"]),
        serde_json::json!({"value_base64": "/w==", "revision": 3})
    );
}

#[test]
fn set_if_revision_good_prints_revision_and_bad_conflict_exits_four() {
    let shell = Shell::new();
    shell.ok(&["set", "config", "colour", "blue"]);
    assert_eq!(
        shell.ok(&["set", "config", "colour", "green", "--if-revision", "1"]),
        "2\n"
    );
    let output = shell.run(&["set", "config", "colour", "red", "--if-revision", "1"]);
    assert_eq!(code(&output), Some(4), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output).trim_end(),
        r#"store.set_if: conflict: group "config", key "colour": expected revision 1, found revision 2"#
    );
    assert_eq!(shell.ok(&["get", "config", "colour"]), "green");
    assert_eq!(
        shell.json(&["set", "config", "colour", "red", "--if-revision", "2"]),
        serde_json::json!({"ok": true, "revision": 3})
    );
    assert_eq!(revision_of(&shell, "config", "colour"), 3);
    // A missing key has no revision to match.
    let output = shell.run(&["set", "config", "size", "10", "--if-revision", "3"]);
    assert_eq!(code(&output), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).ends_with("expected revision 3, found no live key\n"),
        "{}",
        stderr(&output)
    );
    for refused in [
        &[
            "set",
            "config",
            "colour",
            "x",
            "--if-revision",
            "3",
            "--ttl",
            "1h",
        ][..],
        &[
            "set",
            "config",
            "colour",
            "x",
            "--if-revision",
            "3",
            "--if-absent",
        ],
        &["set", "config", "colour", "x", "--if-revision", "three"],
    ] {
        let output = shell.run(refused);
        assert_eq!(code(&output), Some(2), "{refused:?}: {}", stderr(&output));
    }
    assert_eq!(shell.ok(&["get", "config", "colour"]), "red");
}

#[test]
fn set_if_absent_good_creates_once_and_bad_second_writer_exits_four() {
    let shell = Shell::new();
    assert_eq!(
        shell.ok(&["set", "locks", "job-7", "worker-a", "--if-absent"]),
        "1\n"
    );
    let output = shell.run(&["set", "locks", "job-7", "worker-b", "--if-absent"]);
    assert_eq!(code(&output), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).ends_with("expected no live key, found revision 1\n"),
        "{}",
        stderr(&output)
    );
    assert_eq!(shell.ok(&["get", "locks", "job-7"]), "worker-a");
    // Standard input works as for plain set, binary included.
    let output = shell.run_with_input(&["set", "blocks", "b1", "-", "--if-absent"], &[0, 0xff]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(output.stdout, b"2\n");
    assert_eq!(shell.run(&["get", "blocks", "b1"]).stdout, [0, 0xff]);
    // Once deleted, the key is absent again.
    let output = shell.run(&["delete", "locks", "job-7", "--if-revision", "2"]);
    assert_eq!(code(&output), Some(4), "{}", stderr(&output));
    assert_eq!(shell.ok(&["get", "locks", "job-7"]), "worker-a");
    assert_eq!(
        shell.json(&["delete", "locks", "job-7", "--if-revision", "1"]),
        serde_json::json!({"ok": true, "revision": 3})
    );
    assert_eq!(code(&shell.run(&["get", "locks", "job-7"])), Some(1));
    assert_eq!(
        shell.ok(&["set", "locks", "job-7", "worker-b", "--if-absent"]),
        "4\n"
    );
}

/// The PostgreSQL database of the tests, or `None` (skip) when `STORE_TEST_POSTGRES` is
/// unset; under `CI` a missing URL fails instead.
fn postgres_url() -> Option<String> {
    match std::env::var("STORE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "STORE_TEST_POSTGRES is not set: in CI the PostgreSQL tests must run"
            );
            eprintln!("skipped: set STORE_TEST_POSTGRES to run the PostgreSQL tests");
            None
        }
    }
}

#[test]
fn db_good_postgres_url_from_flag_and_environment_creates_no_folder() {
    let Some(url) = postgres_url() else {
        return;
    };
    let shell = Shell::new();
    let schema = format!("cli_{}", std::process::id());
    let separator = if url.contains('?') { '&' } else { '?' };
    let db = format!("{url}{separator}schema={schema}");
    let run = |arguments: &[&str], from_environment: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_store"));
        command.current_dir(shell.directory.path());
        if from_environment {
            command.env("STORE_DB", &db).args(arguments);
        } else {
            command.args(["--db", db.as_str()]).args(arguments);
        }
        command.output().expect("run")
    };
    let set = run(&["set", "config", "colour", "blue"], false);
    assert!(set.status.success(), "{}", stderr(&set));
    let get = run(&["get", "config", "colour"], true);
    assert!(get.status.success(), "{}", stderr(&get));
    assert_eq!(String::from_utf8_lossy(&get.stdout), "blue");
    let missing = run(&["get", "config", "size"], true);
    assert_eq!(code(&missing), Some(1));
    // A URL is not a path: nothing was created in the working directory.
    let created: Vec<_> = std::fs::read_dir(shell.directory.path())
        .expect("list")
        .collect();
    assert!(created.is_empty(), "{created:?}");
}
