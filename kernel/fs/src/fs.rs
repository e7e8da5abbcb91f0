//! The mounted filesystem and its operations, on normal absolute paths.

use crate::block::BlockDevice;
use crate::geometry::{blocks_for, BLOCK_SIZE, MIN_BLOCKS};
use crate::lfs::{into_device, Lfs, RawEntry};
use crate::path::{self, TEMP_PREFIX};
use crate::probe::{probe, Content, PROBE_BYTES};
use crate::FsError;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use littlefs2_sys as ll;

/// File or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    /// Size in bytes (0 for directories).
    pub size: u64,
}

/// Space on the filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub block_size: u32,
    pub blocks: u32,
    pub used_blocks: u32,
}

impl Usage {
    pub fn total_bytes(&self) -> u64 {
        self.blocks as u64 * self.block_size as u64
    }
    pub fn used_bytes(&self) -> u64 {
        self.used_blocks as u64 * self.block_size as u64
    }
    pub fn free_bytes(&self) -> u64 {
        self.total_bytes().saturating_sub(self.used_bytes())
    }
}

/// A mounted littlefs on a block device.
pub struct Fs<D: BlockDevice> {
    lfs: Lfs<D>,
}

fn to_entry(e: RawEntry) -> Entry {
    Entry {
        name: e.name,
        kind: if e.is_dir { Kind::Dir } else { Kind::File },
        size: if e.is_dir { 0 } else { e.size as u64 },
    }
}

/// Normalises and checks an absolute path given to an `Fs` method.
fn norm(p: &str) -> Result<String, FsError> {
    path::resolve("/", p)
}

impl<D: BlockDevice> Fs<D> {
    /// Formats `dev` (whatever it holds) and mounts it.
    pub fn format(dev: D) -> Result<Self, FsError> {
        let size = dev.size();
        let blocks = blocks_for(size);
        if blocks < MIN_BLOCKS {
            return Err(FsError::TooSmall(size));
        }
        let mut lfs = Lfs::new(dev, blocks);
        lfs.format()?;
        lfs.mount()?;
        Ok(Fs { lfs })
    }

    /// What `dev` holds (see [`probe`](crate::probe)).
    pub fn probe(dev: &mut D) -> Result<Content, FsError> {
        let n = (PROBE_BYTES as u64).min(dev.size()) as usize;
        let mut start = vec![0u8; n];
        dev.read(0, &mut start).map_err(|e| FsError::Io(e.0))?;
        Ok(probe(&start))
    }

    /// Mounts the filesystem on `dev`. A disk without littlefs gives
    /// [`FsError::NotFormatted`] (it is not touched); a damaged one
    /// [`FsError::Corrupt`] (not repaired).
    pub fn mount(mut dev: D) -> Result<Self, FsError> {
        if Self::probe(&mut dev)? != Content::Littlefs {
            return Err(FsError::NotFormatted);
        }
        let disk_blocks = blocks_for(dev.size());
        let mut lfs = Lfs::new(dev, 0);
        lfs.mount()?;
        let (blocks, block_size) = lfs.fs_stat()?;
        if block_size != BLOCK_SIZE || blocks > disk_blocks {
            return Err(FsError::Corrupt);
        }
        Ok(Fs { lfs })
    }

    /// Unmounts and gives the device back.
    pub fn into_device(self) -> D {
        into_device(self.lfs)
    }

    /// The device.
    pub fn device(&mut self) -> &mut D {
        self.lfs.device()
    }

    /// What `path` is.
    pub fn stat(&mut self, path: &str) -> Result<Entry, FsError> {
        let p = norm(path)?;
        if p == "/" {
            return Ok(Entry {
                name: p,
                kind: Kind::Dir,
                size: 0,
            });
        }
        self.lfs.stat(&p).map(to_entry)
    }

    /// Whether `path` exists.
    pub fn exists(&mut self, path: &str) -> Result<bool, FsError> {
        match self.stat(path) {
            Ok(_) => Ok(true),
            Err(FsError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn dir_or_err(&mut self, p: &str) -> Result<(), FsError> {
        match self.stat(p)?.kind {
            Kind::Dir => Ok(()),
            Kind::File => Err(FsError::NotDir(p.into())),
        }
    }

    /// The entries of a directory, sorted by name (temporary files of
    /// interrupted writes left out).
    pub fn list(&mut self, path: &str) -> Result<Vec<Entry>, FsError> {
        let p = norm(path)?;
        self.dir_or_err(&p)?;
        let mut v: Vec<Entry> = self
            .lfs
            .read_dir(&p)?
            .into_iter()
            .filter(|e| !e.name.starts_with(TEMP_PREFIX))
            .map(to_entry)
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Reads up to `limit` bytes of a file: the bytes and the file's size.
    pub fn read(&mut self, path: &str, limit: usize) -> Result<(Vec<u8>, u64), FsError> {
        let p = norm(path)?;
        if self.stat(&p)?.kind == Kind::Dir {
            return Err(FsError::IsDir(p));
        }
        self.lfs.read_file(&p, 0, false, limit)
    }

    /// Reads the last `n` bytes of a file (all of it if it is shorter): the
    /// bytes and the file's size.
    pub fn read_tail(&mut self, path: &str, n: u64) -> Result<(Vec<u8>, u64), FsError> {
        let p = norm(path)?;
        if self.stat(&p)?.kind == Kind::Dir {
            return Err(FsError::IsDir(p));
        }
        self.lfs.read_file(&p, n, true, usize::MAX)
    }

    /// Reads a whole file.
    pub fn read_all(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        self.read(path, usize::MAX).map(|(b, _)| b)
    }

    fn parent_dir(&mut self, p: &str) -> Result<(String, String), FsError> {
        let (parent, name) = path::split(p).ok_or(FsError::IsRoot)?;
        let (parent, name) = (String::from(parent), String::from(name));
        match self.stat(&parent) {
            Ok(e) if e.kind == Kind::Dir => Ok((parent, name)),
            Ok(_) => Err(FsError::NotDir(parent)),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces a file with `data`, atomically: the data goes to
    /// a temporary file in the same directory, which is then renamed over
    /// the target. After a power cut the file has its old or its new
    /// content, never a mix.
    pub fn write(&mut self, path: &str, data: &[u8]) -> Result<(), FsError> {
        let p = norm(path)?;
        let (parent, name) = self.parent_dir(&p)?;
        if self.exists(&p)? && self.stat(&p)?.kind == Kind::Dir {
            return Err(FsError::IsDir(p));
        }
        let temp = path::join(&parent, &format!("{TEMP_PREFIX}{name}"));
        let flags = ll::lfs_open_flags_LFS_O_CREAT | ll::lfs_open_flags_LFS_O_TRUNC;
        let r = self
            .lfs
            .write_file(&temp, flags, data)
            .and_then(|()| self.lfs.rename(&temp, &p));
        if let Err(e) = r {
            let _ = self.lfs.remove(&temp);
            return Err(match e {
                FsError::NotFound(_) => FsError::NotFound(p),
                FsError::TooLarge(_) => FsError::TooLarge(p),
                e => e,
            });
        }
        Ok(())
    }

    /// Appends `data` to a file (created if missing). Atomic: after a power
    /// cut the file has all of `data` at its end or none of it.
    pub fn append(&mut self, path: &str, data: &[u8]) -> Result<(), FsError> {
        let p = norm(path)?;
        self.parent_dir(&p)?;
        match self.stat(&p) {
            Err(FsError::NotFound(_)) => return self.write(&p, data),
            Err(e) => return Err(e),
            Ok(e) if e.kind == Kind::Dir => return Err(FsError::IsDir(p)),
            Ok(_) => {}
        }
        self.lfs
            .write_file(&p, ll::lfs_open_flags_LFS_O_APPEND, data)
    }

    /// Creates a directory (its parent must exist).
    pub fn mkdir(&mut self, path: &str) -> Result<(), FsError> {
        let p = norm(path)?;
        self.parent_dir(&p)?;
        self.lfs.mkdir(&p)
    }

    /// Removes a file, or a directory: an empty one, or with everything in
    /// it if `recursive`. Returns the number of entries removed.
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<usize, FsError> {
        let p = norm(path)?;
        if p == "/" {
            return Err(FsError::IsRoot);
        }
        let entry = self.stat(&p)?;
        if entry.kind == Kind::File {
            self.lfs.remove(&p)?;
            return Ok(1);
        }
        let children = self.lfs.read_dir(&p)?;
        if !children.is_empty() && !recursive {
            return Err(FsError::NotEmpty(p));
        }
        let mut n = 0;
        for c in children {
            let child = path::join(&p, &c.name);
            n += if c.is_dir {
                self.remove(&child, true)?
            } else {
                self.lfs.remove(&child)?;
                1
            };
        }
        self.lfs.remove(&p)?;
        Ok(n + 1)
    }

    /// Where renaming (normalised) `from` to `to` puts it: into `to` if
    /// that is a directory, else `to` itself.
    pub fn rename_target(&mut self, from: &str, to: &str) -> Result<String, FsError> {
        let to = norm(to)?;
        if self.exists(&to)? && self.stat(&to)?.kind == Kind::Dir {
            let name = path::split(from).map(|(_, n)| n).unwrap_or_default();
            return Ok(path::join(&to, name));
        }
        Ok(to)
    }

    /// Renames `from` to `to`, atomically. If `to` is a directory, `from`
    /// moves into it ([`Fs::rename_target`]). An existing target is not
    /// replaced. Returns the new path.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<String, FsError> {
        let from = norm(from)?;
        let to = norm(to)?;
        if from == "/" {
            return Err(FsError::IsRoot);
        }
        let what = self.stat(&from)?;
        let to = self.rename_target(&from, &to)?;
        if to == from {
            return Ok(to);
        }
        if what.kind == Kind::Dir && to.starts_with(&format!("{from}/")) {
            return Err(FsError::IntoItself(from));
        }
        if self.exists(&to)? {
            return Err(FsError::Exists(to));
        }
        self.parent_dir(&to)?;
        self.lfs.rename(&from, &to)?;
        Ok(to)
    }

    /// Space used and free.
    pub fn usage(&mut self) -> Result<Usage, FsError> {
        let (blocks, block_size) = self.lfs.fs_stat()?;
        let used_blocks = self.lfs.fs_size()?;
        Ok(Usage {
            block_size,
            blocks,
            used_blocks,
        })
    }

    /// Every file and directory below `path` (depth first, sorted), with
    /// its full path.
    pub fn walk(&mut self, path: &str) -> Result<Vec<(String, Entry)>, FsError> {
        let p = norm(path)?;
        let mut out = Vec::new();
        for e in self.list(&p)? {
            let full = path::join(&p, &e.name);
            let is_dir = e.kind == Kind::Dir;
            out.push((full.clone(), e));
            if is_dir {
                out.extend(self.walk(&full)?);
            }
        }
        Ok(out)
    }

    /// Temporary files left by writes a power cut interrupted (they are
    /// invisible and replaced by the next write of the same file).
    pub fn leftovers(&mut self, path: &str) -> Result<Vec<String>, FsError> {
        let p = norm(path)?;
        let mut out = Vec::new();
        for e in self.lfs.read_dir(&p)? {
            let full = path::join(&p, &e.name);
            if e.name.starts_with(TEMP_PREFIX) {
                out.push(full);
            } else if e.is_dir {
                out.extend(self.leftovers(&full)?);
            }
        }
        Ok(out)
    }
}
