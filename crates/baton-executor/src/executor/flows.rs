//! Parsed flow revisions, cached: a revision never changes once deployed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_core::flow::Flow;
use baton_core::parse::FlowParser;
use baton_store::{ExecutionTx, FlowRecord, Store};

use super::Error;

/// A parsed revision with its source, which workers receive as is.
pub struct FlowRevision {
    pub flow: Flow,
    pub source: Arc<str>,
    pub revision: i32,
}

#[derive(Default)]
pub struct FlowCache {
    parser: FlowParser,
    revisions: Mutex<HashMap<(String, String, i32), Arc<FlowRevision>>>,
}

impl FlowCache {
    pub async fn get(
        &self,
        store: &dyn Store,
        namespace: &str,
        id: &str,
        revision: i32,
    ) -> Result<Arc<FlowRevision>, Error> {
        if let Some(found) = self.cached(namespace, id, revision) {
            return Ok(found);
        }
        self.parse(&store.get_flow(namespace, id, Some(revision)).await?)
    }

    /// [`FlowCache::get`] for a step: a miss is read on the step's transaction, which may hold
    /// SQLite's write lock (see `ExecutionTx::get_flow`).
    pub async fn get_in(
        &self,
        tx: &mut dyn ExecutionTx,
        namespace: &str,
        id: &str,
        revision: i32,
    ) -> Result<Arc<FlowRevision>, Error> {
        if let Some(found) = self.cached(namespace, id, revision) {
            return Ok(found);
        }
        self.parse(&tx.get_flow(namespace, id, Some(revision)).await?)
    }

    fn cached(&self, namespace: &str, id: &str, revision: i32) -> Option<Arc<FlowRevision>> {
        self.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.to_owned(), id.to_owned(), revision))
            .cloned()
    }

    /// The parsed revision of a record already read (from the cache when it is there).
    pub fn parse(&self, record: &FlowRecord) -> Result<Arc<FlowRevision>, Error> {
        if let Some(found) = self.cached(&record.namespace, &record.id, record.revision) {
            return Ok(found);
        }
        let parsed = self.parser.parse(&record.source);
        let flow = parsed.flow.ok_or_else(|| Error::InvalidFlow {
            flow: format!("{}.{}", record.namespace, record.id),
            revision: record.revision,
            problems: parsed
                .diagnostics
                .iter()
                .map(|d| format!("{}: {}", d.position, d.message))
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        let key = (record.namespace.clone(), record.id.clone(), record.revision);
        let found = Arc::new(FlowRevision {
            flow,
            source: record.source.as_str().into(),
            revision: record.revision,
        });
        self.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }
}
