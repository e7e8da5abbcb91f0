//! The harness features later tests rely on: a ramdisk in the image,
//! several CPUs, extra virtio disks, the kernel command line.

mod common;

use common::{config, line_with};
use klib::qemu_exit::ExitCode;
use qemu_tests::images::scratch_dir;
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::qemu::write_file;
use qemu_tests::{Firmware, Machine, QemuConfig};

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn ramdisk_smp_and_extra_disk() {
    let dir = scratch_dir("ramdisk-smp");
    let ramdisk = dir.join("ramdisk.bin");
    write_file(&ramdisk, &vec![0x5a; 64 * 1024]);
    let images = common::images().with_ramdisk(&ramdisk, &dir.join("images"));
    let disk = dir.join("disk.raw");
    write_file(&disk, &vec![0; 1024 * 1024]);

    let cfg = QemuConfig {
        image: images.bios(),
        ..config(Firmware::Bios, 768)
    }
    .smp(2)
    .disk(&disk)
    .cmdline("test color=off log=debug");
    let mut m = Machine::boot_to_prompt("ramdisk-smp", &cfg);
    let boot = m.text();
    assert!(line_with(&boot, "ramdisk:").contains("64.0 KiB"), "{boot}");
    assert!(
        line_with(&boot, "cpu:").contains("2 CPUs in ACPI"),
        "{boot}"
    );
    // log=debug took effect.
    assert!(boot.contains("DEBUG"), "{boot}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}
