//! Values that a flow may give either literally or as a template rendered at run time.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

use crate::template::is_template;

/// A typed property that may also be a `{{ }}` expression, like Kestra's `Property<T>`:
/// `concurrent: 2` and `concurrent: "{{ inputs.n }}"` are both valid. Literals are checked when
/// the flow is read; expressions when they are rendered.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Property<T> {
    Value(T),
    Expression(String),
}

impl<T> Property<T> {
    pub fn as_value(&self) -> Option<&T> {
        match self {
            Property::Value(v) => Some(v),
            Property::Expression(_) => None,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Property<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        if let serde_json::Value::String(text) = &raw
            && is_template(text)
        {
            return Ok(Property::Expression(text.clone()));
        }
        T::deserialize(raw)
            .map(Property::Value)
            .map_err(D::Error::custom)
    }
}

/// A property Kestra accepts as one string or a list of strings (`message`, `commands`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}
