//! The declaration of a flow input, as written under `inputs:` in a flow.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One entry of a flow's `inputs:` list.
///
/// Type-specific fields are all optional here; [`super::check_spec`] reports those used on a type
/// that does not take them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputSpec {
    /// The key under `inputs`; a dot nests the value (`nested.string`).
    #[serde(alias = "name")]
    pub id: String,
    #[serde(rename = "type")]
    pub input_type: InputType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether an execution needs a value (given or default); Kestra's default is true.
    #[serde(default = "required_by_default")]
    pub required: bool,
    /// Used when no value is given; may be a `{{ }}` template, rendered when the execution starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Value>,
    /// The value the UI form starts with; unlike `defaults` the user may clear it (Kestra 1.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill: Option<Value>,
    /// Shows the input only once other inputs are set, and optionally when a condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<DependsOn>,
    /// STRING and SECRET: a regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<String>,
    /// INT and FLOAT: a number; DURATION: an ISO-8601 duration string. Inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// INT and FLOAT: a number; DURATION: an ISO-8601 duration string. Inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// DATE, TIME and DATETIME: the earliest accepted value, inclusive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_string"
    )]
    pub after: Option<String>,
    /// DATE, TIME and DATETIME: the latest accepted value, inclusive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_string"
    )]
    pub before: Option<String>,
    /// SELECT, MULTISELECT (and the deprecated ENUM): the accepted values.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_strings"
    )]
    pub values: Option<Vec<String>>,
    /// MULTISELECT: deprecated spelling of `values`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_strings"
    )]
    pub options: Option<Vec<String>>,
    /// SELECT and MULTISELECT: a template rendering to the list of values, used instead of `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// SELECT and MULTISELECT: accept values outside `values` too (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_custom_value: Option<bool>,
    /// SELECT: draw radio buttons instead of a drop-down (UI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_radio: Option<bool>,
    /// SELECT and MULTISELECT: the UI preselects the first value (UI only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_select_first: Option<bool>,
    /// ARRAY (required) and MULTISELECT (default STRING): the type of each item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<InputType>,
    /// FILE: accepted file extensions, e.g. `[".csv", ".txt"]`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scalar_strings"
    )]
    pub allowed_file_extensions: Option<Vec<String>>,
    /// FILE: deprecated extension given to the stored upload (default `.upl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

fn required_by_default() -> bool {
    true
}

/// `dependsOn:` of an input: the inputs it waits for, and a condition on their values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DependsOn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// A template that must render to true for the input to be shown and required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// The input types of Kestra 1.x (`core/.../models/flows/Type.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InputType {
    String,
    /// Deprecated alias of SELECT (removed in Kestra 2.0).
    Enum,
    Select,
    Multiselect,
    Int,
    Float,
    /// Tri-state boolean, deprecated in favour of BOOL since 0.23.
    Boolean,
    /// A true/false toggle.
    Bool,
    Datetime,
    Date,
    Time,
    Duration,
    File,
    Json,
    Yaml,
    Uri,
    Email,
    Secret,
    Array,
}

impl InputType {
    /// The name as written in flows: `STRING`, `MULTISELECT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "STRING",
            Self::Enum => "ENUM",
            Self::Select => "SELECT",
            Self::Multiselect => "MULTISELECT",
            Self::Int => "INT",
            Self::Float => "FLOAT",
            Self::Boolean => "BOOLEAN",
            Self::Bool => "BOOL",
            Self::Datetime => "DATETIME",
            Self::Date => "DATE",
            Self::Time => "TIME",
            Self::Duration => "DURATION",
            Self::File => "FILE",
            Self::Json => "JSON",
            Self::Yaml => "YAML",
            Self::Uri => "URI",
            Self::Email => "EMAIL",
            Self::Secret => "SECRET",
            Self::Array => "ARRAY",
        }
    }
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl InputSpec {
    /// A declaration with only an id and a type, as if written `{id: .., type: ..}`.
    pub fn new(id: impl Into<String>, input_type: InputType) -> Self {
        Self {
            id: id.into(),
            input_type,
            description: None,
            display_name: None,
            required: true,
            defaults: None,
            prefill: None,
            depends_on: None,
            validator: None,
            min: None,
            max: None,
            after: None,
            before: None,
            values: None,
            options: None,
            expression: None,
            allow_custom_value: None,
            is_radio: None,
            auto_select_first: None,
            item_type: None,
            allowed_file_extensions: None,
            extension: None,
        }
    }

    /// The accepted values of a SELECT or MULTISELECT: `values`, else the deprecated `options`.
    pub fn choices(&self) -> Option<&[String]> {
        self.values.as_deref().or(self.options.as_deref())
    }

    pub fn allows_custom_value(&self) -> bool {
        self.allow_custom_value.unwrap_or(false)
    }
}

/// The text of a YAML scalar; flows often leave numbers unquoted (`values: [2019, 2020]`), which
/// Kestra reads as strings.
fn scalar_text<E: serde::de::Error>(value: Value) -> Result<String, E> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(E::custom(format!("expected a string, found {other}"))),
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<Value>::deserialize(deserializer)?
        .map(scalar_text::<D::Error>)
        .transpose()
}

fn scalar_strings<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let Some(raw) = Option::<Value>::deserialize(deserializer)? else {
        return Ok(None);
    };
    match raw {
        Value::Array(items) => items
            .into_iter()
            .map(scalar_text::<D::Error>)
            .collect::<Result<_, _>>()
            .map(Some),
        other => Err(D::Error::custom(format!(
            "expected a list of strings, found {other}"
        ))),
    }
}
