//! Differences found by running `render` and Go 1.26's `text/template` side by side on
//! 24,000 templates, each now fixed; every expected value is what Go produces.

mod common;
use common::*;

#[test]
fn index_of_string_yields_uint8() {
    check("{{ printf \"%T\" (index \"hello\" 0) }}", "uint8");
    check("{{ printf \"%#v\" (index \"hello\" 0) }}", "0x68");
    check("{{ index \"hello\" 0 }}", "104");
    check(
        "{{ $b := index \"hello\" 1 }}{{ printf \"%c %x %q %d %+d %U\" $b $b $b $b $b $b }}",
        "e 65 'e' 101 +101 U+0065",
    );
    check("{{ printf \"%z\" (index \"hi\" 0) }}", "%!z(uint8=104)");
    check("{{ print (index \"hi\" 0) (index \"hi\" 1) }}", "104 105");
    check(
        "{{ eq (index \"hello\" 0) 104 }} {{ lt (index \"hello\" 0) 105 }}",
        "true true",
    );
    check(
        "{{ ne 104 (index \"hello\" 0) }} {{ ge 1 (index \"hello\" 0) }}",
        "false false",
    );
    check("{{ index \"hello\" (index \"\\x03\" 0) }}", "108");
    check(
        "{{ range $i := index \"\\x03\" 0 }}{{ printf \"%T%v \" $i $i }}{{ end }}",
        "uint80 uint81 uint82 ",
    );
    check("{{ printf \"%*d|\" (index \"\\x04\" 0) 7 }}", "   7|");
    exec_err_contains("{{ len (index \"a\" 0) }}", "len of type uint8");
    exec_err_contains(
        "{{ (index \"a\" 0).x }}",
        "can't evaluate field x in type uint8",
    );
}

#[test]
fn printf_float_v_honours_precision() {
    check("{{ printf \"%.3v\" 3.14159 }}", "3.14");
    check("{{ printf \"%8.2v|\" 3.14159 }}", "     3.1|");
    check("{{ printf \"%.3v\" 1234567.0 }}", "1.23e+06");
    check("{{ printf \"%z\" 3.14159 }}", "%!z(float64=3.14159)");
    check("{{ printf \"%.3z\" 3.14159 }}", "%!z(float64=3.14)");
    check("{{ printf \"%#z\" 3.14 }}", "%!z(float64=3.14000)");
}

#[test]
fn printf_float_hex_binary_and_sharp_forms() {
    check("{{ printf \"%x\" 3.14 }}", "0x1.91eb851eb851fp+01");
    check("{{ printf \"%X\" 3.14 }}", "0X1.91EB851EB851FP+01");
    check("{{ printf \"%b\" 3.14 }}", "7070651414971679p-51");
    check(
        "{{ printf \"%b %.4b\" 1.0 -1.0 }}",
        "4503599627370496p-52 -4503599627370496p-52",
    );
    check("{{ printf \"%b\" 0.0 }}", "0p-1074");
    check(
        "{{ printf \"%x %x %x\" 1.0 0.0 -1.5 }}",
        "0x1p+00 0x0p+00 -0x1.8p+00",
    );
    check(
        "{{ printf \"%.3x|% .3x|%.0x\" 1.0 1.0 1.5 }}",
        "0x1.000p+00| 0x1.000p+00|0x1p+01",
    );
    check("{{ printf \"%x\" 1e300 }}", "0x1.7e43c8800759cp+996");
    check("{{ printf \"%x\" 5e-324 }}", "0x1p-1074");
    check(
        "{{ printf \"%#g|%#g|%#g\" 1.1 123456.0 1000000.0 }}",
        "1.10000|123456.|1.00000e+06",
    );
    check(
        "{{ printf \"%#g|%#g\" -1.0 1234567.0 }}",
        "-1.00000|1.234567e+06",
    );
    check(
        "{{ printf \"%#.0f|%#.0e|%#.0g\" 1.0 1.0 1.0 }}",
        "1.|1.e+00|1.",
    );
    check(
        "{{ printf \"%#.0x|%#.4x|%#.4x\" 1.0 1.0 123.0 }}",
        "0x1.p+00|0x1.0000p+00|0x1.ec00p+06",
    );
    check(
        "{{ printf \"%#.4g|%#.4g|%#.4g\" 0.012 0.0 10.2 }}",
        "0.01200|0.000|10.20",
    );
    check(
        "{{ printf \"%#9.4g|%#b\" 1.0 1.0 }}",
        "    1.000|4503599627370496p-52",
    );
}

#[test]
fn quoting_escapes_runes_go_does_not_print() {
    // U+0378 is unassigned; U+1C89 was assigned only in Unicode 16, after Go's 15.0.
    check("{{ printf \"%q\" \"\\u0378\" }}", "\"\\u0378\"");
    check("{{ printf \"%q\" \"\\u1c89\" }}", "\"\\u1c89\"");
    check(
        "{{ printf \"%q\" \"\\U000e0100x\\u00ad\" }}",
        "\"\u{e0100}x\\u00ad\"",
    );
    check("{{ printf \"%q\" \"\\ue000\" }}", "\"\\ue000\"");
    check("{{ printf \"%q\" 0x1c89 }}", "'\\u1c89'");
    check("{{ printf \"%#U\" 0x378 }}", "U+0378");
    check("{{ printf \"%#U\" 0x1c89 }}", "U+1C89");
    check("{{ printf \"%#U\" 0x41 }}", "U+0041 'A'");
    check(
        "{{ js \"\\u0378\\u1c89é\\ue000\" }}",
        "\\u0378\\u1C89é\\uE000",
    );
}

#[test]
fn identifiers_accept_only_letters_and_decimal_digits() {
    check("{{ $é := 1 }}{{ $é }}", "1");
    check("{{ $x٣ := 2 }}{{ $x٣ }}", "2");
    check("{{ $_ := 3 }}{{ $_ }}", "3");
    // A letter number (U+216B) and a superscript digit (U+00B2) are neither.
    parse_err_contains("{{ $Ⅻ := 1 }}", "bad character U+216B 'Ⅻ'");
    parse_err_contains("{{ $x² := 1 }}", "bad character U+00B2 '²'");
    parse_err_contains("{{ .a\u{1c89} }}", "bad character U+1C89");
}

#[test]
fn nil_command_and_unset_variables_fail_only_when_executed() {
    check("{{ if false }}{{ nil }}{{ end }}ok", "ok");
    check("{{ if false }}{{ $x = 1 }}{{ $x }}{{ end }}ok", "ok");
    check("{{ if false }}{{ $y := $y }}{{ end }}ok", "ok");
    check("{{ or 1 (nil) }} {{ and 0 (nil) }}", "1 0");
    check("{{ $x := 1 }}{{ $x := $x }}{{ $x }}", "1");
    exec_err_contains("{{ nil }}", "nil is not a command");
    exec_err_contains("{{ $x = 1 }}", "undefined variable: $x");
    exec_err_contains("{{ $y := $y }}", "undefined variable: $y");
    exec_err_contains(
        "{{ range $k, $v := $v }}{{ end }}",
        "undefined variable: $v",
    );
    parse_err_contains("{{ $z }}", "undefined variable \"$z\"");
    parse_err_contains(
        "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}",
        "undefined variable \"$x\"",
    );
}

#[test]
fn pipeline_trailing_pipe_is_accepted() {
    check("{{ .colour | }}", "blue");
    check("{{ (1 |) }}", "1");
    check("{{ .colour | printf \"%s!\" | }}", "blue!");
    parse_err_contains("{{ | .colour }}", "unexpected \"|\" in command");
    parse_err_contains("{{ .colour | | }}", "unexpected \"|\" in command");
}

#[test]
fn numbers_with_leading_zero_and_a_non_octal_digit_are_rejected() {
    parse_err_contains("{{ 08 }}", "integer overflow: \"08\"");
    parse_err_contains(
        "{{ if false }}{{ 09 }}{{ end }}",
        "integer overflow: \"09\"",
    );
    parse_err_contains("{{ -0_8 }}", "integer overflow: \"-0_8\"");
    parse_err_contains("{{ 0o9 }}", "bad number syntax: \"0o9\"");
    check(
        "{{ 017 }} {{ 0 }} {{ 00 }} {{ 08.5 }} {{ 09e1 }}",
        "15 0 0 8.5 90",
    );
}
