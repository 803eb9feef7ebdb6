//! Conditions of Flow and Webhook triggers (`conditions:`) and the Flow trigger's
//! `preconditions:`, typed from what the flow file says.
//!
//! `TriggerCommon::conditions` keeps each condition as written (JSON), because Schedule
//! triggers take other condition types; [`Condition::from_json`] reads one for the triggers
//! that evaluate them against an execution. The parser calls it too, so a bad condition is
//! reported when the flow is read, not when the trigger fires.

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

type Json = serde_json::Value;

/// One condition, as Kestra 1.x (and its pre-0.17 `…Condition` type names) writes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// The execution is of this flow.
    ExecutionFlow { namespace: String, flow_id: String },
    /// The execution's namespace equals, starts with or ends with `namespace`.
    ExecutionNamespace {
        namespace: String,
        comparison: NamespaceComparison,
    },
    /// The execution's state is in `in_states` (when given) and not in `not_in`.
    ExecutionStatus {
        in_states: Option<Vec<String>>,
        not_in: Option<Vec<String>>,
    },
    /// The execution carries every one of these labels.
    ExecutionLabels { labels: Vec<(String, String)> },
    /// A template over `trigger.outputs` (the execution's flow outputs); false without outputs.
    ExecutionOutputs { expression: String },
    /// A template; false when it renders empty or `false`.
    Expression { expression: String },
    /// The flow that owns the trigger is this one.
    Flow { namespace: String, flow_id: String },
    /// The flow that owns the trigger is in this namespace (or under it with `prefix`).
    FlowNamespace { namespace: String, prefix: bool },
    /// None of these holds.
    Not(Vec<Condition>),
    /// At least one of these holds.
    Or(Vec<Condition>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NamespaceComparison {
    Equals,
    Prefix,
    Suffix,
}

/// The condition types read here, each with every Kestra name it answers to.
const TYPES: &[(&str, &[&str])] = &[
    (
        "ExecutionFlow",
        &[
            "io.kestra.plugin.core.condition.ExecutionFlow",
            "io.kestra.plugin.core.condition.ExecutionFlowCondition",
            "io.kestra.core.models.conditions.types.ExecutionFlowCondition",
        ],
    ),
    (
        "ExecutionNamespace",
        &[
            "io.kestra.plugin.core.condition.ExecutionNamespace",
            "io.kestra.plugin.core.condition.ExecutionNamespaceCondition",
            "io.kestra.core.models.conditions.types.ExecutionNamespaceCondition",
        ],
    ),
    (
        "ExecutionStatus",
        &[
            "io.kestra.plugin.core.condition.ExecutionStatus",
            "io.kestra.plugin.core.condition.ExecutionStatusCondition",
            "io.kestra.core.models.conditions.types.ExecutionStatusCondition",
        ],
    ),
    (
        "ExecutionLabels",
        &[
            "io.kestra.plugin.core.condition.ExecutionLabels",
            "io.kestra.plugin.core.condition.ExecutionLabelsCondition",
            "io.kestra.core.models.conditions.types.ExecutionLabelsCondition",
        ],
    ),
    (
        "ExecutionOutputs",
        &[
            "io.kestra.plugin.core.condition.ExecutionOutputs",
            "io.kestra.plugin.core.condition.ExecutionOutputsCondition",
            "io.kestra.core.models.conditions.types.ExecutionOutputsCondition",
        ],
    ),
    (
        "Expression",
        &[
            "io.kestra.plugin.core.condition.Expression",
            "io.kestra.plugin.core.condition.ExpressionCondition",
            "io.kestra.core.models.conditions.types.VariableCondition",
        ],
    ),
    (
        "Flow",
        &[
            "io.kestra.plugin.core.condition.FlowCondition",
            "io.kestra.core.models.conditions.types.FlowCondition",
        ],
    ),
    (
        "FlowNamespace",
        &[
            "io.kestra.plugin.core.condition.FlowNamespaceCondition",
            "io.kestra.core.models.conditions.types.FlowNamespaceCondition",
        ],
    ),
    (
        "Not",
        &[
            "io.kestra.plugin.core.condition.Not",
            "io.kestra.plugin.core.condition.NotCondition",
            "io.kestra.core.models.conditions.types.NotCondition",
        ],
    ),
    (
        "Or",
        &[
            "io.kestra.plugin.core.condition.Or",
            "io.kestra.plugin.core.condition.OrCondition",
            "io.kestra.core.models.conditions.types.OrCondition",
        ],
    ),
];

/// Kestra condition types Baton reads but cannot evaluate on Flow and Webhook triggers yet.
const NOT_YET: &[&str] = &[
    "MultipleCondition",
    "DateTimeBetween",
    "DayWeek",
    "DayWeekInMonth",
    "HasRetryAttempt",
    "PublicHoliday",
    "TimeBetween",
    "Weekend",
];

/// Kestra 1.x execution states: Baton's, plus two that Baton never reaches (it has no
/// `RETRIED` executions nor a separate `RESTARTED` state), accepted so Kestra flows read.
pub const KESTRA_STATES: &[&str] = &[
    "CREATED",
    "QUEUED",
    "RUNNING",
    "PAUSED",
    "RETRYING",
    "KILLING",
    "SUCCESS",
    "WARNING",
    "FAILED",
    "KILLED",
    "CANCELLED",
    "SKIPPED",
    "RESTARTED",
    "RETRIED",
];

/// Checks a list of state names; the message names the first unknown one.
pub fn check_states(states: &[String]) -> Result<(), String> {
    match states.iter().find(|s| !KESTRA_STATES.contains(&s.as_str())) {
        None => Ok(()),
        Some(bad) => Err(format!(
            "unknown state '{bad}' (expected one of {})",
            KESTRA_STATES.join(", ")
        )),
    }
}

impl Condition {
    /// Reads one condition mapping; the error names its type and the property at fault.
    pub fn from_json(value: &Json) -> Result<Condition, String> {
        let Some(object) = value.as_object() else {
            return Err("a condition must be a mapping with a type".to_owned());
        };
        let Some(type_name) = object.get("type").and_then(Json::as_str) else {
            return Err("a condition needs a 'type'".to_owned());
        };
        let Some(kind) = TYPES
            .iter()
            .find(|(_, names)| names.contains(&type_name))
            .map(|(kind, _)| *kind)
        else {
            let short = type_name.rsplit('.').next().unwrap_or(type_name);
            let short = short.strip_suffix("Condition").unwrap_or(short);
            return Err(if NOT_YET.contains(&short) {
                format!(
                    "condition type '{type_name}' is not supported on Flow and Webhook triggers by Baton yet"
                )
            } else {
                format!("unknown condition type '{type_name}'")
            });
        };
        let mut props = object.clone();
        props.remove("type");
        let props = Json::Object(props);
        let read = |problem: String| format!("condition {type_name}: {problem}");
        Ok(match kind {
            "ExecutionFlow" => {
                let p: FlowRef = props_of(props).map_err(read)?;
                Condition::ExecutionFlow {
                    namespace: p.namespace,
                    flow_id: p.flow_id,
                }
            }
            "Flow" => {
                let p: FlowRef = props_of(props).map_err(read)?;
                Condition::Flow {
                    namespace: p.namespace,
                    flow_id: p.flow_id,
                }
            }
            "ExecutionNamespace" => {
                let p: NamespaceProps = props_of(props).map_err(read)?;
                let comparison = p.comparison.unwrap_or(if p.prefix {
                    NamespaceComparison::Prefix
                } else {
                    NamespaceComparison::Equals
                });
                Condition::ExecutionNamespace {
                    namespace: p.namespace,
                    comparison,
                }
            }
            "FlowNamespace" => {
                let p: FlowNamespaceProps = props_of(props).map_err(read)?;
                Condition::FlowNamespace {
                    namespace: p.namespace,
                    prefix: p.prefix,
                }
            }
            "ExecutionStatus" => {
                let p: StatusProps = props_of(props).map_err(read)?;
                for states in [&p.in_states, &p.not_in].into_iter().flatten() {
                    check_states(states).map_err(read)?;
                }
                Condition::ExecutionStatus {
                    in_states: p.in_states,
                    not_in: p.not_in,
                }
            }
            "ExecutionLabels" => {
                let p: LabelsProps = props_of(props).map_err(read)?;
                Condition::ExecutionLabels {
                    labels: labels_of(&p.labels).map_err(read)?,
                }
            }
            "ExecutionOutputs" | "Expression" => {
                let p: ExpressionProps = props_of(props).map_err(read)?;
                if kind == "Expression" {
                    Condition::Expression {
                        expression: p.expression,
                    }
                } else {
                    Condition::ExecutionOutputs {
                        expression: p.expression,
                    }
                }
            }
            _ => {
                let p: NestedProps = props_of(props).map_err(read)?;
                if p.conditions.is_empty() {
                    return Err(read("'conditions' must hold at least one condition".into()));
                }
                let nested = p
                    .conditions
                    .iter()
                    .map(Condition::from_json)
                    .collect::<Result<Vec<_>, _>>()?;
                if kind == "Not" {
                    Condition::Not(nested)
                } else {
                    Condition::Or(nested)
                }
            }
        })
    }
}

fn props_of<T: DeserializeOwned>(props: Json) -> Result<T, String> {
    serde_json::from_value(props).map_err(|e| e.to_string())
}

/// Labels written as a map or as Kestra's `[{key, value}]` list; values as text.
pub fn labels_of(value: &Json) -> Result<Vec<(String, String)>, String> {
    let text = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match value {
        Json::Object(map) => Ok(map.iter().map(|(k, v)| (k.clone(), text(v))).collect()),
        Json::Array(items) => items
            .iter()
            .map(|item| match (item.get("key"), item.get("value")) {
                (Some(Json::String(key)), Some(value)) => Ok((key.clone(), text(value))),
                _ => Err("'labels': each item needs a 'key' and a 'value'".to_owned()),
            })
            .collect(),
        _ => Err("'labels' must be a map or a list of {key, value}".to_owned()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlowRef {
    namespace: String,
    flow_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NamespaceProps {
    namespace: String,
    comparison: Option<NamespaceComparison>,
    #[serde(default)]
    prefix: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlowNamespaceProps {
    namespace: String,
    #[serde(default)]
    prefix: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StatusProps {
    #[serde(rename = "in")]
    in_states: Option<Vec<String>>,
    not_in: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsProps {
    labels: Json,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpressionProps {
    expression: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NestedProps {
    conditions: Vec<Json>,
}

/// The Flow trigger's `preconditions` (Kestra 1.x): upstream flows and execution filters, all
/// of which must hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Preconditions {
    pub id: String,
    #[serde(default)]
    pub flows: Vec<UpstreamFlow>,
    #[serde(default, rename = "where")]
    pub filters: Vec<ExecutionFilter>,
    pub time_window: Option<TimeWindow>,
    /// After firing, the conditions must hold again before the next fire (Kestra's default).
    pub reset_on_success: Option<bool>,
}

impl Preconditions {
    /// How many separate conditions the preconditions hold: each upstream flow and each
    /// filter group is one, tracked on its own within the time window.
    pub fn condition_count(&self) -> usize {
        self.flows.len() + self.filters.len()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamFlow {
    pub namespace: String,
    pub flow_id: Option<String>,
    pub states: Option<Vec<String>>,
    pub labels: Option<IndexMap<String, Json>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionFilter {
    pub id: String,
    #[serde(default)]
    pub operand: Operand,
    pub filters: Vec<Filter>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operand {
    #[default]
    And,
    Or,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    pub field: FilterField,
    #[serde(rename = "type")]
    pub filter_type: FilterType,
    pub value: Option<String>,
    pub values: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterField {
    FlowId,
    Namespace,
    State,
    Expression,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterType {
    EqualTo,
    NotEqualTo,
    In,
    NotIn,
    IsTrue,
    IsFalse,
    IsNull,
    IsNotNull,
    StartsWith,
    EndsWith,
    Regex,
    Contains,
}

impl FilterType {
    /// `Some(true)` when the type compares with `values`, `Some(false)` with `value`, `None`
    /// when it needs neither.
    pub fn needs_values(self) -> Option<bool> {
        match self {
            FilterType::In | FilterType::NotIn => Some(true),
            FilterType::IsTrue
            | FilterType::IsFalse
            | FilterType::IsNull
            | FilterType::IsNotNull => None,
            _ => Some(false),
        }
    }
}

/// When the preconditions are evaluated (Kestra's `timeWindow`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeWindow {
    #[serde(default, rename = "type")]
    pub window_type: TimeWindowType,
    /// `DAILY_TIME_DEADLINE`: the time of day (UTC) after which nothing fires that day.
    pub deadline: Option<chrono::NaiveTime>,
    pub window: Option<crate::duration::IsoDuration>,
    pub window_advance: Option<crate::duration::IsoDuration>,
    /// `DAILY_TIME_WINDOW`: the time of day (UTC) the window opens and closes.
    pub start_time: Option<chrono::NaiveTime>,
    pub end_time: Option<chrono::NaiveTime>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeWindowType {
    #[default]
    DurationWindow,
    SlidingWindow,
    DailyTimeDeadline,
    DailyTimeWindow,
}
