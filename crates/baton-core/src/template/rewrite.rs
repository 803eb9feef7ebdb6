//! Rewrites a Pebble template into minijinja source.
//!
//! Text passes through unchanged; each tag is re-emitted with its expression translated by
//! `emit.rs`. Every tag is padded with the newlines it had, so line N of the rewritten source
//! is line N of the original and minijinja's line numbers stay valid. Errors that need a
//! column carry the original byte offset themselves.

use super::emit::{Emitter, Lookup};
use super::lexer::{self, Segment, SyntaxError, TagSegment};
use super::parser::{Node, Parser};

/// A Pebble template translated for minijinja.
#[derive(Debug)]
pub(crate) struct Rewritten {
    pub source: String,
    /// `{{ __capture(expr) }}` when the template is a single expression (for typed rendering).
    pub typed_source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    If { has_else: bool },
    For { has_else: bool },
    Filter,
}

impl Block {
    fn name(self) -> &'static str {
        match self {
            Block::If { .. } => "if",
            Block::For { .. } => "for",
            Block::Filter => "filter",
        }
    }
}

const UNSUPPORTED_TAGS: &[&str] = &[
    "macro",
    "block",
    "extends",
    "include",
    "import",
    "from",
    "embed",
    "autoescape",
    "cache",
    "parallel",
    "flush",
];

pub(crate) fn rewrite(src: &str) -> Result<Rewritten, SyntaxError> {
    let segments = lexer::segments(src)?;
    let emitter = Emitter { src };
    let mut out = String::with_capacity(src.len() + 32);
    let mut stack: Vec<(Block, usize)> = Vec::new();
    let mut single: Option<String> = None;
    let mut prints = 0;
    let mut other_content = false;
    for segment in &segments {
        match segment {
            Segment::Text(range) => {
                let text = &src[range.clone()];
                other_content |= !text.trim().is_empty();
                out.push_str(text);
            }
            Segment::Comment(range) => {
                out.push_str("{#");
                pad_newlines(&mut out, &src[range.clone()]);
                out.push_str("#}");
            }
            Segment::Raw {
                open,
                content,
                close,
            } => {
                other_content = true;
                open_tag(&mut out, open, "{%");
                out.push_str(" raw ");
                close_tag(&mut out, src, open, "%}");
                out.push_str(&src[content.clone()]);
                open_tag(&mut out, close, "{%");
                out.push_str(" endraw ");
                close_tag(&mut out, src, close, "%}");
            }
            Segment::Print(tag) => {
                prints += 1;
                let node = expression(tag)?;
                let expr = emitter.expression(&node, Lookup::Strict);
                if prints == 1 {
                    single = Some(format!("{{{{ __capture({expr}) }}}}"));
                }
                open_tag(&mut out, tag, "{{");
                out.push(' ');
                out.push_str(&expr);
                out.push(' ');
                close_tag(&mut out, src, tag, "}}");
            }
            Segment::Statement(tag) => {
                other_content = true;
                statement(&mut out, src, &emitter, tag, &mut stack)?;
            }
        }
    }
    if let Some((block, offset)) = stack.pop() {
        let name = block.name();
        return Err(SyntaxError::new(
            format!("unclosed '{{% {name} %}}' (missing '{{% end{name} %}}')"),
            offset,
        ));
    }
    let typed_source = if prints == 1 && !other_content {
        single
    } else {
        None
    };
    Ok(Rewritten {
        source: out,
        typed_source,
    })
}

fn expression(tag: &TagSegment) -> Result<Node, SyntaxError> {
    let end = tag.span.end.saturating_sub(2);
    if tag.tokens.is_empty() {
        return Err(SyntaxError::new(
            "empty expression: '{{ }}' needs something to print",
            tag.span.start,
        ));
    }
    let mut parser = Parser::new(&tag.tokens, end);
    let node = parser.expression()?;
    parser.expect_end()?;
    Ok(node)
}

fn open_tag(out: &mut String, tag: &TagSegment, opener: &str) {
    out.push_str(opener);
    if tag.trim_before {
        out.push('-');
    }
}

fn close_tag(out: &mut String, src: &str, tag: &TagSegment, closer: &str) {
    pad_newlines(out, &src[tag.span.clone()]);
    if tag.trim_after {
        out.push('-');
    }
    out.push_str(closer);
}

fn pad_newlines(out: &mut String, original: &str) {
    out.extend(std::iter::repeat_n('\n', original.matches('\n').count()));
}

fn statement(
    out: &mut String,
    src: &str,
    emitter: &Emitter<'_>,
    tag: &TagSegment,
    stack: &mut Vec<(Block, usize)>,
) -> Result<(), SyntaxError> {
    let end = tag.span.end.saturating_sub(2);
    let mut parser = Parser::new(&tag.tokens, end);
    let (name, name_span) = parser.expect_name("a tag name like 'if', 'for' or 'set'")?;
    let body = match name.as_str() {
        "if" => {
            let condition = parser.expression()?;
            stack.push((Block::If { has_else: false }, tag.span.start));
            format!("if {}", emitter.expression(&condition, Lookup::Strict))
        }
        "elseif" | "elif" => {
            match stack.last() {
                Some((Block::If { has_else: false }, _)) => {}
                Some((Block::If { has_else: true }, _)) => {
                    return Err(SyntaxError::new("'elseif' after 'else'", name_span.start));
                }
                _ => {
                    return Err(SyntaxError::new(
                        "'elseif' outside of an 'if' block",
                        name_span.start,
                    ));
                }
            }
            let condition = parser.expression()?;
            format!("elif {}", emitter.expression(&condition, Lookup::Strict))
        }
        "else" => {
            match stack.last_mut() {
                Some((Block::If { has_else } | Block::For { has_else }, _)) if !*has_else => {
                    *has_else = true;
                }
                _ => return Err(SyntaxError::new("unexpected 'else'", name_span.start)),
            }
            "else".to_string()
        }
        "for" => {
            let (first, _) = parser.expect_name("a loop variable name")?;
            let second = if parser.eat_op(",") {
                Some(parser.expect_name("a second loop variable name")?.0)
            } else {
                None
            };
            if !parser.eat_name("in") {
                return Err(parser.error_here("'in'"));
            }
            let iterable = parser.expression()?;
            let iterable = emitter.expression(&iterable, Lookup::Strict);
            stack.push((Block::For { has_else: false }, tag.span.start));
            match second {
                Some(second) => format!("for {first}, {second} in __pairs({iterable})"),
                None => format!("for {first} in __iter({iterable})"),
            }
        }
        "set" => {
            let (target, _) = parser.expect_name("a variable name")?;
            parser.expect_op("=")?;
            let value = parser.expression()?;
            format!(
                "set {target} = {}",
                emitter.expression(&value, Lookup::Strict)
            )
        }
        "filter" => {
            let (filter, span) = parser.expect_name("a filter name")?;
            if super::catalog::filter(&filter).is_none() {
                return Err(SyntaxError::new(
                    format!("unknown filter '{filter}'"),
                    span.start,
                ));
            }
            stack.push((Block::Filter, tag.span.start));
            format!("filter {filter}")
        }
        "endif" | "endfor" | "endfilter" => {
            let expected = &name[3..];
            match stack.pop() {
                Some((block, _)) if block.name() == expected => {}
                Some((block, _)) => {
                    return Err(SyntaxError::new(
                        format!("unexpected '{name}', expected 'end{}'", block.name()),
                        name_span.start,
                    ));
                }
                None => {
                    return Err(SyntaxError::new(
                        format!("unexpected '{name}' without an open '{expected}'"),
                        name_span.start,
                    ));
                }
            }
            name.clone()
        }
        other if UNSUPPORTED_TAGS.contains(&other) => {
            return Err(SyntaxError::new(
                format!("the '{other}' tag is not supported"),
                name_span.start,
            ));
        }
        other => {
            return Err(SyntaxError::new(
                format!("unknown tag '{other}'"),
                name_span.start,
            ));
        }
    };
    parser.expect_end()?;
    open_tag(out, tag, "{%");
    out.push(' ');
    out.push_str(&body);
    out.push(' ');
    close_tag(out, src, tag, "%}");
    Ok(())
}
