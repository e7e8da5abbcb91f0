//! The physical frame allocator, built from the bootloader's memory map.
//!
//! One bit per 4 KiB frame ([`klib::bitmap::FrameBitmap`]), so it can hand
//! out single frames as well as physically contiguous, aligned runs: DMA
//! buffers, and 2 MiB-aligned runs for huge pages.
//!
//! Frames below 1 MiB are never handed out: that memory is kept for
//! real-mode trampolines (starting other CPUs) and legacy devices.

use super::paging::phys_to_virt;
use super::PAGE_SIZE;
use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use klib::bitmap::FrameBitmap;
use spin::Mutex;
use x86_64::structures::paging::{FrameAllocator, PhysFrame, Size4KiB};
use x86_64::PhysAddr;

const LOW_MEMORY: u64 = 1024 * 1024;

struct Frames {
    bitmap: FrameBitmap<'static>,
    /// Bytes of RAM the firmware left to the OS (usable regions).
    usable: u64,
    /// Bytes the bootloader used for the kernel, page tables, boot info.
    bootloader: u64,
}

static FRAMES: Mutex<Option<Frames>> = Mutex::new(None);

/// Memory figures for `/mem`.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// RAM usable by the OS: what the firmware reported as free, plus what
    /// the bootloader took from it (kernel image, page tables, boot info).
    pub usable: u64,
    /// Of that, used by the bootloader.
    pub bootloader: u64,
    /// Free right now.
    pub free: u64,
}

pub fn init(regions: &MemoryRegions) {
    let usable = || {
        regions
            .iter()
            .filter(|r| r.kind == MemoryRegionKind::Usable)
            .map(|r| {
                (
                    r.start.next_multiple_of(PAGE_SIZE),
                    r.end / PAGE_SIZE * PAGE_SIZE,
                )
            })
            .filter(|(s, e)| e > s)
    };
    let top = usable().map(|(_, e)| e).max().expect("no usable memory");
    let frames = top / PAGE_SIZE;
    let words = FrameBitmap::words_for(frames);
    let bitmap_bytes = (words as u64 * 8).next_multiple_of(PAGE_SIZE);
    // The bitmap lives in the first usable region above 1 MiB that fits it.
    let (bitmap_start, _) = usable()
        .map(|(s, e)| (s.max(LOW_MEMORY), e))
        .find(|(s, e)| e.saturating_sub(*s) >= bitmap_bytes)
        .expect("no room for the frame bitmap");
    // SAFETY: that memory is usable RAM, reserved for the bitmap below and
    // reached through the physical-memory mapping; nothing else uses it.
    let storage = unsafe {
        core::slice::from_raw_parts_mut(
            phys_to_virt(PhysAddr::new(bitmap_start)).as_mut_ptr::<u64>(),
            words,
        )
    };
    let mut bitmap = FrameBitmap::new(storage, frames);
    let mut total = 0;
    for (s, e) in usable() {
        total += e - s;
        bitmap.set_free(s / PAGE_SIZE, (e - s) / PAGE_SIZE);
    }
    bitmap.set_used(0, LOW_MEMORY / PAGE_SIZE);
    bitmap.set_used(bitmap_start / PAGE_SIZE, bitmap_bytes / PAGE_SIZE);
    let bootloader = regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Bootloader)
        .map(|r| r.end - r.start)
        .sum();
    *FRAMES.lock() = Some(Frames {
        bitmap,
        usable: total,
        bootloader,
    });
}

fn with<R>(f: impl FnOnce(&mut Frames) -> R) -> R {
    f(FRAMES
        .lock()
        .as_mut()
        .expect("frame allocator not initialised"))
}

/// One free frame (contents undefined).
pub fn alloc() -> Option<PhysFrame> {
    with(|f| f.bitmap.alloc_one())
        .map(|n| PhysFrame::containing_address(PhysAddr::new(n * PAGE_SIZE)))
}

/// `count` physically contiguous frames starting at a multiple of
/// `align_bytes` (a power of two >= 4096). For DMA buffers and huge pages
/// (`align_bytes` = 2 MiB). Contents undefined.
pub fn alloc_contiguous(count: u64, align_bytes: u64) -> Option<PhysAddr> {
    let align = (align_bytes / PAGE_SIZE).max(1);
    with(|f| f.bitmap.alloc_run(count, align)).map(|n| PhysAddr::new(n * PAGE_SIZE))
}

/// Gives back `count` frames starting at `start` (from `alloc` or
/// `alloc_contiguous`).
pub fn free(start: PhysAddr, count: u64) {
    with(|f| f.bitmap.free_run(start.as_u64() / PAGE_SIZE, count));
}

/// Physically contiguous frames owned by one user and seen as bytes through
/// the physical-memory mapping; freed when dropped.
pub struct Buffer {
    phys: PhysAddr,
    len: usize,
}

impl Buffer {
    /// `len` bytes (rounded up to whole frames), contents undefined.
    pub fn alloc(len: usize) -> Option<Buffer> {
        let phys = alloc_contiguous((len as u64).div_ceil(PAGE_SIZE), PAGE_SIZE)?;
        Some(Buffer { phys, len })
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let virt = phys_to_virt(self.phys);
        // SAFETY: the frames belong to this buffer alone until it is
        // dropped, and the physical-memory mapping covers all RAM.
        unsafe { core::slice::from_raw_parts_mut(virt.as_mut_ptr::<u8>(), self.len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        free(self.phys, (self.len as u64).div_ceil(PAGE_SIZE));
    }
}

/// Like [`alloc_contiguous`], but gives up instead of waiting if the
/// allocator is busy: for the page-fault path, which must never deadlock.
pub fn try_alloc_contiguous(count: u64, align_bytes: u64) -> Option<PhysAddr> {
    let align = (align_bytes / PAGE_SIZE).max(1);
    let mut guard = FRAMES.try_lock()?;
    let f = guard.as_mut()?;
    f.bitmap
        .alloc_run(count, align)
        .map(|n| PhysAddr::new(n * PAGE_SIZE))
}

/// Free memory in bytes, or `None` if the allocator is busy (for the
/// fatal-error path, which must not wait for a lock).
pub fn try_free_bytes() -> Option<u64> {
    let guard = FRAMES.try_lock()?;
    Some(guard.as_ref()?.bitmap.free_frames() * PAGE_SIZE)
}

pub fn stats() -> Stats {
    with(|f| Stats {
        usable: f.usable + f.bootloader,
        bootloader: f.bootloader,
        free: f.bitmap.free_frames() * PAGE_SIZE,
    })
}

/// The frame source for the `x86_64` crate's page-table code.
pub struct GlobalFrames;

// SAFETY: `alloc` hands out each free frame once.
unsafe impl FrameAllocator<Size4KiB> for GlobalFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        alloc()
    }
}

/// Whether the frame allocator's lock is held (the scheduler does not
/// preempt then: `task::sched`).
pub fn lock_held() -> bool {
    FRAMES.is_locked()
}
