//! Tests of the inputs module. Test names say `<subject>_<behaviour>`.

mod check;
mod coerce;
mod fixtures;
mod resolve;
mod robustness;

use serde_json::Value;

use super::{InputSpec, RawInput};

/// A declaration from JSON shaped like the flow YAML.
#[track_caller]
fn spec(json: Value) -> InputSpec {
    match serde_json::from_value(json) {
        Ok(spec) => spec,
        Err(e) => panic!("bad spec in test: {e}"),
    }
}

fn text(s: &str) -> RawInput {
    RawInput::Text(s.to_owned())
}

fn json(v: Value) -> RawInput {
    RawInput::Json(v)
}

/// Coerces and expects success.
#[track_caller]
fn ok(spec: &InputSpec, raw: RawInput) -> Value {
    match super::coerce(spec, &raw) {
        Ok(v) => v,
        Err(e) => panic!("expected {raw:?} to be accepted, got: {e}"),
    }
}

/// Coerces and expects failure; returns the full error text.
#[track_caller]
fn err(spec: &InputSpec, raw: RawInput) -> String {
    match super::coerce(spec, &raw) {
        Ok(v) => panic!("expected {raw:?} to be refused, got {v}"),
        Err(e) => e.to_string(),
    }
}
