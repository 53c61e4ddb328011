//! Giving memory the process freed back to the operating system.
//!
//! glibc's allocator keeps freed memory in its arenas (one per thread that allocates, up to
//! eight per core) for reuse. Ingest frees large request buffers on many threads, so without
//! help the server holds on to more memory than it uses: measured on the benchmark workload,
//! 10–90 MB of 200–300 MB resident, depending on how fragmented the heap is. `malloc_trim`
//! hands the free pages of every arena back, but holds each arena's lock while it walks it:
//! once a second cost about 6% of ingest throughput there, every ten seconds about 1–2%, for
//! the same resident size.

use std::time::Duration;

/// Starts a background thread that returns freed memory to the OS every `interval`, for as
/// long as the process runs. Does nothing where the allocator is not glibc's.
pub fn release_freed_memory_every(interval: Duration) {
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        std::thread::Builder::new()
            .name("argus-memory-release".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    release_freed_memory();
                }
            })
            .expect("spawning the memory release thread");
    }
}

/// Makes every thread allocate from one glibc arena. Each thread otherwise gets an arena of
/// its own, and a process whose buffers move between threads (the agent: read on one, encoded
/// on another, sent from a third) keeps freed memory stranded in all of them: measured on
/// `argus bench agent-tail`, 52–62 MiB resident with the default, 21 MiB with one arena, at
/// about 5% less throughput. Call it before any thread starts.
pub fn use_one_allocator_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists; any thread may
    // call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}
