//! What must hold in Baton's own tables once every execution ended, read with psql in the
//! stack's Postgres: the execution documents' task runs and attempts, and the log rows.

use std::collections::BTreeMap;

use baton_tests::compose::ComposeStack;

/// Only the executions this test made (not those a Schedule of `nightly_report` may fire).
const OURS: &str = "e.namespace IN ('tests.chaos', 'examples') AND e.flow_id <> 'nightly_report'";

/// `execution id -> task id -> number of task runs`, from the execution documents.
pub fn task_run_counts(
    stack: &ComposeStack,
) -> anyhow::Result<BTreeMap<String, BTreeMap<String, usize>>> {
    let rows = stack.psql(&format!(
        "SELECT e.id, tr->>'taskId', count(*) FROM executions e \
         CROSS JOIN LATERAL jsonb_array_elements(e.document->'taskRuns') tr \
         WHERE {OURS} GROUP BY 1, 2"
    ))?;
    let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for row in rows {
        counts
            .entry(row[0].clone())
            .or_default()
            .insert(row[1].clone(), row[2].parse()?);
    }
    Ok(counts)
}

/// Every broken rule, one line each: a task run made twice for the same place in the flow, an
/// unfinished attempt in an ended execution, two successful attempts of one task run (or a
/// success that is not the last attempt), an attempt started after its execution ended, a log
/// line of an attempt that does not exist.
pub fn violations(stack: &ComposeStack) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for row in stack.psql(&format!(
        "SELECT e.id, tr->>'taskId', coalesce(tr->>'parentId', '-'), coalesce(tr->>'value', '-'), \
                count(*) \
         FROM executions e CROSS JOIN LATERAL jsonb_array_elements(e.document->'taskRuns') tr \
         WHERE {OURS} GROUP BY 1, 2, 3, 4 HAVING count(*) > 1"
    ))? {
        found.push(format!("doubled task run: {row:?}"));
    }
    let attempts = stack.psql(&format!(
        "SELECT e.id, tr->>'id', tr->>'taskId', tr->>'state', a.n, \
                jsonb_array_length(tr->'attempts'), a.v->>'state', \
                coalesce((a.v->>'startedAt')::timestamptz > e.ended_at, false), \
                e.ended_at IS NULL \
         FROM executions e \
         CROSS JOIN LATERAL jsonb_array_elements(e.document->'taskRuns') tr \
         CROSS JOIN LATERAL jsonb_array_elements(tr->'attempts') WITH ORDINALITY a(v, n) \
         WHERE {OURS} ORDER BY 1, 2, 5"
    ))?;
    let mut successes: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for row in &attempts {
        let (execution, run, task) = (&row[0], &row[1], &row[2]);
        let (number, of, state) = (row[4].parse::<usize>()?, row[5].parse::<usize>()?, &row[6]);
        let place = format!("{execution} {task} ({run}) attempt {number}/{of}");
        if row[8] == "t" {
            found.push(format!("execution not ended: {place}"));
        }
        if !super::api::is_terminal(state) {
            found.push(format!(
                "attempt left {state} in an ended execution: {place}"
            ));
        }
        if row[7] == "t" {
            found.push(format!(
                "attempt started after its execution ended: {place}"
            ));
        }
        if state == "SUCCESS" {
            successes
                .entry((execution.clone(), run.clone()))
                .or_default()
                .push(number);
            if number != of {
                found.push(format!("a SUCCESS attempt is not the last: {place}"));
            }
        }
    }
    for ((execution, run), numbers) in successes {
        if numbers.len() > 1 {
            found.push(format!(
                "{execution} {run}: attempts {numbers:?} all SUCCESS"
            ));
        }
    }
    for row in stack.psql(&format!(
        "SELECT l.execution_id, l.task_run_id, l.attempt, jsonb_array_length(tr->'attempts') \
         FROM logs l JOIN executions e ON e.id = l.execution_id \
         CROSS JOIN LATERAL jsonb_array_elements(e.document->'taskRuns') tr \
         WHERE {OURS} AND tr->>'id' = l.task_run_id \
           AND l.attempt > greatest(jsonb_array_length(tr->'attempts'), 1)"
    ))? {
        found.push(format!(
            "log line of an attempt that does not exist: {row:?}"
        ));
    }
    Ok(found)
}

/// `execution id -> number of log rows`, to compare across `down` and `up`.
pub fn log_counts(stack: &ComposeStack) -> anyhow::Result<BTreeMap<String, usize>> {
    let rows = stack.psql(&format!(
        "SELECT e.id, count(l.id) FROM executions e LEFT JOIN logs l ON l.execution_id = e.id \
         WHERE {OURS} GROUP BY 1"
    ))?;
    rows.into_iter()
        .map(|row| Ok::<_, anyhow::Error>((row[0].clone(), row[1].parse()?)))
        .collect()
}
