//! Memory management: physical frames, page tables, the kernel's virtual
//! address space, the heap, lazily-backed regions and the boot ramdisk.
//!
//! Lock order: `paging` before `frame` (mapping allocates page-table
//! frames). Interrupt handlers take none of these locks, except the page
//! fault handler serving a lazy region, which only tries them.

pub mod frame;
pub mod heap;
pub mod lazy;
pub mod paging;
pub mod ramdisk;
pub mod vspace;

use bootloader_api::info::MemoryRegions;
use x86_64::VirtAddr;

pub const PAGE_SIZE: u64 = 4096;
pub const HUGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;

/// Whether one of the memory manager's locks is held (the scheduler does
/// not preempt then: `task::sched`).
pub fn lock_held() -> bool {
    heap::lock_held() || frame::lock_held() || paging::lock_held() || lazy::lock_held()
}

/// Brings up frames, page tables, the virtual-space allocator and the heap.
pub fn init(regions: &MemoryRegions, physical_memory_offset: VirtAddr) {
    paging::init(physical_memory_offset);
    paging::set_direct_limit(regions.iter().map(|r| r.end).max().unwrap_or(0));
    frame::init(regions);
    vspace::init();
    heap::init();
}
