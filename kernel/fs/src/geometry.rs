//! The one on-disk geometry, shared by the kernel and the host tools.
//!
//! Only the block size is stored in the superblock (with the block count,
//! which follows the disk's size when formatting); the other values are
//! caches and must merely agree with it.

/// Size of a littlefs block (its unit of allocation and copy-on-write).
pub const BLOCK_SIZE: u32 = 4096;
/// Smallest read and write littlefs issues: one disk sector.
pub const SECTOR_SIZE: u32 = 512;
/// littlefs's read, write and per-file caches (a whole block: fewer, larger
/// disk requests).
pub const CACHE_SIZE: u32 = 4096;
/// Bytes of the block allocator's bitmap (8 blocks per byte: 4096 blocks =
/// 16 MiB are scanned per allocation pass).
pub const LOOKAHEAD_SIZE: u32 = 512;
/// Erase cycles before littlefs moves a metadata pair (wear levelling; disks
/// do their own, so a high value keeps writes cheap).
pub const BLOCK_CYCLES: i32 = 1000;
/// Smallest disk that can hold a filesystem (the superblock pair, a root
/// and a few files).
pub const MIN_BLOCKS: u32 = 16;
/// The default size of a data disk image (`cargo xtask run`).
pub const DEFAULT_IMAGE_BYTES: u64 = 256 << 20;

/// Number of filesystem blocks on a disk of `bytes`.
pub fn blocks_for(bytes: u64) -> u32 {
    (bytes / BLOCK_SIZE as u64).min(u32::MAX as u64) as u32
}
