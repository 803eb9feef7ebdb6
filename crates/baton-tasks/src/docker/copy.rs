//! The working directory into and out of a container, through the Engine API's archive
//! endpoints (never a bind mount): packed before the upload, spooled to a temporary file beside
//! the directory on the way back.

use std::fs::File;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::TryStreamExt;
use tokio::io::AsyncWriteExt;

use super::archive;

/// The working directory packed for the upload; `None` when it is empty (nothing to send, so
/// no upload: the engine's extraction costs a process start on the Docker host).
pub(super) async fn pack(dir: &Path) -> Result<Option<File>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot archive the working directory: {e}");
    let source = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let empty = std::fs::read_dir(&source)
            .map_err(|e| failed(&e))?
            .next()
            .is_none();
        if empty {
            return Ok(None);
        }
        archive::pack(&source, spool_file(&source)?)
            .map(Some)
            .map_err(|e| failed(&e))
    })
    .await
    .map_err(|e| failed(&e))?
}

/// Extracts the packed working directory at `/` in the (created, not yet started) container.
pub(super) async fn upload(client: &Docker, id: &str, archive: File) -> Result<(), String> {
    let body = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(archive));
    let options = UploadToContainerOptions {
        path: "/".to_owned(),
        ..UploadToContainerOptions::default()
    };
    client
        .upload_to_container(id, Some(options), bollard::body_try_stream(body))
        .await
        .map_err(|e| format!("cannot copy the working directory into the container: {e}"))
}

/// Copies the container's working directory back over the host's.
pub(super) async fn download(client: &Docker, id: &str, dir: &Path) -> Result<(), String> {
    let options = DownloadFromContainerOptions {
        path: dir.display().to_string(),
    };
    let failed = |e: &dyn std::fmt::Display| {
        format!("cannot copy the working directory out of the container: {e}")
    };
    let spool = spool_file(dir)?;
    let mut file = tokio::fs::File::from_std(spool);
    let mut archive = client
        .download_from_container(id, Some(options))
        .map_err(|e| failed(&e));
    while let Some(chunk) = archive.try_next().await? {
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
    }
    file.flush().await.map_err(|e| failed(&e))?;
    let mut file = file.into_std().await;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0)).map_err(|e| failed(&e))?;
    let dest: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || archive::unpack(file, &dest))
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))
}

/// An unnamed temporary file beside the working directory (same disk, removed on close).
fn spool_file(dir: &Path) -> Result<File, String> {
    let parent = dir.parent().unwrap_or(dir);
    tempfile::tempfile_in(parent).map_err(|e| format!("cannot create a temporary file: {e}"))
}
