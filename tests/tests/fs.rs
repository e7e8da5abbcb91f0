//! The filesystem on the data disk: files persist across boots (BIOS and
//! UEFI), the host tool's files are read by the kernel and the reverse, a
//! full disk, a foreign disk left alone, the RAM disk without a data disk,
//! and crash safety (QEMU killed during a write loop).
//!
//! Every test works on fresh, small images written with the same `kfs`
//! crate the kernel uses.

mod common;

use common::{config, data_image as image, line_with, open_image, NEEDS_IMAGES};
use kfs::{Fs, RamDisk};
use qemu_tests::images::{scratch_dir, CRASH_KILLS_ENV};
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine};
use std::time::{Duration, Instant};

fn shutdown(m: &mut Machine) {
    m.send(b"/shutdown\r");
    m.wait_exit(COMMAND_TIMEOUT);
}

/// Writes in one boot, reads in the next; the host reads what the kernel
/// wrote and the kernel what the host wrote.
fn persists(firmware: Firmware, test: &str) {
    let from_host = "written on the host\nsecond line ü\n";
    let img = image(
        test,
        4 << 20,
        &[("/host/from-host.txt", from_host.as_bytes())],
    );
    let cfg = config(firmware, 512).disk(&img);

    let mut m = Machine::boot_to_prompt(test, &cfg);
    let banner = m.text();
    assert!(
        line_with(&banner, "files:").contains("persistent"),
        "{banner}"
    );
    let cat = m.command("/cat /host/from-host.txt");
    assert!(cat.contains("written on the host\nsecond line ü"), "{cat}");
    let w = m.command("/write note.txt hello persistent world");
    assert!(w.contains("wrote 23 bytes to /note.txt"), "{w}");
    m.command("/mkdir logs");
    m.command("/cd logs");
    assert!(m.command("/pwd").contains("/logs"));
    m.command("/append day.log first line");
    m.command("/append day.log second line");
    let ls = m.command("/ls /");
    assert!(
        ls.contains("host/") && ls.contains("logs/") && ls.contains("note.txt"),
        "{ls}"
    );
    let df = m.command("/df");
    assert!(df.contains("total,") && df.contains("data disk"), "{df}");
    // Errors are one line and change nothing.
    let e = m.command("/cat /missing");
    assert!(
        e.contains("error: /missing: no such file or directory"),
        "{e}"
    );
    m.command("/cd");
    let e = m.command("/rm /logs");
    assert!(e.contains("directory not empty"), "{e}");
    let e = m.command("/cd ../..");
    assert!(e.contains("above the root"), "{e}");
    shutdown(&mut m);

    // The host sees what the kernel wrote.
    let mut fs = open_image(&img);
    assert_eq!(
        fs.read_all("/note.txt").unwrap(),
        b"hello persistent world\n"
    );
    assert_eq!(
        fs.read_all("/logs/day.log").unwrap(),
        b"first line\nsecond line\n"
    );
    // Every typed command is in the audit log, hash-chained.
    let log = String::from_utf8(fs.read_all("/log/audit.log").unwrap()).unwrap();
    assert!(
        log.contains("\"raw\": \"/write note.txt hello persistent world\"")
            && log.contains("\"raw\": \"/rm /logs\""),
        "{log}"
    );
    let entries = model_loader::agent::audit::verify(&log).expect("the audit chain holds");
    drop(fs);

    // And the next boot too.
    let mut m = Machine::boot_to_prompt(&format!("{test}-2"), &cfg);
    let cat = m.command("/cat note.txt");
    assert!(cat.contains("hello persistent world"), "{cat}");
    let cat = m.command("/cat /logs/day.log");
    assert!(cat.contains("first line\nsecond line"), "{cat}");
    // The audit log goes on from the first boot's last entry; only the
    // kernel writes it.
    let e = m.command("/append /log/audit.log forged");
    assert!(e.contains("only the kernel writes this file"), "{e}");
    let audit = m.command("/audit 3");
    assert!(
        audit.contains(&format!(
            "({} entries of /log/audit.log, hash chain intact",
            entries + 3
        )),
        "{audit}"
    );
    shutdown(&mut m);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn files_persist_across_boots_bios() {
    let _ = NEEDS_IMAGES;
    persists(Firmware::Bios, "fs-persist-bios");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn files_persist_across_boots_uefi() {
    persists(Firmware::Uefi, "fs-persist-uefi");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn without_a_data_disk_files_live_on_a_ram_disk() {
    let mut m = Machine::boot_to_prompt("fs-ramdisk", &config(Firmware::Bios, 256));
    let banner = m.text();
    assert!(
        line_with(&banner, "files:").contains("files will not persist"),
        "{banner}"
    );
    assert!(m.command("/df").contains("files will not persist"));
    assert!(m
        .command("/write a.txt in memory")
        .contains("wrote 10 bytes"));
    assert!(m.command("/cat a.txt").contains("in memory"));
    shutdown(&mut m);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn a_foreign_disk_is_not_formatted() {
    let path = scratch_dir("fs-foreign").join("foreign.img");
    let bytes: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + i / 4096) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let mut m = Machine::boot_to_prompt("fs-foreign", &config(Firmware::Bios, 256).disk(&path));
    let text = m.text();
    assert!(text.contains("holds something else"), "{text}");
    assert!(
        line_with(&text, "files:").contains("files will not persist"),
        "{text}"
    );
    m.command("/write x.txt not on the foreign disk");
    shutdown(&mut m);
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "the foreign disk was changed"
    );
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn a_full_disk_keeps_earlier_files_and_recovers() {
    // 16 blocks of 4 KiB: a few files of 1.5 KiB (a block each) fill it.
    let img = image("fs-full", 64 << 10, &[("/keep.txt", b"precious")]);
    let mut m = Machine::boot_to_prompt("fs-full", &config(Firmware::Bios, 256).disk(&img));
    let text = "f".repeat(1500);
    let mut written = 0;
    loop {
        let out = m.command(&format!("/write fill{written} {text}"));
        if out.contains("disk full") {
            break;
        }
        assert!(out.contains("wrote 1501 bytes"), "{out}");
        written += 1;
        assert!(written < 20, "the disk never filled");
    }
    assert!(written >= 3, "only {written} files fit");
    assert!(m.command("/cat keep.txt").contains("precious"));
    assert!(m.command("/rm fill0").contains("removed /fill0"));
    assert!(m.command("/rm fill1").contains("removed /fill1"));
    let out = m.command(&format!("/write again {text}"));
    assert!(out.contains("wrote 1501 bytes"), "{out}");
    shutdown(&mut m);
    let mut fs = open_image(&img);
    assert_eq!(fs.read_all("/keep.txt").unwrap(), b"precious");
    assert_eq!(fs.read_all("/again").unwrap().len(), 1501);
}

/// A small random number generator (xorshift), seeded from the clock.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The last complete `fs-ack N` line in `text` (a kill may cut the last
/// line short).
fn last_ack(text: &str) -> Option<u64> {
    let complete = &text[..text.rfind('\n').unwrap_or(0)];
    complete
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("fs-ack ")?.trim().parse().ok())
}

/// Kills QEMU at random moments during the write loop, N times
/// (`LLM_CRASH_KILLS`, 10 by default). After each kill the image must mount,
/// and hold exactly the state after the last acknowledged operation, or
/// after the next one (in flight at the kill): never a mix, nothing lost.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn crash_safety() {
    let kills: u32 = std::env::var(CRASH_KILLS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = scratch_dir("fs-crash");
    let img = dir.join("data.img");
    let size = 4 << 20;
    // The model: the same operations on a RAM disk.
    let mut model = Fs::format(RamDisk::new(size)).unwrap();
    model.mkdir(kfs::crashloop::DIR).unwrap();
    let mut fs = Fs::format(RamDisk::new(size)).unwrap();
    fs.mkdir(kfs::crashloop::DIR).unwrap();
    std::fs::write(&img, fs.into_device().into_inner()).unwrap();
    let cfg = config(Firmware::Bios, 256).disk(&img);

    let mut rng = Rng(Instant::now().elapsed().as_nanos() as u64 | 0x9e37_79b9_7f4a_7c15);
    let mut done = 0u64; // operations known to be on the disk
    let (mut clean, mut in_flight_landed) = (0u32, 0u32);
    let started = Instant::now();
    for kill in 0..kills {
        let mut m = Machine::boot_to_prompt(&format!("fs-crash-{kill}"), &cfg);
        let from = m.raw_len();
        m.send(format!("/test-fs-loop {} 1000000\r", done + 1).as_bytes());
        m.wait_for("fs-ack", COMMAND_TIMEOUT);
        std::thread::sleep(Duration::from_millis(rng.next() % 1500));
        m.kill();
        // The reader thread may still hold the last lines QEMU wrote.
        std::thread::sleep(Duration::from_millis(500));
        let out = m.raw_since(from);
        assert!(!out.contains("error:"), "the loop failed:\n{out}");
        let acked = last_ack(&out).expect("no acknowledgement");
        assert!(acked > done);

        // The disk mounts, with no damage.
        let mut disk = open_image(&img);
        clean += 1;
        let got = kfs::crashloop::snapshot(&mut disk, "/").unwrap();
        // The model after the last acknowledged operation...
        for n in done + 1..=acked {
            kfs::crashloop::apply(&mut model, n).unwrap();
        }
        let want = kfs::crashloop::snapshot(&mut model, "/").unwrap();
        if got == want {
            done = acked;
        } else {
            // ...or after the one in flight.
            kfs::crashloop::apply(&mut model, acked + 1).unwrap();
            let next = kfs::crashloop::snapshot(&mut model, "/").unwrap();
            if got != next {
                let diff: Vec<&String> = want
                    .keys()
                    .chain(got.keys())
                    .filter(|k| want.get(*k) != got.get(*k))
                    .collect();
                panic!(
                    "kill {kill}: the disk matches neither operation {acked} (acknowledged) nor {}: differs in {diff:?}",
                    acked + 1
                );
            }
            in_flight_landed += 1;
            done = acked + 1;
        }
    }
    println!(
        "crashtest: {kills} kills, {clean} clean mounts, {done} acknowledged operations checked, 0 lost (a loss fails the test), {in_flight_landed} unacknowledged in-flight operations found complete, {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
