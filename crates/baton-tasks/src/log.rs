//! `log` (`io.kestra.plugin.core.log.Log`): writes its message (or each of its messages) to the
//! task's log at its level.

use baton_core::flow::props::LogProps;
use baton_core::flow::task::LogLevel;

use crate::{RunContext, TaskOutcome, render};

pub(crate) fn run(props: &LogProps, run: &RunContext) -> TaskOutcome {
    let props = match render::props(props, run) {
        Ok(props) => props,
        Err(error) => return TaskOutcome::failed(error),
    };
    let level = props.level.unwrap_or(LogLevel::Info);
    for message in props.message.to_vec() {
        run.logs.log(level, message);
    }
    TaskOutcome::success(serde_json::json!({}))
}
