//! Finds the task outputs a template reads, for validation warnings.

use super::lexer::{self, Segment, Tok, Token};

/// One `outputs.<taskId>` (or `outputs['<taskId>']`) read by a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputReference {
    pub task_id: String,
    /// 1-based position of `outputs` in the original source.
    pub line: u32,
    pub column: u32,
}

/// Every `outputs.<taskId>` / `outputs['<taskId>']` the template reads, in source order.
///
/// Best effort: when part of the template does not lex, the tags before the broken one are
/// still scanned. Never panics.
pub fn output_references(source: &str) -> Vec<OutputReference> {
    let mut end = source.len();
    let segments = loop {
        match lexer::segments(&source[..end]) {
            Ok(segments) => break segments,
            Err(err) if err.offset < end && source.is_char_boundary(err.offset) => end = err.offset,
            Err(_) => return Vec::new(),
        }
    };
    let mut found = Vec::new();
    for segment in &segments {
        let tokens = match segment {
            Segment::Print(tag) | Segment::Statement(tag) => &tag.tokens,
            _ => continue,
        };
        scan(source, tokens, &mut found);
    }
    found
}

fn scan(source: &str, tokens: &[Token], found: &mut Vec<OutputReference>) {
    for (i, token) in tokens.iter().enumerate() {
        if !token.is_name("outputs") {
            continue;
        }
        let after_dot = i > 0 && tokens[i - 1].is_op(".");
        if after_dot {
            continue;
        }
        let task_id = match (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3)) {
            (
                Some(dot),
                Some(Token {
                    tok: Tok::Name(id), ..
                }),
                _,
            ) if dot.is_op(".") => id.clone(),
            (
                Some(open),
                Some(Token {
                    tok: Tok::Str(id), ..
                }),
                Some(close),
            ) if open.is_op("[") && close.is_op("]") => id.clone(),
            _ => continue,
        };
        let (line, column) = lexer::line_col(source, token.span.start);
        found.push(OutputReference {
            task_id,
            line,
            column,
        });
    }
}
