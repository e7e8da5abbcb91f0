//! `cargo xtask run [--model smollm2|qwen-coder|FILE | --no-model]
//! [--ramdisk-model] [--uefi] [--smp N] [--memory SIZE] [--accel tcg|kvm]
//! [--cmdline TEXT] [--ramdisk FILE] [--disk FILE] [--data FILE | --no-data]`:
//! builds everything and boots QEMU with the kernel's serial console on
//! this terminal.
//!
//! - A persistent data disk is attached: the default image
//!   (`~/.local/share/llm-kernel/data.img`, 256 MiB, created and formatted
//!   on first use; see [`crate::disk`]), or `--data FILE`; `--no-data`
//!   attaches none (the kernel then keeps files on a RAM disk). xtask holds
//!   a lock on the image while QEMU runs, so `cargo xtask disk` does not
//!   change it under the kernel.
//!
//! - The model (default `qwen-coder`) is packed (see [`crate::packs`]) and
//!   attached as the first virtio disk; the kernel finds it by looking.
//!   `--ramdisk-model` puts it in the boot ramdisk instead (the path a
//!   USB-booted PC takes); `--no-model` boots without one.
//! - In a terminal, QEMU owns the console (raw mode, `signal=off`): Ctrl-C
//!   goes to the kernel; Ctrl-A x quits QEMU, Ctrl-A c toggles its monitor.
//! - With stdin from a pipe or file, xtask relays: it holds the input back
//!   until the kernel shows its prompt (the firmware would otherwise eat
//!   it), feeds it, and at end of input waits until the kernel has answered
//!   every line, then stops QEMU. `/shutdown` ends it earlier.
//!
//! Exit status: 0 when the kernel powered off (or input ended), 1 when the
//! kernel stopped on a fatal error.

use crate::args::Args;
use crate::build;
use crate::util::root;
use anyhow::{bail, Context, Result};
use qemu_tests::klib::qemu_exit::ExitCode;
use qemu_tests::klib::units::parse_size;
use qemu_tests::{Accel, Firmware, QemuConfig, PROMPT};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const BANNER: &[u8] = b"llm-kernel ";
/// The model `cargo xtask run` attaches unless told otherwise.
pub const DEFAULT_MODEL: &str = "qwen-coder";

pub fn main(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let firmware = if args.flag("--uefi") {
        Firmware::Uefi
    } else {
        Firmware::Bios
    };
    let smp: u32 = args.parsed("--smp")?.unwrap_or(1);
    let memory = args.value("--memory")?.unwrap_or_else(|| "2G".into());
    let memory_mib = parse_size(&memory)
        .map(|b| b / (1024 * 1024))
        .filter(|&m| m >= 128)
        .with_context(|| format!("bad --memory `{memory}` (e.g. 512M, 2G; at least 128M)"))?;
    let accel = match args.value("--accel")? {
        Some(a) => Accel::parse(&a).with_context(|| format!("bad --accel `{a}` (tcg or kvm)"))?,
        None => Accel::detect(&root().join("target")),
    };
    let mut cmdline = args.value("--cmdline")?.unwrap_or_default();
    let mut ramdisk = args.value("--ramdisk")?.map(PathBuf::from);
    let mut disks: Vec<PathBuf> = Vec::new();
    while let Some(d) = args.value("--disk")? {
        disks.push(PathBuf::from(d));
    }
    let no_model = args.flag("--no-model");
    let model = args.value("--model")?;
    let ramdisk_model = args.flag("--ramdisk-model");
    let no_data = args.flag("--no-data");
    let data = args.value("--data")?.map(PathBuf::from);
    args.finish()?;
    if no_data && data.is_some() {
        bail!("--data and --no-data contradict each other");
    }
    let data = if no_data {
        None
    } else {
        let image = match data {
            Some(d) => d,
            None => {
                let d = crate::disk::default_image()?;
                crate::disk::ensure_image(&d, crate::disk::DEFAULT_SIZE)?;
                d
            }
        };
        anyhow::ensure!(
            image.is_file(),
            "data disk {} does not exist",
            image.display()
        );
        Some(image)
    };
    if smp == 0 {
        bail!("--smp must be at least 1");
    }
    if no_model && model.is_some() {
        bail!("--model and --no-model contradict each other");
    }
    let mut model_disk = None;
    if !no_model {
        let image = crate::packs::ensure(model.as_deref().unwrap_or(DEFAULT_MODEL))?;
        if ramdisk_model {
            if ramdisk.is_some() {
                bail!("--ramdisk-model and --ramdisk both want the ramdisk");
            }
            ramdisk = Some(image);
        } else {
            model_disk = Some(image);
        }
    }

    crate::util::ensure_qemu()?;
    let dir = if ramdisk.is_some() {
        root().join("target").join("images-ramdisk")
    } else {
        build::images_dir()
    };
    let dir = build::images(&dir, ramdisk.as_deref())?;
    // One image for both firmware paths.
    let image = dir.join("disk.img");
    // Plain output when it goes to a file or pipe.
    if !std::io::stdout().is_terminal() && !cmdline.contains("color=") {
        cmdline = format!("{cmdline} color=off").trim().to_string();
    }
    let mut config = QemuConfig::new(firmware, image, accel)
        .memory_mib(memory_mib)
        .smp(smp)
        .cmdline(&cmdline);
    // The model disk is read-only: the cached pack is never written, and
    // several machines can share it.
    if let Some(d) = model_disk {
        config = config.disk_with(d, "readonly=on", "");
    }
    for d in disks {
        config = config.disk(d);
    }
    // Held until QEMU exits: `cargo xtask disk` refuses to change the image
    // meanwhile (it takes an exclusive lock).
    let _data_lock = match &data {
        Some(image) => {
            let f = std::fs::File::open(image)
                .with_context(|| format!("opening {}", image.display()))?;
            if f.try_lock_shared().is_err() {
                bail!("{} is being changed by cargo xtask disk", image.display());
            }
            config = config.disk(image);
            eprintln!("xtask: data disk {}", image.display());
            Some(f)
        }
        None => None,
    };
    eprintln!(
        "xtask: booting {} in QEMU ({}, {} MiB, {} CPU{})",
        match firmware {
            Firmware::Bios => "BIOS",
            Firmware::Uefi => "UEFI",
        },
        accel.name(),
        memory_mib,
        smp,
        if smp == 1 { "" } else { "s" }
    );

    let status = if std::io::stdin().is_terminal() {
        interactive(&config)?
    } else {
        relayed(&config)?
    };
    finish(status)
}

/// QEMU on the terminal itself.
fn interactive(config: &QemuConfig) -> Result<i32> {
    eprintln!("xtask: Ctrl-C goes to the kernel; Ctrl-A x quits QEMU");
    let mut cmd = config.command();
    cmd.args(["-chardev", "stdio,id=console,mux=on,signal=off"])
        .args(["-serial", "chardev:console"])
        .args(["-mon", "chardev=console"]);
    let status = cmd.status().context("could not start QEMU")?;
    Ok(status.code().unwrap_or(-1))
}

/// QEMU on pipes, with input held back until the prompt.
fn relayed(config: &QemuConfig) -> Result<i32> {
    let mut cmd = config.command();
    cmd.args(["-serial", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().context("could not start QEMU")?;
    let mut to_qemu = child.stdin.take().expect("piped stdin");
    let from_qemu = child.stdout.take().expect("piped stdout");

    let prompts = Arc::new(AtomicUsize::new(0));
    let rebooted = Arc::new(AtomicBool::new(false));
    spawn_output_copier(from_qemu, prompts.clone(), rebooted.clone());
    let input = spawn_input_reader();

    let mut lines_sent = 0usize;
    let mut last_was_cr = false;
    let mut last_byte = b'\n';
    let mut at_eof = false;
    let exit = loop {
        if let Some(s) = child.try_wait()? {
            break s.code().unwrap_or(-1);
        }
        if rebooted.load(Ordering::SeqCst) {
            eprintln!("\nxtask: the machine rebooted (a triple fault?); stopping QEMU");
            stop(&mut child);
            return Ok(ExitCode::Failure.qemu_status());
        }
        if prompts.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        if at_eof {
            if prompts.load(Ordering::SeqCst) > lines_sent {
                eprintln!("\nxtask: end of input; stopping QEMU");
                stop(&mut child);
                break 0;
            }
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        match input.recv_timeout(Duration::from_millis(20)) {
            Ok(chunk) => {
                for &b in &chunk {
                    // Count line ends the way the kernel does (CR LF = one).
                    if b == b'\r' || (b == b'\n' && !last_was_cr) {
                        lines_sent += 1;
                    }
                    last_was_cr = b == b'\r';
                    last_byte = b;
                }
                if to_qemu
                    .write_all(&chunk)
                    .and_then(|_| to_qemu.flush())
                    .is_err()
                {
                    continue; // QEMU is gone; try_wait picks that up.
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                at_eof = true;
                if last_byte != b'\n' && last_byte != b'\r' {
                    let _ = to_qemu.write_all(b"\r");
                    let _ = to_qemu.flush();
                    lines_sent += 1;
                }
            }
        }
    };
    // Let the last output through.
    std::thread::sleep(Duration::from_millis(100));
    Ok(exit)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Copies QEMU's output to ours, counting prompts and boot banners.
fn spawn_output_copier(
    mut from: impl Read + Send + 'static,
    prompts: Arc<AtomicUsize>,
    rebooted: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // The end of the previous chunk, so matches across chunks count.
        let mut tail: Vec<u8> = Vec::new();
        let mut banners = 0;
        let stdout = std::io::stdout();
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            {
                let mut out = stdout.lock();
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
            }
            let keep = tail.len();
            tail.extend_from_slice(&buf[..n]);
            let count = |needle: &[u8], t: &[u8]| {
                t.windows(needle.len())
                    .enumerate()
                    .filter(|(i, w)| *w == needle && i + needle.len() > keep)
                    .count()
            };
            prompts.fetch_add(count(PROMPT.as_bytes(), &tail), Ordering::SeqCst);
            banners += count(BANNER, &tail);
            if banners > 1 {
                rebooted.store(true, Ordering::SeqCst);
            }
            let cut = tail.len().saturating_sub(32);
            tail.drain(..cut);
        }
    });
}

/// Reads our stdin in a thread; the channel closes at end of input.
fn spawn_input_reader() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Maps QEMU's exit status to ours.
fn finish(status: i32) -> Result<()> {
    match ExitCode::from_qemu_status(status) {
        Some(ExitCode::Success) => Ok(()),
        Some(ExitCode::Failure) => bail!("the kernel stopped on a fatal error"),
        None => bail!("QEMU exited with status {status}"),
    }
}
