//! The Webhook trigger: `…/executions/webhook/{namespace}/{flowId}/{key}` starts the flow.

use serde_json::{Map, Value};

use crate::flow::{Flow, Trigger, TriggerProps};
use crate::template::is_template;

/// `trigger.*` of an execution a webhook request started: `body` (parsed when it is a JSON
/// object or array, else the text; null when empty), `headers` and `parameters` (the query
/// string), each name mapped to the list of its values as Kestra gives them.
pub fn webhook_variables(
    body: &[u8],
    headers: &[(String, String)],
    parameters: &[(String, String)],
) -> Value {
    let body = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
            _ => Value::String(String::from_utf8_lossy(body).into_owned()),
        }
    };
    let mut variables = Map::new();
    variables.insert("body".into(), body);
    variables.insert("headers".into(), multimap(headers));
    variables.insert("parameters".into(), multimap(parameters));
    Value::Object(variables)
}

fn multimap(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in pairs {
        if let Value::Array(values) = map
            .entry(name.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            values.push(Value::String(value.clone()));
        }
    }
    Value::Object(map)
}

/// The enabled Webhook trigger of `flow` whose key is `key`. A key may be a template
/// (`{{ secret('WEBHOOK_KEY') }}`): `render` renders it, and a key that cannot be rendered
/// matches nothing. Keys are compared in constant time, so response timing does not leak them.
pub fn find_webhook<'f>(
    flow: &'f Flow,
    key: &str,
    render: impl Fn(&str) -> Option<String>,
) -> Option<&'f Trigger> {
    flow.triggers.iter().find(|trigger| {
        let TriggerProps::Webhook(props) = &trigger.props else {
            return false;
        };
        if trigger.common.disabled {
            return false;
        }
        let expected = if is_template(&props.key) {
            match render(&props.key) {
                Some(rendered) => rendered.trim().to_owned(),
                None => return false,
            }
        } else {
            props.key.clone()
        };
        constant_time_eq(expected.as_bytes(), key.as_bytes())
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_parsed_when_they_are_json_collections() {
        let vars = webhook_variables(br#"{"a": 1}"#, &[], &[]);
        assert_eq!(vars["body"], json!({"a": 1}));
        assert_eq!(webhook_variables(b"[1,2]", &[], &[])["body"], json!([1, 2]));
        assert_eq!(webhook_variables(b"42", &[], &[])["body"], json!("42"));
        assert_eq!(
            webhook_variables(b"plain", &[], &[])["body"],
            json!("plain")
        );
        assert_eq!(webhook_variables(b"", &[], &[])["body"], Value::Null);
    }

    #[test]
    fn repeated_headers_and_parameters_keep_every_value() {
        let headers = [
            ("x-a".to_owned(), "1".to_owned()),
            ("x-a".to_owned(), "2".to_owned()),
            ("x-b".to_owned(), "3".to_owned()),
        ];
        let vars = webhook_variables(b"", &headers, &[("q".into(), "v".into())]);
        assert_eq!(vars["headers"], json!({"x-a": ["1", "2"], "x-b": ["3"]}));
        assert_eq!(vars["parameters"], json!({"q": ["v"]}));
    }

    #[test]
    fn keys_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
