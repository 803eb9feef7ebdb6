use indexmap::IndexMap;
use serde_json::{Value, json};

use super::{spec, text};
use crate::inputs::{InputError, InputSpec, RawInput, resolve};

/// A renderer that returns defaults unchanged, as for a flow without templates.
fn verbatim(_: &InputSpec, value: &Value) -> Result<Value, String> {
    Ok(value.clone())
}

fn provided(pairs: &[(&str, RawInput)]) -> IndexMap<String, RawInput> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[track_caller]
fn resolved(specs: &[InputSpec], given: &[(&str, RawInput)]) -> Value {
    match resolve(specs, &provided(given), &mut verbatim) {
        Ok(map) => Value::Object(map),
        Err(errors) => panic!("expected success, got {errors:?}"),
    }
}

#[track_caller]
fn failures(specs: &[InputSpec], given: &[(&str, RawInput)]) -> Vec<String> {
    match resolve(specs, &provided(given), &mut verbatim) {
        Ok(map) => panic!("expected errors, got {map:?}"),
        Err(errors) => errors.iter().map(InputError::to_string).collect(),
    }
}

#[test]
fn resolve_uses_given_values_then_defaults() {
    let specs = [
        spec(json!({"id": "who", "type": "STRING", "defaults": "world"})),
        spec(json!({"id": "times", "type": "INT", "defaults": 3})),
    ];
    assert_eq!(resolved(&specs, &[]), json!({"who": "world", "times": 3}));
    assert_eq!(
        resolved(&specs, &[("times", text("5"))]),
        json!({"who": "world", "times": 5})
    );
}

#[test]
fn resolve_keeps_declaration_order() {
    let specs = [
        spec(json!({"id": "b", "type": "INT"})),
        spec(json!({"id": "a", "type": "INT"})),
    ];
    let value = resolved(&specs, &[("a", text("1")), ("b", text("2"))]);
    assert_eq!(
        value
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["b".into(), "a".into()])
    );
}

#[test]
fn resolve_reports_a_missing_required_input() {
    let specs = [spec(json!({"id": "csv_url", "type": "URI"}))];
    assert_eq!(
        failures(&specs, &[]),
        ["input 'csv_url': missing required input"]
    );
    assert_eq!(
        failures(&specs, &[("csv_url", RawInput::Json(Value::Null))]),
        ["input 'csv_url': missing required input"]
    );
    assert_eq!(
        failures(&specs, &[("csv_url", text(""))]),
        ["input 'csv_url': missing required input"]
    );
}

#[test]
fn resolve_gives_null_to_optional_inputs_without_value() {
    let specs = [
        spec(json!({"id": "optional", "type": "STRING", "required": false})),
        spec(json!({"id": "flag", "type": "BOOLEAN", "required": false})),
        spec(json!({"id": "n", "type": "INT", "required": false})),
    ];
    assert_eq!(
        resolved(&specs, &[("n", text(""))]),
        json!({"optional": null, "flag": null, "n": null})
    );
    // Empty text is a value for a STRING.
    assert_eq!(
        resolved(&specs, &[("optional", text(""))])["optional"],
        json!("")
    );
}

#[test]
fn resolve_renders_defaults_through_the_callback() {
    let specs = [
        spec(json!({"id": "day", "type": "DATE", "defaults": "{{ now() | date('yyyy-MM-dd') }}"})),
        spec(json!({"id": "n", "type": "INT", "defaults": 1})),
    ];
    let mut seen = Vec::new();
    let mut render = |spec: &InputSpec, value: &Value| {
        seen.push(spec.id.clone());
        match value.as_str() {
            Some(t) if t.contains("{{") => Ok(json!("2024-04-12")),
            _ => Ok(value.clone()),
        }
    };
    let map = resolve(&specs, &IndexMap::new(), &mut render).map_err(|e| format!("{e:?}"));
    assert_eq!(
        map.map(Value::Object),
        Ok(json!({"day": "2024-04-12", "n": 1}))
    );
    assert_eq!(seen, ["day", "n"]);
}

#[test]
fn resolve_does_not_render_defaults_of_given_inputs() {
    let specs = [spec(
        json!({"id": "n", "type": "INT", "defaults": "{{ boom }}"}),
    )];
    let mut render =
        |_: &InputSpec, _: &Value| -> Result<Value, String> { Err("must not be called".into()) };
    let map =
        resolve(&specs, &provided(&[("n", text("2"))]), &mut render).map_err(|e| format!("{e:?}"));
    assert_eq!(map.map(Value::Object), Ok(json!({"n": 2})));
}

#[test]
fn resolve_reports_defaults_that_fail_to_render_or_coerce() {
    let specs = [
        spec(json!({"id": "a", "type": "INT", "defaults": "{{ x }}"})),
        spec(json!({"id": "b", "type": "DATETIME", "defaults": "{{ y }}"})),
    ];
    let mut render = |spec: &InputSpec, _: &Value| match spec.id.as_str() {
        "a" => Err("unknown variable 'x'".to_owned()),
        _ => Ok(json!("yesterday")),
    };
    let errors = resolve(&specs, &IndexMap::new(), &mut render)
        .err()
        .unwrap_or_default();
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "input 'a': cannot render its default: unknown variable 'x'",
            "input 'b': invalid default: 'yesterday' is not a datetime (expected ISO-8601 like 2024-04-12T14:19:00Z)",
        ]
    );
}

#[test]
fn resolve_treats_a_default_rendered_to_null_as_none() {
    let specs = [
        spec(json!({"id": "a", "type": "STRING", "required": false, "defaults": "{{ null }}"})),
        spec(json!({"id": "b", "type": "STRING", "defaults": "{{ null }}"})),
    ];
    let mut render = |_: &InputSpec, _: &Value| Ok(Value::Null);
    let errors = resolve(&specs, &IndexMap::new(), &mut render)
        .err()
        .unwrap_or_default();
    assert_eq!(
        errors,
        [InputError {
            input: "b".into(),
            message: "missing required input".into()
        }]
    );
}

#[test]
fn resolve_nests_dotted_ids() {
    let specs = [
        spec(json!({"id": "nested.string", "type": "STRING", "defaults": "Hello World!"})),
        spec(json!({"id": "nested.int", "type": "INT"})),
        spec(json!({"id": "deep.a.b", "type": "BOOL", "defaults": true})),
        spec(json!({"id": "flat", "type": "STRING", "defaults": "x"})),
    ];
    assert_eq!(
        resolved(&specs, &[("nested.int", text("4"))]),
        json!({"nested": {"string": "Hello World!", "int": 4}, "deep": {"a": {"b": true}}, "flat": "x"})
    );
}

#[test]
fn resolve_reports_ids_whose_nesting_collides() {
    let specs = [
        spec(json!({"id": "a", "type": "STRING", "defaults": "x"})),
        spec(json!({"id": "a.b", "type": "STRING", "defaults": "y"})),
        spec(json!({"id": "c.d", "type": "STRING", "defaults": "y"})),
        spec(json!({"id": "c", "type": "STRING", "defaults": "x"})),
    ];
    assert_eq!(
        failures(&specs, &[]),
        [
            "input 'a.b': its value cannot be nested under input 'a', which has a value",
            "input 'c': its value cannot replace the inputs nested under 'c'",
        ]
    );
}

#[test]
fn resolve_reports_unknown_inputs_with_a_suggestion() {
    let specs = [spec(
        json!({"id": "taxi", "type": "SELECT", "values": ["yellow", "green"], "defaults": "yellow"}),
    )];
    assert_eq!(
        failures(&specs, &[("taxy", text("green"))]),
        ["input 'taxy': flow has no input 'taxy' (did you mean 'taxi'?)"]
    );
    assert_eq!(
        failures(&specs, &[("colour", text("green"))]),
        ["input 'colour': flow has no input 'colour'"]
    );
}

#[test]
fn resolve_returns_every_error_at_once() {
    let specs = [
        spec(json!({"id": "taxi", "type": "SELECT", "values": ["yellow", "green"]})),
        spec(json!({"id": "times", "type": "INT"})),
        spec(json!({"id": "ok", "type": "STRING", "defaults": "fine"})),
        spec(json!({"id": "when", "type": "DATE"})),
    ];
    let given = [
        ("taxi", text("blue")),
        ("times", text("abc")),
        ("extra", text("1")),
    ];
    assert_eq!(
        failures(&specs, &given),
        [
            "input 'taxi': 'blue' is not one of yellow, green",
            "input 'times': 'abc' is not an integer",
            "input 'when': missing required input",
            "input 'extra': flow has no input 'extra'",
        ]
    );
}

#[test]
fn resolve_accepts_json_bodies_and_trigger_maps() {
    let specs = [
        spec(json!({"id": "taxi", "type": "SELECT", "values": ["yellow", "green"]})),
        spec(
            json!({"id": "year", "type": "SELECT", "values": ["2019", "2020"], "allowCustomValue": true}),
        ),
        spec(
            json!({"id": "cols", "type": "ARRAY", "itemType": "STRING", "defaults": ["brand", "price"]}),
        ),
        spec(json!({"id": "payload", "type": "JSON", "required": false})),
    ];
    let given = [
        ("taxi", RawInput::Json(json!("green"))),
        ("year", RawInput::Json(json!(2021))),
        ("payload", RawInput::Json(json!({"k": [1, 2]}))),
    ];
    assert_eq!(
        resolved(&specs, &given),
        json!({"taxi": "green", "year": "2021", "cols": ["brand", "price"], "payload": {"k": [1, 2]}})
    );
}

#[test]
fn resolve_takes_file_uploads() {
    let specs = [spec(json!({"id": "my-file", "type": "FILE"}))];
    let uri = "kestra:///company/team/input_files/executions/abc/inputs/my-file/data.csv";
    assert_eq!(
        resolved(&specs, &[("my-file", RawInput::File { uri: uri.into() })]),
        json!({"my-file": uri})
    );
}
