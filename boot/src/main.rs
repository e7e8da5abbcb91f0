//! `boot --kernel ELF [--ramdisk FILE] --out DIR`: writes `DIR/bios.img` and
//! `DIR/uefi.img` from the kernel ELF with bootloader's `DiskImageBuilder`.
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

    let bios = opts.out.join("bios.img");
    let uefi = opts.out.join("uefi.img");
    builder
        .create_bios_image(&bios)
        .with_context(|| format!("writing {}", bios.display()))?;
    builder
        .create_uefi_image(&uefi)
        .with_context(|| format!("writing {}", uefi.display()))?;
    println!("{}", bios.display());
    println!("{}", uefi.display());
    Ok(())
}
