//! The block device the filesystem runs on, and a RAM disk.

use alloc::vec::Vec;

/// A failed disk request, with a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoError(pub &'static str);

impl core::fmt::Display for IoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}

/// A disk addressed in bytes. Requests are whole sectors
/// ([`geometry::SECTOR_SIZE`](crate::geometry::SECTOR_SIZE)) at sector
/// offsets.
pub trait BlockDevice {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Reads `buf.len()` bytes at `offset`.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Writes `data` at `offset` (it may stay in a volatile cache until
    /// [`sync`](Self::sync)).
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError>;
    /// Returns once everything written is on stable storage.
    fn sync(&mut self) -> Result<(), IoError>;
}

impl<D: BlockDevice + ?Sized> BlockDevice for alloc::boxed::Box<D> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        (**self).read(offset, buf)
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        (**self).write(offset, data)
    }
    fn sync(&mut self) -> Result<(), IoError> {
        (**self).sync()
    }
}

/// A disk in memory, over any byte buffer (`Vec<u8>`, `&mut [u8]`, ...).
///
/// `fail_writes_after` simulates a power cut for tests: after that many
/// more writes every write fails (and changes nothing).
pub struct RamDisk<B = Vec<u8>> {
    bytes: B,
    /// Writes allowed before writes start failing (`None`: never).
    pub fail_writes_after: Option<u64>,
    /// Writes done so far.
    pub writes: u64,
}

impl RamDisk<Vec<u8>> {
    /// A zero-filled RAM disk of `bytes`.
    pub fn new(bytes: usize) -> Self {
        Self::over(alloc::vec![0; bytes])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> RamDisk<B> {
    /// A RAM disk over `bytes` (its content is kept).
    pub fn over(bytes: B) -> Self {
        Self {
            bytes,
            fail_writes_after: None,
            writes: 0,
        }
    }
    /// The disk's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
    /// Gives the buffer back.
    pub fn into_inner(self) -> B {
        self.bytes
    }
    fn range(&self, offset: u64, len: usize) -> Result<core::ops::Range<usize>, IoError> {
        let start = usize::try_from(offset).map_err(|_| IoError("offset beyond the disk"))?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.bytes.as_ref().len())
            .ok_or(IoError("request beyond the end of the disk"))?;
        Ok(start..end)
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> BlockDevice for RamDisk<B> {
    fn size(&self) -> u64 {
        self.bytes.as_ref().len() as u64
    }
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let r = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.bytes.as_ref()[r]);
        Ok(())
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        if self.fail_writes_after.is_some_and(|n| self.writes >= n) {
            return Err(IoError("simulated power cut"));
        }
        let r = self.range(offset, data.len())?;
        self.bytes.as_mut()[r].copy_from_slice(data);
        self.writes += 1;
        Ok(())
    }
    fn sync(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}
