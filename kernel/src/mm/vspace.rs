//! The kernel's own virtual address space: the higher half (level-4 slots
//! 256..512), which the bootloader leaves empty. Regions are handed out by
//! a bump pointer and never returned — heap, stacks, MMIO windows, lazily
//! backed regions.

use super::paging;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;

const SLOT_SIZE: u64 = 1 << 39; // 512 GiB per level-4 entry

static NEXT: AtomicU64 = AtomicU64::new(0);
static END: AtomicU64 = AtomicU64::new(0);

/// Picks the longest run of unused higher-half level-4 slots.
pub fn init() {
    let (mut best, mut best_len, mut run_start, mut run_len) = (0, 0, 0, 0);
    for i in 256..512 {
        if paging::level4_entry_used(i) {
            run_len = 0;
        } else {
            if run_len == 0 {
                run_start = i;
            }
            run_len += 1;
            if run_len > best_len {
                best = run_start;
                best_len = run_len;
            }
        }
    }
    // Leave the topmost slot alone so that `start + size` never wraps.
    if best + best_len == 512 {
        best_len -= 1;
    }
    assert!(
        best_len >= 8,
        "less than 4 TiB of free kernel address space"
    );
    let start = VirtAddr::new_truncate(best as u64 * SLOT_SIZE).as_u64();
    NEXT.store(start, Ordering::SeqCst);
    END.store(start + best_len as u64 * SLOT_SIZE, Ordering::SeqCst);
}

/// Reserves `size` bytes of virtual address space aligned to `align` (a
/// power of two). Nothing is mapped.
pub fn reserve(size: u64, align: u64) -> VirtAddr {
    let mut cur = NEXT.load(Ordering::SeqCst);
    loop {
        let start = cur.next_multiple_of(align);
        let end = start.checked_add(size).expect("virtual address overflow");
        assert!(
            end <= END.load(Ordering::SeqCst),
            "kernel virtual address space exhausted"
        );
        match NEXT.compare_exchange(cur, end, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return VirtAddr::new(start),
            Err(now) => cur = now,
        }
    }
}
