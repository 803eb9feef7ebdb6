//! `namespaceFiles` of script tasks: the flow's namespace files, filtered by `include` and
//! `exclude`, copied from internal storage into the working directory before `inputFiles` (so an
//! input file of the same name wins, as in Kestra).
//!
//! Globs are matched against the file's path from the namespace root with a leading `/`
//! (`/scripts/etl.py`), as Kestra's `PathMatcherPredicate` does: a pattern that starts with
//! neither `/` nor `**` may match at any depth (`etl.py` is `**/etl.py`, `./q/*.sql` is
//! `**/q/*.sql`), `*` stays within a folder and `**` crosses folders.

use baton_core::flow::props::NamespaceFiles as NamespaceFilesSpec;
use baton_core::flow::task::LogLevel;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::RunContext;
use crate::workdir::WorkingDir;

impl WorkingDir {
    /// Copies the namespace files `spec` selects into the directory; nothing when `spec` is
    /// absent or disabled. Returns how many files were copied.
    pub async fn write_namespace_files(
        &self,
        run: &RunContext,
        spec: Option<&NamespaceFilesSpec>,
    ) -> Result<usize, String> {
        let Some(spec) = spec.filter(|spec| spec.enabled) else {
            return Ok(0);
        };
        let own = run
            .context
            .pointer("/flow/namespace")
            .and_then(serde_json::Value::as_str)
            .ok_or("namespaceFiles: the task run's context has no flow namespace")?
            .to_owned();
        let namespaces = match &spec.namespaces {
            Some(list) if !list.is_empty() => list.clone(),
            _ => vec![own.clone()],
        };
        if let Some(other) = namespaces.iter().find(|ns| **ns != own) {
            return Err(format!(
                "namespaceFiles.namespaces: a flow of namespace {own} can only use its own \
                 namespace's files, not {other}'s"
            ));
        }
        let if_exists = IfExists::parse(spec.if_exists.as_deref())?;
        let include = glob_set("include", &spec.include)?;
        let exclude = glob_set("exclude", &spec.exclude)?;
        let storage = run.storage().map_err(|e| format!("namespaceFiles: {e}"))?;
        let mut copied = 0;
        for namespace in &namespaces {
            let files = baton_storage::NamespaceFiles::new(namespace)
                .map_err(|e| format!("namespaceFiles: {e}"))?;
            let listed = storage
                .list(files.folder())
                .await
                .map_err(|e| format!("namespaceFiles: {e}"))?;
            for uri in listed {
                let Some(relative) = files.relative(&uri) else {
                    continue;
                };
                let rooted = format!("/{relative}");
                let included = spec.include.is_empty() || include.is_match(&rooted);
                if !included || exclude.is_match(&rooted) {
                    continue;
                }
                let target = if spec.folder_per_namespace.unwrap_or(false) {
                    format!("{namespace}/{relative}")
                } else {
                    relative.to_owned()
                };
                let path = self.path().join(&target);
                if path.exists() {
                    match if_exists {
                        IfExists::Overwrite => {}
                        IfExists::Ignore => continue,
                        IfExists::Warn => {
                            run.logs.log(
                                LogLevel::Warn,
                                format!("namespaceFiles: {target} already exists, kept as it is"),
                            );
                            continue;
                        }
                        IfExists::Fail => {
                            return Err(format!("namespaceFiles: {target} already exists"));
                        }
                    }
                }
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        format!("namespaceFiles: cannot create {}: {e}", parent.display())
                    })?;
                }
                storage
                    .get_to_file(&uri, &path)
                    .await
                    .map_err(|e| format!("namespaceFiles: {e}"))?;
                copied += 1;
            }
        }
        Ok(copied)
    }
}

/// What to do when a namespace file's name is already taken in the working directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IfExists {
    Overwrite,
    Fail,
    Warn,
    Ignore,
}

impl IfExists {
    fn parse(text: Option<&str>) -> Result<IfExists, String> {
        match text.map(str::to_ascii_uppercase).as_deref() {
            None | Some("OVERWRITE") => Ok(IfExists::Overwrite),
            Some("FAIL") => Ok(IfExists::Fail),
            Some("WARN") => Ok(IfExists::Warn),
            Some("IGNORE") => Ok(IfExists::Ignore),
            Some(other) => Err(format!(
                "namespaceFiles.ifExists: '{other}' is not one of OVERWRITE, FAIL, WARN, IGNORE"
            )),
        }
    }
}

/// The globs of `include` or `exclude`, as Kestra reads them.
fn glob_set(property: &str, patterns: &[String]) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(&kestra_pattern(pattern))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("namespaceFiles.{property}: '{pattern}' is not a glob: {e}"))?;
        set.add(glob);
    }
    set.build()
        .map_err(|e| format!("namespaceFiles.{property}: {e}"))
}

/// A pattern that starts with neither `/` nor `**` matches at any depth.
fn kestra_pattern(pattern: &str) -> String {
    let pattern = pattern.strip_prefix("glob:").unwrap_or(pattern);
    let pattern = pattern.strip_prefix("./").unwrap_or(pattern);
    // Java's `**.py` crosses folders; globset reads a `**` not followed by `/` as `*`.
    if let Some(rest) = pattern.strip_prefix("**")
        && !rest.is_empty()
        && !rest.starts_with('/')
    {
        return format!("**/*{rest}");
    }
    if pattern.starts_with('/') || pattern.starts_with("**") {
        pattern.to_owned()
    } else {
        format!("**/{pattern}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        glob_set("include", &[pattern.to_owned()])
            .unwrap()
            .is_match(path)
    }

    #[test]
    fn globs_match_as_kestras_path_matcher() {
        assert!(matches("etl.py", "/etl.py"));
        assert!(matches("etl.py", "/scripts/etl.py"));
        assert!(matches("*.py", "/etl.py"));
        assert!(matches("*.py", "/scripts/etl.py"));
        assert!(matches("**.py", "/scripts/deep/etl.py"));
        assert!(matches("scripts/**", "/scripts/deep/etl.py"));
        assert!(matches("/scripts/*.py", "/scripts/etl.py"));
        assert!(!matches("/scripts/*.py", "/scripts/deep/etl.py"));
        assert!(matches("./queries/*.sql", "/queries/a.sql"));
        assert!(!matches("*.sql", "/etl.py"));
    }

    #[test]
    fn if_exists_reads_kestras_values() {
        assert_eq!(IfExists::parse(None), Ok(IfExists::Overwrite));
        assert_eq!(IfExists::parse(Some("warn")), Ok(IfExists::Warn));
        assert!(
            IfExists::parse(Some("MERGE"))
                .unwrap_err()
                .contains("MERGE")
        );
    }
}
