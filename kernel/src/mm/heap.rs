//! The kernel heap: `linked_list_allocator` over a large reserved virtual
//! range, mapped on demand. When an allocation does not fit, the heap maps
//! more memory at its top (2 MiB pages where possible) and retries, so it
//! can grow to whatever physical memory allows (KV caches, scratch
//! buffers).
//!
//! Running out of memory: an infallible allocation that fails ends in the
//! panic handler, which reports it as such ([`take_failure`]) and stops the
//! machine (there is no unwinding, and abandoning the code that asked, with
//! its locks held, would be worse). So the code whose memory depends on its
//! input (a file's size, a size typed in a command, a header read from a
//! disk) asks with [`try_zeroed`] / [`try_vec`] instead, and reports an
//! [`OutOfMemory`] as a one-line error: "out of memory: needs N, M free".

use super::paging::{self, Access};
use super::{frame, vspace, HUGE_PAGE_SIZE};
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use klib::units::Bytes;
use linked_list_allocator::Heap;
use spin::Mutex;

/// Virtual space reserved for the heap (only what is used gets mapped).
pub const RESERVE: u64 = 1 << 40; // 1 TiB
/// Mapped at boot.
pub const INITIAL: u64 = 4 * 1024 * 1024;

struct State {
    heap: Heap,
    start: u64,
    mapped: u64,
    grows: u64,
}

pub struct GrowingHeap(Mutex<Option<State>>);

#[global_allocator]
static HEAP: GrowingHeap = GrowingHeap(Mutex::new(None));

pub fn init() {
    let start = vspace::reserve(RESERVE, HUGE_PAGE_SIZE);
    paging::map_fresh(start, INITIAL, Access::ReadWrite).expect("no memory for the initial heap");
    let mut heap = Heap::empty();
    // SAFETY: [start, start + INITIAL) was just mapped and is used by
    // nothing else.
    unsafe { heap.init(start.as_mut_ptr(), INITIAL as usize) };
    *HEAP.0.lock() = Some(State {
        heap,
        start: start.as_u64(),
        mapped: INITIAL,
        grows: 0,
    });
}

impl State {
    /// Maps more memory at the top of the heap for `layout` to fit: a
    /// quarter of the current size at least (to keep growth rare), or, when
    /// that much is not free, just what the block needs. A chunk larger than
    /// the free memory is not tried (a request that cannot fit must not
    /// take every free frame into the heap, where the rest of the kernel
    /// cannot get them back). If mapping stops short anyway (page tables),
    /// what got mapped is kept. Returns whether the heap grew (the caller
    /// retries until the block fits or nothing more maps).
    fn grow(&mut self, layout: Layout) -> bool {
        // Room for the block, its alignment and the allocator's bookkeeping.
        let need = (layout.size() as u64)
            .saturating_add(layout.align() as u64 + 64)
            .next_multiple_of(HUGE_PAGE_SIZE);
        let generous = need.max((self.mapped / 4).next_multiple_of(HUGE_PAGE_SIZE));
        for chunk in [generous, need] {
            if self.mapped.saturating_add(chunk) > RESERVE || frame::stats().free < chunk {
                continue;
            }
            let top = x86_64::VirtAddr::new(self.start + self.mapped);
            let (mapped, result) = paging::map_fresh_prefix(top, chunk, Access::ReadWrite);
            if mapped > 0 {
                // SAFETY: the memory right above the heap's top was just
                // mapped.
                unsafe { self.heap.extend(mapped as usize) };
                self.mapped += mapped;
                self.grows += 1;
                return true;
            }
            if result.is_ok() {
                return true;
            }
        }
        false
    }
}

/// The size of the last allocation the heap could not make (0: none since
/// it was last taken).
static FAILED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: all heap state is behind the mutex; blocks come from the linked
// list allocator over memory that stays mapped.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut guard = self.0.lock();
        let Some(st) = guard.as_mut() else {
            return ptr::null_mut();
        };
        loop {
            if let Ok(p) = st.heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
            if !st.grow(layout) {
                FAILED.store(layout.size().max(1), Ordering::Relaxed);
                return ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if let (Some(st), Some(p)) = (self.0.lock().as_mut(), NonNull::new(p)) {
            // SAFETY: `p` was returned by `alloc` with this layout.
            unsafe { st.heap.deallocate(p, layout) };
        }
    }
}

/// Heap figures for `/mem`.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub used: u64,
    pub mapped: u64,
    pub grows: u64,
}

pub fn stats() -> Stats {
    let guard = HEAP.0.lock();
    let st = guard.as_ref().expect("heap not initialised");
    Stats {
        used: st.heap.used() as u64,
        mapped: st.mapped,
        grows: st.grows,
    }
}

/// Bytes the heap can still hand out: what is free inside it and the free
/// memory it can map (fragmentation may make the largest block smaller).
pub fn available() -> u64 {
    let inside = HEAP.0.lock().as_ref().map_or(0, |st| st.heap.free() as u64);
    inside + frame::stats().free
}

/// An allocation that did not fit in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    pub needed: u64,
    pub available: u64,
}

impl OutOfMemory {
    /// A failure to allocate `needed` bytes, with what is free now.
    pub fn of(needed: u64) -> OutOfMemory {
        FAILED.store(0, Ordering::Relaxed);
        OutOfMemory {
            needed,
            available: available(),
        }
    }
}

impl core::fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "out of memory: needs {}, {} free",
            Bytes(self.needed),
            Bytes(self.available)
        )
    }
}

/// An empty vector with room for `n` elements, or [`OutOfMemory`].
pub fn try_vec<T>(n: usize) -> Result<Vec<T>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| OutOfMemory::of((n as u64).saturating_mul(size_of::<T>() as u64)))?;
    Ok(v)
}

/// `n` zero bytes, or [`OutOfMemory`].
pub fn try_zeroed(n: usize) -> Result<Vec<u8>, OutOfMemory> {
    let mut v = try_vec(n)?;
    v.resize(n, 0);
    Ok(v)
}

/// Self-test: allocates `bytes` and writes then reads back one byte every
/// `stride` bytes (so a huge block is checked without touching all of it,
/// which is slow under TCG). `Err(offset)` at the first wrong byte.
pub fn check_sparse_block(bytes: usize, stride: usize) -> Result<(), usize> {
    let mut block: Vec<u8> = Vec::with_capacity(bytes);
    let base = block.as_mut_ptr();
    for (n, off) in (0..bytes).step_by(stride).enumerate() {
        // SAFETY: within the capacity just allocated.
        unsafe { base.add(off).write(n as u8) };
    }
    for (n, off) in (0..bytes).step_by(stride).enumerate() {
        // SAFETY: written just above.
        if unsafe { base.add(off).read() } != n as u8 {
            return Err(off);
        }
    }
    Ok(())
}

/// Self-test: whether a `3 * align`-byte block aligned to `align` (a power
/// of two) can be allocated, comes back aligned, and is freed.
pub fn check_alignment(align: usize) -> bool {
    let Ok(layout) = Layout::from_size_align(3 * align, align) else {
        return false;
    };
    // SAFETY: a non-zero-sized layout; freed right below.
    let p = unsafe { alloc::alloc::alloc(layout) };
    if p.is_null() {
        return false;
    }
    // SAFETY: allocated above with this layout.
    unsafe { alloc::alloc::dealloc(p, layout) };
    (p as usize).is_multiple_of(align)
}

/// For the panic handler: the size of the allocation whose failure caused
/// the panic (if one failed since the last [`OutOfMemory`]), and the heap's
/// figures when its locks are free (the failing code may hold them).
pub fn take_failure() -> Option<(usize, Option<(Stats, u64)>)> {
    let size = FAILED.swap(0, Ordering::Relaxed);
    if size == 0 {
        return None;
    }
    let figures = HEAP.0.try_lock().and_then(|g| {
        let st = g.as_ref()?;
        let stats = Stats {
            used: st.heap.used() as u64,
            mapped: st.mapped,
            grows: st.grows,
        };
        Some((stats, frame::try_free_bytes()?))
    });
    Some((size, figures))
}

/// Whether the heap's lock is held (the scheduler does not preempt then:
/// `task::sched`).
pub fn lock_held() -> bool {
    HEAP.0.is_locked()
}
