//! Virtio over PCI ("modern" interface, virtio 1.x): finding a device's
//! configuration structures through its vendor capabilities, feature
//! negotiation, and split virtqueues in DMA memory from the frame
//! allocator.
//!
//! Both QEMU's default *transitional* devices (which also offer the legacy
//! I/O-port interface) and `disable-legacy=on` devices carry the modern
//! capabilities, which is all this driver uses. Legacy-only devices (no
//! capabilities; QEMU's `disable-modern=on`) are reported and skipped.
//!
//! Everything is polled: no interrupt is ever asked for (the avail ring
//! says so, INTx is disabled in the PCI command register, MSI-X is left
//! off). That keeps the drivers usable from the page-fault handler, with
//! interrupts off, and rules out interrupt storms.

pub mod blk;

use crate::drivers::pci::{self, Address, Bar};
use crate::mm::{self, frame, paging};
use core::sync::atomic::{fence, Ordering};
use x86_64::{PhysAddr, VirtAddr};

pub const VENDOR: u16 = 0x1af4;

/// Device status bits.
mod status {
    pub const ACKNOWLEDGE: u8 = 1;
    pub const DRIVER: u8 = 2;
    pub const DRIVER_OK: u8 = 4;
    pub const FEATURES_OK: u8 = 8;
    pub const FAILED: u8 = 128;
}

/// Feature bit: the device speaks virtio 1.x.
pub const F_VERSION_1: u64 = 1 << 32;

// Offsets in the common configuration structure.
const DEVICE_FEATURE_SELECT: u64 = 0x00;
const DEVICE_FEATURE: u64 = 0x04;
const DRIVER_FEATURE_SELECT: u64 = 0x08;
const DRIVER_FEATURE: u64 = 0x0c;
const DEVICE_STATUS: u64 = 0x14;
const QUEUE_SELECT: u64 = 0x16;
const QUEUE_SIZE: u64 = 0x18;
const QUEUE_MSIX_VECTOR: u64 = 0x1a;
const QUEUE_ENABLE: u64 = 0x1c;
const QUEUE_NOTIFY_OFF: u64 = 0x1e;
const QUEUE_DESC: u64 = 0x20;
const QUEUE_DRIVER: u64 = 0x28;
const QUEUE_DEVICE: u64 = 0x30;

/// A window of device registers (MMIO).
#[derive(Clone, Copy, Debug)]
pub struct Regs {
    base: VirtAddr,
    len: u64,
}

impl Regs {
    fn at(&self, off: u64, size: u64) -> *mut u8 {
        assert!(off + size <= self.len, "virtio register out of range");
        (self.base + off).as_mut_ptr()
    }
    pub fn read8(&self, off: u64) -> u8 {
        // SAFETY: inside a BAR window mapped uncached by `map_bar`.
        unsafe { self.at(off, 1).read_volatile() }
    }
    pub fn read16(&self, off: u64) -> u16 {
        // SAFETY: as above.
        unsafe { (self.at(off, 2) as *mut u16).read_volatile() }
    }
    pub fn read32(&self, off: u64) -> u32 {
        // SAFETY: as above.
        unsafe { (self.at(off, 4) as *mut u32).read_volatile() }
    }
    pub fn write8(&self, off: u64, v: u8) {
        // SAFETY: as above.
        unsafe { self.at(off, 1).write_volatile(v) }
    }
    pub fn write16(&self, off: u64, v: u16) {
        // SAFETY: as above.
        unsafe { (self.at(off, 2) as *mut u16).write_volatile(v) }
    }
    pub fn write32(&self, off: u64, v: u32) {
        // SAFETY: as above.
        unsafe { (self.at(off, 4) as *mut u32).write_volatile(v) }
    }
    pub fn write64(&self, off: u64, v: u64) {
        self.write32(off, v as u32);
        self.write32(off + 4, (v >> 32) as u32);
    }
}

/// The modern interface of one device.
pub struct Transport {
    common: Regs,
    notify: Regs,
    notify_multiplier: u32,
    pub device: Regs,
}

/// Why a device could not be set up.
pub type Error = &'static str;

fn map_bar(a: Address, bar: u8, offset: u32, length: u32) -> Result<Regs, Error> {
    match pci::bar(a, bar) {
        Some(Bar::Memory { phys, size, .. }) => {
            if offset as u64 + length as u64 > size {
                return Err("a virtio structure lies outside its BAR");
            }
            let base = paging::map_mmio(PhysAddr::new(phys + offset as u64), length as u64)
                .map_err(|_| "could not map a virtio BAR")?;
            Ok(Regs {
                base,
                len: length as u64,
            })
        }
        Some(Bar::Io { .. }) => Err("a virtio structure is in an I/O BAR"),
        None => Err("a virtio structure names an unused BAR"),
    }
}

impl Transport {
    /// Finds the common, notify and device-specific structures of the
    /// function at `a` and maps them.
    pub fn new(a: Address) -> Result<Transport, Error> {
        let (mut common, mut notify, mut device) = (None, None, None);
        for (ptr, id) in pci::capabilities(a) {
            if id != 0x09 {
                continue; // not a vendor-specific (virtio) capability
            }
            let p = ptr as u16;
            let cfg_type = pci::read8(a, p + 3);
            let bar = pci::read8(a, p + 4);
            let offset = pci::read32(a, p + 8);
            let length = pci::read32(a, p + 12);
            match cfg_type {
                1 if common.is_none() => common = Some((bar, offset, length)),
                2 if notify.is_none() => {
                    notify = Some((bar, offset, length, pci::read32(a, p + 16)))
                }
                4 if device.is_none() => device = Some((bar, offset, length)),
                _ => {}
            }
        }
        let (Some(c), Some(n), Some(d)) = (common, notify, device) else {
            return Err("no virtio 1.x capabilities (a legacy-only device is not supported)");
        };
        pci::enable_memory_and_dma(a);
        Ok(Transport {
            common: map_bar(a, c.0, c.1, c.2)?,
            notify: map_bar(a, n.0, n.1, n.2)?,
            notify_multiplier: n.3,
            device: map_bar(a, d.0, d.1, d.2)?,
        })
    }

    fn set_status(&self, s: u8) {
        self.common.write8(DEVICE_STATUS, s);
    }

    fn status(&self) -> u8 {
        self.common.read8(DEVICE_STATUS)
    }

    /// Resets the device and negotiates features: `wanted` (of which
    /// [`F_VERSION_1`] is required) intersected with what it offers.
    /// Returns the accepted features.
    pub fn begin_init(&self, wanted: u64) -> Result<u64, Error> {
        self.set_status(0);
        let t0 = crate::time::uptime();
        while self.status() != 0 {
            if crate::time::uptime() - t0 > core::time::Duration::from_secs(1) {
                return Err("the device did not reset");
            }
            core::hint::spin_loop();
        }
        self.set_status(status::ACKNOWLEDGE);
        self.set_status(status::ACKNOWLEDGE | status::DRIVER);
        let mut offered = 0u64;
        for half in 0..2u32 {
            self.common.write32(DEVICE_FEATURE_SELECT, half);
            offered |= (self.common.read32(DEVICE_FEATURE) as u64) << (32 * half);
        }
        if offered & F_VERSION_1 == 0 {
            self.set_status(status::FAILED);
            return Err("the device does not offer VIRTIO_F_VERSION_1");
        }
        let accepted = offered & (wanted | F_VERSION_1);
        for half in 0..2u32 {
            self.common.write32(DRIVER_FEATURE_SELECT, half);
            self.common
                .write32(DRIVER_FEATURE, (accepted >> (32 * half)) as u32);
        }
        self.set_status(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        if self.status() & status::FEATURES_OK == 0 {
            self.set_status(status::FAILED);
            return Err("the device refused our features");
        }
        Ok(accepted)
    }

    /// Sets up queue `index` with at most `max_size` entries.
    pub fn setup_queue(&self, index: u16, max_size: u16) -> Result<Queue, Error> {
        self.common.write16(QUEUE_SELECT, index);
        let offered = self.common.read16(QUEUE_SIZE);
        if offered == 0 {
            return Err("the device has no request queue");
        }
        // A power of two no larger than what the device offers.
        let mut size = max_size.min(offered);
        while !size.is_power_of_two() {
            size &= size - 1;
        }
        let q = Queue::new(size)?;
        self.common.write16(QUEUE_SIZE, size);
        self.common.write16(QUEUE_MSIX_VECTOR, 0xffff); // no MSI-X vector
        self.common.write64(QUEUE_DESC, q.phys + q.desc_off);
        self.common.write64(QUEUE_DRIVER, q.phys + q.avail_off);
        self.common.write64(QUEUE_DEVICE, q.phys + q.used_off);
        let notify_off = self.common.read16(QUEUE_NOTIFY_OFF) as u64;
        self.common.write16(QUEUE_ENABLE, 1);
        Ok(Queue {
            notify_offset: notify_off * self.notify_multiplier as u64,
            index,
            ..q
        })
    }

    pub fn finish_init(&self) {
        self.set_status(
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
        );
    }

    fn notify(&self, q: &Queue) {
        self.notify.write16(q.notify_offset, q.index);
    }
}

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;
const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// One buffer of a request: physical address, length, and whether the
/// device writes it (else it reads it).
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub phys: u64,
    pub len: u32,
    pub device_writes: bool,
}

/// A split virtqueue used one request at a time (the caller holds the
/// device's lock), polled for completion.
pub struct Queue {
    size: u16,
    phys: u64,
    virt: VirtAddr,
    pages: u64,
    desc_off: u64,
    avail_off: u64,
    used_off: u64,
    notify_offset: u64,
    index: u16,
    avail_idx: u16,
    used_idx: u16,
}

// SAFETY: the queue's memory is owned by it; access is serialised by the
// lock of the device that holds it.
unsafe impl Send for Queue {}

impl Queue {
    fn new(size: u16) -> Result<Queue, Error> {
        let n = size as u64;
        let desc_off = 0;
        let avail_off = 16 * n;
        let used_off = (avail_off + 6 + 2 * n).next_multiple_of(mm::PAGE_SIZE);
        let bytes = used_off + 6 + 8 * n;
        let pages = bytes.div_ceil(mm::PAGE_SIZE);
        let phys =
            frame::alloc_contiguous(pages, mm::PAGE_SIZE).ok_or("no memory for a virtqueue")?;
        let virt = paging::phys_to_virt(phys);
        // SAFETY: freshly allocated frames, reached through the
        // physical-memory mapping, owned by this queue.
        unsafe {
            core::ptr::write_bytes(virt.as_mut_ptr::<u8>(), 0, (pages * mm::PAGE_SIZE) as usize)
        };
        let q = Queue {
            size,
            phys: phys.as_u64(),
            virt,
            pages,
            desc_off,
            avail_off,
            used_off,
            notify_offset: 0,
            index: 0,
            avail_idx: 0,
            used_idx: 0,
        };
        q.write16(avail_off, AVAIL_F_NO_INTERRUPT);
        Ok(q)
    }

    pub fn size(&self) -> u16 {
        self.size
    }

    fn ptr(&self, off: u64) -> *mut u8 {
        debug_assert!(off < self.pages * mm::PAGE_SIZE);
        (self.virt + off).as_mut_ptr()
    }
    fn write16(&self, off: u64, v: u16) {
        // SAFETY: inside the queue's own DMA memory.
        unsafe { (self.ptr(off) as *mut u16).write_volatile(v) }
    }
    fn read16(&self, off: u64) -> u16 {
        // SAFETY: as above.
        unsafe { (self.ptr(off) as *const u16).read_volatile() }
    }
    fn read32(&self, off: u64) -> u32 {
        // SAFETY: as above.
        unsafe { (self.ptr(off) as *const u32).read_volatile() }
    }

    /// Submits one request made of `segs` (chained in order), notifies the
    /// device and waits up to `timeout` for it to complete. Returns the
    /// number of bytes the device says it wrote.
    pub fn run(
        &mut self,
        transport: &Transport,
        segs: &[Segment],
        timeout: core::time::Duration,
    ) -> Result<u32, Error> {
        if segs.is_empty() || segs.len() > self.size as usize {
            return Err("request has too many segments");
        }
        for (i, s) in segs.iter().enumerate() {
            let off = self.desc_off + 16 * i as u64;
            let mut flags = if s.device_writes { DESC_F_WRITE } else { 0 };
            if i + 1 < segs.len() {
                flags |= DESC_F_NEXT;
            }
            // SAFETY: descriptor `i` lies in the queue's memory.
            unsafe {
                (self.ptr(off) as *mut u64).write_volatile(s.phys);
                (self.ptr(off + 8) as *mut u32).write_volatile(s.len);
                (self.ptr(off + 12) as *mut u16).write_volatile(flags);
                (self.ptr(off + 14) as *mut u16).write_volatile((i + 1) as u16);
            }
        }
        let slot = (self.avail_idx % self.size) as u64;
        self.write16(self.avail_off + 4 + 2 * slot, 0); // head descriptor 0
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.write16(self.avail_off + 2, self.avail_idx);
        fence(Ordering::SeqCst);
        transport.notify(self);

        let start = crate::time::uptime();
        let mut spins = 0u64;
        while self.read16(self.used_off + 2) == self.used_idx {
            spins += 1;
            // The clock is read now and then: under emulation each read
            // costs as much as many loop turns.
            if spins.is_multiple_of(1024) && crate::time::uptime() - start > timeout {
                return Err("the disk did not answer in time");
            }
            core::hint::spin_loop();
        }
        fence(Ordering::SeqCst);
        let slot = (self.used_idx % self.size) as u64;
        let len = self.read32(self.used_off + 4 + 8 * slot + 4);
        self.used_idx = self.used_idx.wrapping_add(1);
        Ok(len)
    }
}

/// A page of DMA memory (request headers, status bytes, bounce buffers).
pub struct DmaPage {
    pub phys: u64,
    pub virt: VirtAddr,
}

// SAFETY: owned memory; users serialise access through their device lock.
unsafe impl Send for DmaPage {}

impl DmaPage {
    pub fn new(pages: u64) -> Result<DmaPage, Error> {
        let phys = frame::alloc_contiguous(pages, mm::PAGE_SIZE).ok_or("no memory for DMA")?;
        let virt = paging::phys_to_virt(phys);
        // SAFETY: freshly allocated, owned frames.
        unsafe {
            core::ptr::write_bytes(virt.as_mut_ptr::<u8>(), 0, (pages * mm::PAGE_SIZE) as usize)
        };
        Ok(DmaPage {
            phys: phys.as_u64(),
            virt,
        })
    }
}
