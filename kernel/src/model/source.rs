//! Where the weight bytes come from.
//!
//! - A disk: a [`PageSource`] for a lazily-backed region. The page-fault
//!   handler (or the eager preload) hands it a physically contiguous 2 MiB
//!   chunk of fresh frames, and the disk DMAs the bytes straight into them:
//!   no copy, no allocation, the disk polled with interrupts off.
//! - The boot ramdisk: already in memory; used in place
//!   ([`crate::mm::ramdisk`]).

use crate::drivers::virtio::blk::Disk;
use crate::mm::lazy::PageSource;

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
