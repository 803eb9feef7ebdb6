//! Parsed flow revisions, cached: a revision never changes once deployed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_core::flow::Flow;
use baton_core::parse::FlowParser;
use baton_store::{FlowRecord, Store};

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
        let record = store.get_flow(namespace, id, Some(revision)).await?;
        self.parse_record(&record)
    }

    /// The parsed revision of a record already read (a flow listing), from the cache when it
    /// is there.
    pub fn parse_record(&self, record: &FlowRecord) -> Result<Arc<FlowRevision>, Error> {
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
        let found = Arc::new(FlowRevision {
            flow,
            source: record.source.as_str().into(),
            revision: record.revision,
        });
        let key = (record.namespace.clone(), record.id.clone(), record.revision);
        self.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }

    fn cached(&self, namespace: &str, id: &str, revision: i32) -> Option<Arc<FlowRevision>> {
        let key = (namespace.to_owned(), id.to_owned(), revision);
        self.revisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }
}
