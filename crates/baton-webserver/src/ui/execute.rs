//! `/ui/flows/{namespace}/{id}/execute`: a form generated from the flow's inputs, each type
//! with the widget people expect (SELECT → drop-down or radios, MULTISELECT → multiple choice,
//! ARRAY → repeatable fields, BOOLEAN → checkbox, DATE/DATETIME/TIME → pickers, FILE →
//! upload, JSON/YAML → text area), defaults filled in, required inputs marked. Submitting
//! creates the execution through `create_execution_with_id` (the API's path, files stored in
//! internal storage first) and opens its page; a
//! refused input is shown beside its field with everything typed kept.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use baton_core::inputs::{InputSpec, InputType, RawInput};
use baton_executor::executor::{Error as ExecutorError, NewExecution, create_execution_with_id};
use baton_storage::ExecutionFiles;
use indexmap::IndexMap;
use serde_json::Value;
use uuid::Uuid;

use super::flows::FlowHeader;
use super::view::Nav;
use super::{PageResult, html, html_with};
use crate::{ApiError, ApiState};

/// Form field names: `input.<id>` for inputs, so no input id can clash with `labels`.
const PREFIX: &str = "input.";

/// One input as the form draws it.
pub struct Field {
    pub name: String,
    pub label: String,
    pub type_name: &'static str,
    /// `text`, `number`, `select`, `radio`, `multiselect`, `array`, `checkbox`, `date`,
    /// `datetime`, `time`, `file`, `textarea`, `email`, `url`, `password`.
    pub widget: &'static str,
    pub required: bool,
    pub description: Option<String>,
    pub value: String,
    /// ARRAY items; MULTISELECT choices made.
    pub values: Vec<String>,
    pub options: Vec<String>,
    pub checked: bool,
    pub accept: String,
    pub min: String,
    pub max: String,
    pub step: &'static str,
    pub placeholder: String,
    pub error: Option<String>,
}

impl Field {
    pub fn is_selected(&self, option: &str) -> bool {
        if self.widget == "multiselect" {
            self.values.iter().any(|v| v == option)
        } else {
            self.value == option
        }
    }

    /// An HTML id for the field's control.
    pub fn control_id(&self) -> String {
        format!(
            "field-{}",
            self.name[PREFIX.len()..].replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        )
    }
}

#[derive(Template)]
#[template(path = "ui/execute.html")]
struct ExecutePage {
    nav: Nav,
    title: String,
    flow: FlowHeader,
    fields: Vec<Field>,
    labels: String,
    labels_error: Option<String>,
    /// An error that belongs to no field (a disabled flow, an unknown input).
    error: Option<String>,
}

/// Text of a JSON default as the form shows it.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn field(spec: &InputSpec) -> Field {
    use InputType as T;
    let start = spec.prefill.as_ref().or(spec.defaults.as_ref());
    let text = start.map(text_of).unwrap_or_default();
    let choices = spec.choices().map(<[String]>::to_vec).unwrap_or_default();
    let widget = match spec.input_type {
        T::Select | T::Enum if !choices.is_empty() && spec.is_radio == Some(true) => "radio",
        T::Select | T::Enum if !choices.is_empty() => "select",
        T::Multiselect if !choices.is_empty() => "multiselect",
        T::Multiselect | T::Array => "array",
        T::Boolean | T::Bool => "checkbox",
        T::Int | T::Float => "number",
        T::Date => "date",
        T::Datetime => "datetime",
        T::Time => "time",
        T::File => "file",
        T::Json | T::Yaml => "textarea",
        T::Email => "email",
        T::Uri => "url",
        T::Secret => "password",
        T::String | T::Duration | T::Select | T::Enum => "text",
    };
    let mut values = match start {
        Some(Value::Array(items)) => items.iter().map(text_of).collect(),
        _ => Vec::new(),
    };
    if widget == "array" && values.is_empty() {
        values.push(String::new());
    }
    let mut value = match (widget, start) {
        ("textarea", Some(structured @ (Value::Object(_) | Value::Array(_)))) => {
            super::view::pretty_json(structured)
        }
        // `datetime-local` takes no zone; the form reads and writes UTC.
        ("datetime", _) => text.trim_end_matches('Z').chars().take(19).collect(),
        _ => text,
    };
    if spec.auto_select_first == Some(true) && value.is_empty() {
        value = choices.first().cloned().unwrap_or_default();
    }
    Field {
        name: format!("{PREFIX}{}", spec.id),
        label: spec.display_name.clone().unwrap_or_else(|| spec.id.clone()),
        type_name: spec.input_type.as_str(),
        widget,
        required: spec.required && spec.defaults.is_none(),
        description: spec.description.clone(),
        checked: value == "true",
        values,
        options: choices,
        accept: spec
            .allowed_file_extensions
            .as_ref()
            .map(|e| e.join(","))
            .unwrap_or_default(),
        min: spec.min.as_ref().map(text_of).unwrap_or_default(),
        max: spec.max.as_ref().map(text_of).unwrap_or_default(),
        step: if spec.input_type == T::Float {
            "any"
        } else {
            "1"
        },
        placeholder: match spec.input_type {
            T::Duration => "PT1H30M".into(),
            T::Json => r#"{"key": "value"}"#.into(),
            T::Array | T::Multiselect => spec
                .item_type
                .map(|t| format!("one {t} item"))
                .unwrap_or_else(|| "one item".into()),
            _ => String::new(),
        },
        value,
        error: None,
    }
}

async fn flow_specs(
    state: &ApiState,
    namespace: &str,
    id: &str,
) -> Result<(baton_store::FlowRecord, Vec<InputSpec>), ApiError> {
    let record = state.store.get_flow(namespace, id, None).await?;
    let flow = state.parser.parse(&record.source).flow.ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "flow {namespace}.{id} revision {} no longer parses; deploy it again",
            record.revision
        ))
    })?;
    Ok((record, flow.inputs))
}

/// `GET /ui/flows/{namespace}/{id}/execute`.
pub async fn form(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
) -> PageResult {
    let (record, specs) = flow_specs(&state, &namespace, &id).await?;
    html(&ExecutePage {
        nav: Nav::of(&state, "flows"),
        title: format!("Execute {namespace}.{id}"),
        flow: FlowHeader::of(&record, "execute"),
        fields: specs.iter().map(field).collect(),
        labels: String::new(),
        labels_error: None,
        error: None,
    })
}

/// What the browser sent, by field name, in order.
struct Submitted {
    texts: HashMap<String, Vec<String>>,
    files: IndexMap<String, Result<RawInput, String>>,
}

/// Reads the form. File parts are streamed to internal storage under execution `id` (as the
/// API does); `uploads` is set as soon as one may have been stored, so the caller can remove
/// them when no execution is created.
async fn read_form(
    state: &ApiState,
    mut form: Multipart,
    (namespace, flow_id, id): (&str, &str, Uuid),
    uploads: &mut Option<ExecutionFiles>,
) -> Result<Submitted, ApiError> {
    let bad = |error: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("reading the form: {error}"))
    };
    let mut submitted = Submitted {
        texts: HashMap::new(),
        files: IndexMap::new(),
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        // A file input left empty still sends a part, with an empty file name.
        match field.file_name().map(str::to_owned) {
            Some(file_name) if !file_name.is_empty() => {
                let input = name.strip_prefix(PREFIX).unwrap_or(&name).to_owned();
                let files = match uploads {
                    Some(files) => files,
                    None => uploads.insert(
                        ExecutionFiles::new(namespace, flow_id, &id.to_string())
                            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
                    ),
                };
                let stored =
                    crate::files::store_input_file(state, files, &input, &file_name, field).await;
                let upload = match stored {
                    Ok(uri) => Ok(RawInput::File { uri }),
                    Err(ApiError::Unprocessable(message)) => Err(message),
                    Err(other) => return Err(other),
                };
                submitted.files.insert(input, upload);
            }
            Some(_) => {}
            None => {
                let text = field.text().await.map_err(bad)?;
                submitted.texts.entry(name).or_default().push(text);
            }
        }
    }
    Ok(submitted)
}

/// The raw value of one input from the form, `None` when the default should apply.
fn raw_input(spec: &InputSpec, texts: &[String]) -> Option<RawInput> {
    use InputType as T;
    match spec.input_type {
        T::Array | T::Multiselect => {
            let items: Vec<Value> = texts
                .iter()
                .filter(|t| !t.trim().is_empty())
                .map(|t| Value::String(t.clone()))
                .collect();
            (!items.is_empty()).then_some(RawInput::Json(Value::Array(items)))
        }
        // The hidden `false` comes first, the checkbox's `true` after it when ticked.
        T::Boolean | T::Bool => texts.last().map(|t| RawInput::Text(t.clone())),
        _ => {
            let text = texts.last()?.replace("\r\n", "\n");
            // A field left empty is an input not given, as in Kestra's form: its default
            // applies, and a required one without default is reported missing.
            if text.is_empty() {
                return None;
            }
            // A default shown in the field and sent back unchanged is left to the executor,
            // which renders templated defaults (`{{ now() }}`) itself.
            if spec.defaults.as_ref().is_some_and(|d| text_of(d) == text) {
                return None;
            }
            Some(RawInput::Text(match spec.input_type {
                // `datetime-local` sends `YYYY-MM-DDTHH:MM[:SS]`, read as UTC.
                T::Datetime if text.len() == 16 => format!("{text}:00Z"),
                T::Datetime if !text.is_empty() && !has_offset(&text) => format!("{text}Z"),
                _ => text,
            }))
        }
    }
}

/// Whether a date-time text ends with `Z` or a `±hh:mm` offset.
fn has_offset(text: &str) -> bool {
    text.ends_with('Z') || text.ends_with('z') || {
        let tail = text.len().saturating_sub(6);
        text.get(tail..)
            .is_some_and(|t| (t.starts_with('+') || t.starts_with('-')) && t.contains(':'))
    }
}

/// `labels` text: one `key:value` (or `key=value`) per line or comma.
fn parse_labels(text: &str) -> Result<IndexMap<String, String>, String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|pair| match pair.split_once([':', '=']) {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(format!("{pair:?} is not key:value")),
        })
        .collect()
}

/// Splits the executor's `input 'a': …; input 'b': …` into messages by input id.
fn errors_by_input(message: &str) -> (HashMap<String, String>, Option<String>) {
    let mut by_input = HashMap::new();
    let mut other = Vec::new();
    for part in message.split("; input '").enumerate().map(|(i, part)| {
        if i == 0 {
            part.to_owned()
        } else {
            format!("input '{part}")
        }
    }) {
        match part
            .strip_prefix("input '")
            .and_then(|rest| rest.split_once("': "))
        {
            Some((input, text)) => {
                by_input.insert(input.to_owned(), text.to_owned());
            }
            None => other.push(part),
        }
    }
    (by_input, (!other.is_empty()).then(|| other.join("; ")))
}

/// `POST /ui/flows/{namespace}/{id}/execute` (multipart, for file uploads).
pub async fn submit(
    State(state): State<ApiState>,
    Path((namespace, id)): Path<(String, String)>,
    form: Multipart,
) -> PageResult {
    let (record, specs) = flow_specs(&state, &namespace, &id).await?;
    // The id comes first: uploaded files are stored under it before the execution exists.
    let execution_id = Uuid::now_v7();
    let mut uploads = None;
    let read = read_form(&state, form, (&namespace, &id, execution_id), &mut uploads).await;
    let mut submitted = match read {
        Ok(submitted) => submitted,
        Err(error) => {
            crate::files::discard_uploads(&state, execution_id, uploads).await;
            return Err(error.into());
        }
    };
    let labels_text = submitted
        .texts
        .remove("labels")
        .and_then(|mut l| l.pop())
        .unwrap_or_default();
    let mut field_errors: HashMap<String, String> = HashMap::new();
    let mut inputs = IndexMap::new();
    for spec in &specs {
        match submitted.files.shift_remove(&spec.id) {
            Some(Ok(raw)) => {
                inputs.insert(spec.id.clone(), raw);
            }
            Some(Err(message)) => {
                field_errors.insert(spec.id.clone(), strip_input_prefix(&message, &spec.id));
            }
            None => {
                let texts = submitted
                    .texts
                    .get(&format!("{PREFIX}{}", spec.id))
                    .cloned()
                    .unwrap_or_default();
                if let Some(raw) = raw_input(spec, &texts) {
                    inputs.insert(spec.id.clone(), raw);
                }
            }
        }
    }
    let labels = parse_labels(&labels_text);
    let mut error = None;
    if field_errors.is_empty()
        && let Ok(labels) = &labels
    {
        let request = NewExecution {
            namespace: namespace.clone(),
            flow_id: id.clone(),
            revision: None,
            inputs,
            labels: labels.clone(),
            trigger: None,
        };
        match create_execution_with_id(&state.executor, execution_id, request).await {
            Ok(execution) => {
                let page = format!("/ui/executions/{}", execution.id);
                return Ok(Redirect::to(&page).into_response());
            }
            Err(ExecutorError::Inputs(message)) => {
                let (by_input, rest) = errors_by_input(&message);
                field_errors = by_input;
                error = rest;
            }
            Err(other) => {
                crate::files::discard_uploads(&state, execution_id, uploads).await;
                return Err(ApiError::from(other).into());
            }
        }
    }
    // Nothing was created: the files uploaded with this attempt go.
    crate::files::discard_uploads(&state, execution_id, uploads).await;
    // Shown again with what was typed; a file must be chosen again (browsers do not let a
    // page set a file field).
    let mut fields: Vec<Field> = Vec::new();
    for spec in &specs {
        let mut field = field(spec);
        if let Some(texts) = submitted.texts.get(&field.name) {
            match field.widget {
                "array" | "multiselect" => field.values = texts.clone(),
                "checkbox" => field.checked = texts.last().is_some_and(|t| t == "true"),
                _ => field.value = texts.last().cloned().unwrap_or_default(),
            }
            if field.widget == "array" && field.values.is_empty() {
                field.values.push(String::new());
            }
        }
        field.error = field_errors.remove(&spec.id);
        fields.push(field);
    }
    // Errors about inputs the flow does not declare.
    let unknown: Vec<String> = field_errors.into_values().collect();
    if !unknown.is_empty() {
        error = Some(
            error
                .into_iter()
                .chain(unknown)
                .collect::<Vec<_>>()
                .join("; "),
        );
    }
    html_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ExecutePage {
            nav: Nav::of(&state, "flows"),
            title: format!("Execute {namespace}.{id}"),
            flow: FlowHeader::of(&record, "execute"),
            fields,
            labels: labels_text,
            labels_error: labels.err(),
            error,
        },
    )
}

/// `input 'x': message` → `message`, for a message shown beside input x.
fn strip_input_prefix(message: &str, id: &str) -> String {
    message
        .strip_prefix(&format!("input '{id}': "))
        .unwrap_or(message)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_messages_are_split_by_input() {
        let (by_input, rest) = errors_by_input(
            "input 'n': \"x\" is not an integer; input 'when': missing; a value; input 'n2': bad",
        );
        assert_eq!(by_input["n"], "\"x\" is not an integer");
        assert_eq!(by_input["when"], "missing; a value");
        assert_eq!(by_input["n2"], "bad");
        assert_eq!(rest, None);
        let (by_input, rest) = errors_by_input("flow a.b is disabled");
        assert!(by_input.is_empty());
        assert_eq!(rest.as_deref(), Some("flow a.b is disabled"));
    }

    #[test]
    fn form_values_become_raw_inputs() {
        let array = InputSpec::new("xs", InputType::Array);
        assert_eq!(
            raw_input(&array, &["a".into(), " ".into(), "b".into()]),
            Some(RawInput::Json(serde_json::json!(["a", "b"])))
        );
        assert_eq!(raw_input(&array, &[String::new()]), None);
        let flag = InputSpec::new("flag", InputType::Boolean);
        assert_eq!(
            raw_input(&flag, &["false".into(), "true".into()]),
            Some(RawInput::Text("true".into()))
        );
        let when = InputSpec::new("when", InputType::Datetime);
        assert_eq!(
            raw_input(&when, &["2025-01-02T03:04".into()]),
            Some(RawInput::Text("2025-01-02T03:04:00Z".into()))
        );
        assert_eq!(
            raw_input(&when, &["2025-01-02T03:04:00+02:00".into()]),
            Some(RawInput::Text("2025-01-02T03:04:00+02:00".into()))
        );
        let mut templated = InputSpec::new("at", InputType::String);
        templated.defaults = Some(Value::String("{{ now() }}".into()));
        assert_eq!(raw_input(&templated, &["{{ now() }}".into()]), None);
    }

    #[test]
    fn labels_are_key_value_pairs() {
        let labels = parse_labels("team:data\nenv = prod, ").unwrap();
        assert_eq!(labels["team"], "data");
        assert_eq!(labels["env"], "prod");
        assert!(parse_labels("oops").is_err());
    }
}
