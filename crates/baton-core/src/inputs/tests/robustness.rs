//! The YAML reader and inputs that try to break things.

use serde_json::{Value, json};

use super::{json, spec, text};
use crate::inputs::yaml::parse_yaml;
use crate::inputs::{InputType, RawInput, check_spec, coerce};

#[test]
fn yaml_resolves_plain_scalars_with_the_core_schema() {
    let doc = "a: 0x1F\nb: 0o17\nc: -3\nd: 1.5e3\ne: .inf\nf: 1.2.3\ng: 'true'\nh: True\ni: null\nj:\nk: !!str 12\nl: 007\n";
    assert_eq!(
        parse_yaml(doc),
        Ok(
            json!({"a": 31, "b": 15, "c": -3, "d": 1500.0, "e": ".inf", "f": "1.2.3", "g": "true", "h": true,
                  "i": null, "j": null, "k": "12", "l": 7})
        )
    );
    assert_eq!(parse_yaml(""), Ok(Value::Null));
    assert_eq!(
        parse_yaml("text: |\n  line 1\n  line 2\n"),
        Ok(json!({"text": "line 1\nline 2\n"}))
    );
    assert_eq!(
        parse_yaml("{1: a, true: b, ~: c}"),
        Ok(json!({"1": "a", "true": "b", "~": "c"}))
    );
}

#[test]
fn yaml_refuses_what_json_cannot_hold() {
    assert!(parse_yaml("? [a]\n: 1").is_err_and(|e| e.contains("mapping key")));
    assert!(parse_yaml("a: *nowhere").is_err());
    assert!(parse_yaml("a: [").is_err_and(|e| e.contains("line")));
}

#[test]
fn yaml_bounds_depth_and_alias_expansion() {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert!(parse_yaml(&deep).is_err());
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let previous = (b'a' + level - 1) as char;
        let name = (b'a' + level) as char;
        let refs = vec![format!("*{previous}"); 10].join(", ");
        laughs.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    assert!(parse_yaml(&laughs).is_err_and(|e| e.contains("more than 100000 nodes")));
}

#[test]
fn coerce_never_panics_on_odd_values() {
    let types = [
        InputType::String,
        InputType::Enum,
        InputType::Select,
        InputType::Multiselect,
        InputType::Int,
        InputType::Float,
        InputType::Boolean,
        InputType::Bool,
        InputType::Datetime,
        InputType::Date,
        InputType::Time,
        InputType::Duration,
        InputType::File,
        InputType::Json,
        InputType::Yaml,
        InputType::Uri,
        InputType::Email,
        InputType::Secret,
        InputType::Array,
    ];
    let deep_json = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let odd_texts = [
        "",
        " ",
        "é",
        "-",
        "+",
        "P",
        "PT",
        "[",
        "]",
        "{",
        "::",
        "@",
        "a@",
        "T",
        "0x",
        "-0x1",
        "9999999999999999999999",
        "1e999",
        "24:00",
        "2024-02-30T25:61:61Z",
        "kestra://",
        "é@é",
        "\u{0}",
        &deep_json,
    ];
    let odd_json = [
        json!(null),
        json!(u64::MAX),
        json!(-1.5),
        json!([[[]]]),
        json!({"a": {"b": []}}),
        json!([null]),
    ];
    for ty in types {
        let mut s = spec(
            json!({"id": "x", "type": ty, "min": "odd", "max": [], "after": "odd", "before": "",
            "validator": "(", "values": [], "allowedFileExtensions": [""]}),
        );
        for item_type in [None, Some(InputType::Array), Some(InputType::Int)] {
            s.item_type = item_type;
            let _ = check_spec(&s);
            for t in odd_texts {
                let _ = coerce(&s, &text(t));
                let _ = coerce(&s, &json(Value::String(t.to_owned())));
                let _ = coerce(&s, &RawInput::File { uri: t.to_owned() });
            }
            for v in &odd_json {
                let _ = coerce(&s, &json(v.clone()));
            }
        }
    }
}
