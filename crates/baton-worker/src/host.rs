//! What templates on a worker may reach: secrets from the worker's environment, internal
//! storage files (`read()`), the clock.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use baton_core::template::TemplateHost;
use baton_storage::{Storage, StorageUri};

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
}

impl WorkerHost {
    pub fn new(secrets: HashMap<String, String>) -> Self {
        WorkerHost {
            secrets: Arc::new(secrets),
            storage: None,
            namespace: None,
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
            ..self.clone()
        }
    }

    fn read_file(&self, path: &str) -> Result<String, String> {
        if !path.starts_with(baton_storage::SCHEME) {
            return Err(format!(
                "read('{path}'): only internal-storage files (kestra:///…) can be read; \
                 namespace files are not supported yet"
            ));
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
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| format!("secret {name} is not UTF-8 text"))
    }

    fn kv(&self, _namespace: &str, _key: &str) -> Result<Option<serde_json::Value>, String> {
        Err("kv() is not available on this worker yet".to_owned())
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
        assert!(
            host.read("scripts/a.sh")
                .unwrap_err()
                .contains("namespace files")
        );
        let without = WorkerHost::new(HashMap::new());
        assert!(
            without
                .read(mine)
                .unwrap_err()
                .contains("no internal storage")
        );
    }
}
