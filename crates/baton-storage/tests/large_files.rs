//! A file far larger than any buffer goes up and comes down without the process holding it.
//! Alone in its test binary, so the process's peak memory is this test's (nextest also runs
//! every test in a process of its own).

use baton_storage::{Storage, StorageUri};

/// The file: large enough that holding it would show, small enough for a shared machine.
const FILE_BYTES: u64 = 256 * 1024 * 1024;
/// How much the peak resident memory may grow while the file goes through.
const MAX_GROWTH_BYTES: u64 = 32 * 1024 * 1024;

/// The process's peak resident set size (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarter_gigabyte_streams_through_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::local(dir.path().join("storage")).unwrap();
    // A sparse file: reading it costs no disk, and its size is what matters here.
    let source = dir.path().join("big.bin");
    std::fs::File::create(&source)
        .unwrap()
        .set_len(FILE_BYTES)
        .unwrap();
    let file = StorageUri::parse("kestra:///ns/f/executions/e/tasks/t/r/big.bin").unwrap();
    let before = peak_rss();

    assert_eq!(storage.put_file(&file, &source).await.unwrap(), FILE_BYTES);
    assert_eq!(storage.size(&file).await.unwrap(), FILE_BYTES);
    std::fs::remove_file(&source).unwrap();
    let copy = dir.path().join("copy.bin");
    assert_eq!(storage.get_to_file(&file, &copy).await.unwrap(), FILE_BYTES);
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), FILE_BYTES);

    let growth = peak_rss().saturating_sub(before);
    assert!(
        growth < MAX_GROWTH_BYTES,
        "peak memory grew by {} MiB moving a {} MiB file",
        growth / (1024 * 1024),
        FILE_BYTES / (1024 * 1024)
    );
}
