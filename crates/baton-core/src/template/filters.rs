//! Pebble's and Kestra's filters (date filters live in `date_filters.rs`). Each takes the input
//! and its positional arguments (see `catalog.rs`); an undefined input (from a lenient lookup
//! such as `outputs.x.y | upper | default('d')`) passes through untouched so `default` sees it.

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, State};

use super::error::{fault, type_error};
use super::functions::{arg, str_arg};
use super::runtime::{self, describe, display, is_empty};
use super::{TemplateErrorKind, date_filters, jq, text};

pub(crate) type FilterImpl = fn(&Value, &[Value]) -> Result<Value, Error>;

const FILTERS: &[(&str, FilterImpl)] = &[
    ("abbreviate", text::abbreviate),
    ("abs", abs),
    ("base64decode", text::base64_decode),
    ("base64encode", text::base64_encode),
    ("capitalize", text::capitalize),
    ("chunk", chunk),
    ("default", default),
    ("distinct", distinct),
    ("endsWith", text::ends_with),
    ("escapeChar", text::escape_char),
    ("first", first),
    ("flatten", flatten),
    ("fromJson", from_json),
    ("indent", text::indent),
    ("join", join),
    ("jq", jq_filter),
    ("json", to_json),
    ("keys", keys),
    ("last", last),
    ("length", length),
    ("lower", text::lower),
    ("merge", merge),
    ("nindent", text::nindent),
    ("number", number),
    ("numberformat", text::number_format),
    ("regexExtract", text::regex_extract),
    ("regexMatch", text::regex_match),
    ("regexReplace", text::regex_replace),
    ("replace", text::replace),
    ("reverse", reverse),
    ("rsort", rsort),
    ("slice", slice),
    ("slugify", text::slugify),
    ("sort", sort),
    ("split", text::split),
    ("startsWith", text::starts_with),
    ("string", string),
    ("substringAfter", text::substring_after),
    ("substringAfterLast", text::substring_after_last),
    ("substringBefore", text::substring_before),
    ("substringBeforeLast", text::substring_before_last),
    ("title", text::title),
    ("toJson", to_json),
    ("trim", text::trim),
    ("upper", text::upper),
    ("urldecode", text::url_decode),
    ("urlencode", text::url_encode),
    ("values", values),
];

pub(crate) fn register(env: &mut Environment<'static>) {
    for (name, implementation) in FILTERS.iter().chain(date_filters::FILTERS) {
        let implementation = *implementation;
        let passes_undefined = *name != "default";
        env.add_filter(
            *name,
            move |_: &State<'_, '_>, input: Value, args: Rest<Value>| {
                if passes_undefined && input.is_undefined() {
                    return Ok(Value::UNDEFINED);
                }
                implementation(&input, &args)
            },
        );
    }
}

fn null() -> Value {
    Value::from(())
}

/// The items of a list, or a type error naming the filter.
pub(crate) fn list(value: &Value, filter: &str) -> Result<Vec<Value>, Error> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(value.try_iter()?.collect()),
        _ => Err(type_error(format!(
            "filter '{filter}' needs a list, got {}",
            describe(value)
        ))),
    }
}

pub(crate) fn int_arg(
    args: &[Value],
    index: usize,
    filter: &str,
    param: &str,
) -> Result<Option<i64>, Error> {
    match arg(args, index) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            type_error(format!(
                "filter '{filter}': '{param}' must be an integer, got {}",
                describe(v)
            ))
        }),
    }
}

pub(crate) fn to_json_value(value: &Value) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| type_error(format!("cannot convert to JSON: {e}")))
}

pub(crate) fn from_json_value(value: &serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// Parses a JSON string (non-strings are returned as they are, like Kestra).
pub(crate) fn parse_json(value: &Value) -> Result<Value, Error> {
    let Some(text) = value.as_str() else {
        return Ok(value.clone());
    };
    serde_json::from_str::<serde_json::Value>(text)
        .map(|json| from_json_value(&json))
        .map_err(|e| type_error(format!("fromJson: invalid JSON: {e}")))
}

fn abs(input: &Value, _: &[Value]) -> Result<Value, Error> {
    match runtime::Number::of(input) {
        Some(runtime::Number::Int(i)) => Ok(Value::from(i.wrapping_abs())),
        Some(runtime::Number::Float(f)) => Ok(Value::from(f.abs())),
        None if input.is_none() => Ok(null()),
        None => Err(type_error(format!(
            "filter 'abs' needs a number, got {}",
            describe(input)
        ))),
    }
}

fn chunk(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let size = int_arg(args, 0, "chunk", "size")?.unwrap_or(1);
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| type_error("filter 'chunk': size must be positive"))?;
    let items = list(input, "chunk")?;
    Ok(Value::from(
        items
            .chunks(size)
            .map(|c| Value::from(c.to_vec()))
            .collect::<Vec<_>>(),
    ))
}

/// Pebble's `default`: replaces undefined, null, blank strings and empty collections.
fn default(input: &Value, args: &[Value]) -> Result<Value, Error> {
    if is_empty(input) {
        Ok(args.first().cloned().unwrap_or_else(null))
    } else {
        Ok(input.clone())
    }
}

fn distinct(input: &Value, _: &[Value]) -> Result<Value, Error> {
    let mut seen: Vec<Value> = Vec::new();
    for item in list(input, "distinct")? {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    Ok(Value::from(seen))
}

fn first(input: &Value, _: &[Value]) -> Result<Value, Error> {
    edge(input, "first", true)
}

fn last(input: &Value, _: &[Value]) -> Result<Value, Error> {
    edge(input, "last", false)
}

fn edge(input: &Value, filter: &str, first: bool) -> Result<Value, Error> {
    match input.kind() {
        ValueKind::None => Ok(null()),
        ValueKind::String => {
            let s = input.as_str().unwrap_or_default();
            let c = if first {
                s.chars().next()
            } else {
                s.chars().next_back()
            };
            Ok(c.map_or_else(null, |c| Value::from(c.to_string())))
        }
        ValueKind::Map => {
            let values: Vec<Value> = input.try_iter()?.collect();
            let key = if first { values.first() } else { values.last() };
            Ok(key.map_or_else(null, |k| input.get_item(k).unwrap_or_else(|_| null())))
        }
        _ => {
            let items = list(input, filter)?;
            let item = if first { items.first() } else { items.last() };
            Ok(item.cloned().unwrap_or_else(null))
        }
    }
}

fn flatten(input: &Value, _: &[Value]) -> Result<Value, Error> {
    let mut out = Vec::new();
    for item in list(input, "flatten")? {
        if item.kind() == ValueKind::Seq {
            out.extend(item.try_iter()?);
        } else {
            out.push(item);
        }
    }
    Ok(Value::from(out))
}

fn from_json(input: &Value, _: &[Value]) -> Result<Value, Error> {
    parse_json(input)
}

fn join(input: &Value, args: &[Value]) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(null());
    }
    let separator = str_arg(args, 0, "filter 'join'", "separator")?.unwrap_or("");
    let parts: Vec<String> = list(input, "join")?.iter().map(display).collect();
    Ok(Value::from(parts.join(separator)))
}

fn jq_filter(input: &Value, args: &[Value]) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(null());
    }
    let expression = str_arg(args, 0, "filter 'jq'", "expression")?
        .ok_or_else(|| type_error("filter 'jq' needs an expression"))?;
    let json = match input.as_str() {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| type_error(format!("filter 'jq': input is not valid JSON: {e}")))?,
        None => to_json_value(input)?,
    };
    let results =
        jq::run(expression, &json).map_err(|e| type_error(format!("filter 'jq': {e}")))?;
    Ok(Value::from(
        results.iter().map(from_json_value).collect::<Vec<_>>(),
    ))
}

fn to_json(input: &Value, _: &[Value]) -> Result<Value, Error> {
    if input.is_undefined() {
        return Ok(Value::from("null"));
    }
    let json = to_json_value(input)?;
    serde_json::to_string(&json)
        .map(Value::from)
        .map_err(|e| type_error(format!("toJson: {e}")))
}

fn keys(input: &Value, _: &[Value]) -> Result<Value, Error> {
    match input.kind() {
        ValueKind::None => Ok(null()),
        ValueKind::Map => Ok(Value::from(input.try_iter()?.collect::<Vec<_>>())),
        _ => Err(type_error(format!(
            "filter 'keys' needs a map, got {}",
            describe(input)
        ))),
    }
}

fn values(input: &Value, _: &[Value]) -> Result<Value, Error> {
    match input.kind() {
        ValueKind::None => Ok(null()),
        ValueKind::Map => {
            let mut out = Vec::new();
            for key in input.try_iter()? {
                out.push(input.get_item(&key)?);
            }
            Ok(Value::from(out))
        }
        _ => Err(type_error(format!(
            "filter 'values' needs a map, got {}",
            describe(input)
        ))),
    }
}

fn length(input: &Value, _: &[Value]) -> Result<Value, Error> {
    match input.kind() {
        ValueKind::None => Ok(Value::from(0)),
        ValueKind::String => Ok(Value::from(
            input.as_str().unwrap_or_default().chars().count(),
        )),
        _ => input.len().map(Value::from).ok_or_else(|| {
            type_error(format!(
                "filter 'length' cannot measure {}",
                describe(input)
            ))
        }),
    }
}

fn merge(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let other = arg(args, 0).cloned().unwrap_or_else(null);
    match (input.kind(), other.kind()) {
        (ValueKind::Map, ValueKind::Map) => {
            let mut merged = indexmap::IndexMap::new();
            for source in [input, &other] {
                for key in source.try_iter()? {
                    let value = source.get_item(&key)?;
                    merged.insert(key, value);
                }
            }
            Ok(Value::from_pairs(merged))
        }
        (ValueKind::Seq, _) => {
            let mut items = list(input, "merge")?;
            match other.kind() {
                ValueKind::Seq => items.extend(other.try_iter()?),
                ValueKind::None => {}
                _ => items.push(other),
            }
            Ok(Value::from(items))
        }
        _ => Err(type_error(format!(
            "filter 'merge' needs two maps or a list, got {} and {}",
            describe(input),
            describe(&other)
        ))),
    }
}

fn number(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let kind = str_arg(args, 0, "filter 'number'", "type")?.map(str::to_ascii_uppercase);
    let text = display(input);
    let text = text.trim();
    let invalid = || type_error(format!("filter 'number': '{text}' is not a number"));
    match kind.as_deref() {
        Some("INT" | "INTEGER" | "LONG") => {
            text.parse::<i64>().map(Value::from).map_err(|_| invalid())
        }
        Some("FLOAT" | "DOUBLE" | "BIGDECIMAL") => {
            text.parse::<f64>().map(Value::from).map_err(|_| invalid())
        }
        Some(other) => Err(type_error(format!(
            "filter 'number': unknown type '{other}'"
        ))),
        None => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .map_err(|_| invalid()),
    }
}

fn reverse(input: &Value, _: &[Value]) -> Result<Value, Error> {
    match input.kind() {
        ValueKind::None => Ok(null()),
        ValueKind::String => Ok(Value::from(
            input
                .as_str()
                .unwrap_or_default()
                .chars()
                .rev()
                .collect::<String>(),
        )),
        _ => {
            let mut items = list(input, "reverse")?;
            items.reverse();
            Ok(Value::from(items))
        }
    }
}

fn sort(input: &Value, _: &[Value]) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(null());
    }
    let mut items = list(input, "sort")?;
    items.sort();
    Ok(Value::from(items))
}

fn rsort(input: &Value, _: &[Value]) -> Result<Value, Error> {
    if input.is_none() {
        return Ok(null());
    }
    let mut items = list(input, "rsort")?;
    items.sort_by(|a, b| b.cmp(a));
    Ok(Value::from(items))
}

fn slice(input: &Value, args: &[Value]) -> Result<Value, Error> {
    let from = int_arg(args, 0, "slice", "fromIndex")?.unwrap_or(0);
    let clamp = |i: i64, len: usize| usize::try_from(i.max(0)).unwrap_or(0).min(len);
    match input.kind() {
        ValueKind::None => Ok(null()),
        ValueKind::String => {
            let chars: Vec<char> = input.as_str().unwrap_or_default().chars().collect();
            let to = int_arg(args, 1, "slice", "toIndex")?
                .map_or(chars.len(), |t| clamp(t, chars.len()));
            let from = clamp(from, to);
            Ok(Value::from(chars[from..to].iter().collect::<String>()))
        }
        _ => {
            let items = list(input, "slice")?;
            let to = int_arg(args, 1, "slice", "toIndex")?
                .map_or(items.len(), |t| clamp(t, items.len()));
            let from = clamp(from, to);
            Ok(Value::from(items[from..to].to_vec()))
        }
    }
}

fn string(input: &Value, _: &[Value]) -> Result<Value, Error> {
    Ok(Value::from(display(input)))
}

/// Fails with a [`TemplateErrorKind::Type`] error prefixed with the filter name.
pub(crate) fn filter_error(filter: &str, message: impl std::fmt::Display) -> Error {
    fault(
        TemplateErrorKind::Type,
        format!("filter '{filter}': {message}"),
    )
}
