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
