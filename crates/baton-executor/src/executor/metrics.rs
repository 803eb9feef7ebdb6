//! What the executor reports to the process's metrics recorder (`metrics` facade; the binary
//! installs a Prometheus recorder and serves `/metrics`, and without one these are no-ops), and
//! the root span of each ended execution (exported only when the binary set up tracing).
//! Names and labels are documented in `docs/operations.md`.

use std::collections::HashMap;

use baton_core::execution::{Execution, State};

/// The states of an execution and its task runs before a step, to see what the step changed.
pub struct Before {
    execution: State,
    /// Task run id → (state, attempts, whether the last attempt had started).
    task_runs: HashMap<String, (State, usize, bool)>,
}

impl Before {
    pub fn of(execution: &Execution) -> Self {
        Before {
            execution: execution.state,
            task_runs: execution
                .task_runs
                .iter()
                .map(|run| {
                    let started = run.attempts.last().is_some_and(|a| a.started_at.is_some());
                    (run.id.clone(), (run.state, run.attempts.len(), started))
                })
                .collect(),
        }
    }

    /// Counts executions and task runs that reached an end state in this step, and observes
    /// the dispatch latency (attempt created → started on a worker) of attempts that started.
    pub fn record(&self, after: &Execution) {
        if after.state != self.execution && after.state.is_terminal() {
            metrics::counter!("baton_executions_ended_total", "state" => after.state.as_str())
                .increment(1);
            baton_proto::trace::record_execution_span(&baton_proto::trace::ExecutionSpan {
                execution_id: &after.id,
                namespace: &after.namespace,
                flow_id: &after.flow_id,
                state: after.state.as_str(),
                started: after.created_at.into(),
                ended: after.ended_at.unwrap_or_else(chrono::Utc::now).into(),
            });
        }
        for run in &after.task_runs {
            let (state, attempts, started) =
                self.task_runs
                    .get(&run.id)
                    .copied()
                    .unwrap_or((State::Created, 0, false));
            if run.state != state && run.state.is_terminal() {
                metrics::counter!("baton_task_runs_ended_total", "state" => run.state.as_str())
                    .increment(1);
            }
            let Some(last) = run.attempts.last() else {
                continue;
            };
            let newly_started = run.attempts.len() != attempts || !started;
            // Only attempts a worker ran were dispatched; the executor's own tasks (Fail, Log
            // on the executor) start where they are created.
            if newly_started
                && last.worker_id.is_some()
                && let Some(started_at) = last.started_at
                && let Ok(latency) = (started_at - last.created_at).to_std()
            {
                metrics::histogram!("baton_dispatch_latency_seconds").record(latency.as_secs_f64());
            }
        }
    }
}
