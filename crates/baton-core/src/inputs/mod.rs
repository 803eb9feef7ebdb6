//! Flow inputs. Placeholder until the inputs module lands.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputSpec {
    pub id: String,
    #[serde(rename = "type")]
    pub input_type: InputType,
    pub defaults: Option<serde_json::Value>,
    pub values: Option<Vec<String>>,
    pub display_name: Option<String>,
    pub item_type: Option<InputType>,
    pub allow_custom_value: Option<bool>,
    pub required: Option<bool>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InputType {
    String,
    Enum,
    Select,
    Multiselect,
    Int,
    Float,
    Boolean,
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

pub struct SpecProblem {
    pub field: &'static str,
    pub message: String,
}

pub fn check_spec(_spec: &InputSpec) -> Vec<SpecProblem> {
    Vec::new()
}
