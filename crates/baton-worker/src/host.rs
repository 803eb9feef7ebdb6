//! What templates on a worker may reach: secrets from the worker's environment, the clock.

use std::collections::HashMap;

use base64::Engine as _;
use baton_core::template::TemplateHost;

/// Secrets follow Kestra OSS's convention: `secret('NAME')` is the base64-decoded value of the
/// worker's `SECRET_NAME` environment variable (collected by the binary, given here by NAME).
pub struct WorkerHost {
    secrets: HashMap<String, String>,
}

impl WorkerHost {
    pub fn new(secrets: HashMap<String, String>) -> Self {
        WorkerHost { secrets }
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

    fn read(&self, _path_or_uri: &str) -> Result<String, String> {
        Err("read() is not available on this worker yet".to_owned())
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
}
