//! `kestra://` URIs and where each file of an execution lives, as Kestra lays them out:
//!
//! ```text
//! kestra:///{namespace as path}/{flowId}/executions/{executionId}/tasks/{taskId}/{taskRunId}/{file}
//! kestra:///{namespace as path}/{flowId}/executions/{executionId}/inputs/{inputName}/{file}
//! ```
//!
//! A URI's path is a list of segments; each maps to one part of an object-store path (characters
//! an object store cannot hold are percent-encoded there and decoded back when listing).

use std::fmt;
use std::str::FromStr;

use object_store::path::{Path as ObjectPath, PathPart};

use crate::Error;

/// What every internal-storage URI starts with (the authority is empty: `kestra:///a/b`).
pub const SCHEME: &str = "kestra://";

/// A file (or a folder, for listing and deleting) in internal storage.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageUri {
    /// The segments joined by `/`, without a leading slash.
    path: String,
}

impl StorageUri {
    /// Reads `kestra:///a/b/c.csv`. Empty segments, `.` and `..` are refused, so a URI can never
    /// name something outside the storage root.
    pub fn parse(text: &str) -> Result<StorageUri, Error> {
        let invalid = |reason: &str| Error::InvalidUri {
            uri: text.to_owned(),
            reason: reason.to_owned(),
        };
        let path = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid("expected kestra:///…"))?
            .strip_prefix('/')
            .ok_or_else(|| invalid("expected kestra:/// (three slashes) before the path"))?;
        let path = path.strip_suffix('/').unwrap_or(path);
        StorageUri::from_segments(path.split('/')).map_err(|reason| invalid(&reason))
    }

    /// Joins segments, checking each one.
    pub fn from_segments<'a>(segments: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut path = String::new();
        for segment in segments {
            check_segment(segment)?;
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(segment);
        }
        if path.is_empty() {
            return Err("the path is empty".to_owned());
        }
        Ok(StorageUri { path })
    }

    /// This URI with `relative` (one or more `/`-separated segments) appended.
    pub fn join(&self, relative: &str) -> Result<StorageUri, Error> {
        let segments = self.path.split('/').chain(relative.split('/'));
        StorageUri::from_segments(segments).map_err(|reason| Error::InvalidUri {
            uri: format!("{self}/{relative}"),
            reason,
        })
    }

    /// The path after `kestra:///`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// True when this URI is `folder` itself or lies under it.
    pub fn is_within(&self, folder: &StorageUri) -> bool {
        self.path == folder.path
            || self
                .path
                .strip_prefix(&folder.path)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    pub(crate) fn object_path(&self) -> ObjectPath {
        self.path.split('/').map(PathPart::from).collect()
    }

    /// The URI of an object the store listed (its parts percent-decoded back).
    pub(crate) fn from_object_path(path: &ObjectPath) -> Result<StorageUri, Error> {
        let segments: Vec<String> = path
            .parts()
            .map(|part| {
                percent_encoding::percent_decode_str(part.as_ref())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        StorageUri::from_segments(segments.iter().map(String::as_str)).map_err(|reason| {
            Error::InvalidUri {
                uri: format!("{SCHEME}/{path}"),
                reason,
            }
        })
    }
}

fn check_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("empty path segment".to_owned());
    }
    if segment == "." || segment == ".." {
        return Err(format!("'{segment}' is not allowed in a path"));
    }
    if let Some(c) = segment.chars().find(|c| c.is_control()) {
        return Err(format!("control character {c:?} in a path"));
    }
    Ok(())
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}/{}", self.path)
    }
}

impl FromStr for StorageUri {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        StorageUri::parse(text)
    }
}

/// The storage folder of one execution, and the URIs of its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionFiles {
    folder: StorageUri,
}

impl ExecutionFiles {
    /// `{namespace as path}/{flowId}/executions/{executionId}`: `company.team` becomes
    /// `company/team`.
    pub fn new(namespace: &str, flow_id: &str, execution_id: &str) -> Result<Self, Error> {
        let segments = namespace
            .split('.')
            .chain([flow_id, "executions", execution_id]);
        let folder = StorageUri::from_segments(segments).map_err(|reason| Error::InvalidUri {
            uri: format!("{SCHEME}/{namespace}/{flow_id}/executions/{execution_id}"),
            reason,
        })?;
        Ok(ExecutionFiles { folder })
    }

    /// The folder holding every file of the execution (what a purge deletes).
    pub fn folder(&self) -> &StorageUri {
        &self.folder
    }

    /// An output file of a task run; `file` may hold `/` (`out/a.csv`).
    pub fn task_file(
        &self,
        task_id: &str,
        task_run_id: &str,
        file: &str,
    ) -> Result<StorageUri, Error> {
        self.folder
            .join(&format!("tasks/{task_id}/{task_run_id}"))?
            .join(file)
    }

    /// A file uploaded for a FILE input.
    pub fn input_file(&self, input: &str, file_name: &str) -> Result<StorageUri, Error> {
        self.folder
            .join(&format!("inputs/{input}"))?
            .join(file_name)
    }

    /// True when `uri` belongs to this execution.
    pub fn contains(&self, uri: &StorageUri) -> bool {
        uri.is_within(&self.folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_follow_kestras_layout() {
        let files = ExecutionFiles::new("company.team", "etl", "0192").unwrap();
        assert_eq!(
            files.folder().to_string(),
            "kestra:///company/team/etl/executions/0192"
        );
        let out = files.task_file("extract", "7f3a", "out/data.csv").unwrap();
        assert_eq!(
            out.to_string(),
            "kestra:///company/team/etl/executions/0192/tasks/extract/7f3a/out/data.csv"
        );
        assert_eq!(out.file_name(), "data.csv");
        assert!(files.contains(&out));
        let input = files.input_file("file", "orders.csv").unwrap();
        assert_eq!(
            input.to_string(),
            "kestra:///company/team/etl/executions/0192/inputs/file/orders.csv"
        );
        let other = ExecutionFiles::new("company.team", "etl", "01920").unwrap();
        assert!(!other.contains(&out), "a sibling execution's prefix");
    }

    #[test]
    fn parsing_round_trips_and_refuses_escapes() {
        let text = "kestra:///a/b/c d.csv";
        assert_eq!(StorageUri::parse(text).unwrap().to_string(), text);
        for bad in [
            "s3://bucket/a",
            "kestra://a/b",
            "kestra:///",
            "kestra:///a//b",
            "kestra:///a/../b",
            "kestra:///a/./b",
            "kestra:///a/b\nc",
        ] {
            let error = StorageUri::parse(bad).unwrap_err().to_string();
            assert!(error.contains(bad.trim_end()), "{bad}: {error}");
        }
        let files = ExecutionFiles::new("ns", "f", "e").unwrap();
        assert!(files.task_file("t", "r", "../escape").is_err());
        assert!(files.input_file("i", "").is_err());
    }

    #[test]
    fn object_paths_encode_what_stores_cannot_hold() {
        let uri = StorageUri::parse("kestra:///ns/a%b/[x]*.csv").unwrap();
        let path = uri.object_path();
        assert_eq!(path.as_ref(), "ns/a%25b/%5Bx%5D%2A.csv");
        assert_eq!(StorageUri::from_object_path(&path).unwrap(), uri);
    }
}
