//! `sleep` (`io.kestra.plugin.core.flow.Sleep`): waits `duration`; a kill ends it at once.

use baton_core::flow::Property;
use baton_core::flow::props::SleepProps;
use tokio_util::sync::CancellationToken;

use crate::{RunContext, TaskOutcome, render};

pub(crate) async fn run(
    props: &SleepProps,
    run: &RunContext,
    cancel: &CancellationToken,
) -> TaskOutcome {
    let props = match render::props(props, run) {
        Ok(props) => props,
        Err(error) => return TaskOutcome::failed(error),
    };
    let duration = match props.duration {
        Property::Value(duration) => duration,
        Property::Expression(text) => {
            return TaskOutcome::failed(format!("duration: '{text}' is not a duration"));
        }
    };
    let Some(wait) = duration.to_std() else {
        return TaskOutcome::failed(format!("duration: {duration} is negative"));
    };
    tokio::select! {
        () = tokio::time::sleep(wait) => TaskOutcome::success(serde_json::json!({})),
        () = cancel.cancelled() => TaskOutcome::killed(),
    }
}
