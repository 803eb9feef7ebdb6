//! Renders a task's typed properties: serialize to JSON, render every string, read back.

use std::time::Duration;

use baton_core::duration::IsoDuration;
use baton_core::flow::{Property, Task};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::RunContext;

/// Renders every template inside `props` against the run's context. A template error names the
/// property that held it (`property 'commands[1]': …`).
pub(crate) fn props<T: Serialize + DeserializeOwned>(
    props: &T,
    run: &RunContext,
) -> Result<T, String> {
    props_with(props, run, &run.context)
}

/// Like [`props`] with another context (script tasks add `workingDir`).
pub(crate) fn props_with<T: Serialize + DeserializeOwned>(
    props: &T,
    run: &RunContext,
    context: &serde_json::Value,
) -> Result<T, String> {
    let raw = serde_json::to_value(props).map_err(|e| format!("cannot read properties: {e}"))?;
    let rendered = run
        .engine
        .render_value(&raw, context, run.host.as_ref())
        .map_err(|e| format!("cannot render {e}"))?;
    serde_json::from_value(rendered).map_err(|e| format!("invalid rendered properties: {e}"))
}

/// The task's `timeout`, rendered, with the text to report when it is reached.
pub(crate) fn timeout(task: &Task, run: &RunContext) -> Result<Option<(Duration, String)>, String> {
    let Some(timeout) = &task.common.timeout else {
        return Ok(None);
    };
    let duration: IsoDuration = match props(timeout, run).map_err(|e| format!("timeout: {e}"))? {
        Property::Value(duration) => duration,
        Property::Expression(text) => {
            return Err(format!("timeout: '{text}' is not a duration"));
        }
    };
    let limit = duration
        .to_std()
        .ok_or_else(|| format!("timeout: {duration} is not a positive duration"))?;
    Ok(Some((limit, duration.to_string())))
}
