//! Where the weight bytes come from.
//!
//! - A disk: a [`PageSource`] for a lazily-backed region. The page-fault
//!   handler (or the eager preload) hands it a physically contiguous 2 MiB
//!   chunk of fresh frames, and the disk DMAs the bytes straight into them:
//!   no copy, no allocation, the disk polled with interrupts off.
//! - The boot ramdisk: already in memory; used in place.

use crate::drivers::virtio::blk::Disk;
use crate::mm::lazy::PageSource;
use crate::mm::paging;
use x86_64::VirtAddr;

/// The weights at byte `base` of `disk`.
pub struct DiskSource {
    pub disk: &'static Disk,
    pub base: u64,
}

impl PageSource for DiskSource {
    fn fill(&self, offset: u64, dest: &mut [u8]) -> Result<(), &'static str> {
        // Never wait for the disk's lock here: the faulting code might hold
        // it (it does not today, but a deadlock in the fault handler would
        // be silent).
        self.disk
            .read_at(self.base + offset, dest, false)
            .map_err(|e| e.as_str())
    }
}

/// The ramdisk as a slice. If the bootloader loaded it into physically
/// contiguous memory (it does), the slice is taken from the
/// physical-memory mapping, which uses 2 MiB pages; otherwise the
/// bootloader's own mapping is used as it is.
pub fn ramdisk_view(r: &'static [u8]) -> &'static [u8] {
    let start = VirtAddr::from_ptr(r.as_ptr());
    let Some((phys0, _)) = paging::translate(start) else {
        return r;
    };
    let mut off = 4096 - start.as_u64() % 4096;
    while off < r.len() as u64 {
        match paging::translate(start + off) {
            Some((p, _)) if p.as_u64() == phys0.as_u64() + off => {}
            _ => {
                log::debug!(
                    "ramdisk: not physically contiguous; used where the bootloader mapped it"
                );
                return r;
            }
        }
        off += 4096;
    }
    let v = paging::phys_to_virt(phys0);
    log::debug!(
        "ramdisk at physical {:#x}, used through the physical-memory mapping",
        phys0.as_u64()
    );
    // SAFETY: the ramdisk's frames are contiguous from `phys0` (checked
    // above), stay reserved for it, and nothing writes to them.
    unsafe { core::slice::from_raw_parts(v.as_ptr::<u8>(), r.len()) }
}
