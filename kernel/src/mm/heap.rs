//! The kernel heap: `linked_list_allocator` over a large reserved virtual
//! range, mapped on demand. When an allocation does not fit, the heap maps
//! more memory at its top (2 MiB pages where possible) and retries, so it
//! can grow to whatever physical memory allows (KV caches, scratch
//! buffers).

use super::paging::{self, Access};
use super::{vspace, HUGE_PAGE_SIZE};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
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
    /// Maps enough at the top of the heap for `layout` to fit.
    fn grow(&mut self, layout: Layout) -> bool {
        // Room for the block, its alignment and the allocator's bookkeeping;
        // at least a quarter of the current size, to keep growth rare.
        let need = (layout.size() + layout.align() + 64) as u64;
        let chunk = need.max(self.mapped / 4).next_multiple_of(HUGE_PAGE_SIZE);
        if self.mapped + chunk > RESERVE {
            return false;
        }
        let top = self.start + self.mapped;
        if paging::map_fresh(x86_64::VirtAddr::new(top), chunk, Access::ReadWrite).is_err() {
            return false;
        }
        // SAFETY: the memory right above the heap's top was just mapped.
        unsafe { self.heap.extend(chunk as usize) };
        self.mapped += chunk;
        self.grows += 1;
        true
    }
}

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

/// Whether the heap's lock is held (the scheduler does not preempt then:
/// `task::sched`).
pub fn lock_held() -> bool {
    HEAP.0.is_locked()
}
