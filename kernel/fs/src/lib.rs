//! The kernel's filesystem: littlefs (power-loss safe, copy-on-write) on a
//! block device, with the path rules, error messages and operations behind
//! the file commands.
//!
//! Hardware-free and `no_std + alloc`: the kernel mounts it on a virtio disk
//! (or a RAM disk), the host tools (`cargo xtask disk`, the agent's
//! evaluation) on an image file or a [`RamDisk`]. Both use the one
//! [`geometry`], so they read one format.
//!
//! - [`Fs::mount`] / [`Fs::format`] take a [`BlockDevice`]; the `Fs` methods
//!   take absolute paths.
//! - [`Session`] holds the current directory and renders each command's
//!   output as text (`ls`, `cat`, `write`, ...).
#![no_std]

extern crate alloc;

mod block;
pub mod crashloop;
mod error;
mod fs;
pub mod geometry;
mod lfs;
pub mod path;
pub mod probe;
mod session;

pub use block::{BlockDevice, IoError, RamDisk};
pub use error::FsError;
pub use fs::{Entry, Fs, Kind, Usage};
pub use probe::{probe, Content};
pub use session::{format_size, Cat, Session};

#[cfg(test)]
mod tests;
