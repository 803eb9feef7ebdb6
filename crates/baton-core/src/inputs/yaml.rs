//! YAML text to a JSON value, for YAML inputs and YAML-style lists (`[brand, price]`).
//!
//! Plain scalars are resolved with the YAML 1.2 core schema: `null`/`~`/empty, `true`/`false`,
//! integers (also `0x`, `0o`), floats; everything else, and every quoted or block scalar, is a
//! string. Anchors and aliases are expanded. Only one document is accepted.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};
use serde_json::{Map, Number, Value};

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;
/// Alias expansion stops here, so a "billion laughs" text cannot blow up memory.
const MAX_NODES: usize = 100_000;

pub(crate) fn parse_yaml(text: &str) -> Result<Value, String> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut document = None;
    loop {
        match reader.next()? {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if document.is_some() {
                    return Err("it holds more than one YAML document".into());
                }
                let first = reader.next()?;
                document = Some(reader.node(first, 0)?);
            }
            _ => return Err("unexpected YAML structure".into()),
        }
    }
    Ok(document.unwrap_or(Value::Null))
}

struct Reader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    nodes: usize,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<Event<'a>, String> {
        match self.parser.next_event() {
            Some(Ok((event, _))) => Ok(event),
            Some(Err(e)) => Err(describe(&e)),
            None => Ok(Event::StreamEnd),
        }
    }

    fn node(&mut self, event: Event<'a>, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("it is nested too deeply".into());
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err("it is too large".into());
        }
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !is_str_tag {
                    plain_scalar(&text)
                } else {
                    Value::String(text.into_owned())
                };
                (value, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        event => items.push(self.node(event, depth + 1)?),
                    }
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                loop {
                    let key = match self.next()? {
                        Event::MappingEnd => break,
                        event => self.node(event, depth + 1)?,
                    };
                    let key = match key {
                        Value::String(s) => s,
                        Value::Null => "null".to_owned(),
                        Value::Bool(_) | Value::Number(_) => key.to_string(),
                        _ => return Err("a mapping key is a list or a mapping".into()),
                    };
                    let event = self.next()?;
                    let value = self.node(event, depth + 1)?;
                    map.insert(key, value);
                }
                (Value::Object(map), anchor)
            }
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or("an alias refers to an unknown anchor")?;
                self.nodes += count_nodes(&value);
                if self.nodes > MAX_NODES {
                    return Err("it is too large".into());
                }
                (value, 0)
            }
            _ => return Err("unexpected YAML structure".into()),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }
}

fn count_nodes(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

fn describe(error: &ScanError) -> String {
    let at = error.marker();
    format!(
        "{} at line {} column {}",
        error.info(),
        at.line(),
        at.col() + 1
    )
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let radix = |prefix: &str, radix: u32| {
        digits
            .strip_prefix(prefix)
            .and_then(|d| i64::from_str_radix(d, radix).ok())
    };
    let integer = if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
        text.parse::<i64>().ok()
    } else if negative {
        None
    } else {
        radix("0x", 16).or_else(|| radix("0o", 8))
    };
    if let Some(n) = integer {
        return Value::Number(n.into());
    }
    let looks_numeric = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_numeric && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}
