//! The kernel rows of `cargo xtask bench`: the kernel itself under
//! `qemu-system-x86_64` (TCG, `-cpu max`, 2 GiB), booted with each model's
//! pack on a virtio disk, as `cargo xtask run` does, once per vCPU count
//! (`--smp 1,2` by default; multi-threaded TCG for more than one). Per model
//! and vCPU count:
//!
//! - boot to prompt: QEMU start to the first `llm> ` (firmware, bootloader,
//!   kernel, finding and loading the model), host clock;
//! - load: the kernel's own figure for reading the weights (eager) and
//!   the time from kernel start to ready;
//! - pp/tg: the kernel's `/bench P N` (what `llm-bench` measures on the
//!   host: P pseudo-random tokens prefilled in one batch, N decode steps);
//! - first token: a chat message ("Hello!") to the first reply text,
//!   with the system prompt's cache restored from the pack.

use crate::build;
use anyhow::{Context, Result};
use qemu_tests::{Accel, Firmware, Machine, QemuConfig};
use std::time::{Duration, Instant};

/// One model's figures.
#[derive(Debug, Default)]
pub struct KernelRow {
    pub model: String,
    pub smp: usize,
    pub backend: String,
    pub boot_to_prompt_s: f64,
    /// Reading the weights (eager), per the kernel.
    pub load_s: Option<f64>,
    pub load_mb_s: Option<f64>,
    /// Kernel start to ready, per the kernel.
    pub ready_s: Option<f64>,
    pub pp: Option<f64>,
    pub tg: Option<f64>,
    pub first_token_s: Option<f64>,
}

/// The number after `key` in `text` (e.g. `weights read in ` → 3.95).
fn number_after(text: &str, key: &str) -> Option<f64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Boots the kernel with each model and vCPU count and measures it.
pub fn run(models: &[String], p: usize, n: usize, smps: &[usize]) -> Result<Vec<KernelRow>> {
    crate::util::ensure_qemu()?;
    let images = build::images(&build::images_dir(), None)?;
    let mut rows = Vec::new();
    for name in models {
        let pack = crate::packs::ensure(name)?;
        for &smp in smps {
            if let Some(row) = run_one(&images, &pack, name, smp, p, n)? {
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

fn run_one(
    images: &std::path::Path,
    pack: &std::path::Path,
    name: &str,
    smp: usize,
    p: usize,
    n: usize,
) -> Result<Option<KernelRow>> {
    eprintln!("[bench] {name}: the kernel under qemu-system-x86_64 (TCG, --smp {smp})");
    let cfg = QemuConfig::new(Firmware::Bios, images.join("disk.img"), Accel::Tcg)
        .memory_mib(2048)
        .smp(smp as u32)
        .cmdline("color=off")
        .disk_with(pack, "readonly=on", "");
    let t0 = Instant::now();
    let mut m = Machine::boot(&format!("bench-{name}-smp{smp}"), &cfg);
    m.wait_for(qemu_tests::PROMPT, Duration::from_secs(600));
    let mut row = KernelRow {
        model: name.to_string(),
        smp,
        boot_to_prompt_s: t0.elapsed().as_secs_f64(),
        ..Default::default()
    };
    let boot = m.text();
    if boot.contains("model: error:") {
        eprintln!("[bench] {name}: the kernel could not load the model:\n{boot}");
        return Ok(None);
    }
    row.load_s = number_after(&boot, "weights read in ");
    row.load_mb_s = boot
        .find("weights read in ")
        .and_then(|i| number_after(&boot[i..], "s ("));
    row.ready_s = number_after(&boot, &format!("ready: {name} ("));
    let out = m.command_with_timeout(&format!("/bench {p} {n}"), Duration::from_secs(3600));
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[0] == "RESULT" {
            let v = f[3].parse().ok();
            match f[1] {
                "pp" => row.pp = v,
                "tg" => row.tg = v,
                _ => {}
            }
            if let Some(b) = f.iter().find_map(|x| x.strip_prefix("backend=")) {
                row.backend = b.to_string();
            }
        }
    }
    if row.pp.is_none() {
        eprintln!("[bench] {name}: no RESULT lines from /bench:\n{out}");
    }
    // First token of a chat reply; Ctrl-C once it is there.
    let before = m.text().len();
    m.send(b"Hello!\r");
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let text = m.text();
        let new = &text[before..];
        // Past the echoed line, anything but a progress line is reply.
        if let Some((_, rest)) = new.split_once('\n') {
            if rest
                .lines()
                .any(|l| !l.trim().is_empty() && !l.contains("[reading the prompt"))
            {
                break;
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name}: no reply within 30 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    m.send(&[3]);
    let answer = m.answer(Duration::from_secs(600));
    row.first_token_s = number_after(&answer, "first token after ");
    m.send(b"/shutdown\r");
    let _ = m.wait_exit(Duration::from_secs(30));
    Ok(Some(row))
}

/// Prints the rows as a table.
pub fn print(rows: &[KernelRow], p: usize, n: usize) {
    let f = |v: Option<f64>, d: usize| v.map_or("-".into(), |v| format!("{v:.d$}"));
    println!();
    println!(
        "kernel under qemu-system-x86_64 (TCG -cpu max, `smp` vCPUs, 2 GiB, model pack on virtio-blk):"
    );
    println!(
        "| {:<11} | {:>3} | {:<8} | {:>13} | {:>14} | {:>8} | {:>9} | {:>9} | {:>13} |",
        "model",
        "smp",
        "backend",
        "boot→prompt s",
        "weights s MB/s",
        "ready s",
        format!("pp{p} tok/s"),
        format!("tg{n} tok/s"),
        "first token s"
    );
    println!("|-------------|-----|----------|---------------|----------------|----------|-----------|-----------|---------------|");
    for r in rows {
        println!(
            "| {:<11} | {:>3} | {:<8} | {:>13.1} | {:>14} | {:>8} | {:>9} | {:>9} | {:>13} |",
            r.model,
            r.smp,
            r.backend,
            r.boot_to_prompt_s,
            format!("{} {}", f(r.load_s, 2), f(r.load_mb_s, 0)),
            f(r.ready_s, 1),
            f(r.pp, 2),
            f(r.tg, 2),
            f(r.first_token_s, 1)
        );
    }
}

/// `cargo xtask bench` hook: the kernel rows for `models`.
pub fn run_and_print(models: &[String], p: usize, n: usize, smps: &[usize]) -> Result<()> {
    let rows = run(models, p, n, smps).context("kernel benchmark")?;
    print(&rows, p, n);
    Ok(())
}
