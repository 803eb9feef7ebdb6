//! Tasks whose whole job is to produce outputs: `return` (`outputs.value`) and `output_values`
//! (`outputs.values`).

use baton_core::flow::props::{OutputValuesProps, ReturnProps};

use crate::{RunContext, TaskOutcome, render};

pub(crate) fn run_return(props: &ReturnProps, run: &RunContext) -> TaskOutcome {
    match render::props(props, run) {
        Ok(props) => TaskOutcome::success(serde_json::json!({ "value": props.format })),
        Err(error) => TaskOutcome::failed(error),
    }
}

pub(crate) fn run_output_values(props: &OutputValuesProps, run: &RunContext) -> TaskOutcome {
    match render::props(props, run) {
        Ok(props) => TaskOutcome::success(serde_json::json!({ "values": props.values })),
        Err(error) => TaskOutcome::failed(error),
    }
}
