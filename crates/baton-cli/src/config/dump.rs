//! `--dump-config`: the effective configuration as YAML that `--config` reads back, with
//! secrets redacted.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{Config, Role};

/// What stands in for a secret.
pub const REDACTED: &str = "<redacted>";

/// The configuration as a `baton.yaml`, passwords and tokens replaced by [`REDACTED`]; a
/// comment on top says which role and file it is for.
pub fn to_yaml(config: &Config, role: Role, file: Option<&Path>) -> String {
    let mut shown = config.clone();
    if let Some(auth) = &mut shown.server.basic_auth {
        auth.password = REDACTED.to_owned();
    }
    if let Some(token) = &mut shown.worker.token {
        *token = REDACTED.to_owned();
    }
    if let Some(url) = &mut shown.database.url {
        *url = redact_url(url);
    }
    let file = file.map_or_else(|| "no file".to_owned(), |f| f.display().to_string());
    let mut out = format!(
        "# The effective configuration of `baton server {}`: built-in defaults < {file} <\n\
         # BATON_* variables < flags. Secrets are redacted.\n",
        role.name()
    );
    let value = serde_json::to_value(&shown).expect("the configuration serializes");
    write_mapping(&mut out, &value, 0);
    out
}

fn write_mapping(out: &mut String, value: &Value, depth: usize) {
    let Value::Object(entries) = value else {
        return;
    };
    let indent = "  ".repeat(depth);
    for (key, value) in entries {
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{indent}{key}:");
                write_mapping(out, value, depth + 1);
            }
            // JSON scalars are YAML scalars; a JSON string is a double-quoted YAML string, so
            // no value can be misread (`no`, `1.0`, `:`).
            scalar => {
                let _ = writeln!(out, "{indent}{key}: {scalar}");
            }
        }
    }
}

/// A database URL with its password (userinfo or `password=` parameter) redacted, so the dump
/// still shows which database it is.
fn redact_url(url: &str) -> String {
    let mut text = url.to_owned();
    if let Some(scheme_end) = text.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = text[authority_start..]
            .find(['/', '?'])
            .map_or(text.len(), |i| authority_start + i);
        if let Some(at) = text[authority_start..authority_end].rfind('@') {
            let userinfo = &text[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = authority_start + colon + 1;
                text.replace_range(start..authority_start + at, REDACTED);
            }
        }
    }
    if let Some(start) = text.find("password=") {
        let value_start = start + "password=".len();
        let value_end = text[value_start..]
            .find('&')
            .map_or(text.len(), |i| value_start + i);
        text.replace_range(value_start..value_end, REDACTED);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_url("postgres://baton:s3cr@t@db:5432/baton?sslmode=require"),
            "postgres://baton:<redacted>@db:5432/baton?sslmode=require"
        );
        assert_eq!(
            redact_url("jdbc:postgresql://db:5432/baton?user=baton&password=x&ssl=true"),
            "jdbc:postgresql://db:5432/baton?user=baton&password=<redacted>&ssl=true"
        );
        assert_eq!(
            redact_url("postgres://baton@db/baton"),
            "postgres://baton@db/baton"
        );
    }
}
