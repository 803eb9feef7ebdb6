use serde_json::json;

use super::spec;
use crate::inputs::{SpecProblem, check_spec};

/// The problems of a declaration, as `field: message` lines.
#[track_caller]
fn problems(json: serde_json::Value) -> Vec<String> {
    check_spec(&spec(json))
        .into_iter()
        .map(|SpecProblem { field, message }| format!("{field}: {message}"))
        .collect()
}

#[test]
fn check_accepts_a_clean_declaration_of_every_type() {
    let clean = [
        json!({"id": "s", "type": "STRING", "validator": "^a.*$", "defaults": "abc"}),
        json!({"id": "i", "type": "INT", "min": 1, "max": 3, "defaults": 2}),
        json!({"id": "f", "type": "FLOAT", "min": 0.5, "max": 3, "defaults": 2.5}),
        json!({"id": "b", "type": "BOOLEAN", "defaults": false}),
        json!({"id": "b2", "type": "BOOL", "defaults": "true"}),
        json!({"id": "d", "type": "DATE", "after": "2024-01-01", "defaults": "2024-02-01"}),
        json!({"id": "t", "type": "TIME", "before": "23:00", "defaults": "14:19:00"}),
        json!({"id": "dt", "type": "DATETIME", "defaults": "2013-08-09T14:19:00Z"}),
        json!({"id": "du", "type": "DURATION", "min": "PT1M", "max": "PT1H", "defaults": "PT5M6S"}),
        json!({"id": "fi", "type": "FILE", "defaults": "nsfile:///hello.txt", "allowedFileExtensions": [".txt"]}),
        json!({"id": "j", "type": "JSON", "defaults": "[{\"name\": \"kestra\"}]"}),
        json!({"id": "y", "type": "YAML", "defaults": [{"user": "john"}]}),
        json!({"id": "u", "type": "URI", "defaults": "https://example.com/a.csv"}),
        json!({"id": "e", "type": "EMAIL", "defaults": "a@b.io"}),
        json!({"id": "se", "type": "SECRET"}),
        json!({"id": "sel", "type": "SELECT", "values": ["a", "b"], "defaults": "a", "isRadio": true}),
        json!({"id": "dyn", "type": "SELECT", "expression": "{{ kv('X') }}"}),
        json!({"id": "m", "type": "MULTISELECT", "values": ["a", "b"], "defaults": ["a"]}),
        json!({"id": "arr", "type": "ARRAY", "itemType": "INT", "defaults": [1, 2]}),
        json!({"id": "nested.string", "type": "STRING", "required": false}),
    ];
    for declaration in clean {
        assert_eq!(
            problems(declaration.clone()),
            Vec::<String>::new(),
            "{declaration}"
        );
    }
}

#[test]
fn check_reports_defaults_of_the_wrong_type() {
    assert_eq!(
        problems(json!({"id": "i", "type": "INT", "defaults": "abc"})),
        ["defaults: 'abc' is not an integer"]
    );
    assert_eq!(
        problems(json!({"id": "s", "type": "SELECT", "values": ["a"], "defaults": "b"})),
        ["defaults: 'b' is not one of a"]
    );
    assert_eq!(
        problems(json!({"id": "d", "type": "DATE", "defaults": "2024-13-01"})),
        ["defaults: '2024-13-01' is not a date (expected YYYY-MM-DD, like 2024-04-12)"]
    );
    assert_eq!(
        problems(json!({"id": "a", "type": "ARRAY", "itemType": "INT", "defaults": ["x"]})),
        ["defaults: item 1: 'x' is not an integer"]
    );
    assert_eq!(
        problems(json!({"id": "i", "type": "INT", "min": 5, "defaults": 1})),
        ["defaults: 1 is less than the minimum 5"]
    );
    assert_eq!(
        problems(json!({"id": "b", "type": "BOOL", "prefill": "maybe"})),
        ["prefill: 'maybe' is not a boolean (expected true or false)"]
    );
}

#[test]
fn check_leaves_template_defaults_for_execution_time() {
    assert!(problems(json!({"id": "d", "type": "DATETIME", "defaults": "{{ now() }}"})).is_empty());
    assert!(
        problems(json!({"id": "i", "type": "INT", "defaults": "{% if true %}1{% endif %}"}))
            .is_empty()
    );
    assert!(
        problems(json!({"id": "a", "type": "ARRAY", "itemType": "INT", "defaults": ["{{ x }}"]}))
            .is_empty()
    );
}

#[test]
fn check_requires_values_or_expression_on_selects() {
    assert_eq!(
        problems(json!({"id": "s", "type": "SELECT"})),
        ["values: a SELECT input needs 'values' or 'expression'"]
    );
    assert_eq!(
        problems(json!({"id": "m", "type": "MULTISELECT"})),
        ["values: a MULTISELECT input needs 'values' or 'expression'"]
    );
    assert_eq!(
        problems(json!({"id": "e", "type": "ENUM"})),
        ["values: an ENUM input needs 'values'"]
    );
    assert_eq!(
        problems(json!({"id": "s", "type": "SELECT", "values": []})),
        ["values: is empty, so no value could ever be accepted"]
    );
    assert_eq!(
        problems(json!({"id": "m", "type": "MULTISELECT", "values": ["a"], "options": ["a"]})),
        ["options: 'options' is the deprecated name of 'values'; give only 'values'"]
    );
}

#[test]
fn check_reports_a_validator_that_does_not_compile() {
    let found = problems(json!({"id": "s", "type": "STRING", "validator": "a(b"}));
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("validator: `a(b` is not a valid regular expression: "),
        "{found:?}"
    );
    // Rust's regex has no look-around; such a Java pattern is reported, not silently ignored.
    assert_eq!(
        problems(json!({"id": "s", "type": "SECRET", "validator": "(?=a)a"})).len(),
        1
    );
}

#[test]
fn check_reports_min_above_max_and_after_above_before() {
    assert_eq!(
        problems(json!({"id": "i", "type": "INT", "min": 10, "max": 1})),
        ["min: min 10 is greater than max 1"]
    );
    assert_eq!(
        problems(json!({"id": "f", "type": "FLOAT", "min": 1.5, "max": 1.2})),
        ["min: min 1.5 is greater than max 1.2"]
    );
    assert_eq!(
        problems(json!({"id": "d", "type": "DURATION", "min": "PT1H", "max": "PT30M"})),
        ["min: min PT1H is greater than max PT30M"]
    );
    assert_eq!(
        problems(json!({"id": "d", "type": "DATE", "after": "2024-02-01", "before": "2024-01-01"})),
        ["after: after 2024-02-01 is greater than before 2024-01-01"]
    );
    assert_eq!(
        problems(json!({"id": "t", "type": "TIME", "after": "12:00", "before": "11:00"})).len(),
        1
    );
    assert_eq!(
        problems(json!({"id": "t", "type": "DATETIME", "after": "2024-02-01T00:00:00Z", "before": "2024-01-01T00:00:00Z"}))
            .len(),
        1
    );
}

#[test]
fn check_reports_bounds_that_do_not_parse() {
    assert_eq!(
        problems(json!({"id": "i", "type": "INT", "min": "five"})),
        ["min: \"five\" is not a number"]
    );
    assert_eq!(
        problems(json!({"id": "i", "type": "INT", "max": 2.5})),
        ["max: 2.5 is not an integer"]
    );
    assert_eq!(
        problems(json!({"id": "d", "type": "DURATION", "max": 5})),
        ["max: 5 is not an ISO-8601 duration like PT5M"]
    );
    assert_eq!(
        problems(json!({"id": "d", "type": "DATE", "before": "soon"})),
        ["before: 'soon' is not a date (expected YYYY-MM-DD, like 2024-04-12)"]
    );
}

#[test]
fn check_reports_fields_used_on_the_wrong_type() {
    assert_eq!(
        problems(json!({"id": "i", "type": "INT", "values": ["a"]})),
        ["values: only SELECT and MULTISELECT inputs take 'values'"]
    );
    assert_eq!(
        problems(json!({"id": "s", "type": "STRING", "min": 1})),
        ["min: only INT, FLOAT and DURATION inputs take 'min'"]
    );
    assert_eq!(
        problems(json!({"id": "i", "type": "INT", "validator": "\\d+"})),
        ["validator: only STRING and SECRET inputs take 'validator'"]
    );
    assert_eq!(
        problems(json!({"id": "s", "type": "STRING", "after": "2024-01-01"})),
        ["after: only DATE, TIME and DATETIME inputs take 'after'"]
    );
    assert_eq!(
        problems(json!({"id": "m", "type": "MULTISELECT", "values": ["a"], "isRadio": true})),
        ["isRadio: only SELECT inputs take 'isRadio'"]
    );
    assert_eq!(
        problems(json!({"id": "s", "type": "STRING", "itemType": "STRING"})),
        ["itemType: only ARRAY and MULTISELECT inputs take 'itemType'"]
    );
    assert_eq!(
        problems(json!({"id": "s", "type": "STRING", "allowedFileExtensions": [".csv"]})),
        ["allowedFileExtensions: only FILE inputs take 'allowedFileExtensions'"]
    );
    assert_eq!(
        problems(
            json!({"id": "s", "type": "URI", "allowCustomValue": true, "expression": "{{ x }}"})
        )
        .len(),
        2
    );
}

#[test]
fn check_requires_a_usable_item_type_on_arrays() {
    assert_eq!(
        problems(json!({"id": "a", "type": "ARRAY"})),
        ["itemType: an ARRAY input needs 'itemType' (e.g. STRING)"]
    );
    assert_eq!(
        problems(json!({"id": "a", "type": "ARRAY", "itemType": "ARRAY"})),
        ["itemType: items cannot be of type ARRAY"]
    );
    assert_eq!(
        problems(
            json!({"id": "m", "type": "MULTISELECT", "values": ["a"], "itemType": "MULTISELECT"})
        ),
        ["itemType: items cannot be of type MULTISELECT"]
    );
}

#[test]
fn check_reports_invalid_ids() {
    for bad in ["", "-a", ".a", "a b", "a/b", "é"] {
        assert_eq!(
            problems(json!({"id": bad, "type": "STRING"})).len(),
            1,
            "{bad:?}"
        );
    }
    assert_eq!(
        problems(json!({"id": "a b", "type": "STRING"})),
        [
            "id: 'a b' is not a valid input id (it must start with a letter or digit and hold only letters, digits, '.', '_' and '-')"
        ]
    );
    assert_eq!(
        problems(json!({"id": "a..b", "type": "STRING"})),
        ["id: 'a..b' has an empty part between dots"]
    );
    assert_eq!(
        problems(json!({"id": "a.", "type": "STRING"})),
        ["id: 'a.' has an empty part between dots"]
    );
    for good in ["a", "0x", "my-file", "nested.string", "A_b-c.d"] {
        assert!(
            problems(json!({"id": good, "type": "STRING"})).is_empty(),
            "{good:?}"
        );
    }
}

#[test]
fn check_reports_a_long_display_name() {
    let name = "n".repeat(65);
    assert_eq!(
        problems(json!({"id": "a", "type": "STRING", "displayName": name})),
        ["displayName: is longer than 64 characters"]
    );
}

#[test]
fn check_reports_every_problem_at_once() {
    let found = problems(
        json!({"id": "bad id", "type": "INT", "min": 9, "max": 1, "values": ["a"], "defaults": "x"}),
    );
    assert_eq!(found.len(), 4, "{found:?}");
}
