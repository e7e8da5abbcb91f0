//! Shared setup for the QEMU tests.

#![allow(dead_code)]

use kfs::{Fs, RamDisk};
use qemu_tests::images::scratch_dir;
use qemu_tests::{images, Accel, Firmware, Images, Machine, QemuConfig, PROMPT};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the QEMU tests are `#[ignore]`d in a plain `cargo test`: they need
/// the disk images, which `cargo xtask test` builds before running them
/// with `--ignored`.
pub const NEEDS_IMAGES: &str = "needs QEMU and the disk images: run `cargo xtask test`";

/// The kernel command line for tests: test commands on, plain output.
pub const TEST_CMDLINE: &str = "test color=off";

pub fn images() -> Images {
    Images::from_env()
}

pub fn accel() -> Accel {
    Accel::detect(&images::workspace_root().join("target"))
}

/// A machine booting `firmware` with the test command line and `mib` MiB.
pub fn config(firmware: Firmware, mib: u64) -> QemuConfig {
    let images = images();
    let image = match firmware {
        Firmware::Bios => images.bios(),
        Firmware::Uefi => images.uefi(),
    };
    QemuConfig::new(firmware, image, accel())
        .memory_mib(mib)
        .cmdline(TEST_CMDLINE)
}

/// The first line of `text` containing `needle`, or a panic showing `text`.
pub fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// The number written right after `marker` in `line` (up to the next
/// space), e.g. `number_after(line, "first token after ")` in "first
/// token after 2.5 s". Panics with the line when there is none.
#[allow(dead_code)]
pub fn number_after<T: std::str::FromStr>(line: &str, marker: &str) -> T {
    line.split_once(marker)
        .and_then(|(_, rest)| rest.trim_start().split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {marker:?} in {line:?}"))
}

/// The task number in `/bg`'s `bg tN: answering in the background`.
pub fn bg_task_of(out: &str) -> u32 {
    let line = line_with(out, "answering in the background");
    number_after(line.split(':').next().unwrap_or(line), "bg t")
}

/// The numbers written as `(N KiB)` in `line`, in order.
pub fn kib_values(line: &str) -> Vec<u64> {
    line.split('(')
        .skip(1)
        .filter_map(|part| part.split_once(" KiB)"))
        .filter_map(|(n, _)| n.trim().parse().ok())
        .collect()
}

/// A fresh littlefs image of `size` bytes holding `files` (a data disk),
/// written with the same `kfs` crate the kernel uses.
pub fn make_image(path: &Path, size: usize, files: &[(&str, &[u8])]) {
    let mut fs = Fs::format(RamDisk::new(size)).expect("format");
    for (p, data) in files {
        if let Some((parent, _)) = kfs::path::split(p) {
            if parent != "/" && !fs.exists(parent).unwrap() {
                fs.mkdir(parent).unwrap();
            }
        }
        fs.write(p, data).expect("write");
    }
    std::fs::write(path, fs.into_device().into_inner()).expect("write image");
}

/// The filesystem in an image file (read into memory).
pub fn open_image(path: &Path) -> Fs<RamDisk> {
    let bytes = std::fs::read(path).expect("read image");
    Fs::mount(RamDisk::over(bytes)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh data disk `data.img` in `test`'s scratch directory.
pub fn data_image(test: &str, size: usize, files: &[(&str, &[u8])]) -> PathBuf {
    let path = scratch_dir(test).join("data.img");
    make_image(&path, size, files);
    path
}

/// The line `/ps` ends with.
pub const PS_END: &str = "(each job run is one)";

/// Types `/ps` and returns its output (jobs may print before it), up to
/// the prompt after it (jobs print only once that prompt is shown).
/// Generous timeouts: the machine is shared and QEMU runs under TCG.
pub fn ps(m: &mut Machine) -> String {
    const PS_TIMEOUT: Duration = Duration::from_secs(40);
    m.send(b"/ps\r");
    let out = m.wait_for(PS_END, PS_TIMEOUT);
    let rest = m.wait_for(PROMPT, PS_TIMEOUT);
    out + rest.strip_suffix(PROMPT).unwrap_or(&rest)
}
