//! The data disk: `cargo xtask disk ls|tree|cat|get|put|rm|mkdir|check|format
//! [--data FILE]`, and the default image `cargo xtask run` attaches.
//!
//! The work is done by the `kfs-disk` tool (`kernel/fs/src/bin`), on the
//! kernel's own filesystem crate and geometry; it is run through cargo like
//! the `boot` tool, so xtask itself needs neither littlefs nor libclang to
//! build. The default image is `$XDG_DATA_HOME/llm-kernel/data.img`
//! (`~/.local/share/llm-kernel/data.img`), 256 MiB, created and formatted
//! on first use so files survive `cargo clean`.
//!
//! Commands that change the image take an exclusive lock on it and are
//! refused while `cargo xtask run` holds it (a shared lock, for the whole
//! time QEMU runs).

use crate::args::Args;
use crate::util::{cargo, root, run};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// Size of the default image.
pub const DEFAULT_SIZE: &str = "256M";

/// `~/.local/share/llm-kernel/data.img` (or under `$XDG_DATA_HOME`).
pub fn default_image() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?)
            .join(".local")
            .join("share"),
    };
    Ok(base.join("llm-kernel").join("data.img"))
}

/// The `kfs-disk` tool, built if needed.
pub fn tool() -> Result<Command> {
    crate::util::ensure_libclang()?;
    run(cargo()
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "kfs",
            "--bin",
            "kfs-disk",
        ])
        .current_dir(root()))?;
    Ok(Command::new(
        root().join("target").join("release").join("kfs-disk"),
    ))
}

/// Creates and formats `image` (`size`, e.g. `256M`) if it does not exist.
pub fn ensure_image(image: &std::path::Path, size: &str) -> Result<()> {
    if image.exists() {
        return Ok(());
    }
    if let Some(dir) = image.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    eprintln!("xtask: creating the data disk {} ({size})", image.display());
    run(tool()?.arg(image).args(["create", size]))
}

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let data = args.value("--data")?.map(PathBuf::from);
    let rest = args.rest();
    let image = match data {
        Some(d) => d,
        None => default_image()?,
    };
    let cmd = rest.first().map(String::as_str).unwrap_or("");
    if cmd == "format" && !image.exists() {
        return ensure_image(&image, DEFAULT_SIZE);
    }
    if !image.exists() {
        anyhow::bail!(
            "{} does not exist (cargo xtask run creates the default one; `cargo xtask disk format --data FILE` makes one)",
            image.display()
        );
    }
    let status = tool()?
        .arg(&image)
        .args(&rest)
        .status()
        .context("could not run kfs-disk")?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}
