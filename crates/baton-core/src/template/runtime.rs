//! The helpers the rewritten templates call (`__var`, `__concat`, `__div`, …) and Pebble's
//! way of printing values. Everything here is registered on the shared environment once.

use std::fmt::Write;

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, State};

use super::TemplateErrorKind;
use super::error::{fault, fault_at, type_error};
use super::session::Session;

/// The most items `a..b` or `range()` may produce.
pub(crate) const MAX_RANGE: i64 = 100_000;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.set_formatter(|out, _state, value| {
        let written = match value.as_str() {
            Some(s) if value.kind() == ValueKind::String => out.write_str(s),
            _ => out.write_str(&display(value)),
        };
        written.map_err(|_| Error::new(minijinja::ErrorKind::WriteFailure, "output failed"))
    });
    env.add_function(
        "__var",
        |state: &State<'_, '_>, spec: &str, keys: Rest<Value>| {
            let spec = PathSpec::parse(spec);
            let root = state.lookup(spec.root).unwrap_or(Value::UNDEFINED);
            // Template functions are globals too; a bare name that only finds one is not a variable.
            let root = if root.kind() == ValueKind::Plain && spec.kinds.is_empty() {
                Value::UNDEFINED
            } else {
                root
            };
            walk(&spec, root, &keys)
        },
    );
    env.add_function("__attr", |spec: &str, base: Value, keys: Rest<Value>| {
        walk(&PathSpec::parse(spec), base, &keys)
    });
    env.add_function("__present", |v: Value| !v.is_undefined() && !v.is_none());
    env.add_function("__defined", |v: Value| !v.is_undefined());
    env.add_function("__bool", |v: Value| v.is_true());
    env.add_function("__is_defined", |v: Value| !v.is_undefined());
    env.add_function("__is_null", |v: Value| v.is_undefined() || v.is_none());
    env.add_function("__is_empty", |v: Value| is_empty(&v));
    env.add_function("__is_even", |v: Value| parity(&v, 0));
    env.add_function("__is_odd", |v: Value| parity(&v, 1));
    env.add_function("__is_iterable", |v: Value| {
        matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable)
    });
    env.add_function("__is_map", |v: Value| v.kind() == ValueKind::Map);
    env.add_function("__is_json", |v: Value| {
        v.as_str()
            .is_some_and(|s| serde_json::from_str::<serde_json::Value>(s).is_ok())
    });
    env.add_function("__concat", |parts: Rest<Value>| {
        if parts.iter().any(Value::is_undefined) {
            return Value::UNDEFINED;
        }
        let mut out = String::new();
        for part in parts.iter() {
            out.push_str(&display(part));
        }
        Value::from(out)
    });
    env.add_function("__div", divide);
    env.add_function("__mod", modulo);
    env.add_function("__range", |a: Value, b: Value| {
        range(&a, &b, &Value::from(1))
    });
    env.add_function("__contains", |container: Value, item: Value| {
        contains(&container, &item)
    });
    env.add_function("__iter", iterate);
    env.add_function("__pairs", pairs);
    env.add_function("__capture", |state: &State<'_, '_>, value: Value| {
        if let Some(session) = Session::of(state) {
            session.capture(value);
        }
        String::new()
    });
}

/// A compiled path description: `s12|outputs|..[` is a strict lookup at offset 12 of the path
/// `outputs` followed by two dotted keys and one subscript.
struct PathSpec<'a> {
    strict: bool,
    offset: Option<usize>,
    root: &'a str,
    kinds: &'a str,
}

impl<'a> PathSpec<'a> {
    fn parse(spec: &'a str) -> Self {
        let strict = spec.starts_with('s');
        let rest = spec.get(1..).unwrap_or_default();
        let (offset, rest) = rest.split_once('|').unwrap_or(("", rest));
        let (root, kinds) = rest.rsplit_once('|').unwrap_or((rest, ""));
        PathSpec {
            strict,
            offset: offset.parse().ok(),
            root,
            kinds,
        }
    }

    fn display(&self, keys: &[Value]) -> String {
        let mut out = self.root.to_string();
        for (kind, key) in self.kinds.chars().zip(keys) {
            match (kind, key.as_str()) {
                ('.', Some(name)) => {
                    let _ = write!(out, ".{name}");
                }
                (_, Some(name)) => {
                    let _ = write!(out, "['{name}']");
                }
                _ if key.is_undefined() => out.push_str("[?]"),
                _ => {
                    let _ = write!(out, "[{}]", display(key));
                }
            }
        }
        out
    }
}

fn walk(spec: &PathSpec<'_>, root: Value, keys: &[Value]) -> Result<Value, Error> {
    let mut current = root;
    let mut found = !current.is_undefined();
    for key in keys {
        if !found {
            break;
        }
        match item(&current, key) {
            Some(value) => current = value,
            None => found = false,
        }
    }
    if found {
        return Ok(current);
    }
    if !spec.strict {
        return Ok(Value::UNDEFINED);
    }
    Err(fault_at(
        TemplateErrorKind::UndefinedVariable,
        format!("variable '{}' is undefined", spec.display(keys)),
        spec.offset,
    ))
}

/// One step of a path: a map key, a list index, or an attribute of an engine object.
fn item(container: &Value, key: &Value) -> Option<Value> {
    if key.is_undefined() {
        return None;
    }
    let found = match container.kind() {
        ValueKind::Map => get(container, key).or_else(|| {
            // JSON object keys are strings; `map[1]` means the key "1".
            (key.kind() == ValueKind::Number)
                .then(|| get(container, &Value::from(display(key))))
                .flatten()
        }),
        ValueKind::Seq | ValueKind::Iterable => {
            let index = key.as_i64().or_else(|| key.as_str()?.parse().ok())?;
            get(container, &Value::from(index))
        }
        ValueKind::Undefined | ValueKind::None | ValueKind::String | ValueKind::Bytes => None,
        _ => get(container, key),
    };
    found.filter(|v| !v.is_undefined())
}

fn get(container: &Value, key: &Value) -> Option<Value> {
    container.get_item(key).ok().filter(|v| !v.is_undefined())
}

/// Pebble's (and Kestra's) text form of a value: null prints nothing, booleans are lowercase,
/// collections print as JSON, and floats print like Java's `Double.toString`.
pub(crate) fn display(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => String::new(),
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::Bool => value.is_true().to_string(),
        ValueKind::Number => match f64_if_float(value) {
            Some(f) => java_double(f),
            None => value.to_string(),
        },
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
        }
        _ => value.to_string(),
    }
}

/// The float inside a number value, or `None` when it is an integer.
pub(crate) fn f64_if_float(value: &Value) -> Option<f64> {
    if value.is_integer() {
        return None;
    }
    f64::try_from(value.clone()).ok()
}

/// Formats a double the way Java's `Double.toString` does: `3.0`, `0.25`, `1.0E10`, `1.0E-5`.
pub(crate) fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let magnitude = f.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = format!("{f}");
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// Pebble's `empty`: null, a blank string, or an empty collection.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => true,
        ValueKind::String => value.as_str().is_some_and(|s| s.trim().is_empty()),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => value.len() == Some(0),
        _ => false,
    }
}

fn parity(value: &Value, remainder: i64) -> Result<bool, Error> {
    match value.as_i64() {
        Some(n) => Ok(n.rem_euclid(2) == remainder),
        None => Err(type_error(format!(
            "'is even'/'is odd' need an integer, got {}",
            describe(value)
        ))),
    }
}

/// A short description of a value for error messages.
pub(crate) fn describe(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => "an undefined value".to_string(),
        ValueKind::None => "null".to_string(),
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default();
            let short: String = s.chars().take(40).collect();
            let ellipsis = if short.len() < s.len() { "…" } else { "" };
            format!("string '{short}{ellipsis}'")
        }
        ValueKind::Seq => "a list".to_string(),
        ValueKind::Map => "a map".to_string(),
        ValueKind::Number => format!("number {}", display(value)),
        ValueKind::Bool => format!("boolean {}", display(value)),
        other => format!("a {other}"),
    }
}

/// Java arithmetic: integer operands divide with truncation, anything else divides as doubles.
fn divide(a: Value, b: Value) -> Result<Value, Error> {
    let (a, b) = numbers("/", &a, &b)?;
    match (a, b) {
        (Number::Int(_), Number::Int(0)) => Err(fault(
            TemplateErrorKind::Type,
            "division by zero".to_string(),
        )),
        (Number::Int(x), Number::Int(y)) => Ok(Value::from(x.wrapping_div(y))),
        (x, y) => Ok(Value::from(x.as_f64() / y.as_f64())),
    }
}

fn modulo(a: Value, b: Value) -> Result<Value, Error> {
    let (a, b) = numbers("%", &a, &b)?;
    match (a, b) {
        (Number::Int(_), Number::Int(0)) => Err(fault(
            TemplateErrorKind::Type,
            "division by zero".to_string(),
        )),
        (Number::Int(x), Number::Int(y)) => Ok(Value::from(x.wrapping_rem(y))),
        (x, y) => Ok(Value::from(x.as_f64() % y.as_f64())),
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    pub(crate) fn of(value: &Value) -> Option<Number> {
        if value.kind() != ValueKind::Number {
            return None;
        }
        match value.as_i64() {
            Some(i) if value.is_integer() => Some(Number::Int(i)),
            _ => f64::try_from(value.clone()).ok().map(Number::Float),
        }
    }
}

fn numbers(op: &str, a: &Value, b: &Value) -> Result<(Number, Number), Error> {
    match (Number::of(a), Number::of(b)) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(type_error(format!(
            "cannot apply '{op}' to {} and {}",
            describe(a),
            describe(b)
        ))),
    }
}

/// Pebble's `contains`: substring, list item (or all items of a list), or map key.
pub(crate) fn contains(container: &Value, item: &Value) -> Result<bool, Error> {
    match container.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(false),
        ValueKind::String => Ok(container
            .as_str()
            .unwrap_or_default()
            .contains(&display(item))),
        ValueKind::Map => Ok(get(container, item).is_some()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = container.try_iter()?.collect();
            if item.kind() == ValueKind::Seq {
                let wanted: Vec<Value> = item.try_iter()?.collect();
                return Ok(wanted.iter().all(|w| items.contains(w)));
            }
            Ok(items.contains(item))
        }
        _ => Err(type_error(format!(
            "'contains' needs a string, list or map, got {}",
            describe(container)
        ))),
    }
}

/// Pebble's inclusive integer range, bounded by [`MAX_RANGE`].
pub(crate) fn range(start: &Value, end: &Value, step: &Value) -> Result<Value, Error> {
    let (Some(start), Some(end), Some(step)) = (start.as_i64(), end.as_i64(), step.as_i64()) else {
        return Err(type_error("range bounds and step must be integers"));
    };
    if step == 0 {
        return Err(type_error("range step must not be zero"));
    }
    let count = (i128::from(end) - i128::from(start)) / i128::from(step) + 1;
    if count > i128::from(MAX_RANGE) {
        return Err(fault(
            TemplateErrorKind::Limit,
            format!("range of {count} items exceeds the limit of {MAX_RANGE}"),
        ));
    }
    let mut items = Vec::new();
    let mut current = start;
    while (step > 0 && current <= end) || (step < 0 && current >= end) {
        items.push(Value::from(current));
        match current.checked_add(step) {
            Some(next) => current = next,
            None => break,
        }
    }
    Ok(Value::from(items))
}

/// What `{% for x in … %}` iterates: nothing for null, `{key, value}` entries for a map.
fn iterate(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(Value::from(Vec::<Value>::new())),
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push(Value::from_pairs([("key", key), ("value", item)]));
            }
            Ok(Value::from(entries))
        }
        ValueKind::Seq | ValueKind::Iterable => Ok(value),
        _ => Err(type_error(format!(
            "cannot iterate over {}",
            describe(&value)
        ))),
    }
}

/// What `{% for k, v in … %}` iterates: `[key, value]` pairs of a map, or a list of pairs.
fn pairs(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Ok(Value::from(Vec::<Value>::new())),
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push(Value::from(vec![key, item]));
            }
            Ok(Value::from(entries))
        }
        ValueKind::Seq => {
            let mut entries = Vec::new();
            for (index, item) in value.try_iter()?.enumerate() {
                entries.push(Value::from(vec![Value::from(index), item]));
            }
            Ok(Value::from(entries))
        }
        _ => Err(type_error(format!(
            "cannot iterate over {} with two loop variables",
            describe(&value)
        ))),
    }
}
