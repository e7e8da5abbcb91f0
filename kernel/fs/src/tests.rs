//! Host tests of the filesystem on RAM disks: every command, every error,
//! a full disk, and writes cut by a simulated power loss.

use crate::{Content, Fs, FsError, Kind, RamDisk, Session};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

extern crate std;

const SMALL: usize = 256 << 10; // 64 blocks

fn fresh(bytes: usize) -> Fs<RamDisk> {
    Fs::format(RamDisk::new(bytes)).expect("format")
}

fn remount(fs: Fs<RamDisk>) -> Fs<RamDisk> {
    let bytes = fs.into_device().into_inner();
    Fs::mount(RamDisk::over(bytes)).expect("remount")
}

#[test]
fn files_survive_a_remount() {
    let mut fs = fresh(SMALL);
    let s = Session::new();
    s.mkdir(&mut fs, "notes").unwrap();
    s.write(&mut fs, "notes/a.txt", "hello").unwrap();
    s.append(&mut fs, "notes/a.txt", " world").unwrap();
    let mut fs = remount(fs);
    assert_eq!(fs.read_all("/notes/a.txt").unwrap(), b"hello\n world\n");
    assert_eq!(fs.stat("/notes").unwrap().kind, Kind::Dir);
}

#[test]
fn every_command() {
    let mut fs = fresh(SMALL);
    let mut s = Session::new();
    assert_eq!(s.ls(&mut fs, None).unwrap(), "/: empty directory");
    assert_eq!(s.mkdir(&mut fs, "d").unwrap(), "created directory /d");
    assert_eq!(
        s.write(&mut fs, "f.txt", "abc").unwrap(),
        "wrote 4 bytes to /f.txt"
    );
    assert_eq!(s.ls(&mut fs, None).unwrap(), "d/\nf.txt  4 B");
    assert_eq!(s.ls(&mut fs, Some("f.txt")).unwrap(), "/f.txt  4 B");
    assert_eq!(s.cat(&mut fs, "f.txt").unwrap().to_string(), "abc\n");
    // write replaces
    s.write(&mut fs, "/f.txt", "replaced").unwrap();
    assert_eq!(s.cat(&mut fs, "/f.txt").unwrap().text, "replaced\n");
    // append adds lines, and creates
    assert_eq!(
        s.append(&mut fs, "log", "one").unwrap(),
        "appended 4 bytes to /log"
    );
    s.append(&mut fs, "log", "two").unwrap();
    assert_eq!(s.cat(&mut fs, "log").unwrap().text, "one\ntwo\n");
    // cd / pwd and relative paths
    assert_eq!(s.cd(&mut fs, Some("d")).unwrap(), "/d");
    assert_eq!(s.pwd(), "/d");
    s.write(&mut fs, "inner", "x").unwrap();
    assert_eq!(fs.read_all("/d/inner").unwrap(), b"x\n");
    assert_eq!(s.cat(&mut fs, "../f.txt").unwrap().text, "replaced\n");
    assert_eq!(s.cd(&mut fs, Some("..")).unwrap(), "/");
    assert_eq!(s.cd(&mut fs, None).unwrap(), "/");
    // mv: rename, and into a directory
    assert_eq!(
        s.mv(&mut fs, "f.txt", "g.txt").unwrap(),
        "moved /f.txt to /g.txt"
    );
    assert_eq!(
        s.mv(&mut fs, "g.txt", "d").unwrap(),
        "moved /g.txt to /d/g.txt"
    );
    assert_eq!(fs.read_all("/d/g.txt").unwrap(), b"replaced\n");
    assert!(!fs.exists("/g.txt").unwrap());
    // rm: file, then a non-empty directory needs -r
    assert_eq!(s.rm(&mut fs, "log", false).unwrap(), "removed /log");
    assert!(matches!(
        s.rm(&mut fs, "d", false),
        Err(FsError::NotEmpty(_))
    ));
    assert_eq!(
        s.rm(&mut fs, "d", true).unwrap(),
        "removed /d and 2 entries in it"
    );
    assert_eq!(s.ls(&mut fs, None).unwrap(), "/: empty directory");
    let df = s.df(&mut fs, "RAM disk").unwrap();
    assert!(df.starts_with("256.0 KiB total, "), "{df}");
    assert!(df.ends_with("(64 blocks of 4096 bytes)\nRAM disk"), "{df}");
}

#[test]
fn every_error_is_one_line_and_changes_nothing() {
    let mut fs = fresh(SMALL);
    let mut s = Session::new();
    s.write(&mut fs, "file", "keep").unwrap();
    s.mkdir(&mut fs, "dir").unwrap();
    s.write(&mut fs, "dir/x", "x").unwrap();
    let before = fs.walk("/").unwrap();
    let long = "n".repeat(crate::path::NAME_MAX + 1);
    let cases: Vec<(Result<String, FsError>, &str)> = vec![
        (s.cat(&mut fs, "missing").map(|c| c.text), "/missing: no such file or directory"),
        (s.ls(&mut fs, Some("nope/deeper")), "/nope/deeper: no such file or directory"),
        (s.write(&mut fs, "nope/f", "x"), "/nope: no such file or directory"),
        (s.rm(&mut fs, "missing", false), "/missing: no such file or directory"),
        (s.mv(&mut fs, "missing", "other"), "/missing: no such file or directory"),
        (s.mkdir(&mut fs, "dir"), "/dir: already exists"),
        (s.mkdir(&mut fs, "file"), "/file: already exists"),
        (s.mv(&mut fs, "dir/x", "file"), "/file: already exists"),
        (s.cd(&mut fs, Some("file")), "/file: not a directory"),
        (s.write(&mut fs, "file/sub", "x"), "/file: not a directory"),
        (s.ls(&mut fs, Some("file/sub")), "/file/sub: not a directory"),
        (s.cat(&mut fs, "dir").map(|c| c.text), "/dir: is a directory"),
        (s.write(&mut fs, "dir", "x"), "/dir: is a directory"),
        (s.append(&mut fs, "dir", "x"), "/dir: is a directory"),
        (s.rm(&mut fs, "dir", false), "/dir: directory not empty (use rm -r to remove it with its content)"),
        (s.mv(&mut fs, "dir", "dir/inside"), "cannot move /dir into itself"),
        (s.rm(&mut fs, "/", true), "not allowed on the root directory"),
        (s.write(&mut fs, "..", "x"), "path goes above the root with .."),
        (s.cd(&mut fs, Some("../..")), "path goes above the root with .."),
        (s.write(&mut fs, "a*b", "x"), "invalid name \"a*b\": names may not contain control characters or any of \\ * ? \" < > |, nor start with .~"),
        (s.mkdir(&mut fs, "bad\nname"), "invalid name \"bad\\nname\": names may not contain control characters or any of \\ * ? \" < > |, nor start with .~"),
        (s.write(&mut fs, &long, "x"), &*std::boxed::Box::leak(format!("name too long (201 bytes, at most 200): {long}").into_boxed_str())),
    ];
    for (got, want) in cases {
        let e = got.expect_err(want).to_string();
        assert_eq!(e, want);
        assert!(!e.contains('\n'));
    }
    assert_eq!(
        fs.walk("/").unwrap(),
        before,
        "a failed command changed the tree"
    );
    assert_eq!(fs.read_all("/file").unwrap(), b"keep\n");
    // rm of the current directory
    s.cd(&mut fs, Some("dir")).unwrap();
    assert!(matches!(
        s.rm(&mut fs, "/dir", true),
        Err(FsError::InUse(_))
    ));
}

#[test]
fn a_full_disk_keeps_earlier_files_and_recovers_after_rm() {
    let mut fs = fresh(SMALL);
    let s = Session::new();
    s.write(&mut fs, "precious", "important data").unwrap();
    let chunk = "z".repeat(16 << 10);
    let mut written = Vec::new();
    let err = loop {
        let name = format!("fill{}", written.len());
        match s.write(&mut fs, &name, &chunk) {
            Ok(_) => written.push(name),
            Err(e) => break e,
        }
        assert!(written.len() < 100, "the disk never filled");
    };
    assert_eq!(err, FsError::NoSpace);
    assert_eq!(
        err.to_string(),
        "disk full: nothing was changed (free space with rm)"
    );
    assert!(written.len() >= 8, "only {} chunks fit", written.len());
    // appending to an existing file fails too, and leaves it whole
    let a = s.append(&mut fs, "precious", &chunk);
    assert_eq!(a, Err(FsError::NoSpace));
    let mut fs = remount(fs);
    assert_eq!(fs.read_all("/precious").unwrap(), b"important data\n");
    for n in &written {
        assert_eq!(
            fs.read_all(&format!("/{n}")).unwrap().len(),
            chunk.len() + 1
        );
    }
    assert!(fs.leftovers("/").unwrap().len() <= 1);
    // free space, write again
    s.rm(&mut fs, &written[0], false).unwrap();
    s.rm(&mut fs, &written[1], false).unwrap();
    s.write(&mut fs, "after", &chunk).unwrap();
    assert_eq!(fs.read_all("/after").unwrap().len(), chunk.len() + 1);
}

#[test]
fn cat_truncates_long_files_and_hides_binary_ones() {
    let mut fs = fresh(SMALL);
    let s = Session::new();
    let long: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    s.write(&mut fs, "long", &long).unwrap();
    let c = s.cat(&mut fs, "long").unwrap();
    assert_eq!(c.text.len(), crate::session::CAT_MAX);
    assert_eq!(
        c.note.as_deref(),
        Some(&*format!("truncated: showing 4096 of {} bytes", long.len()))
    );
    fs.write("/bin", &[0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff])
        .unwrap();
    let c = s.cat(&mut fs, "bin").unwrap();
    assert_eq!(c.text, "");
    assert_eq!(c.to_string(), "[/bin: binary file, 8 bytes, not shown]");
    // a multi-byte character cut at the limit is still text
    let mut text = "a".repeat(crate::session::CAT_MAX - 1);
    text.push('é');
    s.write(&mut fs, "utf8", &text).unwrap();
    let c = s.cat(&mut fs, "utf8").unwrap();
    assert_eq!(c.text.len(), crate::session::CAT_MAX - 1);
    assert!(c.note.is_some());
}

#[test]
fn foreign_blank_and_corrupt_disks_are_not_formatted() {
    // blank
    let mut blank = RamDisk::new(SMALL);
    assert_eq!(Fs::probe(&mut blank).unwrap(), Content::Blank);
    assert!(matches!(Fs::mount(blank), Err(FsError::NotFormatted)));
    // foreign: a GGUF header
    let mut bytes = vec![0u8; SMALL];
    bytes[..4].copy_from_slice(b"GGUF");
    let mut foreign = RamDisk::over(bytes.clone());
    assert_eq!(Fs::probe(&mut foreign).unwrap(), Content::Foreign);
    let r = Fs::mount(foreign);
    assert!(matches!(r, Err(FsError::NotFormatted)));
    // corrupt: the magic is there but the metadata is garbage
    let mut fs = fresh(SMALL);
    Session::new().write(&mut fs, "f", "x").unwrap();
    let mut bytes = fs.into_device().into_inner();
    for b in 0..2 {
        for byte in &mut bytes[b * 4096 + 16..(b + 1) * 4096] {
            *byte ^= 0x5a;
        }
    }
    let mut disk = RamDisk::over(bytes.clone());
    assert_eq!(Fs::probe(&mut disk).unwrap(), Content::Littlefs);
    assert_eq!(Fs::mount(disk).err(), Some(FsError::Corrupt));
    // too small to format
    assert!(matches!(
        Fs::format(RamDisk::new(4096 * 4)),
        Err(FsError::TooSmall(_))
    ));
}

/// Cuts the power at every write of an operation in turn: after a remount
/// the file holds its old or its new content, never a mix, and nothing else
/// changed.
fn power_cut_sweep(
    op: impl Fn(&mut Fs<RamDisk>) -> bool,
    check: impl Fn(&mut Fs<RamDisk>) -> bool,
) {
    let mut base = fresh(SMALL);
    let s = Session::new();
    s.mkdir(&mut base, "d").unwrap();
    base.write("/d/file", "old ".repeat(1500).as_bytes())
        .unwrap();
    base.write("/other", b"untouched").unwrap();
    let image = base.into_device().into_inner();
    let mut completed = false;
    let mut cuts = 0;
    for allowed in 0.. {
        let mut fs = Fs::mount(RamDisk::over(image.clone())).unwrap();
        fs.device().fail_writes_after = Some(fs.device().writes + allowed);
        let finished = op(&mut fs);
        let bytes = fs.into_device().into_inner();
        let mut fs = Fs::mount(RamDisk::over(bytes)).expect("mounts after a power cut");
        assert!(check(&mut fs), "a mixed state after {allowed} writes");
        assert_eq!(fs.read_all("/other").unwrap(), b"untouched");
        cuts += 1;
        if finished {
            completed = true;
            break;
        }
        assert!(allowed < 500);
    }
    assert!(completed && cuts >= 2, "only {cuts} cut points");
}

#[test]
fn an_interrupted_write_leaves_old_or_new_content() {
    let new = "new!".repeat(3000);
    power_cut_sweep(
        |fs| fs.write("/d/file", new.as_bytes()).is_ok(),
        |fs| {
            let got = fs.read_all("/d/file").unwrap();
            got == "old ".repeat(1500).as_bytes() || got == new.as_bytes()
        },
    );
}

#[test]
fn an_interrupted_append_adds_all_or_nothing() {
    let line = "appended line\n".repeat(400);
    power_cut_sweep(
        |fs| fs.append("/d/file", line.as_bytes()).is_ok(),
        |fs| {
            let got = fs.read_all("/d/file").unwrap();
            let old = "old ".repeat(1500);
            got == old.as_bytes() || got == format!("{old}{line}").as_bytes()
        },
    );
}

#[test]
fn an_interrupted_rename_and_remove_are_atomic() {
    power_cut_sweep(
        |fs| fs.rename("/d/file", "/moved").is_ok(),
        |fs| fs.exists("/d/file").unwrap() != fs.exists("/moved").unwrap(),
    );
    power_cut_sweep(
        |fs| fs.remove("/d/file", false).is_ok(),
        |fs| match fs.read_all("/d/file") {
            Ok(b) => b == "old ".repeat(1500).as_bytes(),
            Err(FsError::NotFound(_)) => true,
            Err(_) => false,
        },
    );
}

#[test]
fn the_crash_loop_runs_and_replays() {
    let mut fs = fresh(1 << 20);
    fs.mkdir(crate::crashloop::DIR).unwrap();
    for n in 1..=200 {
        crate::crashloop::apply(&mut fs, n).unwrap();
    }
    let snap = crate::crashloop::snapshot(&mut fs, "/").unwrap();
    assert!(snap.len() >= 7, "{:?}", snap.keys());
    let log = snap["/crash/log"].as_ref().unwrap();
    assert_eq!(log.iter().filter(|&&b| b == b'\n').count(), 50);
}

#[test]
fn read_tail_gives_the_last_bytes() {
    let mut fs = fresh(1 << 20);
    let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    fs.write("/t.txt", text.as_bytes()).unwrap();
    let (tail, size) = fs.read_tail("/t.txt", 10).unwrap();
    assert_eq!(size, text.len() as u64);
    assert_eq!(tail, &text.as_bytes()[text.len() - 10..]);
    let (all, _) = fs.read_tail("/t.txt", 1 << 30).unwrap();
    assert_eq!(all, text.as_bytes());
    assert!(matches!(fs.read_tail("/", 10), Err(FsError::IsDir(_))));
    assert!(matches!(
        fs.read_tail("/none", 10),
        Err(FsError::NotFound(_))
    ));
}

#[test]
fn the_audit_log_is_written_only_by_the_kernel() {
    let mut fs = fresh(SMALL);
    let s = Session::new();
    fs.mkdir("/log").unwrap();
    fs.append("/log/audit.log", b"{\"entry\": 1}\n").unwrap();
    s.write(&mut fs, "other.txt", "x").unwrap();
    s.mkdir(&mut fs, "d").unwrap();
    s.write(&mut fs, "d/audit.log", "x").unwrap();
    let before = fs.walk("/").unwrap();
    let refused =
        "/log/audit.log: only the kernel writes this file (it is append-only; rm removes it)";
    let cases = [
        s.write(&mut fs, "/log/audit.log", "forged"),
        s.append(&mut fs, "log/audit.log", "forged"),
        s.mv(&mut fs, "/log/audit.log", "/elsewhere"),
        s.mv(&mut fs, "/other.txt", "/log/audit.log"),
        s.mv(&mut fs, "/d/audit.log", "/log"),
    ];
    for c in cases {
        assert_eq!(c.unwrap_err().to_string(), refused);
    }
    assert_eq!(fs.walk("/").unwrap(), before);
    assert_eq!(
        s.cat(&mut fs, "/log/audit.log").unwrap().text,
        "{\"entry\": 1}\n"
    );
    s.rm(&mut fs, "/log/audit.log", false).unwrap();
    assert!(!fs.exists("/log/audit.log").unwrap());
}
