//! Namespace files: scripts, SQL and configuration kept per namespace, edited in the UI and
//! copied into script tasks' working directories (`namespaceFiles`). Kestra's layout:
//!
//! ```text
//! kestra:///{namespace as path}/_files/{path}
//! ```
//!
//! A namespace file's path is what users write (`/scripts/etl.py` or `scripts/etl.py`): relative
//! to the namespace's `_files` folder, `/`-separated, with no `.`, `..` or empty segment, so it
//! can never name a file outside that folder. Folders exist only as the prefixes of files (an
//! object store has no empty folders).

use chrono::{DateTime, Utc};
use object_store::{ObjectStore, ObjectStoreExt};

use crate::{Error, Result, Storage, StorageUri};

/// The folder under a namespace's own folder that holds its namespace files.
const FILES_FOLDER: &str = "_files";

/// The namespace files of one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceFiles {
    namespace: String,
    /// `kestra:///{namespace as path}/_files`.
    folder: StorageUri,
}

impl NamespaceFiles {
    /// `company.team` keeps its files under `kestra:///company/team/_files`.
    pub fn new(namespace: &str) -> Result<NamespaceFiles> {
        let folder = StorageUri::from_segments(namespace.split('.').chain([FILES_FOLDER]))
            .map_err(|reason| Error::InvalidPath {
                path: namespace.to_owned(),
                reason: format!("not a namespace: {reason}"),
            })?;
        Ok(NamespaceFiles {
            namespace: namespace.to_owned(),
            folder,
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The folder holding every namespace file of the namespace.
    pub fn folder(&self) -> &StorageUri {
        &self.folder
    }

    /// The URI of the file (or folder) at `path`; `/` and the empty path are the namespace's
    /// root folder.
    pub fn uri(&self, path: &str) -> Result<StorageUri> {
        let relative = normalize(path)?;
        if relative.is_empty() {
            return Ok(self.folder.clone());
        }
        self.folder.join(&relative).map_err(|error| match error {
            Error::InvalidUri { reason, .. } => Error::InvalidPath {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })
    }

    /// The URI of the file at `path`, which must not be the root folder.
    pub fn file(&self, path: &str) -> Result<StorageUri> {
        if normalize(path)?.is_empty() {
            return Err(Error::InvalidPath {
                path: path.to_owned(),
                reason: "a file path is needed, not the root folder".to_owned(),
            });
        }
        self.uri(path)
    }

    /// `uri`'s path relative to the namespace's folder (`scripts/etl.py`), when it is inside.
    pub fn relative<'a>(&self, uri: &'a StorageUri) -> Option<&'a str> {
        uri.path()
            .strip_prefix(self.folder.path())
            .and_then(|rest| rest.strip_prefix('/'))
    }
}

/// `path` without its leading and trailing `/`, checked segment by segment.
fn normalize(path: &str) -> Result<String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    // Checked on its own so the message names the path the user gave, not a URI.
    StorageUri::from_segments(trimmed.split('/')).map_err(|reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    })?;
    Ok(trimmed.to_owned())
}

/// Whether a listed entry is a file or a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
}

/// One entry of a folder's listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderEntry {
    /// The last segment of its path.
    pub name: String,
    pub uri: StorageUri,
    pub kind: EntryKind,
    /// Bytes of a file; 0 for a folder.
    pub size: u64,
    /// When a file was last written; `None` for a folder.
    pub last_modified: Option<DateTime<Utc>>,
}

/// A file's size and modification time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedFile {
    pub uri: StorageUri,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

impl Storage {
    /// The folders and files directly inside `folder`, folders first, each group by name. A
    /// folder that holds nothing lists empty.
    pub async fn list_folder(&self, folder: &StorageUri) -> Result<Vec<FolderEntry>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&folder.object_path()))
            .await
            .map_err(|e| Error::store(folder, e))?;
        let mut entries = Vec::new();
        for prefix in &listing.common_prefixes {
            let uri = StorageUri::from_object_path(prefix)?;
            entries.push(FolderEntry {
                name: uri.file_name().to_owned(),
                uri,
                kind: EntryKind::Directory,
                size: 0,
                last_modified: None,
            });
        }
        let mut files = Vec::new();
        for meta in &listing.objects {
            let uri = StorageUri::from_object_path(&meta.location)?;
            files.push(FolderEntry {
                name: uri.file_name().to_owned(),
                uri,
                kind: EntryKind::File,
                size: meta.size,
                last_modified: Some(meta.last_modified),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        files.sort_by(|a, b| a.name.cmp(&b.name));
        entries.extend(files);
        Ok(entries)
    }

    /// The size and modification time of the file `uri`.
    pub async fn file_meta(&self, uri: &StorageUri) -> Result<ListedFile> {
        let meta = self
            .store
            .head(&uri.object_path())
            .await
            .map_err(|e| Error::store(uri, e))?;
        Ok(ListedFile {
            uri: uri.clone(),
            size: meta.size,
            last_modified: meta.last_modified,
        })
    }

    /// Deletes the file `uri`; a missing file is [`Error::NotFound`].
    pub async fn delete(&self, uri: &StorageUri) -> Result<()> {
        // The local store answers a delete of a missing file with success, so ask first.
        self.size(uri).await?;
        self.store
            .delete(&uri.object_path())
            .await
            .map_err(|e| Error::store(uri, e))
    }

    /// Moves the file `from` to `to`, replacing any file there.
    pub async fn rename(&self, from: &StorageUri, to: &StorageUri) -> Result<()> {
        self.store
            .rename(&from.object_path(), &to.object_path())
            .await
            .map_err(|e| Error::store(from, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_files_live_under_the_namespaces_files_folder() {
        let files = NamespaceFiles::new("company.team").unwrap();
        assert_eq!(files.folder().to_string(), "kestra:///company/team/_files");
        let uri = files.file("/scripts/etl.py").unwrap();
        assert_eq!(
            uri.to_string(),
            "kestra:///company/team/_files/scripts/etl.py"
        );
        assert_eq!(files.file("scripts/etl.py").unwrap(), uri);
        assert_eq!(files.relative(&uri), Some("scripts/etl.py"));
        assert_eq!(files.uri("/").unwrap(), *files.folder());
        assert_eq!(files.uri("").unwrap(), *files.folder());
    }

    #[test]
    fn paths_that_leave_the_folder_are_refused() {
        let files = NamespaceFiles::new("ns").unwrap();
        for bad in ["/../x", "a/../../b", "a//b", "./a", "a/\u{7}"] {
            let error = files.file(bad).unwrap_err().to_string();
            assert!(error.contains("namespace file path"), "{bad}: {error}");
        }
        assert!(files.file("/").is_err(), "the root is not a file");
        assert!(NamespaceFiles::new("a..b").is_err());
    }
}
