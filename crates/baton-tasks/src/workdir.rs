//! The working-directory layer of script tasks: Kestra's file semantics around whatever runs
//! the commands.
//!
//! 1. [`WorkingDir::create`]: a fresh directory on the worker host for one task run.
//! 2. [`WorkingDir::write_input_files`]: `inputFiles` (name → inline text, or a `kestra://`
//!    URI downloaded from internal storage) written into it.
//! 3. The runner runs with that directory: the Process runner as its current directory; the
//!    Docker runner copies it into the container and the container's files back out.
//! 4. [`WorkingDir::collect_output_files`]: the files matching the `outputFiles` globs uploaded
//!    to internal storage, giving the `outputFiles` output (relative path → `kestra://` URI).
//!
//! The directory is removed when the [`WorkingDir`] is dropped.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use globset::{GlobBuilder, GlobMatcher};
use serde_json::{Map, Value};

use crate::RunContext;

/// One task run's working directory on the worker host.
pub struct WorkingDir {
    dir: tempfile::TempDir,
}

impl WorkingDir {
    /// A new empty directory under the run's `work_root` (created if missing).
    pub fn create(run: &RunContext) -> Result<WorkingDir, String> {
        // Absolute: `{{ workingDir }}` is a path the container sees too (`server local` is given
        // a relative data directory by default).
        let work_root = std::path::absolute(&run.work_root)
            .map_err(|e| format!("cannot resolve {}: {e}", run.work_root.display()))?;
        std::fs::create_dir_all(&work_root)
            .map_err(|e| format!("cannot create {}: {e}", work_root.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("baton-task-")
            .tempdir_in(&work_root)
            .map_err(|e| format!("cannot create a working directory: {e}"))?;
        Ok(WorkingDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the rendered `inputFiles` (a map, or a JSON string of one: file name → content)
    /// into the directory. A value that is a `kestra://` URI is downloaded from internal storage
    /// (streamed to disk); any other value is written as text. Names must stay inside the
    /// directory.
    pub async fn write_input_files(
        &self,
        run: &RunContext,
        files: Option<&Value>,
    ) -> Result<(), String> {
        let Some(files) = files else {
            return Ok(());
        };
        let parsed;
        let map = match files {
            Value::Object(map) => map,
            Value::String(text) => {
                parsed = serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("inputFiles is not a JSON object: {e}"))?;
                parsed
                    .as_object()
                    .ok_or("inputFiles must be a map of file name to content")?
            }
            _ => return Err("inputFiles must be a map of file name to content".to_owned()),
        };
        for (name, content) in map {
            let relative = Path::new(name);
            if name.is_empty()
                || !relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
            {
                return Err(format!(
                    "inputFiles: '{name}' must be a relative path inside the working directory"
                ));
            }
            let path = self.path().join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("inputFiles: cannot create {}: {e}", parent.display()))?;
            }
            let content = match content {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            match storage_uri(&content) {
                Some(uri) => {
                    let uri = run
                        .readable_uri(uri)
                        .map_err(|e| format!("inputFiles: '{name}': {e}"))?;
                    run.storage()
                        .map_err(|e| format!("inputFiles: '{name}': {e}"))?
                        .get_to_file(&uri, &path)
                        .await
                        .map_err(|e| format!("inputFiles: '{name}': {e}"))?;
                }
                None => std::fs::write(&path, content)
                    .map_err(|e| format!("inputFiles: cannot write '{name}': {e}"))?,
            }
        }
        Ok(())
    }

    /// Uploads every file matching one of `globs` (relative to the directory; `*` stays within
    /// a folder, `**` crosses folders) to internal storage under this task run, and returns
    /// the `outputFiles` output: relative path → `kestra://` URI. A glob that matches no file is
    /// an error naming it, as in Kestra. Symbolic links are not followed.
    pub async fn collect_output_files(
        &self,
        run: &RunContext,
        globs: &[String],
    ) -> Result<Map<String, Value>, String> {
        let mut collected = Map::new();
        if globs.is_empty() {
            return Ok(collected);
        }
        let matchers = globs
            .iter()
            .map(|glob| compile(glob))
            .collect::<Result<Vec<_>, _>>()?;
        let files = self.files()?;
        let mut matched = BTreeSet::new();
        for (glob, matcher) in globs.iter().zip(&matchers) {
            let hits: Vec<&String> = files.iter().filter(|f| matcher.is_match(f)).collect();
            if hits.is_empty() {
                return Err(format!(
                    "outputFiles: no file in the working directory matches '{glob}'"
                ));
            }
            matched.extend(hits);
        }
        let storage = run.storage().map_err(|e| format!("outputFiles: {e}"))?;
        let (execution, task_id, task_run_id) = run
            .task_run_files()
            .map_err(|e| format!("outputFiles: {e}"))?;
        for file in matched {
            let uri = execution
                .task_file(&task_id, &task_run_id, file)
                .map_err(|e| format!("outputFiles: '{file}': {e}"))?;
            storage
                .put_file(&uri, &self.path().join(file))
                .await
                .map_err(|e| format!("outputFiles: '{file}': {e}"))?;
            collected.insert(file.clone(), Value::String(uri.to_string()));
        }
        Ok(collected)
    }

    /// Every regular file under the directory, as `/`-separated relative paths.
    fn files(&self) -> Result<Vec<String>, String> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(self.path()).follow_links(false) {
            let entry = entry
                .map_err(|e| format!("outputFiles: cannot list the working directory: {e}"))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry
                .path()
                .strip_prefix(self.path())
                .map_err(|e| format!("outputFiles: {e}"))?;
            let parts: Option<Vec<&str>> = relative.iter().map(|part| part.to_str()).collect();
            let Some(parts) = parts else {
                return Err(format!(
                    "outputFiles: '{}' is not a UTF-8 file name",
                    relative.display()
                ));
            };
            files.push(parts.join("/"));
        }
        Ok(files)
    }
}

/// A glob as Kestra's `outputFiles` read them (Java's `glob:` syntax).
fn compile(glob: &str) -> Result<GlobMatcher, String> {
    let pattern = glob.strip_prefix("./").unwrap_or(glob);
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|e| format!("outputFiles: '{glob}' is not a valid glob: {e}"))
}

/// The URI when `value` is one `kestra://` URI, not text that happens to start with one.
fn storage_uri(value: &str) -> Option<&str> {
    let value = value.trim();
    (value.starts_with(baton_storage::SCHEME) && !value.contains(char::is_whitespace))
        .then_some(value)
}
