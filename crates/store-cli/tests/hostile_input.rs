//! Hostile input to the CLI on the stable toolchain: the check behind the `import_line`
//! fuzz target in `fuzz/` (included here by path), driven by proptest on every push. The
//! store's own checks run in `crates/store/tests/hostile_input.rs`; this one needs the CLI
//! crate, which the store's tests cannot depend on.
//!
//! CI runs 256 cases per property; `STORE_LONG_RUN=1` runs 10 000.

#[path = "../../../fuzz/src/import_line.rs"]
mod import_line;

use proptest::prelude::*;

/// Pieces of import lines: whole entries with hostile values, broken JSON, wrong types,
/// blank lines, CR LF and bytes that are not UTF-8.
const LINE_PIECES: &[&str] = &[
    "{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}",
    "{\"group\":\"g\",\"key\":\"k\",\"value\":\"w\",\"expires_at\":null}",
    "{\"group\":\"g\",\"key\":\"j\",\"value\":\"\",\"expires_at\":4102444800000}",
    "{\"group\":\"g\",\"key\":\"old\",\"value\":\"x\",\"expires_at\":1}",
    "{\"group\":\"g\",\"key\":\"min\",\"value\":\"x\",\"expires_at\":-9223372036854775808}",
    "{\"group\":\"g\",\"key\":\"max\",\"value\":\"x\",\"expires_at\":9223372036854775807}",
    "{\"group\":\"g\",\"key\":\"over\",\"value\":\"x\",\"expires_at\":9223372036854775808}",
    "{\"group\":\"g\",\"key\":\"real\",\"value\":\"x\",\"expires_at\":1.5}",
    "{\"group\":\"g\",\"key\":\"text\",\"value\":\"x\",\"expires_at\":\"1\"}",
    "{\"group\":\"\\u0000%_\",\"key\":\"\\n\",\"value\":\"\\u00e9\\\"\"}",
    "{\"group\":\"\\ud800\",\"key\":\"k\",\"value\":\"v\"}",
    "{\"group\":\"g\",\"group\":\"h\",\"key\":\"k\",\"value\":\"v\"}",
    "{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\",\"extra\":1}",
    "{\"group\":1,\"key\":\"k\",\"value\":\"v\"}",
    "{\"group\":\"g\",\"key\":\"k\"}",
    "[\"g\",\"k\",\"v\"]",
    "{",
    "}",
    "null",
    "\"",
    " ",
    "\t",
    "\r",
    "\n",
    "\n",
    "\n",
    "\u{a0}",
    "é",
];

fn config() -> ProptestConfig {
    let long_run = std::env::var("STORE_LONG_RUN").is_ok_and(|value| value == "1");
    ProptestConfig::with_cases(if long_run { 10_000 } else { 256 })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn import_lines_good_arbitrary_bytes_parse_or_name_the_bad_line(
        data in prop::collection::vec(any::<u8>(), 0..256)
    ) {
        import_line::check(&data);
    }

    #[test]
    fn import_lines_good_entry_like_lines_parse_and_import_or_name_the_bad_line(
        pieces in prop::collection::vec(prop::sample::select(LINE_PIECES), 0..12),
        invalid_utf8 in any::<bool>()
    ) {
        let mut data = pieces.concat().into_bytes();
        if invalid_utf8 {
            data.extend_from_slice(b"\n\xff\xfe\n");
        }
        import_line::check(&data);
    }

    #[test]
    fn import_lines_good_valid_entries_import_exactly(
        entries in prop::collection::vec(
            ("\\PC{0,6}", "\\PC{0,6}", "\\PC{0,12}", prop::option::of(any::<i64>())),
            0..12
        )
    ) {
        let lines: Vec<String> = entries
            .iter()
            .map(|(group, key, value, expires_at)| {
                serde_json::json!({
                    "group": group, "key": key, "value": value, "expires_at": expires_at
                })
                .to_string()
            })
            .collect();
        import_line::check(lines.join("\n").as_bytes());
    }
}

#[test]
fn import_lines_bad_hand_picked_lines_name_the_line() {
    for data in [
        &b"\n\n{\"group\":\"g\"}\n"[..],
        b"{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}\r\n\xff",
        b"{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\",\"expires_at\":1e3}",
        b"{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"} trailing",
        b"{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}{\"group\":\"g\",\"key\":\"k\",\"value\":\"v\"}",
        // Found by cargo-fuzz: an unknown key holding a line break, named in the message.
        b"{\"oura\\nlke\":1}",
    ] {
        import_line::check(data);
    }
}
