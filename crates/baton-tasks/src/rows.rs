//! Rows that query tasks return: typed cells, shown as JSON in outputs (`FETCH`, `FETCH_ONE`)
//! and written as Amazon Ion text to a file in internal storage (`STORE`), one row per line, as
//! Kestra's `FileSerde` writes them, so `read()` and scripts downstream see the same format.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Map, Value};

/// One value of a row, keeping the types that JSON would lose and Ion keeps.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An exact decimal in plain notation (`-12.50`).
    Decimal(String),
    Text(String),
    /// A date (`2024-01-31`).
    Date(String),
    /// A date and time in ISO-8601, with its offset when the database has one.
    DateTime(String),
    Bytes(Vec<u8>),
    Json(Value),
    List(Vec<Cell>),
}

/// One row: column names in order with their cells.
pub(crate) type Row = Vec<(String, Cell)>;

impl Cell {
    /// The value in a task's outputs. Decimals become JSON numbers (integers when they have no
    /// fraction), bytes base64 text, dates and times ISO text.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(*b),
            Cell::Int(i) => Value::from(*i),
            Cell::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(f.to_string())),
            Cell::Decimal(text) => decimal_json(text),
            Cell::Text(text) | Cell::Date(text) | Cell::DateTime(text) => {
                Value::String(text.clone())
            }
            Cell::Bytes(bytes) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            Cell::Json(value) => value.clone(),
            Cell::List(cells) => Value::Array(cells.iter().map(Cell::to_json).collect()),
        }
    }

    /// Appends the value as Ion text.
    fn write_ion(&self, out: &mut String) {
        match self {
            Cell::Null => out.push_str("null"),
            Cell::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Cell::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Cell::Float(f) if f.is_nan() => out.push_str("nan"),
            Cell::Float(f) if f.is_infinite() => {
                out.push_str(if *f > 0.0 { "+inf" } else { "-inf" });
            }
            Cell::Float(f) => {
                let _ = write!(out, "{f:e}");
            }
            // Ion reads digits with a `.` or a `d` exponent as a decimal.
            Cell::Decimal(text) if text.contains('.') => out.push_str(text),
            Cell::Decimal(text) => {
                let _ = write!(out, "{text}d0");
            }
            Cell::Text(text) => ion_string(text, out),
            Cell::Date(text) => out.push_str(text),
            // Ion timestamps with a time need an offset; `-00:00` is Ion's "unknown offset".
            Cell::DateTime(text) if has_offset(text) => out.push_str(text),
            Cell::DateTime(text) => {
                let _ = write!(out, "{text}-00:00");
            }
            Cell::Bytes(bytes) => {
                let _ = write!(
                    out,
                    "{{{{{}}}}}",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                );
            }
            Cell::Json(value) => json_ion(value, out),
            Cell::List(cells) => {
                out.push('[');
                for (i, cell) in cells.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    cell.write_ion(out);
                }
                out.push(']');
            }
        }
    }
}

/// A row as a JSON object, for `row` and `rows` outputs.
pub(crate) fn row_json(row: &Row) -> Value {
    Value::Object(
        row.iter()
            .map(|(name, cell)| (name.clone(), cell.to_json()))
            .collect::<Map<String, Value>>(),
    )
}

/// A row as one line of Ion text (an Ion struct), with its newline.
pub(crate) fn row_ion(row: &Row) -> String {
    let mut out = String::from("{");
    for (i, (name, cell)) in row.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        ion_symbol(name, &mut out);
        out.push(':');
        cell.write_ion(&mut out);
    }
    out.push_str("}\n");
    out
}

/// A decimal as a JSON number: an integer when its fraction is zero (`-3.00` is `-3`), else
/// the nearest 64-bit float; text when it is out of a float's range.
fn decimal_json(text: &str) -> Value {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.chars().all(|c| c == '0')
        && let Ok(int) = whole.parse::<i64>()
    {
        return Value::from(int);
    }
    match text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        Some(number) => Value::Number(number),
        None => Value::String(text.to_owned()),
    }
}

fn has_offset(text: &str) -> bool {
    text.ends_with('Z') || {
        let time = text.split_once('T').map_or("", |(_, t)| t);
        time.contains('+') || time.contains('-')
    }
}

fn json_ion(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => {
            Cell::Float(n.as_f64().unwrap_or(f64::NAN)).write_ion(out)
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => ion_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_ion(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                ion_symbol(key, out);
                out.push(':');
                json_ion(item, out);
            }
            out.push('}');
        }
    }
}

fn ion_string(text: &str, out: &mut String) {
    out.push('"');
    escape_into(text, '"', out);
    out.push('"');
}

/// A field name: bare when it is an identifier Ion does not reserve, quoted otherwise.
fn ion_symbol(name: &str, out: &mut String) {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !matches!(name, "null" | "true" | "false" | "nan");
    if bare {
        out.push_str(name);
    } else {
        out.push('\'');
        escape_into(name, '\'', out);
        out.push('\'');
    }
}

fn escape_into(text: &str, quote: char, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_json_and_ion_lines() {
        let row: Row = vec![
            ("id".to_owned(), Cell::Int(1)),
            ("amount".to_owned(), Cell::Decimal("12.50".to_owned())),
            ("whole".to_owned(), Cell::Decimal("7".to_owned())),
            ("round".to_owned(), Cell::Decimal("-3.00".to_owned())),
            ("name".to_owned(), Cell::Text("a \"b\"\n".to_owned())),
            ("day".to_owned(), Cell::Date("2024-01-31".to_owned())),
            (
                "at".to_owned(),
                Cell::DateTime("2024-01-31T10:00:00Z".to_owned()),
            ),
            (
                "local".to_owned(),
                Cell::DateTime("2024-01-31T10:00:00".to_owned()),
            ),
            ("ratio".to_owned(), Cell::Float(0.5)),
            (
                "tags".to_owned(),
                Cell::List(vec![Cell::Text("x".to_owned()), Cell::Null]),
            ),
            (
                "doc".to_owned(),
                Cell::Json(serde_json::json!({"a b": [1, true]})),
            ),
            ("raw".to_owned(), Cell::Bytes(vec![1, 2])),
            ("null".to_owned(), Cell::Null),
        ];
        assert_eq!(
            row_json(&row),
            serde_json::json!({
                "id": 1, "amount": 12.5, "whole": 7, "round": -3, "name": "a \"b\"\n", "day": "2024-01-31",
                "at": "2024-01-31T10:00:00Z", "local": "2024-01-31T10:00:00", "ratio": 0.5,
                "tags": ["x", null], "doc": {"a b": [1, true]}, "raw": "AQI=", "null": null,
            })
        );
        assert_eq!(
            row_ion(&row),
            "{id:1,amount:12.50,whole:7d0,round:-3.00,name:\"a \\\"b\\\"\\n\",day:2024-01-31,\
             at:2024-01-31T10:00:00Z,local:2024-01-31T10:00:00-00:00,ratio:5e-1,\
             tags:[\"x\",null],doc:{'a b':[1,true]},raw:{{AQI=}},'null':null}\n"
        );
    }
}
