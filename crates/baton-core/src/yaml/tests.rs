use std::cell::RefCell;

use serde::Deserialize;

use super::*;

fn one(source: &str) -> Node {
    let mut docs = parse_documents(source, &YamlLimits::default()).expect("valid YAML");
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn error(source: &str, limits: YamlLimits) -> String {
    let d = parse_documents(source, &limits).expect_err("should fail");
    format!("{}: {}", d.position, d.message)
}

#[test]
fn nodes_remember_line_and_column() {
    let doc = one("id: hello\ntasks:\n  - id: t1\n    type: x\n");
    let tasks = doc.get("tasks").unwrap().as_sequence().unwrap();
    let (key, value) = tasks[0].entry("type").unwrap();
    assert_eq!(key.position(), Position::new(4, 5));
    assert_eq!(value.position(), Position::new(4, 11));
}

#[test]
fn plain_scalars_resolve_with_the_core_schema_but_keep_their_text() {
    let doc = one("a: 01\nb: yes\nc: 1.5\nd: ~\ne: '3'\nf: true\ng: 0x1F\n");
    assert_eq!(doc.get("a").unwrap().plain(), Some(Plain::Int(1)));
    assert_eq!(doc.get("a").unwrap().as_str(), Some("01"));
    assert_eq!(doc.get("b").unwrap().plain(), Some(Plain::Str("yes")));
    assert_eq!(doc.get("c").unwrap().plain(), Some(Plain::Float(1.5)));
    assert!(doc.get("d").unwrap().is_null());
    assert_eq!(doc.get("e").unwrap().to_json(), serde_json::json!("3"));
    assert_eq!(doc.get("f").unwrap().to_json(), serde_json::json!(true));
    assert_eq!(doc.get("g").unwrap().to_json(), serde_json::json!(31));
}

#[test]
fn aliases_and_merge_keys_expand() {
    let doc = one("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nagain: *b\n");
    assert_eq!(
        doc.get("use").unwrap().to_json(),
        serde_json::json!({"y": 3, "x": 1})
    );
    assert_eq!(
        doc.get("again").unwrap().to_json(),
        serde_json::json!({"x": 1, "y": 2})
    );
}

#[test]
fn duplicate_keys_are_errors_naming_the_first() {
    let message = error("id: a\nnamespace: b\nid: c\n", YamlLimits::default());
    assert_eq!(message, "3:1: duplicate key 'id' (first defined at 1:1)");
}

#[test]
fn alias_bombs_hit_the_node_limit() {
    let mut source = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let prev = format!("*a{}", i - 1);
        source.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
    }
    let message = error(&source, YamlLimits::default());
    assert!(message.contains("more than 200000 nodes"), "{message}");
}

#[test]
fn deep_nesting_and_size_are_bounded() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(error(&deep, YamlLimits::default()).contains("nesting deeper than 64"));
    let small = YamlLimits {
        max_bytes: 10,
        ..YamlLimits::default()
    };
    assert!(error("key: a longer value", small).contains("more than the limit of 10 bytes"));
}

#[test]
fn unquoted_templates_get_a_hint() {
    let message = error("id: a\nmessage: {{ inputs.x }}\n", YamlLimits::default());
    assert!(message.starts_with("2:"), "{message}");
    assert!(message.contains("quote"), "{message}");
}

#[test]
fn syntax_errors_point_at_the_problem() {
    let message = error("id: a\nlist: [a, b\nother: c\n", YamlLimits::default());
    assert!(
        message.starts_with("3:") || message.starts_with("2:"),
        "{message}"
    );
    assert!(message.contains("invalid YAML"), "{message}");
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Retry {
    #[serde(rename = "type")]
    kind: Kind,
    max_attempt: Option<u32>,
    interval: Option<String>,
    warning_on_retry: Option<bool>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Constant,
    Exponential,
}

fn read<T: serde::de::DeserializeOwned>(source: &str) -> (Result<T, DeError>, Vec<String>) {
    let doc = one(source);
    let problems = RefCell::new(Vec::new());
    let result = T::deserialize(NodeDeserializer::new(&doc, &problems));
    let problems = problems
        .into_inner()
        .into_iter()
        .map(|d| format!("{}: {}", d.position, d.message))
        .collect();
    (result, problems)
}

#[test]
fn structs_read_with_every_unknown_key_reported() {
    let (result, problems) =
        read::<Retry>("type: constant\nmaxAttempts: 3\nintervall: PT1S\nwarningOnRetry: true\n");
    assert_eq!(
        result.unwrap(),
        Retry {
            kind: Kind::Constant,
            max_attempt: None,
            interval: None,
            warning_on_retry: Some(true)
        }
    );
    assert_eq!(
        problems,
        [
            "2:1: unknown property 'maxAttempts' (did you mean 'maxAttempt'?)",
            "3:1: unknown property 'intervall' (did you mean 'interval'?)",
        ]
    );
}

#[test]
fn type_errors_name_the_field_and_position() {
    let (result, _) = read::<Retry>("type: constant\nmaxAttempt: [1]\n");
    let e = result.unwrap_err();
    assert_eq!(e.position, Some(Position::new(2, 13)));
    assert_eq!(
        e.to_string(),
        "'maxAttempt': expected an integer, found a list"
    );

    let (result, _) = read::<Retry>("type: constnat\n");
    let e = result.unwrap_err();
    assert_eq!(e.position, Some(Position::new(1, 7)));
    assert!(
        e.to_string()
            .contains("unknown value 'constnat' (did you mean constant?)"),
        "{e}"
    );

    let (result, _) = read::<Retry>("maxAttempt: 2\n");
    let e = result.unwrap_err();
    assert_eq!(e.position, Some(Position::new(1, 1)));
    assert_eq!(e.to_string(), "missing required property 'type'");
}

#[test]
fn struct_fields_lists_what_serde_accepts() {
    assert_eq!(
        struct_fields::<Retry>(),
        ["type", "maxAttempt", "interval", "warningOnRetry"]
    );
}
