//! `fail` (`io.kestra.plugin.core.execution.Fail`): fails with `errorMessage`, always or when
//! `condition` renders truthy.

use baton_core::flow::props::FailProps;

use crate::{RunContext, TaskOutcome, render};

pub(crate) fn run(props: &FailProps, run: &RunContext) -> TaskOutcome {
    let props = match render::props(props, run) {
        Ok(props) => props,
        Err(error) => return TaskOutcome::failed(error),
    };
    match props.condition.as_deref() {
        Some(condition) if !truthy(condition) => TaskOutcome::success(serde_json::json!({})),
        _ => TaskOutcome::failed(props.error_message),
    }
}

/// Kestra's truthiness of a rendered condition: empty, `false`, `0`, `-0` and `null` are false.
fn truthy(text: &str) -> bool {
    let text = text.trim();
    !(text.is_empty()
        || text.eq_ignore_ascii_case("false")
        || text == "0"
        || text == "-0"
        || text.eq_ignore_ascii_case("null"))
}

#[cfg(test)]
mod tests {
    use super::truthy;

    #[test]
    fn truthiness_follows_kestra() {
        for falsy in ["", " ", "false", "FALSE", "0", "-0", "null"] {
            assert!(!truthy(falsy), "{falsy:?}");
        }
        for yes in ["true", "1", "yes", "x"] {
            assert!(truthy(yes), "{yes:?}");
        }
    }
}
