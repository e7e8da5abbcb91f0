//! `kfs-disk`: the host's tool for data disk images (run by
//! `cargo xtask disk ...` and `cargo xtask run`), on the same `kfs` crate
//! and geometry as the kernel.
//!
//! `kfs-disk IMAGE ls|tree|cat|get|put|rm|mkdir|check|format|create ...`
//! - `ls [PATH]`, `tree [PATH]`, `cat PATH`, `check`: read only (shared
//!   lock on the image);
//! - `get PATH HOSTFILE`, `put HOSTFILE PATH`, `rm [-r] PATH`, `mkdir PATH`,
//!   `format`: change the image (exclusive lock: refused while
//!   `cargo xtask run` has it);
//! - `create SIZE`: a new image of SIZE bytes (`256M`), formatted; refuses
//!   to overwrite a file.

use kfs::{BlockDevice, Fs, IoError, Kind, Session};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::process::ExitCode;

/// An image file as a block device.
struct FileDisk {
    file: File,
    size: u64,
}

impl BlockDevice for FileDisk {
    fn size(&self) -> u64 {
        self.size
    }
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|_| IoError("read from the image failed"))
    }
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        self.file
            .write_all_at(data, offset)
            .map_err(|_| IoError("write to the image failed"))
    }
    fn sync(&mut self) -> Result<(), IoError> {
        self.file
            .sync_data()
            .map_err(|_| IoError("sync of the image failed"))
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let (num, mul) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn open(image: &str, write: bool) -> Result<FileDisk, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(image)
        .map_err(|e| format!("{image}: {e}"))?;
    // The lock `cargo xtask run` holds while QEMU runs on the image.
    let locked = if write {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    if locked.is_err() {
        return Err(format!(
            "{image} is in use by a running machine (cargo xtask run): stop it first"
        ));
    }
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    Ok(FileDisk { file, size })
}

fn mount(image: &str, write: bool) -> Result<Fs<FileDisk>, String> {
    Fs::mount(open(image, write)?).map_err(|e| format!("{image}: {e}"))
}

fn usage() -> String {
    "usage: kfs-disk IMAGE ls [PATH] | tree [PATH] | cat PATH | get PATH HOSTFILE | put HOSTFILE PATH | rm [-r] PATH | mkdir PATH | check | format | create SIZE".into()
}

fn run(args: &[String]) -> Result<(), String> {
    let [image, cmd, rest @ ..] = args else {
        return Err(usage());
    };
    let s = Session::new();
    let arg = |i: usize| rest.get(i).map(String::as_str).ok_or_else(usage);
    let e = |e: kfs::FsError| e.to_string();
    match (cmd.as_str(), rest.len()) {
        ("ls", 0 | 1) => {
            let mut fs = mount(image, false)?;
            println!(
                "{}",
                s.ls(&mut fs, rest.first().map(String::as_str)).map_err(e)?
            );
        }
        ("tree", 0 | 1) => {
            let mut fs = mount(image, false)?;
            let root = s
                .resolve(rest.first().map_or("/", String::as_str))
                .map_err(e)?;
            println!("{root}");
            for (path, entry) in fs.walk(&root).map_err(e)? {
                let depth = path[root.len()..].matches('/').count();
                let name = path.rsplit('/').next().unwrap_or_default();
                match entry.kind {
                    Kind::Dir => println!("{}{name}/", "  ".repeat(depth)),
                    Kind::File => println!(
                        "{}{name}  {}",
                        "  ".repeat(depth),
                        kfs::format_size(entry.size)
                    ),
                }
            }
        }
        ("cat", 1) => {
            let mut fs = mount(image, false)?;
            let bytes = fs.read_all(arg(0)?).map_err(e)?;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| e.to_string())?;
        }
        ("get", 2) => {
            let mut fs = mount(image, false)?;
            let bytes = fs.read_all(arg(0)?).map_err(e)?;
            std::fs::write(arg(1)?, bytes).map_err(|err| format!("{}: {err}", arg(1).unwrap()))?;
        }
        ("put", 2) => {
            let data =
                std::fs::read(arg(0)?).map_err(|err| format!("{}: {err}", arg(0).unwrap()))?;
            let mut fs = mount(image, true)?;
            fs.write(arg(1)?, &data).map_err(e)?;
            println!(
                "wrote {} bytes to {}",
                data.len(),
                s.resolve(arg(1)?).map_err(e)?
            );
        }
        ("rm", 1) => println!(
            "{}",
            s.rm(&mut mount(image, true)?, arg(0)?, false).map_err(e)?
        ),
        ("rm", 2) if arg(0)? == "-r" => {
            println!(
                "{}",
                s.rm(&mut mount(image, true)?, arg(1)?, true).map_err(e)?
            )
        }
        ("mkdir", 1) => println!("{}", s.mkdir(&mut mount(image, true)?, arg(0)?).map_err(e)?),
        ("check", 0) => {
            let t = std::time::Instant::now();
            let mut fs = mount(image, false)?;
            let mounted = t.elapsed();
            let (mut files, mut dirs, mut bytes) = (0u64, 0u64, 0u64);
            for (path, entry) in fs.walk("/").map_err(e)? {
                match entry.kind {
                    Kind::Dir => dirs += 1,
                    Kind::File => {
                        let data = fs.read_all(&path).map_err(e)?;
                        if data.len() as u64 != entry.size {
                            return Err(format!(
                                "{path}: size {} but {} bytes read",
                                entry.size,
                                data.len()
                            ));
                        }
                        files += 1;
                        bytes += entry.size;
                    }
                }
            }
            let leftovers = fs.leftovers("/").map_err(e)?;
            println!(
                "{image}: clean; {files} files ({}), {dirs} directories; {}; mounted in {:.1} ms",
                kfs::format_size(bytes),
                s.df(&mut fs, "")
                    .map_err(e)?
                    .lines()
                    .next()
                    .unwrap_or_default(),
                mounted.as_secs_f64() * 1000.0
            );
            if !leftovers.is_empty() {
                println!("{} temporary files of interrupted writes (invisible; replaced by the next write): {}", leftovers.len(), leftovers.join(" "));
            }
        }
        ("format", 0) => {
            let disk = open(image, true)?;
            Fs::format(disk).map_err(e)?;
            println!("{image}: formatted");
        }
        ("create", 1) => {
            let size = parse_size(arg(0)?)
                .ok_or_else(|| format!("bad size `{}` (e.g. 256M)", arg(0).unwrap()))?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(image)
                .map_err(|e| format!("{image}: {e}"))?;
            file.set_len(size).map_err(|e| e.to_string())?;
            Fs::format(FileDisk { file, size }).map_err(e)?;
            println!(
                "{image}: created ({}) and formatted",
                kfs::format_size(size)
            );
        }
        _ => return Err(usage()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
