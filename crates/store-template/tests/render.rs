//! `render` across the language: literals, pipelines, control structures, builtins,
//! `fmt` verbs and the bounds on hostile templates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use store_template::{render, TemplateError};

mod common;
use common::*;

#[test]
fn brief_examples() {
    check("hi {{ .colour }}", "hi blue");
    check("{{ . }}", "map[colour:blue empty: my key:spaced size:10]");
    check("{{ .missing }}", "<no value>");
    check("{{ index . \"missing\" }}", "");
    check("{{ index . \"my key\" }}", "spaced");
    check("a {{- .colour -}} b", "ablueb");
    check("{{/* c */}}x", "x");
    check(
        "{{ if .empty }}y{{ else if .colour }}z{{ else }}w{{ end }}",
        "z",
    );
    check(
        "{{ range $k, $v := . }}{{$k}}={{$v}};{{ end }}",
        "colour=blue;empty=;my key=spaced;size=10;",
    );
    check("{{ range . }}[{{ . }}]{{ end }}", "[blue][][spaced][10]");
    check("{{ with .colour }}{{ . }}{{ end }}", "blue");
    check("{{ with .empty }}x{{ else }}none{{ end }}", "none");
    check(
        "{{ eq .colour \"blue\" }} {{ ne .colour \"x\" }} {{ not .empty }} {{ and .colour .size }} {{ or .empty .size }}",
        "true true true 10 10",
    );
    check(
        "{{ len .colour }} {{ print .colour 1 }} {{ printf \"%s %d %v %q\" .colour 3 .size .colour }}",
        "4 blue1 blue 3 10 \"blue\"",
    );
    check("{{ print 1 2 }}", "1 2");
    check("{{ .colour | printf \"%q\" }}", "\"blue\"");
    check("{{ .colour | len }}", "4");
    exec_err("{{ call .colour }}");
    parse_err("{{ .unclosed");
    parse_err("{{");
    parse_err("{{ nosuchfn }}");
    exec_err("{{ .colour.foo }}");
    check(
        "{{ $x := \"a\" }}{{ if true }}{{ $x = \"b\" }}{{ end }}{{ $x }}",
        "b",
    );
    check(
        "{{ range $i, $v := . }}{{ if eq $i \"empty\" }}{{ continue }}{{ end }}{{ if eq $i \"size\" }}{{ break }}{{ end }}{{ $v }},{{ end }}",
        "blue,spaced,",
    );
    check(
        "{{ printf \"%5s|%-5s|%05d|%.2f|%x|%t\" \"ab\" \"cd\" 42 3.14159 255 true }}",
        "   ab|cd   |00042|3.14|ff|true",
    );
}

#[test]
fn error_display_and_messages() {
    let err = render("{{ .unclosed", &data()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parse template: template: :1: unclosed action"
    );
    let err = render("{{ call .colour }}", &data()).unwrap_err();
    assert!(err.to_string().starts_with("execute template: "), "{err}");
    assert!(err.to_string().contains("call"), "{err}");
    assert_eq!(
        parse_err("{{ nosuchfn }}"),
        "template: :1: function \"nosuchfn\" not defined"
    );
    parse_err_contains("a\nb\n{{ .x", ":3: unclosed action");
    exec_err_contains("a\n\n{{ .colour.foo }}", ":3:");
    exec_err_contains(
        "{{ .colour.foo }}",
        "can't evaluate field foo in type string",
    );
}

#[test]
fn text_and_trimming() {
    check("", "");
    check("plain text }} {", "plain text }} {");
    check("<b>&amp;</b>", "<b>&amp;</b>");
    check("x \t\r\n{{- .colour }}", "xblue");
    check("{{ .colour -}} \n\t y", "bluey");
    check("{{.colour}}", "blue");
    check("{{-3}}", "-3");
    check("{{ 3 -}}  x", "3x");
    check("a  {{- /* c */ -}}  b", "ab");
    check("a {{/* multi\nline */}} b", "a  b");
    check("{{ .colour\n}}", "blue");
    check("é {{ .colour }} ü", "é blue ü");
    check("{{ .colour }}{{ .size }}", "blue10");
    parse_err_contains("{{/* c */ }}", "comment ends before closing delimiter");
    parse_err_contains("{{/* c ", "unclosed comment");
    parse_err("{{ /* c */ }}");
    parse_err("{{- -}}");
}

#[test]
fn fields_and_dot() {
    check("{{ .missing.x }}", "<no value>");
    check("{{ $.colour }}", "blue");
    check("{{ $ }}", "map[colour:blue empty: my key:spaced size:10]");
    check("{{ range . }}{{ $.size }}{{ end }}", "10101010");
    check("{{ ($).colour }}", "blue");
    check("{{ $x := . }}{{ $x.colour }}", "blue");
    check_with("{{ . }}", &BTreeMap::new(), "map[]");
    check_with("{{ if . }}y{{ else }}n{{ end }}", &BTreeMap::new(), "n");
    let mut unicode = BTreeMap::new();
    unicode.insert("größe".to_owned(), "gross".to_owned());
    unicode.insert("B".to_owned(), "b".to_owned());
    unicode.insert("a".to_owned(), "a".to_owned());
    check_with("{{ .größe }}", &unicode, "gross");
    check_with("{{ . }}", &unicode, "map[B:b a:a größe:gross]");
    exec_err_contains("{{ (.colour).x }}", "can't evaluate field x in type string");
    exec_err_contains("{{ with .colour }}{{ .x }}{{ end }}", "in type string");
    exec_err_contains(
        "{{ .colour \"x\" }}",
        "colour is not a method but has arguments",
    );
    exec_err_contains("{{ \"x\" | .colour }}", "not a method");
    exec_err_contains("{{ 1 2 }}", "can't give argument to non-function 1");
    exec_err_contains("{{ $x := 1 }}{{ $x 2 }}", "non-function $x");
    parse_err_contains("{{ .colour.x.\"y\" }}", "bad character");
    parse_err_contains("{{ \"a\".b }}", "unexpected . after term");
    parse_err_contains("{{ len.x }}", "put the call in parentheses");
    parse_err("{{ .a-b }}");
}

#[test]
fn variables() {
    check("{{ $x := 1 }}{{ $x }}", "1");
    check("{{ $x := .colour }}{{ $x = .size }}{{ $x }}", "10");
    check("{{ $x := .missing }}{{ $x }}", "<no value>");
    check("{{ $x := 1 }}{{ $x := 2 }}{{ $x }}", "2");
    check(
        "{{ with $x := .colour }}{{ $x }}{{ . }}{{ end }}",
        "blueblue",
    );
    check(
        "{{ if $x := .colour }}{{ $x }}{{ else }}{{ $x }}{{ end }}",
        "blue",
    );
    check("{{ range $v := . }}{{ $v }},{{ end }}", "blue,,spaced,10,");
    check(
        "{{ $k := \"\" }}{{ $v := \"\" }}{{ range $k, $v = . }}{{ end }}{{ $k }}={{ $v }}",
        "size=10",
    );
    check("{{ print ($x := 3) $x }}", "3 3");
    check(
        "{{ range . }}{{ $y := . }}{{ $y }}{{ end }}",
        "bluespaced10",
    );
    parse_err_contains("{{ $x }}", "undefined variable \"$x\"");
    exec_err_contains("{{ $x = 1 }}", "undefined variable: $x");
    exec_err_contains("{{ $x := $x }}", "undefined variable: $x");
    parse_err("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}");
    parse_err("{{ range $k, $v := . }}{{ end }}{{ $k }}");
    parse_err("{{ with $z := 1 }}{{ end }}{{ $z }}");
    parse_err_contains("{{ $a, $b := 1 }}", "too many declarations");
    parse_err_contains(
        "{{ range $a, 1 }}{{ end }}",
        "range can only initialize variables",
    );
    exec_err_contains(
        "{{ if true }}{{ $y := 1 }}{{ else }}{{ $y }}{{ end }}{{ if false }}{{ $q := 1 }}{{ else }}{{ $q }}{{ end }}",
        "undefined variable: $q",
    );
}

#[test]
fn literals() {
    check(
        "{{ \"a\\tb\\u00e9\\x41\\101\\U0001F600\\\\\\\"\" }}",
        "a\tbéAA😀\\\"",
    );
    check("{{ \"\\xc3\\xa9\" }}", "é");
    check("{{ `raw \\n\r\"x\"` }}", "raw \\n\"x\"");
    check("{{ `multi\nline` }}", "multi\nline");
    check(
        "{{ 'a' }} {{ '\\n' }} {{ '\\'' }} {{ 'é' }} {{ '\\x41' }}",
        "97 10 39 233 65",
    );
    check(
        "{{ 0x1F }} {{ -5 }} {{ +7 }} {{ 1_000 }} {{ 017 }} {{ 0o17 }} {{ 0b101 }} {{ 00 }}",
        "31 -5 7 1000 15 15 5 0",
    );
    check(
        "{{ 2.0 }} {{ 3.14 }} {{ 1e6 }} {{ 1e3 }} {{ 0.00001 }} {{ 0.0001 }}",
        "2 3.14 1e+06 1000 1e-05 0.0001",
    );
    check(
        "{{ 123456789.0 }} {{ 123456.0 }} {{ -0.5 }} {{ .5 }} {{ 5. }}",
        "1.23456789e+08 123456 -0.5 0.5 5",
    );
    check(
        "{{ 9223372036854775807 }} {{ -9223372036854775808 }}",
        "9223372036854775807 -9223372036854775808",
    );
    check("{{ true }} {{ false }}", "true false");
    check("{{ print nil }}", "<nil>");
    check("{{ print 1 -2 }}", "1 -2");
    exec_err_contains("{{ nil }}", "nil is not a command");
    parse_err_contains("{{ 9223372036854775808 }}", "overflows int");
    parse_err_contains("{{ 99999999999999999999 }}", "overflows int");
    parse_err_contains("{{ 1+2i }}", "complex");
    parse_err_contains("{{ 2i }}", "complex");
    parse_err_contains("{{ 0x1p4 }}", "hexadecimal floating-point");
    parse_err("{{ 1e400 }}");
    parse_err("{{ 1__0 }}");
    parse_err("{{ 1_ }}");
    parse_err("{{ 0x }}");
    parse_err("{{ 1e }}");
    parse_err("{{ 12ab }}");
    parse_err_contains("{{ \"\\xff\" }}", "UTF-8");
    parse_err("{{ \"\\q\" }}");
    parse_err("{{ \"\\'\" }}");
    parse_err("{{ \"\\ud800\" }}");
    parse_err("{{ \"\\400\" }}");
    parse_err_contains("{{ \"abc }}", "unterminated quoted string");
    parse_err_contains("{{ \"abc\n\" }}", "unterminated quoted string");
    parse_err_contains("{{ `abc }}", "unterminated raw quoted string");
    parse_err_contains("{{ 'ab' }}", "malformed character constant");
    parse_err("{{ '' }}");
    parse_err_contains("{{ 'a }}", "unterminated character constant");
    parse_err_contains("{{ # }}", "unexpected \"#\"");
    parse_err_contains("{{ \u{1} }}", "unrecognized character in action");
}

#[test]
fn control_structures() {
    check("{{ if 1 }}a{{ end }}{{ if 0 }}b{{ end }}", "a");
    check("{{ if 0.0 }}a{{ else }}b{{ end }}", "b");
    check("{{ if .missing }}a{{ else }}b{{ end }}", "b");
    check("{{ if . }}a{{ end }}", "a");
    check(
        "{{ if false }}1{{ else if false }}2{{ else if true }}3{{ else }}4{{ end }}",
        "3",
    );
    check("{{ if false }}1{{ else if false }}2{{ end }}", "");
    check(
        "{{ with .empty }}1{{ else with .size }}{{ . }}{{ else }}3{{ end }}",
        "10",
    );
    check(
        "{{ with .missing }}1{{ else with .empty }}2{{ else }}{{ .colour }}{{ end }}",
        "blue",
    );
    check("{{ range .missing }}x{{ else }}empty{{ end }}", "empty");
    check_with(
        "{{ range . }}x{{ else }}none{{ end }}",
        &BTreeMap::new(),
        "none",
    );
    check("{{ range 3 }}{{ . }}{{ end }}", "012");
    check("{{ range $i := 3 }}{{ $i }}{{ end }}", "012");
    check("{{ range 0 }}x{{ else }}zero{{ end }}", "zero");
    check("{{ range . }}{{ break }}{{ end }}x", "x");
    check("{{ range . }}{{ continue }}x{{ end }}y", "y");
    check(
        "{{ range $k, $v := . }}{{ range 2 }}{{ if eq . 1 }}{{ break }}{{ end }}{{ $k }}{{ end }}{{ end }}",
        "colouremptymy keysize",
    );
    check(
        "{{ range $k, $v := . }}{{ with $v }}{{ continue }}{{ end }}[{{ $k }}]{{ end }}",
        "[empty]",
    );
    check(
        "{{ range 2 }}{{ range $.missing }}{{ else }}{{ break }}{{ end }}x{{ end }}y",
        "y",
    );
    exec_err_contains(
        "{{ range .colour }}{{ end }}",
        "range can't iterate over blue",
    );
    exec_err_contains("{{ range 1.5 }}{{ end }}", "range can't iterate over 1.5");
    exec_err_contains("{{ range true }}{{ end }}", "range can't iterate over true");
    exec_err_contains("{{ range $i, $v := 3 }}{{ end }}", "more than one variable");
    parse_err_contains("{{ end }}", "unexpected {{end}}");
    parse_err_contains("{{ else }}", "unexpected {{else}}");
    parse_err_contains("{{ if true }}x", "unexpected EOF");
    parse_err_contains("{{ if true }}x{{ else }}y", "unexpected EOF");
    parse_err_contains("{{ if true }}{{ else }}{{ else }}{{ end }}", "expected end");
    parse_err_contains("{{ if }}{{ end }}", "missing value for if");
    parse_err_contains("{{ range }}{{ end }}", "missing value for range");
    parse_err_contains("{{ }}", "missing value for command");
    parse_err_contains("{{ break }}", "{{break}} outside {{range}}");
    parse_err_contains(
        "{{ if true }}{{ continue }}{{ end }}",
        "{{continue}} outside {{range}}",
    );
    parse_err_contains(
        "{{ range . }}{{ else }}{{ break }}{{ end }}",
        "outside {{range}}",
    );
    parse_err("{{ range . }}{{ break 1 }}{{ end }}");
    parse_err("{{ if true }}{{ else with 1 }}{{ end }}");
    parse_err("{{ range . }}{{ else if 1 }}{{ end }}");
    parse_err("{{ end 1 }}");
    parse_err_contains("{{ define \"x\" }}{{ end }}", "not supported");
    parse_err_contains("{{ template \"x\" }}", "not supported");
    parse_err_contains("{{ block \"x\" . }}{{ end }}", "not supported");
}

#[test]
fn pipelines_and_parentheses() {
    check("{{ .colour | printf \"%s-%s\" \"x\" }}", "x-blue");
    check("{{ (len .colour) }}", "4");
    check("{{ print (len .colour) (index . \"size\") }}", "410");
    check("{{ printf \"%d\" (len (print .colour .size)) }}", "6");
    check("{{ .colour | printf \"%s!\" | len }}", "5");
    check("{{ \"abc\" | len | printf \"%03d\" }}", "003");
    parse_err_contains("{{ | .colour }}", "unexpected \"|\" in command");
    parse_err_contains("{{ print | | .colour }}", "unexpected \"|\" in command");
    parse_err_contains(
        "{{ .colour | \"x\" }}",
        "non executable command in pipeline stage 2",
    );
    parse_err_contains("{{ (1 }}", "unclosed left paren");
    parse_err_contains("{{ 1) }}", "unexpected right paren");
    parse_err("{{ () }}");
    parse_err("{{ print , }}");
    parse_err("{{ print := }}");
    parse_err("{{ .x:y }}");
}

#[test]
fn comparison_and_logic() {
    check("{{ eq .colour \"red\" \"blue\" }}", "true");
    check("{{ eq .colour \"red\" \"green\" }}", "false");
    check(
        "{{ eq 1 1 }} {{ eq 1.5 1.5 }} {{ eq true true }} {{ ne 1 2 }}",
        "true true true true",
    );
    check(
        "{{ eq .missing \"x\" }} {{ eq .missing .other }} {{ eq . .missing }}",
        "false true false",
    );
    check(
        "{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}",
        "true true true false",
    );
    check(
        "{{ lt \"B\" \"a\" }} {{ gt 3 2 }} {{ le 3 2 }}",
        "true true false",
    );
    check(
        "{{ not .missing }} {{ not 0 }} {{ not \"x\" }}",
        "true true false",
    );
    check("{{ and .colour .missing }}", "<no value>");
    check("{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ or 0 \"\" }}", "0 3 ");
    check("{{ or .colour (call .colour) }}", "blue");
    check("{{ and .empty (call .colour) }}", "");
    check("{{ .size | and 1 }} {{ 0 | or \"\" }}", "10 0");
    exec_err_contains("{{ eq .colour 1 }}", "incompatible types for comparison");
    exec_err_contains(
        "{{ eq 1 1.0 }}",
        "incompatible types for comparison: int and float64",
    );
    exec_err_contains("{{ eq . . }}", "non-comparable");
    exec_err_contains("{{ eq 1 }}", "missing argument for comparison");
    exec_err_contains("{{ lt true false }}", "invalid type for comparison");
    exec_err_contains("{{ lt .missing 1 }}", "invalid type for comparison");
    exec_err_contains("{{ lt 1 \"a\" }}", "incompatible types");
    exec_err_contains("{{ ne 1 }}", "wrong number of args for ne: want 2 got 1");
    exec_err_contains("{{ not }}", "wrong number of args for not");
    exec_err_contains(
        "{{ and }}",
        "wrong number of args for and: want at least 1 got 0",
    );
    exec_err_contains("{{ print len }}", "wrong number of args for len");
}

#[test]
fn len_index_slice_call() {
    check("{{ len . }} {{ len \"é\" }} {{ len .empty }}", "4 2 0");
    check(
        "{{ index .colour 0 }} {{ index . \"colour\" 1 }} {{ index . }}",
        "98 108 map[colour:blue empty: my key:spaced size:10]",
    );
    check(
        "{{ slice .colour 1 3 }}|{{ slice .colour 2 }}|{{ slice .colour }}",
        "lu|ue|blue",
    );
    exec_err_contains("{{ len 3 }}", "len of type int");
    exec_err_contains("{{ len .missing }}", "len of untyped nil");
    exec_err_contains("{{ index .colour 4 }}", "index out of range: 4");
    exec_err_contains("{{ index .colour -1 }}", "index out of range: -1");
    exec_err_contains(
        "{{ index .colour \"a\" }}",
        "cannot index slice/array with type string",
    );
    exec_err_contains("{{ index . 1 }}", "value has type int; should be string");
    exec_err_contains("{{ index .missing \"x\" }}", "index of untyped nil");
    exec_err_contains("{{ index 1 1 }}", "can't index item of type int");
    exec_err_contains("{{ slice .colour 3 1 }}", "invalid slice index: 3 > 1");
    exec_err_contains("{{ slice .colour 1 2 3 }}", "cannot 3-index slice a string");
    exec_err_contains("{{ slice \"é\" 1 }}", "UTF-8");
    exec_err_contains(
        "{{ slice . 1 }}",
        "can't slice item of type map[string]string",
    );
    exec_err_contains(
        "{{ call .colour }}",
        "error calling call: non-function .colour of type string",
    );
    exec_err_contains("{{ call .missing }}", "call of nil");
    exec_err_contains("{{ .colour | call }}", "error calling call");
}

#[test]
fn print_functions() {
    check("{{ print }}|{{ print \"a\" \"b\" 1 2 \"c\" }}", "|ab1 2c");
    check("{{ print .missing 1 }}", "<nil> 1");
    check("{{ println \"a\" 1 2 }}", "a 1 2\n");
    check("{{ println }}", "\n");
    check(
        "{{ print true 1.5 . }}",
        "true 1.5 map[colour:blue empty: my key:spaced size:10]",
    );
    check(
        "{{ html \"<a href='x'>&\\\"\" }}",
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;",
    );
    check("{{ html .missing }} {{ html 1 2 }}", "&lt;no value&gt; 1 2");
    check(
        "{{ js \"a'b<c>\\\\=&\\n\\\"é\" }}",
        "a\\'b\\u003Cc\\u003E\\\\\\u003D\\u0026\\u000A\\\"é",
    );
    check("{{ urlquery \"a b&c/é~\" }}", "a+b%26c%2F%C3%A9~");
    check("{{ .colour | html }}", "blue");
}

#[test]
fn printf_verbs() {
    check("{{ printf \"%d|%5d|%-5d|%+d|% d|%05d|%x|%X|%o|%O|%b|%c|%q|%U\" 42 42 42 42 42 -42 255 255 8 8 5 65 65 128512 }}",
        "42|   42|42   |+42| 42|-0042|ff|FF|10|0o10|101|A|'A'|U+1F600");
    check(
        "{{ printf \"%#x|%#o|%#b|%#U|%.3d|%8.3d|%x\" 255 8 5 65 7 7 -255 }}",
        "0xff|010|0b101|U+0041 'A'|007|     007|-ff",
    );
    check("{{ printf \"%s|%10s|%-10s|%.2s|%q|%x|%X|% x|%#x\" \"hé\" \"hé\" \"hé\" \"hé\" \"hé\" \"hi\" \"hi\" \"hi\" \"hi\" }}",
        "hé|        hé|hé        |hé|\"hé\"|6869|6869|68 69|0x6869");
    check(
        "{{ printf \"%05s|%.1s|%3s\" \"ab\" \"éa\" \"é\" }}",
        "000ab|é|  é",
    );
    check(
        "{{ printf \"%q|%+q|%#q|%q\" \"a\\n\\\"b\\x01\" \"é\" \"x`\" \"\\u00a0\\u200b😀\" }}",
        "\"a\\n\\\"b\\x01\"|\"\\u00e9\"|\"x`\"|\"\\u00a0\\u200b😀\"",
    );
    check("{{ printf \"%#q\" \"ab\" }}", "`ab`");
    check("{{ printf \"%f|%.0f|%8.3f|%08.3f|%-8.2f|%+.1f|%e|%E|%.2e|%g|%G|%.3g|%g\" 3.14159 2.5 3.14159 -3.14159 1.5 2.0 1234.5678 1234.5678 1234.5678 0.000012345 1e21 1234.5678 100000.0 }}",
        "3.141590|2|   3.142|-003.142|1.50    |+2.0|1.234568e+03|1.234568E+03|1.23e+03|1.2345e-05|1E+21|1.23e+03|100000");
    check(
        "{{ printf \"%v|%v|%v|%v\" 1e20 1e-7 0.0 -0.0 }}",
        "1e+20|1e-07|0|-0",
    );
    check(
        "{{ printf \"%t|%v|%5t\" true false true }}",
        " true|false| true".trim_start(),
    );
    check("{{ printf \"%v|%d|%s\" . . . }}",
        "map[colour:blue empty: my key:spaced size:10]|map[%!d(string=colour):%!d(string=blue) %!d(string=empty):%!d(string=) %!d(string=my key):%!d(string=spaced) %!d(string=size):%!d(string=10)]|map[colour:blue empty: my key:spaced size:10]");
    check(
        "{{ printf \"%q\" . }}",
        "map[\"colour\":\"blue\" \"empty\":\"\" \"my key\":\"spaced\" \"size\":\"10\"]",
    );
    check("{{ printf \"%#v|%#v|%#v|%+v\" . \"x\" 5 5 }}",
        "map[string]string{\"colour\":\"blue\", \"empty\":\"\", \"my key\":\"spaced\", \"size\":\"10\"}|\"x\"|5|5");
    check(
        "{{ printf \"%T %T %T %T %T %T\" \"a\" 1 1.5 true . nil }}",
        "string int float64 bool map[string]string <nil>",
    );
    check(
        "{{ printf \"%%|%d %s|%[2]s %[1]s|%d\" 1 \"x\" }}",
        "%|1 x|x %!s(int=1)|%!d(string=x)",
    );
    check("{{ printf \"%[2]s %[1]s\" \"a\" \"b\" }}", "b a");
    check(
        "{{ printf \"%*d|%-*d|%.*f|%[1]*[2]d\" 4 7 3 8 2 3.14159 }}",
        "   7|8  |3.14|   7",
    );
}

#[test]
fn printf_errors() {
    check("{{ printf \"%d\" \"blue\" }}", "%!d(string=blue)");
    check("{{ printf \"%s\" }}", "%!s(MISSING)");
    check("{{ printf \"%s\" \"a\" \"x\" }}", "a%!(EXTRA string=x)");
    check(
        "{{ printf \"%s\" 1 2 nil }}",
        "%!s(int=1)%!(EXTRA int=2, <nil>)",
    );
    check("{{ printf \"%d\" 3.5 }}", "%!d(float64=3.5)");
    check(
        "{{ printf \"%s\" nil }} {{ printf \"%v\" .missing }}",
        "%!s(<nil>) <nil>",
    );
    check(
        "{{ printf \"%\" }}|{{ printf \"abc%5\" }}",
        "%!(NOVERB)|abc%!(NOVERB)",
    );
    check("{{ printf \"%!\" }}", "%!!(MISSING)");
    check("{{ printf \"%z\" 1 }}", "%!z(int=1)");
    check("{{ printf \"%5z\" 1 }}", "%!z(int=    1)");
    check("{{ printf \"%t\" 1 }}", "%!t(int=1)");
    check("{{ printf \"%[3]d\" 1 }}", "%!d(BADINDEX)");
    check("{{ printf \"%[0]d\" 1 }}", "%!d(BADINDEX)");
    check("{{ printf \"%*d\" \"x\" 1 }}", "%!(BADWIDTH)1");
    check("{{ printf \"%.*d\" -1 1 }}", "%!(BADPREC)1");
    check("{{ printf \"%p\" 1 }}", "%!p(int=1)");
    check("{{ printf \"%d %d\" 1 }}", "1 %!d(MISSING)");
    check("{{ printf \"%c|%c\" -1 55296 }}", "\u{FFFD}|\u{FFFD}");
    check("{{ printf \"no verbs\" }}", "no verbs");
    exec_err_contains("{{ printf 3 }}", "format must be a string");
    exec_err_contains("{{ printf .missing }}", "format must be a string");
    exec_err_contains("{{ printf }}", "wrong number of args for printf");
    exec_err_contains("{{ printf \"%p\" . }}", "not supported");
    check(
        "{{ printf \"%.100000g|%.3000f\" 1.5 0.1 }}",
        &format!("1.5|0.{}", {
            let mut digits = "1000000000000000055511151231257827021181583404541015625".to_owned();
            digits.push_str(&"0".repeat(3000 - digits.len()));
            digits
        }),
    );
    let big = render(
        "{{ printf \"%.1000000e|%.1000000f|%9999999d\" 1.5 1.5 1 }}",
        &data(),
    );
    assert_eq!(
        big.map(|s| s.len()),
        Ok(1_000_006 + 1 + 1_000_002 + 1 + 9_999_999)
    );
}

#[test]
fn parse_before_execute() {
    parse_err("{{ call .colour }}{{ nosuchfn }}");
    parse_err("{{ if false }}{{ nosuchfn }}{{ end }}");
    parse_err("{{ range .missing }}{{ 1e400 }}{{ end }}");
    parse_err("{{ .colour }}{{ if true }}");
}

fn nested(open: &str, close: &str, n: usize) -> String {
    format!("{}x{}", open.repeat(n), close.repeat(n))
}

#[test]
fn hostile_input() {
    parse_err_contains(&nested("{{if 1}}", "{{end}}", 10_000), "nesting");
    parse_err("{{if 1}}".repeat(10_000).as_str());
    check(&nested("{{if 1}}", "{{end}}", 100), "x");
    parse_err(&nested("{{if 1}}", "{{end}}", 101));
    check(&nested("{{with 1}}{{range 1}}", "{{end}}{{end}}", 50), "x");
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    parse_err_contains(&parens, "nesting");
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(99), ")".repeat(99));
    check(&parens, "1");
    let prints = format!("{{{{ {}1{} }}}}", "(print ".repeat(99), ")".repeat(99));
    check(&prints, "1");
    let mut chain = String::new();
    for i in 0..2_000 {
        let _ = write!(chain, "{{{{else if eq {i} 1999}}}}{i}");
    }
    check(&format!("{{{{if false}}}}{chain}{{{{end}}}}"), "1999");
    parse_err("{{");
    parse_err("{{{{");
    parse_err("}}{{");
    parse_err("{{ .unclosed");
    parse_err("{{ \"unterminated");
    parse_err("{{ end }}");
    parse_err("{{ else }}");
    parse_err("{{ nosuchfn 1 2 }}");
    parse_err("{{ - }}");
    parse_err("{{ $ := 1 }}{{ $$ }}");
    parse_err(&"{{ (".repeat(1000));
    check(&"{{/* */}}".repeat(10_000), "");
    let long = "x".repeat(100_000);
    check(&format!("{{{{ len \"{long}\" }}}}"), "100000");
}

/// Renders many pseudo-random token soups; none may panic.
#[test]
fn random_templates_do_not_panic() {
    const PIECES: [&str; 48] = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "\n",
        ".",
        ".colour",
        ".missing",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2",
        "3.5",
        "0x1",
        "if",
        "else",
        "end",
        "range",
        "with",
        "break",
        "continue",
        "nil",
        "true",
        "eq",
        "printf",
        "\"%d%s%q%v%5.2f%[1]x%*d\"",
        "index",
        "len",
        "slice",
        "and",
        "or",
        "not",
        "call",
        "html",
        "js",
        ",",
        "/*",
        "*/",
        "é",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let data = data();
    for _ in 0..20_000 {
        let len = next() % 24;
        let mut source = String::new();
        for _ in 0..len {
            let pick = usize::try_from(next() % 48).unwrap_or(0);
            source.push_str(PIECES[pick]);
            if next() % 3 == 0 {
                source.push(' ');
            }
        }
        let _ = render(&source, &data);
    }
}

#[test]
fn render_bad_runaway_range_is_stopped() {
    let data = BTreeMap::new();
    let result = render("{{ range 1000000000000 }}{{ end }}", &data);
    assert!(
        matches!(&result, Err(TemplateError::Execute(message)) if message.contains("iterations")),
        "{result:?}"
    );
    let result = render(
        r#"{{ range 100000 }}{{ printf "%1000s" "x" }}{{ end }}"#,
        &data,
    );
    assert!(
        matches!(&result, Err(TemplateError::Execute(message)) if message.contains("output exceeds")),
        "{result:?}"
    );
}
