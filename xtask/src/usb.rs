//! `cargo xtask usb [DEVICE] [--model M] [--force] [--yes-i-typed-it NAME]`:
//! writes the disk image (one for BIOS and UEFI, the model's pack as its
//! ramdisk) to a USB stick, and refuses anything that might be the
//! person's own disk.
//!
//! - Without DEVICE it lists the removable devices it would accept.
//! - DEVICE must be a whole block device (`/dev/sdX`, or a
//!   `/dev/disk/by-id/...` link to one), not a partition or a file.
//! - Refused: a device that is not removable (sysfs `removable` is 0 and
//!   it is not on a USB bus), one that is mounted (it or a partition), one
//!   used as swap or by device-mapper/RAID (holders), one holding the
//!   running system (the root filesystem's device, through device-mapper
//!   layers), and one larger than 128 GiB unless `--force` is given.
//! - It shows vendor, model, size and the partitions, asks the person to
//!   type the device's name, writes with a progress bar, syncs, reads the
//!   image's length back (bypassing the page cache where the device
//!   allows) and compares SHA-256 hashes.
//!
//! The checks read `/sys/block`, `/proc/mounts` and `/proc/swaps` through
//! [`System`], so the tests run them on fake trees.

use crate::args::Args;
use crate::models::sha256::Sha256;
use anyhow::{bail, Context, Result};
use std::fmt;
use std::fs;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

/// Devices larger than this need `--force`: USB sticks are smaller, the
/// person's disks usually are not.
pub const MAX_SIZE: u64 = 128 << 30;

/// Where the facts about block devices come from.
pub struct System {
    /// `/sys/block`.
    pub sys_block: PathBuf,
    /// `/proc/mounts`.
    pub mounts: PathBuf,
    /// `/proc/swaps`.
    pub swaps: PathBuf,
    /// `/dev`.
    pub dev: PathBuf,
    /// Check that a path is a block device node (off for fake trees, whose
    /// `dev` holds regular files).
    pub real_nodes: bool,
}

impl System {
    pub fn host() -> System {
        System {
            sys_block: "/sys/block".into(),
            mounts: "/proc/mounts".into(),
            swaps: "/proc/swaps".into(),
            dev: "/dev".into(),
            real_nodes: true,
        }
    }

    fn read(&self, path: &Path) -> Option<String> {
        fs::read_to_string(path).ok().map(|s| s.trim().to_string())
    }

    /// Whole-disk names in `/sys/block`.
    fn disks(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.sys_block)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The partitions of disk `name` (directories with a `partition` file).
    fn partitions(&self, name: &str) -> Vec<String> {
        let dir = self.sys_block.join(name);
        let mut parts: Vec<String> = fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("partition").exists())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        parts.sort();
        parts
    }

    /// The disk that `name` (a disk or a partition) belongs to.
    fn disk_of(&self, name: &str) -> Option<String> {
        if self.sys_block.join(name).is_dir() {
            return Some(name.to_string());
        }
        self.disks()
            .into_iter()
            .find(|d| self.sys_block.join(d).join(name).join("partition").exists())
    }

    /// The kernel name of the device a `/proc/mounts` source names.
    fn device_name(&self, source: &str) -> Option<String> {
        if let Some(dm) = source.strip_prefix("/dev/mapper/") {
            return self.disks().into_iter().find(|d| {
                self.read(&self.sys_block.join(d).join("dm").join("name"))
                    .is_some_and(|n| n == dm)
            });
        }
        let rel = Path::new(source).strip_prefix("/dev").ok()?;
        let path = self.dev.join(rel);
        let path = fs::canonicalize(&path).unwrap_or(path);
        Some(path.file_name()?.to_string_lossy().into_owned())
    }

    /// The whole disks under device `name`, through device-mapper/RAID
    /// layers (`slaves`).
    fn backing_disks(&self, name: &str, depth: usize) -> Vec<String> {
        let Some(disk) = self.disk_of(name) else {
            return Vec::new();
        };
        let slaves_dir = if disk == name {
            self.sys_block.join(name).join("slaves")
        } else {
            self.sys_block.join(&disk).join(name).join("slaves")
        };
        let slaves: Vec<String> = fs::read_dir(&slaves_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if slaves.is_empty() || depth > 8 {
            return vec![disk];
        }
        slaves
            .iter()
            .flat_map(|s| self.backing_disks(s, depth + 1))
            .collect()
    }
}

/// What the checks found out about one whole disk.
#[derive(Debug, Clone)]
pub struct Disk {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub removable: bool,
    pub usb: bool,
    pub vendor: String,
    pub model: String,
    /// Name and size of each partition.
    pub partitions: Vec<(String, u64)>,
}

impl Disk {
    pub fn read(sys: &System, name: &str) -> Option<Disk> {
        let dir = sys.sys_block.join(name);
        if !dir.is_dir() {
            return None;
        }
        let sectors = |d: &Path| {
            sys.read(&d.join("size"))
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let usb = fs::canonicalize(&dir)
            .map(|p| p.to_string_lossy().contains("/usb"))
            .unwrap_or(false);
        Some(Disk {
            name: name.into(),
            path: sys.dev.join(name),
            size: sectors(&dir) * 512,
            removable: sys.read(&dir.join("removable")).as_deref() == Some("1"),
            usb,
            vendor: sys
                .read(&dir.join("device").join("vendor"))
                .unwrap_or_default(),
            model: sys
                .read(&dir.join("device").join("model"))
                .unwrap_or_default(),
            partitions: sys
                .partitions(name)
                .into_iter()
                .map(|p| {
                    let size = sectors(&dir.join(&p)) * 512;
                    (p, size)
                })
                .collect(),
        })
    }

    /// "SanDisk Cruzer Blade, 14.9 GiB".
    pub fn describe(&self) -> String {
        let what = format!("{} {}", self.vendor, self.model);
        let what = what.trim();
        format!(
            "{}, {}",
            if what.is_empty() {
                "unknown device"
            } else {
                what
            },
            gib(self.size)
        )
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Why a device is not written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound(String),
    NotBlockDevice(String),
    Partition { partition: String, disk: String },
    NotRemovable,
    Mounted(Vec<String>),
    Swap(Vec<String>),
    Held(Vec<String>),
    System,
    TooLarge(u64),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotFound(p) => write!(f, "{p} does not exist"),
            Refusal::NotBlockDevice(p) => write!(
                f,
                "{p} is not a block device (give the stick's device, e.g. /dev/sdb)"
            ),
            Refusal::Partition { partition, disk } => write!(
                f,
                "{partition} is a partition: give the whole device, /dev/{disk}"
            ),
            Refusal::NotRemovable => write!(
                f,
                "it is not a removable device (not a USB stick or card): refusing to overwrite what may be your own disk"
            ),
            Refusal::Mounted(m) => write!(f, "it is mounted ({}): unmount it first", m.join(", ")),
            Refusal::Swap(s) => write!(f, "it is used as swap ({})", s.join(", ")),
            Refusal::Held(h) => write!(
                f,
                "it is in use by {} (device-mapper, LVM, RAID or encryption)",
                h.join(", ")
            ),
            Refusal::System => write!(f, "it holds the running system (the root filesystem)"),
            Refusal::TooLarge(size) => write!(
                f,
                "it is {} (more than {} GiB, unusual for a USB stick): add --force if you are sure",
                gib(*size),
                MAX_SIZE >> 30
            ),
        }
    }
}

/// Resolves DEVICE to the name of a whole disk, or says why not.
pub fn resolve(sys: &System, device: &Path) -> Result<String, Refusal> {
    let shown = device.display().to_string();
    if !device.exists() {
        return Err(Refusal::NotFound(shown));
    }
    let path = fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    if sys.real_nodes {
        use std::os::unix::fs::FileTypeExt;
        let is_block = fs::metadata(&path)
            .map(|m| m.file_type().is_block_device())
            .unwrap_or(false);
        if !is_block {
            return Err(Refusal::NotBlockDevice(shown));
        }
    }
    if path.parent() != Some(sys.dev.as_path()) {
        return Err(Refusal::NotBlockDevice(shown));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Refusal::NotBlockDevice(shown.clone()))?;
    match sys.disk_of(&name) {
        Some(disk) if disk == name => Ok(name),
        Some(disk) => Err(Refusal::Partition {
            partition: shown,
            disk,
        }),
        None => Err(Refusal::NotBlockDevice(shown)),
    }
}

/// Every reason not to write to `disk` (empty: it is acceptable).
pub fn refusals(sys: &System, disk: &Disk, force: bool) -> Vec<Refusal> {
    let mut out = Vec::new();
    if !disk.removable && !disk.usb {
        out.push(Refusal::NotRemovable);
    }
    let ours = |name: &str| sys.disk_of(name).as_deref() == Some(disk.name.as_str());
    let mounts = fs::read_to_string(&sys.mounts).unwrap_or_default();
    let mut mounted = Vec::new();
    let mut system = false;
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(source), Some(target)) = (f.next(), f.next()) else {
            continue;
        };
        let Some(name) = sys.device_name(source) else {
            continue;
        };
        if ours(&name) {
            mounted.push(format!("{source} on {target}"));
        }
        if target == "/" && sys.backing_disks(&name, 0).contains(&disk.name) {
            system = true;
        }
    }
    if !mounted.is_empty() {
        out.push(Refusal::Mounted(mounted));
    }
    let swaps = fs::read_to_string(&sys.swaps).unwrap_or_default();
    let swap: Vec<String> = swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| sys.device_name(s).is_some_and(|n| ours(&n)))
        .map(String::from)
        .collect();
    if !swap.is_empty() {
        out.push(Refusal::Swap(swap));
    }
    let mut held = Vec::new();
    let dir = sys.sys_block.join(&disk.name);
    let mut holder_dirs = vec![dir.join("holders")];
    holder_dirs.extend(
        disk.partitions
            .iter()
            .map(|(p, _)| dir.join(p).join("holders")),
    );
    for h in holder_dirs {
        if let Ok(d) = fs::read_dir(&h) {
            held.extend(
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    if !held.is_empty() {
        held.sort();
        held.dedup();
        out.push(Refusal::Held(held));
    }
    if system {
        out.push(Refusal::System);
    }
    if disk.size > MAX_SIZE && !force {
        out.push(Refusal::TooLarge(disk.size));
    }
    out
}

/// The disks that pass every check, and the refused ones with reasons.
pub fn survey(sys: &System) -> (Vec<Disk>, Vec<(Disk, Vec<Refusal>)>) {
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for name in sys.disks() {
        let Some(disk) = Disk::read(sys, &name) else {
            continue;
        };
        let why = refusals(sys, &disk, false);
        if why.is_empty() {
            ok.push(disk);
        } else {
            refused.push((disk, why));
        }
    }
    (ok, refused)
}

/// Writes `image` to the start of `target`, syncs, reads the same length
/// back and compares SHA-256 hashes. `progress(done, total)` is called as
/// bytes are written.
pub fn write_and_verify(
    image: &Path,
    target: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    const CHUNK: usize = 4 << 20;
    let total = fs::metadata(image)
        .with_context(|| format!("reading {}", image.display()))?
        .len();
    let mut src = fs::File::open(image).with_context(|| format!("opening {}", image.display()))?;
    // O_EXCL on a block device: the open fails if anything (a mount, a
    // device-mapper table) holds it.
    const O_EXCL: i32 = 0o200;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .custom_flags(O_EXCL)
        .open(target)
        .with_context(|| format!("opening {} for writing", target.display()))?;
    let mut want = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    progress(0, total);
    loop {
        let n = src.read(&mut buf).context("reading the image")?;
        if n == 0 {
            break;
        }
        want.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .with_context(|| format!("writing {}", target.display()))?;
        done += n as u64;
        progress(done, total);
    }
    dst.sync_all()
        .with_context(|| format!("syncing {}", target.display()))?;
    drop(dst);
    let want = want.hex();

    // Read back past the page cache where possible (O_DIRECT needs
    // aligned buffers and lengths; files on tmpfs refuse it).
    const O_DIRECT: i32 = 0o40000;
    const ALIGN: usize = 4096;
    let direct = fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_DIRECT)
        .open(target);
    let (mut back, direct) = match direct {
        Ok(f) => (f, true),
        Err(_) => (fs::File::open(target)?, false),
    };
    let mut aligned = AlignedBuf::new(CHUNK, ALIGN);
    let mut got = Sha256::new();
    let mut left = total;
    while left > 0 {
        let buf = aligned.as_mut_slice();
        let n = match back.read(buf) {
            Ok(n) => n,
            Err(e) if direct && e.raw_os_error() == Some(22) => {
                // EINVAL: this file does not do O_DIRECT after all.
                bail!("reading {} back: {e}", target.display())
            }
            Err(e) => return Err(e).context(format!("reading {} back", target.display())),
        };
        if n == 0 {
            bail!(
                "{} ended {} bytes before the image's end",
                target.display(),
                left
            );
        }
        let take = (n as u64).min(left) as usize;
        got.update(&buf[..take]);
        left -= take as u64;
    }
    let got = got.hex();
    if got != want {
        bail!(
            "verification failed: the image hashes to {want}, {} reads back as {got}",
            target.display()
        );
    }
    Ok(want)
}

/// A heap buffer with a chosen alignment (for O_DIRECT reads).
struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    fn new(len: usize, align: usize) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len, align).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        AlignedBuf { ptr, layout }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised bytes owned
        // by this buffer.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// A one-line progress bar on stderr.
fn progress_bar() -> impl FnMut(u64, u64) {
    let start = std::time::Instant::now();
    let mut last_pct = u64::MAX;
    move |done, total| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if pct == last_pct {
            return;
        }
        last_pct = pct;
        let width = 30;
        let filled = (pct * width / 100) as usize;
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\rwriting [{}{}] {:5.1}/{:.1} MiB {pct:3}% {:.0} MB/s",
            "#".repeat(filled),
            "-".repeat(width as usize - filled),
            done as f64 / (1 << 20) as f64,
            total as f64 / (1 << 20) as f64,
            done as f64 / secs / 1e6
        );
        if done == total {
            eprintln!();
        }
    }
}

fn print_disk(d: &Disk) {
    println!("  {}  {}", d.path.display(), d.describe());
    for (p, size) in &d.partitions {
        println!("      {p}  {}", gib(*size));
    }
}

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let model = args.value("--model")?;
    let force = args.flag("--force");
    let typed = args.value("--yes-i-typed-it")?;
    let device = args.positional();
    args.finish()?;
    let sys = System::host();

    let Some(device) = device else {
        let (ok, refused) = survey(&sys);
        if ok.is_empty() {
            println!("no removable device found that could be written (plug in a USB stick)");
        } else {
            println!("removable devices that `cargo xtask usb DEVICE` would write:");
            for d in &ok {
                print_disk(d);
            }
        }
        let refused: Vec<_> = refused
            .iter()
            .filter(|(d, _)| {
                d.size > 0 && !d.name.starts_with("loop") && !d.name.starts_with("ram")
            })
            .collect();
        if !refused.is_empty() {
            println!("refused:");
            for (d, why) in refused {
                let why: Vec<String> = why.iter().map(|r| r.to_string()).collect();
                println!(
                    "  {}  {}: {}",
                    d.path.display(),
                    d.describe(),
                    why.join("; ")
                );
            }
        }
        return Ok(());
    };

    let name =
        resolve(&sys, Path::new(&device)).map_err(|r| anyhow::anyhow!("refusing {device}: {r}"))?;
    let disk = Disk::read(&sys, &name).context("the device vanished")?;
    let why = refusals(&sys, &disk, force);
    if !why.is_empty() {
        let why: Vec<String> = why.iter().map(|r| r.to_string()).collect();
        bail!("refusing {}: {}", disk.path.display(), why.join("; "));
    }

    // Build the image first: nothing is asked before it exists.
    let model = model.unwrap_or_else(|| "qwen-coder".into());
    let pack = crate::packs::ensure(&model)?;
    let out = crate::util::root().join("target").join("images-ramdisk");
    let dir = crate::build::images(&out, Some(&pack))?;
    let image = dir.join("disk.img");
    let size = fs::metadata(&image)?.len();
    if size > disk.size {
        bail!(
            "the image ({}) does not fit on {} ({})",
            gib(size),
            disk.path.display(),
            gib(disk.size)
        );
    }

    println!(
        "about to ERASE this device and write the {model} image ({:.1} MiB):",
        size as f64 / (1 << 20) as f64
    );
    print_disk(&disk);
    if disk.partitions.is_empty() {
        println!("      (no partitions)");
    }
    let answer = match typed {
        Some(t) => t,
        None => {
            print!("type the device name ({}) to confirm: ", disk.name);
            std::io::stdout().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_string()
        }
    };
    if answer != disk.name && answer != disk.path.display().to_string() {
        bail!(
            "not confirmed (typed {answer:?}, expected {:?}): nothing written",
            disk.name
        );
    }
    let hash = write_and_verify(&image, &disk.path, &mut progress_bar())?;
    println!(
        "written and verified (SHA-256 {}): {} boots BIOS and UEFI PCs into {model}",
        &hash[..16],
        disk.path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake machine: `/sys/block`, `/dev`, `/proc/mounts`, `/proc/swaps`.
    struct Fake {
        root: PathBuf,
    }

    impl Fake {
        fn new(name: &str) -> Fake {
            let root =
                std::env::temp_dir().join(format!("xtask-usb-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(root.join("sys/block")).unwrap();
            fs::create_dir_all(root.join("dev/mapper")).unwrap();
            fs::write(root.join("mounts"), "proc /proc proc rw 0 0\n").unwrap();
            fs::write(root.join("swaps"), "Filename Type Size Used Priority\n").unwrap();
            Fake { root }
        }

        fn sys(&self) -> System {
            System {
                sys_block: self.root.join("sys/block"),
                mounts: self.root.join("mounts"),
                swaps: self.root.join("swaps"),
                dev: self.root.join("dev"),
                real_nodes: false,
            }
        }

        fn disk(&self, name: &str, removable: bool, gib: u64, parts: &[&str]) -> &Fake {
            let d = self.root.join("sys/block").join(name);
            fs::create_dir_all(d.join("device")).unwrap();
            fs::create_dir_all(d.join("holders")).unwrap();
            fs::write(d.join("removable"), if removable { "1\n" } else { "0\n" }).unwrap();
            fs::write(d.join("size"), format!("{}\n", gib * 2 * 1024 * 1024)).unwrap();
            fs::write(d.join("device/vendor"), "Vendor  \n").unwrap();
            fs::write(d.join("device/model"), format!("Model {name}\n")).unwrap();
            fs::write(self.root.join("dev").join(name), "").unwrap();
            for p in parts {
                fs::create_dir_all(d.join(p).join("holders")).unwrap();
                fs::write(d.join(p).join("partition"), "1\n").unwrap();
                fs::write(d.join(p).join("size"), "2048\n").unwrap();
                fs::write(self.root.join("dev").join(p), "").unwrap();
            }
            self
        }

        fn mount(&self, line: &str) {
            let p = self.root.join("mounts");
            let mut s = fs::read_to_string(&p).unwrap();
            s.push_str(line);
            s.push('\n');
            fs::write(p, s).unwrap();
        }

        fn check(&self, dev: &str, force: bool) -> Result<Vec<Refusal>, Refusal> {
            let sys = self.sys();
            let name = resolve(&sys, &self.root.join("dev").join(dev))?;
            Ok(refusals(&sys, &Disk::read(&sys, &name).unwrap(), force))
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn a_removable_unmounted_stick_is_accepted_and_listed() {
        let f = Fake::new("ok");
        f.disk("sda", false, 500, &["sda1", "sda2"])
            .disk("sdb", true, 16, &["sdb1"]);
        f.mount("/dev/sda2 / ext4 rw 0 0");
        assert_eq!(f.check("sdb", false), Ok(vec![]));
        let (ok, refused) = survey(&f.sys());
        let names: Vec<&str> = ok.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["sdb"]);
        assert_eq!(refused.len(), 1);
        assert_eq!(ok[0].describe(), "Vendor Model sdb, 16.0 GiB");
        assert_eq!(ok[0].partitions, [("sdb1".to_string(), 2048 * 512)]);
    }

    #[test]
    fn the_system_disk_is_refused_for_every_reason() {
        let f = Fake::new("system");
        f.disk("sda", false, 500, &["sda1", "sda2"]);
        f.mount("/dev/sda1 /boot ext4 rw 0 0");
        f.mount("/dev/sda2 / ext4 rw 0 0");
        let why = f.check("sda", false).unwrap();
        assert!(why.contains(&Refusal::NotRemovable), "{why:?}");
        assert!(why.contains(&Refusal::System), "{why:?}");
        assert!(why.contains(&Refusal::TooLarge(500 << 30)), "{why:?}");
        assert!(
            why.iter()
                .any(|r| matches!(r, Refusal::Mounted(m) if m.len() == 2)),
            "{why:?}"
        );
    }

    #[test]
    fn a_mounted_stick_is_refused() {
        let f = Fake::new("mounted");
        f.disk("sdc", true, 8, &["sdc1"]);
        f.mount("/dev/sdc1 /media/stick vfat rw 0 0");
        assert_eq!(
            f.check("sdc", false),
            Ok(vec![Refusal::Mounted(vec![
                "/dev/sdc1 on /media/stick".into()
            ])])
        );
    }

    #[test]
    fn root_on_lvm_is_traced_to_its_disk() {
        let f = Fake::new("lvm");
        f.disk("nvme0n1", true, 64, &["nvme0n1p3"]);
        let dm = f.root.join("sys/block/dm-0");
        fs::create_dir_all(dm.join("slaves/nvme0n1p3")).unwrap();
        fs::create_dir_all(dm.join("dm")).unwrap();
        fs::write(dm.join("dm/name"), "vg-root\n").unwrap();
        fs::write(dm.join("size"), "100\n").unwrap();
        fs::create_dir_all(f.root.join("sys/block/nvme0n1/nvme0n1p3/holders/dm-0")).unwrap();
        f.mount("/dev/mapper/vg-root / ext4 rw 0 0");
        let why = f.check("nvme0n1", false).unwrap();
        assert_eq!(
            why,
            vec![Refusal::Held(vec!["dm-0".into()]), Refusal::System]
        );
    }

    #[test]
    fn swap_and_size_limits() {
        let f = Fake::new("swap");
        f.disk("sdd", true, 256, &["sdd1"]);
        fs::write(
            f.root.join("swaps"),
            "Filename Type Size Used Priority\n/dev/sdd1 partition 100 0 -2\n",
        )
        .unwrap();
        let why = f.check("sdd", false).unwrap();
        assert_eq!(
            why,
            vec![
                Refusal::Swap(vec!["/dev/sdd1".into()]),
                Refusal::TooLarge(256 << 30)
            ]
        );
        // --force lifts only the size limit.
        assert_eq!(
            f.check("sdd", true).unwrap(),
            vec![Refusal::Swap(vec!["/dev/sdd1".into()])]
        );
    }

    #[test]
    fn only_whole_block_devices_are_accepted() {
        let f = Fake::new("paths");
        f.disk("sde", true, 8, &["sde1"]);
        assert_eq!(
            f.check("sde1", false),
            Err(Refusal::Partition {
                partition: f.root.join("dev/sde1").display().to_string(),
                disk: "sde".into()
            })
        );
        assert!(matches!(
            f.check("nothing", false),
            Err(Refusal::NotFound(_))
        ));
        fs::write(f.root.join("dev/not-a-disk"), "").unwrap();
        assert!(matches!(
            f.check("not-a-disk", false),
            Err(Refusal::NotBlockDevice(_))
        ));
        // A link (like /dev/disk/by-id/...) to the disk is followed.
        std::os::unix::fs::symlink(f.root.join("dev/sde"), f.root.join("dev/mapper/usb-stick"))
            .unwrap();
        let sys = f.sys();
        assert_eq!(
            resolve(&sys, &f.root.join("dev/mapper/usb-stick")),
            Ok("sde".into())
        );
        // On the real system a regular file is not a block device.
        let real = System {
            real_nodes: true,
            ..f.sys()
        };
        assert!(matches!(
            resolve(&real, &f.root.join("dev/sde")),
            Err(Refusal::NotBlockDevice(_))
        ));
    }

    #[test]
    fn writing_and_verifying_a_regular_file() {
        let f = Fake::new("write");
        let image = f.root.join("image.img");
        let data: Vec<u8> = (0..(9u32 << 20) + 123)
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect();
        fs::write(&image, &data).unwrap();
        // The target is bigger than the image and holds old data.
        let target = f.root.join("stick.img");
        fs::write(&target, vec![0xeeu8; (12 << 20) + 5]).unwrap();
        let mut calls = Vec::new();
        let hash = write_and_verify(&image, &target, &mut |d, t| calls.push((d, t))).unwrap();
        assert_eq!(hash, crate::models::sha256_file(&image).unwrap());
        let written = fs::read(&target).unwrap();
        assert_eq!(&written[..data.len()], &data[..]);
        assert!(written[data.len()..].iter().all(|&b| b == 0xee));
        assert_eq!(calls.first(), Some(&(0, data.len() as u64)));
        assert_eq!(calls.last(), Some(&(data.len() as u64, data.len() as u64)));

        // A device that cannot take the data is an error, not a success.
        let err = write_and_verify(&image, Path::new("/dev/full"), &mut |_, _| {}).unwrap_err();
        assert!(format!("{err:#}").contains("writing /dev/full"), "{err:#}");
    }
}
