//! The one disk image, with a model in its ramdisk, boots as a USB stick
//! (`usb-storage` on `qemu-xhci`, no other disk) under SeaBIOS and under
//! OVMF, and reaches the prompt with the model loaded from the ramdisk.

mod common;

use common::config;
use qemu_tests::images::{env_path, scratch_dir, TEST_MODELS_ENV};
use qemu_tests::{Firmware, Images, Machine, QemuConfig};
use std::sync::OnceLock;

/// The image with the tiny model's pack as its ramdisk (built once).
fn stick() -> &'static Images {
    static STICK: OnceLock<Images> = OnceLock::new();
    STICK.get_or_init(|| {
        let dir = scratch_dir("usb-stick");
        common::images().with_ramdisk(
            &env_path(TEST_MODELS_ENV).join("tiny.img"),
            &dir.join("images"),
        )
    })
}

fn boot_from_usb(firmware: Firmware, name: &str) {
    let cfg = QemuConfig {
        image: stick().disk(),
        ..config(firmware, 1024)
    }
    .usb_stick();
    let mut m = Machine::boot_to_prompt(name, &cfg);
    let boot_time = m.elapsed();
    let text = m.text();
    let mode = match firmware {
        Firmware::Bios => "BIOS",
        Firmware::Uefi => "UEFI",
    };
    assert!(
        common::line_with(&text, "boot:").contains(mode),
        "not booted through {mode}:\n{text}"
    );
    assert!(
        text.contains("found a model pack `tiny` on the boot ramdisk"),
        "the model did not come from the ramdisk:\n{text}"
    );
    assert!(text.contains("model: ready: tiny"), "{text}");
    let disks = m.command("/disks");
    assert!(
        !disks.contains("vda"),
        "a virtio disk is attached:\n{disks}"
    );
    eprintln!(
        "{name}: QEMU start to prompt with the model in {:.1} s",
        boot_time.as_secs_f64()
    );
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn usb_stick_boots_bios() {
    boot_from_usb(Firmware::Bios, "usb-boot-bios");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn usb_stick_boots_uefi() {
    boot_from_usb(Firmware::Uefi, "usb-boot-uefi");
}
