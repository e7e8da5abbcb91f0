//! `cargo xtask test [--host] [--qemu] [FILTER]`: every test of the
//! project. First the host unit tests (`cargo test --workspace`, in which
//! the QEMU tests are listed as ignored), then the kernel and its images
//! are built and the QEMU tests run (`--ignored`) against them.
//! The host half also runs the `unsafe` audit (`cargo xtask unsafe`)
//! and every fuzz target for a few seconds
//! (`cargo xtask fuzz`). `--host` or `--qemu` runs only that half; FILTER
//! selects QEMU tests by name.

use crate::args::Args;
use crate::build;
use crate::models;
use crate::util::{cargo, root, run};
use anyhow::Result;
use qemu_tests::images::{IMAGES_ENV, QWEN_PACK_ENV, SMOLLM2_PACK_ENV, TEST_MODELS_ENV, XTASK_ENV};
use std::path::PathBuf;
use std::process::Command;

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let host_only = args.flag("--host");
    let qemu_only = args.flag("--qemu");
    let filter = args.positional();
    args.finish()?;

    crate::util::ensure_libclang()?;
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
        // Where `unsafe` is and that each use says why (fast: a lexer).
        eprintln!("xtask: unsafe audit");
        crate::unsafe_audit::check(false)?;
        // Each fuzz target for a short time, on its seeds and what earlier
        // runs found: a regression shows here.
        eprintln!("xtask: fuzz smoke test");
        let targets: Vec<&str> = crate::fuzz::TARGETS.iter().map(|t| t.0).collect();
        crate::fuzz::run_targets(
            &targets,
            crate::fuzz::Limit::seconds(crate::fuzz::SMOKE_SECONDS),
        )?;
    }
    if !host_only {
        crate::util::ensure_qemu()?;
        let images = build::images(&build::images_dir(), None)?;
        let test_models = prepare_test_models()?;
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
        .env(TEST_MODELS_ENV, &test_models.dir)
        .env(SMOLLM2_PACK_ENV, &test_models.smollm2)
        .env(QWEN_PACK_ENV, &test_models.qwen)
        .env(XTASK_ENV, std::env::current_exe()?)
        .current_dir(root());
        if let Some(f) = filter {
            cmd.arg(f);
        }
        run(&mut cmd)?;
    }
    Ok(())
}

struct TestModels {
    /// `tiny.gguf` (random weights, GPT-2 vocabulary) and its pack
    /// `tiny.img`.
    dir: PathBuf,
    /// The SmolLM2 pack (cached in target/packs).
    smollm2: PathBuf,
    /// The Qwen2.5-Coder pack (cached in target/packs).
    qwen: PathBuf,
}

/// The model images the QEMU tests boot with.
fn prepare_test_models() -> Result<TestModels> {
    let dir = root().join("target").join("test-models");
    std::fs::create_dir_all(&dir)?;
    let bin = crate::packs::model_loader_bin()?;
    let tiny = dir.join("tiny.gguf");
    run(Command::new(&bin)
        .arg("tiny")
        .arg(&tiny)
        .stdout(std::process::Stdio::null()))?;
    run(Command::new(&bin)
        .args(["pack", "--name", "tiny"])
        .arg(&tiny)
        .arg(dir.join("tiny.img"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null()))?;
    let smollm2 = crate::packs::ensure("smollm2")?;
    let qwen = crate::packs::ensure("qwen-coder")?;
    Ok(TestModels { dir, smollm2, qwen })
}

/// `cargo xtask crashtest [--kills N]`: the crash test of the data disk
/// (`tests/tests/fs.rs`, `crash_safety`) with N kills instead of the 10 of
/// `cargo xtask test`.
pub fn crashtest(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let kills: u32 = args.parsed("--kills")?.unwrap_or(200);
    args.finish()?;
    crate::util::ensure_libclang()?;
    crate::util::ensure_qemu()?;
    let images = build::images(&build::images_dir(), None)?;
    run(cargo()
        .args([
            "test",
            "--package",
            "qemu-tests",
            "--test",
            "fs",
            "--",
            "--ignored",
            "--nocapture",
            "--exact",
            "crash_safety",
        ])
        .env(IMAGES_ENV, &images)
        .env(qemu_tests::images::CRASH_KILLS_ENV, kills.to_string())
        .current_dir(root()))
}
