//! A serde `Deserializer` over [`Node`], so typed parts of a flow (a retry policy, a task's
//! properties) come straight from the tree with positions on every error.
//!
//! Two things differ from a plain serde YAML reader, both for the user's sake:
//! - Unknown keys of a struct are all reported (with a "did you mean"), not just the first, and
//!   reading goes on without them. They land in the shared `problems` list.
//! - Errors carry the position of the innermost node they are about, and the key they were read
//!   under.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use super::{Node, NodeKind, Plain, ScalarStyle, key_text};
use crate::diagnostic::{Diagnostic, Position, closest};

/// An error while reading a node into a typed value.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub position: Option<Position>,
    /// The key the failing value was read under, innermost first.
    pub field: Option<String>,
    pub message: String,
}

impl DeError {
    fn at(mut self, position: Position) -> Self {
        self.position.get_or_insert(position);
        self
    }

    fn under(mut self, field: &str) -> Self {
        self.field.get_or_insert_with(|| field.to_owned());
        self
    }

    /// Turns the error into a diagnostic, using `fallback` when no node position is known.
    pub fn into_diagnostic(self, fallback: Position) -> Diagnostic {
        let position = self.position.unwrap_or(fallback);
        let message = match &self.field {
            Some(field) => format!("'{field}': {}", self.message),
            None => self.message,
        };
        Diagnostic::error(position, message)
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "'{field}': {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            position: None,
            field: None,
            message: msg.to_string(),
        }
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        let found = match unexpected {
            de::Unexpected::Map => "a mapping".to_owned(),
            de::Unexpected::Seq => "a list".to_owned(),
            de::Unexpected::Unit | de::Unexpected::Option => "nothing (null)".to_owned(),
            de::Unexpected::Str(s) => format!("the string '{s}'"),
            other => other.to_string(),
        };
        Self::custom(format_args!("expected {expected}, found {found}"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let hint = closest(variant, expected.iter().copied())
            .map(|c| format!(" (did you mean {c}?)"))
            .unwrap_or_default();
        Self::custom(format_args!(
            "unknown value '{variant}'{hint}; expected one of {}",
            expected.join(", ")
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = closest(field, expected.iter().copied())
            .map(|c| format!(" (did you mean '{c}'?)"))
            .unwrap_or_default();
        Self::custom(format_args!("unknown property '{field}'{hint}"))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::custom(format_args!("missing required property '{field}'"))
    }
}

/// Deserializes one node. `problems` collects the non-fatal findings (unknown keys).
pub struct NodeDeserializer<'a> {
    node: &'a Node,
    problems: &'a RefCell<Vec<Diagnostic>>,
    /// Whether keys a struct does not know are reported. Off when one mapping is split between
    /// several structs (a task's common and specific properties); the caller reports them.
    report_unknown: bool,
}

impl<'a> NodeDeserializer<'a> {
    pub fn new(node: &'a Node, problems: &'a RefCell<Vec<Diagnostic>>) -> Self {
        Self {
            node,
            problems,
            report_unknown: true,
        }
    }

    /// Reads one part of a mapping: keys the target struct does not know are ignored here.
    pub fn part_of(node: &'a Node, problems: &'a RefCell<Vec<Diagnostic>>) -> Self {
        Self {
            node,
            problems,
            report_unknown: false,
        }
    }

    fn child(&self, node: &'a Node) -> Self {
        Self {
            node,
            problems: self.problems,
            report_unknown: true,
        }
    }

    fn position(&self) -> Position {
        self.node.position()
    }

    fn invalid(&self, expected: &str) -> DeError {
        de::Error::custom(format_args!(
            "expected {expected}, found {}",
            self.node.describe()
        ))
    }

    fn scalar_text(&self) -> Option<&'a str> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

macro_rules! integer {
    ($method:ident, $visit:ident, $ty:ty) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let value = match self.node.plain() {
                Some(Plain::Int(i)) => Some(i),
                // A quoted number is accepted where a number is expected, as Jackson does.
                _ => self
                    .scalar_text()
                    .and_then(|t| t.trim().parse::<i64>().ok()),
            };
            let value = value.ok_or_else(|| self.invalid("an integer"))?;
            let value = <$ty>::try_from(value)
                .map_err(|_| de::Error::custom(format_args!("{value} is out of range")))
                .map_err(|e: DeError| e.at(self.position()))?;
            visitor
                .$visit::<DeError>(value)
                .map_err(|e| e.at(self.position()))
        }
    };
}

impl<'de, 'a> Deserializer<'de> for NodeDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let position = self.position();
        let result = match &self.node.kind {
            NodeKind::Scalar {
                text,
                style: ScalarStyle::Plain,
            } => match super::resolve_plain(text) {
                Plain::Null => visitor.visit_unit(),
                Plain::Bool(b) => visitor.visit_bool(b),
                Plain::Int(i) => visitor.visit_i64(i),
                Plain::Float(f) => visitor.visit_f64(f),
                Plain::Str(s) => visitor.visit_str(s),
            },
            NodeKind::Scalar { text, .. } => visitor.visit_str(text),
            NodeKind::Sequence(items) => visitor.visit_seq(Seq {
                items: items.iter(),
                de: &self,
            }),
            NodeKind::Mapping(entries) => visitor.visit_map(Map::new(entries, &self, None)),
        };
        result.map_err(|e| e.at(position))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let value = match self.node.plain() {
            Some(Plain::Bool(b)) => Some(b),
            _ => match self.scalar_text().map(str::trim) {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            },
        };
        let value = value.ok_or_else(|| self.invalid("true or false").at(self.position()))?;
        visitor.visit_bool(value)
    }

    integer!(deserialize_i8, visit_i8, i8);
    integer!(deserialize_i16, visit_i16, i16);
    integer!(deserialize_i32, visit_i32, i32);
    integer!(deserialize_i64, visit_i64, i64);
    integer!(deserialize_u8, visit_u8, u8);
    integer!(deserialize_u16, visit_u16, u16);
    integer!(deserialize_u32, visit_u32, u32);
    integer!(deserialize_u64, visit_u64, u64);

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let value = match self.node.plain() {
            Some(Plain::Int(i)) => Some(i as f64),
            Some(Plain::Float(f)) => Some(f),
            _ => self
                .scalar_text()
                .and_then(|t| t.trim().parse::<f64>().ok()),
        };
        let value = value.ok_or_else(|| self.invalid("a number").at(self.position()))?;
        visitor.visit_f64(value)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // A string field reads any non-null scalar as written: `version: 1.10` stays "1.10".
        match self.node.as_str() {
            Some(text) => visitor
                .visit_str::<DeError>(text)
                .map_err(|e| e.at(self.position())),
            None => Err(self.invalid("a string").at(self.position())),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.invalid("nothing").at(self.position()))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Sequence(items) => visitor
                .visit_seq(Seq {
                    items: items.iter(),
                    de: &self,
                })
                .map_err(|e| e.at(self.position())),
            _ => Err(self.invalid("a list").at(self.position())),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Mapping(entries) => visitor
                .visit_map(Map::new(entries, &self, None))
                .map_err(|e| e.at(self.position())),
            _ => Err(self.invalid("a mapping").at(self.position())),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let NodeKind::Mapping(entries) = &self.node.kind else {
            return Err(self.invalid("a mapping").at(self.position()));
        };
        for (key, _) in entries {
            let name = key_text(key);
            if self.report_unknown && !fields.contains(&name.as_str()) {
                let hint = closest(&name, fields.iter().copied())
                    .map(|c| format!(" (did you mean '{c}'?)"))
                    .unwrap_or_default();
                self.problems.borrow_mut().push(Diagnostic::error(
                    key.position(),
                    format!("unknown property '{name}'{hint}"),
                ));
            }
        }
        visitor
            .visit_map(Map::new(entries, &self, Some(fields)))
            .map_err(|e| e.at(self.position()))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(self.position())),
            _ => Err(self
                .invalid("one of the allowed values")
                .at(self.position())),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a, 'b> {
    items: std::slice::Iter<'a, Node>,
    de: &'b NodeDeserializer<'a>,
}

impl<'de, 'a, 'b> SeqAccess<'de> for Seq<'a, 'b> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(item) => seed
                .deserialize(self.de.child(item))
                .map(Some)
                .map_err(|e| e.at(item.position())),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a, 'b> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    de: &'b NodeDeserializer<'a>,
    /// For structs: only these keys are handed to the visitor; the others were reported.
    fields: Option<&'static [&'static str]>,
    value: Option<(&'a Node, String)>,
}

impl<'a, 'b> Map<'a, 'b> {
    fn new(
        entries: &'a [(Node, Node)],
        de: &'b NodeDeserializer<'a>,
        fields: Option<&'static [&'static str]>,
    ) -> Self {
        Self {
            entries: entries.iter(),
            de,
            fields,
            value: None,
        }
    }
}

impl<'de, 'a, 'b> MapAccess<'de> for Map<'a, 'b> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for (key, value) in self.entries.by_ref() {
            let name = key_text(key);
            if let Some(fields) = self.fields
                && !fields.contains(&name.as_str())
            {
                continue;
            }
            let read = seed
                .deserialize(self.de.child(key))
                .map_err(|e| e.at(key.position()))?;
            self.value = Some((value, name));
            return Ok(Some(read));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (value, name) = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value read before its key"))?;
        seed.deserialize(self.de.child(value))
            .map_err(|e| e.at(value.position()).under(&name))
    }
}

/// The field names serde would accept for `T`, found by asking its `Deserialize` impl. Used to
/// split one YAML mapping between several structs (a task's common and specific properties).
pub fn struct_fields<T: de::DeserializeOwned>() -> &'static [&'static str] {
    struct Introspect<'f>(&'f mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Introspect<'_> {
        type Error = DeError;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DeError> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, DeError> {
            *self.0 = fields;
            Err(de::Error::custom("introspected"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Introspect(&mut fields));
    fields
}
