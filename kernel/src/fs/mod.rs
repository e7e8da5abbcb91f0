//! The filesystem (`kfs`: littlefs) on the data disk, or on a RAM disk when
//! there is none.
//!
//! At boot every virtio disk is probed ([`kfs::probe`] on its first 64 KiB):
//! - a littlefs superblock: the data disk (the first one found); a damaged
//!   filesystem is reported and left alone, never reformatted;
//! - a model pack or a raw GGUF: the model disk, not ours;
//! - only zeros: a blank disk, formatted as the data disk;
//! - anything else: a foreign disk, explained and never touched.
//!
//! Without a data disk the same filesystem runs on a RAM disk, and the
//! banner and `/df` say that files will not persist.
//!
//! Durability: a command reports success only after littlefs has committed
//! (file closed) and the device's write cache was flushed (see
//! [`device::VirtioDisk`]).

pub mod commands;
mod device;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use device::VirtioDisk;
use kfs::{BlockDevice, Content, Fs, RamDisk, Session};
use spin::Mutex;

/// The device the filesystem runs on.
pub type Device = Box<dyn BlockDevice + Send>;

/// Size of the RAM disk used without a data disk.
const RAM_DISK_BYTES: usize = 8 << 20;

/// The mounted filesystem and the shell's current directory.
pub struct Mounted {
    pub fs: Fs<Device>,
    pub session: Session,
    /// Where the data lives, one line (for `/df` and the banner).
    pub location: String,
}

static FS: Mutex<Option<Mounted>> = Mutex::new(None);

/// What the boot found, for the banner.
static SUMMARY: Mutex<String> = Mutex::new(String::new());

/// The banner's line about files.
pub fn summary() -> String {
    SUMMARY.lock().clone()
}

/// Runs `f` on the filesystem.
pub fn with<R>(f: impl FnOnce(&mut Mounted) -> R) -> Result<R, String> {
    let mut g = FS.lock();
    match g.as_mut() {
        Some(m) => Ok(f(m)),
        None => Err(String::from(
            "no filesystem (the RAM disk could not be set up)",
        )),
    }
}

fn is_model(start: &[u8]) -> bool {
    start.starts_with(b"LLMPACK1") || start.starts_with(b"GGUF")
}

/// Probes the virtio disks and mounts the data disk, or a RAM disk.
pub fn init() {
    let mut notes = alloc::vec::Vec::new();
    let mut mounted = None;
    for d in crate::drivers::virtio::blk::disks() {
        if mounted.is_some() {
            break;
        }
        let mut start = vec![0u8; kfs::probe::PROBE_BYTES.min(d.size as usize)];
        if let Err(e) = d.read_at(0, &mut start, true) {
            notes.push(format!("{}: unreadable ({e}); not used for files", d.name));
            continue;
        }
        let content = kfs::probe(&start);
        if content != Content::Littlefs && is_model(&start) {
            continue;
        }
        if d.read_only {
            if content == Content::Littlefs {
                notes.push(format!(
                    "{}: littlefs, but the disk is read-only; not used",
                    d.name
                ));
            }
            continue;
        }
        let dev: Device = Box::new(VirtioDisk::new(d));
        let t = crate::time::uptime();
        let r = match content {
            Content::Littlefs => Fs::mount(dev),
            Content::Blank => {
                log::info!("fs: {} is blank: formatting it as the data disk", d.name);
                Fs::format(dev)
            }
            Content::Foreign => {
                notes.push(format!(
                    "{}: holds something else (not littlefs, not a model): not formatted, not used",
                    d.name
                ));
                continue;
            }
        };
        match r {
            Ok(fs) => {
                log::info!("fs: mounted {} in {:?}", d.name, crate::time::uptime() - t);
                mounted = Some(Mounted {
                    fs,
                    session: Session::new(),
                    location: format!(
                        "data disk {} ({}{}), persistent",
                        d.name,
                        klib::units::Bytes(d.size),
                        if d.serial.is_empty() {
                            String::new()
                        } else {
                            format!(", serial {}", d.serial)
                        }
                    ),
                });
            }
            Err(e) => notes.push(format!(
                "{}: littlefs that does not mount ({e}): left as it is, not reformatted",
                d.name
            )),
        }
    }
    for n in &notes {
        log::warn!("fs: {n}");
    }
    if mounted.is_none() {
        let dev: Device = Box::new(RamDisk::new(RAM_DISK_BYTES));
        match Fs::format(dev) {
            Ok(fs) => {
                mounted = Some(Mounted {
                    fs,
                    session: Session::new(),
                    location: String::from("RAM disk (no data disk): files will not persist"),
                })
            }
            Err(e) => log::error!("fs: the RAM disk could not be formatted: {e}"),
        }
    }
    let line = match &mounted {
        Some(m) => m.location.clone(),
        None => String::from("none"),
    };
    *SUMMARY.lock() = line;
    *FS.lock() = mounted;
}

/// Whether the file system's lock is held (the scheduler does not preempt
/// then: `task::sched`).
pub fn lock_held() -> bool {
    FS.is_locked()
}
