use serde_json::json;

use super::{err, json, ok, spec, text};
use crate::inputs::RawInput;

#[test]
fn string_accepts_text_and_json_scalars() {
    let s = spec(json!({"id": "who", "type": "STRING"}));
    assert_eq!(ok(&s, text("world")), json!("world"));
    assert_eq!(ok(&s, text("")), json!(""));
    assert_eq!(ok(&s, json(json!("x"))), json!("x"));
    assert_eq!(ok(&s, json(json!(3))), json!("3"));
    assert_eq!(ok(&s, json(json!(true))), json!("true"));
}

#[test]
fn string_refuses_structures_and_files() {
    let s = spec(json!({"id": "who", "type": "STRING"}));
    assert_eq!(
        err(&s, json(json!({"a": 1}))),
        "input 'who': expected a string, got an object"
    );
    assert_eq!(
        err(&s, json(json!([1]))),
        "input 'who': expected a string, got a list"
    );
    assert_eq!(
        err(
            &s,
            RawInput::File {
                uri: "kestra:///a/b.txt".into()
            }
        ),
        "input 'who': a file (kestra:///a/b.txt) was uploaded, but the input is of type STRING"
    );
}

#[test]
fn string_validator_must_match_the_whole_value() {
    let s = spec(json!({"id": "user", "type": "STRING", "validator": "student(\\d+)?"}));
    assert_eq!(ok(&s, text("student")), json!("student"));
    assert_eq!(ok(&s, text("student123")), json!("student123"));
    assert_eq!(
        err(&s, text("studentabc")),
        "input 'user': 'studentabc' does not match the pattern `student(\\d+)?`"
    );
    // An alternation is anchored as a whole, as with Java's String.matches.
    let alt = spec(json!({"id": "a", "type": "STRING", "validator": "a|b"}));
    assert_eq!(ok(&alt, text("b")), json!("b"));
    err(&alt, text("ab"));
}

#[test]
fn secret_is_a_string_with_a_validator() {
    let s = spec(json!({"id": "token", "type": "SECRET", "validator": "[a-f0-9]{4}"}));
    assert_eq!(ok(&s, text("beef")), json!("beef"));
    assert_eq!(
        err(&s, text("nope")),
        "input 'token': 'nope' does not match the pattern `[a-f0-9]{4}`"
    );
}

#[test]
fn int_parses_text_and_json_integers() {
    let s = spec(json!({"id": "times", "type": "INT"}));
    assert_eq!(ok(&s, text("3")), json!(3));
    assert_eq!(ok(&s, text(" -42 ")), json!(-42));
    assert_eq!(ok(&s, json(json!(7))), json!(7));
    assert_eq!(ok(&s, json(json!("8"))), json!(8));
}

#[test]
fn int_refuses_non_integers() {
    let s = spec(json!({"id": "times", "type": "INT"}));
    assert_eq!(
        err(&s, text("abc")),
        "input 'times': 'abc' is not an integer"
    );
    assert_eq!(
        err(&s, text("3.5")),
        "input 'times': '3.5' is not an integer"
    );
    assert_eq!(
        err(&s, json(json!(3.5))),
        "input 'times': 3.5 is not an integer"
    );
    assert_eq!(
        err(&s, json(json!([3]))),
        "input 'times': expected an integer, got a list"
    );
    err(&s, text("99999999999999999999"));
}

#[test]
fn int_min_and_max_are_inclusive() {
    let s = spec(json!({"id": "age", "type": "INT", "min": 18, "max": 64}));
    assert_eq!(ok(&s, text("18")), json!(18));
    assert_eq!(ok(&s, text("64")), json!(64));
    assert_eq!(
        err(&s, text("17")),
        "input 'age': 17 is less than the minimum 18"
    );
    assert_eq!(
        err(&s, json(json!(65))),
        "input 'age': 65 is more than the maximum 64"
    );
}

#[test]
fn float_parses_and_checks_range() {
    let s = spec(json!({"id": "f", "type": "FLOAT", "min": 0.2, "max": 5.3}));
    assert_eq!(ok(&s, text("3.2")), json!(3.2));
    assert_eq!(ok(&s, text("3")), json!(3.0));
    assert_eq!(ok(&s, json(json!(1))), json!(1.0));
    assert_eq!(ok(&s, json(json!("1.5"))), json!(1.5));
    assert_eq!(
        err(&s, text("0.1")),
        "input 'f': 0.1 is less than the minimum 0.2"
    );
    assert_eq!(
        err(&s, text("6")),
        "input 'f': 6.0 is more than the maximum 5.3"
    );
    assert_eq!(err(&s, text("abc")), "input 'f': 'abc' is not a number");
    assert_eq!(err(&s, text("NaN")), "input 'f': 'NaN' is not a number");
    assert_eq!(err(&s, text("inf")), "input 'f': 'inf' is not a number");
    assert_eq!(
        err(&s, json(json!(true))),
        "input 'f': 'true' is not a number"
    );
}

#[test]
fn boolean_and_bool_read_true_and_false_in_any_case() {
    for ty in ["BOOLEAN", "BOOL"] {
        let s = spec(json!({"id": "b", "type": ty}));
        assert_eq!(ok(&s, text("true")), json!(true));
        assert_eq!(ok(&s, text("FALSE")), json!(false));
        assert_eq!(ok(&s, text("True")), json!(true));
        assert_eq!(ok(&s, json(json!(false))), json!(false));
        assert_eq!(ok(&s, json(json!("false"))), json!(false));
        assert_eq!(
            err(&s, text("yes")),
            "input 'b': 'yes' is not a boolean (expected true or false)"
        );
        assert_eq!(
            err(&s, json(json!(1))),
            "input 'b': '1' is not a boolean (expected true or false)"
        );
    }
}

#[test]
fn date_is_iso_and_checks_after_before() {
    let s = spec(json!({"id": "d", "type": "DATE", "after": "2024-04-10", "before": "2024-04-15"}));
    assert_eq!(ok(&s, text("2024-04-12")), json!("2024-04-12"));
    assert_eq!(ok(&s, text("2024-04-10")), json!("2024-04-10"));
    assert_eq!(ok(&s, json(json!("2024-04-15"))), json!("2024-04-15"));
    assert_eq!(
        err(&s, text("2024-04-09")),
        "input 'd': '2024-04-09' is before 2024-04-10"
    );
    assert_eq!(
        err(&s, text("2024-04-16")),
        "input 'd': '2024-04-16' is after 2024-04-15"
    );
    assert_eq!(
        err(&s, text("12/04/2024")),
        "input 'd': '12/04/2024' is not a date (expected YYYY-MM-DD, like 2024-04-12)"
    );
    err(&s, text("2024-02-30"));
    err(&s, json(json!(20240412)));
}

#[test]
fn time_accepts_minutes_and_fractions() {
    let s = spec(json!({"id": "t", "type": "TIME", "after": "11:01:01", "before": "11:04:01"}));
    assert_eq!(ok(&s, text("11:02")), json!("11:02:00"));
    assert_eq!(ok(&s, text("11:02:03")), json!("11:02:03"));
    assert_eq!(ok(&s, text("11:02:03.250")), json!("11:02:03.250"));
    assert_eq!(
        err(&s, text("11:00")),
        "input 't': '11:00' is before 11:01:01"
    );
    assert_eq!(
        err(&s, text("12:00")),
        "input 't': '12:00' is after 11:04:01"
    );
    assert_eq!(
        err(&s, text("25:00")),
        "input 't': '25:00' is not a time (expected HH:MM:SS or HH:MM, like 14:19:00)"
    );
}

#[test]
fn datetime_normalizes_offsets_to_utc() {
    let s = spec(json!({"id": "at", "type": "DATETIME"}));
    assert_eq!(
        ok(&s, text("2013-08-09T14:19:00Z")),
        json!("2013-08-09T14:19:00Z")
    );
    assert_eq!(
        ok(&s, text("2013-08-09T16:19:00+02:00")),
        json!("2013-08-09T14:19:00Z")
    );
    assert_eq!(
        ok(&s, text("2042-04-02T04:20:42.000Z")),
        json!("2042-04-02T04:20:42Z")
    );
    assert_eq!(
        ok(&s, text("2042-04-02T04:20:42.5Z")),
        json!("2042-04-02T04:20:42.500Z")
    );
    assert_eq!(
        ok(&s, json(json!("2013-08-09T14:19:00Z"))),
        json!("2013-08-09T14:19:00Z")
    );
}

#[test]
fn datetime_refuses_a_missing_offset_and_garbage() {
    let s = spec(json!({"id": "at", "type": "DATETIME"}));
    assert_eq!(
        err(&s, text("2013-08-09T14:19:00")),
        "input 'at': '2013-08-09T14:19:00' has no UTC offset (add Z for UTC or an offset like +02:00, e.g. 2024-04-12T14:19:00Z)"
    );
    assert_eq!(
        err(&s, text("tomorrow")),
        "input 'at': 'tomorrow' is not a datetime (expected ISO-8601 like 2024-04-12T14:19:00Z)"
    );
}

#[test]
fn datetime_checks_after_and_before_across_offsets() {
    let s = spec(
        json!({"id": "at", "type": "DATETIME", "after": "2024-04-10T14:19:00Z", "before": "2024-04-15T14:19:00Z"}),
    );
    assert_eq!(
        ok(&s, text("2024-04-10T16:19:00+02:00")),
        json!("2024-04-10T14:19:00Z")
    );
    assert_eq!(
        err(&s, text("2024-04-10T15:19:00+02:00")),
        "input 'at': '2024-04-10T15:19:00+02:00' is before 2024-04-10T14:19:00Z"
    );
    err(&s, text("2024-04-16T00:00:00Z"));
}

#[test]
fn duration_normalizes_and_checks_range() {
    let s = spec(json!({"id": "d", "type": "DURATION", "min": "PT5M6S", "max": "PT12H58M46S"}));
    assert_eq!(ok(&s, text("PT90M")), json!("PT1H30M"));
    assert_eq!(ok(&s, text("pt5m6s")), json!("PT5M6S"));
    assert_eq!(ok(&s, json(json!("P0DT6H"))), json!("PT6H"));
    assert_eq!(
        err(&s, text("PT5M")),
        "input 'd': PT5M is shorter than the minimum PT5M6S"
    );
    assert_eq!(
        err(&s, text("P1D")),
        "input 'd': PT24H is longer than the maximum PT12H58M46S"
    );
    assert!(err(&s, text("5 minutes")).starts_with("input 'd': invalid duration '5 minutes'"));
    assert!(err(&s, text("P1M")).contains("years, months and weeks"));
}

#[test]
fn select_checks_values_unless_custom_values_are_allowed() {
    let s = spec(json!({"id": "taxi", "type": "SELECT", "values": ["yellow", "green"]}));
    assert_eq!(ok(&s, text("green")), json!("green"));
    assert_eq!(
        err(&s, text("blue")),
        "input 'taxi': 'blue' is not one of yellow, green"
    );
    let custom = spec(
        json!({"id": "year", "type": "SELECT", "values": ["2019", "2020"], "allowCustomValue": true}),
    );
    assert_eq!(ok(&custom, text("2021")), json!("2021"));
    // A trigger's `inputs: {year: 2019}` gives a number; SELECT values are strings.
    assert_eq!(ok(&custom, json(json!(2019))), json!("2019"));
}

#[test]
fn select_with_only_an_expression_accepts_any_string() {
    let s = spec(json!({"id": "c", "type": "SELECT", "expression": "{{ kv('X') }}"}));
    assert_eq!(ok(&s, text("anything")), json!("anything"));
}

#[test]
fn enum_behaves_like_select() {
    let s = spec(json!({"id": "e", "type": "ENUM", "values": ["A", "B"]}));
    assert_eq!(ok(&s, text("A")), json!("A"));
    assert_eq!(err(&s, text("C")), "input 'e': 'C' is not one of A, B");
}

#[test]
fn multiselect_takes_lists_of_values() {
    let s = spec(json!({"id": "m", "type": "MULTISELECT", "values": ["V1", "V2", "V3"]}));
    assert_eq!(ok(&s, text(r#"["V1","V3"]"#)), json!(["V1", "V3"]));
    assert_eq!(ok(&s, text("[V1, V2]")), json!(["V1", "V2"]));
    assert_eq!(ok(&s, json(json!(["V2"]))), json!(["V2"]));
    assert_eq!(ok(&s, json(json!([]))), json!([]));
    assert_eq!(
        err(&s, text(r#"["V1","V9"]"#)),
        "input 'm': 'V9' is not one of V1, V2, V3"
    );
    assert_eq!(
        err(&s, text("V1,V2")),
        "input 'm': 'V1,V2' is not a list (expected a JSON array like [\"a\", \"b\"])"
    );
    assert_eq!(
        err(&s, json(json!({"a": 1}))),
        "input 'm': expected a list, got an object"
    );
}

#[test]
fn multiselect_honours_deprecated_options_and_custom_values() {
    let s = spec(json!({"id": "m", "type": "MULTISELECT", "options": ["a", "b"]}));
    assert_eq!(ok(&s, text(r#"["b"]"#)), json!(["b"]));
    err(&s, text(r#"["c"]"#));
    let custom =
        spec(json!({"id": "m", "type": "MULTISELECT", "values": ["a"], "allowCustomValue": true}));
    assert_eq!(ok(&custom, text(r#"["a","z"]"#)), json!(["a", "z"]));
}

#[test]
fn array_coerces_items_by_item_type() {
    let ints = spec(json!({"id": "n", "type": "ARRAY", "itemType": "INT"}));
    assert_eq!(ok(&ints, text("[1, 2, 3]")), json!([1, 2, 3]));
    assert_eq!(ok(&ints, json(json!(["4", 5]))), json!([4, 5]));
    assert_eq!(
        err(&ints, text(r#"[1, "x"]"#)),
        "input 'n': item 2: 'x' is not an integer"
    );
    let strings = spec(json!({"id": "cols", "type": "ARRAY", "itemType": "STRING"}));
    assert_eq!(
        ok(&strings, text("[brand, price]")),
        json!(["brand", "price"])
    );
    assert_eq!(
        ok(&strings, json(json!(["brand", 2]))),
        json!(["brand", "2"])
    );
    let dates = spec(json!({"id": "ds", "type": "ARRAY", "itemType": "DATETIME"}));
    assert_eq!(
        ok(&dates, text(r#"["2024-01-01T01:00:00+01:00"]"#)),
        json!(["2024-01-01T00:00:00Z"])
    );
    assert_eq!(
        err(&strings, text("brand")),
        "input 'cols': 'brand' is not a list (expected a JSON array like [\"a\", \"b\"])"
    );
}

#[test]
fn json_parses_text_and_keeps_structured_values() {
    let s = spec(json!({"id": "payload", "type": "JSON"}));
    assert_eq!(
        ok(&s, text(r#"{"name": "kestra"}"#)),
        json!({"name": "kestra"})
    );
    assert_eq!(ok(&s, json(json!("[1, 2]"))), json!([1, 2]));
    assert_eq!(ok(&s, json(json!({"a": [1]}))), json!({"a": [1]}));
    assert!(
        err(&s, text("{not json")).starts_with("input 'payload': '{not json' is not valid JSON: ")
    );
}

#[test]
fn yaml_parses_text_and_keeps_structured_values() {
    let s = spec(json!({"id": "y", "type": "YAML"}));
    let doc = "- user: john\n  email: john@example.com\n  age: 42\n  admin: true\n  note: ~\n- user: will\n";
    assert_eq!(
        ok(&s, text(doc)),
        json!([{"user": "john", "email": "john@example.com", "age": 42, "admin": true, "note": null}, {"user": "will"}])
    );
    assert_eq!(
        ok(&s, text("a: &x [1, 2.5]\nb: *x\nc: '3'")),
        json!({"a": [1, 2.5], "b": [1, 2.5], "c": "3"})
    );
    assert_eq!(
        ok(&s, json(json!([{"user": "john"}]))),
        json!([{"user": "john"}])
    );
    assert!(err(&s, text("a: [1, 2")).starts_with("input 'y': 'a: [1, 2' is not valid YAML: "));
    assert!(err(&s, text("a: 1\n---\nb: 2")).contains("expected one YAML document, found 2"));
}

#[test]
fn uri_must_be_absolute() {
    let s = spec(json!({"id": "csv_url", "type": "URI"}));
    let url = "https://huggingface.co/datasets/kestra/datasets/raw/main/csv/orders.csv";
    assert_eq!(ok(&s, text(url)), json!(url));
    assert_eq!(
        ok(&s, text("http://localhost:8080/x")),
        json!("http://localhost:8080/x")
    );
    assert_eq!(
        ok(&s, text("kestra:///ns/f.csv")),
        json!("kestra:///ns/f.csv")
    );
    assert_eq!(
        err(&s, text("/tmp/file.csv")),
        "input 'csv_url': '/tmp/file.csv' is not an absolute URI (expected one like https://host/path)"
    );
    err(&s, text("https://a b"));
    err(&s, text("1http://x"));
    err(&s, text("https:"));
}

#[test]
fn email_needs_a_local_part_and_a_domain() {
    let s = spec(json!({"id": "to", "type": "EMAIL"}));
    assert_eq!(ok(&s, text("john@example.com")), json!("john@example.com"));
    assert_eq!(
        ok(&s, text("a.b+tag@sub.example.io")),
        json!("a.b+tag@sub.example.io")
    );
    assert_eq!(
        err(&s, text("john")),
        "input 'to': 'john' is not an email address"
    );
    for bad in [
        "@example.com",
        "john@",
        "jo hn@example.com",
        "john@exa_mple.com",
        "john@.com",
        ".j@x.io",
        "",
    ] {
        err(&s, text(bad));
    }
}

#[test]
fn file_takes_uploads_and_storage_uris() {
    let s = spec(json!({"id": "f", "type": "FILE"}));
    let stored = "kestra:///company/team/flow/executions/1/inputs/f/data.csv";
    assert_eq!(ok(&s, RawInput::File { uri: stored.into() }), json!(stored));
    assert_eq!(
        ok(&s, text("nsfile:///hello.txt")),
        json!("nsfile:///hello.txt")
    );
    assert_eq!(
        ok(&s, json(json!("file:///scripts/a.sh"))),
        json!("file:///scripts/a.sh")
    );
    assert_eq!(
        err(&s, text("/tmp/a.csv")),
        "input 'f': '/tmp/a.csv' is not a file URI (expected kestra://, nsfile:// or file://)"
    );
    err(&s, text("kestra://"));
}

#[test]
fn file_checks_allowed_extensions() {
    let s = spec(json!({"id": "f", "type": "FILE", "allowedFileExtensions": [".md", "TXT"]}));
    assert_eq!(
        ok(&s, text("nsfile:///notes/Hello.TXT")),
        json!("nsfile:///notes/Hello.TXT")
    );
    assert_eq!(
        ok(
            &s,
            RawInput::File {
                uri: "kestra:///x/readme.md".into()
            }
        ),
        json!("kestra:///x/readme.md")
    );
    assert_eq!(
        err(&s, text("nsfile:///data.csv")),
        "input 'f': 'nsfile:///data.csv' does not have one of the extensions .md, TXT"
    );
    err(&s, text("nsfile:///md"));
}

#[test]
fn long_values_are_shortened_in_messages() {
    let s = spec(json!({"id": "n", "type": "INT"}));
    let long = "x".repeat(200);
    let message = err(&s, text(&long));
    assert!(message.len() < 130, "{message}");
    assert!(message.contains("…"));
}
