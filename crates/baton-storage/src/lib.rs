//! Baton's internal storage: the files tasks produce (`outputFiles`), FILE inputs uploaded with
//! an execution, and whatever else a flow keeps between tasks, named by Kestra's `kestra://`
//! URIs (see [`ExecutionFiles`] for the layout).
//!
//! [`Storage`] is a cheap handle over an [`object_store::ObjectStore`]. Today it is a local
//! directory (`baton server local` uses `<data-dir>/storage`; separate processes share one
//! directory given by `BATON_STORAGE`). S3-compatible stores fit behind the same handle through
//! object_store's `aws` feature; that is a follow-up (it pulls aws-lc-rs and needs an S3 server
//! to test against).
//!
//! Every transfer is streamed: a file goes up and comes down in chunks of at most
//! [`CHUNK_BYTES`], never whole in memory. A missing file is [`Error::NotFound`], which names
//! the URI.
//!
//! Invariant: workers reach storage, never the database; the webserver reaches both.

mod namespace;
mod uri;

use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use namespace::{EntryKind, FolderEntry, ListedFile, NamespaceFiles};
pub use uri::{ExecutionFiles, SCHEME, StorageUri};

/// The size of the pieces a transfer moves at once, and of the write buffer.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// How many chunks of one upload may be in flight at once.
const UPLOAD_CONCURRENCY: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("file {uri} not found in internal storage")]
    NotFound { uri: String },
    #[error("invalid internal storage URI '{uri}': {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("invalid namespace file path '{path}': {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("{uri} is {size} bytes, more than the {limit} bytes that can be read at once")]
    TooLarge { uri: String, size: u64, limit: u64 },
    #[error("{uri} is not UTF-8 text")]
    NotText { uri: String },
    #[error("internal storage location '{location}': {reason}")]
    Location { location: String, reason: String },
    #[error("{path}: {source}")]
    Local {
        path: String,
        source: std::io::Error,
    },
    #[error("internal storage, {uri}: {source}")]
    Store {
        uri: String,
        source: object_store::Error,
    },
    #[error("uploading {uri}: {reason}")]
    Upload { uri: String, reason: String },
}

impl Error {
    fn store(uri: &StorageUri, source: object_store::Error) -> Error {
        match source {
            object_store::Error::NotFound { .. } => Error::NotFound {
                uri: uri.to_string(),
            },
            source => Error::Store {
                uri: uri.to_string(),
                source,
            },
        }
    }

    fn local(path: &Path, source: std::io::Error) -> Error {
        Error::Local {
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A download in progress: the file's size, then its bytes in chunks.
pub struct Download {
    pub size: u64,
    pub chunks: BoxStream<'static, Result<Bytes>>,
}

/// A handle on internal storage. Cheap to clone; share it.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Where the files are, for messages.
    location: Arc<str>,
}

impl Storage {
    /// Files in a local directory, created if missing. Directories left empty by a delete are
    /// removed.
    pub fn local(root: impl AsRef<Path>) -> Result<Storage> {
        let root = root.as_ref();
        let location = |reason: String| Error::Location {
            location: root.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(root).map_err(|e| location(format!("cannot create it: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(root)
            .map_err(|e| location(e.to_string()))?
            .with_automatic_cleanup(true);
        Ok(Storage {
            store: Arc::new(store),
            location: root.display().to_string().into(),
        })
    }

    /// Storage from configuration: a directory path or a `file://` URL. Object-store URLs
    /// (`s3://…`) are refused with a clear error until they are supported.
    pub fn open(location: &str) -> Result<Storage> {
        if let Some(path) = location.strip_prefix("file://") {
            return Storage::local(path);
        }
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(Error::Location {
                location: location.to_owned(),
                reason: format!(
                    "{scheme}:// storage is not supported yet; give a directory shared by every \
                     process"
                ),
            });
        }
        if location.is_empty() {
            return Err(Error::Location {
                location: String::new(),
                reason: "empty".to_owned(),
            });
        }
        Storage::local(location)
    }

    /// Where the files are (a directory, for now).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Stores a stream of chunks under `uri` (replacing any file there); returns its size. When
    /// the stream fails, nothing is stored and the error names the URI.
    pub async fn put_stream<S, E>(&self, uri: &StorageUri, chunks: S) -> Result<u64>
    where
        S: futures_util::Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let mut writer =
            BufWriter::with_capacity(self.store.clone(), uri.object_path(), CHUNK_BYTES)
                .with_max_concurrency(UPLOAD_CONCURRENCY);
        let mut chunks = std::pin::pin!(chunks);
        let mut size = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(Error::Upload {
                        uri: uri.to_string(),
                        reason: error.to_string(),
                    });
                }
            };
            size += chunk.len() as u64;
            if let Err(error) = writer.put(chunk).await {
                let _ = writer.abort().await;
                return Err(Error::store(uri, error));
            }
        }
        writer.shutdown().await.map_err(|e| Error::Upload {
            uri: uri.to_string(),
            reason: e.to_string(),
        })?;
        Ok(size)
    }

    /// Stores a small value held in memory.
    pub async fn put_bytes(&self, uri: &StorageUri, bytes: impl Into<Bytes>) -> Result<()> {
        self.store
            .put(&uri.object_path(), bytes.into().into())
            .await
            .map_err(|e| Error::store(uri, e))?;
        Ok(())
    }

    /// Uploads a local file under `uri`, in chunks; returns its size.
    pub async fn put_file(&self, uri: &StorageUri, file: &Path) -> Result<u64> {
        let source = tokio::fs::File::open(file)
            .await
            .map_err(|e| Error::local(file, e))?;
        // One chunk per step; the file moves from step to step, `None` once it is done.
        let chunks = futures_util::stream::unfold(Some(source), |state| async move {
            let mut source = state?;
            let mut buffer = BytesMut::with_capacity(CHUNK_BYTES);
            while buffer.len() < CHUNK_BYTES {
                match source.read_buf(&mut buffer).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(error) => return Some((Err(error), None)),
                }
            }
            (!buffer.is_empty()).then(|| (Ok(buffer.freeze()), Some(source)))
        });
        self.put_stream(uri, chunks)
            .await
            .map_err(|error| match error {
                Error::Upload { uri, reason } => Error::Upload {
                    uri,
                    reason: format!("reading {}: {reason}", file.display()),
                },
                other => other,
            })
    }

    /// Starts downloading `uri`.
    pub async fn get_stream(&self, uri: &StorageUri) -> Result<Download> {
        let result = self
            .store
            .get(&uri.object_path())
            .await
            .map_err(|e| Error::store(uri, e))?;
        let size = result.meta.size;
        let owned = uri.clone();
        let chunks = result
            .into_stream()
            .map_err(move |e| Error::store(&owned, e))
            .boxed();
        Ok(Download { size, chunks })
    }

    /// Downloads `uri` into a local file (created or truncated); returns its size.
    pub async fn get_to_file(&self, uri: &StorageUri, destination: &Path) -> Result<u64> {
        let mut download = self.get_stream(uri).await?;
        let mut file = tokio::fs::File::create(destination)
            .await
            .map_err(|e| Error::local(destination, e))?;
        let mut written = 0u64;
        while let Some(chunk) = download.chunks.next().await {
            let chunk = chunk?;
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::local(destination, e))?;
            written += chunk.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| Error::local(destination, e))?;
        Ok(written)
    }

    /// The size of `uri` in bytes.
    pub async fn size(&self, uri: &StorageUri) -> Result<u64> {
        let meta = self
            .store
            .head(&uri.object_path())
            .await
            .map_err(|e| Error::store(uri, e))?;
        Ok(meta.size)
    }

    /// True when `uri` holds a file.
    pub async fn exists(&self, uri: &StorageUri) -> Result<bool> {
        match self.size(uri).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The whole of `uri` as text, refused when it is larger than `limit` bytes.
    pub async fn read_text(&self, uri: &StorageUri, limit: u64) -> Result<String> {
        let mut download = self.get_stream(uri).await?;
        if download.size > limit {
            return Err(Error::TooLarge {
                uri: uri.to_string(),
                size: download.size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(download.size).unwrap_or(0));
        while let Some(chunk) = download.chunks.next().await {
            bytes.extend_from_slice(&chunk?);
            if bytes.len() as u64 > limit {
                return Err(Error::TooLarge {
                    uri: uri.to_string(),
                    size: bytes.len() as u64,
                    limit,
                });
            }
        }
        String::from_utf8(bytes).map_err(|_| Error::NotText {
            uri: uri.to_string(),
        })
    }

    /// [`read_text`](Self::read_text) for synchronous callers (template functions such as
    /// `read()`). Inside a multi-threaded tokio runtime the calling thread is handed over while
    /// it waits; elsewhere the read runs on a short-lived thread of its own.
    pub fn read_text_blocking(&self, uri: &StorageUri, limit: u64) -> Result<String> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(self.read_text(uri, limit)))
            }
            _ => std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|e| Error::Location {
                                location: self.location.to_string(),
                                reason: format!("cannot start a runtime to read: {e}"),
                            })?;
                        runtime.block_on(self.read_text(uri, limit))
                    })
                    .join()
                    .unwrap_or_else(|_| {
                        Err(Error::Upload {
                            uri: uri.to_string(),
                            reason: "the reading thread panicked".to_owned(),
                        })
                    })
            }),
        }
    }

    /// Every file under `folder`, sorted.
    pub async fn list(&self, folder: &StorageUri) -> Result<Vec<StorageUri>> {
        let mut listed: Vec<StorageUri> = self
            .store
            .list(Some(&folder.object_path()))
            .map_err(|e| Error::store(folder, e))
            .and_then(|meta| async move { StorageUri::from_object_path(&meta.location) })
            .try_collect()
            .await?;
        listed.sort();
        Ok(listed)
    }

    /// Deletes every file under `folder` (an execution's files, for a purge); returns what was
    /// deleted, sorted. A missing folder deletes nothing.
    pub async fn delete_prefix(&self, folder: &StorageUri) -> Result<Vec<StorageUri>> {
        let files = self.list(folder).await?;
        for file in &files {
            match self.store.delete(&file.object_path()).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(Error::store(file, error)),
            }
        }
        Ok(files)
    }
}
