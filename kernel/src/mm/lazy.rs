//! Lazily-backed regions: virtual memory whose contents are produced on
//! first touch. A page fault inside a registered region is served here
//! instead of being fatal: the handler allocates a chunk of physical memory
//! (physically contiguous and 2 MiB-aligned where possible), asks the
//! region's [`PageSource`] to fill it, maps it (2 MiB pages where alignment
//! allows) and lets the faulting instruction run again.
//!
//! This is how model weights will be paged in from a virtio-blk disk: the
//! source reads `chunk` bytes at the faulting offset from the disk.
//!
//! The source runs inside the page-fault handler, with interrupts off: it
//! must not allocate from the heap, take locks the faulting code may hold,
//! or touch another lazy region; polling a device is fine.

use super::paging::{self, phys_to_virt, Access, MapError};
use super::{frame, vspace, HUGE_PAGE_SIZE, PAGE_SIZE};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use spin::Mutex;
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::VirtAddr;

/// Produces a region's contents.
pub trait PageSource: Sync {
    /// Fills `dest` with the region's bytes starting at `offset`. Normally
    /// `offset` is a multiple of the chunk size and `dest` one chunk long;
    /// when physical memory is too fragmented for a contiguous chunk, the
    /// chunk is filled page by page (4 KiB-aligned offsets, 4 KiB `dest`).
    /// Past the region's end `dest` is shorter (the rest is zeroed).
    fn fill(&self, offset: u64, dest: &mut [u8]) -> Result<(), &'static str>;
}

/// A registered region.
pub struct LazyRegion {
    start: VirtAddr,
    size: u64,
    chunk: u64,
    access: Access,
    source: &'static dyn PageSource,
    faults: AtomicU64,
    /// One bit per chunk: filled and mapped.
    filled: Box<[AtomicU64]>,
    /// Chunks filled after the faulting one, when not filled yet.
    readahead: AtomicU32,
}

impl LazyRegion {
    pub fn start(&self) -> VirtAddr {
        self.start
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    /// After a fault, also fill up to `chunks` following chunks that are
    /// not filled yet (one fault then brings in a larger run).
    pub fn set_readahead(&self, chunks: u32) {
        self.readahead.store(chunks, Ordering::Relaxed);
    }
    /// Bytes filled so far.
    pub fn filled_bytes(&self) -> u64 {
        let n = self.size.div_ceil(self.chunk);
        let full = (0..n).filter(|&i| self.is_filled(i)).count() as u64 * self.chunk;
        full.min(self.size)
    }
    fn is_filled(&self, chunk: u64) -> bool {
        self.filled[(chunk / 64) as usize].load(Ordering::Relaxed) & (1 << (chunk % 64)) != 0
    }
    fn mark_filled(&self, chunk: u64) {
        self.filled[(chunk / 64) as usize].fetch_or(1 << (chunk % 64), Ordering::Relaxed);
    }
    /// Fills every chunk not filled yet, in order, outside any fault (for
    /// eager loading). `progress(done_bytes, total_bytes)` is called after
    /// each chunk; returning `false` stops early (the rest stays lazy).
    /// Returns whether everything is filled.
    pub fn populate(
        &self,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<bool, &'static str> {
        let n = self.size.div_ceil(self.chunk);
        for i in 0..n {
            if !self.is_filled(i) {
                serve_chunk(self, i)?;
            }
            let done = ((i + 1) * self.chunk).min(self.size);
            if !progress(done, self.size) {
                return Ok(i + 1 == n);
            }
        }
        Ok(true)
    }
    /// Chunks filled so far (= page faults served).
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }
    /// The region as a byte slice. Touching it faults the contents in.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the range is reserved for this region for ever; every
        // access is either mapped or served by the fault handler.
        unsafe { core::slice::from_raw_parts(self.start.as_ptr(), self.size as usize) }
    }
}

const MAX_REGIONS: usize = 16;
static REGIONS: Mutex<[Option<&'static LazyRegion>; MAX_REGIONS]> = Mutex::new([None; MAX_REGIONS]);
static SERVED: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// `chunk` must be a multiple of 4 KiB.
    BadChunk,
    TooManyRegions,
}

/// Reserves `size` bytes of address space backed by `source`, filled
/// `chunk` bytes at a time (a multiple of 4 KiB; use a multiple of 2 MiB to
/// get huge pages). The region starts 2 MiB-aligned. `access` is
/// `ReadOnly` or `ReadWrite`.
pub fn register(
    size: u64,
    chunk: u64,
    access: Access,
    source: &'static dyn PageSource,
) -> Result<&'static LazyRegion, RegisterError> {
    if chunk == 0 || !chunk.is_multiple_of(PAGE_SIZE) {
        return Err(RegisterError::BadChunk);
    }
    let reserved = size.next_multiple_of(chunk);
    let n_chunks = size.div_ceil(chunk);
    let filled: Vec<AtomicU64> = (0..n_chunks.div_ceil(64).max(1))
        .map(|_| AtomicU64::new(0))
        .collect();
    let region: &'static LazyRegion = alloc::boxed::Box::leak(alloc::boxed::Box::new(LazyRegion {
        start: vspace::reserve(reserved, HUGE_PAGE_SIZE.max(chunk.next_power_of_two())),
        size,
        chunk,
        access,
        source,
        faults: AtomicU64::new(0),
        filled: filled.into_boxed_slice(),
        readahead: AtomicU32::new(0),
    }));
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut regions = REGIONS.lock();
        let slot = regions
            .iter_mut()
            .find(|r| r.is_none())
            .ok_or(RegisterError::TooManyRegions)?;
        *slot = Some(region);
        Ok(region)
    })
}

/// Total lazy faults served since boot.
pub fn faults_served() -> u64 {
    SERVED.load(Ordering::Relaxed)
}

/// The page-fault hook: returns `true` if the fault was in a lazy region
/// and is now served (the instruction can be retried).
pub fn on_page_fault(addr: u64, code: PageFaultErrorCode) -> bool {
    // A fault on a present page is a protection violation, never ours.
    if code.contains(PageFaultErrorCode::PROTECTION_VIOLATION) {
        return false;
    }
    // Every lock on the way is only tried, never waited for: the faulting
    // code may hold one, and a deadlock in the fault handler would be
    // silent. Another CPU may hold one too (its own fault, a disk read,
    // a mapping): then the attempt is repeated for up to `BUSY_WAIT`,
    // after which the fault is reported as before.
    let deadline = crate::time::uptime() + BUSY_WAIT;
    loop {
        match try_serve(addr, code) {
            Attempt::Served => return true,
            Attempt::NotOurs => return false,
            Attempt::Failed(e) if !is_busy(e) || crate::time::uptime() > deadline => {
                log::error!("lazy region: fault at {addr:#x}: {e}");
                return false;
            }
            Attempt::Failed(_) => core::hint::spin_loop(),
        }
    }
}

/// How long a fault waits for a disk, page-table or region lock held by
/// another CPU (a 2 MiB chunk plus read-ahead takes well under this).
const BUSY_WAIT: core::time::Duration = core::time::Duration::from_secs(10);

/// One fault is served at a time on the whole machine, so that two CPUs
/// faulting in the same chunk do not both fill it.
static SERVING: AtomicBool = AtomicBool::new(false);

enum Attempt {
    Served,
    NotOurs,
    Failed(&'static str),
}

const BUSY: &str = "another fault is being served";
const FRAMES_BUSY: &str = "the frame allocator is busy";

/// Whether `e` says a lock was held (worth trying again).
fn is_busy(e: &str) -> bool {
    e == BUSY
        || e == FRAMES_BUSY
        || e == "the disk is busy"
        || e == "page tables locked by the faulting code"
}

fn try_serve(addr: u64, code: PageFaultErrorCode) -> Attempt {
    if SERVING
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Attempt::Failed(BUSY);
    }
    let r = serve_one(addr, code);
    SERVING.store(false, Ordering::Release);
    r
}

fn serve_one(addr: u64, code: PageFaultErrorCode) -> Attempt {
    let region = {
        let Some(regions) = REGIONS.try_lock() else {
            return Attempt::Failed(BUSY);
        };
        regions
            .iter()
            .flatten()
            .find(|r| (r.start.as_u64()..r.start.as_u64() + r.size).contains(&addr))
            .copied()
    };
    let Some(region) = region else {
        return Attempt::NotOurs;
    };
    if code.contains(PageFaultErrorCode::CAUSED_BY_WRITE) && region.access != Access::ReadWrite {
        return Attempt::NotOurs;
    }
    // Another CPU may have filled it while this one waited.
    match paging::try_translate(VirtAddr::new(addr)) {
        None => return Attempt::Failed("page tables locked by the faulting code"),
        Some(Some(_)) => return Attempt::Served,
        Some(None) => {}
    }
    match serve(region, addr - region.start.as_u64()) {
        Ok(()) => {
            region.faults.fetch_add(1, Ordering::Relaxed);
            SERVED.fetch_add(1, Ordering::Relaxed);
            Attempt::Served
        }
        Err(e) => Attempt::Failed(e),
    }
}

/// Fills and maps the chunk holding `offset`, then read-ahead.
fn serve(region: &LazyRegion, offset: u64) -> Result<(), &'static str> {
    let chunk = offset / region.chunk;
    serve_chunk(region, chunk)?;
    let n = region.size.div_ceil(region.chunk);
    let ahead = region.readahead.load(Ordering::Relaxed) as u64;
    for c in chunk + 1..(chunk + 1 + ahead).min(n) {
        if region.is_filled(c) {
            break;
        }
        // Read-ahead is a bonus: stop quietly when it does not work out.
        if serve_chunk(region, c).is_err() {
            break;
        }
    }
    Ok(())
}

/// Fills and maps chunk number `chunk`.
fn serve_chunk(region: &LazyRegion, chunk: u64) -> Result<(), &'static str> {
    let chunk_off = chunk * region.chunk;
    let len = region.chunk;
    let frames = len / PAGE_SIZE;
    let align = if len.is_multiple_of(HUGE_PAGE_SIZE) {
        HUGE_PAGE_SIZE
    } else {
        PAGE_SIZE
    };
    // One contiguous run when possible: one fill, huge pages.
    if frame::lock_held() {
        return Err(FRAMES_BUSY);
    }
    if let Some(phys) = frame::try_alloc_contiguous(frames, align) {
        fill_and_map(region, chunk_off, phys, len)?;
        region.mark_filled(chunk);
        return Ok(());
    }
    // Fragmented memory: page by page (pages already mapped by an earlier
    // attempt are skipped).
    for i in 0..frames {
        let v = region.start + chunk_off + i * PAGE_SIZE;
        if matches!(paging::try_translate(v), Some(Some(_))) {
            continue;
        }
        let phys = frame::try_alloc_contiguous(1, PAGE_SIZE).ok_or(if frame::lock_held() {
            FRAMES_BUSY
        } else {
            "out of physical memory"
        })?;
        fill_and_map(region, chunk_off + i * PAGE_SIZE, phys, PAGE_SIZE)?;
    }
    region.mark_filled(chunk);
    Ok(())
}

fn fill_and_map(
    region: &LazyRegion,
    off: u64,
    phys: x86_64::PhysAddr,
    len: u64,
) -> Result<(), &'static str> {
    // Past the end of the region the chunk is zero-filled.
    let valid = region.size.saturating_sub(off).min(len) as usize;
    // SAFETY: the frames were just allocated for us and are reached through
    // the physical-memory mapping; nothing else refers to them yet.
    let dest = unsafe {
        core::slice::from_raw_parts_mut(phys_to_virt(phys).as_mut_ptr::<u8>(), len as usize)
    };
    dest[valid..].fill(0);
    if let Err(e) = region.source.fill(off, &mut dest[..valid]) {
        frame::free(phys, len / PAGE_SIZE);
        return Err(e);
    }
    paging::try_map(region.start + off, phys, len, region.access).map_err(|e| {
        // Not mapped: the frames go back (the fault may be tried again).
        frame::free(phys, len / PAGE_SIZE);
        match e {
            MapError::OutOfMemory => "out of memory for page tables",
            MapError::AlreadyMapped => "chunk already mapped",
            MapError::Busy => "page tables locked by the faulting code",
        }
    })
}

/// Whether the region table's lock is held (the scheduler does not
/// preempt then: `task::sched`).
pub fn lock_held() -> bool {
    REGIONS.is_locked()
}
