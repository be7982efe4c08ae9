//! Splits template source into items, as Go's `text/template/parse` lexer does; a lexing
//! error ends the items with an `Error`.

use crate::literal::unquote_string;
use crate::quote::{describe_char, go_quote, is_alnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
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
    pub(crate) fn lookup(word: &str) -> Option<Self> {
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

    pub(crate) fn name(self) -> &'static str {
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
pub(crate) enum Token {
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
pub(crate) struct Item {
    pub(crate) token: Token,
    pub(crate) line: usize,
}

/// The space characters Go's template lexer recognises.
pub(crate) fn is_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) struct Lexer<'s> {
    source: &'s str,
    position: usize,
    line_position: usize,
    line: usize,
    paren_depth: usize,
    items: Vec<Item>,
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        Self {
            source,
            position: 0,
            line_position: 0,
            line: 1,
            paren_depth: 0,
            items: Vec::new(),
        }
    }

    pub(crate) fn rest(&self) -> &'s str {
        self.source.get(self.position..).unwrap_or("")
    }

    pub(crate) fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn next_char(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.position += c.len_utf8();
        Some(c)
    }

    pub(crate) fn accept(&mut self, valid: &str) -> bool {
        match self.peek_char() {
            Some(c) if valid.contains(c) => {
                self.position += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    /// The line number of byte offset `position`; offsets must not decrease between calls.
    pub(crate) fn line_at(&mut self, position: usize) -> usize {
        if position > self.line_position {
            let segment = self.source.get(self.line_position..position).unwrap_or("");
            self.line += segment.matches('\n').count();
            self.line_position = position;
        }
        self.line
    }

    pub(crate) fn push(&mut self, token: Token, start: usize) {
        let line = self.line_at(start);
        self.items.push(Item { token, line });
    }

    pub(crate) fn skip_leading_space(&mut self) {
        while self.peek_char().is_some_and(is_space_char) {
            self.position += 1;
        }
    }

    /// Whether the input is at a right delimiter, and whether it has a trim marker.
    pub(crate) fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        let mut chars = rest.chars();
        if chars.next().is_some_and(is_space_char) && chars.as_str().starts_with("-}}") {
            return (true, true);
        }
        (rest.starts_with("}}"), false)
    }

    pub(crate) fn at_terminator(&self) -> bool {
        match self.peek_char() {
            None => true,
            Some(c) => {
                is_space_char(c)
                    || matches!(c, '.' | ',' | '|' | ':' | ')' | '(')
                    || self.rest().starts_with("}}")
            }
        }
    }

    pub(crate) fn run(mut self) -> Vec<Item> {
        loop {
            let rest = self.rest();
            let Some(index) = rest.find("{{") else {
                if !rest.is_empty() {
                    self.push(Token::Text(rest.to_owned()), self.position);
                }
                let end = self.source.len();
                self.push(Token::Eof, end);
                return self.items;
            };
            let delim = self.position + index;
            let after = delim + 2;
            let after_text = self.source.get(after..).unwrap_or("");
            let mut marker = after_text.chars();
            let trim = marker.next() == Some('-') && marker.next().is_some_and(is_space_char);
            let mut text = rest.get(..index).unwrap_or("");
            if trim {
                text = text.trim_end_matches(is_space_char);
            }
            if !text.is_empty() {
                self.push(Token::Text(text.to_owned()), self.position);
            }
            self.position = if trim { after + 2 } else { after };
            let result = if self.rest().starts_with("/*") {
                self.lex_comment()
            } else {
                self.push(Token::LeftDelim, delim);
                self.lex_action()
            };
            if let Err(message) = result {
                let at = self.position;
                self.push(Token::Error(message), at);
                return self.items;
            }
        }
    }

    pub(crate) fn lex_comment(&mut self) -> Result<(), String> {
        self.position += 2;
        let Some(x) = self.rest().find("*/") else {
            return Err("unclosed comment".to_owned());
        };
        self.position += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return Err("comment ends before closing delimiter".to_owned());
        }
        self.position += if trim { 4 } else { 2 };
        if trim {
            self.skip_leading_space();
        }
        Ok(())
    }

    /// Lexes the inside of an action, up to and including its right delimiter.
    pub(crate) fn lex_action(&mut self) -> Result<(), String> {
        self.paren_depth = 0;
        loop {
            let start = self.position;
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth > 0 {
                    return Err("unclosed left paren".to_owned());
                }
                self.position += if trim { 4 } else { 2 };
                self.push(Token::RightDelim, start);
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
                '=' => self.push(Token::Assign, start),
                ':' => {
                    if self.next_char() != Some('=') {
                        return Err("expected :=".to_owned());
                    }
                    self.push(Token::Declare, start);
                }
                '|' => self.push(Token::Pipe, start),
                '"' => self.lex_quote(start)?,
                '`' => self.lex_raw_quote(start)?,
                '$' => self.lex_field_or_variable(start, true)?,
                '\'' => self.lex_char(start)?,
                '.' if !self.peek_char().is_some_and(|d| d.is_ascii_digit()) => {
                    self.lex_field_or_variable(start, false)?;
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.position = start;
                    self.lex_number(start)?;
                }
                c if is_alnum(c) => {
                    self.position = start;
                    self.lex_identifier(start)?;
                }
                '(' => {
                    self.paren_depth += 1;
                    self.push(Token::LeftParen, start);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err("unexpected right paren".to_owned());
                    }
                    self.paren_depth -= 1;
                    self.push(Token::RightParen, start);
                }
                c if c.is_ascii_graphic() => self.push(Token::Char(c), start),
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
    pub(crate) fn lex_space(&mut self, start: usize) {
        let mut count = 1;
        while self.peek_char().is_some_and(is_space_char) {
            self.position += 1;
            count += 1;
        }
        if self.rest().starts_with("-}}") {
            self.position -= 1;
            if count == 1 {
                return;
            }
        }
        self.push(Token::Space, start);
    }

    /// Moves past the rest of a quoted literal up to its closing `close`, honouring
    /// backslash escapes; a newline or the end of the source first is an error.
    pub(crate) fn skip_quoted(&mut self, close: char, what: &str) -> Result<(), String> {
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

    pub(crate) fn lex_quote(&mut self, start: usize) -> Result<(), String> {
        self.skip_quoted('"', "quoted string")?;
        let body = self.source.get(start + 1..self.position - 1).unwrap_or("");
        let value = unquote_string(body)?;
        self.push(Token::Str(value), start);
        Ok(())
    }

    pub(crate) fn lex_raw_quote(&mut self, start: usize) -> Result<(), String> {
        let Some(x) = self.rest().find('`') else {
            return Err("unterminated raw quoted string".to_owned());
        };
        let body = self.rest().get(..x).unwrap_or("");
        // Go discards carriage returns from raw strings.
        let value: String = body.chars().filter(|&c| c != '\r').collect();
        self.position += x + 1;
        self.push(Token::Str(value), start);
        Ok(())
    }

    pub(crate) fn lex_char(&mut self, start: usize) -> Result<(), String> {
        self.skip_quoted('\'', "character constant")?;
        let text = self
            .source
            .get(start..self.position)
            .unwrap_or("")
            .to_owned();
        self.push(Token::CharConst(text), start);
        Ok(())
    }

    /// Lexes `.field` or `$variable` (the `.` or `$` is already consumed).
    pub(crate) fn lex_field_or_variable(
        &mut self,
        start: usize,
        variable: bool,
    ) -> Result<(), String> {
        if self.at_terminator() {
            let token = if variable {
                Token::Variable("$".to_owned())
            } else {
                Token::Dot
            };
            self.push(token, start);
            return Ok(());
        }
        while self.peek_char().is_some_and(is_alnum) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or(' ');
            return Err(format!("bad character {}", describe_char(c)));
        }
        let word = self.source.get(start..self.position).unwrap_or("");
        let token = if variable {
            Token::Variable(word.to_owned())
        } else {
            Token::Field(word.get(1..).unwrap_or("").to_owned())
        };
        self.push(token, start);
        Ok(())
    }

    pub(crate) fn scan_number(&mut self) -> bool {
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

    pub(crate) fn lex_number(&mut self, start: usize) -> Result<(), String> {
        if !self.scan_number() {
            let text = self.source.get(start..self.position).unwrap_or("");
            return Err(format!("bad number syntax: {}", go_quote(text)));
        }
        if matches!(self.peek_char(), Some('+' | '-')) {
            // Go would try to read a complex constant such as 1+2i here.
            let complex = self.scan_number()
                && self
                    .source
                    .get(..self.position)
                    .is_some_and(|s| s.ends_with('i'));
            let text = self.source.get(start..self.position).unwrap_or("");
            return Err(if complex {
                format!("complex constant {text} is not supported")
            } else {
                format!("bad number syntax: {}", go_quote(text))
            });
        }
        let text = self
            .source
            .get(start..self.position)
            .unwrap_or("")
            .to_owned();
        self.push(Token::Number(text), start);
        Ok(())
    }

    pub(crate) fn lex_identifier(&mut self, start: usize) -> Result<(), String> {
        while self.peek_char().is_some_and(is_alnum) {
            self.next_char();
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or(' ');
            return Err(format!("bad character {}", describe_char(c)));
        }
        let word = self.source.get(start..self.position).unwrap_or("");
        let token = match word {
            "true" => Token::Bool(true),
            "false" => Token::Bool(false),
            "nil" => Token::Nil,
            _ => {
                Keyword::lookup(word).map_or_else(|| Token::Ident(word.to_owned()), Token::Keyword)
            }
        };
        self.push(token, start);
        Ok(())
    }
}
