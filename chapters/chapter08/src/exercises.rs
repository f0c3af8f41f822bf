//! Solutions to the exercises at the end of chapter 8.

use gpt2::bench::matmul_gflops;

// ANCHOR: threads
/// Exercise 1: the matrix multiply's GFLOP/s for [m, k]·[k, n] on one thread, and on all of
/// rayon's threads. (Inside a rayon task, `matmul` stays on the calling thread: the other
/// threads are busy with the other tasks. A pool of one thread is such a task.)
pub fn one_thread_and_all(m: usize, k: usize, n: usize) -> [(usize, f64); 2] {
    [
        (1, one_thread_pool().install(|| matmul_gflops(m, k, n, 5))),
        (rayon::current_num_threads(), matmul_gflops(m, k, n, 5)),
    ]
}

/// A rayon pool of one thread: whatever runs in it runs on one core.
pub fn one_thread_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool")
}
// ANCHOR_END: threads
