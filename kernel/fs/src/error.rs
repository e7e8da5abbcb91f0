//! Filesystem errors, each shown as one line.

use alloc::string::String;
use core::fmt;

/// Why a filesystem operation failed. Every failed operation leaves the
/// filesystem as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// The path (or a directory on the way) does not exist.
    NotFound(String),
    /// The path already exists.
    Exists(String),
    /// A directory was expected.
    NotDir(String),
    /// A file was expected.
    IsDir(String),
    /// The directory is not empty (`rm -r` removes it with its content).
    NotEmpty(String),
    /// A path component is longer than [`path::NAME_MAX`](crate::path::NAME_MAX).
    NameTooLong(String),
    /// A path component has a character that names may not have.
    InvalidName(String),
    /// The whole path is longer than [`path::PATH_MAX`](crate::path::PATH_MAX).
    PathTooLong,
    /// `..` would go above the root.
    AboveRoot,
    /// The operation needs a path that is not the root.
    IsRoot,
    /// The directory is (or holds) the current directory.
    InUse(String),
    /// Moving a directory into itself.
    IntoItself(String),
    /// A file only the kernel writes (the audit log, [`crate::path::KERNEL_OWNED`]).
    KernelOwned(String),
    /// The disk is full.
    NoSpace,
    /// The file is larger than the operation allows.
    TooLarge(String),
    /// Reading needs this many bytes of memory, which the allocator does
    /// not have (the kernel adds how much it has: `mm::heap::OutOfMemory`).
    OutOfMemory(u64),
    /// The disk holds no littlefs filesystem.
    NotFormatted,
    /// The disk is too small for a filesystem.
    TooSmall(u64),
    /// littlefs found inconsistent metadata.
    Corrupt,
    /// The disk failed a request.
    Io(&'static str),
    /// Another littlefs error (its code).
    Other(i32),
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound(p) => write!(f, "{p}: no such file or directory"),
            FsError::Exists(p) => write!(f, "{p}: already exists"),
            FsError::NotDir(p) => write!(f, "{p}: not a directory"),
            FsError::IsDir(p) => write!(f, "{p}: is a directory"),
            FsError::NotEmpty(p) => {
                write!(f, "{p}: directory not empty (use rm -r to remove it with its content)")
            }
            FsError::NameTooLong(n) => write!(
                f,
                "name too long ({} bytes, at most {}): {n}",
                n.len(),
                crate::path::NAME_MAX
            ),
            FsError::InvalidName(n) => write!(
                f,
                "invalid name {n:?}: names may not contain control characters or any of \\ * ? \" < > |, nor start with .~"
            ),
            FsError::PathTooLong => {
                write!(f, "path too long (at most {} bytes)", crate::path::PATH_MAX)
            }
            FsError::AboveRoot => f.write_str("path goes above the root with .."),
            FsError::IsRoot => f.write_str("not allowed on the root directory"),
            FsError::InUse(p) => write!(f, "{p}: is or holds the current directory (cd elsewhere first)"),
            FsError::IntoItself(p) => write!(f, "cannot move {p} into itself"),
            FsError::KernelOwned(p) => write!(
                f,
                "{p}: only the kernel writes this file (it is append-only; rm removes it)"
            ),
            FsError::NoSpace => f.write_str("disk full: nothing was changed (free space with rm)"),
            FsError::TooLarge(p) => write!(f, "{p}: file too large"),
            FsError::OutOfMemory(n) => write!(f, "out of memory: needs {n} bytes"),
            FsError::NotFormatted => f.write_str("no filesystem on the disk"),
            FsError::TooSmall(b) => write!(f, "disk too small for a filesystem ({b} bytes)"),
            FsError::Corrupt => {
                f.write_str("filesystem corrupt (littlefs metadata fails its checks)")
            }
            FsError::Io(why) => write!(f, "disk error: {why}"),
            FsError::Other(code) => write!(f, "filesystem error {code}"),
        }
    }
}
