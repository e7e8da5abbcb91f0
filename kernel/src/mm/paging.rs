//! Page tables (through the `x86_64` crate's `OffsetPageTable`), the
//! physical-memory window, and mapping helpers: fresh memory, large
//! physically contiguous regions (2 MiB pages wherever alignment allows),
//! and device memory (MMIO) anywhere in the physical address space.
//!
//! The bootloader maps all RAM and at least the low 4 GiB at a fixed offset
//! ([`phys_to_virt`]); MMIO above that (e.g. 64-bit PCI BARs, which OVMF
//! places near 0xe0_0000_0000) must go through [`map_mmio`].

use super::frame::{self, GlobalFrames};
use super::{vspace, HUGE_PAGE_SIZE, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::{MapToError, MappedFrame, TranslateResult};
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as Flags, PhysFrame, Size2MiB,
    Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);
/// End of the physical range the physical-memory mapping covers.
static DIRECT_LIMIT: AtomicU64 = AtomicU64::new(1 << 32);
static MAPPER: Mutex<Option<OffsetPageTable<'static>>> = Mutex::new(None);

/// What a mapping allows (all kernel mappings are non-executable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
    /// Device registers: read/write, caching disabled.
    Mmio,
    /// Read/write and executable: only the low-memory trampoline that
    /// starts the other CPUs (identity-mapped while they switch on paging).
    Trampoline,
}

impl Access {
    fn flags(self) -> Flags {
        let base = Flags::PRESENT | Flags::NO_EXECUTE;
        match self {
            Access::ReadOnly => base,
            Access::ReadWrite => base | Flags::WRITABLE,
            Access::Mmio => base | Flags::WRITABLE | Flags::NO_CACHE | Flags::WRITE_THROUGH,
            Access::Trampoline => Flags::PRESENT | Flags::WRITABLE,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    AlreadyMapped,
    /// The page tables are locked by the interrupted code (fault path).
    Busy,
}

impl<S: x86_64::structures::paging::PageSize> From<MapToError<S>> for MapError {
    fn from(e: MapToError<S>) -> Self {
        match e {
            MapToError::FrameAllocationFailed => MapError::OutOfMemory,
            MapToError::ParentEntryHugePage | MapToError::PageAlreadyMapped(_) => {
                MapError::AlreadyMapped
            }
        }
    }
}

pub fn init(physical_memory_offset: VirtAddr) {
    PHYS_OFFSET.store(physical_memory_offset.as_u64(), Ordering::SeqCst);
    let (l4, _) = Cr3::read();
    // SAFETY: CR3 points at the active level-4 table, which the bootloader
    // placed in RAM covered by the physical-memory mapping; from now on it
    // is only reached through MAPPER.
    let table = unsafe { &mut *phys_to_virt(l4.start_address()).as_mut_ptr::<PageTable>() };
    // SAFETY: all physical memory is mapped at `physical_memory_offset`.
    let mapper = unsafe { OffsetPageTable::new(table, physical_memory_offset) };
    *MAPPER.lock() = Some(mapper);
}

/// The address where physical address `p` is visible in the bootloader's
/// physical-memory mapping (all RAM and the low 4 GiB).
pub fn phys_to_virt(p: PhysAddr) -> VirtAddr {
    VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + p.as_u64())
}

fn with_mapper<R>(f: impl FnOnce(&mut OffsetPageTable<'static>) -> R) -> R {
    f(MAPPER.lock().as_mut().expect("paging not initialised"))
}

/// The level-4 table (read-only use: finding free slots).
pub fn level4_entry_used(index: usize) -> bool {
    with_mapper(|m| !m.level_4_table()[index].is_unused())
}

/// Records how much physical address space the bootloader's mapping covers
/// (all RAM, at least 4 GiB).
pub fn set_direct_limit(end: u64) {
    DIRECT_LIMIT.store(end.max(1 << 32), Ordering::SeqCst);
}

/// The physical address behind `v` if `v` lies in the physical-memory
/// mapping. Takes no lock (usable from the page-fault path).
pub fn direct_to_phys(v: VirtAddr) -> Option<PhysAddr> {
    let off = v
        .as_u64()
        .checked_sub(PHYS_OFFSET.load(Ordering::Relaxed))?;
    (off < DIRECT_LIMIT.load(Ordering::Relaxed)).then(|| PhysAddr::new(off))
}

/// Maps `[virt, virt + size)` to `[phys, phys + size)`, with 2 MiB pages
/// where both sides are 2 MiB-aligned. Page-aligned arguments.
pub fn map(virt: VirtAddr, phys: PhysAddr, size: u64, access: Access) -> Result<(), MapError> {
    with_mapper(|m| map_locked(m, virt, phys, size, access))
}

fn map_locked(
    m: &mut OffsetPageTable<'static>,
    virt: VirtAddr,
    phys: PhysAddr,
    size: u64,
    access: Access,
) -> Result<(), MapError> {
    assert!(
        virt.is_aligned(PAGE_SIZE) && phys.is_aligned(PAGE_SIZE) && size.is_multiple_of(PAGE_SIZE)
    );
    let flags = access.flags();
    let mut off = 0;
    while off < size {
        let (v, p) = (virt + off, phys + off);
        if v.is_aligned(HUGE_PAGE_SIZE)
            && p.is_aligned(HUGE_PAGE_SIZE)
            && size - off >= HUGE_PAGE_SIZE
        {
            let page = Page::<Size2MiB>::from_start_address(v).unwrap();
            let frame = PhysFrame::<Size2MiB>::from_start_address(p).unwrap();
            // SAFETY: the caller hands us virtual space it owns (from
            // vspace) and physical memory it owns or device memory.
            unsafe { m.map_to(page, frame, flags | Flags::HUGE_PAGE, &mut GlobalFrames)? }.flush();
            off += HUGE_PAGE_SIZE;
        } else {
            let page = Page::<Size4KiB>::from_start_address(v).unwrap();
            let frame = PhysFrame::<Size4KiB>::from_start_address(p).unwrap();
            // SAFETY: as above.
            unsafe { m.map_to(page, frame, flags, &mut GlobalFrames)? }.flush();
            off += PAGE_SIZE;
        }
    }
    Ok(())
}

/// Backs `[virt, virt + size)` with newly allocated memory (contents
/// undefined), using 2 MiB pages for every aligned 2 MiB piece for which a
/// contiguous aligned run of frames is free.
pub fn map_fresh(virt: VirtAddr, size: u64, access: Access) -> Result<(), MapError> {
    map_fresh_prefix(virt, size, access).1
}

/// [`map_fresh`], saying how much it mapped: on failure (out of memory)
/// `[virt, virt + mapped)` stays mapped and usable, and no frame leaks, so
/// the caller can keep the prefix (the heap does) or map the rest later.
pub fn map_fresh_prefix(virt: VirtAddr, size: u64, access: Access) -> (u64, Result<(), MapError>) {
    assert!(virt.is_aligned(PAGE_SIZE) && size.is_multiple_of(PAGE_SIZE));
    let mut off = 0;
    while off < size {
        let v = virt + off;
        if v.is_aligned(HUGE_PAGE_SIZE) && size - off >= HUGE_PAGE_SIZE {
            if let Some(p) = frame::alloc_contiguous(HUGE_PAGE_SIZE / PAGE_SIZE, HUGE_PAGE_SIZE) {
                if let Err(e) = map(v, p, HUGE_PAGE_SIZE, access) {
                    frame::free(p, HUGE_PAGE_SIZE / PAGE_SIZE);
                    return (off, Err(e));
                }
                off += HUGE_PAGE_SIZE;
                continue;
            }
        }
        let Some(f) = frame::alloc() else {
            return (off, Err(MapError::OutOfMemory));
        };
        if let Err(e) = map(v, f.start_address(), PAGE_SIZE, access) {
            frame::free(f.start_address(), 1);
            return (off, Err(e));
        }
        off += PAGE_SIZE;
    }
    (off, Ok(()))
}

/// Maps device memory `[phys, phys + size)` uncached at a fresh virtual
/// address and returns the address corresponding to `phys`. Works for any
/// physical address (e.g. 64-bit PCI BARs above 4 GiB).
pub fn map_mmio(phys: PhysAddr, size: u64) -> Result<VirtAddr, MapError> {
    let start = phys.align_down(PAGE_SIZE);
    let end = (phys + size.max(1)).align_up(PAGE_SIZE);
    let len = end - start;
    // 2 MiB alignment of the virtual side lets big BARs use huge pages.
    let align = if len >= HUGE_PAGE_SIZE {
        HUGE_PAGE_SIZE
    } else {
        PAGE_SIZE
    };
    let virt = vspace::reserve(len, align);
    map(virt, start, len, Access::Mmio)?;
    Ok(virt + (phys - start))
}

/// For the page-fault path: like [`map`] but fails with `Busy` instead of
/// waiting if the page tables are locked.
pub fn try_map(virt: VirtAddr, phys: PhysAddr, size: u64, access: Access) -> Result<(), MapError> {
    let mut guard = MAPPER.try_lock().ok_or(MapError::Busy)?;
    map_locked(
        guard.as_mut().ok_or(MapError::Busy)?,
        virt,
        phys,
        size,
        access,
    )
}

/// The physical address `virt` maps to and the size of the page holding it.
pub fn translate(virt: VirtAddr) -> Option<(PhysAddr, u64)> {
    with_mapper(|m| translate_locked(m, virt))
}

/// Like [`translate`], but `None` instead of waiting if the page tables are
/// locked (for the page-fault path).
pub fn try_translate(virt: VirtAddr) -> Option<Option<(PhysAddr, u64)>> {
    let mut guard = MAPPER.try_lock()?;
    Some(translate_locked(guard.as_mut()?, virt))
}

fn translate_locked(m: &mut OffsetPageTable<'static>, virt: VirtAddr) -> Option<(PhysAddr, u64)> {
    {
        match m.translate(virt) {
            TranslateResult::Mapped { frame, offset, .. } => {
                let size = match frame {
                    MappedFrame::Size4KiB(_) => PAGE_SIZE,
                    MappedFrame::Size2MiB(_) => HUGE_PAGE_SIZE,
                    MappedFrame::Size1GiB(_) => 1 << 30,
                };
                Some((frame.start_address() + offset, size))
            }
            _ => None,
        }
    }
}

/// Whether the page-table lock is held (the scheduler does not preempt
/// then: `task::sched`).
pub fn lock_held() -> bool {
    MAPPER.is_locked()
}
