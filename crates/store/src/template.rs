//! A small implementation of the subset of Go's `text/template` that the store
//! uses to render a group's entries.
//!
//! Dot is a Go `map[string]string`. The template is parsed completely before it
//! is executed, so a syntax error anywhere is reported even if execution would
//! never reach it. Nesting of control structures and parentheses is limited to
//! [`MAX_DEPTH`] levels, so hostile input yields an error rather than a stack
//! overflow.
//!
//! Supported: text with trim markers, comments, field access on the map,
//! variables (`:=`, `=`), pipelines, parentheses, string/raw string/character/
//! integer/floating-point/boolean/`nil` literals, `if`/`else if`/`else`,
//! `with`/`else with`/`else`, `range` (over the map or an integer) with `else`,
//! `break` and `continue`, and the builtin functions `and`, `or`, `not`, `len`,
//! `index`, `slice`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `print`, `printf`,
//! `println`, `html`, `js`, `urlquery` and `call`, with Go's `fmt` verbs and flags
//! for every value these produce (including `%x`, `%X`, `%b` and `#` on floats).
//! Printable runes (for `%q`, `%#U` and `js`) and identifier letters are judged by
//! the Unicode 15.0 tables Go 1.26 uses.
//!
//! Deliberate refusals, each a clear error rather than a silent difference:
//! - at parse time: `define`, `template` and `block` (there is one template);
//!   complex constants (`1i`, `1+2i`); hexadecimal floating-point constants
//!   (`0x1p4`); integer constants that do not fit in an `int` (Go fails on these
//!   only when it executes them); string literals that are not valid UTF-8; and
//!   field access directly on a function name (`len.x`);
//! - at execution time: the `%p` verb (there are no pointers to print) and
//!   slicing a string inside a UTF-8 character;
//! - bounds that Go does not have: nesting deeper than [`MAX_DEPTH`], more than
//!   [`MAX_ITERATIONS`] `range` iterations in all and more than [`MAX_OUTPUT`]
//!   bytes of output.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The deepest nesting of control structures and parentheses accepted.
const MAX_DEPTH: usize = 100;

/// The most `range` iterations one execution may run in all, so that a hostile template
/// such as `{{ range 1000000000000 }}` fails instead of running for hours.
const MAX_ITERATIONS: u64 = 10_000_000;

/// The largest output one execution may produce (64 MiB).
const MAX_OUTPUT: usize = 64 << 20;

/// Largest width or precision accepted by `printf`, as in Go.
const MAX_FMT_NUM: usize = 1_000_000;

/// More significant decimal digits than any `f64` has.
const MAX_SIGNIFICANT: usize = 800;

/// More fractional decimal digits than any `f64` has.
const MAX_FRACTION: usize = 1_100;

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// The template source is not valid (syntax, unknown function, unsupported construct).
    Parse(String),
    /// The template was valid but running it failed (e.g. `call` on a string).
    Execute(String),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(msg) => write!(f, "parse template: {msg}"),
            Self::Execute(msg) => write!(f, "execute template: {msg}"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// Parses `source` as a Go text/template and executes it with `data` as dot (a Go `map[string]string`).
pub(crate) fn render(
    source: &str,
    data: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let tokens = Lexer::new(source).run();
    let tree = Parser::new(tokens).parse().map_err(TemplateError::Parse)?;
    let mut exec = Exec {
        data,
        vars: vec![("$".to_owned(), Value::Map)],
        out: String::new(),
        line: 1,
        iterations: 0,
    };
    exec.walk_list(&tree, &Value::Map)
        .map_err(TemplateError::Execute)?;
    Ok(exec.out)
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Keyword {
    fn lookup(word: &str) -> Option<Self> {
        Some(match word {
            "block" => Self::Block,
            "break" => Self::Break,
            "continue" => Self::Continue,
            "define" => Self::Define,
            "else" => Self::Else,
            "end" => Self::End,
            "if" => Self::If,
            "range" => Self::Range,
            "template" => Self::Template,
            "with" => Self::With,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Break => "break",
            Self::Continue => "continue",
            Self::Define => "define",
            Self::Else => "else",
            Self::End => "end",
            Self::If => "if",
            Self::Range => "range",
            Self::Template => "template",
            Self::With => "with",
        }
    }
}

#[derive(Debug, Clone)]
enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Keyword(Keyword),
    Ident(String),
    Bool(bool),
    Nil,
    Dot,
    /// A field name without its leading dot.
    Field(String),
    /// A variable name including its leading `$`.
    Variable(String),
    /// A decoded string literal.
    Str(String),
    Number(String),
    CharConst(String),
    LeftParen,
    RightParen,
    Pipe,
    Assign,
    Declare,
    Char(char),
    Error(String),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// The space characters Go's template lexer recognises.
fn is_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Go's `isAlphaNumeric`: `_`, a letter (`unicode.IsLetter`) or a decimal digit
/// (`unicode.IsDigit`), judged by the Unicode 15.0 tables Go uses.
fn is_alnum(c: char) -> bool {
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
fn describe_char(c: char) -> String {
    let mut out = String::new();
    fmt_unicode(
        &mut out,
        i64::from(u32::from(c)),
        &Spec {
            sharp: true,
            ..Spec::default()
        },
    );
    out
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    line_pos: usize,
    line: usize,
    paren_depth: usize,
    tokens: Vec<Token>,
}

impl<'s> Lexer<'s> {
    fn new(src: &'s str) -> Self {
        Self {
            src,
            pos: 0,
            line_pos: 0,
            line: 1,
            paren_depth: 0,
            tokens: Vec::new(),
        }
    }

    fn rest(&self) -> &'s str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek_char() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    /// The line number of byte offset `pos`; offsets must not decrease between calls.
    fn line_at(&mut self, pos: usize) -> usize {
        if pos > self.line_pos {
            let seg = self.src.get(self.line_pos..pos).unwrap_or("");
            self.line += seg.matches('\n').count();
            self.line_pos = pos;
        }
        self.line
    }

    fn push(&mut self, tok: Tok, start: usize) {
        let line = self.line_at(start);
        self.tokens.push(Token { tok, line });
    }

    fn skip_leading_space(&mut self) {
        while self.peek_char().is_some_and(is_space_char) {
            self.pos += 1;
        }
    }

    /// Whether the input is at a right delimiter, and whether it has a trim marker.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        let mut chars = rest.chars();
        if chars.next().is_some_and(is_space_char) && chars.as_str().starts_with("-}}") {
            return (true, true);
        }
        (rest.starts_with("}}"), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek_char() {
            None => true,
            Some(c) => {
                is_space_char(c)
                    || matches!(c, '.' | ',' | '|' | ':' | ')' | '(')
                    || self.rest().starts_with("}}")
            }
        }
    }

    fn run(mut self) -> Vec<Token> {
        loop {
            let rest = self.rest();
            let Some(idx) = rest.find("{{") else {
                if !rest.is_empty() {
                    self.push(Tok::Text(rest.to_owned()), self.pos);
                }
                let end = self.src.len();
                self.push(Tok::Eof, end);
                return self.tokens;
            };
            let delim = self.pos + idx;
            let after = delim + 2;
            let after_text = self.src.get(after..).unwrap_or("");
            let mut marker = after_text.chars();
            let trim = marker.next() == Some('-') && marker.next().is_some_and(is_space_char);
            let mut text = rest.get(..idx).unwrap_or("");
            if trim {
                text = text.trim_end_matches(is_space_char);
            }
            if !text.is_empty() {
                self.push(Tok::Text(text.to_owned()), self.pos);
            }
            self.pos = if trim { after + 2 } else { after };
            let result = if self.rest().starts_with("/*") {
                self.lex_comment()
            } else {
                self.push(Tok::LeftDelim, delim);
                self.lex_action()
            };
            if let Err(msg) = result {
                let at = self.pos;
                self.push(Tok::Error(msg), at);
                return self.tokens;
            }
        }
    }

    fn lex_comment(&mut self) -> Result<(), String> {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            return Err("unclosed comment".to_owned());
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return Err("comment ends before closing delimiter".to_owned());
        }
        self.pos += if trim { 4 } else { 2 };
        if trim {
            self.skip_leading_space();
        }
        Ok(())
    }

    /// Lexes the inside of an action, up to and including its right delimiter.
    fn lex_action(&mut self) -> Result<(), String> {
        self.paren_depth = 0;
        loop {
            let start = self.pos;
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth > 0 {
                    return Err("unclosed left paren".to_owned());
                }
                self.pos += if trim { 4 } else { 2 };
                self.push(Tok::RightDelim, start);
                if trim {
                    self.skip_leading_space();
                }
                return Ok(());
            }
            let Some(c) = self.next_char() else {
                return Err("unclosed action".to_owned());
            };
            match c {
                c if is_space_char(c) => self.lex_space(start),
                '=' => self.push(Tok::Assign, start),
                ':' => {
                    if self.next_char() != Some('=') {
                        return Err("expected :=".to_owned());
                    }
                    self.push(Tok::Declare, start);
                }
                '|' => self.push(Tok::Pipe, start),
                '"' => self.lex_quote(start)?,
                '`' => self.lex_raw_quote(start)?,
                '$' => self.lex_field_or_variable(start, true)?,
                '\'' => self.lex_char(start)?,
                '.' if !self.peek_char().is_some_and(|d| d.is_ascii_digit()) => {
                    self.lex_field_or_variable(start, false)?;
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.pos = start;
                    self.lex_number(start)?;
                }
                c if is_alnum(c) => {
                    self.pos = start;
                    self.lex_identifier(start)?;
                }
                '(' => {
                    self.paren_depth += 1;
                    self.push(Tok::LeftParen, start);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err("unexpected right paren".to_owned());
                    }
                    self.paren_depth -= 1;
                    self.push(Tok::RightParen, start);
                }
                c if c.is_ascii_graphic() => self.push(Tok::Char(c), start),
                c => {
                    return Err(format!(
                        "unrecognized character in action: {}",
                        describe_char(c)
                    ))
                }
            }
        }
    }

    /// Lexes a run of spaces (the first is already consumed). A space that
    /// introduces a trim-marked right delimiter is left for the delimiter.
    fn lex_space(&mut self, start: usize) {
        let mut count = 1;
        while self.peek_char().is_some_and(is_space_char) {
            self.pos += 1;
            count += 1;
        }
        if self.rest().starts_with("-}}") {
            self.pos -= 1;
            if count == 1 {
                return;
            }
        }
        self.push(Tok::Space, start);
    }

    /// Moves past the rest of a quoted literal up to its closing `close`, honouring
    /// backslash escapes; a newline or the end of the source first is an error.
    fn skip_quoted(&mut self, close: char, what: &str) -> Result<(), String> {
        loop {
            match self.next_char() {
                Some('\\') => {
                    if matches!(self.next_char(), None | Some('\n')) {
                        return Err(format!("unterminated {what}"));
                    }
                }
                None | Some('\n') => return Err(format!("unterminated {what}")),
                Some(c) if c == close => return Ok(()),
                Some(_) => {}
            }
        }
    }

    fn lex_quote(&mut self, start: usize) -> Result<(), String> {
        self.skip_quoted('"', "quoted string")?;
        let body = self.src.get(start + 1..self.pos - 1).unwrap_or("");
        let value = unquote_string(body)?;
        self.push(Tok::Str(value), start);
        Ok(())
    }

    fn lex_raw_quote(&mut self, start: usize) -> Result<(), String> {
        let Some(x) = self.rest().find('`') else {
            return Err("unterminated raw quoted string".to_owned());
        };
        let body = self.rest().get(..x).unwrap_or("");
        // Go discards carriage returns from raw strings.
        let value: String = body.chars().filter(|&c| c != '\r').collect();
        self.pos += x + 1;
        self.push(Tok::Str(value), start);
        Ok(())
    }

    fn lex_char(&mut self, start: usize) -> Result<(), String> {
        self.skip_quoted('\'', "character constant")?;
        let text = self.src.get(start..self.pos).unwrap_or("").to_owned();
        self.push(Tok::CharConst(text), start);
        Ok(())
    }

    /// Lexes `.field` or `$variable` (the `.` or `$` is already consumed).
    fn lex_field_or_variable(&mut self, start: usize, variable: bool) -> Result<(), String> {
        if self.at_terminator() {
            let tok = if variable {
                Tok::Variable("$".to_owned())
            } else {
                Tok::Dot
            };
            self.push(tok, start);
            return Ok(());
        }
        while self.peek_char().is_some_and(is_alnum) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or(' ');
            return Err(format!("bad character {}", describe_char(c)));
        }
        let word = self.src.get(start..self.pos).unwrap_or("");
        let tok = if variable {
            Tok::Variable(word.to_owned())
        } else {
            Tok::Field(word.get(1..).unwrap_or("").to_owned())
        };
        self.push(tok, start);
        Ok(())
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek_char().is_some_and(is_alnum) {
            self.next_char();
            return false;
        }
        true
    }

    fn lex_number(&mut self, start: usize) -> Result<(), String> {
        if !self.scan_number() {
            let text = self.src.get(start..self.pos).unwrap_or("");
            return Err(format!("bad number syntax: {}", go_quote(text)));
        }
        if matches!(self.peek_char(), Some('+' | '-')) {
            // Go would try to read a complex constant such as 1+2i here.
            let complex =
                self.scan_number() && self.src.get(..self.pos).is_some_and(|s| s.ends_with('i'));
            let text = self.src.get(start..self.pos).unwrap_or("");
            return Err(if complex {
                format!("complex constant {text} is not supported")
            } else {
                format!("bad number syntax: {}", go_quote(text))
            });
        }
        let text = self.src.get(start..self.pos).unwrap_or("").to_owned();
        self.push(Tok::Number(text), start);
        Ok(())
    }

    fn lex_identifier(&mut self, start: usize) -> Result<(), String> {
        while self.peek_char().is_some_and(is_alnum) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or(' ');
            return Err(format!("bad character {}", describe_char(c)));
        }
        let word = self.src.get(start..self.pos).unwrap_or("");
        let tok = match word {
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            "nil" => Tok::Nil,
            _ => Keyword::lookup(word).map_or_else(|| Tok::Ident(word.to_owned()), Tok::Keyword),
        };
        self.push(tok, start);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Literals
// ---------------------------------------------------------------------------

/// One unit decoded from a quoted literal: a character, or a raw byte from a
/// `\x` or octal escape.
enum Unit {
    Char(char),
    Byte(u8),
}

/// Decodes the first character or escape sequence of `s`, as Go's
/// `strconv.UnquoteChar` does, returning it and the remaining text.
fn unquote_char(s: &str, quote: char) -> Option<(Unit, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote {
        return None;
    }
    if c != '\\' {
        return Some((Unit::Char(c), chars.as_str()));
    }
    let escape = chars.next()?;
    let unit = match escape {
        'a' => Unit::Char('\u{07}'),
        'b' => Unit::Char('\u{08}'),
        'f' => Unit::Char('\u{0c}'),
        'n' => Unit::Char('\n'),
        'r' => Unit::Char('\r'),
        't' => Unit::Char('\t'),
        'v' => Unit::Char('\u{0b}'),
        '\\' => Unit::Char('\\'),
        '\'' | '"' if escape == quote => Unit::Char(escape),
        'x' | 'u' | 'U' => {
            let count = match escape {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let mut value = 0u32;
            for _ in 0..count {
                value = value * 16 + chars.next()?.to_digit(16)?;
            }
            if escape == 'x' {
                Unit::Byte(u8::try_from(value).ok()?)
            } else {
                Unit::Char(char::from_u32(value)?)
            }
        }
        '0'..='7' => {
            let mut value = escape.to_digit(8)?;
            for _ in 0..2 {
                value = value * 8 + chars.next()?.to_digit(8)?;
            }
            Unit::Byte(u8::try_from(value).ok()?)
        }
        _ => return None,
    };
    Some((unit, chars.as_str()))
}

/// Decodes the body of a double-quoted Go string literal.
fn unquote_string(mut body: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(body.len());
    while !body.is_empty() {
        let Some((unit, rest)) = unquote_char(body, '"') else {
            return Err("invalid escape sequence in quoted string".to_owned());
        };
        match unit {
            Unit::Char(c) => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Unit::Byte(b) => bytes.push(b),
        }
        body = rest;
    }
    String::from_utf8(bytes)
        .map_err(|_| "quoted string is not valid UTF-8, which is not supported".to_owned())
}

/// Parses a character constant such as `'a'` or `'\n'` to its integer value.
fn parse_char_const(text: &str) -> Result<i64, String> {
    let malformed = || format!("malformed character constant: {text}");
    let body = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .ok_or_else(malformed)?;
    match unquote_char(body, '\'') {
        Some((Unit::Char(c), "")) => Ok(i64::from(u32::from(c))),
        Some((Unit::Byte(b), "")) => Ok(i64::from(b)),
        _ => Err(malformed()),
    }
}

/// Whether underscores in a number are only used as digit separators, as Go requires.
fn underscores_ok(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let bytes = body.as_bytes();
    let mut hex = false;
    // 'd' digit or base prefix, '_' underscore, '^' start, '!' anything else.
    let mut saw = b'^';
    let mut rest = bytes;
    if let [b'0', p, tail @ ..] = bytes {
        if matches!(p.to_ascii_lowercase(), b'b' | b'o' | b'x') {
            hex = p.eq_ignore_ascii_case(&b'x');
            saw = b'd';
            rest = tail;
        }
    }
    for &b in rest {
        if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
            saw = b'd';
        } else if b == b'_' {
            if saw != b'd' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Converts a number literal to an integer or floating-point argument,
/// following the way Go types untyped constants in templates.
fn parse_number(text: &str) -> Result<Arg, String> {
    let illegal = || format!("illegal number syntax: {}", go_quote(text));
    if !underscores_ok(text) {
        return Err(illegal());
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, body) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    if body.ends_with('i') {
        return Err(format!("complex constant {text} is not supported"));
    }
    let prefix = body.get(..2).map(str::to_ascii_lowercase);
    let radix = match prefix.as_deref() {
        Some("0x") => 16,
        Some("0o") => 8,
        Some("0b") => 2,
        _ => 10,
    };
    let overflow = || format!("integer constant {text} overflows int");
    let to_int = |magnitude: u64| -> Result<Arg, String> {
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        value.map(Arg::Int).ok_or_else(overflow)
    };
    let parse_radix = |digits: &str, radix: u32| -> Result<Option<u64>, String> {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Ok(None);
        }
        u64::from_str_radix(digits, radix)
            .map(Some)
            .map_err(|_| overflow())
    };
    if radix != 10 {
        let digits = body.get(2..).unwrap_or("");
        if radix == 16 && digits.contains(['p', 'P', '.']) {
            return Err(format!(
                "hexadecimal floating-point constant {text} is not supported"
            ));
        }
        return match parse_radix(digits, radix)? {
            Some(magnitude) => to_int(magnitude),
            None => Err(illegal()),
        };
    }
    if !body.contains(['.', 'e', 'E']) {
        // A leading zero means octal, as in Go, which rejects "08" as a decimal
        // integer that does not fit its octal reading.
        if let Some(octal) = body.strip_prefix('0').filter(|d| !d.is_empty()) {
            return match parse_radix(octal, 8)? {
                Some(magnitude) => to_int(magnitude),
                None => Err(format!("integer overflow: {}", go_quote(text))),
            };
        }
        return match parse_radix(body, 10)? {
            Some(magnitude) => to_int(magnitude),
            None => Err(illegal()),
        };
    }
    match body.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Arg::Float(if negative { -value } else { value })),
        _ => Err(illegal()),
    }
}

// ---------------------------------------------------------------------------
// Parse tree
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    And,
    Call,
    Eq,
    Ge,
    Gt,
    Html,
    Index,
    Js,
    Le,
    Len,
    Lt,
    Ne,
    Not,
    Or,
    Print,
    Printf,
    Println,
    Slice,
    Urlquery,
}

impl Func {
    const ALL: [Self; 19] = [
        Self::And,
        Self::Call,
        Self::Eq,
        Self::Ge,
        Self::Gt,
        Self::Html,
        Self::Index,
        Self::Js,
        Self::Le,
        Self::Len,
        Self::Lt,
        Self::Ne,
        Self::Not,
        Self::Or,
        Self::Print,
        Self::Printf,
        Self::Println,
        Self::Slice,
        Self::Urlquery,
    ];

    fn lookup(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Self::And => "and",
            Self::Call => "call",
            Self::Eq => "eq",
            Self::Ge => "ge",
            Self::Gt => "gt",
            Self::Html => "html",
            Self::Index => "index",
            Self::Js => "js",
            Self::Le => "le",
            Self::Len => "len",
            Self::Lt => "lt",
            Self::Ne => "ne",
            Self::Not => "not",
            Self::Or => "or",
            Self::Print => "print",
            Self::Printf => "printf",
            Self::Println => "println",
            Self::Slice => "slice",
            Self::Urlquery => "urlquery",
        }
    }

    /// The minimum and (if fixed) maximum number of arguments.
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Self::And
            | Self::Or
            | Self::Call
            | Self::Eq
            | Self::Index
            | Self::Slice
            | Self::Printf => (1, None),
            Self::Not | Self::Len => (1, Some(1)),
            Self::Ne | Self::Lt | Self::Le | Self::Gt | Self::Ge => (2, Some(2)),
            Self::Print | Self::Println | Self::Html | Self::Js | Self::Urlquery => (0, None),
        }
    }
}

#[derive(Debug)]
enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.a.b`: field names without dots.
    Field(Vec<String>),
    /// `$x.a.b`: the variable name (with `$`) and field names.
    Var(String, Vec<String>),
    Func(Func),
    Pipe(Box<Pipe>),
    /// `(pipeline).a.b`.
    Chain(Box<Pipe>, Vec<String>),
}

#[derive(Debug)]
struct Cmd {
    line: usize,
    args: Vec<Arg>,
}

#[derive(Debug)]
struct Pipe {
    line: usize,
    decl: Vec<String>,
    is_assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Pipe),
    /// `if` or `with`, with any `else if`/`else with` branches flattened.
    Cond {
        with: bool,
        branches: Vec<(Pipe, Vec<Node>)>,
        else_list: Option<Vec<Node>>,
    },
    Range {
        pipe: Pipe,
        list: Vec<Node>,
        else_list: Option<Vec<Node>>,
    },
    Break,
    Continue,
}

/// How a list of nodes ended.
enum Stop {
    Eof(usize),
    End(usize),
    /// `{{else}}`, possibly followed by `if` or `with`.
    Else(usize, Option<Keyword>),
}

/// What an action parsed to.
enum Parsed {
    Node(Node),
    End(usize),
    Else(usize, Option<Keyword>),
}

/// Renders a field chain such as `.a.b`.
fn fields_text(fields: &[String]) -> String {
    fields.iter().fold(String::new(), |mut acc, f| {
        acc.push('.');
        acc.push_str(f);
        acc
    })
}

/// A short source-like rendering of an argument, for error messages.
fn arg_text(arg: &Arg) -> String {
    match arg {
        Arg::Dot => ".".to_owned(),
        Arg::Nil => "nil".to_owned(),
        Arg::Bool(b) => b.to_string(),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => format_float(*f, 'g', None),
        Arg::Str(s) => go_quote(s),
        Arg::Field(fields) => fields_text(fields),
        Arg::Var(name, fields) => format!("{name}{}", fields_text(fields)),
        Arg::Func(f) => f.name().to_owned(),
        Arg::Pipe(_) => "(...)".to_owned(),
        Arg::Chain(_, fields) => format!("(...){}", fields_text(fields)),
    }
}

/// Describes a token for "unexpected" errors, like Go's item formatting.
fn describe(tok: &Tok) -> String {
    let quoted = |s: &str| {
        if s.chars().count() > 10 {
            let head: String = s.chars().take(10).collect();
            format!("{}...", go_quote(&head))
        } else {
            go_quote(s)
        }
    };
    match tok {
        Tok::Eof => "EOF".to_owned(),
        Tok::Error(msg) => msg.clone(),
        Tok::Keyword(k) => format!("<{}>", k.name()),
        Tok::Text(s) | Tok::Ident(s) | Tok::Number(s) | Tok::CharConst(s) | Tok::Variable(s) => {
            quoted(s)
        }
        Tok::Str(s) => quoted(&go_quote(s)),
        Tok::Field(s) => quoted(&format!(".{s}")),
        Tok::Bool(b) => quoted(&b.to_string()),
        Tok::Char(c) => quoted(&c.to_string()),
        Tok::LeftDelim => quoted("{{"),
        Tok::RightDelim => quoted("}}"),
        Tok::Space => quoted(" "),
        Tok::Nil => "<nil>".to_owned(),
        Tok::Dot => quoted("."),
        Tok::LeftParen => quoted("("),
        Tok::RightParen => quoted(")"),
        Tok::Pipe => quoted("|"),
        Tok::Assign => quoted("="),
        Tok::Declare => quoted(":="),
    }
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
}

impl Parser {
    fn new(tokens: Vec<Token>) -> Self {
        Self {
            tokens,
            pos: 0,
            vars: vec!["$".to_owned()],
            range_depth: 0,
            depth: 0,
        }
    }

    fn error<T>(line: usize, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("template: :{line}: {msg}"))
    }

    fn token(&self, index: usize) -> Token {
        self.tokens.get(index).cloned().unwrap_or_else(|| Token {
            tok: Tok::Eof,
            line: self.tokens.last().map_or(1, |t| t.line),
        })
    }

    fn next(&mut self) -> Token {
        let t = self.token(self.pos);
        self.pos += 1;
        t
    }

    fn backup(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn peek(&self) -> Token {
        self.token(self.pos)
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek().tok, Tok::Space) {
            self.pos += 1;
        }
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_spaces();
        self.next()
    }

    fn peek_non_space(&mut self) -> Token {
        self.skip_spaces();
        self.peek()
    }

    fn enter(&mut self, line: usize) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Self::error(
                line,
                format!("nesting is deeper than the limit of {MAX_DEPTH} levels"),
            );
        }
        Ok(())
    }

    fn parse(mut self) -> Result<Vec<Node>, String> {
        let (list, stop) = self.item_list()?;
        match stop {
            Stop::Eof(_) => Ok(list),
            Stop::End(line) => Self::error(line, "unexpected {{end}}"),
            Stop::Else(line, _) => Self::error(line, "unexpected {{else}}"),
        }
    }

    fn item_list(&mut self) -> Result<(Vec<Node>, Stop), String> {
        let mut list = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Text(s) => list.push(Node::Text(s)),
                Tok::LeftDelim => match self.action()? {
                    Parsed::Node(node) => list.push(node),
                    Parsed::End(line) => return Ok((list, Stop::End(line))),
                    Parsed::Else(line, kw) => return Ok((list, Stop::Else(line, kw))),
                },
                Tok::Eof => return Ok((list, Stop::Eof(t.line))),
                Tok::Error(msg) => return Self::error(t.line, msg),
                other => {
                    return Self::error(t.line, format!("unexpected {} in input", describe(&other)))
                }
            }
        }
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), String> {
        let t = self.next_non_space();
        match t.tok {
            Tok::RightDelim => Ok(()),
            Tok::Error(msg) => Self::error(t.line, msg),
            other => Self::error(
                t.line,
                format!("unexpected {} in {context}", describe(&other)),
            ),
        }
    }

    fn action(&mut self) -> Result<Parsed, String> {
        let t = self.next_non_space();
        let line = t.line;
        let node = match t.tok {
            Tok::Keyword(Keyword::Else) => {
                if let Tok::Keyword(kw @ (Keyword::If | Keyword::With)) = self.peek_non_space().tok
                {
                    self.next();
                    return Ok(Parsed::Else(line, Some(kw)));
                }
                self.expect_right_delim("else")?;
                return Ok(Parsed::Else(line, None));
            }
            Tok::Keyword(Keyword::End) => {
                self.expect_right_delim("end")?;
                return Ok(Parsed::End(line));
            }
            Tok::Keyword(Keyword::If) => self.cond_control(false, line)?,
            Tok::Keyword(Keyword::With) => self.cond_control(true, line)?,
            Tok::Keyword(Keyword::Range) => self.range_control(line)?,
            Tok::Keyword(kw @ (Keyword::Break | Keyword::Continue)) => {
                let name = kw.name();
                if self.range_depth == 0 {
                    return Self::error(line, format!("{{{{{name}}}}} outside {{{{range}}}}"));
                }
                self.expect_right_delim(&format!("{{{{{name}}}}}"))?;
                if kw == Keyword::Break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            Tok::Keyword(kw @ (Keyword::Define | Keyword::Template | Keyword::Block)) => {
                return Self::error(
                    line,
                    format!(
                        "{{{{{}}}}} is not supported by this template engine",
                        kw.name()
                    ),
                );
            }
            _ => {
                self.backup();
                Node::Action(self.pipeline("command", false)?)
            }
        };
        Ok(Parsed::Node(node))
    }

    /// Parses the list after `{{else}}` up to the closing `{{end}}`.
    fn else_tail(&mut self) -> Result<Vec<Node>, String> {
        let (list, stop) = self.item_list()?;
        match stop {
            Stop::End(_) => Ok(list),
            Stop::Else(line, _) => Self::error(line, "expected end; found {{else}}"),
            Stop::Eof(line) => Self::error(line, "unexpected EOF"),
        }
    }

    fn cond_control(&mut self, with: bool, line: usize) -> Result<Node, String> {
        self.enter(line)?;
        let mark = self.vars.len();
        let (context, chain) = if with {
            ("with", Keyword::With)
        } else {
            ("if", Keyword::If)
        };
        let mut branches = Vec::new();
        let mut else_list = None;
        loop {
            let pipe = self.pipeline(context, false)?;
            let (list, stop) = self.item_list()?;
            branches.push((pipe, list));
            match stop {
                Stop::End(_) => break,
                Stop::Eof(l) => return Self::error(l, "unexpected EOF"),
                Stop::Else(_, Some(kw)) if kw == chain => {}
                Stop::Else(l, Some(kw)) => {
                    return Self::error(
                        l,
                        format!("unexpected {{{{else {}}}}} in {{{{{context}}}}}", kw.name()),
                    )
                }
                Stop::Else(_, None) => {
                    else_list = Some(self.else_tail()?);
                    break;
                }
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Node::Cond {
            with,
            branches,
            else_list,
        })
    }

    fn range_control(&mut self, line: usize) -> Result<Node, String> {
        self.enter(line)?;
        let mark = self.vars.len();
        let pipe = self.pipeline("range", false)?;
        self.range_depth += 1;
        let (list, stop) = self.item_list()?;
        self.range_depth -= 1;
        let else_list = match stop {
            Stop::End(_) => None,
            Stop::Eof(l) => return Self::error(l, "unexpected EOF"),
            Stop::Else(l, Some(kw)) => {
                return Self::error(
                    l,
                    format!("unexpected {{{{else {}}}}} in {{{{range}}}}", kw.name()),
                )
            }
            Stop::Else(_, None) => Some(self.else_tail()?),
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Node::Range {
            pipe,
            list,
            else_list,
        })
    }

    /// Parses optional declarations (`$x :=`, `$x =`, `$k, $v :=`).
    fn declarations(&mut self, context: &str, line: usize) -> Result<(Vec<String>, bool), String> {
        let mut decl = Vec::new();
        loop {
            let save = self.pos;
            let Tok::Variable(name) = self.peek_non_space().tok else {
                break;
            };
            self.next();
            match self.peek_non_space().tok {
                // As in Go, the variable is in scope from here on, even for `=` and in
                // its own pipeline: an undeclared or not yet set variable is an
                // execution error, so it passes in a branch that never runs.
                Tok::Assign | Tok::Declare => {
                    let is_assign = matches!(self.next().tok, Tok::Assign);
                    self.vars.push(name.clone());
                    decl.push(name);
                    return Ok((decl, is_assign));
                }
                Tok::Char(',') => {
                    self.next();
                    self.vars.push(name.clone());
                    decl.push(name);
                    if context == "range" && decl.len() < 2 {
                        if matches!(
                            self.peek_non_space().tok,
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen
                        ) {
                            continue;
                        }
                        return Self::error(line, "range can only initialize variables");
                    }
                    return Self::error(line, format!("too many declarations in {context}"));
                }
                _ => {
                    self.pos = save;
                    break;
                }
            }
        }
        Ok((decl, false))
    }

    fn pipeline(&mut self, context: &str, in_paren: bool) -> Result<Pipe, String> {
        let line = self.peek_non_space().line;
        let (decl, is_assign) = self.declarations(context, line)?;
        let mut cmds = Vec::new();
        loop {
            let t = self.next_non_space();
            match t.tok {
                Tok::RightDelim | Tok::RightParen => {
                    if matches!(t.tok, Tok::RightDelim) == in_paren {
                        let msg = if in_paren {
                            "unclosed left paren"
                        } else {
                            "unexpected right paren"
                        };
                        return Self::error(t.line, msg);
                    }
                    // Go accepts a trailing `|` before the delimiter.
                    break;
                }
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Number(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    cmds.push(self.command()?);
                }
                Tok::Error(msg) => return Self::error(t.line, msg),
                other => {
                    return Self::error(
                        t.line,
                        format!("unexpected {} in {context}", describe(&other)),
                    )
                }
            }
        }
        Self::check_pipeline(&cmds, context, line)?;
        Ok(Pipe {
            line,
            decl,
            is_assign,
            cmds,
        })
    }

    fn check_pipeline(cmds: &[Cmd], context: &str, line: usize) -> Result<(), String> {
        if cmds.is_empty() {
            return Self::error(line, format!("missing value for {context}"));
        }
        // `nil` as the first command is an execution error in Go, not a parse error.
        for (i, cmd) in cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(
                    Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Int(_) | Arg::Float(_) | Arg::Str(_)
                )
            ) {
                return Self::error(
                    cmd.line,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(())
    }

    /// Parses one command, up to and including a `|` that ends it.
    fn command(&mut self) -> Result<Cmd, String> {
        let line = self.peek_non_space().line;
        let mut args = Vec::new();
        loop {
            self.skip_spaces();
            if let Some(arg) = self.operand()? {
                args.push(arg);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => {}
                Tok::Error(msg) => return Self::error(t.line, msg),
                Tok::RightDelim | Tok::RightParen => {
                    self.backup();
                    break;
                }
                Tok::Pipe => break,
                other => {
                    return Self::error(
                        t.line,
                        format!("unexpected {} in operand", describe(&other)),
                    )
                }
            }
        }
        if args.is_empty() {
            return Self::error(line, "empty command");
        }
        Ok(Cmd { line, args })
    }

    fn operand(&mut self) -> Result<Option<Arg>, String> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let line = self.peek().line;
        let mut fields = Vec::new();
        while let Tok::Field(f) = self.peek().tok {
            self.next();
            fields.push(f);
        }
        if fields.is_empty() {
            return Ok(Some(node));
        }
        match node {
            Arg::Field(mut v) => {
                v.extend(fields);
                Ok(Some(Arg::Field(v)))
            }
            Arg::Var(name, mut v) => {
                v.extend(fields);
                Ok(Some(Arg::Var(name, v)))
            }
            Arg::Pipe(p) => Ok(Some(Arg::Chain(p, fields))),
            Arg::Func(f) => Self::error(
                line,
                format!(
                    "unexpected . after function {}; put the call in parentheses",
                    f.name()
                ),
            ),
            other => Self::error(
                line,
                format!("unexpected . after term {}", go_quote(&arg_text(&other))),
            ),
        }
    }

    fn term(&mut self) -> Result<Option<Arg>, String> {
        let t = self.next_non_space();
        let arg = match t.tok {
            Tok::Error(msg) => return Self::error(t.line, msg),
            Tok::Ident(name) => match Func::lookup(&name) {
                Some(f) => Arg::Func(f),
                None => {
                    return Self::error(t.line, format!("function {} not defined", go_quote(&name)))
                }
            },
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Self::error(t.line, format!("undefined variable {}", go_quote(&name)));
                }
                Arg::Var(name, Vec::new())
            }
            Tok::Field(name) => Arg::Field(vec![name]),
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Number(text) => match parse_number(&text) {
                Ok(arg) => arg,
                Err(msg) => return Self::error(t.line, msg),
            },
            Tok::CharConst(text) => match parse_char_const(&text) {
                Ok(value) => Arg::Int(value),
                Err(msg) => return Self::error(t.line, msg),
            },
            Tok::LeftParen => {
                self.enter(t.line)?;
                let pipe = self.pipeline("parenthesized pipeline", true)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(pipe))
            }
            Tok::Str(s) => Arg::Str(s),
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// A value during execution. `Nil` stands for Go's "no value" (a missing map
/// key or the `nil` literal); it prints as `<no value>` from an action and as
/// `<nil>` through the `fmt`-style functions.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    /// A byte, as Go's `index` yields from a string (`uint8`).
    Uint8(u8),
    Float(f64),
    Str(String),
    /// The root map (dot at the start of execution).
    Map,
}

type Data = BTreeMap<String, String>;

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Uint8(_) => "uint8",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Map => "map[string]string",
    }
}

fn truth(v: &Value, data: &Data) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Uint8(b) => *b != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Map => !data.is_empty(),
    }
}

/// Formats a value as Go's `%v` would (used for messages).
fn value_text(v: &Value, data: &Data) -> String {
    let mut out = String::new();
    // Formatting with %v cannot fail.
    let _ = fmt_value(&mut out, v, 'v', &Spec::default(), data);
    out
}

// ---------------------------------------------------------------------------
// Execution
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The iteration of a `range`.
enum RangeIter<'d> {
    Map(std::collections::btree_map::Iter<'d, String, String>),
    Int(std::ops::Range<i64>),
    Uint8(std::ops::Range<u8>),
}

impl Iterator for RangeIter<'_> {
    type Item = (Value, Value);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Map(it) => it
                .next()
                .map(|(k, v)| (Value::Str(k.clone()), Value::Str(v.clone()))),
            Self::Int(it) => it.next().map(|i| (Value::Int(i), Value::Int(i))),
            Self::Uint8(it) => it.next().map(|b| (Value::Uint8(b), Value::Uint8(b))),
        }
    }
}

struct Exec<'d> {
    data: &'d Data,
    vars: Vec<(String, Value)>,
    out: String,
    line: usize,
    /// `range` iterations run so far, bounded by [`MAX_ITERATIONS`].
    iterations: u64,
}

impl<'d> Exec<'d> {
    fn fail<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("template: :{}: {msg}", self.line))
    }

    fn walk_list(&mut self, list: &[Node], dot: &Value) -> Result<Flow, String> {
        for node in list {
            let flow = match node {
                Node::Text(text) => {
                    self.out.push_str(text);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let value = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        if value == Value::Nil {
                            self.out.push_str("<no value>");
                        } else {
                            fmt_value(&mut self.out, &value, 'v', &Spec::default(), self.data)
                                .or_else(|msg| self.fail(msg))?;
                        }
                    }
                    Flow::Normal
                }
                Node::Cond {
                    with,
                    branches,
                    else_list,
                } => self.walk_cond(*with, branches, else_list.as_deref(), dot)?,
                Node::Range {
                    pipe,
                    list,
                    else_list,
                } => self.walk_range(pipe, list, else_list.as_deref(), dot)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if self.out.len() > MAX_OUTPUT {
                return self.fail(format!("output exceeds {MAX_OUTPUT} bytes"));
            }
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_cond(
        &mut self,
        with: bool,
        branches: &[(Pipe, Vec<Node>)],
        else_list: Option<&[Node]>,
        dot: &Value,
    ) -> Result<Flow, String> {
        let mark = self.vars.len();
        let mut flow = None;
        for (pipe, list) in branches {
            let value = self.eval_pipeline(dot, pipe)?;
            if truth(&value, self.data) {
                let inner = if with { &value } else { dot };
                flow = Some(self.walk_list(list, inner)?);
                break;
            }
        }
        let flow = match (flow, else_list) {
            (Some(flow), _) => flow,
            (None, Some(list)) => self.walk_list(list, dot)?,
            (None, None) => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(
        &mut self,
        pipe: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
        dot: &Value,
    ) -> Result<Flow, String> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, pipe)?;
        let iter_mark = self.vars.len();
        let data: &'d Data = self.data;
        let items = match &value {
            Value::Map => RangeIter::Map(data.iter()),
            Value::Int(n) => {
                if pipe.decl.len() > 1 {
                    return self.fail(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                RangeIter::Int(0..*n)
            }
            Value::Uint8(n) => {
                if pipe.decl.len() > 1 {
                    return self.fail(format!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                RangeIter::Uint8(0..*n)
            }
            Value::Nil => RangeIter::Int(0..0),
            other => {
                return self.fail(format!(
                    "range can't iterate over {}",
                    value_text(other, data)
                ))
            }
        };
        let mut ran = false;
        for (key, elem) in items {
            ran = true;
            self.iterations += 1;
            if self.iterations > MAX_ITERATIONS {
                return self.fail(format!("range ran more than {MAX_ITERATIONS} iterations"));
            }
            self.set_range_vars(pipe, key, elem.clone())?;
            let flow = self.walk_list(list, &elem)?;
            self.vars.truncate(iter_mark);
            if flow == Flow::Break {
                break;
            }
        }
        let flow = match else_list {
            Some(list) if !ran => self.walk_list(list, dot)?,
            _ => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn set_range_vars(&mut self, pipe: &Pipe, key: Value, elem: Value) -> Result<(), String> {
        match (pipe.decl.as_slice(), pipe.is_assign) {
            ([], _) => {}
            ([v], true) => self.set_var(v, elem)?,
            ([k, v, ..], true) => {
                self.set_var(k, key)?;
                self.set_var(v, elem)?;
            }
            (decl, false) => {
                self.set_top_var(1, elem);
                if decl.len() > 1 {
                    self.set_top_var(2, key);
                }
            }
        }
        Ok(())
    }

    fn set_top_var(&mut self, n: usize, value: Value) {
        let len = self.vars.len();
        if let Some(slot) = len.checked_sub(n).and_then(|i| self.vars.get_mut(i)) {
            slot.1 = value;
        }
    }

    fn set_var(&mut self, name: &str, value: Value) -> Result<(), String> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    fn var_value(&self, name: &str) -> Result<Value, String> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => Ok(value.clone()),
            None => self.fail(format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, String> {
        self.line = pipe.line;
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, first: &Arg, rest: &[Arg], fin: Option<&Value>) -> Result<(), String> {
        if !rest.is_empty() || fin.is_some() {
            return self.fail(format!(
                "can't give argument to non-function {}",
                arg_text(first)
            ));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &Cmd,
        fin: Option<Value>,
    ) -> Result<Value, String> {
        self.line = cmd.line;
        let Some((first, rest)) = cmd.args.split_first() else {
            return self.fail("empty command");
        };
        let has_args = !rest.is_empty() || fin.is_some();
        match first {
            Arg::Field(fields) => self.eval_fields(dot.clone(), fields, has_args),
            Arg::Chain(pipe, fields) => {
                let receiver = self.eval_pipeline(dot, pipe)?;
                self.eval_fields(receiver, fields, has_args)
            }
            Arg::Var(name, fields) => {
                let value = self.var_value(name)?;
                if fields.is_empty() {
                    self.not_a_function(first, rest, fin.as_ref())?;
                    Ok(value)
                } else {
                    self.eval_fields(value, fields, has_args)
                }
            }
            Arg::Func(f) => self.call_func(dot, *f, rest, fin),
            Arg::Pipe(pipe) => {
                self.not_a_function(first, rest, fin.as_ref())?;
                self.eval_pipeline(dot, pipe)
            }
            Arg::Nil => self.fail("nil is not a command"),
            Arg::Dot | Arg::Bool(_) | Arg::Int(_) | Arg::Float(_) | Arg::Str(_) => {
                self.not_a_function(first, rest, fin.as_ref())?;
                self.eval_arg(dot, first)
            }
        }
    }

    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> Result<Value, String> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Nil),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Int(i) => Ok(Value::Int(*i)),
            Arg::Float(f) => Ok(Value::Float(*f)),
            Arg::Str(s) => Ok(Value::Str(s.clone())),
            Arg::Field(fields) => self.eval_fields(dot.clone(), fields, false),
            Arg::Var(name, fields) => {
                let value = self.var_value(name)?;
                self.eval_fields(value, fields, false)
            }
            Arg::Func(f) => self.call_func(dot, *f, &[], None),
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe),
            Arg::Chain(pipe, fields) => {
                let receiver = self.eval_pipeline(dot, pipe)?;
                self.eval_fields(receiver, fields, false)
            }
        }
    }

    /// Walks a chain of field names; `has_args` applies to the last one.
    fn eval_fields(
        &self,
        mut receiver: Value,
        fields: &[String],
        has_args: bool,
    ) -> Result<Value, String> {
        let count = fields.len();
        for (i, name) in fields.iter().enumerate() {
            receiver = match receiver {
                Value::Nil => Value::Nil,
                Value::Map => {
                    if has_args && i + 1 == count {
                        return self.fail(format!("{name} is not a method but has arguments"));
                    }
                    self.data
                        .get(name)
                        .map_or(Value::Nil, |v| Value::Str(v.clone()))
                }
                other => {
                    return self.fail(format!(
                        "can't evaluate field {name} in type {}",
                        type_name(&other)
                    ))
                }
            };
        }
        Ok(receiver)
    }

    fn call_func(
        &mut self,
        dot: &Value,
        f: Func,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value, String> {
        let count = args.len() + usize::from(fin.is_some());
        let (min, max) = f.arity();
        if count < min || max.is_some_and(|m| count != m) {
            let want = match max {
                Some(m) => m.to_string(),
                None => format!("at least {min}"),
            };
            return self.fail(format!(
                "wrong number of args for {}: want {want} got {count}",
                f.name()
            ));
        }
        if matches!(f, Func::And | Func::Or) {
            // These short-circuit: later arguments are not evaluated.
            let want = f == Func::Or;
            let mut last = Value::Nil;
            for arg in args {
                let value = self.eval_arg(dot, arg)?;
                if truth(&value, self.data) == want {
                    return Ok(value);
                }
                last = value;
            }
            return Ok(fin.unwrap_or(last));
        }
        let mut values = Vec::with_capacity(count);
        for arg in args {
            values.push(self.eval_arg(dot, arg)?);
        }
        values.extend(fin);
        let callee = args.first().map(arg_text);
        apply_func(f, &values, callee.as_deref(), self.data)
            .or_else(|msg| self.fail(format!("error calling {}: {msg}", f.name())))
    }
}

// ---------------------------------------------------------------------------
// Builtin functions
// ---------------------------------------------------------------------------

fn apply_func(
    f: Func,
    values: &[Value],
    callee: Option<&str>,
    data: &Data,
) -> Result<Value, String> {
    let Some((first, rest)) = values.split_first() else {
        return match f {
            Func::Print | Func::Html | Func::Js | Func::Urlquery => Ok(Value::Str(String::new())),
            Func::Println => Ok(Value::Str("\n".to_owned())),
            _ => Err("missing argument".to_owned()),
        };
    };
    let second = rest.first().unwrap_or(&Value::Nil);
    Ok(match f {
        // Handled with short-circuiting by the caller.
        Func::And | Func::Or => first.clone(),
        Func::Not => Value::Bool(!truth(first, data)),
        Func::Len => Value::Int(length(first, data)?),
        Func::Eq => Value::Bool(equal(first, rest)?),
        Func::Ne => Value::Bool(!equal(first, rest)?),
        Func::Lt => Value::Bool(less(first, second)?),
        Func::Le => Value::Bool(less(first, second)? || equal(first, rest)?),
        Func::Gt => Value::Bool(!(less(first, second)? || equal(first, rest)?)),
        Func::Ge => Value::Bool(!less(first, second)?),
        Func::Index => index(first, rest, data)?,
        Func::Slice => slice(first, rest)?,
        Func::Call => {
            return Err(match (first, callee) {
                (Value::Nil, _) => "call of nil".to_owned(),
                (other, Some(name)) => {
                    format!("non-function {name} of type {}", type_name(other))
                }
                (other, None) => format!("non-function of type {}", type_name(other)),
            })
        }
        Func::Print => Value::Str(sprint(values, data)?),
        Func::Println => Value::Str(sprintln(values, data)?),
        Func::Printf => match first {
            Value::Str(format) => Value::Str(sprintf(format, rest, data)?),
            other => {
                return Err(format!(
                    "the format must be a string, not {}",
                    type_name(other)
                ))
            }
        },
        Func::Html => Value::Str(html_escape(&escaper_text(values, data)?)),
        Func::Js => Value::Str(js_escape(&escaper_text(values, data)?)),
        Func::Urlquery => Value::Str(query_escape(&escaper_text(values, data)?)),
    })
}

fn length(v: &Value, data: &Data) -> Result<i64, String> {
    let n = match v {
        Value::Str(s) => s.len(),
        Value::Map => data.len(),
        Value::Nil => return Err("len of untyped nil".to_owned()),
        other => return Err(format!("len of type {}", type_name(other))),
    };
    i64::try_from(n).map_err(|_| "length too large".to_owned())
}

fn is_basic(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(_) | Value::Int(_) | Value::Uint8(_) | Value::Float(_) | Value::Str(_)
    )
}

fn incompatible(a: &Value, b: &Value) -> String {
    format!(
        "incompatible types for comparison: {} and {}",
        type_name(a),
        type_name(b)
    )
}

/// Go's `eq`: whether `a` equals any of `others`.
#[allow(
    clippy::float_cmp,
    reason = "Go's eq compares floating-point values exactly"
)]
fn equal(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".to_owned());
    }
    for b in others {
        let same = match (a, b) {
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            // Go compares signed and unsigned integers by value.
            (Value::Int(x), Value::Uint8(y)) | (Value::Uint8(y), Value::Int(x)) => {
                *x == i64::from(*y)
            }
            (Value::Uint8(x), Value::Uint8(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Str(x), Value::Str(y)) => x == y,
            (Value::Nil, Value::Nil) => true,
            (Value::Map, Value::Map) => {
                return Err("non-comparable type map[string]string".to_owned())
            }
            (Value::Nil, _) | (_, Value::Nil) => false,
            _ => return Err(incompatible(a, b)),
        };
        if same {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
fn less(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Int(x), Value::Uint8(y)) => Ok(*x < i64::from(*y)),
        (Value::Uint8(x), Value::Int(y)) => Ok(i64::from(*x) < *y),
        (Value::Uint8(x), Value::Uint8(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ if !is_basic(a) || !is_basic(b) || matches!((a, b), (Value::Bool(_), Value::Bool(_))) => {
            Err("invalid type for comparison".to_owned())
        }
        _ => Err(incompatible(a, b)),
    }
}

/// Converts an index argument, checking it against `cap`.
fn index_arg(v: &Value, cap: usize) -> Result<usize, String> {
    if let Value::Uint8(b) = v {
        let i = usize::from(*b);
        return if i <= cap {
            Ok(i)
        } else {
            Err(format!("index out of range: {b}"))
        };
    }
    match v {
        Value::Int(x) => match usize::try_from(*x) {
            Ok(i) if i <= cap => Ok(i),
            _ => Err(format!("index out of range: {x}")),
        },
        Value::Nil => Err("cannot index slice/array with nil".to_owned()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            type_name(other)
        )),
    }
}

fn index(item: &Value, indexes: &[Value], data: &Data) -> Result<Value, String> {
    if *item == Value::Nil {
        return Err("index of untyped nil".to_owned());
    }
    let mut current = item.clone();
    for idx in indexes {
        current = match &current {
            Value::Str(s) => {
                let i = index_arg(idx, s.len())?;
                match s.as_bytes().get(i) {
                    Some(b) => Value::Uint8(*b),
                    None => return Err(format!("index out of range: {i}")),
                }
            }
            Value::Map => match idx {
                Value::Str(key) => Value::Str(data.get(key).cloned().unwrap_or_default()),
                Value::Nil => return Err("value is nil; should be of type string".to_owned()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        type_name(other)
                    ))
                }
            },
            other => return Err(format!("can't index item of type {}", type_name(other))),
        };
    }
    Ok(current)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    let s = match item {
        Value::Str(s) => s,
        Value::Nil => return Err("slice of untyped nil".to_owned()),
        other => return Err(format!("can't slice item of type {}", type_name(other))),
    };
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    if indexes.len() == 3 {
        return Err("cannot 3-index slice a string".to_owned());
    }
    let mut bounds = [0, s.len()];
    for (bound, idx) in bounds.iter_mut().zip(indexes) {
        *bound = index_arg(idx, s.len())?;
    }
    let [low, high] = bounds;
    if low > high {
        return Err(format!("invalid slice index: {low} > {high}"));
    }
    s.get(low..high)
        .map(|part| Value::Str(part.to_owned()))
        .ok_or_else(|| "slicing a string inside a UTF-8 character is not supported".to_owned())
}

/// The text the escaping functions work on, like Go's `evalArgs`.
fn escaper_text(values: &[Value], data: &Data) -> Result<String, String> {
    if let [Value::Str(s)] = values {
        return Ok(s.clone());
    }
    let printable: Vec<Value> = values
        .iter()
        .map(|v| match v {
            Value::Nil => Value::Str("<no value>".to_owned()),
            other => other.clone(),
        })
        .collect();
    sprint(&printable, data)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Quoting
// ---------------------------------------------------------------------------

/// Go's `unicode.IsPrint` (and `strconv.IsPrint`): letters, marks, numbers,
/// punctuation, symbols and the ASCII space. Go 1.26 judges these by Unicode 15.0, so
/// the table is pinned to that version (`unicode-general-category` 0.6.0); unassigned
/// code points, including those assigned only by later versions, are not printable.
fn is_print(c: char) -> bool {
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

fn push_escaped_char(out: &mut String, c: char, quote: char, ascii_only: bool) {
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
fn quote_with(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped_char(&mut out, c, '"', ascii_only);
    }
    out.push('"');
    out
}

fn go_quote(s: &str) -> String {
    quote_with(s, false)
}

/// Go's `strconv.QuoteRune` (or `QuoteRuneToASCII`).
fn quote_rune(c: char, ascii_only: bool) -> String {
    let mut out = String::from("'");
    push_escaped_char(&mut out, c, '\'', ascii_only);
    out.push('\'');
    out
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && c != '\u{7F}' && (c >= ' ' || c == '\t'))
}

// ---------------------------------------------------------------------------
// fmt
// ---------------------------------------------------------------------------

/// The flags, width and precision of one formatting verb.
#[derive(Debug, Clone, Copy, Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "mirrors the independent flags of a Go formatting verb"
)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

fn write_padding(out: &mut String, n: usize, zero: bool) {
    let fill = if zero { '0' } else { ' ' };
    out.extend(std::iter::repeat_n(fill, n));
}

/// Pads `s` to the width, on the left unless the minus flag is set.
fn pad(out: &mut String, s: &str, spec: &Spec) {
    let width = spec.wid.unwrap_or(0);
    let fill = width.saturating_sub(s.chars().count());
    if spec.minus {
        out.push_str(s);
        write_padding(out, fill, spec.zero);
    } else {
        write_padding(out, fill, spec.zero);
        out.push_str(s);
    }
}

fn pad_spaces(out: &mut String, s: &str, spec: &Spec) {
    pad(
        out,
        s,
        &Spec {
            zero: false,
            ..*spec
        },
    );
}

fn bad_verb(
    out: &mut String,
    verb: char,
    v: &Value,
    spec: &Spec,
    data: &Data,
) -> Result<(), String> {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if *v == Value::Nil {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        fmt_value(out, v, 'v', spec, data)?;
    }
    out.push(')');
    Ok(())
}

/// Formats one value with one verb, as Go's `fmt` does.
fn fmt_value(
    out: &mut String,
    v: &Value,
    verb: char,
    spec: &Spec,
    data: &Data,
) -> Result<(), String> {
    match (verb, v) {
        ('T' | 'v', Value::Nil) => pad(out, "<nil>", spec),
        ('T', _) => fmt_s(out, type_name(v), spec),
        ('p', Value::Map) => return Err("the %p verb is not supported".to_owned()),
        ('t' | 'v', Value::Bool(b)) => pad(out, if *b { "true" } else { "false" }, spec),
        (_, Value::Int(i)) if verb != 'p' => fmt_int(out, *i, verb, spec, data)?,
        ('v', Value::Uint8(b)) if spec.sharp_v => {
            // Go prints an unsigned integer in hexadecimal under %#v.
            let hex = Spec {
                sharp: true,
                ..*spec
            };
            fmt_integer(out, i64::from(*b), 16, false, 'v', &hex);
        }
        (_, Value::Uint8(b)) if verb != 'p' => match verb {
            'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X' | 'c' | 'q' | 'U' => {
                fmt_int(out, i64::from(*b), verb, spec, data)?;
            }
            _ => bad_verb(out, verb, v, spec, data)?,
        },
        (_, Value::Float(f)) if verb != 'p' => fmt_float(out, *f, verb, spec, data)?,
        (_, Value::Str(s)) if verb != 'p' => fmt_str(out, s, verb, spec, data)?,
        (_, Value::Map) => fmt_map(out, verb, spec, data)?,
        _ => bad_verb(out, verb, v, spec, data)?,
    }
    Ok(())
}

fn fmt_s(out: &mut String, s: &str, spec: &Spec) {
    match spec.prec {
        Some(p) => {
            let truncated: String = s.chars().take(p).collect();
            pad(out, &truncated, spec);
        }
        None => pad(out, s, spec),
    }
}

fn fmt_q(out: &mut String, s: &str, spec: &Spec) {
    let truncated: String = match spec.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_owned(),
    };
    let quoted = if spec.sharp && can_backquote(&truncated) {
        format!("`{truncated}`")
    } else {
        quote_with(&truncated, spec.plus)
    };
    pad(out, &quoted, spec);
}

/// Hexadecimal encoding of a string's bytes (`%x`, `%X`).
fn fmt_sx(out: &mut String, s: &str, upper: bool, spec: &Spec) {
    let bytes = s.as_bytes();
    let length = spec.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
    let mut width = 2 * length;
    if width == 0 {
        write_padding(out, spec.wid.unwrap_or(0), spec.zero);
        return;
    }
    if spec.space {
        if spec.sharp {
            width *= 2;
        }
        width += length - 1;
    } else if spec.sharp {
        width += 2;
    }
    let fill = spec.wid.unwrap_or(0).saturating_sub(width);
    if !spec.minus {
        write_padding(out, fill, spec.zero);
    }
    let prefix = if upper { "0X" } else { "0x" };
    if spec.sharp {
        out.push_str(prefix);
    }
    for (i, b) in bytes.iter().take(length).enumerate() {
        if spec.space && i > 0 {
            out.push(' ');
            if spec.sharp {
                out.push_str(prefix);
            }
        }
        let _ = if upper {
            write!(out, "{b:02X}")
        } else {
            write!(out, "{b:02x}")
        };
    }
    if spec.minus {
        write_padding(out, fill, spec.zero);
    }
}

fn fmt_str(out: &mut String, s: &str, verb: char, spec: &Spec, data: &Data) -> Result<(), String> {
    match verb {
        'v' if spec.sharp_v => fmt_q(out, s, spec),
        'v' | 's' => fmt_s(out, s, spec),
        'x' => fmt_sx(out, s, false, spec),
        'X' => fmt_sx(out, s, true, spec),
        'q' => fmt_q(out, s, spec),
        _ => bad_verb(out, verb, &Value::Str(s.to_owned()), spec, data)?,
    }
    Ok(())
}

fn fmt_map(out: &mut String, verb: char, spec: &Spec, data: &Data) -> Result<(), String> {
    out.push_str(if spec.sharp_v {
        "map[string]string{"
    } else {
        "map["
    });
    for (i, (key, value)) in data.iter().enumerate() {
        if i > 0 {
            out.push_str(if spec.sharp_v { ", " } else { " " });
        }
        fmt_str(out, key, verb, spec, data)?;
        out.push(':');
        fmt_str(out, value, verb, spec, data)?;
    }
    out.push(if spec.sharp_v { '}' } else { ']' });
    Ok(())
}

fn fmt_int(out: &mut String, v: i64, verb: char, spec: &Spec, data: &Data) -> Result<(), String> {
    match verb {
        'v' | 'd' => fmt_integer(out, v, 10, false, verb, spec),
        'b' => fmt_integer(out, v, 2, false, verb, spec),
        'o' | 'O' => fmt_integer(out, v, 8, false, verb, spec),
        'x' => fmt_integer(out, v, 16, false, verb, spec),
        'X' => fmt_integer(out, v, 16, true, verb, spec),
        'c' => {
            let c = u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, c.encode_utf8(&mut [0u8; 4]), spec);
        }
        'q' => {
            let c = u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c, spec.plus), spec);
        }
        'U' => fmt_unicode(out, v, spec),
        _ => bad_verb(out, verb, &Value::Int(v), spec, data)?,
    }
    Ok(())
}

fn fmt_integer(out: &mut String, v: i64, base: u32, upper: bool, verb: char, spec: &Spec) {
    let negative = v < 0;
    let magnitude = v.unsigned_abs();
    let digits = match (base, upper) {
        (2, _) => format!("{magnitude:b}"),
        (8, _) => format!("{magnitude:o}"),
        (16, false) => format!("{magnitude:x}"),
        (16, true) => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    let mut prec = 0;
    if let Some(p) = spec.prec {
        if p == 0 && magnitude == 0 {
            write_padding(out, spec.wid.unwrap_or(0), false);
            return;
        }
        prec = p;
    } else if let (true, false, Some(w)) = (spec.zero, spec.minus, spec.wid) {
        prec = w;
        if negative || spec.plus || spec.space {
            prec = prec.saturating_sub(1);
        }
    }
    let mut body = "0".repeat(prec.saturating_sub(digits.len()));
    body.push_str(&digits);
    let mut s = String::new();
    if negative {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    if verb == 'O' {
        s.push_str("0o");
    }
    if spec.sharp {
        match base {
            2 => s.push_str("0b"),
            8 if !body.starts_with('0') => s.push('0'),
            16 => s.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    s.push_str(&body);
    pad_spaces(out, &s, spec);
}

fn fmt_unicode(out: &mut String, v: i64, spec: &Spec) {
    // Go formats a negative rune as its two's complement bits.
    let bits = u64::from_ne_bytes(v.to_ne_bytes());
    let hex = format!("{bits:X}");
    let prec = spec.prec.filter(|&p| p > 4).unwrap_or(4);
    let mut s = format!("U+{}{hex}", "0".repeat(prec.saturating_sub(hex.len())));
    if spec.sharp {
        if let Some(c) = u32::try_from(bits).ok().and_then(char::from_u32) {
            if is_print(c) {
                let _ = write!(s, " '{c}'");
            }
        }
    }
    pad_spaces(out, &s, spec);
}

/// Decimal digits of a non-negative float: value = 0.d1d2d3... × 10^dp.
struct Digits {
    digits: Vec<u8>,
    dp: i64,
}

/// Extracts digits from Rust's exponent formatting, such as `1.25e-3`.
fn digits_from(formatted: &str) -> Digits {
    let (mantissa, exp) = formatted.split_once('e').unwrap_or((formatted, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return Digits { digits, dp: 0 };
    }
    Digits {
        digits,
        dp: exp + 1,
    }
}

fn shortest_digits(x: f64) -> Digits {
    digits_from(&format!("{x:e}"))
}

/// Digits rounded to `n` (at least 1) significant figures.
fn rounded_digits(x: f64, n: usize) -> Digits {
    // A float has at most 767 significant decimal digits, so capping the
    // precision (Rust's formatter rejects very large ones) loses nothing.
    let decimals = (n.max(1) - 1).min(MAX_SIGNIFICANT);
    digits_from(&format!("{x:.decimals$e}"))
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Go's `%e` layout: d.ddddde±dd.
fn layout_e(d: &Digits, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    s.push(d.digits.first().map_or('0', |&b| char::from(b)));
    if prec > 0 {
        s.push('.');
        let tail = d.digits.get(1..).unwrap_or(&[]);
        for i in 0..prec {
            s.push(tail.get(i).map_or('0', |&b| char::from(b)));
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exp.unsigned_abs());
    s
}

/// Go's `%f` layout from digits.
fn layout_f(d: &Digits, prec: usize) -> String {
    let mut s = String::new();
    if d.dp > 0 {
        for i in 0..d.dp {
            let digit = usize::try_from(i).ok().and_then(|i| d.digits.get(i));
            s.push(digit.map_or('0', |&b| char::from(b)));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 1..=to_i64(prec) {
            let j = d.dp + i - 1;
            let digit = usize::try_from(j).ok().and_then(|j| d.digits.get(j));
            s.push(digit.map_or('0', |&b| char::from(b)));
        }
    }
    s
}

/// Go's `strconv.FormatFloat` for a non-negative finite value with verb
/// `e`, `E`, `f`, `F`, `g` or `G`; `None` precision means shortest.
fn format_float(x: f64, verb: char, prec: Option<usize>) -> String {
    match verb {
        'f' | 'F' => match prec {
            Some(p) => {
                // A float has at most 1074 fractional decimal digits; the rest are zeros.
                let capped = p.min(MAX_FRACTION);
                let mut s = format!("{x:.capped$}");
                s.extend(std::iter::repeat_n('0', p - capped));
                s
            }
            None => format!("{x}"),
        },
        'e' | 'E' => {
            let d = match prec {
                Some(p) => rounded_digits(x, p + 1),
                None => shortest_digits(x),
            };
            let p = prec.unwrap_or_else(|| d.digits.len().saturating_sub(1));
            layout_e(&d, p, verb == 'E')
        }
        _ => {
            let shortest = prec.is_none();
            let (d, p) = match prec {
                None => {
                    let d = shortest_digits(x);
                    let n = d.digits.len();
                    (d, n)
                }
                Some(p) => {
                    let p = p.max(1);
                    (rounded_digits(x, p), p)
                }
            };
            let nd = to_i64(d.digits.len());
            let mut p = to_i64(p);
            let mut eprec = p;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if exp < -4 || exp >= eprec {
                p = p.min(nd);
                let p = usize::try_from(p - 1).unwrap_or(0);
                layout_e(&d, p, verb == 'G')
            } else {
                if p > d.dp {
                    p = nd;
                }
                layout_f(&d, usize::try_from(p - d.dp).unwrap_or(0))
            }
        }
    }
}

/// Go's `strconv.FormatFloat(x, 'b', -1, 64)` for a non-negative value: the mantissa
/// and binary exponent as decimal integers, such as `4503599627370496p-52`.
fn format_float_binary(x: f64) -> String {
    let (mantissa, exponent) = float_parts(x);
    let exponent = exponent - 52;
    let sign = if exponent >= 0 { "+" } else { "" };
    format!("{mantissa}p{sign}{exponent}")
}

/// The mantissa (with its implicit bit) and unbiased exponent of a finite `f64`.
fn float_parts(x: f64) -> (u64, i64) {
    let bits = x.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7FF).unwrap_or(0);
    let mut mantissa = bits & ((1 << 52) - 1);
    let exponent = if biased == 0 {
        1
    } else {
        mantissa |= 1 << 52;
        biased
    };
    (mantissa, exponent - 1023)
}

/// Go's `strconv.FormatFloat(x, 'x', precision, 64)` for a non-negative value, such as
/// `0x1.91eb851eb851fp+01`; `None` precision means as many digits as needed.
fn format_float_hex(x: f64, precision: Option<usize>, upper: bool) -> String {
    let (mut mantissa, mut exponent) = float_parts(x);
    if mantissa == 0 {
        exponent = 0;
    }
    // Shift so that the leading 1 (if any) is at bit 60.
    mantissa <<= 60 - 52;
    while mantissa != 0 && mantissa & (1 << 60) == 0 {
        mantissa <<= 1;
        exponent -= 1;
    }
    if let Some(precision) = precision.filter(|&p| p < 15) {
        let shift = precision * 4;
        let extra = (mantissa << shift) & ((1 << 60) - 1);
        mantissa >>= 60 - shift;
        if extra | (mantissa & 1) > 1 << 59 {
            mantissa += 1;
        }
        mantissa <<= 60 - shift;
        if mantissa & (1 << 61) != 0 {
            mantissa >>= 1;
            exponent += 1;
        }
    }
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let hex_digit = |m: u64| char::from(digits[usize::try_from((m >> 60) & 15).unwrap_or(0)]);
    let mut s = String::from(if upper { "0X" } else { "0x" });
    s.push(if (mantissa >> 60) & 1 == 1 { '1' } else { '0' });
    mantissa <<= 4;
    match precision {
        None if mantissa != 0 => {
            s.push('.');
            while mantissa != 0 {
                s.push(hex_digit(mantissa));
                mantissa <<= 4;
            }
        }
        Some(precision) if precision > 0 => {
            s.push('.');
            for _ in 0..precision {
                s.push(hex_digit(mantissa));
                mantissa <<= 4;
            }
        }
        _ => {}
    }
    s.push(if upper { 'P' } else { 'p' });
    s.push(if exponent < 0 { '-' } else { '+' });
    let _ = write!(s, "{:02}", exponent.unsigned_abs());
    s
}

/// Go's `#` flag on a formatted float: keep the decimal point and, for `%g` and `%x`,
/// pad with zeros to the precision (6 when none is given).
fn keep_decimal_point(number: &str, layout: char, precision: Option<usize>) -> String {
    let mut digits = match layout {
        'g' | 'G' | 'x' => precision.map_or(6, to_i64),
        _ => 0,
    };
    let is_hex = matches!(layout, 'x' | 'X');
    let split = number
        .find(|c| matches!(c, 'p' | 'P') || (!is_hex && matches!(c, 'e' | 'E')))
        .unwrap_or(number.len());
    let (mantissa, tail) = number.split_at(split);
    let mut has_point = false;
    let mut saw_nonzero = false;
    for c in mantissa.chars() {
        if c == '.' {
            has_point = true;
            continue;
        }
        saw_nonzero |= c != '0';
        if saw_nonzero {
            digits -= 1;
        }
    }
    let mut out = mantissa.to_owned();
    if !has_point {
        // A lone leading zero counts once towards the digits.
        if mantissa == "0" {
            digits -= 1;
        }
        out.push('.');
    }
    while digits > 0 {
        out.push('0');
        digits -= 1;
    }
    out.push_str(tail);
    out
}

fn fmt_float(out: &mut String, x: f64, verb: char, spec: &Spec, data: &Data) -> Result<(), String> {
    let (layout, precision) = match verb {
        'v' => ('g', spec.prec),
        'b' | 'g' | 'G' | 'x' | 'X' => (verb, spec.prec),
        'e' | 'E' | 'f' | 'F' => (verb, Some(spec.prec.unwrap_or(6))),
        _ => return bad_verb(out, verb, &Value::Float(x), spec, data),
    };
    let sign = if x.is_sign_negative() && !x.is_nan() {
        Some('-')
    } else if spec.plus {
        Some('+')
    } else if spec.space {
        Some(' ')
    } else {
        None
    };
    if !x.is_finite() {
        let body = if x.is_nan() { "NaN" } else { "Inf" };
        let sign = if x.is_nan() && !spec.plus && !spec.space {
            None
        } else {
            sign.or(Some('+'))
        };
        let text: String = sign.into_iter().chain(body.chars()).collect();
        pad_spaces(out, &text, spec);
        return Ok(());
    }
    let mut body = match layout {
        'b' => format_float_binary(x.abs()),
        'x' | 'X' => format_float_hex(x.abs(), precision, layout == 'X'),
        _ => format_float(x.abs(), layout, precision),
    };
    if spec.sharp && layout != 'b' {
        body = keep_decimal_point(&body, layout, precision);
    }
    match sign {
        Some(sign) => {
            let len = body.chars().count() + 1;
            match spec.wid {
                Some(w) if spec.zero && !spec.minus && w > len => {
                    out.push(sign);
                    write_padding(out, w - len, true);
                    out.push_str(&body);
                }
                _ => pad(out, &format!("{sign}{body}"), spec),
            }
        }
        None => pad(out, &body, spec),
    }
    Ok(())
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(values: &[Value], data: &Data) -> Result<String, String> {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, v) in values.iter().enumerate() {
        let is_string = matches!(v, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        fmt_value(&mut out, v, 'v', &Spec::default(), data)?;
        prev_string = is_string;
    }
    Ok(out)
}

/// Go's `fmt.Sprintln`: spaces between all operands and a final newline.
fn sprintln(values: &[Value], data: &Data) -> Result<String, String> {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        fmt_value(&mut out, v, 'v', &Spec::default(), data)?;
    }
    out.push('\n');
    Ok(out)
}

/// Parses a decimal number in a format string, as Go's `parsenum`.
/// Returns the number (if any) and the new position.
fn parse_fmt_num(bytes: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let mut num: Option<usize> = None;
    while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        let n = num.unwrap_or(0);
        if n > MAX_FMT_NUM {
            return (None, bytes.len());
        }
        num = Some(n * 10 + usize::from(b - b'0'));
        i += 1;
    }
    (num, i)
}

/// The state of one `printf` call.
struct Printf<'a> {
    bytes: &'a [u8],
    args: &'a [Value],
    arg_num: usize,
    reordered: bool,
    good_arg_num: bool,
}

impl Printf<'_> {
    /// Handles an explicit argument index such as `[2]`; returns the new
    /// position and whether an index was found.
    fn arg_number(&mut self, i: usize) -> (usize, bool) {
        if self.bytes.get(i) != Some(&b'[') {
            return (i, false);
        }
        self.reordered = true;
        let rest = self.bytes.get(i..).unwrap_or(&[]);
        let close = if rest.len() < 3 {
            None
        } else {
            rest.iter().position(|&b| b == b']')
        };
        let Some(close) = close else {
            self.good_arg_num = false;
            return (i + 1, false);
        };
        let (num, end) = parse_fmt_num(rest, 1);
        match num {
            Some(n) if end == close && n >= 1 && n <= self.args.len() => {
                self.arg_num = n - 1;
                (i + close + 1, true)
            }
            Some(_) if end == close => {
                self.good_arg_num = false;
                (i + close + 1, true)
            }
            _ => {
                self.good_arg_num = false;
                (i + close + 1, false)
            }
        }
    }

    /// Parses the flags, width, precision and argument indexes of a verb
    /// starting at `i`; returns them and the position of the verb.
    fn parse_spec(&mut self, mut i: usize, out: &mut String) -> (Spec, usize) {
        let mut spec = Spec::default();
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'#' => spec.sharp = true,
                b'0' => spec.zero = !spec.minus,
                b'+' => spec.plus = true,
                b'-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        let (next, mut after_index) = self.arg_number(i);
        i = next;
        if self.bytes.get(i) == Some(&b'*') {
            i += 1;
            match self.int_arg() {
                Some(n) => {
                    spec.wid = usize::try_from(n.unsigned_abs()).ok();
                    if n < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
            after_index = false;
        } else {
            let (num, next) = parse_fmt_num(self.bytes, i);
            i = next;
            spec.wid = num;
            if after_index && num.is_some() {
                self.good_arg_num = false;
            }
        }
        if i + 1 < self.bytes.len() && self.bytes.get(i) == Some(&b'.') {
            i += 1;
            if after_index {
                self.good_arg_num = false;
            }
            let (next, found) = self.arg_number(i);
            i = next;
            after_index = found;
            if self.bytes.get(i) == Some(&b'*') {
                i += 1;
                match self.int_arg().and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => spec.prec = Some(n),
                    None => out.push_str("%!(BADPREC)"),
                }
                after_index = false;
            } else {
                let (num, next) = parse_fmt_num(self.bytes, i);
                i = next;
                spec.prec = Some(num.unwrap_or(0));
            }
        }
        if !after_index {
            let (next, _) = self.arg_number(i);
            i = next;
        }
        (spec, i)
    }

    /// Takes an integer argument for `*`.
    fn int_arg(&mut self) -> Option<i64> {
        let value = self.args.get(self.arg_num)?;
        self.arg_num += 1;
        match value {
            Value::Int(n) if usize::try_from(n.unsigned_abs()).is_ok_and(|m| m <= MAX_FMT_NUM) => {
                Some(*n)
            }
            Value::Uint8(n) => Some(i64::from(*n)),
            _ => None,
        }
    }
}

/// Go's `fmt.Sprintf`.
fn sprintf(format: &str, args: &[Value], data: &Data) -> Result<String, String> {
    let bytes = format.as_bytes();
    let end = bytes.len();
    let mut out = String::new();
    let mut p = Printf {
        bytes,
        args,
        arg_num: 0,
        reordered: false,
        good_arg_num: true,
    };
    let mut i = 0;
    while i < end {
        p.good_arg_num = true;
        let start = i;
        while i < end && bytes.get(i) != Some(&b'%') {
            i += 1;
        }
        out.push_str(format.get(start..i).unwrap_or(""));
        if i >= end {
            break;
        }
        i += 1;
        let (mut spec, next) = p.parse_spec(i, &mut out);
        i = next;
        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !p.good_arg_num {
            let _ = write!(out, "%!{verb}(BADINDEX)");
        } else if let Some(arg) = args.get(p.arg_num) {
            if verb == 'v' {
                spec.sharp_v = spec.sharp;
                spec.sharp = false;
                spec.plus = false;
            }
            fmt_value(&mut out, arg, verb, &spec, data)?;
            p.arg_num += 1;
        } else {
            let _ = write!(out, "%!{verb}(MISSING)");
        }
    }
    if !p.reordered && p.arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, arg) in args.iter().skip(p.arg_num).enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            if *arg == Value::Nil {
                out.push_str("<nil>");
            } else {
                out.push_str(type_name(arg));
                out.push('=');
                fmt_value(&mut out, arg, 'v', &Spec::default(), data)?;
            }
        }
        out.push(')');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{render, TemplateError};
    use std::collections::BTreeMap;
    use std::fmt::Write as _;

    fn data() -> BTreeMap<String, String> {
        [
            ("colour", "blue"),
            ("size", "10"),
            ("my key", "spaced"),
            ("empty", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn check(src: &str, want: &str) {
        assert_eq!(
            render(src, &data()),
            Ok(want.to_owned()),
            "template: {src:?}"
        );
    }

    fn check_with(src: &str, data: &BTreeMap<String, String>, want: &str) {
        assert_eq!(render(src, data), Ok(want.to_owned()), "template: {src:?}");
    }

    fn parse_err(src: &str) -> String {
        match render(src, &data()) {
            Err(TemplateError::Parse(msg)) => msg,
            other => panic!("{src:?}: expected a parse error, got {other:?}"),
        }
    }

    fn exec_err(src: &str) -> String {
        match render(src, &data()) {
            Err(TemplateError::Execute(msg)) => msg,
            other => panic!("{src:?}: expected an execution error, got {other:?}"),
        }
    }

    fn parse_err_contains(src: &str, want: &str) {
        let msg = parse_err(src);
        assert!(msg.contains(want), "{src:?}: {msg:?} lacks {want:?}");
    }

    fn exec_err_contains(src: &str, want: &str) {
        let msg = exec_err(src);
        assert!(msg.contains(want), "{src:?}: {msg:?} lacks {want:?}");
    }

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
                let mut digits =
                    "1000000000000000055511151231257827021181583404541015625".to_owned();
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
            let mut src = String::new();
            for _ in 0..len {
                let pick = usize::try_from(next() % 48).unwrap_or(0);
                src.push_str(PIECES[pick]);
                if next() % 3 == 0 {
                    src.push(' ');
                }
            }
            let _ = render(&src, &data);
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

    // Differences found by running `render` and Go 1.26's text/template side by side;
    // each expected value is what Go produces.

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
}
