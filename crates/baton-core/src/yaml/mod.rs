//! A YAML tree that remembers where every node came from.
//!
//! Flows are read in two steps: first into this tree (every node with its source span), then
//! into the typed model. Keeping positions on the tree is what lets every later error say
//! `file:line:column`. Anchors and aliases are expanded here, within [`YamlLimits`], so a hostile
//! document (an alias bomb, a 10,000-deep nesting) is rejected with an error instead of eating
//! the server's memory.

mod de;
mod reader;

use std::fmt;

pub use de::{DeError, NodeDeserializer, struct_fields};
pub use reader::parse_documents;

use crate::diagnostic::{Position, Span};

/// Bounds on what one YAML document may cost to read.
#[derive(Clone, Copy, Debug)]
pub struct YamlLimits {
    /// Largest accepted source, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes in the expanded tree, counting every copy an alias makes.
    pub max_nodes: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
        }
    }
}

/// How a scalar was written; it decides whether `yes`, `01` or `null` are text or typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarStyle {
    Plain,
    Quoted,
    /// `|` or `>` block scalars. Their content starts on the line after the indicator.
    Block,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A scalar as written. Plain scalars are resolved with the YAML 1.2 core schema when a
    /// typed value is asked for (see [`Node::to_json`]); string fields read the text as is.
    Scalar {
        text: String,
        style: ScalarStyle,
    },
    Sequence(Vec<Node>),
    /// Entries in source order. Keys are unique (the reader rejects duplicates).
    Mapping(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

/// A resolved plain scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum Plain<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn position(&self) -> Position {
        self.span.start
    }

    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Sequence(items) => Some(items),
            _ => None,
        }
    }

    /// The text of a scalar that reads as a string: any quoted or block scalar, and plain
    /// scalars that are not null. `id: 01` gives `"01"`, as a string field would read it.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, style } => match style {
                ScalarStyle::Plain if matches!(self.plain(), Some(Plain::Null)) => None,
                _ => Some(text),
            },
            _ => None,
        }
    }

    /// Resolves a plain scalar with the YAML 1.2 core schema; `None` for other nodes.
    pub fn plain(&self) -> Option<Plain<'_>> {
        match &self.kind {
            NodeKind::Scalar {
                text,
                style: ScalarStyle::Plain,
            } => Some(resolve_plain(text)),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.plain(), Some(Plain::Null))
    }

    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// Looks a key up in a mapping node and returns the key node too, for its position.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_mapping()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// What kind of node this is, for messages like "expected a list, found a mapping".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Mapping(_) => "a mapping",
            NodeKind::Sequence(_) => "a list",
            NodeKind::Scalar {
                style: ScalarStyle::Plain,
                ..
            } => match self.plain() {
                Some(Plain::Null) => "nothing (null)",
                Some(Plain::Bool(_)) => "a boolean",
                Some(Plain::Int(_)) => "an integer",
                Some(Plain::Float(_)) => "a number",
                _ => "a string",
            },
            NodeKind::Scalar { .. } => "a string",
        }
    }

    /// The node as untyped JSON, resolving plain scalars with the core schema. Used for the
    /// parts of a flow that stay dynamic (variables, free-form task properties).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar { text, style } => match style {
                ScalarStyle::Plain => match resolve_plain(text) {
                    Plain::Null => Value::Null,
                    Plain::Bool(b) => Value::Bool(b),
                    Plain::Int(i) => Value::from(i),
                    Plain::Float(f) => serde_json::Number::from_f64(f)
                        .map_or_else(|| Value::String(text.clone()), Value::Number),
                    Plain::Str(s) => Value::String(s.to_owned()),
                },
                _ => Value::String(text.clone()),
            },
            NodeKind::Sequence(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Mapping(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (key_text(k), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The text of a mapping key. Non-scalar keys are rare in flows; they get a readable stand-in.
pub fn key_text(key: &Node) -> String {
    match &key.kind {
        NodeKind::Scalar { text, .. } => text.clone(),
        _ => key.to_json().to_string(),
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub fn resolve_plain(text: &str) -> Plain<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Plain::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Plain::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Plain::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Plain::Str(text);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).map_or(Plain::Str(text), Plain::Int);
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).map_or(Plain::Str(text), Plain::Int);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_or(Plain::Str(text), Plain::Int);
    }
    let is_float_syntax = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if is_float_syntax && let Ok(f) = text.parse::<f64>() {
        return Plain::Float(f);
    }
    Plain::Str(text)
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

#[cfg(test)]
mod tests;
