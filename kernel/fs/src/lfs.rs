//! The safe wrapper over littlefs's C API: the only module of the crate with
//! `unsafe` (calls into C and the C library's callbacks into the block
//! device).
//!
//! littlefs keeps pointers to its configuration (which points back at the
//! state holding the device), so all of it lives in one heap block that
//! never moves ([`Lfs`] owns it through a raw pointer). Files and
//! directories are opened and closed within one method, so no littlefs
//! handle outlives a call.

use crate::block::{BlockDevice, IoError};
use crate::geometry::{BLOCK_CYCLES, BLOCK_SIZE, CACHE_SIZE, LOOKAHEAD_SIZE, SECTOR_SIZE};
use crate::FsError;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::{c_int, c_void};
use core::ptr::{addr_of, addr_of_mut, NonNull};
use littlefs2_sys as ll;

/// littlefs's state, configuration, caches and the device, in one block.
struct State<D> {
    lfs: ll::lfs_t,
    cfg: ll::lfs_config,
    read_cache: Vec<u8>,
    prog_cache: Vec<u8>,
    lookahead: Vec<u8>,
    dev: D,
    /// The device's last error (littlefs only sees LFS_ERR_IO).
    io_error: Option<IoError>,
}

/// A directory entry as littlefs reports it.
pub struct RawEntry {
    pub name: String,
    pub is_dir: bool,
    pub size: u32,
}

/// littlefs, mounted or not, on a device.
pub struct Lfs<D: BlockDevice> {
    state: NonNull<State<D>>,
    mounted: bool,
}

// SAFETY: the state is owned by `Lfs` alone (the pointers inside it point
// into the same heap block), so it moves between threads with `D`.
unsafe impl<D: BlockDevice + Send> Send for Lfs<D> {}

fn ctx<D>(c: *const ll::lfs_config) -> *mut State<D> {
    // SAFETY: littlefs passes back the configuration we gave it, whose
    // `context` is the state block (set in `Lfs::new`).
    unsafe { (*c).context as *mut State<D> }
}

fn io_result<D>(state: *mut State<D>, r: Result<(), IoError>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => {
            // SAFETY: `state` is the live state block (see `ctx`); littlefs
            // is single-threaded and holds no Rust reference to this field.
            unsafe { *addr_of_mut!((*state).io_error) = Some(e) };
            ll::lfs_error_LFS_ERR_IO
        }
    }
}

extern "C" fn bd_read<D: BlockDevice>(
    c: *const ll::lfs_config,
    block: ll::lfs_block_t,
    off: ll::lfs_off_t,
    buf: *mut c_void,
    size: ll::lfs_size_t,
) -> c_int {
    let state = ctx::<D>(c);
    // SAFETY: littlefs gives a buffer of `size` bytes; the device field is
    // only reached through this pointer while littlefs runs.
    let (dev, buf) = unsafe {
        (
            &mut *addr_of_mut!((*state).dev),
            core::slice::from_raw_parts_mut(buf as *mut u8, size as usize),
        )
    };
    let r = dev.read(block as u64 * BLOCK_SIZE as u64 + off as u64, buf);
    io_result(state, r)
}

extern "C" fn bd_prog<D: BlockDevice>(
    c: *const ll::lfs_config,
    block: ll::lfs_block_t,
    off: ll::lfs_off_t,
    buf: *const c_void,
    size: ll::lfs_size_t,
) -> c_int {
    let state = ctx::<D>(c);
    // SAFETY: as in `bd_read`.
    let (dev, data) = unsafe {
        (
            &mut *addr_of_mut!((*state).dev),
            core::slice::from_raw_parts(buf as *const u8, size as usize),
        )
    };
    let r = dev.write(block as u64 * BLOCK_SIZE as u64 + off as u64, data);
    io_result(state, r)
}

extern "C" fn bd_erase(_c: *const ll::lfs_config, _b: ll::lfs_block_t) -> c_int {
    // Disks need no erase: littlefs checksums what it reads.
    0
}

extern "C" fn bd_sync<D: BlockDevice>(c: *const ll::lfs_config) -> c_int {
    let state = ctx::<D>(c);
    // SAFETY: as in `bd_read`.
    let dev = unsafe { &mut *addr_of_mut!((*state).dev) };
    let r = dev.sync();
    io_result(state, r)
}

/// Turns a littlefs return code into a result (`path` names the object in
/// the message).
fn check(code: c_int, path: &str, io: Option<IoError>) -> Result<c_int, FsError> {
    if code >= 0 {
        return Ok(code);
    }
    let p = || String::from(path);
    Err(match code {
        ll::lfs_error_LFS_ERR_NOENT => FsError::NotFound(p()),
        ll::lfs_error_LFS_ERR_EXIST => FsError::Exists(p()),
        ll::lfs_error_LFS_ERR_NOTDIR => FsError::NotDir(p()),
        ll::lfs_error_LFS_ERR_ISDIR => FsError::IsDir(p()),
        ll::lfs_error_LFS_ERR_NOTEMPTY => FsError::NotEmpty(p()),
        ll::lfs_error_LFS_ERR_NAMETOOLONG => FsError::NameTooLong(p()),
        ll::lfs_error_LFS_ERR_NOSPC => FsError::NoSpace,
        ll::lfs_error_LFS_ERR_FBIG => FsError::TooLarge(p()),
        ll::lfs_error_LFS_ERR_CORRUPT => FsError::Corrupt,
        ll::lfs_error_LFS_ERR_IO => FsError::Io(io.map_or("I/O error", |e| e.0)),
        other => FsError::Other(other),
    })
}

/// A NUL-terminated copy of a path for C.
fn c_path(path: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(path.len() + 1);
    v.extend_from_slice(path.as_bytes());
    v.push(0);
    v
}

/// An open file: littlefs's handle, its cache and its config, boxed so they
/// stay put while open.
struct OpenFile {
    file: Box<ll::lfs_file_t>,
    _cache: Vec<u8>,
    _cfg: Box<ll::lfs_file_config>,
}

impl<D: BlockDevice> Lfs<D> {
    /// Sets littlefs up on `dev` (not mounted). `blocks` is the block count
    /// for formatting, 0 to take it from the superblock when mounting.
    pub fn new(dev: D, blocks: u32) -> Self {
        let state = Box::new(State {
            // SAFETY: lfs_t is plain C data; all-zero is its state before
            // lfs_format/lfs_mount initialise it.
            lfs: unsafe { core::mem::zeroed() },
            // SAFETY: likewise for the config (null callbacks and buffers
            // are filled in below).
            cfg: unsafe { core::mem::zeroed() },
            read_cache: vec![0; CACHE_SIZE as usize],
            prog_cache: vec![0; CACHE_SIZE as usize],
            lookahead: vec![0; LOOKAHEAD_SIZE as usize],
            dev,
            io_error: None,
        });
        let state = NonNull::from(Box::leak(state));
        let p = state.as_ptr();
        // SAFETY: `p` is the freshly leaked, exclusively owned state; the
        // buffers it points into live as long as it (and never reallocate).
        unsafe {
            let cfg = &mut *addr_of_mut!((*p).cfg);
            cfg.context = p as *mut c_void;
            cfg.read = Some(bd_read::<D>);
            cfg.prog = Some(bd_prog::<D>);
            cfg.erase = Some(bd_erase);
            cfg.sync = Some(bd_sync::<D>);
            cfg.read_size = SECTOR_SIZE;
            cfg.prog_size = SECTOR_SIZE;
            cfg.block_size = BLOCK_SIZE;
            cfg.block_count = blocks;
            cfg.block_cycles = BLOCK_CYCLES;
            cfg.cache_size = CACHE_SIZE;
            cfg.lookahead_size = LOOKAHEAD_SIZE;
            cfg.read_buffer = (*addr_of_mut!((*p).read_cache)).as_mut_ptr() as *mut c_void;
            cfg.prog_buffer = (*addr_of_mut!((*p).prog_cache)).as_mut_ptr() as *mut c_void;
            cfg.lookahead_buffer = (*addr_of_mut!((*p).lookahead)).as_mut_ptr() as *mut c_void;
        }
        Lfs {
            state,
            mounted: false,
        }
    }

    fn lfs(&self) -> *mut ll::lfs_t {
        // SAFETY: the state block is live while `self` is.
        unsafe { addr_of_mut!((*self.state.as_ptr()).lfs) }
    }

    fn cfg(&self) -> *const ll::lfs_config {
        // SAFETY: as in `lfs`.
        unsafe { addr_of!((*self.state.as_ptr()).cfg) }
    }

    fn take_io_error(&mut self) -> Option<IoError> {
        // SAFETY: as in `lfs`; no littlefs call is running.
        unsafe { (*addr_of_mut!((*self.state.as_ptr()).io_error)).take() }
    }

    fn result(&mut self, code: c_int, path: &str) -> Result<c_int, FsError> {
        let io = self.take_io_error();
        check(code, path, io)
    }

    /// The device (no littlefs call is running while it is borrowed).
    pub fn device(&mut self) -> &mut D {
        // SAFETY: as in `take_io_error`.
        unsafe { &mut *addr_of_mut!((*self.state.as_ptr()).dev) }
    }

    pub fn format(&mut self) -> Result<(), FsError> {
        // SAFETY: state and config are set up (see `new`) and stay put.
        let code = unsafe { ll::lfs_format(self.lfs(), self.cfg()) };
        self.result(code, "/").map(drop)
    }

    pub fn mount(&mut self) -> Result<(), FsError> {
        // SAFETY: as in `format`.
        let code = unsafe { ll::lfs_mount(self.lfs(), self.cfg()) };
        self.result(code, "/")?;
        self.mounted = true;
        Ok(())
    }

    /// Block count and size from the mounted superblock.
    pub fn fs_stat(&mut self) -> Result<(u32, u32), FsError> {
        // SAFETY: lfs_fsinfo is plain C data, filled by lfs_fs_stat.
        let mut info: ll::lfs_fsinfo = unsafe { core::mem::zeroed() };
        // SAFETY: mounted filesystem, valid out pointer.
        let code = unsafe { ll::lfs_fs_stat(self.lfs(), &mut info) };
        self.result(code, "/")?;
        Ok((info.block_count, info.block_size))
    }

    /// Blocks in use.
    pub fn fs_size(&mut self) -> Result<u32, FsError> {
        // SAFETY: mounted filesystem.
        let code = unsafe { ll::lfs_fs_size(self.lfs()) };
        Ok(self.result(code, "/")? as u32)
    }

    pub fn stat(&mut self, path: &str) -> Result<RawEntry, FsError> {
        let c = c_path(path);
        // SAFETY: lfs_info is plain C data.
        let mut info: ll::lfs_info = unsafe { core::mem::zeroed() };
        // SAFETY: NUL-terminated path, valid out pointer.
        let code = unsafe { ll::lfs_stat(self.lfs(), c.as_ptr() as *const _, &mut info) };
        self.result(code, path)?;
        Ok(entry(&info))
    }

    pub fn mkdir(&mut self, path: &str) -> Result<(), FsError> {
        let c = c_path(path);
        // SAFETY: NUL-terminated path.
        let code = unsafe { ll::lfs_mkdir(self.lfs(), c.as_ptr() as *const _) };
        self.result(code, path).map(drop)
    }

    pub fn remove(&mut self, path: &str) -> Result<(), FsError> {
        let c = c_path(path);
        // SAFETY: NUL-terminated path.
        let code = unsafe { ll::lfs_remove(self.lfs(), c.as_ptr() as *const _) };
        self.result(code, path).map(drop)
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), FsError> {
        let (a, b) = (c_path(from), c_path(to));
        let code =
            // SAFETY: NUL-terminated paths.
            unsafe { ll::lfs_rename(self.lfs(), a.as_ptr() as *const _, b.as_ptr() as *const _) };
        self.result(code, from).map(drop)
    }

    /// The entries of a directory (without `.` and `..`).
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<RawEntry>, FsError> {
        let c = c_path(path);
        // SAFETY: lfs_dir_t is plain C data, initialised by lfs_dir_open;
        // boxed so it stays put while open (littlefs links open dirs).
        let mut dir: Box<ll::lfs_dir_t> = Box::new(unsafe { core::mem::zeroed() });
        // SAFETY: NUL-terminated path, the dir handle stays put until closed.
        let code = unsafe { ll::lfs_dir_open(self.lfs(), &mut *dir, c.as_ptr() as *const _) };
        self.result(code, path)?;
        let mut out = Vec::new();
        let err = loop {
            // SAFETY: lfs_info is plain C data.
            let mut info: ll::lfs_info = unsafe { core::mem::zeroed() };
            // SAFETY: open dir handle, valid out pointer.
            let code = unsafe { ll::lfs_dir_read(self.lfs(), &mut *dir, &mut info) };
            match self.result(code, path) {
                Ok(0) => break None,
                Ok(_) => {
                    let e = entry(&info);
                    if e.name != "." && e.name != ".." {
                        out.push(e);
                    }
                }
                Err(e) => break Some(e),
            }
        };
        // SAFETY: the dir was opened above.
        let code = unsafe { ll::lfs_dir_close(self.lfs(), &mut *dir) };
        let closed = self.result(code, path);
        match err {
            Some(e) => Err(e),
            None => closed.map(|_| out),
        }
    }

    fn open(&mut self, path: &str, flags: c_int) -> Result<OpenFile, FsError> {
        let c = c_path(path);
        let mut cache = vec![0u8; CACHE_SIZE as usize];
        // SAFETY: lfs_file_config is plain C data (no attributes).
        let mut cfg: Box<ll::lfs_file_config> = Box::new(unsafe { core::mem::zeroed() });
        cfg.buffer = cache.as_mut_ptr() as *mut c_void;
        // SAFETY: plain C data, initialised by lfs_file_opencfg.
        let mut file: Box<ll::lfs_file_t> = Box::new(unsafe { core::mem::zeroed() });
        // SAFETY: NUL-terminated path; handle, config and cache are boxed
        // and live in the returned OpenFile until it is closed.
        let code = unsafe {
            ll::lfs_file_opencfg(self.lfs(), &mut *file, c.as_ptr() as *const _, flags, &*cfg)
        };
        self.result(code, path)?;
        Ok(OpenFile {
            file,
            _cache: cache,
            _cfg: cfg,
        })
    }

    fn close(&mut self, mut f: OpenFile, path: &str) -> Result<(), FsError> {
        // SAFETY: `f` was opened by `open` and is closed once (consumed).
        let code = unsafe { ll::lfs_file_close(self.lfs(), &mut *f.file) };
        self.result(code, path).map(drop)
    }

    /// Reads up to `limit` bytes of a file from byte `offset` (from its end
    /// if `from_end`); returns them and the file size.
    pub fn read_file(
        &mut self,
        path: &str,
        offset: u64,
        from_end: bool,
        limit: usize,
    ) -> Result<(Vec<u8>, u64), FsError> {
        let mut f = self.open(path, ll::lfs_open_flags_LFS_O_RDONLY as c_int)?;
        // SAFETY: open file handle.
        let size = unsafe { ll::lfs_file_size(self.lfs(), &mut *f.file) };
        let size = match self.result(size, path) {
            Ok(s) => s as u64,
            Err(e) => {
                let _ = self.close(f, path);
                return Err(e);
            }
        };
        let start = if from_end {
            size.saturating_sub(offset)
        } else {
            offset.min(size)
        };
        if start > 0 {
            // SAFETY: open file handle; `start` is within the file.
            let r = unsafe {
                ll::lfs_file_seek(
                    self.lfs(),
                    &mut *f.file,
                    start as ll::lfs_soff_t,
                    ll::lfs_whence_flags_LFS_SEEK_SET as c_int,
                )
            };
            if let Err(e) = self.result(r, path) {
                let _ = self.close(f, path);
                return Err(e);
            }
        }
        let want = ((size - start) as usize).min(limit);
        // The file's size comes from the disk: its buffer is allocated
        // fallibly, so that a file larger than memory is an error.
        let mut buf = Vec::new();
        if buf.try_reserve_exact(want).is_err() {
            let _ = self.close(f, path);
            return Err(FsError::OutOfMemory(want as u64));
        }
        buf.resize(want, 0);
        let mut got = 0;
        let mut err = None;
        while got < want {
            // SAFETY: open file handle; the buffer has `want - got` bytes
            // from `got`.
            let n = unsafe {
                ll::lfs_file_read(
                    self.lfs(),
                    &mut *f.file,
                    buf[got..].as_mut_ptr() as *mut c_void,
                    (want - got) as ll::lfs_size_t,
                )
            };
            match self.result(n, path) {
                Ok(0) => break,
                Ok(n) => got += n as usize,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        buf.truncate(got);
        let closed = self.close(f, path);
        match err {
            Some(e) => Err(e),
            None => closed.map(|_| (buf, size)),
        }
    }

    /// Opens with `flags`, writes `data`, closes (which commits: until then
    /// the file on disk is unchanged). A failed write commits nothing.
    pub fn write_file(&mut self, path: &str, flags: u32, data: &[u8]) -> Result<(), FsError> {
        let flags = (ll::lfs_open_flags_LFS_O_WRONLY | flags) as c_int;
        let mut f = self.open(path, flags)?;
        let mut done = 0;
        while done < data.len() {
            // SAFETY: open file handle; `data[done..]` is readable.
            let n = unsafe {
                ll::lfs_file_write(
                    self.lfs(),
                    &mut *f.file,
                    data[done..].as_ptr() as *const c_void,
                    (data.len() - done) as ll::lfs_size_t,
                )
            };
            match self.result(n, path) {
                Ok(n) => done += n as usize,
                Err(e) => {
                    // littlefs marks the file as failed: closing it commits
                    // nothing, the file stays as it was.
                    let _ = self.close(f, path);
                    return Err(e);
                }
            }
        }
        self.close(f, path)
    }
}

fn entry(info: &ll::lfs_info) -> RawEntry {
    let bytes: Vec<u8> = info
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    RawEntry {
        name: String::from_utf8_lossy(&bytes).into_owned(),
        is_dir: info.type_ as u32 == ll::lfs_type_LFS_TYPE_DIR,
        size: info.size,
    }
}

impl<D: BlockDevice> Drop for Lfs<D> {
    fn drop(&mut self) {
        if self.mounted {
            // SAFETY: mounted filesystem with no open handles.
            unsafe { ll::lfs_unmount(self.lfs()) };
        }
        // SAFETY: the state was leaked from a Box in `new` and is freed once.
        drop(unsafe { Box::from_raw(self.state.as_ptr()) });
    }
}

/// Moves the device out of a dropped `Lfs`.
pub fn into_device<D: BlockDevice>(lfs: Lfs<D>) -> D {
    let lfs = core::mem::ManuallyDrop::new(lfs);
    if lfs.mounted {
        // SAFETY: mounted filesystem with no open handles.
        unsafe { ll::lfs_unmount(lfs.lfs()) };
    }
    // SAFETY: the state was leaked from a Box in `new`; `lfs` is not dropped,
    // so it is freed only here.
    let state = unsafe { Box::from_raw(lfs.state.as_ptr()) };
    state.dev
}

/// `strcpy`, which littlefs calls and a freestanding kernel has no C library
/// for (tinyrlibc provides the other string functions; compiler-builtins
/// the mem* ones). Only in kernel builds (`c-stubs`): the host has libc.
///
/// # Safety
/// `src` is NUL-terminated and `dst` has room for it, NUL included (C's
/// contract; littlefs is the only caller).
#[cfg(feature = "c-stubs")]
// SAFETY: tinyrlibc, the only C library the kernel links, has no
// `strcpy`, so this is the only symbol of that name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcpy(
    dst: *mut core::ffi::c_char,
    src: *const core::ffi::c_char,
) -> *mut core::ffi::c_char {
    let mut i = 0;
    // SAFETY: the caller (littlefs) passes a NUL-terminated `src` and a
    // `dst` large enough for it, as strcpy requires.
    unsafe {
        loop {
            let c = *src.add(i);
            *dst.add(i) = c;
            if c == 0 {
                break;
            }
            i += 1;
        }
    }
    dst
}
