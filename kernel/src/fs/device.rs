//! The filesystem's block device on a virtio disk.

use crate::drivers::virtio::blk::Disk;
use kfs::{BlockDevice, IoError};

/// A virtio-blk disk as a [`BlockDevice`]: `sync` sends a FLUSH when the
/// disk has a write cache, so littlefs's commits are on stable storage
/// before a command reports success.
pub struct VirtioDisk {
    disk: &'static Disk,
}

impl VirtioDisk {
    pub fn new(disk: &'static Disk) -> Self {
        VirtioDisk { disk }
    }
}

impl BlockDevice for VirtioDisk {
    fn size(&self) -> u64 {
        self.disk.size
    }
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.disk
            .read_at(offset, buf, true)
            .map_err(|e| IoError(e.as_str()))
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        self.disk
            .write_at(offset, data)
            .map_err(|e| IoError(e.as_str()))
    }
    fn sync(&mut self) -> Result<(), IoError> {
        self.disk.flush().map_err(|e| IoError(e.as_str()))
    }
}
