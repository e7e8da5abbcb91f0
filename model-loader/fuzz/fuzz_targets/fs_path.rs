//! Path handling of the filesystem layer (`kfs`), on a RAM disk: a script
//! of file commands with arbitrary path and text arguments, run through a
//! `Session` as the shell does. Every resolved path is normal (absolute,
//! no empty, `.` or `..` component, valid names, within `PATH_MAX`) and
//! resolves to itself; errors are messages, never panics; what a command
//! reports done is on the disk (a write reads back, a directory exists, a
//! removed path does not, a move leaves its source); kernel-owned files
//! are never written; and the disk mounts again afterwards.
//!
//! Input: commands separated by NUL; each is an operation byte, then its
//! arguments separated by `\x01` (lossy UTF-8). The filesystem is
//! formatted once; each input starts from a copy of that image, made into
//! one reused buffer (a fresh one per input cost a third of the time in
//! page faults).
#![no_main]

use kfs::path::{self, KERNEL_OWNED, PATH_MAX};
use kfs::{Fs, FsError, Kind, RamDisk, Session};
use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};

/// 32 blocks: small enough that a few writes fill it.
const DISK_BYTES: usize = 128 << 10;
/// Commands run per input at most.
const MAX_COMMANDS: usize = 64;

/// A freshly formatted disk holding `/log/audit.log` (kernel-owned).
fn image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut fs = Fs::format(RamDisk::new(DISK_BYTES)).expect("format");
        fs.mkdir("/log").expect("mkdir /log");
        fs.write(KERNEL_OWNED[0], b"audit\n")
            .expect("write the log");
        fs.into_device().into_inner()
    })
}

/// A resolved path is normal, and resolves to itself from anywhere.
fn check_normal(p: &str) {
    assert!(p.starts_with('/'), "{p:?} is not absolute");
    assert!(p.len() <= PATH_MAX, "{p:?} is too long");
    if p != "/" {
        for name in p[1..].split('/') {
            assert!(name != "." && name != "..", "{p:?} has {name:?}");
            path::check_name(name).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        }
        let (dir, name) = path::split(p).expect("a non-root path splits");
        assert_eq!(path::join(dir, name), p);
    }
    assert_eq!(path::resolve("/", p).as_deref(), Ok(p));
    assert_eq!(path::resolve("/a/b", p).as_deref(), Ok(p));
}

fn message(e: &FsError) {
    assert!(!e.to_string().is_empty());
}

/// The disk each input runs on.
static DISK: Mutex<Vec<u8>> = Mutex::new(Vec::new());

fuzz_target!(|data: &[u8]| {
    let mut disk = DISK.lock().unwrap_or_else(|e| e.into_inner());
    disk.clear();
    disk.extend_from_slice(image());
    let mut fs = Fs::mount(RamDisk::over(&mut disk[..])).expect("mount the image");
    let mut s = Session::new();
    let text = String::from_utf8_lossy(data);
    for cmd in text.split('\0').take(MAX_COMMANDS) {
        let mut chars = cmd.chars();
        let Some(op) = chars.next() else { continue };
        let mut args = chars.as_str().split('\x01');
        let a = args.next().unwrap_or("");
        let b = args.next().unwrap_or("");
        let resolved = s.resolve(a);
        match &resolved {
            Ok(p) => check_normal(p),
            Err(e) => message(e),
        }
        let r = match op {
            'c' => s.cd(&mut fs, Some(a)).map(|cwd| {
                assert_eq!(Ok(&cwd), resolved.as_ref());
                assert_eq!(fs.stat(&cwd).map(|e| e.kind), Ok(Kind::Dir));
            }),
            'l' => s.ls(&mut fs, Some(a)).map(drop),
            'r' => s.cat(&mut fs, a).map(|c| drop(c.to_string())),
            'w' | 'a' => {
                let before = resolved
                    .as_ref()
                    .ok()
                    .and_then(|p| fs.read_all(p).ok())
                    .unwrap_or_default();
                let r = if op == 'w' {
                    s.write(&mut fs, a, b)
                } else {
                    s.append(&mut fs, a, b)
                };
                r.map(|_| {
                    let p = resolved.as_ref().unwrap();
                    assert!(!KERNEL_OWNED.contains(&p.as_str()), "{p} written");
                    let mut want = if op == 'w' { Vec::new() } else { before };
                    want.extend_from_slice(b.as_bytes());
                    if op == 'a' || !b.ends_with('\n') {
                        want.push(b'\n');
                    }
                    assert_eq!(fs.read_all(p).as_deref(), Ok(&want[..]), "{p}");
                })
            }
            'd' | 'D' => s.rm(&mut fs, a, op == 'D').map(|_| {
                let p = resolved.as_ref().unwrap();
                assert_eq!(fs.exists(p), Ok(false), "{p} still exists");
            }),
            'm' => {
                let target = match (&resolved, s.resolve(b)) {
                    (Ok(from), Ok(to)) => fs.rename_target(from, &to).ok(),
                    _ => None,
                };
                s.mv(&mut fs, a, b).map(|_| {
                    let from = resolved.as_ref().unwrap();
                    let to = target.expect("a move that worked had a target");
                    check_normal(&to);
                    assert!(!KERNEL_OWNED.contains(&to.as_str()), "{to} written");
                    assert_eq!(fs.exists(&to), Ok(true), "{to} missing");
                    if &to != from {
                        assert_eq!(fs.exists(from), Ok(false), "{from} still exists");
                    }
                })
            }
            'k' => s.mkdir(&mut fs, a).map(|_| {
                let p = resolved.as_ref().unwrap();
                assert_eq!(fs.stat(p).map(|e| e.kind), Ok(Kind::Dir));
            }),
            'f' => s.df(&mut fs, "RAM disk").map(drop),
            _ => Ok(()),
        };
        if let Err(e) = r {
            message(&e);
        }
        check_normal(s.cwd());
    }
    // The disk mounts again and every entry on it is reachable.
    let mut fs = Fs::mount(fs.into_device()).expect("the disk mounts again");
    for (p, _) in fs.walk("/").expect("walk") {
        check_normal(&p);
    }
});
