//! The inputs of real flows: the shared examples, the zoomcamp module-2 flows (from the research
//! notes) and the Kestra docs' inputs page, as JSON shaped like their YAML.

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::text;
use crate::inputs::{InputSpec, InputType, RawInput, check_spec, resolve};

#[track_caller]
fn specs(inputs: Value) -> Vec<InputSpec> {
    match serde_json::from_value::<Vec<InputSpec>>(inputs) {
        Ok(specs) => specs,
        Err(e) => panic!("fixture does not deserialize: {e}"),
    }
}

/// Deserializes, checks statically, round-trips through serde, and resolves with `given`.
#[track_caller]
fn run(inputs: Value, given: &[(&str, RawInput)]) -> Value {
    let specs = specs(inputs);
    for spec in &specs {
        assert_eq!(check_spec(spec), [], "{}", spec.id);
        let serialized = serde_json::to_value(spec).unwrap_or_default();
        let again: Result<InputSpec, _> = serde_json::from_value(serialized);
        assert_eq!(again.ok().as_ref(), Some(spec), "round trip of {}", spec.id);
    }
    let provided: IndexMap<String, RawInput> = given
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    match resolve(&specs, &provided, &mut |_, v| Ok(v.clone())) {
        Ok(map) => Value::Object(map),
        Err(errors) => panic!("{errors:?}"),
    }
}

#[test]
fn fixture_example_flows() {
    // branching.yaml
    let branching = json!([{"id": "mode", "type": "SELECT", "values": ["fast", "slow", "broken"], "defaults": "fast"}]);
    assert_eq!(run(branching.clone(), &[]), json!({"mode": "fast"}));
    assert_eq!(
        run(branching, &[("mode", text("slow"))]),
        json!({"mode": "slow"})
    );
    // csv_to_postgres.yaml
    let csv = json!([
        {"id": "csv_url", "type": "URI"},
        {"id": "table", "type": "STRING", "defaults": "public.example_rows"}
    ]);
    assert_eq!(
        run(csv, &[("csv_url", text("https://example.com/rows.csv"))]),
        json!({"csv_url": "https://example.com/rows.csv", "table": "public.example_rows"})
    );
    // hello_inputs.yaml
    let hello = json!([
        {"id": "who", "type": "STRING", "defaults": "world"},
        {"id": "times", "type": "INT", "defaults": 3}
    ]);
    assert_eq!(
        run(hello, &[("times", text("2"))]),
        json!({"who": "world", "times": 2})
    );
    // nightly_report.yaml
    let nightly = json!([{"id": "region", "type": "STRING", "defaults": "eu"}]);
    assert_eq!(run(nightly, &[]), json!({"region": "eu"}));
}

fn zoomcamp_taxi_inputs(default_taxi: &str, custom_year: bool) -> Value {
    let months: Vec<String> = (1..=12).map(|m| format!("{m:02}")).collect();
    let mut year = json!({"id": "year", "type": "SELECT", "displayName": "Select year", "values": ["2019", "2020"], "defaults": "2019"});
    if custom_year {
        year["allowCustomValue"] = json!(true);
    }
    json!([
        {"id": "taxi", "type": "SELECT", "displayName": "Select taxi type", "values": ["yellow", "green"], "defaults": default_taxi},
        year,
        {"id": "month", "type": "SELECT", "displayName": "Select month", "values": months, "defaults": "01"}
    ])
}

#[test]
fn fixture_zoomcamp_hello_world_and_getting_started() {
    let hello = json!([{"id": "name", "type": "STRING", "defaults": "Will"}]);
    assert_eq!(run(hello.clone(), &[]), json!({"name": "Will"}));
    // The schedule trigger's `inputs: {name: Sarah}` arrives as JSON.
    assert_eq!(
        run(hello, &[("name", RawInput::Json(json!("Sarah")))]),
        json!({"name": "Sarah"})
    );

    let pipeline = json!([{"id": "columns_to_keep", "type": "ARRAY", "itemType": "STRING", "defaults": ["brand", "price"]}]);
    assert_eq!(
        run(pipeline.clone(), &[]),
        json!({"columns_to_keep": ["brand", "price"]})
    );
    assert_eq!(
        run(
            pipeline,
            &[("columns_to_keep", text(r#"["brand","price","title"]"#))]
        ),
        json!({"columns_to_keep": ["brand", "price", "title"]})
    );
}

#[test]
fn fixture_zoomcamp_postgres_and_gcp_taxi() {
    assert_eq!(
        run(
            zoomcamp_taxi_inputs("yellow", false),
            &[
                ("taxi", text("green")),
                ("year", text("2020")),
                ("month", text("03"))
            ]
        ),
        json!({"taxi": "green", "year": "2020", "month": "03"})
    );
    // 08_gcp_taxi lets a year outside the list be typed in.
    assert_eq!(
        run(
            zoomcamp_taxi_inputs("green", true),
            &[("year", text("2021"))]
        ),
        json!({"taxi": "green", "year": "2021", "month": "01"})
    );
    // 05/09 scheduled: only `taxi`, set by each trigger's inputs map.
    let scheduled = json!([{"id": "taxi", "type": "SELECT", "displayName": "Select taxi type", "values": ["yellow", "green"], "defaults": "green"}]);
    assert_eq!(
        run(scheduled, &[("taxi", RawInput::Json(json!("yellow")))]),
        json!({"taxi": "yellow"})
    );
    // 2025's 03_postgres_dbt
    let dbt = json!([{"id": "dbt_command", "type": "SELECT", "allowCustomValue": true, "defaults": "dbt build", "values": ["dbt build", "dbt debug"]}]);
    assert_eq!(
        run(dbt, &[("dbt_command", text("dbt run --select x"))]),
        json!({"dbt_command": "dbt run --select x"})
    );
}

#[test]
fn fixture_zoomcamp_taxi_refuses_an_unlisted_taxi() {
    let specs = specs(zoomcamp_taxi_inputs("yellow", false));
    let provided: IndexMap<String, RawInput> =
        [("taxi".to_owned(), text("blue"))].into_iter().collect();
    let errors = resolve(&specs, &provided, &mut |_, v| Ok(v.clone()))
        .err()
        .unwrap_or_default();
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["input 'taxi': 'blue' is not one of yellow, green"]
    );
}

/// The example flow of the Kestra docs' inputs page, one input of each type.
fn docs_inputs() -> Value {
    json!([
        {"id": "string", "type": "STRING", "defaults": "Hello World!", "displayName": "A string input"},
        {"id": "optional", "type": "STRING", "required": false, "displayName": "An optional string"},
        {"id": "int", "type": "INT", "defaults": 100, "displayName": "An integer input"},
        {"id": "list_of_int", "type": "ARRAY", "itemType": "INT", "defaults": [1, 2, 3]},
        {"id": "bool", "type": "BOOL", "defaults": true},
        {"id": "float", "type": "FLOAT", "defaults": 100.12},
        {"id": "dropdown", "type": "SELECT", "defaults": "VALUE_1", "values": ["VALUE_1", "VALUE_2", "VALUE_3"]},
        {"id": "dropdown_multi", "type": "MULTISELECT", "values": ["VALUE_1", "VALUE_2", "VALUE_3"]},
        {"id": "instant", "type": "DATETIME", "defaults": "2013-08-09T14:19:00Z"},
        {"id": "date", "type": "DATE", "defaults": "2013-10-25"},
        {"id": "time", "type": "TIME", "defaults": "14:19:00"},
        {"id": "duration", "type": "DURATION", "defaults": "PT5M6S"},
        {"id": "file", "type": "FILE", "defaults": "nsfile:///hello.txt", "allowedFileExtensions": [".md", ".txt"]},
        {"id": "json", "type": "JSON", "defaults": "[{\"name\": \"kestra\", \"rating\": \"best in class\"}]\n"},
        {"id": "uri", "type": "URI", "defaults": "https://huggingface.co/datasets/kestra/datasets/raw/main/csv/orders.csv"},
        {"id": "secret", "type": "SECRET", "displayName": "A secret input"},
        {"id": "yaml", "type": "YAML", "defaults": [{"user": "john", "email": "john@example.com"}, {"user": "will", "email": "will@example.com"}]},
        {"id": "nested.string", "type": "STRING", "defaults": "Hello World!"}
    ])
}

#[test]
fn fixture_docs_inputs_of_every_type() {
    let given = [
        ("dropdown_multi", text(r#"["VALUE_2"]"#)),
        ("secret", text("s3cr3t")),
    ];
    assert_eq!(
        run(docs_inputs(), &given),
        json!({
            "string": "Hello World!", "optional": null, "int": 100, "list_of_int": [1, 2, 3], "bool": true,
            "float": 100.12, "dropdown": "VALUE_1", "dropdown_multi": ["VALUE_2"], "instant": "2013-08-09T14:19:00Z",
            "date": "2013-10-25", "time": "14:19:00", "duration": "PT5M6S", "file": "nsfile:///hello.txt",
            "json": [{"name": "kestra", "rating": "best in class"}],
            "uri": "https://huggingface.co/datasets/kestra/datasets/raw/main/csv/orders.csv", "secret": "s3cr3t",
            "yaml": [{"user": "john", "email": "john@example.com"}, {"user": "will", "email": "will@example.com"}],
            "nested": {"string": "Hello World!"}
        })
    );
}

#[test]
fn fixture_docs_validators() {
    let inputs = json!([
        {"id": "age", "type": "INT", "defaults": 42, "required": false, "min": 18, "max": 64},
        {"id": "user", "type": "STRING", "defaults": "student", "required": false, "validator": "^student(\\d+)?$"},
        {"id": "float", "type": "FLOAT", "defaults": 3.2, "min": 0.2, "max": 5.3},
        {"id": "duration", "type": "DURATION", "min": "PT5M6S", "max": "PT12H58M46S", "required": false},
        {"id": "date", "type": "DATE", "defaults": "2024-04-12", "after": "2024-04-10", "before": "2024-04-15"},
        {"id": "time", "type": "TIME", "after": "11:01:01", "before": "11:04:01", "required": false},
        {"id": "datetime", "type": "DATETIME", "defaults": "2024-04-13T14:17:00Z", "after": "2024-04-10T14:19:00Z", "before": "2024-04-15T14:19:00Z"}
    ]);
    let value = run(
        inputs,
        &[("user", text("student123")), ("time", text("11:02"))],
    );
    assert_eq!(value["user"], json!("student123"));
    assert_eq!(value["time"], json!("11:02:00"));
    assert_eq!(value["duration"], Value::Null);
}

#[test]
fn fixture_spec_fields_deserialize_from_flow_shapes() {
    let spec: InputSpec = serde_json::from_value(json!({
        "name": "legacy", "type": "MULTISELECT", "description": "d", "options": ["a", 2019, true],
        "itemType": "STRING", "autoSelectFirst": true, "prefill": ["a"],
        "dependsOn": {"inputs": ["other"], "condition": "{{ inputs.other == 'x' }}"}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.id, "legacy");
    assert_eq!(spec.input_type, InputType::Multiselect);
    assert_eq!(
        spec.options,
        Some(vec!["a".into(), "2019".into(), "true".into()])
    );
    assert!(spec.required);
    assert_eq!(
        spec.depends_on.and_then(|d| d.inputs),
        Some(vec!["other".into()])
    );

    let unknown =
        serde_json::from_value::<InputSpec>(json!({"id": "a", "type": "STRING", "minLength": 1}));
    assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `minLength`")));
    let bad_type = serde_json::from_value::<InputSpec>(json!({"id": "a", "type": "TEXT"}));
    assert!(bad_type.is_err_and(|e| e.to_string().contains("unknown variant `TEXT`")));
}

#[test]
fn fixture_spec_serializes_in_flow_spelling() {
    let mut spec = InputSpec::new("year", InputType::Select);
    spec.values = Some(vec!["2019".into()]);
    spec.allow_custom_value = Some(true);
    spec.display_name = Some("Select year".into());
    assert_eq!(
        serde_json::to_value(&spec).unwrap_or_default(),
        json!({"id": "year", "type": "SELECT", "displayName": "Select year", "required": true, "values": ["2019"], "allowCustomValue": true})
    );
}
