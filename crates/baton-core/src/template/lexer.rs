//! Splits Pebble template text into segments (text, `{{ }}`, `{% %}`, comments, raw blocks) and
//! tokenizes the expressions inside the tags. Every token keeps its byte offset in the original
//! source so that errors and output references point at what the user wrote.

use std::ops::Range;

/// A lexing or parsing failure at a byte offset of the original source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub offset: usize,
}

impl SyntaxError {
    pub(crate) fn new(message: impl Into<String>, offset: usize) -> Self {
        SyntaxError {
            message: message.into(),
            offset,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Name(String),
    Str(String),
    Int(i64),
    Float(f64),
    /// Punctuation and symbolic operators, e.g. `??`, `.`, `(`.
    Op(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Range<usize>,
}

impl Token {
    pub(crate) fn is_op(&self, op: &str) -> bool {
        matches!(&self.tok, Tok::Op(o) if *o == op)
    }

    pub(crate) fn is_name(&self, name: &str) -> bool {
        matches!(&self.tok, Tok::Name(n) if n == name)
    }
}

/// One `{{ }}` or `{% %}` tag: where it sits and what it contains.
#[derive(Debug, Clone)]
pub(crate) struct TagSegment {
    /// The whole tag, delimiters included.
    pub span: Range<usize>,
    /// `{{-` / `{%-`: strip whitespace before the tag.
    pub trim_before: bool,
    /// `-}}` / `-%}`: strip whitespace after the tag.
    pub trim_after: bool,
    pub tokens: Vec<Token>,
}

#[derive(Debug, Clone)]
pub(crate) enum Segment {
    Text(Range<usize>),
    Print(TagSegment),
    Statement(TagSegment),
    Comment(Range<usize>),
    /// `{% raw %}…{% endraw %}` (or `verbatim`): the content is output as written.
    Raw {
        open: TagSegment,
        content: Range<usize>,
        close: TagSegment,
    },
}

const OPERATORS: &[&str] = &[
    "???", "??", "==", "!=", "<=", ">=", "..", "?", ":", ".", ",", "|", "(", ")", "[", "]", "{",
    "}", "<", ">", "+", "-", "*", "/", "%", "~", "=",
];

/// Splits the whole template into segments.
pub(crate) fn segments(src: &str) -> Result<Vec<Segment>, SyntaxError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < src.len() {
        let Some(rel) = find_tag_start(&src[pos..]) else {
            out.push(Segment::Text(pos..src.len()));
            break;
        };
        let start = pos + rel;
        if start > pos {
            out.push(Segment::Text(pos..start));
        }
        let opener = &src[start..start + 2];
        if opener == "{#" {
            let Some(end) = src[start + 2..].find("#}") else {
                return Err(SyntaxError::new("unclosed comment (missing '#}')", start));
            };
            let end = start + 2 + end + 2;
            out.push(Segment::Comment(start..end));
            pos = end;
            continue;
        }
        let closer = if opener == "{{" { "}}" } else { "%}" };
        let tag = lex_tag(src, start, closer)?;
        pos = tag.span.end;
        if opener == "{{" {
            out.push(Segment::Print(tag));
            continue;
        }
        let raw_name = match tag.tokens.first() {
            Some(t) if t.is_name("raw") && tag.tokens.len() == 1 => Some("endraw"),
            Some(t) if t.is_name("verbatim") && tag.tokens.len() == 1 => Some("endverbatim"),
            _ => None,
        };
        match raw_name {
            Some(end_name) => {
                let (content, close) = find_raw_end(src, pos, end_name, tag.span.start)?;
                pos = close.span.end;
                out.push(Segment::Raw {
                    open: tag,
                    content,
                    close,
                });
            }
            None => out.push(Segment::Statement(tag)),
        }
    }
    Ok(out)
}

fn find_tag_start(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{' && matches!(bytes[i + 1], b'{' | b'%' | b'#') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Finds `{% endraw %}` after a raw opener, returning the content range and the closing tag.
fn find_raw_end(
    src: &str,
    from: usize,
    end_name: &str,
    opened_at: usize,
) -> Result<(Range<usize>, TagSegment), SyntaxError> {
    let mut search = from;
    while let Some(rel) = src[search..].find("{%") {
        let start = search + rel;
        if let Ok(tag) = lex_tag(src, start, "%}")
            && tag.tokens.len() == 1
            && tag.tokens[0].is_name(end_name)
        {
            return Ok((from..start, tag));
        }
        search = start + 2;
    }
    Err(SyntaxError::new(
        format!("unclosed raw block (missing '{{% {end_name} %}}')"),
        opened_at,
    ))
}

/// Lexes one tag starting at `start` (which points at `{{` or `{%`).
fn lex_tag(src: &str, start: usize, closer: &str) -> Result<TagSegment, SyntaxError> {
    let bytes = src.as_bytes();
    let mut pos = start + 2;
    let trim_before = bytes.get(pos) == Some(&b'-');
    if trim_before {
        pos += 1;
    }
    let mut tokens = Vec::new();
    let mut depth: usize = 0;
    loop {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= bytes.len() {
            let opener = &src[start..start + 2];
            return Err(SyntaxError::new(
                format!("unclosed '{opener}' (missing '{closer}')"),
                start,
            ));
        }
        if depth == 0 {
            let rest = &src[pos..];
            if rest.starts_with(closer) {
                return Ok(TagSegment {
                    span: start..pos + 2,
                    trim_before,
                    trim_after: false,
                    tokens,
                });
            }
            if rest.starts_with('-') && rest[1..].starts_with(closer) {
                return Ok(TagSegment {
                    span: start..pos + 3,
                    trim_before,
                    trim_after: true,
                    tokens,
                });
            }
        }
        let token = lex_token(src, pos)?;
        match &token.tok {
            Tok::Op("(" | "[" | "{") => depth += 1,
            Tok::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
            _ => {}
        }
        pos = token.span.end;
        tokens.push(token);
    }
}

fn lex_token(src: &str, pos: usize) -> Result<Token, SyntaxError> {
    let rest = &src[pos..];
    let Some(c) = rest.chars().next() else {
        return Err(SyntaxError::new("unexpected end of template", pos));
    };
    if c == '\'' || c == '"' {
        return lex_string(src, pos, c);
    }
    if c.is_ascii_digit() {
        return Ok(lex_number(src, pos));
    }
    if c.is_ascii_alphabetic() || c == '_' {
        let len = rest
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
            .unwrap_or(rest.len());
        return Ok(Token {
            tok: Tok::Name(rest[..len].to_string()),
            span: pos..pos + len,
        });
    }
    for op in OPERATORS {
        if rest.starts_with(op) {
            return Ok(Token {
                tok: Tok::Op(op),
                span: pos..pos + op.len(),
            });
        }
    }
    Err(SyntaxError::new(format!("unexpected character '{c}'"), pos))
}

fn lex_number(src: &str, pos: usize) -> Token {
    let bytes = src.as_bytes();
    let mut end = pos;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    let is_float = end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit();
    if is_float {
        end += 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    let text = &src[pos..end];
    let tok = match (is_float, text.parse::<i64>()) {
        (false, Ok(n)) => Tok::Int(n),
        _ => Tok::Float(text.parse::<f64>().unwrap_or(f64::MAX)),
    };
    Token {
        tok,
        span: pos..end,
    }
}

fn lex_string(src: &str, pos: usize, quote: char) -> Result<Token, SyntaxError> {
    let mut value = String::new();
    let mut chars = src[pos + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok(Token {
                tok: Tok::Str(value),
                span: pos..pos + 1 + i + 1,
            });
        }
        if c != '\\' {
            value.push(c);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => value.push('\n'),
            Some((_, 't')) => value.push('\t'),
            Some((_, 'r')) => value.push('\r'),
            Some((_, e @ ('\\' | '\'' | '"'))) => value.push(e),
            Some((_, other)) => {
                value.push('\\');
                value.push(other);
            }
            None => break,
        }
    }
    Err(SyntaxError::new("unterminated string literal", pos))
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(src: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}
