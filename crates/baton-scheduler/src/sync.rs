//! Keeping trigger rows in step with flows: each flow revision the rows do not reflect yet is
//! parsed once, and its Schedule triggers written, many flows per transaction.

use std::sync::Arc;

use baton_core::parse::FlowParser;
use baton_store::{FlowRecord, FlowTriggers, Store, TriggerSync};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::Error;
use crate::definition::ScheduleDefinition;

/// Flows synced per store transaction.
const BATCH: u32 = 500;

/// Syncs every flow that needs it; returns how many this scheduler synced (others may have
/// synced some meanwhile). A pipeline: while one page's rows are written, the next page is
/// parsed (on a blocking thread) and the one after it read, so the database and the parser
/// work at once — a first start with 10,000 flows is bound by the slower of the two, not
/// their sum.
pub(crate) async fn sync_flows(
    store: &Arc<dyn Store>,
    parser: &Arc<FlowParser>,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let mut synced = 0;
    let mut flows = store.flows_to_sync(None, BATCH).await?;
    let mut writing: Option<JoinHandle<baton_store::Result<usize>>> = None;
    while !flows.is_empty() {
        let last = flows.last().map(|f| (f.namespace.clone(), f.id.clone()));
        let after = last.as_ref().map(|(ns, id)| (ns.as_str(), id.as_str()));
        let parser = parser.clone();
        let parsing = tokio::task::spawn_blocking(move || {
            flows
                .iter()
                .map(|record| flow_triggers(&parser, record, now))
                .collect::<Vec<FlowTriggers>>()
        });
        let (parsed, next) = tokio::join!(parsing, store.flows_to_sync(after, BATCH));
        let parsed = parsed.map_err(task_failed)?;
        if let Some(write) = writing.take() {
            synced += write.await.map_err(task_failed)??;
        }
        let store = store.clone();
        writing = Some(tokio::spawn(
            async move { store.sync_triggers(&parsed).await },
        ));
        flows = next?;
    }
    if let Some(write) = writing {
        synced += write.await.map_err(task_failed)??;
    }
    Ok(synced)
}

/// A parse or write task of the pipeline that panicked.
fn task_failed(error: tokio::task::JoinError) -> Error {
    Error::Task(error.to_string())
}

/// The Schedule triggers of one flow revision, each starting at its next date after `now`
/// (used only for a new trigger or one whose fingerprint changed).
fn flow_triggers(parser: &FlowParser, record: &FlowRecord, now: DateTime<Utc>) -> FlowTriggers {
    let mut rows = FlowTriggers {
        namespace: record.namespace.clone(),
        flow_id: record.id.clone(),
        revision: record.revision,
        triggers: Vec::new(),
    };
    if record.deleted {
        return rows;
    }
    let parsed = parser.parse(&record.source);
    let Some(flow) = parsed.flow else {
        // Deploys validate flows with this parser, so only a Baton upgrade with stricter rules
        // gets here. The flow cannot run either; its schedules stop until it is fixed.
        tracing::error!(
            flow = %format!("{}.{}", record.namespace, record.id),
            revision = record.revision,
            "the flow no longer parses; its schedules are removed"
        );
        return rows;
    };
    for (trigger_id, definition) in ScheduleDefinition::of_flow(&flow, record.disabled) {
        let next_fire_at = match definition.schedule() {
            Ok(schedule) if !definition.disabled => schedule.next_after(now),
            Ok(_) => None,
            Err(reason) => {
                tracing::error!(trigger = %trigger_id, %reason, "cannot read the schedule");
                None
            }
        };
        rows.triggers.push(TriggerSync {
            fingerprint: definition.fingerprint(),
            definition: serde_json::to_value(&definition).unwrap_or_default(),
            trigger_id,
            next_fire_at,
        });
    }
    rows
}
