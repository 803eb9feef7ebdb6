//! Static checks of one input declaration, run when a flow is deployed.

use serde_json::Value;

use super::RawInput;
use super::coerce::{
    coerce_value, compile_validator, parse_date, parse_datetime, parse_duration, parse_time,
};
use super::spec::{InputSpec, InputType};

/// A problem with a declaration, found at deploy time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// The field of the input the problem is about, as spelled in YAML (`defaults`, `values`).
    pub field: &'static str,
    pub message: String,
}

impl SpecProblem {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Kestra limits `displayName` to this many characters.
const MAX_DISPLAY_NAME: usize = 64;

/// Checks one declaration on its own. Duplicate ids and `dependsOn` references to other inputs
/// are the flow validator's business.
pub fn check_spec(spec: &InputSpec) -> Vec<SpecProblem> {
    let mut problems = Vec::new();
    check_id(&spec.id, &mut problems);
    if let Some(name) = &spec.display_name
        && name.chars().count() > MAX_DISPLAY_NAME
    {
        problems.push(SpecProblem::new(
            "displayName",
            format!("is longer than {MAX_DISPLAY_NAME} characters"),
        ));
    }
    let misplaced = check_fields_fit_type(spec, &mut problems);
    let fits = |field: &str| !misplaced.contains(&field);
    check_type_rules(spec, &fits, &mut problems);
    for (field, value) in [("defaults", &spec.defaults), ("prefill", &spec.prefill)] {
        if let Some(value) = value
            && !is_template(value)
            && let Err(message) = coerce_value(spec, &RawInput::Json(value.clone()))
        {
            problems.push(SpecProblem::new(field, message));
        }
    }
    problems
}

/// Kestra's id pattern `^[a-zA-Z0-9][.a-zA-Z0-9_-]*`, plus no empty part between dots, which would
/// make the nested value unreachable.
fn check_id(id: &str, problems: &mut Vec<SpecProblem>) {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !rest_ok {
        problems.push(SpecProblem::new(
            "id",
            format!(
                "'{id}' is not a valid input id (it must start with a letter or digit and hold only letters, digits, '.', '_' and '-')"
            ),
        ));
    } else if id.split('.').any(str::is_empty) {
        problems.push(SpecProblem::new(
            "id",
            format!("'{id}' has an empty part between dots"),
        ));
    }
}

/// Reports type-specific fields set on a type that does not take them; returns their names.
fn check_fields_fit_type(spec: &InputSpec, problems: &mut Vec<SpecProblem>) -> Vec<&'static str> {
    use InputType as T;
    let numbers_and_durations: &[InputType] = &[T::Int, T::Float, T::Duration];
    let times: &[InputType] = &[T::Date, T::Time, T::Datetime];
    let selects: &[InputType] = &[T::Select, T::Multiselect, T::Enum];
    let fields: [(&'static str, bool, &[InputType], &str); 14] = [
        (
            "validator",
            spec.validator.is_some(),
            &[T::String, T::Secret],
            "STRING and SECRET",
        ),
        (
            "min",
            spec.min.is_some(),
            numbers_and_durations,
            "INT, FLOAT and DURATION",
        ),
        (
            "max",
            spec.max.is_some(),
            numbers_and_durations,
            "INT, FLOAT and DURATION",
        ),
        (
            "after",
            spec.after.is_some(),
            times,
            "DATE, TIME and DATETIME",
        ),
        (
            "before",
            spec.before.is_some(),
            times,
            "DATE, TIME and DATETIME",
        ),
        (
            "values",
            spec.values.is_some(),
            selects,
            "SELECT and MULTISELECT",
        ),
        (
            "options",
            spec.options.is_some(),
            &[T::Multiselect],
            "MULTISELECT",
        ),
        (
            "expression",
            spec.expression.is_some(),
            &[T::Select, T::Multiselect],
            "SELECT and MULTISELECT",
        ),
        (
            "allowCustomValue",
            spec.allow_custom_value.is_some(),
            &[T::Select, T::Multiselect],
            "SELECT and MULTISELECT",
        ),
        ("isRadio", spec.is_radio.is_some(), &[T::Select], "SELECT"),
        (
            "autoSelectFirst",
            spec.auto_select_first.is_some(),
            &[T::Select, T::Multiselect],
            "SELECT and MULTISELECT",
        ),
        (
            "itemType",
            spec.item_type.is_some(),
            &[T::Array, T::Multiselect],
            "ARRAY and MULTISELECT",
        ),
        (
            "allowedFileExtensions",
            spec.allowed_file_extensions.is_some(),
            &[T::File],
            "FILE",
        ),
        ("extension", spec.extension.is_some(), &[T::File], "FILE"),
    ];
    let mut misplaced = Vec::new();
    for (field, present, types, label) in fields {
        if present && !types.contains(&spec.input_type) {
            problems.push(SpecProblem::new(
                field,
                format!("only {label} inputs take '{field}'"),
            ));
            misplaced.push(field);
        }
    }
    misplaced
}

fn check_type_rules(
    spec: &InputSpec,
    fits: &dyn Fn(&str) -> bool,
    problems: &mut Vec<SpecProblem>,
) {
    use InputType as T;
    if let Some(pattern) = &spec.validator
        && fits("validator")
        && let Err(e) = compile_validator(pattern)
    {
        problems.push(SpecProblem::new(
            "validator",
            format!("`{pattern}` is not a valid regular expression: {e}"),
        ));
    }
    match spec.input_type {
        T::Int | T::Float if fits("min") && fits("max") => check_number_bounds(spec, problems),
        T::Duration => check_ordered(
            ("min", "max"),
            (&spec.min, &spec.max),
            problems,
            |v| match v {
                Value::String(text) => parse_duration(text),
                other => Err(format!("{other} is not an ISO-8601 duration like PT5M")),
            },
        ),
        T::Date => check_after_before(spec, problems, parse_date),
        T::Time => check_after_before(spec, problems, parse_time),
        T::Datetime => check_after_before(spec, problems, parse_datetime),
        T::Select | T::Enum | T::Multiselect => check_choices(spec, problems),
        T::Array => match spec.item_type {
            None => problems.push(SpecProblem::new(
                "itemType",
                "an ARRAY input needs 'itemType' (e.g. STRING)",
            )),
            Some(item @ (T::Array | T::Multiselect)) => problems.push(SpecProblem::new(
                "itemType",
                format!("items cannot be of type {item}"),
            )),
            Some(_) => {}
        },
        _ => {}
    }
}

fn check_number_bounds(spec: &InputSpec, problems: &mut Vec<SpecProblem>) {
    let integer = spec.input_type == InputType::Int;
    check_ordered(
        ("min", "max"),
        (&spec.min, &spec.max),
        problems,
        |v| match v {
            Value::Number(n) if integer && n.as_i64().is_none() => {
                Err(format!("{n} is not an integer"))
            }
            Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
            other => Err(format!("{other} is not a number")),
        },
    );
}

fn check_after_before<V: PartialOrd>(
    spec: &InputSpec,
    problems: &mut Vec<SpecProblem>,
    parse: fn(&str) -> Result<V, String>,
) {
    let after = spec.after.clone().map(Value::String);
    let before = spec.before.clone().map(Value::String);
    check_ordered(
        ("after", "before"),
        (&after, &before),
        problems,
        |v| match v {
            Value::String(text) => parse(text),
            other => Err(format!("{other} is not a string")),
        },
    );
}

/// Parses a lower and an upper bound and checks that the lower one is not above the upper one.
fn check_ordered<V: PartialOrd>(
    (low_field, high_field): (&'static str, &'static str),
    (low, high): (&Option<Value>, &Option<Value>),
    problems: &mut Vec<SpecProblem>,
    parse: impl Fn(&Value) -> Result<V, String>,
) {
    let mut parsed = |field: &'static str, value: &Option<Value>| {
        let value = value.as_ref()?;
        parse(value)
            .map_err(|e| problems.push(SpecProblem::new(field, e)))
            .ok()
    };
    let low_value = parsed(low_field, low);
    let high_value = parsed(high_field, high);
    if let (Some(l), Some(h)) = (low_value, high_value)
        && l > h
    {
        let show = |v: &Option<Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        problems.push(SpecProblem::new(
            low_field,
            format!(
                "{low_field} {} is greater than {high_field} {}",
                show(low),
                show(high)
            ),
        ));
    }
}

fn check_choices(spec: &InputSpec, problems: &mut Vec<SpecProblem>) {
    let is_enum = spec.input_type == InputType::Enum;
    if spec.values.is_some() && spec.options.is_some() {
        problems.push(SpecProblem::new(
            "options",
            "'options' is the deprecated name of 'values'; give only 'values'",
        ));
    }
    match spec.choices() {
        None if is_enum => {
            problems.push(SpecProblem::new("values", "an ENUM input needs 'values'"))
        }
        None if spec.expression.is_none() => problems.push(SpecProblem::new(
            "values",
            format!("a {} input needs 'values' or 'expression'", spec.input_type),
        )),
        Some([]) if !spec.allows_custom_value() && spec.expression.is_none() => problems.push(
            SpecProblem::new("values", "is empty, so no value could ever be accepted"),
        ),
        _ => {}
    }
    if spec.input_type == InputType::Multiselect
        && let Some(item @ (InputType::Array | InputType::Multiselect)) = spec.item_type
    {
        problems.push(SpecProblem::new(
            "itemType",
            format!("items cannot be of type {item}"),
        ));
    }
}

/// A default such as `"{{ now() }}"` is rendered when the execution starts, and checked then.
pub(crate) fn is_template(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{") || text.contains("{%"),
        Value::Array(items) => items.iter().any(is_template),
        _ => false,
    }
}
