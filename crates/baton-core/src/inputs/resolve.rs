//! Resolution of all inputs of an execution.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::coerce::coerce_value;
use super::spec::{InputSpec, InputType};
use super::{InputError, RawInput};
use crate::diagnostic::closest;

/// Resolves all inputs of an execution.
///
/// Provided values are coerced; a missing one takes its default, which `render_default` renders
/// (templates) before it is coerced like a provided value; a required input with neither is an
/// error, a non-required one is `null`. Provided keys the flow does not declare are errors too.
/// Every bad input gets one error, inputs first in declaration order, then unknown keys.
pub fn resolve(
    specs: &[InputSpec],
    provided: &IndexMap<String, RawInput>,
    render_default: &mut dyn FnMut(&InputSpec, &Value) -> Result<Value, String>,
) -> Result<Map<String, Value>, Vec<InputError>> {
    let mut errors = Vec::new();
    let mut result = Map::new();
    for spec in specs {
        let error = |message: String| InputError {
            input: spec.id.clone(),
            message,
        };
        let value = match provided.get(&spec.id).filter(|raw| !is_missing(spec, raw)) {
            Some(raw) => coerce_value(spec, raw).map_err(error),
            None => value_without_input(spec, render_default).map_err(error),
        };
        match value {
            Ok(value) => {
                if let Err(message) = insert_nested(&mut result, &spec.id, value) {
                    errors.push(error(message));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    for key in provided.keys() {
        if !specs.iter().any(|spec| &spec.id == key) {
            let suggestion = closest(key, specs.iter().map(|spec| spec.id.as_str()))
                .map(|id| format!(" (did you mean '{id}'?)"))
                .unwrap_or_default();
            errors.push(InputError {
                input: key.clone(),
                message: format!("flow has no input '{key}'{suggestion}"),
            });
        }
    }
    if errors.is_empty() {
        Ok(result)
    } else {
        Err(errors)
    }
}

/// JSON `null` means "no value"; so does empty text, except for types where it is a value.
fn is_missing(spec: &InputSpec, raw: &RawInput) -> bool {
    match raw {
        RawInput::Json(Value::Null) => true,
        RawInput::Text(text) => {
            text.is_empty() && !matches!(spec.input_type, InputType::String | InputType::Secret)
        }
        _ => false,
    }
}

fn value_without_input(
    spec: &InputSpec,
    render_default: &mut dyn FnMut(&InputSpec, &Value) -> Result<Value, String>,
) -> Result<Value, String> {
    let rendered = match &spec.defaults {
        Some(default) => {
            render_default(spec, default).map_err(|e| format!("cannot render its default: {e}"))?
        }
        None => Value::Null,
    };
    if rendered.is_null() {
        return if spec.required {
            Err("missing required input".into())
        } else {
            Ok(Value::Null)
        };
    }
    coerce_value(spec, &RawInput::Json(rendered)).map_err(|e| format!("invalid default: {e}"))
}

/// Puts `value` at the path the dotted `id` names, as Kestra's `MapUtils.flattenToNestedMap` does.
fn insert_nested(result: &mut Map<String, Value>, id: &str, value: Value) -> Result<(), String> {
    let mut parts = id.split('.').peekable();
    let mut map = result;
    let mut path = String::new();
    while let Some(part) = parts.next() {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(part);
        if parts.peek().is_none() {
            if map.get(part).is_some_and(Value::is_object) {
                return Err(format!(
                    "its value cannot replace the inputs nested under '{path}'"
                ));
            }
            map.insert(part.to_owned(), value);
            return Ok(());
        }
        let slot = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        match slot {
            Value::Object(inner) => map = inner,
            _ => {
                return Err(format!(
                    "its value cannot be nested under input '{path}', which has a value"
                ));
            }
        }
    }
    Ok(())
}
