//! YAML text to a JSON value, for YAML inputs and YAML-style lists (`[brand, price]`).
//!
//! Uses the flow reader's tree ([`crate::yaml`]), so inputs get the same YAML 1.2 core schema
//! resolution and the same limits against alias bombs and deep nesting as flows.

use serde_json::Value;

use crate::yaml::{YamlLimits, parse_documents};

/// Inputs are small; a megabyte of YAML is already far more than a form field holds.
const LIMITS: YamlLimits = YamlLimits {
    max_bytes: 1024 * 1024,
    max_depth: 64,
    max_nodes: 100_000,
};

pub(crate) fn parse_yaml(text: &str) -> Result<Value, String> {
    let documents = parse_documents(text, &LIMITS).map_err(|d| {
        format!(
            "{} at line {}, column {}",
            d.message, d.position.line, d.position.column
        )
    })?;
    match documents.as_slice() {
        [] => Ok(Value::Null),
        [one] => Ok(one.to_json()),
        more => Err(format!("expected one YAML document, found {}", more.len())),
    }
}
