//! `cargo xtask image [--ramdisk FILE] [--out DIR]`: builds the kernel and
//! writes the BIOS and UEFI disk images.

use crate::args::Args;
use crate::build;
use anyhow::Result;
use std::path::PathBuf;

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let ramdisk = args.value("--ramdisk")?.map(PathBuf::from);
    let out = args
        .value("--out")?
        .map(PathBuf::from)
        .unwrap_or_else(build::images_dir);
    args.finish()?;
    let dir = build::images(&out, ramdisk.as_deref())?;
    println!("BIOS image: {}", dir.join("bios.img").display());
    println!("UEFI image: {}", dir.join("uefi.img").display());
    println!("kernel ELF: {}", dir.join("kernel.elf").display());
    Ok(())
}
