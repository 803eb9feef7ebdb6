//! Parses Pebble expressions with Pebble's own operator precedences (taken from Pebble's core
//! extension and Kestra's `??`/`???` operators), so `a ~ b | upper` groups as `(a ~ b) | upper`
//! and `trigger.date ?? execution.startDate | date('yyyy')` as `(… ?? …) | date(…)`, exactly
//! like Kestra does. Ternaries are only recognised at the lowest level, which makes them
//! right-associative.

use std::ops::Range;

use super::catalog::{self, Params};
use super::lexer::{SyntaxError, Tok, Token};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Name(String),
    Attr(Box<Node>, String),
    Index(Box<Node>, Box<Node>),
    /// A function call; arguments are already positional (`None` = not given).
    Call(String, Vec<Option<Node>>),
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Not(Box<Node>),
    Neg(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Filter(Box<Node>, String, Vec<Option<Node>>),
    Test(Box<Node>, String, bool),
    Ternary(Box<Node>, Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Or,
    And,
    Contains,
    In,
    NotIn,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
    Range,
    /// `??`: the left side unless it is undefined or null.
    Coalesce,
    /// `???`: the left side unless it is undefined.
    CoalesceUndefined,
}

enum BinKind {
    Op(BinOp),
    Filter,
    Test { negated: bool },
}

const UNARY_PRECEDENCE: u8 = 200;

pub(crate) struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    /// Where errors about a missing token point (the closing delimiter of the tag).
    end_offset: usize,
    /// Current nesting of sub-expressions; bounded so hostile input cannot overflow the stack.
    depth: u32,
}

const MAX_NESTING: u32 = 64;

impl<'t> Parser<'t> {
    pub(crate) fn new(tokens: &'t [Token], end_offset: usize) -> Self {
        Parser {
            tokens,
            pos: 0,
            end_offset,
            depth: 0,
        }
    }

    pub(crate) fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&'t Token> {
        self.tokens.get(self.pos + n)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.end_offset, |t| t.span.start)
    }

    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(self.end_offset, |t| t.span.end)
    }

    pub(crate) fn next(&mut self) -> Option<&'t Token> {
        let token = self.tokens.get(self.pos);
        self.pos += 1;
        token
    }

    pub(crate) fn error_here(&self, expected: &str) -> SyntaxError {
        match self.peek() {
            Some(t) => SyntaxError::new(
                format!("unexpected {}, expected {expected}", describe(&t.tok)),
                t.span.start,
            ),
            None => SyntaxError::new(
                format!("unexpected end of expression, expected {expected}"),
                self.end_offset,
            ),
        }
    }

    pub(crate) fn expect_op(&mut self, op: &str) -> Result<&'t Token, SyntaxError> {
        match self.peek() {
            Some(t) if t.is_op(op) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.error_here(&format!("'{op}'"))),
        }
    }

    pub(crate) fn eat_op(&mut self, op: &str) -> bool {
        let hit = self.peek().is_some_and(|t| t.is_op(op));
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub(crate) fn eat_name(&mut self, name: &str) -> bool {
        let hit = self.peek().is_some_and(|t| t.is_name(name));
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub(crate) fn expect_name(
        &mut self,
        what: &str,
    ) -> Result<(String, Range<usize>), SyntaxError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Name(n),
                span,
            }) => {
                self.pos += 1;
                Ok((n.clone(), span.clone()))
            }
            _ => Err(self.error_here(what)),
        }
    }

    pub(crate) fn expect_end(&self) -> Result<(), SyntaxError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.error_here("end of tag"))
        }
    }

    /// Parses a whole expression, ternary included.
    pub(crate) fn expression(&mut self) -> Result<Node, SyntaxError> {
        self.parse(0)
    }

    fn parse(&mut self, min: u8) -> Result<Node, SyntaxError> {
        if self.depth >= MAX_NESTING {
            return Err(SyntaxError::new(
                "expression is nested too deeply",
                self.offset(),
            ));
        }
        self.depth += 1;
        let result = self.parse_nested(min);
        self.depth -= 1;
        result
    }

    fn parse_nested(&mut self, min: u8) -> Result<Node, SyntaxError> {
        let mut left = self.unary()?;
        while let Some((kind, precedence, width)) = self.peek_binary() {
            if precedence < min {
                break;
            }
            self.pos += width;
            left = match kind {
                BinKind::Filter => self.filter(left)?,
                BinKind::Test { negated } => self.test(left, negated)?,
                BinKind::Op(op) => {
                    let right = self.parse(precedence + 1)?;
                    let span = left.span.start..right.span.end;
                    Node {
                        kind: Kind::Binary(op, Box::new(left), Box::new(right)),
                        span,
                    }
                }
            };
        }
        if min == 0 && self.eat_op("?") {
            let then = self.parse(0)?;
            self.expect_op(":")?;
            let otherwise = self.parse(0)?;
            let span = left.span.start..otherwise.span.end;
            left = Node {
                kind: Kind::Ternary(Box::new(left), Box::new(then), Box::new(otherwise)),
                span,
            };
        }
        Ok(left)
    }

    fn peek_binary(&self) -> Option<(BinKind, u8, usize)> {
        use BinOp::*;
        let token = self.peek()?;
        let op = |op: BinOp, p: u8| Some((BinKind::Op(op), p, 1));
        match &token.tok {
            Tok::Name(n) => match n.as_str() {
                "or" => op(Or, 10),
                "and" => op(And, 15),
                "contains" => op(Contains, 20),
                "in" => op(In, 20),
                "equals" => op(Eq, 30),
                "is" if self.peek_at(1).is_some_and(|t| t.is_name("not")) => {
                    Some((BinKind::Test { negated: true }, 20, 2))
                }
                "is" => Some((BinKind::Test { negated: false }, 20, 1)),
                "not" if self.peek_at(1).is_some_and(|t| t.is_name("in")) => {
                    Some((BinKind::Op(NotIn), 20, 2))
                }
                _ => None,
            },
            Tok::Op(o) => match *o {
                "==" => op(Eq, 30),
                "!=" => op(Ne, 30),
                "<" => op(Lt, 30),
                ">" => op(Gt, 30),
                "<=" => op(Le, 30),
                ">=" => op(Ge, 30),
                "+" => op(Add, 40),
                "-" => op(Sub, 40),
                "*" => op(Mul, 60),
                "/" => op(Div, 60),
                "%" => op(Mod, 60),
                "|" => Some((BinKind::Filter, 100, 1)),
                "~" => op(Concat, 110),
                ".." => op(Range, 120),
                "??" => op(Coalesce, 120),
                "???" => op(CoalesceUndefined, 120),
                _ => None,
            },
            _ => None,
        }
    }

    fn unary(&mut self) -> Result<Node, SyntaxError> {
        let start = self.offset();
        if self.eat_name("not") {
            let operand = self.parse(UNARY_PRECEDENCE)?;
            let span = start..operand.span.end;
            return Ok(Node {
                kind: Kind::Not(Box::new(operand)),
                span,
            });
        }
        if self.eat_op("-") {
            let operand = self.parse(UNARY_PRECEDENCE)?;
            let span = start..operand.span.end;
            let kind = match operand.kind {
                Kind::Int(n) => Kind::Int(n.wrapping_neg()),
                Kind::Float(f) => Kind::Float(-f),
                _ => Kind::Neg(Box::new(operand)),
            };
            return Ok(Node { kind, span });
        }
        if self.eat_op("+") {
            return self.parse(UNARY_PRECEDENCE);
        }
        let primary = self.primary()?;
        self.postfix(primary)
    }

    fn primary(&mut self) -> Result<Node, SyntaxError> {
        let Some(token) = self.next() else {
            return Err(SyntaxError::new(
                "unexpected end of expression, expected a value",
                self.end_offset,
            ));
        };
        let start = token.span.start;
        let kind = match &token.tok {
            Tok::Str(s) => Kind::Str(s.clone()),
            Tok::Int(n) => Kind::Int(*n),
            Tok::Float(f) => Kind::Float(*f),
            Tok::Name(n) => match n.as_str() {
                "true" => Kind::Bool(true),
                "false" => Kind::Bool(false),
                "null" | "none" => Kind::Null,
                _ if self.peek().is_some_and(|t| t.is_op("(")) => {
                    return self.call(n, start);
                }
                _ => Kind::Name(n.clone()),
            },
            Tok::Op("(") => {
                let inner = self.expression()?;
                self.expect_op(")")?;
                return Ok(Node {
                    kind: inner.kind,
                    span: start..self.prev_end(),
                });
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                while !self.eat_op("]") {
                    items.push(self.expression()?);
                    if !self.eat_op(",") {
                        self.expect_op("]")?;
                        break;
                    }
                }
                Kind::List(items)
            }
            Tok::Op("{") => Kind::Map(self.map_entries()?),
            other => {
                return Err(SyntaxError::new(
                    format!("unexpected {}, expected a value", describe(other)),
                    start,
                ));
            }
        };
        Ok(Node {
            kind,
            span: start..self.prev_end(),
        })
    }

    fn map_entries(&mut self) -> Result<Vec<(Node, Node)>, SyntaxError> {
        let mut entries = Vec::new();
        while !self.eat_op("}") {
            // A bare word before ':' is a key, as in JSON-ish literals users write.
            let key = match (self.peek(), self.peek_at(1)) {
                (
                    Some(Token {
                        tok: Tok::Name(n),
                        span,
                    }),
                    Some(colon),
                ) if colon.is_op(":") => {
                    self.pos += 1;
                    Node {
                        kind: Kind::Str(n.clone()),
                        span: span.clone(),
                    }
                }
                _ => self.parse(1)?,
            };
            self.expect_op(":")?;
            let value = self.expression()?;
            entries.push((key, value));
            if !self.eat_op(",") {
                self.expect_op("}")?;
                break;
            }
        }
        Ok(entries)
    }

    fn postfix(&mut self, mut node: Node) -> Result<Node, SyntaxError> {
        loop {
            let start = node.span.start;
            if self.eat_op(".") {
                let Some(token) = self.next() else {
                    return Err(SyntaxError::new(
                        "unexpected end of expression, expected an attribute name",
                        self.end_offset,
                    ));
                };
                let kind = match &token.tok {
                    Tok::Name(n) => Kind::Attr(Box::new(node), n.clone()),
                    Tok::Int(i) => {
                        let index = Node {
                            kind: Kind::Int(*i),
                            span: token.span.clone(),
                        };
                        Kind::Index(Box::new(node), Box::new(index))
                    }
                    other => {
                        return Err(SyntaxError::new(
                            format!("unexpected {}, expected an attribute name", describe(other)),
                            token.span.start,
                        ));
                    }
                };
                if self.peek().is_some_and(|t| t.is_op("(")) {
                    return Err(SyntaxError::new(
                        "method calls are not supported; use a filter or function instead",
                        token.span.start,
                    ));
                }
                node = Node {
                    kind,
                    span: start..self.prev_end(),
                };
            } else if self.eat_op("[") {
                let index = self.expression()?;
                self.expect_op("]")?;
                node = Node {
                    kind: Kind::Index(Box::new(node), Box::new(index)),
                    span: start..self.prev_end(),
                };
            } else {
                return Ok(node);
            }
        }
    }

    fn call(&mut self, name: &str, start: usize) -> Result<Node, SyntaxError> {
        let Some(params) = catalog::function(name) else {
            let hint = catalog::suggestion(name, catalog::FUNCTIONS.iter().map(|(n, _)| *n));
            return Err(SyntaxError::new(
                format!("unknown function '{name}'{hint}"),
                start,
            ));
        };
        let args = self.arguments("function", name, params)?;
        let node = Node {
            kind: Kind::Call(name.to_string(), args),
            span: start..self.prev_end(),
        };
        self.postfix(node)
    }

    fn filter(&mut self, input: Node) -> Result<Node, SyntaxError> {
        let (name, span) = self.expect_name("a filter name")?;
        let Some(params) = catalog::filter(&name) else {
            let hint = catalog::suggestion(&name, catalog::FILTERS.iter().map(|(n, _)| *n));
            return Err(SyntaxError::new(
                format!("unknown filter '{name}'{hint}"),
                span.start,
            ));
        };
        let args = if self.peek().is_some_and(|t| t.is_op("(")) {
            self.arguments("filter", &name, params)?
        } else {
            Vec::new()
        };
        let start = input.span.start;
        Ok(Node {
            kind: Kind::Filter(Box::new(input), name, args),
            span: start..self.prev_end(),
        })
    }

    fn test(&mut self, input: Node, negated: bool) -> Result<Node, SyntaxError> {
        let (name, span) = self.expect_name("a test name")?;
        if !catalog::TESTS.contains(&name.as_str()) {
            let hint = catalog::suggestion(&name, catalog::TESTS.iter().copied());
            return Err(SyntaxError::new(
                format!("unknown test '{name}'{hint}"),
                span.start,
            ));
        }
        let start = input.span.start;
        Ok(Node {
            kind: Kind::Test(Box::new(input), name, negated),
            span: start..self.prev_end(),
        })
    }

    /// Parses `( … )` and maps named arguments onto their positions.
    fn arguments(
        &mut self,
        what: &str,
        name: &str,
        params: Params,
    ) -> Result<Vec<Option<Node>>, SyntaxError> {
        self.expect_op("(")?;
        let mut positional: Vec<Option<Node>> = Vec::new();
        let mut named: Vec<(String, Range<usize>, Node)> = Vec::new();
        while !self.eat_op(")") {
            let is_named = matches!(
                (self.peek(), self.peek_at(1)),
                (Some(Token { tok: Tok::Name(_), .. }), Some(eq)) if eq.is_op("=")
            );
            if is_named {
                let (arg, span) = self.expect_name("an argument name")?;
                self.pos += 1;
                named.push((arg, span, self.expression()?));
            } else if let Some((_, span, _)) = named.first() {
                return Err(SyntaxError::new(
                    "positional arguments must come before named arguments",
                    span.start,
                ));
            } else {
                positional.push(Some(self.expression()?));
            }
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        let Some(params) = params else {
            return Ok(positional);
        };
        if positional.len() > params.len() {
            return Err(SyntaxError::new(
                format!(
                    "{what} '{name}' takes at most {} argument{}",
                    params.len(),
                    if params.len() == 1 { "" } else { "s" }
                ),
                self.prev_end().saturating_sub(1),
            ));
        }
        for (arg, span, value) in named {
            let Some(index) = params.iter().position(|p| *p == arg) else {
                let expected = if params.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("expected one of: {}", params.join(", "))
                };
                return Err(SyntaxError::new(
                    format!("unknown argument '{arg}' for {what} '{name}' ({expected})"),
                    span.start,
                ));
            };
            if positional.len() <= index {
                positional.resize(index + 1, None);
            }
            if positional[index].is_some() {
                return Err(SyntaxError::new(
                    format!("argument '{arg}' of {what} '{name}' is given twice"),
                    span.start,
                ));
            }
            positional[index] = Some(value);
        }
        Ok(positional)
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Name(n) => format!("name '{n}'"),
        Tok::Str(_) => "string".to_string(),
        Tok::Int(n) => format!("number {n}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Op(o) => format!("'{o}'"),
    }
}
