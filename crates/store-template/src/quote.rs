//! Go's rune classes (`unicode.IsPrint`, identifier letters) by Unicode 15.0, and
//! `strconv`'s quoting.

use std::fmt::Write as _;

use crate::format::{format_unicode, VerbOptions};

/// Go's `unicode.IsPrint` (and `strconv.IsPrint`): letters, marks, numbers,
/// punctuation, symbols and the ASCII space. Go 1.26 judges these by Unicode 15.0, so
/// the table is pinned to that version (`unicode-general-category` 0.6.0); unassigned
/// code points, including those assigned only by later versions, are not printable.
pub(crate) fn is_print(c: char) -> bool {
    use unicode_general_category::GeneralCategory as Category;
    c == ' '
        || !matches!(
            unicode_general_category::get_general_category(c),
            Category::Control
                | Category::Format
                | Category::Surrogate
                | Category::PrivateUse
                | Category::Unassigned
                | Category::SpaceSeparator
                | Category::LineSeparator
                | Category::ParagraphSeparator
        )
}

pub(crate) fn push_escaped_char(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    let printable = if ascii_only {
        c.is_ascii() && is_print(c)
    } else {
        is_print(c)
    };
    if printable {
        out.push(c);
        return;
    }
    let u = u32::from(c);
    let _ = match c {
        '\u{07}' => write!(out, "\\a"),
        '\u{08}' => write!(out, "\\b"),
        '\u{0c}' => write!(out, "\\f"),
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        '\u{0b}' => write!(out, "\\v"),
        _ if u < 0x20 || u == 0x7F => write!(out, "\\x{u:02x}"),
        _ if u < 0x1_0000 => write!(out, "\\u{u:04x}"),
        _ => write!(out, "\\U{u:08x}"),
    };
}

/// Go's `strconv.Quote` (or `QuoteToASCII`).
pub(crate) fn quote_with(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped_char(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

pub(crate) fn go_quote(s: &str) -> String {
    quote_with(s, false)
}

/// Go's `strconv.QuoteRune` (or `QuoteRuneToASCII`).
pub(crate) fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped_char(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// Go's `strconv.CanBackquote`.
pub(crate) fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && c != '\u{7F}' && (c >= ' ' || c == '\t'))
}

/// Go's `isAlphaNumeric`: `_`, a letter (`unicode.IsLetter`) or a decimal digit
/// (`unicode.IsDigit`), judged by the Unicode 15.0 tables Go uses.
pub(crate) fn is_alnum(c: char) -> bool {
    use unicode_general_category::GeneralCategory as Category;
    c == '_'
        || matches!(
            unicode_general_category::get_general_category(c),
            Category::UppercaseLetter
                | Category::LowercaseLetter
                | Category::TitlecaseLetter
                | Category::ModifierLetter
                | Category::OtherLetter
                | Category::DecimalNumber
        )
}

/// Describes a character like Go's `%#U`.
pub(crate) fn describe_char(c: char) -> String {
    let mut out = String::new();
    format_unicode(
        &mut out,
        i64::from(u32::from(c)),
        &VerbOptions {
            sharp: true,
            ..VerbOptions::default()
        },
    );
    out
}
