//! Builds the parse tree from the lexer's items, checking everything Go checks at
//! parse time, with nesting bounded by [`MAX_DEPTH`].

use crate::lexer::{Item, Keyword, Token};
use crate::literal::{parse_char_const, parse_number};
use crate::quote::go_quote;
use crate::tree::{
    argument_text, describe, Argument, Command, Function, Node, Parsed, Pipeline, Stop,
};
use crate::MAX_DEPTH;

pub(crate) struct Parser {
    items: Vec<Item>,
    position: usize,
    variables: Vec<String>,
    range_depth: usize,
    depth: usize,
}

impl Parser {
    pub(crate) fn new(items: Vec<Item>) -> Self {
        Self {
            items,
            position: 0,
            variables: vec!["$".to_owned()],
            range_depth: 0,
            depth: 0,
        }
    }

    pub(crate) fn error<T>(line: usize, message: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("template: :{line}: {message}"))
    }

    pub(crate) fn token(&self, index: usize) -> Item {
        self.items.get(index).cloned().unwrap_or_else(|| Item {
            token: Token::Eof,
            line: self.items.last().map_or(1, |t| t.line),
        })
    }

    pub(crate) fn next(&mut self) -> Item {
        let t = self.token(self.position);
        self.position += 1;
        t
    }

    pub(crate) fn backup(&mut self) {
        self.position = self.position.saturating_sub(1);
    }

    pub(crate) fn peek(&self) -> Item {
        self.token(self.position)
    }

    pub(crate) fn skip_spaces(&mut self) {
        while matches!(self.peek().token, Token::Space) {
            self.position += 1;
        }
    }

    pub(crate) fn next_non_space(&mut self) -> Item {
        self.skip_spaces();
        self.next()
    }

    pub(crate) fn peek_non_space(&mut self) -> Item {
        self.skip_spaces();
        self.peek()
    }

    pub(crate) fn enter(&mut self, line: usize) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Self::error(
                line,
                format!("nesting is deeper than the limit of {MAX_DEPTH} levels"),
            );
        }
        Ok(())
    }

    pub(crate) fn parse(mut self) -> Result<Vec<Node>, String> {
        let (list, stop) = self.item_list()?;
        match stop {
            Stop::Eof(_) => Ok(list),
            Stop::End(line) => Self::error(line, "unexpected {{end}}"),
            Stop::Else(line, _) => Self::error(line, "unexpected {{else}}"),
        }
    }

    pub(crate) fn item_list(&mut self) -> Result<(Vec<Node>, Stop), String> {
        let mut list = Vec::new();
        loop {
            let t = self.next();
            match t.token {
                Token::Text(s) => list.push(Node::Text(s)),
                Token::LeftDelim => match self.action()? {
                    Parsed::Node(node) => list.push(node),
                    Parsed::End(line) => return Ok((list, Stop::End(line))),
                    Parsed::Else(line, keyword) => return Ok((list, Stop::Else(line, keyword))),
                },
                Token::Eof => return Ok((list, Stop::Eof(t.line))),
                Token::Error(message) => return Self::error(t.line, message),
                other => {
                    return Self::error(t.line, format!("unexpected {} in input", describe(&other)))
                }
            }
        }
    }

    pub(crate) fn expect_right_delim(&mut self, context: &str) -> Result<(), String> {
        let t = self.next_non_space();
        match t.token {
            Token::RightDelim => Ok(()),
            Token::Error(message) => Self::error(t.line, message),
            other => Self::error(
                t.line,
                format!("unexpected {} in {context}", describe(&other)),
            ),
        }
    }

    pub(crate) fn action(&mut self) -> Result<Parsed, String> {
        let t = self.next_non_space();
        let line = t.line;
        let node = match t.token {
            Token::Keyword(Keyword::Else) => {
                if let Token::Keyword(keyword @ (Keyword::If | Keyword::With)) =
                    self.peek_non_space().token
                {
                    self.next();
                    return Ok(Parsed::Else(line, Some(keyword)));
                }
                self.expect_right_delim("else")?;
                return Ok(Parsed::Else(line, None));
            }
            Token::Keyword(Keyword::End) => {
                self.expect_right_delim("end")?;
                return Ok(Parsed::End(line));
            }
            Token::Keyword(Keyword::If) => self.cond_control(false, line)?,
            Token::Keyword(Keyword::With) => self.cond_control(true, line)?,
            Token::Keyword(Keyword::Range) => self.range_control(line)?,
            Token::Keyword(keyword @ (Keyword::Break | Keyword::Continue)) => {
                let name = keyword.name();
                if self.range_depth == 0 {
                    return Self::error(line, format!("{{{{{name}}}}} outside {{{{range}}}}"));
                }
                self.expect_right_delim(&format!("{{{{{name}}}}}"))?;
                if keyword == Keyword::Break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            Token::Keyword(keyword @ (Keyword::Define | Keyword::Template | Keyword::Block)) => {
                return Self::error(
                    line,
                    format!(
                        "{{{{{}}}}} is not supported by this template engine",
                        keyword.name()
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
    pub(crate) fn else_tail(&mut self) -> Result<Vec<Node>, String> {
        let (list, stop) = self.item_list()?;
        match stop {
            Stop::End(_) => Ok(list),
            Stop::Else(line, _) => Self::error(line, "expected end; found {{else}}"),
            Stop::Eof(line) => Self::error(line, "unexpected EOF"),
        }
    }

    pub(crate) fn cond_control(&mut self, with: bool, line: usize) -> Result<Node, String> {
        self.enter(line)?;
        let mark = self.variables.len();
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
                Stop::Else(_, Some(keyword)) if keyword == chain => {}
                Stop::Else(l, Some(keyword)) => {
                    return Self::error(
                        l,
                        format!(
                            "unexpected {{{{else {}}}}} in {{{{{context}}}}}",
                            keyword.name()
                        ),
                    )
                }
                Stop::Else(_, None) => {
                    else_list = Some(self.else_tail()?);
                    break;
                }
            }
        }
        self.variables.truncate(mark);
        self.depth -= 1;
        Ok(Node::Cond {
            with,
            branches,
            else_list,
        })
    }

    pub(crate) fn range_control(&mut self, line: usize) -> Result<Node, String> {
        self.enter(line)?;
        let mark = self.variables.len();
        let pipe = self.pipeline("range", false)?;
        self.range_depth += 1;
        let (list, stop) = self.item_list()?;
        self.range_depth -= 1;
        let else_list = match stop {
            Stop::End(_) => None,
            Stop::Eof(l) => return Self::error(l, "unexpected EOF"),
            Stop::Else(l, Some(keyword)) => {
                return Self::error(
                    l,
                    format!(
                        "unexpected {{{{else {}}}}} in {{{{range}}}}",
                        keyword.name()
                    ),
                )
            }
            Stop::Else(_, None) => Some(self.else_tail()?),
        };
        self.variables.truncate(mark);
        self.depth -= 1;
        Ok(Node::Range {
            pipe,
            list,
            else_list,
        })
    }

    /// Parses optional declarations (`$x :=`, `$x =`, `$k, $v :=`).
    pub(crate) fn declarations(
        &mut self,
        context: &str,
        line: usize,
    ) -> Result<(Vec<String>, bool), String> {
        let mut declarations = Vec::new();
        loop {
            let save = self.position;
            let Token::Variable(name) = self.peek_non_space().token else {
                break;
            };
            self.next();
            match self.peek_non_space().token {
                // As in Go, the variable is in scope from here on, even for `=` and in
                // its own pipeline: an undeclared or not yet set variable is an
                // execution error, so it passes in a branch that never runs.
                Token::Assign | Token::Declare => {
                    let is_assign = matches!(self.next().token, Token::Assign);
                    self.variables.push(name.clone());
                    declarations.push(name);
                    return Ok((declarations, is_assign));
                }
                Token::Char(',') => {
                    self.next();
                    self.variables.push(name.clone());
                    declarations.push(name);
                    if context == "range" && declarations.len() < 2 {
                        if matches!(
                            self.peek_non_space().token,
                            Token::Variable(_) | Token::RightDelim | Token::RightParen
                        ) {
                            continue;
                        }
                        return Self::error(line, "range can only initialize variables");
                    }
                    return Self::error(line, format!("too many declarations in {context}"));
                }
                _ => {
                    self.position = save;
                    break;
                }
            }
        }
        Ok((declarations, false))
    }

    pub(crate) fn pipeline(&mut self, context: &str, in_paren: bool) -> Result<Pipeline, String> {
        let line = self.peek_non_space().line;
        let (declarations, is_assign) = self.declarations(context, line)?;
        let mut commands = Vec::new();
        loop {
            let t = self.next_non_space();
            match t.token {
                Token::RightDelim | Token::RightParen => {
                    if matches!(t.token, Token::RightDelim) == in_paren {
                        let message = if in_paren {
                            "unclosed left paren"
                        } else {
                            "unexpected right paren"
                        };
                        return Self::error(t.line, message);
                    }
                    // Go accepts a trailing `|` before the delimiter.
                    break;
                }
                Token::Bool(_)
                | Token::CharConst(_)
                | Token::Number(_)
                | Token::Dot
                | Token::Field(_)
                | Token::Ident(_)
                | Token::Nil
                | Token::Str(_)
                | Token::Variable(_)
                | Token::LeftParen => {
                    self.backup();
                    commands.push(self.command()?);
                }
                Token::Error(message) => return Self::error(t.line, message),
                other => {
                    return Self::error(
                        t.line,
                        format!("unexpected {} in {context}", describe(&other)),
                    )
                }
            }
        }
        Self::check_pipeline(&commands, context, line)?;
        Ok(Pipeline {
            line,
            declarations,
            is_assign,
            commands,
        })
    }

    pub(crate) fn check_pipeline(
        commands: &[Command],
        context: &str,
        line: usize,
    ) -> Result<(), String> {
        if commands.is_empty() {
            return Self::error(line, format!("missing value for {context}"));
        }
        // `nil` as the first command is an execution error in Go, not a parse error.
        for (i, command) in commands.iter().enumerate().skip(1) {
            if matches!(
                command.args.first(),
                Some(
                    Argument::Bool(_)
                        | Argument::Dot
                        | Argument::Nil
                        | Argument::Int(_)
                        | Argument::Float(_)
                        | Argument::Str(_)
                )
            ) {
                return Self::error(
                    command.line,
                    format!("non executable command in pipeline stage {}", i + 1),
                );
            }
        }
        Ok(())
    }

    /// Parses one command, up to and including a `|` that ends it.
    pub(crate) fn command(&mut self) -> Result<Command, String> {
        let line = self.peek_non_space().line;
        let mut args = Vec::new();
        loop {
            self.skip_spaces();
            if let Some(arg) = self.operand()? {
                args.push(arg);
            }
            let t = self.next();
            match t.token {
                Token::Space => {}
                Token::Error(message) => return Self::error(t.line, message),
                Token::RightDelim | Token::RightParen => {
                    self.backup();
                    break;
                }
                Token::Pipe => break,
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
        Ok(Command { line, args })
    }

    pub(crate) fn operand(&mut self) -> Result<Option<Argument>, String> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let line = self.peek().line;
        let mut fields = Vec::new();
        while let Token::Field(f) = self.peek().token {
            self.next();
            fields.push(f);
        }
        if fields.is_empty() {
            return Ok(Some(node));
        }
        match node {
            Argument::Field(mut v) => {
                v.extend(fields);
                Ok(Some(Argument::Field(v)))
            }
            Argument::Var(name, mut v) => {
                v.extend(fields);
                Ok(Some(Argument::Var(name, v)))
            }
            Argument::Pipeline(p) => Ok(Some(Argument::Chain(p, fields))),
            Argument::Function(f) => Self::error(
                line,
                format!(
                    "unexpected . after function {}; put the call in parentheses",
                    f.name()
                ),
            ),
            other => Self::error(
                line,
                format!(
                    "unexpected . after term {}",
                    go_quote(&argument_text(&other))
                ),
            ),
        }
    }

    pub(crate) fn term(&mut self) -> Result<Option<Argument>, String> {
        let t = self.next_non_space();
        let arg = match t.token {
            Token::Error(message) => return Self::error(t.line, message),
            Token::Ident(name) => match Function::lookup(&name) {
                Some(f) => Argument::Function(f),
                None => {
                    return Self::error(t.line, format!("function {} not defined", go_quote(&name)))
                }
            },
            Token::Dot => Argument::Dot,
            Token::Nil => Argument::Nil,
            Token::Variable(name) => {
                if !self.variables.contains(&name) {
                    return Self::error(t.line, format!("undefined variable {}", go_quote(&name)));
                }
                Argument::Var(name, Vec::new())
            }
            Token::Field(name) => Argument::Field(vec![name]),
            Token::Bool(b) => Argument::Bool(b),
            Token::Number(text) => match parse_number(&text) {
                Ok(arg) => arg,
                Err(message) => return Self::error(t.line, message),
            },
            Token::CharConst(text) => match parse_char_const(&text) {
                Ok(value) => Argument::Int(value),
                Err(message) => return Self::error(t.line, message),
            },
            Token::LeftParen => {
                self.enter(t.line)?;
                let pipe = self.pipeline("parenthesized pipeline", true)?;
                self.depth -= 1;
                Argument::Pipeline(Box::new(pipe))
            }
            Token::Str(s) => Argument::Str(s),
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(arg))
    }
}
