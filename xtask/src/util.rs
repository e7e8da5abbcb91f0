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
