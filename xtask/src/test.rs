//! `cargo xtask test [--host] [--qemu] [FILTER]`: every test of the
//! project. First the host unit tests (`cargo test --workspace`, in which
//! the QEMU tests are listed as ignored), then the kernel and its images
//! are built and the QEMU tests run (`--ignored`) against them.
//! `--host` or `--qemu` runs only that half; FILTER selects QEMU tests by
//! name.

use crate::args::Args;
use crate::build;
use crate::models;
use crate::util::{cargo, root, run};
use anyhow::Result;
use qemu_tests::images::IMAGES_ENV;
use qemu_tests::Firmware;

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let host_only = args.flag("--host");
    let qemu_only = args.flag("--qemu");
    let filter = args.positional();
    args.finish()?;

    if !qemu_only {
        // The engine's tests run the real models (golden outputs).
        for name in ["smollm2", "qwen-coder"] {
            models::ensure(name)?;
        }
        eprintln!("xtask: host unit tests");
        // `boot` has no tests, and building it in the test profile would
        // rebuild the bootloader (minutes).
        run(cargo()
            .args(["test", "--workspace", "--exclude", "boot"])
            .current_dir(root()))?;
    }
    if !host_only {
        for fw in [Firmware::Bios, Firmware::Uefi] {
            qemu_tests::qemu::check_installed(fw).map_err(anyhow::Error::msg)?;
        }
        let images = build::images(&build::images_dir(), None)?;
        eprintln!("xtask: QEMU tests (images in {})", images.display());
        let mut cmd = cargo();
        cmd.args([
            "test",
            "--package",
            "qemu-tests",
            "--tests",
            "--",
            "--ignored",
        ])
        // Each machine takes a CPU while it computes; two at a time
        // suit the 2-core machines this runs on.
        .arg("--test-threads=2")
        .env(IMAGES_ENV, &images)
        .current_dir(root());
        if let Some(f) = filter {
            cmd.arg(f);
        }
        run(&mut cmd)?;
    }
    Ok(())
}
