//! virtio-blk: the disks QEMU attaches with `-device virtio-blk-pci`.
//!
//! Requests are synchronous and polled, one at a time per disk, with a
//! deadline: a disk that stops answering is reported and marked failed
//! instead of hanging the kernel. Data moves by DMA straight into (or out
//! of) the caller's buffer, described page by page; only a partial sector
//! at either end goes through a bounce buffer. Nothing here allocates
//! after [`init`], so reads can run inside the page-fault handler
//! ([`Disk::read_at`] with `blocking = false`).

use super::{DmaPage, Queue, Segment, Transport};
use crate::drivers::pci;
use crate::mm::paging;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use spin::{Mutex, Once};
use x86_64::VirtAddr;

pub const SECTOR: u64 = 512;
/// PCI device IDs: transitional and modern virtio-blk.
const DEVICE_TRANSITIONAL: u16 = 0x1001;
const DEVICE_MODERN: u16 = 0x1042;

const F_SEG_MAX: u64 = 1 << 2;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;

const REQ_IN: u32 = 0;
const REQ_OUT: u32 = 1;
const REQ_FLUSH: u32 = 4;
const REQ_GET_ID: u32 = 8;

/// How long one request may take before the disk is declared dead.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Entries per queue.
const QUEUE_ENTRIES: u16 = 128;
/// The largest single data segment (the device has no size limit of its
/// own unless it says so; this keeps requests reasonable).
const MAX_SEGMENT: u64 = 4 << 20;

struct Inner {
    transport: Transport,
    queue: Queue,
    /// Page 0: request header (16 bytes) and status byte (at 16);
    /// page 1: bounce buffer for partial sectors.
    dma: DmaPage,
    /// Set when a request failed in a way that leaves the device unusable.
    failed: Option<&'static str>,
}

/// One virtio-blk disk.
pub struct Disk {
    /// `vda`, `vdb`, ... in PCI order.
    pub name: String,
    pub pci: pci::Address,
    /// Size in bytes (whole sectors).
    pub size: u64,
    pub read_only: bool,
    /// Whether the device has a volatile write cache that [`Disk::flush`]
    /// empties (VIRTIO_BLK_F_FLUSH); without it writes are durable when done.
    pub flush: bool,
    /// The device's serial number (`-drive ...,serial=`), if it has one.
    pub serial: String,
    /// Whether the device is the modern-only flavour (`disable-legacy=on`).
    pub modern_only: bool,
    max_data_segments: usize,
    inner: Mutex<Inner>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    OutOfRange,
    Unaligned,
    ReadOnly,
    /// Another user holds the disk (only when not blocking).
    Busy,
    /// The device reported an error for the request.
    Io,
    Unsupported,
    /// The disk stopped answering or failed earlier.
    Failed(&'static str),
    /// A buffer whose physical address could not be found.
    BadBuffer,
}

impl core::fmt::Display for DiskError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DiskError::OutOfRange => write!(f, "read or write past the end of the disk"),
            DiskError::Unaligned => write!(f, "write not aligned to 512-byte sectors"),
            DiskError::ReadOnly => write!(f, "the disk is read-only"),
            DiskError::Busy => write!(f, "the disk is busy"),
            DiskError::Io => write!(f, "the disk reported an I/O error"),
            DiskError::Unsupported => write!(f, "the disk does not support the request"),
            DiskError::Failed(why) => write!(f, "the disk failed: {why}"),
            DiskError::BadBuffer => write!(f, "buffer not in mapped memory"),
        }
    }
}

impl DiskError {
    pub fn as_str(&self) -> &'static str {
        match self {
            DiskError::OutOfRange => "read past the end of the disk",
            DiskError::Unaligned => "unaligned request",
            DiskError::ReadOnly => "the disk is read-only",
            DiskError::Busy => "the disk is busy",
            DiskError::Io => "the disk reported an I/O error",
            DiskError::Unsupported => "the disk does not support the request",
            DiskError::Failed(why) => why,
            DiskError::BadBuffer => "buffer not in mapped memory",
        }
    }
}

static DISKS: Once<Vec<Disk>> = Once::new();

/// Finds and sets up every virtio-blk disk among `devices`.
pub fn init(devices: &[pci::Device]) {
    DISKS.call_once(|| {
        let mut disks = Vec::new();
        for d in devices {
            if d.vendor != super::VENDOR
                || (d.device != DEVICE_TRANSITIONAL && d.device != DEVICE_MODERN)
            {
                continue;
            }
            let name = format!("vd{}", (b'a' + disks.len().min(25) as u8) as char);
            match Disk::new(name.clone(), d) {
                Ok(disk) => {
                    log::info!(
                        "virtio-blk {} at PCI {}: {} ({}{})",
                        disk.name,
                        d.address,
                        klib::units::Bytes(disk.size),
                        if disk.modern_only {
                            "modern"
                        } else {
                            "transitional"
                        },
                        if disk.read_only { ", read-only" } else { "" }
                    );
                    disks.push(disk);
                }
                Err(e) => log::warn!("virtio-blk at PCI {}: not usable: {e}", d.address),
            }
        }
        disks
    });
}

/// The disks found at boot.
pub fn disks() -> &'static [Disk] {
    DISKS.get().map_or(&[], |v| v.as_slice())
}

impl Disk {
    fn new(name: String, d: &pci::Device) -> Result<Disk, &'static str> {
        let transport = Transport::new(d.address)?;
        let features = transport.begin_init(F_SEG_MAX | F_RO | F_FLUSH)?;
        let capacity =
            transport.device.read32(0) as u64 | (transport.device.read32(4) as u64) << 32;
        let seg_max = if features & F_SEG_MAX != 0 {
            transport.device.read32(12) as usize
        } else {
            usize::MAX
        };
        let queue = transport.setup_queue(0, QUEUE_ENTRIES)?;
        let dma = DmaPage::new(2)?;
        transport.finish_init();
        // Header + status take two descriptors.
        let max_data_segments = seg_max.min(queue.size() as usize - 2).max(1);
        let mut disk = Disk {
            name,
            pci: d.address,
            size: capacity * SECTOR,
            read_only: features & F_RO != 0,
            flush: features & F_FLUSH != 0,
            serial: String::new(),
            modern_only: d.device == DEVICE_MODERN,
            max_data_segments,
            inner: Mutex::new(Inner {
                transport,
                queue,
                dma,
                failed: None,
            }),
        };
        disk.serial = disk.read_serial().unwrap_or_default();
        Ok(disk)
    }

    fn read_serial(&self) -> Result<String, DiskError> {
        let mut inner = self.inner.lock();
        let bounce = inner.dma.phys + 4096;
        inner.request(REQ_GET_ID, 0, &[(bounce, 20)], true)?;
        let id =
            // SAFETY: the bounce page belongs to this disk, under its lock,
            // and the device has written its 20 bytes (`request` returned Ok).
            unsafe { core::slice::from_raw_parts((inner.dma.virt + 4096u64).as_ptr::<u8>(), 20) };
        let len = id.iter().position(|&b| b == 0).unwrap_or(20);
        Ok(String::from_utf8_lossy(&id[..len]).into_owned())
    }

    /// Why the disk is unusable, if it is.
    pub fn failure(&self) -> Option<&'static str> {
        self.inner.lock().failed
    }

    fn lock(&self, blocking: bool) -> Result<spin::MutexGuard<'_, Inner>, DiskError> {
        let g = if blocking {
            self.inner.lock()
        } else {
            self.inner.try_lock().ok_or(DiskError::Busy)?
        };
        match g.failed {
            Some(why) => Err(DiskError::Failed(why)),
            None => Ok(g),
        }
    }

    /// Reads `buf.len()` bytes at byte `offset` (any alignment). With
    /// `blocking = false` it fails with `Busy` instead of waiting for the
    /// disk's lock, and `buf` must lie in the physical-memory mapping (the
    /// page-fault path).
    pub fn read_at(&self, offset: u64, buf: &mut [u8], blocking: bool) -> Result<(), DiskError> {
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or(DiskError::OutOfRange)?;
        if end > self.size {
            return Err(DiskError::OutOfRange);
        }
        let mut inner = self.lock(blocking)?;
        let mut pos = 0usize;
        let mut off = offset;
        while pos < buf.len() {
            let in_sector = (off % SECTOR) as usize;
            let rest = buf.len() - pos;
            if in_sector != 0 || rest < SECTOR as usize {
                // A partial sector: through the bounce buffer.
                let n = (SECTOR as usize - in_sector).min(rest);
                let bounce = inner.dma.phys + 4096;
                inner.request(REQ_IN, off / SECTOR, &[(bounce, SECTOR as u32)], blocking)?;
                // SAFETY: the bounce page belongs to this disk, under its lock.
                let src = unsafe {
                    core::slice::from_raw_parts(
                        (inner.dma.virt + 4096u64).as_ptr::<u8>(),
                        SECTOR as usize,
                    )
                };
                buf[pos..pos + n].copy_from_slice(&src[in_sector..in_sector + n]);
                pos += n;
                off += n as u64;
                continue;
            }
            let whole = rest / SECTOR as usize * SECTOR as usize;
            let n = inner.transfer(
                REQ_IN,
                off / SECTOR,
                VirtAddr::from_ptr(buf[pos..].as_ptr()),
                whole,
                self.max_data_segments,
                blocking,
            )?;
            pos += n;
            off += n as u64;
        }
        Ok(())
    }

    /// Writes `buf` at byte `offset`; both must be whole sectors.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), DiskError> {
        if self.read_only {
            return Err(DiskError::ReadOnly);
        }
        if !offset.is_multiple_of(SECTOR) || !(buf.len() as u64).is_multiple_of(SECTOR) {
            return Err(DiskError::Unaligned);
        }
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or(DiskError::OutOfRange)?;
        if end > self.size {
            return Err(DiskError::OutOfRange);
        }
        let mut inner = self.lock(true)?;
        let mut pos = 0usize;
        while pos < buf.len() {
            pos += inner.transfer(
                REQ_OUT,
                (offset + pos as u64) / SECTOR,
                VirtAddr::from_ptr(buf[pos..].as_ptr()),
                buf.len() - pos,
                self.max_data_segments,
                true,
            )?;
        }
        Ok(())
    }
}

impl Disk {
    /// Returns once every write done is on stable storage: a FLUSH request
    /// when the device has a write cache (nothing to do otherwise).
    pub fn flush(&self) -> Result<(), DiskError> {
        if !self.flush {
            return Ok(());
        }
        self.lock(true)?.request(REQ_FLUSH, 0, &[], true)
    }
}

/// The physical address of kernel virtual address `v`: directly for the
/// physical-memory mapping (no lock), else through the page tables
/// (`blocking = false`: only if they are not locked).
fn virt_to_phys(v: VirtAddr, blocking: bool) -> Option<u64> {
    if let Some(p) = paging::direct_to_phys(v) {
        return Some(p.as_u64());
    }
    let t = if blocking {
        paging::translate(v)
    } else {
        paging::try_translate(v)?
    };
    t.map(|(p, _)| p.as_u64())
}

impl Inner {
    /// Transfers a prefix of `[virt, virt + len)` (whole sectors) from or
    /// to sector `sector` in one request; returns how many bytes it moved.
    fn transfer(
        &mut self,
        kind: u32,
        sector: u64,
        virt: VirtAddr,
        len: usize,
        max_segments: usize,
        blocking: bool,
    ) -> Result<usize, DiskError> {
        let mut segs: [(u64, u32); 64] = [(0, 0); 64];
        let max_segments = max_segments.min(segs.len());
        let mut n = 0usize;
        let mut total = 0usize;
        while total < len && n <= max_segments {
            let v = virt + total as u64;
            let phys = virt_to_phys(v, blocking).ok_or(DiskError::BadBuffer)?;
            let page_rest = (4096 - v.as_u64() % 4096) as usize;
            let piece = page_rest.min(len - total);
            if n > 0 {
                let (p, l) = segs[n - 1];
                if p + l as u64 == phys && (l as u64 + piece as u64) <= MAX_SEGMENT {
                    segs[n - 1].1 += piece as u32;
                    total += piece;
                    continue;
                }
            }
            if n == max_segments {
                break;
            }
            segs[n] = (phys, piece as u32);
            n += 1;
            total += piece;
        }
        // A request carries whole sectors: trim the end.
        let mut cut = total % SECTOR as usize;
        while cut > 0 {
            let l = segs[n - 1].1 as usize;
            if l > cut {
                segs[n - 1].1 -= cut as u32;
                cut = 0;
            } else {
                cut -= l;
                n -= 1;
            }
        }
        let total = total / SECTOR as usize * SECTOR as usize;
        if total == 0 {
            return Err(DiskError::BadBuffer);
        }
        self.request(kind, sector, &segs[..n], blocking)?;
        Ok(total)
    }

    /// One request: header, data segments, status.
    fn request(
        &mut self,
        kind: u32,
        sector: u64,
        data: &[(u64, u32)],
        _blocking: bool,
    ) -> Result<(), DiskError> {
        let header = self.dma.virt.as_mut_ptr::<u8>();
        // SAFETY: page 0 of this disk's DMA memory, under its lock.
        unsafe {
            (header as *mut u32).write_volatile(kind);
            (header.add(4) as *mut u32).write_volatile(0);
            (header.add(8) as *mut u64).write_volatile(sector);
            header.add(16).write_volatile(0xff);
        }
        let mut segs: [Segment; 66] = [Segment {
            phys: 0,
            len: 0,
            device_writes: false,
        }; 66];
        segs[0] = Segment {
            phys: self.dma.phys,
            len: 16,
            device_writes: false,
        };
        let device_writes = kind != REQ_OUT;
        for (i, &(phys, len)) in data.iter().enumerate() {
            segs[1 + i] = Segment {
                phys,
                len,
                device_writes,
            };
        }
        segs[1 + data.len()] = Segment {
            phys: self.dma.phys + 16,
            len: 1,
            device_writes: true,
        };
        if let Err(e) = self
            .queue
            .run(&self.transport, &segs[..data.len() + 2], TIMEOUT)
        {
            self.failed = Some(e);
            return Err(DiskError::Failed(e));
        }
        // SAFETY: as above.
        let status = unsafe { header.add(16).read_volatile() };
        match status {
            0 => Ok(()),
            1 => Err(DiskError::Io),
            2 => Err(DiskError::Unsupported),
            _ => Err(DiskError::Io),
        }
    }
}

/// Whether some disk's lock is held (the scheduler does not preempt then:
/// the page-fault path only tries it; `task::sched`).
pub fn lock_held() -> bool {
    DISKS
        .get()
        .is_some_and(|d| d.iter().any(|d| d.inner.is_locked()))
}
