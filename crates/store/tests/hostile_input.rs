//! Hostile input on the stable toolchain: the checks behind the fuzz targets in `fuzz/`,
//! driven by proptest on every push (the CI smoke run of the fuzzers, which need
//! nightly). Each check panics on a panic in the store or on an unclear error; proptest
//! then shrinks the input to a minimal case.
//!
//! CI runs 256 cases per property; `STORE_LONG_RUN=1` runs 10 000.

#[path = "../../../fuzz/src/lib.rs"]
mod checks;
mod support;

use proptest::prelude::*;

/// Pieces of Go template syntax, so that random sequences reach deep into the parser and
/// the executor rather than stopping at the first character.
const TEMPLATE_TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    "{{/*",
    "*/}}",
    " ",
    "\n",
    ".",
    ".colour",
    ".size",
    ".missing",
    "$",
    "$x",
    "$k",
    "$v",
    ":=",
    "=",
    ",",
    "|",
    "(",
    ")",
    "range",
    "if",
    "else",
    "end",
    "with",
    "break",
    "continue",
    "define",
    "template",
    "block",
    "index",
    "len",
    "slice",
    "print",
    "printf",
    "println",
    "call",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "html",
    "js",
    "urlquery",
    "nil",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "3",
    "1.5",
    "1e3",
    "0x1F",
    "'c'",
    "\"a\"",
    "\"%d\"",
    "\"%s %v %q\"",
    "\"%*d\"",
    "`raw`",
    "\"my key\"",
    "9223372036854775807",
    "99999999999999999999",
    "\"\\u00e9\"",
    "é",
    "\0",
];

/// Characters that a `LIKE`-based prefix match gets wrong, and a few ordinary ones.
const NAME_CHARACTERS: &[&str] = &["a", "b", "A", "%", "_", "^", "\\", "*", ":", "\0", "é", " "];

/// Pieces of the Flux subset and of what lies just outside it.
const FLUX_TOKENS: &[&str] = &[
    "from",
    "(",
    ")",
    "bucket",
    ":",
    "\"store\"",
    "\"other\"",
    "|>",
    "range",
    "start",
    "stop",
    ",",
    "-1h",
    "-7d",
    "-1h30m",
    "-0s",
    "1w",
    "-1mo",
    "-99999999999999999999d",
    "-9223372036854775807ns",
    "now()",
    "time(v:",
    "2024-01-01T00:00:00Z",
    "\"2024-02-30T25:61:00.123456789+14:00\"",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00-23:59",
    "filter",
    "fn",
    "r",
    "=>",
    "r.user",
    "r[\"user\"]",
    "r._measurement",
    "r._bucket",
    "r.n",
    "r.ok",
    "r.ms",
    "r._value",
    "==",
    "!=",
    "<",
    "and",
    "or",
    "\"ada\"",
    "\"login\"",
    "1",
    "2.0",
    "2.5",
    "-0",
    "1e400",
    "99999999999999999999",
    "true",
    "false",
    "limit(n: 1)",
    "//",
    "\n",
    " ",
    "\"\\\"\\n\"",
    "\"\\u00e9\"",
    "\"unterminated",
    "µs",
    "é",
    "\0",
];

/// Pieces of SQL, writing and reading, for the raw-SQL side of `query_journal`.
const SQL_TOKENS: &[&str] = &[
    "SELECT",
    "WITH",
    "EXPLAIN",
    "PRAGMA",
    "QUERY PLAN",
    "DELETE",
    "INSERT INTO entries VALUES ('a', 'b', 'c', NULL)",
    "UPDATE journal_entries SET measurement = 'x'",
    "REPLACE INTO entries VALUES ('config', 'colour', 'red', NULL)",
    "DROP TABLE entries",
    "CREATE TABLE t (a)",
    "ATTACH DATABASE ':memory:' AS other",
    "VACUUM",
    "FROM",
    "journal_entries",
    "journal_outbox",
    "entries",
    "x AS (SELECT 1)",
    "*",
    "1",
    "COUNT(*)",
    "load_extension('x')",
    "user_version = 3",
    "journal_mode",
    "table_info(entries)",
    "optimize",
    ";",
    ",",
    "(",
    ")",
    "--",
    "/*",
    "*/",
    "\n",
    " ",
];

/// Pieces of an archive's JSON lines, valid and not.
const ARCHIVE_TOKENS: &[&str] = &[
    "{",
    "}",
    "\"bucket\":\"b\"",
    "\"committed_at\":1",
    "\"committed_at\":-1",
    "\"committed_at\":1.5",
    "\"committed_at\":99999999999999999999",
    "\"fields\":{}",
    "\"fields\":{\"n\":1,\"x\":[1,{\"y\":null}]}",
    "\"measurement\":\"m\"",
    "\"measurement\":\"\\u0000\"",
    "\"tags\":{}",
    "\"tags\":{\"k\":\"v\"}",
    "\"tags\":{\"k\":1}",
    "\"extra\":0",
    ",",
    "\n",
    "\r\n",
    " ",
    "null",
    "[",
    "]",
    "\u{fffd}",
];

/// A complete archive line.
const ARCHIVE_LINE: &str = "{\"bucket\":\"b\",\"committed_at\":1,\"fields\":{\"n\":1},\
    \"measurement\":\"m\",\"tags\":{\"k\":\"v\"}}\n";

/// Pieces of workspace names: separators, dots, control characters, white space, and
/// look-alikes of `.` and `/` from other scripts.
const WORKSPACE_NAME_PIECES: &[&str] = &[
    "a", "Z", "0", "-", "_", "é", "名", ".", "..", "/", "\\", ":", "*", "?", "\"", "<", ">", "|",
    "~", "%2e", "$HOME", " ", "\t", "\0", "\u{1}", "\u{1f}", "\u{7f}", "\u{85}", "\u{a0}",
    "\u{2028}", "\u{3000}", "\u{ff0e}", "\u{ff0f}", "\u{2215}", "\u{2044}", "\u{2024}", "\u{fe52}",
    "\u{200b}", "\u{202e}",
];

fn tokens(pieces: &'static [&'static str], most: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(pieces), 0..most).prop_map(|tokens| tokens.concat())
}

/// A query in the Flux subset built from random parts, so that most parse and select.
fn flux_query() -> impl Strategy<Value = String> {
    let bucket = prop::sample::select(&["store", "other", ""][..]);
    let time = prop::sample::select(
        &[
            "-1h",
            "-30d",
            "-1h30m",
            "now()",
            "2024-01-01T00:00:00Z",
            "\"2024-01-01T00:00:00.5+02:00\"",
            "time(v: \"2100-01-01T00:00:00Z\")",
            "1w",
        ][..],
    );
    let range = prop::option::of((time.clone(), prop::option::of(time)));
    let reference = prop::sample::select(
        &[
            "r._measurement",
            "r._bucket",
            "r.user",
            "r[\"host\"]",
            "r.n",
            "r.ok",
            "r.ms",
            "r.text",
        ][..],
    );
    let literal = prop::sample::select(
        &[
            "\"login\"",
            "\"store\"",
            "\"ada\"",
            "\"a\"",
            "\"x\"",
            "1",
            "2.0",
            "2.5",
            "true",
        ][..],
    );
    let filter = prop::collection::vec((reference, literal), 0..3);
    (bucket, range, filter).prop_map(|(bucket, range, filter)| {
        let mut query = format!("from(bucket: \"{bucket}\")");
        if let Some((start, stop)) = range {
            query.push_str(&format!("\n  |> range(start: {start}"));
            if let Some(stop) = stop {
                query.push_str(&format!(", stop: {stop}"));
            }
            query.push(')');
        }
        if !filter.is_empty() {
            let comparisons: Vec<String> = filter
                .iter()
                .map(|(reference, literal)| format!("{reference} == {literal}"))
                .collect();
            query.push_str(&format!(
                " |> filter(fn: (r) => {})",
                comparisons.join(" and ")
            ));
        }
        query
    })
}

/// `text` compressed as gzip or zstd.
fn compressed(text: &[u8], is_zstd: bool) -> Vec<u8> {
    if is_zstd {
        zstd::encode_all(text, 3).expect("zstd")
    } else {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, text).expect("gzip");
        encoder.finish().expect("gzip")
    }
}

fn template_source() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TEMPLATE_TOKENS), 0..40)
        .prop_map(|tokens| tokens.concat())
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(NAME_CHARACTERS), 0..5)
        .prop_map(|characters| characters.concat())
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(support::sized(256, 10_000) as u32)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn render_good_arbitrary_bytes_render_or_fail_clearly(
        data in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        checks::template::check(&data);
    }

    #[test]
    fn render_good_template_like_text_renders_or_fails_clearly(source in template_source()) {
        checks::template::check(source.as_bytes());
    }

    #[test]
    fn render_good_template_with_hostile_entries_renders_or_fails_clearly(
        source in template_source(),
        entries in prop::collection::vec(("[a-z %_]{0,4}", "\\PC{0,8}"), 0..6)
    ) {
        let entries: Vec<String> =
            entries.iter().map(|(key, value)| format!("{key}={value}")).collect();
        checks::template::check(format!("{source}\0{}", entries.join("\n")).as_bytes());
    }

    #[test]
    fn namespace_good_arbitrary_names_accepted_exactly_when_valid(
        data in prop::collection::vec(any::<u8>(), 0..24)
    ) {
        checks::namespace::check(&data);
    }

    #[test]
    fn namespace_good_near_valid_names_accepted_exactly_when_valid(
        name in "[A-Za-z0-9_:./ !@é-]{0,12}"
    ) {
        checks::namespace::check(name.as_bytes());
    }

    #[test]
    fn prefix_good_hostile_characters_match_literally(
        prefix in name(),
        groups in prop::collection::vec(name(), 0..10)
    ) {
        let mut lines = vec![prefix];
        lines.extend(groups);
        checks::prefix::check(lines.join("\n").as_bytes());
    }

    #[test]
    fn prefix_good_arbitrary_bytes_match_literally(
        data in prop::collection::vec(any::<u8>(), 0..128)
    ) {
        checks::prefix::check(&data);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn query_journal_good_arbitrary_bytes_give_rows_or_a_clear_error(
        data in prop::collection::vec(any::<u8>(), 0..128)
    ) {
        checks::flux::check(&data);
    }

    #[test]
    fn query_journal_good_flux_like_text_gives_rows_or_a_clear_error(
        query in tokens(FLUX_TOKENS, 40)
    ) {
        checks::flux::check(query.as_bytes());
    }

    #[test]
    fn query_journal_good_flux_subset_selects_points_in_order(query in flux_query()) {
        checks::flux::check(query.as_bytes());
    }

    #[test]
    fn query_journal_good_sql_like_text_changes_nothing(query in tokens(SQL_TOKENS, 16)) {
        checks::flux::check(query.as_bytes());
    }

    #[test]
    fn read_archive_good_arbitrary_bytes_read_or_fail_clearly(
        data in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        checks::archive::check(&data);
    }

    #[test]
    fn read_archive_good_arbitrary_bytes_after_magic_read_or_fail_clearly(
        is_zstd in any::<bool>(),
        data in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        let magic: &[u8] = if is_zstd { &[0x28, 0xb5, 0x2f, 0xfd] } else { &[0x1f, 0x8b] };
        checks::archive::check(&[magic, &data].concat());
    }

    #[test]
    fn read_archive_good_compressed_json_like_lines_read_or_fail_clearly(
        is_zstd in any::<bool>(),
        text in tokens(ARCHIVE_TOKENS, 40)
    ) {
        checks::archive::check(&compressed(text.as_bytes(), is_zstd));
    }

    #[test]
    fn read_archive_good_damaged_archive_reads_or_fails_clearly(
        is_zstd in any::<bool>(),
        lines in 1_usize..20,
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        mask in 1_u8..=255
    ) {
        let mut data = compressed(ARCHIVE_LINE.repeat(lines).as_bytes(), is_zstd);
        let at = flip.index(data.len());
        data[at] ^= mask;
        checks::archive::check(&data);
        data.truncate(cut.index(data.len()));
        checks::archive::check(&data);
    }

    #[test]
    fn new_workspace_good_arbitrary_names_refused_or_inside_the_state_directory(
        data in prop::collection::vec(any::<u8>(), 0..24)
    ) {
        checks::workspace_name::check(&data);
    }

    #[test]
    fn new_workspace_good_hostile_names_refused_or_inside_the_state_directory(
        name in tokens(WORKSPACE_NAME_PIECES, 6)
    ) {
        checks::workspace_name::check(name.as_bytes());
    }
}

/// Hand-picked inputs that a fuzzer would take a while to reach, checked on every run.
#[test]
fn render_bad_known_hostile_templates_fail_clearly() {
    let nested = "{{ if 1 }}".repeat(500);
    let parentheses = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    let huge_range = "{{ range 100000000000 }}x{{ end }}";
    let huge_width = "{{ printf \"%999999999d\" 1 }}";
    let wide_output = "{{ range 1000000 }}{{ printf \"%1000d\" 1 }}{{ end }}";
    for source in [
        nested.as_str(),
        parentheses.as_str(),
        huge_range,
        huge_width,
        wide_output,
        "{{ define \"x\" }}{{ template \"x\" }}{{ end }}{{ template \"x\" }}",
        "{{ call .colour }}",
        "{{",
        "}}{{",
        "{{ .colour.x.y }}",
        "{{ index . 1 }}",
        "{{ slice .colour 3 1 }}",
    ] {
        checks::template::check(source.as_bytes());
    }
}

#[test]
fn prefix_good_escape_characters_are_ordinary() {
    for prefix in ["%", "_", "^", "\\", "a%", "a_", "a^%", "*", "\0", "A"] {
        let groups = [
            "%", "_", "^", "\\", "a%b", "a_b", "aXb", "a^%", "*", "\0x", "a", "A",
        ];
        checks::prefix::check(format!("{prefix}\n{}", groups.join("\n")).as_bytes());
    }
    // Found by cargo-fuzz: a plain group named "ns:…" lies inside namespace "ns".
    checks::prefix::check(b"\nns:\x1d\n");
    checks::prefix::check(b"ns\nns:\nns:ns:\n:");
}

#[test]
fn read_archive_good_valid_archives_read_back_every_line() {
    for is_zstd in [false, true] {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("valid.jsonl.zst");
        let text = format!("{ARCHIVE_LINE}\n \n{ARCHIVE_LINE}");
        std::fs::write(&path, compressed(text.as_bytes(), is_zstd)).expect("write");
        let entries = store::read_archive(&path).expect("a valid archive");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].measurement, "m");
        assert_eq!(entries[1].tags["k"], "v");
        checks::archive::check(&compressed(text.as_bytes(), is_zstd));
    }
}

#[test]
fn new_workspace_bad_escaping_names_are_refused_or_stay_inside() {
    let long_ascii = "x".repeat(201);
    let long_accents = format!("{}é", "x".repeat(199));
    let longest = "é".repeat(100);
    for name in [
        "../x",
        "..",
        ".",
        "/etc/passwd",
        "/tmp/x",
        "a/b",
        "a\\b",
        "..\\x",
        "C:\\x",
        "a\0b",
        "\0",
        "a\u{1}",
        "a\u{7f}",
        "a\u{9f}",
        ".hidden",
        " x",
        "x\u{3000}",
        long_ascii.as_str(),
        long_accents.as_str(),
        longest.as_str(),
        "\u{ff0e}\u{ff0e}",
        "\u{ff0e}\u{ff0e}\u{ff0f}x",
        "\u{2024}\u{2024}\u{2215}x",
        "%2e%2e%2fx",
        "~",
        "$HOME",
        "a\u{202e}b",
        "\u{200b}",
    ] {
        checks::workspace_name::check(name.as_bytes());
    }
}
