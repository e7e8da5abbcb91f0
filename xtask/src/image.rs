//! `cargo xtask image [--model NAME|FILE | --ramdisk FILE] [--out DIR]`:
//! builds the kernel and writes the BIOS and UEFI disk images. With
//! `--model`, the model's pack is the boot ramdisk: the images then boot a
//! PC (e.g. from a USB stick) straight into a conversation.

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
    println!("BIOS image: {}", dir.join("bios.img").display());
    println!("UEFI image: {}", dir.join("uefi.img").display());
    println!("kernel ELF: {}", dir.join("kernel.elf").display());
    Ok(())
}
