//! `boot --kernel ELF [--ramdisk FILE] --out DIR`: writes `DIR/disk.img`
//! from the kernel ELF with bootloader's `DiskImageBuilder`: one image for
//! BIOS and UEFI PCs.
//!
//! It is bootloader's BIOS image (an MBR with the boot sector, the
//! second-stage partition and a FAT partition holding the kernel, the
//! ramdisk and the BIOS stages 3 and 4) with bootloader's UEFI loader added
//! to that FAT partition as `\EFI\BOOT\BOOTX64.EFI`. BIOS firmware runs
//! the MBR's boot code; UEFI firmware boots removable media (and MBR disks)
//! from `\EFI\BOOT\BOOTX64.EFI` on a FAT partition, and that loader then
//! reads the kernel and ramdisk from the partition it was loaded from.
//!
//! xtask runs this as `cargo run -p boot --release -- ...`.

use anyhow::{bail, Context, Result};
use bootloader::{BootConfig, DiskImageBuilder};
use std::path::PathBuf;

const USAGE: &str = "usage: boot --kernel ELF [--ramdisk FILE] --out DIR";

struct Options {
    kernel: PathBuf,
    ramdisk: Option<PathBuf>,
    out: PathBuf,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let (mut kernel, mut ramdisk, mut out) = (None, None, None);
    while let Some(a) = args.next() {
        let slot = match a.as_str() {
            "--kernel" => &mut kernel,
            "--ramdisk" => &mut ramdisk,
            "--out" => &mut out,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unexpected argument `{other}`\n{USAGE}"),
        };
        let v = args.next().with_context(|| format!("{a} needs a value"))?;
        *slot = Some(PathBuf::from(v));
    }
    Ok(Options {
        kernel: kernel.context(USAGE)?,
        ramdisk,
        out: out.context(USAGE)?,
    })
}

fn main() -> Result<()> {
    let opts = parse(std::env::args().skip(1))?;
    if !opts.kernel.is_file() {
        bail!("kernel ELF {} does not exist", opts.kernel.display());
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;

    let mut builder = DiskImageBuilder::new(opts.kernel.clone());
    if let Some(r) = &opts.ramdisk {
        if !r.is_file() {
            bail!("ramdisk {} does not exist", r.display());
        }
        builder.set_ramdisk(r.clone());
    }
    // The serial line belongs to the kernel's console: keep the bootloader
    // quiet there, and skip its framebuffer log (slow under TCG).
    let mut config = BootConfig::default();
    config.serial_logging = false;
    config.frame_buffer_logging = false;
    builder.set_boot_config(&config);

    let disk = opts.out.join("disk.img");
    add_uefi_loader(&mut builder, &opts.out)?;
    builder
        .create_bios_image(&disk)
        .with_context(|| format!("writing {}", disk.display()))?;
    println!("{}", disk.display());
    Ok(())
}

/// Puts the UEFI loader into the FAT partition of the BIOS (MBR) image as
/// `\EFI\BOOT\BOOTX64.EFI`: UEFI firmware boots it from there and it loads
/// the same kernel and ramdisk files as the BIOS stages do.
///
/// `bootloader` does not export the UEFI binary, but its TFTP folder holds
/// it as the file `bootloader`.
fn add_uefi_loader(builder: &mut DiskImageBuilder, out: &std::path::Path) -> Result<()> {
    let tmp = out.join(".uefi-loader");
    let _ = std::fs::remove_dir_all(&tmp);
    DiskImageBuilder::empty()
        .create_uefi_tftp_folder(&tmp)
        .context("extracting the UEFI loader")?;
    let loader = std::fs::read(tmp.join("bootloader")).context("reading the UEFI loader")?;
    let _ = std::fs::remove_dir_all(&tmp);
    builder.set_file_contents("efi/boot/bootx64.efi".into(), loader);
    Ok(())
}
