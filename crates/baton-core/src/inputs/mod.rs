//! Flow inputs: their declared types, static checks of the declaration, and coercion of the values
//! a user supplies (web form, CLI `--input k=v`, JSON API body, a trigger's `inputs:` map).
//!
//! - [`InputSpec`] is one entry of a flow's `inputs:`; [`check_spec`] finds problems in it at
//!   deploy time.
//! - [`coerce`] turns one [`RawInput`] into its canonical JSON value, or says what was wrong.
//! - [`resolve`] does that for every input of an execution, fills defaults and reports every bad
//!   input at once.
//!
//! # Canonical values
//!
//! The worker, the template engine and the UI rely on these forms:
//!
//! | Type | JSON value |
//! |---|---|
//! | STRING, SECRET, EMAIL, URI, SELECT, ENUM | string (masking a SECRET is the UI's job) |
//! | INT | integer (64-bit) |
//! | FLOAT | number |
//! | BOOLEAN, BOOL | `true` / `false` (text `true`/`false`, any case) |
//! | DATE | `"YYYY-MM-DD"` |
//! | TIME | `"HH:MM:SS"`, with a fraction only when there is one (`HH:MM` is accepted) |
//! | DATETIME | RFC 3339 in UTC with `Z`: `"2024-04-12T12:19:00Z"`; an offset is converted |
//! | DURATION | ISO-8601 as java.time prints it: `"PT1H30M"` |
//! | FILE | the URI string: `kestra://`, `nsfile://` or `file://` |
//! | JSON, YAML | the parsed value |
//! | ARRAY | a list of items, each coerced by `itemType` |
//! | MULTISELECT | a list of items (strings unless `itemType` says otherwise) |
//!
//! A non-required input with no value and no default is `null`. Ids with dots are nested:
//! `nested.string` becomes `{"nested": {"string": ..}}`.
//!
//! # Reading rules
//!
//! - A DATETIME without an offset (`2024-04-12T14:19:00`) is refused, as Kestra's `Instant.parse`
//!   refuses it: guessing a zone would silently shift the instant.
//! - Text for ARRAY and MULTISELECT is a JSON array (`["a","b"]`) or a YAML flow list (`[a, b]`);
//!   comma-separated text is not a list, as in Kestra.
//! - JSON and YAML text is parsed; a JSON body may also give the value already structured.
//! - Empty text counts as "no value" for every type but STRING and SECRET, because web forms send
//!   empty fields; JSON `null` is "no value" for every type.
//! - Values of SELECT and MULTISELECT inputs declared with `expression` are checked against
//!   `values` only: a caller that renders the expression sets `values` on a copy of the spec.

mod check;
mod coerce;
mod resolve;
mod spec;
mod yaml;

#[cfg(test)]
mod tests;

pub use check::{SpecProblem, check_spec};
pub use coerce::coerce;
pub use resolve::resolve;
pub use spec::{DependsOn, InputSpec, InputType};

/// A value as the user supplied it.
#[derive(Debug, Clone, PartialEq)]
pub enum RawInput {
    /// A form field, a CLI `k=v` or a query string parameter.
    Text(String),
    /// A JSON API body, or a trigger's `inputs:` map.
    Json(serde_json::Value),
    /// An upload already in internal storage, named by its `kestra://` URI.
    File { uri: String },
}

/// Why the value of one input was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("input '{input}': {message}")]
pub struct InputError {
    /// The input's id, or the unknown key that was supplied.
    pub input: String,
    pub message: String,
}
