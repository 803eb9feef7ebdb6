//! What templates on a worker may reach: secrets from the worker's environment, internal
//! storage files (`read()`), the namespace KV store (`kv()`, through the executor), the clock.
//!
//! The host of one task run also remembers the secret values its templates read, so the run's
//! log lines and outputs can be masked ([`WorkerHost::mask`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use baton_core::template::TemplateHost;
use baton_storage::{NamespaceFiles, Storage, StorageUri};
use baton_tasks::kv::{KvAccess, KvOp, KvRequest};

/// What a secret's value becomes in logs and outputs, as in Kestra.
pub const MASK: &str = "******";

/// The most `read()` returns: as much as one render may output, so a larger file could not be
/// used anyway.
pub const READ_LIMIT_BYTES: u64 = 1024 * 1024;

/// Secrets follow Kestra OSS's convention: `secret('NAME')` is the base64-decoded value of the
/// worker's `SECRET_NAME` environment variable (collected by the binary, given here by NAME).
#[derive(Clone)]
pub struct WorkerHost {
    secrets: Arc<HashMap<String, String>>,
    storage: Option<Storage>,
    /// Set for one task run: `read()` then only reads files of this namespace's folder.
    namespace: Option<String>,
    /// `kv()` lookups go here.
    kv: Option<Arc<dyn KvAccess>>,
    /// The secret values this run's templates read, for masking; fresh for each run.
    revealed: Arc<Mutex<Vec<String>>>,
}

impl WorkerHost {
    pub fn new(secrets: HashMap<String, String>) -> Self {
        WorkerHost {
            secrets: Arc::new(secrets),
            storage: None,
            namespace: None,
            kv: None,
            revealed: Arc::default(),
        }
    }

    /// `kv()` reads from this KV store.
    pub fn with_kv(mut self, kv: Arc<dyn KvAccess>) -> Self {
        self.kv = Some(kv);
        self
    }

    /// `text` with every secret value this host revealed replaced by [`MASK`].
    pub fn mask(&self, text: &str) -> String {
        let revealed = self.revealed.lock().unwrap_or_else(PoisonError::into_inner);
        let mut masked = text.to_owned();
        for value in revealed.iter() {
            masked = masked.replace(value.as_str(), MASK);
        }
        masked
    }

    /// Every string inside `value` masked.
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(text) => Value::String(self.mask(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.mask(k), self.mask_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// `read('kestra:///…')` reads from this storage.
    pub fn with_storage(mut self, storage: Option<Storage>) -> Self {
        self.storage = storage;
        self
    }

    /// The host for a task run of a flow of `namespace`: the same secrets and storage, with
    /// `read()` limited to the files of that namespace.
    pub fn for_namespace(&self, namespace: &str) -> WorkerHost {
        WorkerHost {
            namespace: Some(namespace.to_owned()),
            revealed: Arc::default(),
            ..self.clone()
        }
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        if !path.starts_with(baton_storage::SCHEME) {
            return self.read_namespace_file(path);
        }
        let uri = StorageUri::parse(path).map_err(|e| format!("read(): {e}"))?;
        if let Some(namespace) = &self.namespace {
            let folder = StorageUri::from_segments(namespace.split('.'))
                .map_err(|e| format!("read(): namespace {namespace}: {e}"))?;
            if !uri.is_within(&folder) {
                return Err(format!(
                    "read('{uri}'): a flow of namespace {namespace} can only read files of its \
                     namespace"
                ));
            }
        }
        let storage = self.storage.as_ref().ok_or_else(|| {
            format!(
                "read('{uri}'): this worker has no internal storage (start it with --storage or \
                 BATON_STORAGE)"
            )
        })?;
        storage
            .read_text_blocking(&uri, READ_LIMIT_BYTES)
            .map_err(|e| format!("read(): {e}"))
    }

    /// `read('scripts/query.sql')`: a namespace file of the run's namespace, as in Kestra.
    fn read_namespace_file(&self, path: &str) -> Result<String, String> {
        let namespace = self.namespace.as_deref().ok_or_else(|| {
            format!("read('{path}'): a namespace file can only be read by a task run")
        })?;
        let uri = NamespaceFiles::new(namespace)
            .and_then(|files| files.file(path))
            .map_err(|e| format!("read('{path}'): {e}"))?;
        let storage = self.storage.as_ref().ok_or_else(|| {
            format!(
                "read('{path}'): this worker has no internal storage (start it with --storage or \
                 BATON_STORAGE)"
            )
        })?;
        storage
            .read_text_blocking(&uri, READ_LIMIT_BYTES)
            .map_err(|error| match error {
                baton_storage::Error::NotFound { .. } => {
                    format!("read('{path}'): no namespace file {path} in namespace {namespace}")
                }
                other => format!("read('{path}'): {other}"),
            })
    }
}

impl TemplateHost for WorkerHost {
    fn secret(&self, name: &str) -> Result<Option<String>, String> {
        let Some(encoded) = self.secrets.get(name) else {
            return Ok(None);
        };
        let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("secret {name} is not valid base64: {e}"))?;
        let value =
            String::from_utf8(bytes).map_err(|_| format!("secret {name} is not UTF-8 text"))?;
        // An empty value would mask everything; there is nothing in it to hide.
        if !value.is_empty() {
            let mut revealed = self.revealed.lock().unwrap_or_else(PoisonError::into_inner);
            if !revealed.contains(&value) {
                revealed.push(value.clone());
                // Longest first, so a secret containing another is masked whole.
                revealed.sort_by_key(|v| std::cmp::Reverse(v.len()));
            }
        }
        Ok(Some(value))
    }

    fn kv(&self, namespace: &str, key: &str) -> Result<Option<serde_json::Value>, String> {
        let Some(kv) = &self.kv else {
            return Err("kv() is not available here: no KV store is reachable".to_owned());
        };
        let call = kv.call(KvRequest {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
            op: KvOp::Get,
        });
        // Templates render synchronously; the answer comes over the executor stream, which
        // another runtime thread serves meanwhile.
        use tokio::runtime::{Handle, RuntimeFlavor};
        let answer = match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(call))?
            }
            _ => return Err("kv() needs the worker's multi-threaded runtime".to_owned()),
        };
        Ok(answer.value.filter(|_| answer.found))
    }

    fn read(&self, path_or_uri: &str) -> Result<String, String> {
        self.read_file(path_or_uri)
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_base64_decoded() {
        let host = WorkerHost::new(HashMap::from([
            ("TOKEN".to_owned(), "c2VjcmV0\n".to_owned()),
            ("BAD".to_owned(), "!!".to_owned()),
        ]));
        assert_eq!(host.secret("TOKEN"), Ok(Some("secret".to_owned())));
        assert_eq!(host.secret("MISSING"), Ok(None));
        assert!(host.secret("BAD").is_err());
        assert!(host.kv("ns", "k").is_err());
        assert_eq!(host.mask("token=secret;"), "token=******;");
        let other_run = host.for_namespace("ns");
        assert_eq!(
            other_run.mask("secret"),
            "secret",
            "each run masks what it read"
        );
    }

    #[test]
    fn read_returns_storage_files_of_the_runs_namespace_only() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mine = "kestra:///company/team/etl/executions/e/tasks/t/r/note.txt";
        let theirs = "kestra:///other/etl/executions/e/tasks/t/r/note.txt";
        let big = "kestra:///company/team/etl/executions/e/tasks/t/r/big.txt";
        runtime.block_on(async {
            for (uri, text) in [
                (mine, "hello".to_owned()),
                (theirs, "secret".to_owned()),
                (big, "x".repeat(READ_LIMIT_BYTES as usize + 1)),
            ] {
                let uri = StorageUri::parse(uri).unwrap();
                storage.put_bytes(&uri, text).await.unwrap();
            }
        });
        let host = WorkerHost::new(HashMap::new())
            .with_storage(Some(storage))
            .for_namespace("company.team");
        assert_eq!(host.read(mine), Ok("hello".to_owned()));
        assert_eq!(
            host.read(theirs).unwrap_err(),
            format!(
                "read('{theirs}'): a flow of namespace company.team can only read files of its \
                 namespace"
            )
        );
        let too_big = host.read(big).unwrap_err();
        assert!(too_big.contains("more than the 1048576 bytes"), "{too_big}");
        let missing = "kestra:///company/team/etl/executions/e/tasks/t/r/none.txt";
        assert_eq!(
            host.read(missing).unwrap_err(),
            format!("read(): file {missing} not found in internal storage")
        );
        assert_eq!(
            host.read("scripts/a.sh").unwrap_err(),
            "read('scripts/a.sh'): no namespace file scripts/a.sh in namespace company.team"
        );
        let escape = host
            .read("../etl/executions/e/tasks/t/r/note.txt")
            .unwrap_err();
        assert!(escape.contains("'..' is not allowed"), "{escape}");
        let without = WorkerHost::new(HashMap::new());
        assert!(
            without
                .read(mine)
                .unwrap_err()
                .contains("no internal storage")
        );
    }

    #[test]
    fn read_of_a_relative_path_reads_a_namespace_file() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let files = NamespaceFiles::new("company.team").unwrap();
            let uri = files.file("/queries/daily.sql").unwrap();
            storage.put_bytes(&uri, "select 1").await.unwrap();
        });
        let host = WorkerHost::new(HashMap::new())
            .with_storage(Some(storage))
            .for_namespace("company.team");
        assert_eq!(host.read("queries/daily.sql"), Ok("select 1".to_owned()));
        assert_eq!(host.read("/queries/daily.sql"), Ok("select 1".to_owned()));
        let other = host.for_namespace("other");
        assert!(other.read("queries/daily.sql").is_err());
    }
}
