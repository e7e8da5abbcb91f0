//! `cargo xtask image [--model NAME|FILE | --ramdisk FILE] [--out DIR]`:
//! builds the kernel and writes the disk image, one for BIOS and UEFI PCs.
//! With `--model`, the model's pack is the boot ramdisk: the image then
//! boots a PC (e.g. from a USB stick, `cargo xtask usb`) straight into a
//! conversation.

use crate::args::Args;
use crate::build;
use anyhow::Result;
use std::path::PathBuf;

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let mut ramdisk = args.value("--ramdisk")?.map(PathBuf::from);
    if let Some(m) = args.value("--model")? {
        anyhow::ensure!(
            ramdisk.is_none(),
            "--model and --ramdisk both want the ramdisk"
        );
        ramdisk = Some(crate::packs::ensure(&m)?);
    }
    // Images with a ramdisk go elsewhere by default: target/images is
    // what the tests boot.
    let out = args.value("--out")?.map(PathBuf::from).unwrap_or_else(|| {
        if ramdisk.is_some() {
            crate::util::root().join("target").join("images-ramdisk")
        } else {
            build::images_dir()
        }
    });
    args.finish()?;
    let dir = build::images(&out, ramdisk.as_deref())?;
    let disk = dir.join("disk.img");
    let size = std::fs::metadata(&disk).map(|m| m.len()).unwrap_or(0);
    println!(
        "disk image (BIOS and UEFI): {} ({:.1} MiB)",
        disk.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    println!("kernel ELF: {}", dir.join("kernel.elf").display());
    Ok(())
}
