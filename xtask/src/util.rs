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

/// Runs apt-get (as root, or via sudo) with `args`.
fn apt_get(args: &[&str]) -> Result<()> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut cmd = if is_root {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    run(&mut cmd)
}

/// Makes sure libclang is installed: the filesystem crate (`kernel/fs`)
/// builds littlefs's bindings with bindgen, which loads it. On a fresh Debian
/// or Ubuntu machine it is installed with apt-get.
pub fn ensure_libclang() -> Result<()> {
    let found = || {
        ["/usr/lib", "/usr/lib64", "/usr/local/lib"]
            .iter()
            .any(|dir| walk_for_libclang(std::path::Path::new(dir), 3))
            || std::env::var_os("LIBCLANG_PATH").is_some()
    };
    if found() {
        return Ok(());
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("libclang is missing (bindgen needs it); install libclang-dev with your package manager");
    }
    eprintln!(
        "xtask: libclang is missing (bindgen needs it); installing libclang-dev with apt-get"
    );
    apt_get(&["update", "-q"])?;
    apt_get(&["install", "-y", "-q", "libclang-dev"])?;
    anyhow::ensure!(
        found(),
        "libclang still missing after apt-get install libclang-dev"
    );
    Ok(())
}

/// bindgen's extra clang arguments for the kernel target (littlefs2-sys),
/// overriding the ones in `kernel/.cargo/config.toml` when clang's own
/// headers are found. Without a `clang` executable on the machine (only
/// libclang-dev, as on a fresh Debian), libclang does not find its resource
/// directory, and a freestanding `<stdint.h>` falls through to glibc's, which
/// fails ("bits/libc-header-start.h not found"); so its `include` directory is
/// passed explicitly. The newest `/usr/lib/llvm-*/lib/clang/*/include`
/// holding `stdint.h` is used.
pub fn kernel_bindgen_env() -> Vec<(String, String)> {
    let mut best: Option<(Vec<u32>, std::path::PathBuf)> = None;
    let version = |s: &str| -> Vec<u32> { s.split('.').filter_map(|p| p.parse().ok()).collect() };
    if let Ok(llvms) = std::fs::read_dir("/usr/lib") {
        for llvm in llvms.flatten() {
            let name = llvm.file_name().to_string_lossy().into_owned();
            let Some(major) = name.strip_prefix("llvm-") else {
                continue;
            };
            let Ok(clangs) = std::fs::read_dir(llvm.path().join("lib").join("clang")) else {
                continue;
            };
            for c in clangs.flatten() {
                let inc = c.path().join("include");
                if !inc.join("stdint.h").is_file() {
                    continue;
                }
                let mut v = version(major);
                v.extend(version(&c.file_name().to_string_lossy()));
                if best.as_ref().is_none_or(|(bv, _)| v > *bv) {
                    best = Some((v, inc));
                }
            }
        }
    }
    let Some((_, inc)) = best else {
        return Vec::new();
    };
    let args = format!(
        "--target=x86_64-unknown-none -ffreestanding -isystem {}",
        inc.display()
    );
    [
        "BINDGEN_EXTRA_CLANG_ARGS_x86_64-llm",
        "BINDGEN_EXTRA_CLANG_ARGS_x86_64_llm",
    ]
    .iter()
    .map(|k| (k.to_string(), args.clone()))
    .collect()
}

/// Whether a `libclang*.so*` is in `dir` or up to `depth` levels below.
fn walk_for_libclang(dir: &std::path::Path, depth: u32) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        (name.starts_with("libclang") && name.contains(".so") && !name.starts_with("libclang-cpp"))
            || (depth > 0
                && e.file_type().is_ok_and(|t| t.is_dir())
                && walk_for_libclang(&e.path(), depth - 1))
    })
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
