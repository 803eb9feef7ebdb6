//! Gives the heap that a burst of work freed back to the system.
//!
//! glibc's allocator keeps freed memory in its arenas for reuse and returns little of it on its
//! own: after 2,000 executions a webserver held ~8 MB more than when it started, and would hold
//! it through hours of idling. Every few seconds this reads how much of the heap is free
//! (`mallinfo2`) and, past a threshold, has `malloc_trim` return the free pages. A trim during
//! work costs little (it runs on a blocking thread and locks one arena at a time) and what it
//! returns is allocated again if needed.

use std::time::Duration;

/// How often the free heap is looked at.
const PERIOD: Duration = Duration::from_secs(5);
/// Free heap bytes worth a trim.
const THRESHOLD: usize = 2 * 1024 * 1024;

/// Runs for the life of the process.
pub async fn trim_when_idle() {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if free_heap() >= THRESHOLD {
            // It walks every arena: off the runtime's threads.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn free_heap() -> usize {
    // SAFETY: mallinfo2 takes no arguments and only reads the allocator's statistics under its
    // own locks; glibc ≥ 2.33 has it (Debian bookworm ships 2.36).
    let info = unsafe { libc::mallinfo2() };
    info.fordblks
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas, under their
    // locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl's, macOS') are not trimmed.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn free_heap() -> usize {
    0
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    fn anonymous_rss_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("RssAnon:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn a_trim_gives_freed_heap_back() {
        // ~20 MB in small blocks, one in a hundred kept: the heap cannot shrink from its top,
        // and what was freed stays resident until trimmed.
        let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter().step_by(100).cloned().collect();
        drop(blocks);
        assert!(free_heap() >= THRESHOLD, "{} bytes free", free_heap());
        let before = anonymous_rss_kb();
        trim();
        let after = anonymous_rss_kb();
        assert!(
            after + 10 * 1024 <= before,
            "anonymous RSS {before} kB before the trim, {after} kB after"
        );
        assert_eq!(kept.len(), 200);
    }
}
