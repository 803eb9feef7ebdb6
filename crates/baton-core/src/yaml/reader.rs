//! Builds [`Node`] trees from saphyr's event stream, expanding aliases and merge keys within
//! the limits.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle as SaphyrStyle, Span as SaphyrSpan};

use super::{Node, NodeKind, ScalarStyle, YamlLimits, key_text};
use crate::diagnostic::{Diagnostic, Position, Span};

/// Reads every document of a YAML stream. The first problem stops the reading: a YAML syntax
/// error leaves nothing sound to continue with.
pub fn parse_documents(source: &str, limits: &YamlLimits) -> Result<Vec<Node>, Diagnostic> {
    if source.len() > limits.max_bytes {
        return Err(Diagnostic::error(
            Position::new(1, 1),
            format!(
                "the document is {} bytes, more than the limit of {} bytes",
                source.len(),
                limits.max_bytes
            ),
        ));
    }
    let mut reader = Reader {
        source,
        limits,
        anchors: HashMap::new(),
        nodes: 0,
    };
    reader.stream()
}

struct Reader<'s> {
    source: &'s str,
    limits: &'s YamlLimits,
    anchors: HashMap<usize, Node>,
    /// Nodes built so far, counting the copies that aliases make.
    nodes: usize,
}

/// An event paired with its span, or where the event stream broke.
type Next<'s> = Result<(Event<'s>, SaphyrSpan), Diagnostic>;

impl<'s> Reader<'s> {
    fn stream(&mut self) -> Result<Vec<Node>, Diagnostic> {
        let mut parser = Parser::new_from_str(self.source);
        let mut documents = Vec::new();
        loop {
            let (event, span) = self.next(&mut parser)?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(documents),
                Event::DocumentStart(_) => {
                    self.anchors.clear();
                    let (event, span) = self.next(&mut parser)?;
                    let node = self.node(&mut parser, event, span, 0)?;
                    documents.push(node);
                }
                other => return Err(self.error(span, format!("unexpected YAML event {other:?}"))),
            }
        }
    }

    fn next(&self, parser: &mut Parser<'s, saphyr_parser::StrInput<'s>>) -> Next<'s> {
        match parser.next_event() {
            Some(Ok(pair)) => Ok(pair),
            Some(Err(e)) => {
                let marker = e.marker();
                let position = Position::new(marker.line() as u32, marker.col() as u32 + 1);
                Err(Diagnostic::error(
                    position,
                    self.syntax_message(e.info(), position.line),
                ))
            }
            None => Err(Diagnostic::error(
                Position::new(1, 1),
                "the YAML stream ended early",
            )),
        }
    }

    /// Adds a hint to syntax errors on lines holding an unquoted template, the most common
    /// mistake in Kestra flows: `message: {{ x }}` is a YAML flow mapping, not a string.
    fn syntax_message(&self, info: &str, line: u32) -> String {
        let text = self
            .source
            .lines()
            .nth(line.saturating_sub(1) as usize)
            .unwrap_or("");
        let hint = if text.contains("{{") {
            " (a value starting with {{ must be quoted: write \"{{ ... }}\")"
        } else {
            ""
        };
        format!("invalid YAML: {info}{hint}")
    }

    fn node(
        &mut self,
        parser: &mut Parser<'s, saphyr_parser::StrInput<'s>>,
        event: Event<'s>,
        span: SaphyrSpan,
        depth: usize,
    ) -> Result<Node, Diagnostic> {
        if depth > self.limits.max_depth {
            return Err(self.error(
                span,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            ));
        }
        self.count(span, 1)?;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                // `!!str 12` is the string "12": an explicit core-schema string tag.
                let string_tag = tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let style = match style {
                    _ if string_tag => ScalarStyle::Quoted,
                    SaphyrStyle::Plain => ScalarStyle::Plain,
                    SaphyrStyle::SingleQuoted | SaphyrStyle::DoubleQuoted => ScalarStyle::Quoted,
                    SaphyrStyle::Literal | SaphyrStyle::Folded => ScalarStyle::Block,
                };
                let node = Node {
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        style,
                    },
                    span: convert(span),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::SequenceStart(anchor, _tag) => {
                let mut items = Vec::new();
                let end = loop {
                    let (event, item_span) = self.next(parser)?;
                    if let Event::SequenceEnd = event {
                        break item_span;
                    }
                    items.push(self.node(parser, event, item_span, depth + 1)?);
                };
                let node = Node {
                    kind: NodeKind::Sequence(items),
                    span: join(span, end),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, _tag) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let mut merged: Vec<(Node, Node)> = Vec::new();
                let end = loop {
                    let (event, key_span) = self.next(parser)?;
                    if let Event::MappingEnd = event {
                        break key_span;
                    }
                    let key = self.node(parser, event, key_span, depth + 1)?;
                    let (event, value_span) = self.next(parser)?;
                    let value = self.node(parser, event, value_span, depth + 1)?;
                    if !matches!(key.kind, NodeKind::Scalar { .. }) {
                        return Err(Diagnostic::error(
                            key.position(),
                            "a mapping key must be a plain value; if this is a template, quote it: \"{{ ... }}\"",
                        ));
                    }
                    if matches!(&key.kind, NodeKind::Scalar { text, style: ScalarStyle::Plain } if text == "<<")
                    {
                        self.merge_into(&mut merged, value)?;
                        continue;
                    }
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.kind == key.kind) {
                        return Err(Diagnostic::error(
                            key.position(),
                            format!(
                                "duplicate key '{}' (first defined at {})",
                                key_text(&key),
                                first.position()
                            ),
                        ));
                    }
                    entries.push((key, value));
                };
                // Merged entries fill in keys the mapping did not set itself, as YAML 1.1 says.
                for (key, value) in merged {
                    if !entries.iter().any(|(k, _)| k.kind == key.kind) {
                        entries.push((key, value));
                    }
                }
                let node = Node {
                    kind: NodeKind::Mapping(entries),
                    span: join(span, end),
                };
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor) {
                Some(target) => {
                    let target = target.clone();
                    self.count(span, count_nodes(&target))?;
                    Ok(target)
                }
                None => Err(self.error(span, "alias to an unknown anchor")),
            },
            other => Err(self.error(span, format!("unexpected YAML event {other:?}"))),
        }
    }

    /// `<<: *base` and `<<: [*a, *b]`: collects the entries of the referenced mappings.
    fn merge_into(&self, merged: &mut Vec<(Node, Node)>, value: Node) -> Result<(), Diagnostic> {
        let sources = match value.kind {
            NodeKind::Mapping(_) => vec![value],
            NodeKind::Sequence(items) => items,
            _ => {
                return Err(Diagnostic::error(
                    value.span.start,
                    "a merge key (<<) takes a mapping or a list of mappings",
                ));
            }
        };
        for source in sources {
            let position = source.span.start;
            match source.kind {
                NodeKind::Mapping(entries) => {
                    for (key, value) in entries {
                        if !merged.iter().any(|(k, _)| k.kind == key.kind) {
                            merged.push((key, value));
                        }
                    }
                }
                _ => {
                    return Err(Diagnostic::error(
                        position,
                        "a merge key (<<) takes a mapping or a list of mappings",
                    ));
                }
            }
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn count(&mut self, span: SaphyrSpan, added: usize) -> Result<(), Diagnostic> {
        self.nodes += added;
        if self.nodes > self.limits.max_nodes {
            return Err(self.error(
                span,
                format!(
                    "the document expands to more than {} nodes (aliases included)",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn error(&self, span: SaphyrSpan, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(convert(span).start, message)
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Scalar { .. } => 0,
        NodeKind::Sequence(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Mapping(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
    }
}

fn position(marker: saphyr_parser::Marker) -> Position {
    Position::new(marker.line() as u32, marker.col() as u32 + 1)
}

fn convert(span: SaphyrSpan) -> Span {
    Span::new(position(span.start), position(span.end))
}

fn join(start: SaphyrSpan, end: SaphyrSpan) -> Span {
    Span::new(position(start.start), position(end.end))
}
