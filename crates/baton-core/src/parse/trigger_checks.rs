//! Checks on triggers beyond their shape: conditions that Baton can evaluate, known state
//! names, preconditions it supports, a usable webhook key, and the Schedule properties the
//! scheduler does not apply (refused, so a flow never fires when its author said it must not).

use super::task::Reader;
use crate::flow::TriggerProps;
use crate::flow::condition::{Condition, Preconditions, TimeWindowType, check_states};
use crate::yaml::Node;

/// Kestra's limit on a webhook key (it is part of a URL).
const MAX_WEBHOOK_KEY: usize = 256;

impl Reader<'_> {
    pub(super) fn check_event_trigger(&self, node: &Node, props: &TriggerProps) {
        match props {
            TriggerProps::Schedule(_) => {
                self.check_schedule_extras(node);
                return;
            }
            TriggerProps::Flow(flow) => {
                if let (Some(states), Some(at)) = (&flow.states, node.get("states"))
                    && let Err(message) = check_states(states)
                {
                    self.error(at, format!("'states': {message}"));
                }
                let has_conditions = node
                    .get("conditions")
                    .and_then(Node::as_sequence)
                    .is_some_and(|items| !items.is_empty());
                if !has_conditions && flow.preconditions.is_none() {
                    self.error(
                        node,
                        "a Flow trigger needs 'conditions' or 'preconditions' (as in Kestra since 0.22; \
                         an always-true condition is `type: io.kestra.plugin.core.condition.Expression` \
                         with `expression: \"true\"`)",
                    );
                }
                if let (Some(preconditions), Some(at)) =
                    (&flow.preconditions, node.get("preconditions"))
                {
                    self.check_preconditions(at, preconditions);
                }
            }
            TriggerProps::Webhook(webhook) => {
                let at = node.get("key").unwrap_or(node);
                if webhook.key.trim().is_empty() {
                    self.error(at, "'key': a webhook key must not be empty");
                } else if webhook.key.len() > MAX_WEBHOOK_KEY {
                    self.error(
                        at,
                        format!("'key': a webhook key is at most {MAX_WEBHOOK_KEY} characters"),
                    );
                }
            }
        }
        if let Some(at) = node.get("stopAfter") {
            self.error(
                at,
                "'stopAfter' on Flow and Webhook triggers is not supported by Baton yet",
            );
        }
        if let Some(items) = node.get("conditions").and_then(Node::as_sequence) {
            for item in items {
                if let Err(message) = Condition::from_json(&item.to_json()) {
                    self.error(
                        item.get("type").unwrap_or(item),
                        format!("'conditions': {message}"),
                    );
                }
            }
        }
    }

    /// A Schedule's `conditions` (and the deprecated `scheduleConditions`) would hold back
    /// dates; the scheduler does not evaluate them, so they are refused rather than ignored.
    /// The deprecated `backfill` property is the API's and CLI's backfill now.
    fn check_schedule_extras(&self, node: &Node) {
        for name in ["conditions", "scheduleConditions"] {
            if let Some(at) = node
                .get(name)
                .filter(|at| at.as_sequence().is_none_or(|items| !items.is_empty()))
            {
                self.error(
                    at,
                    format!("'{name}' on Schedule triggers are not supported by Baton yet"),
                );
            }
        }
        if let Some(at) = node.get("backfill") {
            self.error(
                at,
                "'backfill' on a Schedule trigger is not supported by Baton (deprecated in Kestra): \
                 start one with `baton backfill start` or `PUT /api/v1/triggers`",
            );
        }
    }

    fn check_preconditions(&self, node: &Node, preconditions: &Preconditions) {
        if preconditions.condition_count() == 0 {
            self.error(
                node,
                "'preconditions' need at least one upstream flow in 'flows' or a filter in 'where'",
            );
        }
        for (index, upstream) in preconditions.flows.iter().enumerate() {
            if let Some(states) = &upstream.states
                && let Err(message) = check_states(states)
            {
                let at = node
                    .get("flows")
                    .and_then(Node::as_sequence)
                    .and_then(|items| items.get(index))
                    .unwrap_or(node);
                self.error(at, format!("'preconditions.flows': {message}"));
            }
        }
        let mut groups = std::collections::HashSet::new();
        for (index, group) in preconditions.filters.iter().enumerate() {
            if !groups.insert(group.id.as_str()) {
                self.error(
                    node.get("where")
                        .and_then(Node::as_sequence)
                        .and_then(|items| items.get(index))
                        .unwrap_or(node),
                    format!("'preconditions.where': duplicate filter id '{}'", group.id),
                );
            }
            for filter in &group.filters {
                let problem = match filter.filter_type.needs_values() {
                    Some(true) if filter.values.is_none() => Some("needs 'values'"),
                    Some(false) if filter.value.is_none() => Some("needs 'value'"),
                    _ => None,
                };
                if let Some(problem) = problem {
                    self.error(
                        node.get("where").unwrap_or(node),
                        format!(
                            "'preconditions.where' filter '{}': type {} {problem}",
                            group.id,
                            serde_json::to_value(filter.filter_type)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_default()
                        ),
                    );
                }
            }
        }
        if let Some(window) = &preconditions.time_window {
            let at = node.get("timeWindow").unwrap_or(node);
            match window.window_type {
                TimeWindowType::DailyTimeDeadline if window.deadline.is_none() => {
                    self.error(at, "'timeWindow': DAILY_TIME_DEADLINE needs a 'deadline'");
                }
                TimeWindowType::DailyTimeWindow
                    if window.start_time.is_none() || window.end_time.is_none() =>
                {
                    self.error(
                        at,
                        "'timeWindow': DAILY_TIME_WINDOW needs a 'startTime' and an 'endTime'",
                    );
                }
                _ => {}
            }
        }
    }
}
