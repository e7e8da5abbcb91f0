//! Fork-join parallelism for the decoder's matrix work.
//!
//! A [`Team`] is a fixed set of workers (one per CPU in the kernel, one per
//! thread on the host) that run the same job together and return when all
//! have finished. The decoder splits each matrix product into row chunks
//! and hands them out to the workers; every output row is computed by
//! exactly one worker with the same kernel, so results are bit-identical
//! for any number of workers.
//!
//! The engine only sees this trait: the kernel implements it with pinned
//! workers on its application processors (spin-then-halt barriers), the
//! host with threads, and [`Serial`] is the one-worker team.

/// A fork-join team of workers.
pub trait Team: Sync {
    /// How many workers run a job (at least 1, counting the caller).
    fn workers(&self) -> usize;

    /// Runs `job(i)` once for every worker index `i` in `0..workers()`, with
    /// `i = 0` on the calling thread, and returns when every call has
    /// returned. Calls may run concurrently; `job` must not assume an order.
    fn run(&self, job: &(dyn Fn(usize) + Sync));
}

/// The team of one: runs the job on the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serial;

impl Team for Serial {
    fn workers(&self) -> usize {
        1
    }

    fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        job(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn serial_runs_worker_zero_once() {
        let calls = AtomicUsize::new(0);
        Serial.run(&|i| {
            assert_eq!(i, 0);
            calls.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(Serial.workers(), 1);
    }
}
