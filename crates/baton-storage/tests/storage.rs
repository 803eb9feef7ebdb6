//! What every storage backend must do, checked on a local directory in a temp dir.

use baton_storage::{Error, ExecutionFiles, Storage, StorageUri};
use bytes::Bytes;
use futures_util::StreamExt;

fn storage() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path().join("storage")).unwrap();
    (dir, storage)
}

fn uri(text: &str) -> StorageUri {
    StorageUri::parse(text).unwrap()
}

async fn read_all(storage: &Storage, uri: &StorageUri) -> Vec<u8> {
    let mut download = storage.get_stream(uri).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = download.chunks.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(bytes.len() as u64, download.size);
    bytes
}

#[tokio::test]
async fn a_streamed_file_comes_back_whole_with_its_size() {
    let (_dir, storage) = storage();
    let file = uri("kestra:///ns/flow/executions/e1/tasks/t/r/data.csv");
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..5)
        .map(|i| Ok(Bytes::from(format!("row {i}\n"))))
        .collect();
    let size = storage
        .put_stream(&file, futures_util::stream::iter(chunks))
        .await
        .unwrap();
    let expected = b"row 0\nrow 1\nrow 2\nrow 3\nrow 4\n";
    assert_eq!(size, expected.len() as u64);
    assert_eq!(storage.size(&file).await.unwrap(), size);
    assert_eq!(read_all(&storage, &file).await, expected);
    assert!(storage.exists(&file).await.unwrap());
}

#[tokio::test]
async fn local_files_go_up_and_come_down_byte_for_byte() {
    let (dir, storage) = storage();
    // More than one chunk, not a multiple of the chunk size, every byte value.
    let content: Vec<u8> = (0..(2 * baton_storage::CHUNK_BYTES + 12_345))
        .map(|i| (i % 251) as u8)
        .collect();
    let source = dir.path().join("source.bin");
    std::fs::write(&source, &content).unwrap();
    let file = uri("kestra:///ns/flow/executions/e1/inputs/file/source.bin");
    assert_eq!(
        storage.put_file(&file, &source).await.unwrap(),
        content.len() as u64
    );
    let copy = dir.path().join("copy.bin");
    assert_eq!(
        storage.get_to_file(&file, &copy).await.unwrap(),
        content.len() as u64
    );
    assert_eq!(std::fs::read(&copy).unwrap(), content);
}

#[tokio::test]
async fn a_missing_file_is_not_found_and_names_its_uri() {
    let (_dir, storage) = storage();
    let missing = uri("kestra:///ns/flow/executions/e1/tasks/t/r/nothing.csv");
    for error in [
        storage.get_stream(&missing).await.err().unwrap(),
        storage.size(&missing).await.unwrap_err(),
        storage.read_text(&missing, 10).await.unwrap_err(),
    ] {
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "file kestra:///ns/flow/executions/e1/tasks/t/r/nothing.csv not found in internal storage"
        );
    }
    assert!(!storage.exists(&missing).await.unwrap());
}

#[tokio::test]
async fn a_failing_stream_stores_nothing() {
    let (_dir, storage) = storage();
    let file = uri("kestra:///ns/f/executions/e/inputs/i/broken.txt");
    let chunks = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"half")),
        Err("the client went away"),
    ]);
    let error = storage.put_stream(&file, chunks).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "uploading kestra:///ns/f/executions/e/inputs/i/broken.txt: the client went away"
    );
    assert!(!storage.exists(&file).await.unwrap());
}

#[tokio::test]
async fn text_reads_are_capped() {
    let (_dir, storage) = storage();
    let file = uri("kestra:///ns/f/executions/e/tasks/t/r/note.txt");
    storage.put_bytes(&file, "hello, storage").await.unwrap();
    assert_eq!(
        storage.read_text(&file, 1024).await.unwrap(),
        "hello, storage"
    );
    let error = storage.read_text(&file, 5).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "kestra:///ns/f/executions/e/tasks/t/r/note.txt is 14 bytes, more than the 5 bytes that \
         can be read at once"
    );
    let binary = uri("kestra:///ns/f/executions/e/tasks/t/r/blob.bin");
    storage
        .put_bytes(&binary, vec![0xff, 0xfe, 0x00])
        .await
        .unwrap();
    assert!(matches!(
        storage.read_text(&binary, 1024).await,
        Err(Error::NotText { .. })
    ));
}

#[test]
fn blocking_reads_work_outside_and_inside_runtimes() {
    let (_dir, storage) = storage();
    let file = uri("kestra:///ns/f/executions/e/tasks/t/r/note.txt");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(storage.put_bytes(&file, "synchronous"))
        .unwrap();
    // No runtime at all.
    assert_eq!(
        storage.read_text_blocking(&file, 100).unwrap(),
        "synchronous"
    );
    // Inside a multi-threaded runtime's task.
    let inside = storage.clone();
    let read = runtime
        .block_on(async {
            let file = file.clone();
            tokio::spawn(async move { inside.read_text_blocking(&file, 100) }).await
        })
        .unwrap();
    assert_eq!(read.unwrap(), "synchronous");
    // Inside a current-thread runtime (as `#[tokio::test]` builds).
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let read = current.block_on(async { storage.read_text_blocking(&file, 100) });
    assert_eq!(read.unwrap(), "synchronous");
}

#[tokio::test]
async fn deleting_an_execution_removes_its_files_and_nothing_else() {
    let (dir, storage) = storage();
    let doomed = ExecutionFiles::new("company.team", "etl", "e1").unwrap();
    let kept = ExecutionFiles::new("company.team", "etl", "e10").unwrap();
    let files = [
        doomed.task_file("extract", "r1", "out/a.csv").unwrap(),
        doomed.task_file("extract", "r1", "b [1].csv").unwrap(),
        doomed.input_file("upload", "orders.csv").unwrap(),
    ];
    for file in &files {
        storage.put_bytes(file, "x").await.unwrap();
    }
    let survivor = kept.task_file("extract", "r2", "a.csv").unwrap();
    storage.put_bytes(&survivor, "y").await.unwrap();

    let mut expected = files.to_vec();
    expected.sort();
    assert_eq!(storage.list(doomed.folder()).await.unwrap(), expected);
    assert_eq!(
        storage.delete_prefix(doomed.folder()).await.unwrap(),
        expected
    );
    assert!(storage.list(doomed.folder()).await.unwrap().is_empty());
    assert!(storage.exists(&survivor).await.unwrap());
    // Nothing of the purged execution is left on disk, not even empty folders.
    assert!(
        !dir.path()
            .join("storage/company/team/etl/executions/e1")
            .exists()
    );
    // Deleting again (or a folder that never existed) deletes nothing.
    assert!(
        storage
            .delete_prefix(doomed.folder())
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn configuration_takes_a_directory_and_refuses_other_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared");
    let from_path = Storage::open(path.to_str().unwrap()).unwrap();
    assert!(path.is_dir());
    assert_eq!(from_path.location(), path.display().to_string());
    let from_url = Storage::open(&format!("file://{}", path.display())).unwrap();
    assert_eq!(from_url.location(), path.display().to_string());
    let error = Storage::open("s3://bucket/prefix").unwrap_err().to_string();
    assert!(
        error.contains("s3:// storage is not supported yet"),
        "{error}"
    );
}
