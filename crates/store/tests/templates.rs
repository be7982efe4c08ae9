//! `render`: Go text/template over a group's live entries.

use std::time::Duration;

use store::{Error, Store};

fn store_with_config() -> Store {
    let store = Store::open(":memory:").expect("open an in-memory store");
    store.set("config", "colour", "blue").expect("set");
    store.set("config", "size", "10").expect("set");
    store.set("config", "my key", "spaced").expect("set");
    store.set("config", "empty", "").expect("set");
    store.set("config", "html", "<b>&</b>").expect("set");
    store
        .set_with_ttl("config", "expired", "gone", Duration::ZERO)
        .expect("set");
    store
}

fn render(source: &str) -> String {
    store_with_config()
        .render(source, "config")
        .unwrap_or_else(|error| panic!("{source:?}: {error}"))
}

fn render_error(source: &str) -> String {
    match store_with_config().render(source, "config") {
        Err(error @ Error::Template { .. }) => error.to_string(),
        other => panic!("{source:?}: expected a template error, got {other:?}"),
    }
}

#[test]
fn render_good_fields_literals_and_no_escaping() {
    assert_eq!(render("colour: {{ .colour }}!"), "colour: blue!");
    assert_eq!(render("plain text only"), "plain text only");
    assert_eq!(render("{{ .html }}"), "<b>&</b>");
    assert_eq!(render(""), "");
}

#[test]
fn render_good_dot_prints_sorted_live_map() {
    assert_eq!(
        render("{{ . }}"),
        "map[colour:blue empty: html:<b>&</b> my key:spaced size:10]"
    );
}

#[test]
fn render_good_missing_keys_like_go() {
    assert_eq!(render("{{ .missing }}"), "<no value>");
    assert_eq!(
        render("{{ .expired }}"),
        "<no value>",
        "expired entries are not data"
    );
    assert_eq!(render("[{{ index . \"missing\" }}]"), "[]");
    assert_eq!(render("{{ index . \"my key\" }}"), "spaced");
}

#[test]
fn render_good_trimming_and_comments() {
    assert_eq!(render("a  {{- .colour -}}  b"), "ablueb");
    assert_eq!(render("x{{/* a comment */}}y"), "xy");
    assert_eq!(render("x {{- /* trimmed comment */ -}} y"), "xy");
}

#[test]
fn render_good_control_structures() {
    assert_eq!(
        render("{{ if .empty }}a{{ else if .colour }}b{{ else }}c{{ end }}"),
        "b"
    );
    assert_eq!(render("{{ if .missing }}yes{{ else }}no{{ end }}"), "no");
    assert_eq!(
        render("{{ range $key, $value := . }}{{ $key }}={{ $value }};{{ end }}"),
        "colour=blue;empty=;html=<b>&</b>;my key=spaced;size=10;"
    );
    assert_eq!(render("{{ with .colour }}[{{ . }}]{{ end }}"), "[blue]");
    assert_eq!(render("{{ with .empty }}x{{ else }}none{{ end }}"), "none");
}

#[test]
fn render_good_functions() {
    assert_eq!(
        render(
            r#"{{ eq .colour "blue" }} {{ ne .colour "x" }} {{ not .empty }} {{ and .colour .size }} {{ or .empty .size }}"#
        ),
        "true true true 10 10"
    );
    assert_eq!(render("{{ len .colour }} {{ len . }}"), "4 5");
    assert_eq!(render("{{ print .colour 1 }}"), "blue1");
    assert_eq!(
        render(r#"{{ printf "%s %d %v %q" .colour 3 .size .colour }}"#),
        r#"blue 3 10 "blue""#
    );
    assert_eq!(render(r#"{{ .colour | printf "%q" }}"#), r#""blue""#);
}

#[test]
fn render_bad_parse_errors() {
    for source in [
        "{{ .unclosed",
        "{{",
        "{{ end }}",
        "{{ nosuchfunction }}",
        "{{ if .colour }}open",
    ] {
        let message = render_error(source);
        assert!(
            message.starts_with("store.render: parse template"),
            "{source:?}: {message}"
        );
    }
}

#[test]
fn render_bad_execution_errors() {
    for source in ["{{ call .colour }}", "{{ .colour.field }}"] {
        let message = render_error(source);
        assert!(
            message.starts_with("store.render: execute template"),
            "{source:?}: {message}"
        );
    }
}

#[test]
fn render_good_empty_group() {
    let store = Store::open(":memory:").expect("open");
    assert_eq!(
        store.render("{{ . }}|{{ .x }}", "nothing").expect("render"),
        "map[]|<no value>"
    );
}

#[test]
fn render_bad_closed_store_before_parsing() {
    let store = Store::open(":memory:").expect("open");
    store.close().expect("close");
    assert!(matches!(
        store.render("{{ .unclosed", "g"),
        Err(Error::Closed {
            operation: "store.render"
        })
    ));
}
