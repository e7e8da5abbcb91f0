//! Helpers shared by the subcommands: paths and running commands.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The repository root (xtask lives one level below it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// Runs a command, failing with its command line if it does not succeed.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// `cargo`, as the one running xtask (keeps the pinned toolchain).
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// A tool from the `llvm-tools` rustup component (e.g. `llvm-objcopy`).
pub fn llvm_tool(name: &str) -> Result<PathBuf> {
    let output = |args: &[&str]| -> Result<String> {
        let o = Command::new("rustc")
            .args(args)
            .current_dir(root())
            .output()
            .context("could not run rustc")?;
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let sysroot = output(&["--print", "sysroot"])?;
    let host = output(&["-vV"])?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host triple")?;
    let path = PathBuf::from(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin")
        .join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: install the llvm-tools component (rustup component add llvm-tools)",
            path.display()
        );
    }
    Ok(path)
}

/// Makes sure QEMU (and OVMF for UEFI) are installed: on a fresh Debian or
/// Ubuntu machine they are installed with apt-get (as root, or via sudo).
pub fn ensure_qemu() -> Result<()> {
    use qemu_tests::Firmware;
    let missing = || {
        [Firmware::Bios, Firmware::Uefi]
            .into_iter()
            .find_map(|fw| qemu_tests::qemu::check_installed(fw).err())
    };
    let Some(why) = missing() else {
        return Ok(());
    };
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("{why}; install QEMU (qemu-system-x86_64) and OVMF with your package manager");
    }
    eprintln!("xtask: {why}; installing QEMU and OVMF with apt-get");
    run(&mut apt(&["update", "-q"]))?;
    run(&mut apt(&[
        "install",
        "-y",
        "-q",
        "qemu-system-x86",
        "ovmf",
    ]))?;
    match missing() {
        None => Ok(()),
        Some(why) => bail!("still missing after apt-get install: {why}"),
    }
}
