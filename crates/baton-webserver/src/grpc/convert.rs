//! Baton's values as `baton.v1` messages, and the request values back.

use baton_core::diagnostic::{Diagnostic, Severity};
use baton_core::execution::{Execution, State};
use baton_proto::v1 as pb;
use baton_store::{FlowRecord, LogLevel, LogRecord};
use chrono::{DateTime, Utc};
use tonic::Status;

pub(crate) fn timestamp(at: DateTime<Utc>) -> baton_proto::Timestamp {
    baton_proto::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A request's timestamp; `field` names it in the error.
pub(crate) fn date_time(at: &baton_proto::Timestamp, field: &str) -> Result<DateTime<Utc>, Status> {
    u32::try_from(at.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(at.seconds, nanos))
        .ok_or_else(|| Status::invalid_argument(format!("{field}: not a valid timestamp")))
}

pub(crate) fn state(state: State) -> pb::State {
    match state {
        State::Created => pb::State::Created,
        State::Queued => pb::State::Queued,
        State::Running => pb::State::Running,
        State::Paused => pb::State::Paused,
        State::Retrying => pb::State::Retrying,
        State::Killing => pb::State::Killing,
        State::Success => pb::State::Success,
        State::Warning => pb::State::Warning,
        State::Failed => pb::State::Failed,
        State::Killed => pb::State::Killed,
        State::Cancelled => pb::State::Cancelled,
        State::Skipped => pb::State::Skipped,
    }
}

/// A state of a request; unspecified and unknown numbers are refused, naming `field`.
pub(crate) fn state_from(value: i32, field: &str) -> Result<State, Status> {
    let known = pb::State::try_from(value).ok();
    known
        .and_then(|known| State::ALL.into_iter().find(|s| state(*s) == known))
        .ok_or_else(|| Status::invalid_argument(format!("{field}: {value} is not a state")))
}

pub(crate) fn log_level(level: LogLevel) -> pb::LogLevel {
    match level {
        LogLevel::Error => pb::LogLevel::Error,
        LogLevel::Warn => pb::LogLevel::Warn,
        LogLevel::Info => pb::LogLevel::Info,
        LogLevel::Debug => pb::LogLevel::Debug,
        LogLevel::Trace => pb::LogLevel::Trace,
    }
}

/// The least severe level a reader asked for; unspecified means every line.
pub(crate) fn min_level(value: i32) -> Result<LogLevel, Status> {
    Ok(match pb::LogLevel::try_from(value) {
        Ok(pb::LogLevel::Unspecified | pb::LogLevel::Trace) => LogLevel::Trace,
        Ok(pb::LogLevel::Debug) => LogLevel::Debug,
        Ok(pb::LogLevel::Info) => LogLevel::Info,
        Ok(pb::LogLevel::Warn) => LogLevel::Warn,
        Ok(pb::LogLevel::Error) => LogLevel::Error,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "min_level: {value} is not a log level"
            )));
        }
    })
}

pub(crate) fn diagnostic(diagnostic: &Diagnostic) -> pb::Diagnostic {
    let severity = match diagnostic.severity {
        Severity::Error => pb::Severity::Error,
        Severity::Warning => pb::Severity::Warning,
    };
    pb::Diagnostic {
        line: diagnostic.position.line,
        column: diagnostic.position.column,
        message: diagnostic.message.clone(),
        severity: severity.into(),
    }
}

pub(crate) fn flow(record: FlowRecord) -> pb::Flow {
    pb::Flow {
        namespace: record.namespace,
        id: record.id,
        revision: record.revision,
        source: record.source,
        disabled: record.disabled,
        deleted: record.deleted,
        created: Some(timestamp(record.created_at)),
    }
}

fn history(changes: &[baton_core::execution::StateChange]) -> Vec<pb::StateChange> {
    changes
        .iter()
        .map(|change| pb::StateChange {
            state: state(change.state).into(),
            at: Some(timestamp(change.at)),
        })
        .collect()
}

fn json_text(value: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(value.clone()).to_string()
}

pub(crate) fn execution(execution: &Execution) -> pb::Execution {
    let task_runs = execution
        .task_runs
        .iter()
        .map(|run| pb::TaskRun {
            id: run.id.clone(),
            task_id: run.task_id.clone(),
            parent_id: run.parent_id.clone(),
            branch: run.branch.clone(),
            value: run.value.clone(),
            iteration: run.iteration,
            state: state(run.state).into(),
            history: history(&run.history),
            attempts: run
                .attempts
                .iter()
                .map(|attempt| pb::Attempt {
                    state: state(attempt.state).into(),
                    created: Some(timestamp(attempt.created_at)),
                    started: attempt.started_at.map(timestamp),
                    ended: attempt.ended_at.map(timestamp),
                    worker_id: attempt.worker_id.clone(),
                })
                .collect(),
            outputs_json: json_text(&run.outputs),
            error: run.error.clone(),
        })
        .collect();
    pb::Execution {
        id: execution.id.clone(),
        namespace: execution.namespace.clone(),
        flow_id: execution.flow_id.clone(),
        flow_revision: execution.flow_revision,
        state: state(execution.state).into(),
        history: history(&execution.history),
        inputs_json: json_text(&execution.inputs),
        labels: labels(execution.labels.iter()),
        trigger_json: execution.trigger.as_ref().map(ToString::to_string),
        task_runs,
        outputs_json: json_text(&execution.outputs),
        created: Some(timestamp(execution.created_at)),
        ended: execution.ended_at.map(timestamp),
        original_id: execution.original_id.clone(),
        error: execution.error.clone(),
    }
}

/// A stored execution document as a message. The document is the engine's own, so one that
/// does not read back is a server fault.
pub(crate) fn execution_row(row: &baton_store::Execution) -> Result<pb::Execution, Status> {
    let document: Execution = serde_json::from_value(row.document.clone()).map_err(|error| {
        tracing::error!(execution_id = %row.id, %error, "unreadable execution document");
        Status::internal(format!("execution {} cannot be read: {error}", row.id))
    })?;
    Ok(execution(&document))
}

pub(crate) fn labels<'a>(labels: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<pb::Label> {
    labels
        .map(|(key, value)| pb::Label {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

pub(crate) fn log_line(record: &LogRecord, task_id: Option<String>) -> pb::ExecutionLog {
    let entry = &record.entry;
    pb::ExecutionLog {
        execution_id: entry.execution_id.to_string(),
        task_run_id: entry.task_run_id.clone(),
        task_id,
        attempt: u32::try_from(entry.attempt).unwrap_or(0),
        level: log_level(entry.level).into(),
        timestamp: Some(timestamp(entry.timestamp)),
        message: entry.message.clone(),
    }
}
