//! Building the kernel and the disk images.
//!
//! - The kernel is built in `kernel/` (its own target JSON, build-std,
//!   always release) into `kernel/target/`.
//! - The images are written by the `boot` tool (`cargo run -p boot`), which
//!   holds the slow-to-build `bootloader` crate so xtask itself stays light.
//!
//! Output directory layout (`target/images/` by default):
//! `kernel.elf` (with debug info), `kernel-stripped.elf` (what the images
//! contain: loading debug info costs the BIOS path ~1 s per MB under TCG),
//! `disk.img` (one image for BIOS and UEFI).

use crate::util::{cargo, llvm_tool, root, run};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The default image directory.
pub fn images_dir() -> PathBuf {
    root().join("target").join("images")
}

/// Builds the kernel (release) and returns the ELF's path.
pub fn kernel() -> Result<PathBuf> {
    let dir = root().join("kernel");
    let target_dir = dir.join("target");
    eprintln!("xtask: building the kernel");
    crate::util::ensure_libclang()?;
    run(cargo()
        .envs(crate::util::kernel_bindgen_env())
        .args(["build", "--release", "--target-dir"])
        .arg(&target_dir)
        .current_dir(&dir)
        // The kernel's target and build-std come from kernel/.cargo/config.toml;
        // flags meant for host builds must not leak in.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS"))?;
    let elf = target_dir.join("x86_64-llm").join("release").join("kernel");
    anyhow::ensure!(elf.is_file(), "kernel build produced no {}", elf.display());
    Ok(elf)
}

/// Builds the kernel and writes the images to `out`, with `ramdisk` if
/// given. Returns `out`.
pub fn images(out: &Path, ramdisk: Option<&Path>) -> Result<PathBuf> {
    let elf = kernel()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let full = out.join("kernel.elf");
    let stripped = out.join("kernel-stripped.elf");
    std::fs::copy(&elf, &full).with_context(|| format!("copying {}", elf.display()))?;
    run(Command::new(llvm_tool("llvm-objcopy")?)
        .arg("--strip-debug")
        .arg(&elf)
        .arg(&stripped))?;
    eprintln!("xtask: writing the disk images");
    let mut boot = cargo();
    boot.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "boot",
        "--",
        "--kernel",
    ])
    .arg(&stripped)
    .arg("--out")
    .arg(out)
    .current_dir(root())
    .stdout(std::process::Stdio::null());
    if let Some(r) = ramdisk {
        boot.arg("--ramdisk").arg(r);
    }
    run(&mut boot)?;
    Ok(out.to_path_buf())
}
