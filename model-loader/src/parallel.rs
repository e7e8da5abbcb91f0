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
//! host with threads ([`ThreadTeam`], `std` only), and [`Serial`] is the
//! one-worker team.
//!
//! # Splitting work
//! [`ChunkQueue`] hands out disjoint chunks of a mutable slice, each exactly
//! once, to whichever worker asks first (llama.cpp's chunked scheduling:
//! a shared counter, so a worker slowed by another process does not hold
//! up the others). Chunk boundaries depend only on the problem (never on
//! the number of workers), so every output element is computed by the same
//! kernel call whatever the team: results are bit-identical for any worker
//! count.

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

/// The one-worker team, as a `'static` reference (the default team of a
/// session).
pub static SERIAL: Serial = Serial;

#[cfg(feature = "std")]
mod threads;
#[cfg(feature = "std")]
pub use threads::ThreadTeam;

use core::marker::PhantomData;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A mutable slice cut into chunks of `chunk` elements (the last may be
/// shorter) that workers claim one at a time: every chunk is handed out
/// exactly once, so the `&mut` slices returned never overlap.
pub struct ChunkQueue<'a, T> {
    ptr: *mut T,
    len: usize,
    chunk: usize,
    next: AtomicUsize,
    _slice: PhantomData<&'a mut [T]>,
}

// SAFETY: a `ChunkQueue` gives each chunk (a disjoint `&mut [T]`) to
// exactly one caller, like `chunks_mut` spread over threads; sharing it
// only requires that `T` may be sent to another thread.
unsafe impl<T: Send> Sync for ChunkQueue<'_, T> {}
// SAFETY: as above; moving the queue moves the exclusive borrow.
unsafe impl<T: Send> Send for ChunkQueue<'_, T> {}

impl<'a, T> ChunkQueue<'a, T> {
    /// `slice` in chunks of `chunk` elements (`chunk >= 1`).
    pub fn new(slice: &'a mut [T], chunk: usize) -> Self {
        ChunkQueue {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
            chunk: chunk.max(1),
            next: AtomicUsize::new(0),
            _slice: PhantomData,
        }
    }

    /// How many chunks there are.
    pub fn n_chunks(&self) -> usize {
        self.len.div_ceil(self.chunk)
    }

    /// The next unclaimed chunk: its index and its elements (chunk `i`
    /// starts at element `i * chunk`), or `None` once all are taken.
    pub fn claim(&self) -> Option<(usize, &'a mut [T])> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.n_chunks() {
            // Keep the counter from wrapping however often it is polled.
            self.next.store(self.n_chunks(), Ordering::Relaxed);
            return None;
        }
        let start = i * self.chunk;
        let end = (start + self.chunk).min(self.len);
        // SAFETY: `fetch_add` returns each index once, so chunk `i` (the
        // elements `start..end`, inside the slice borrowed for `'a`) is
        // handed out once and overlaps no other chunk.
        let part = unsafe { core::slice::from_raw_parts_mut(self.ptr.add(start), end - start) };
        Some((i, part))
    }
}

/// Runs `f(chunk index, chunk)` for every chunk of `slice` (chunks of
/// `chunk` elements) on `team`'s workers, each chunk on one worker.
pub fn for_each_chunk<T: Send>(
    team: &dyn Team,
    slice: &mut [T],
    chunk: usize,
    f: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    for_each_chunk_of(team, [slice], [chunk], &|_, i, part| f(i, part));
}

/// [`for_each_chunk`] over `N` slices in one team run (one fork-join):
/// `f(slice index, chunk index, chunk)` runs for every chunk of every
/// slice (slice `j` in chunks of `chunks[j]` elements), each chunk on one
/// worker. Workers take the chunks of slice 0 first, then of slice 1, and
/// so on. Returns whether the team ran (false: everything ran on the caller).
pub fn for_each_chunk_of<T: Send, const N: usize>(
    team: &dyn Team,
    slices: [&mut [T]; N],
    chunks: [usize; N],
    f: &(dyn Fn(usize, usize, &mut [T]) + Sync),
) -> bool {
    let mut it = chunks.into_iter();
    let queues = slices.map(|s| ChunkQueue::new(s, it.next().unwrap_or(1)));
    let drain = || {
        for (j, q) in queues.iter().enumerate() {
            while let Some((i, part)) = q.claim() {
                f(j, i, part);
            }
        }
    };
    let total: usize = queues.iter().map(ChunkQueue::n_chunks).sum();
    if team.workers() <= 1 || total <= 1 {
        drain();
        return false;
    }
    team.run(&|_| drain());
    true
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

    #[test]
    fn chunks_cover_the_slice_once() {
        let mut v = [0u32; 103];
        for_each_chunk(&SERIAL, &mut v, 10, &|i, part| {
            assert!(part.len() == 10 || (i == 10 && part.len() == 3));
            for x in part.iter_mut() {
                *x += 1 + i as u32;
            }
        });
        for (j, &x) in v.iter().enumerate() {
            assert_eq!(x, 1 + (j / 10) as u32);
        }
        let (mut a, mut b) = ([0u32; 7], [0u32; 40]);
        let ran = for_each_chunk_of(&SERIAL, [&mut a[..], &mut b[..]], [2, 16], &|j, i, part| {
            for x in part.iter_mut() {
                *x = (j * 100 + i) as u32;
            }
        });
        assert!(!ran);
        assert_eq!(a, [0, 0, 1, 1, 2, 2, 3]);
        assert!(b
            .iter()
            .enumerate()
            .all(|(k, &x)| x == 100 + (k / 16) as u32));
        let q = ChunkQueue::new(&mut v[..0], 4);
        assert!(q.claim().is_none());
        assert!(q.claim().is_none());
    }
}
