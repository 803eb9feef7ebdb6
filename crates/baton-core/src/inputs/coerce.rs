//! Coercion of one supplied value to its declared type, and the type's validators.

use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, Utc};
use serde_json::{Number, Value};

use super::spec::{InputSpec, InputType};
use super::yaml::parse_yaml;
use super::{InputError, RawInput};
use crate::duration::IsoDuration;

/// Coerces and validates one value against its declaration.
pub fn coerce(spec: &InputSpec, raw: &RawInput) -> Result<Value, InputError> {
    coerce_value(spec, raw).map_err(|message| InputError {
        input: spec.id.clone(),
        message,
    })
}

/// [`coerce`] with a bare message, so callers can add their own context.
pub(crate) fn coerce_value(spec: &InputSpec, raw: &RawInput) -> Result<Value, String> {
    use InputType as T;
    if let RawInput::File { uri } = raw
        && spec.input_type != T::File
    {
        return Err(format!(
            "a file ({uri}) was uploaded, but the input is of type {}",
            spec.input_type
        ));
    }
    match spec.input_type {
        T::String | T::Secret => {
            let text = text_of(raw, spec.input_type)?;
            check_validator(spec, &text)?;
            Ok(Value::String(text))
        }
        T::Email => {
            let text = text_of(raw, T::Email)?;
            if !is_email(&text) {
                return Err(format!("{} is not an email address", quote(&text)));
            }
            Ok(Value::String(text))
        }
        T::Uri => {
            let text = text_of(raw, T::Uri)?;
            if !is_absolute_uri(&text) {
                return Err(format!(
                    "{} is not an absolute URI (expected one like https://host/path)",
                    quote(&text)
                ));
            }
            Ok(Value::String(text))
        }
        T::Select | T::Enum => {
            let text = text_of(raw, spec.input_type)?;
            check_choice(spec, &text)?;
            Ok(Value::String(text))
        }
        T::Int => coerce_int(spec, raw),
        T::Float => coerce_float(spec, raw),
        T::Boolean | T::Bool => coerce_bool(raw),
        T::Date => {
            let text = text_of(raw, T::Date)?;
            let date = parse_date(&text)?;
            check_range(spec, &date, &text, parse_date)?;
            Ok(Value::String(date.format("%Y-%m-%d").to_string()))
        }
        T::Time => {
            let text = text_of(raw, T::Time)?;
            let time = parse_time(&text)?;
            check_range(spec, &time, &text, parse_time)?;
            Ok(Value::String(time.format("%H:%M:%S%.f").to_string()))
        }
        T::Datetime => {
            let text = text_of(raw, T::Datetime)?;
            let instant = parse_datetime(&text)?;
            check_range(spec, &instant, &text, parse_datetime)?;
            Ok(Value::String(
                instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ))
        }
        T::Duration => coerce_duration(spec, raw),
        T::File => coerce_file(spec, raw),
        T::Json => match raw {
            RawInput::Json(Value::String(text)) | RawInput::Text(text) => {
                serde_json::from_str(text)
                    .map_err(|e| format!("{} is not valid JSON: {e}", quote(text)))
            }
            RawInput::Json(value) => Ok(value.clone()),
            RawInput::File { .. } => unreachable_file(),
        },
        T::Yaml => match raw {
            RawInput::Json(Value::String(text)) | RawInput::Text(text) => {
                parse_yaml(text).map_err(|e| format!("{} is not valid YAML: {e}", quote(text)))
            }
            RawInput::Json(value) => Ok(value.clone()),
            RawInput::File { .. } => unreachable_file(),
        },
        T::Array => {
            let items = list_of(raw)?;
            match spec.item_type {
                Some(item_type) => coerce_items(spec, items, item_type).map(Value::Array),
                None => Ok(Value::Array(items)),
            }
        }
        T::Multiselect => {
            let items = coerce_items(spec, list_of(raw)?, spec.item_type.unwrap_or(T::String))?;
            for item in &items {
                let text = match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                check_choice(spec, &text)?;
            }
            Ok(Value::Array(items))
        }
    }
}

/// Files are turned away before the match; this keeps the arms total without a panic.
fn unreachable_file() -> Result<Value, String> {
    Err("a file was uploaded for an input that takes no file".into())
}

/// The value as text: form text as is, JSON strings, and JSON numbers and booleans printed.
fn text_of(raw: &RawInput, ty: InputType) -> Result<String, String> {
    match raw {
        RawInput::Text(text) => Ok(text.clone()),
        RawInput::Json(Value::String(text)) => Ok(text.clone()),
        RawInput::Json(value @ (Value::Number(_) | Value::Bool(_))) => Ok(value.to_string()),
        RawInput::Json(other) => Err(format!("expected {}, got {}", noun(ty), json_kind(other))),
        RawInput::File { uri } => Ok(uri.clone()),
    }
}

fn noun(ty: InputType) -> &'static str {
    match ty {
        InputType::Int => "an integer",
        InputType::Float => "a number",
        InputType::Boolean | InputType::Bool => "a boolean",
        InputType::Date => "a date",
        InputType::Time => "a time",
        InputType::Datetime => "a datetime",
        InputType::Duration => "a duration",
        InputType::Email => "an email address",
        InputType::Uri => "a URI",
        InputType::File => "a file URI",
        InputType::Array | InputType::Multiselect => "a list",
        _ => "a string",
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `'text'`, shortened when long so an error message stays readable.
pub(crate) fn quote(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("'{}…'", &text[..cut]),
        None => format!("'{text}'"),
    }
}

/// Compiles a `validator` so that it must match the whole value, as Java's `String.matches` does.
pub(crate) fn compile_validator(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(detail) => detail
                .lines()
                .last()
                .unwrap_or("invalid syntax")
                .trim()
                .to_owned(),
            regex::Error::CompiledTooBig(_) => "the pattern is too large".to_owned(),
            other => other.to_string(),
        })
}

fn check_validator(spec: &InputSpec, text: &str) -> Result<(), String> {
    let Some(pattern) = &spec.validator else {
        return Ok(());
    };
    let regex = compile_validator(pattern)
        .map_err(|e| format!("its validator `{pattern}` is invalid: {e}"))?;
    if regex.is_match(text) {
        Ok(())
    } else {
        Err(format!(
            "{} does not match the pattern `{pattern}`",
            quote(text)
        ))
    }
}

fn check_choice(spec: &InputSpec, text: &str) -> Result<(), String> {
    // Without static values (an `expression` input the caller did not render) nothing can be checked.
    let Some(choices) = spec.choices() else {
        return Ok(());
    };
    if spec.allows_custom_value() || choices.iter().any(|c| c == text) {
        Ok(())
    } else {
        Err(format!(
            "{} is not one of {}",
            quote(text),
            choices.join(", ")
        ))
    }
}

fn coerce_int(spec: &InputSpec, raw: &RawInput) -> Result<Value, String> {
    let n = match raw {
        RawInput::Json(Value::Number(n)) => {
            n.as_i64().ok_or_else(|| format!("{n} is not an integer"))?
        }
        _ => {
            let text = text_of(raw, InputType::Int)?;
            text.trim()
                .parse::<i64>()
                .map_err(|_| format!("{} is not an integer", quote(&text)))?
        }
    };
    check_number_range(spec, n as f64, &n.to_string())?;
    Ok(Value::Number(n.into()))
}

fn coerce_float(spec: &InputSpec, raw: &RawInput) -> Result<Value, String> {
    let x = match raw {
        RawInput::Json(Value::Number(n)) => {
            n.as_f64().ok_or_else(|| format!("{n} is not a number"))?
        }
        _ => {
            let text = text_of(raw, InputType::Float)?;
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{} is not a number", quote(&text)))?
        }
    };
    let number = Number::from_f64(x).ok_or_else(|| format!("{x} is not a finite number"))?;
    check_number_range(spec, x, &number.to_string())?;
    Ok(Value::Number(number))
}

fn check_number_range(spec: &InputSpec, x: f64, shown: &str) -> Result<(), String> {
    let bound = |field: &str, value: &Value| {
        value
            .as_f64()
            .ok_or_else(|| format!("its declared '{field}' {value} is not a number"))
    };
    if let Some(min) = &spec.min
        && x < bound("min", min)?
    {
        return Err(format!("{shown} is less than the minimum {min}"));
    }
    if let Some(max) = &spec.max
        && x > bound("max", max)?
    {
        return Err(format!("{shown} is more than the maximum {max}"));
    }
    Ok(())
}

fn coerce_bool(raw: &RawInput) -> Result<Value, String> {
    if let RawInput::Json(Value::Bool(b)) = raw {
        return Ok(Value::Bool(*b));
    }
    let text = text_of(raw, InputType::Bool)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        _ => Err(format!(
            "{} is not a boolean (expected true or false)",
            quote(&text)
        )),
    }
}

pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        format!(
            "{} is not a date (expected YYYY-MM-DD, like 2024-04-12)",
            quote(text)
        )
    })
}

pub(crate) fn parse_time(text: &str) -> Result<NaiveTime, String> {
    let trimmed = text.trim();
    NaiveTime::parse_from_str(trimmed, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(trimmed, "%H:%M"))
        .map_err(|_| {
            format!(
                "{} is not a time (expected HH:MM:SS or HH:MM, like 14:19:00)",
                quote(text)
            )
        })
}

/// Like Java's `Instant.parse`: an offset is required, so a wall-clock time is never guessed.
pub(crate) fn parse_datetime(text: &str) -> Result<DateTime<Utc>, String> {
    let trimmed = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(instant.with_timezone(&Utc));
    }
    if chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M").is_ok()
    {
        return Err(format!(
            "{} has no UTC offset (add Z for UTC or an offset like +02:00, e.g. 2024-04-12T14:19:00Z)",
            quote(text)
        ));
    }
    Err(format!(
        "{} is not a datetime (expected ISO-8601 like 2024-04-12T14:19:00Z)",
        quote(text)
    ))
}

/// Checks `after`/`before` (inclusive, as in Kestra) for DATE, TIME and DATETIME.
fn check_range<V: PartialOrd>(
    spec: &InputSpec,
    value: &V,
    text: &str,
    parse: impl Fn(&str) -> Result<V, String>,
) -> Result<(), String> {
    let bound = |field: &str, text: &str| {
        parse(text).map_err(|e| format!("its declared '{field}' is invalid: {e}"))
    };
    if let Some(after) = &spec.after
        && *value < bound("after", after)?
    {
        return Err(format!("{} is before {after}", quote(text.trim())));
    }
    if let Some(before) = &spec.before
        && *value > bound("before", before)?
    {
        return Err(format!("{} is after {before}", quote(text.trim())));
    }
    Ok(())
}

pub(crate) fn parse_duration(text: &str) -> Result<IsoDuration, String> {
    text.parse::<IsoDuration>().map_err(|e| e.to_string())
}

fn coerce_duration(spec: &InputSpec, raw: &RawInput) -> Result<Value, String> {
    let duration = parse_duration(&text_of(raw, InputType::Duration)?)?;
    let bound = |field: &str, value: &Value| match value {
        Value::String(text) => {
            parse_duration(text).map_err(|e| format!("its declared '{field}' is invalid: {e}"))
        }
        other => Err(format!("its declared '{field}' {other} is not a duration")),
    };
    if let Some(min) = &spec.min
        && duration < bound("min", min)?
    {
        return Err(format!(
            "{duration} is shorter than the minimum {}",
            bound("min", min)?
        ));
    }
    if let Some(max) = &spec.max
        && duration > bound("max", max)?
    {
        return Err(format!(
            "{duration} is longer than the maximum {}",
            bound("max", max)?
        ));
    }
    Ok(Value::String(duration.to_string()))
}

/// Schemes a FILE value may use: stored uploads, namespace files and allowed local files.
const FILE_SCHEMES: [&str; 3] = ["kestra://", "nsfile://", "file://"];

fn coerce_file(spec: &InputSpec, raw: &RawInput) -> Result<Value, String> {
    let uri = text_of(raw, InputType::File)?;
    let scheme_ok = FILE_SCHEMES.iter().any(|scheme| {
        uri.strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    });
    if !scheme_ok || uri.chars().any(char::is_control) {
        return Err(format!(
            "{} is not a file URI (expected kestra://, nsfile:// or file://)",
            quote(&uri)
        ));
    }
    if let Some(allowed) = &spec.allowed_file_extensions {
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        let name = path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let ok = allowed.iter().any(|ext| {
            let ext = ext.trim_start_matches('.').to_ascii_lowercase();
            name.strip_suffix(&ext)
                .is_some_and(|stem| stem.ends_with('.'))
        });
        if !ok {
            return Err(format!(
                "{} does not have one of the extensions {}",
                quote(&uri),
                allowed.join(", ")
            ));
        }
    }
    Ok(Value::String(uri))
}

/// A list given as JSON, or as text holding a JSON array or a YAML flow list (`[brand, price]`).
fn list_of(raw: &RawInput) -> Result<Vec<Value>, String> {
    let text = match raw {
        RawInput::Json(Value::Array(items)) => return Ok(items.clone()),
        RawInput::Json(Value::String(text)) | RawInput::Text(text) => text,
        RawInput::Json(other) => return Err(format!("expected a list, got {}", json_kind(other))),
        RawInput::File { .. } => return Err("expected a list, got a file".into()),
    };
    let parsed = serde_json::from_str::<Value>(text)
        .ok()
        .or_else(|| parse_yaml(text).ok());
    match parsed {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(format!(
            "{} is not a list (expected a JSON array like [\"a\", \"b\"])",
            quote(text)
        )),
    }
}

fn coerce_items(
    spec: &InputSpec,
    items: Vec<Value>,
    item_type: InputType,
) -> Result<Vec<Value>, String> {
    if matches!(item_type, InputType::Array | InputType::Multiselect) {
        return Err(format!("its itemType cannot be {item_type}"));
    }
    let item_spec = InputSpec::new(spec.id.clone(), item_type);
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            coerce_value(&item_spec, &RawInput::Json(item))
                .map_err(|e| format!("item {}: {e}", i + 1))
        })
        .collect()
}

/// A practical address check: a local part of the characters RFC 5322 allows unquoted, an `@`,
/// and a domain of dot-separated labels of letters, digits and hyphens.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

/// An absolute URI (RFC 3986): a scheme, a colon and a non-empty rest without whitespace.
fn is_absolute_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let rest_ok = !rest.is_empty()
        && rest != "//"
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
    scheme_ok && rest_ok
}
