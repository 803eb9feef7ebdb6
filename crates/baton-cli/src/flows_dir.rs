//! `baton server local` loads the flows of a folder (`./flows` by default) at start and keeps
//! them deployed as the files change, so a newcomer edits YAML and runs it.
//!
//! The folder is scanned once a second (no file-watching dependency, and a scan of a few
//! hundred files costs well under a millisecond). A changed file is parsed; a valid flow is
//! deployed (the store adds a revision only when the source changed), an invalid one is
//! reported with every diagnostic and the deployed revision stays as it was. Deleting a file
//! does not delete its flow: executions may still refer to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use baton_core::parse::FlowParser;
use baton_store::Store;

/// A folder of flow files and what was seen of each at the last scan (modified time, size).
pub struct FlowsDir {
    store: Arc<dyn Store>,
    parser: FlowParser,
    dir: PathBuf,
    seen: HashMap<PathBuf, (SystemTime, u64)>,
}

impl FlowsDir {
    pub fn new(store: Arc<dyn Store>, dir: PathBuf) -> Self {
        Self {
            store,
            parser: FlowParser::default(),
            dir,
            seen: HashMap::new(),
        }
    }

    /// Rescans once a second, after the first scan the caller made.
    pub async fn watch(mut self) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.scan().await;
        }
    }

    /// Deploys every new or changed flow file; returns how many flows were deployed.
    pub async fn scan(&mut self) -> usize {
        let (store, parser, dir, seen) =
            (self.store.as_ref(), &self.parser, &self.dir, &mut self.seen);
        let mut deployed = 0;
        for path in yaml_files(dir) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = (
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            );
            if seen.get(&path) == Some(&stamp) {
                continue;
            }
            seen.insert(path.clone(), stamp);
            let name = path.display().to_string();
            let Ok(source) = std::fs::read_to_string(&path) else {
                tracing::warn!(file = %name, "cannot read flow file");
                continue;
            };
            // One flow per file, as Kestra's flow folders hold them.
            let parsed = parser.parse(&source);
            for diagnostic in &parsed.diagnostics {
                eprintln!("{}", diagnostic.display_in(&name));
            }
            let Some(flow) = parsed.flow else { continue };
            match store
                .deploy_flow(&flow.namespace, &flow.id, &source, flow.disabled)
                .await
            {
                Ok(record) => {
                    deployed += 1;
                    let id = format!("{}.{}", flow.namespace, flow.id);
                    tracing::info!(file = %name, flow = %id, revision = record.revision, "flow deployed");
                }
                Err(error) => tracing::warn!(file = %name, %error, "cannot deploy flow"),
            }
        }
        deployed
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
