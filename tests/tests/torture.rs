//! Hostile console input with a model loaded: a megabyte of noise into the
//! serial console (control characters, broken escape sequences, invalid
//! UTF-8, overlong lines), and the console's limits (a line longer than
//! the editor takes, a message longer than the context, `/complete -n`
//! past the context). Nothing panics, every limit gets a clear message,
//! the console answers afterwards, and the heap does not keep what the
//! noise made it allocate.
//!
//! The tiny random-weight model: the weights do not matter here.

mod common;

use common::{config, kib_values, line_with, NEEDS_IMAGES};
use klib::qemu_exit::ExitCode;
use qemu_tests::images::{env_path, TEST_MODELS_ENV};
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine};
use std::time::{Duration, Instant};

/// Bytes of noise sent to the console.
const NOISE_BYTES: usize = 1 << 20;
/// The heap may grow by this much over the noise (history entries of the
/// commands typed around it, allocator fragmentation), no more.
const HEAP_SLACK_KIB: u64 = 64;

fn boot_tiny(name: &str) -> Machine {
    let cfg = config(Firmware::Bios, 512).disk_with(
        env_path(TEST_MODELS_ENV).join("tiny.img"),
        "readonly=on",
        "",
    );
    let m = Machine::boot_to_prompt(name, &cfg);
    let boot = m.text();
    assert!(
        boot.contains("model: ready"),
        "the tiny model did not load:\n{boot}"
    );
    m
}

/// The kernel heap's exact use, in KiB, from `/mem`.
fn heap_used_kib(m: &mut Machine) -> u64 {
    let mem = m.command("/mem");
    let line = line_with(&mem, "kernel heap:");
    kib_values(line)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no (N KiB) in {line:?}"))
}

/// xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `len` bytes of console noise: printable runs, raw random bytes, half
/// and whole escape sequences (CSI and SS3, overlong parameters), UTF-8
/// (valid, truncated, overlong), control characters, history keys, Ctrl-C
/// and lines far past the editor's limit. Enter never appears (no line
/// reaches the shell), nor do the keys that move the cursor left (each
/// later keystroke would redraw the rest of the line: output, not input,
/// would then be the bottleneck).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(len + 8192);
    let printable = |r: &mut Rng| 0x20 + r.below(0x5f) as u8;
    while out.len() < len {
        match r.below(100) {
            0..=54 => {
                for _ in 0..1 + r.below(40) {
                    out.push(printable(&mut r));
                }
            }
            55..=66 => {
                for _ in 0..1 + r.below(24) {
                    let b = r.next() as u8;
                    out.push(match b {
                        0x01 | 0x02 | 0x03 | b'\r' | b'\n' | 0x1b => b'.',
                        b => b,
                    });
                }
            }
            67..=78 => {
                out.push(0x1b);
                match r.below(4) {
                    0 => {} // a lone ESC
                    1 => out.push(b'O'),
                    _ => out.push(b'['),
                }
                for _ in 0..r.below(24) {
                    out.push(b"0123456789;?"[r.below(12) as usize]);
                }
                if r.below(3) > 0 {
                    out.push(b"ABCFKJmZ"[r.below(8) as usize]);
                }
            }
            79..=86 => match r.below(3) {
                0 => {
                    let c = char::from_u32(0x80 + r.below(0x2_0000) as u32).unwrap_or('\u{fffd}');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                1 => out.extend_from_slice(&[0xe2, 0x82][..1 + r.below(2) as usize]),
                _ => out.extend_from_slice(&[0xc0, 0xaf, 0xf8, 0x88, 0x80, 0x80, 0x80]),
            },
            87..=93 => {
                let ctl = [
                    0x00, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0c, 0x15, 0x17, 0x7f,
                ];
                out.push(ctl[r.below(ctl.len() as u64) as usize]);
            }
            94..=96 => out.extend_from_slice(if r.below(2) == 0 {
                b"\x1b[A"
            } else {
                b"\x1b[B"
            }),
            97..=98 => out.push(0x03),
            _ => {
                for _ in 0..5000 {
                    out.push(printable(&mut r));
                }
            }
        }
    }
    out
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn serial_noise_with_model_loaded() {
    let _ = NEEDS_IMAGES;
    let mut m = boot_tiny("torture-noise");
    let help = m.command("/help");
    assert!(help.contains("/mem"), "{help}");
    let before = heap_used_kib(&mut m);

    let bytes = noise(NOISE_BYTES, 0x5eed_1234_abcd_ef01);
    let t0 = Instant::now();
    for chunk in bytes.chunks(4096) {
        m.send(chunk);
    }
    // Abandon whatever line the noise left, then a marker the echo of the
    // typed line cannot match (it starts a line of its own).
    m.send(b"\x03");
    m.send(b"/echo END-OF-NOISE\r");
    m.wait_for("\nEND-OF-NOISE", Duration::from_secs(900));
    m.answer(COMMAND_TIMEOUT);
    eprintln!(
        "{} bytes of noise taken in {:.1} s",
        bytes.len(),
        t0.elapsed().as_secs_f64()
    );

    let help = m.command("/help");
    assert!(
        help.contains("/mem") && help.contains("/shutdown"),
        "{help}"
    );
    let after = heap_used_kib(&mut m);
    assert!(
        after <= before + HEAP_SLACK_KIB,
        "the heap grew from {before} KiB to {after} KiB over the noise"
    );
    // The model still answers.
    let out = m.command_with_timeout("/complete -n 4 Hello", Duration::from_secs(180));
    assert!(out.contains("tokens"), "{out}");
    let all = m.text();
    for bad in ["KERNEL PANIC", "CPU EXCEPTION"] {
        if all.contains(bad) {
            m.fail(&format!("{bad} in the output"));
        }
    }
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn console_limits_are_explained() {
    let mut m = boot_tiny("torture-limits");
    // A line longer than the editor takes: cut, and said so.
    let long = format!("/echo {}", "y".repeat(5000));
    let out = m.command(&long);
    assert!(
        out.contains("the line was cut at 4096 characters"),
        "{}",
        &out[..out.len().min(400)]
    );
    assert!(
        out.contains(&"y".repeat(4096 - 6)),
        "the first 4096 characters ran"
    );

    // A message longer than the context (2048 tokens; " x" is one token).
    let msg = " x".repeat(2048);
    let out = m.command_with_timeout(&msg, Duration::from_secs(180));
    assert!(
        out.contains("tokens long but only") && out.contains("fit in the context"),
        "{out}"
    );
    // Nothing was lost: the conversation is empty and still works.
    let stats = m.command("/stats");
    assert!(!stats.is_empty(), "{stats}");

    // `/complete -n` beyond what -n takes, and beyond the context.
    let out = m.command("/complete -n 5000 hello");
    assert!(
        out.contains("tokens must be a whole number from 1 to 4096"),
        "{out}"
    );
    // 17 + 4060 characters: within the editor's limit.
    let prompt = " x".repeat(2030);
    let out = m.command_with_timeout(
        &format!("/complete -n 100 {prompt}"),
        Duration::from_secs(600),
    );
    assert!(
        out.contains("context full"),
        "{}",
        &out[out.len().saturating_sub(400)..]
    );
    // A prompt longer than the context: each 4-byte character is several
    // byte tokens.
    let out = m.command_with_timeout(
        &format!("/complete -n 4 {}", "\u{1d54f}".repeat(1500)),
        Duration::from_secs(180),
    );
    assert!(out.contains("tokens long but only"), "{out}");

    let help = m.command("/help");
    assert!(help.contains("/mem"), "{help}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// `N.N MiB` right after `prefix` in `text`, in KiB (rounded down).
fn mib_after(text: &str, prefix: &str) -> u64 {
    let rest = &text[text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"))
        + prefix.len()..];
    let (num, unit) = rest
        .trim_start()
        .split_once(' ')
        .unwrap_or_else(|| panic!("no size after {prefix:?}"));
    let v: f64 = num.parse().unwrap_or_else(|_| panic!("bad size {num:?}"));
    let scale = match &unit[..3] {
        "KiB" => 1.0,
        "MiB" => 1024.0,
        "GiB" => 1024.0 * 1024.0,
        u => panic!("unit {u:?}"),
    };
    (v * scale) as u64
}

/// Memory pressure: with too little memory the kernel explains what the
/// model needs and does not load it; a few MiB below that need it still
/// refuses, a few MiB above it loads and runs, and `/mem` shows the margin.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn memory_just_below_and_above_the_need() {
    let pack = env_path(TEST_MODELS_ENV).join("tiny.img");
    let boot = |name: &str, mib: u64| {
        let cfg = config(Firmware::Bios, mib).disk_with(&pack, "readonly=on", "");
        Machine::boot_to_prompt(name, &cfg)
    };
    const SMALL: u64 = 64;
    let mut m = boot("pressure-small", SMALL);
    let text = m.text();
    let need = mib_after(&text, "it needs about");
    let free = mib_after(&text, "but only");
    assert!(need > free, "{text}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
    // Every MiB of RAM is a MiB more free (less a few bytes of bitmap).
    let short_mib = (need - free).div_ceil(1024);
    let below = SMALL + short_mib - 2;
    let above = SMALL + short_mib + 3;

    let mut m = boot("pressure-below", below);
    let text = m.text();
    assert!(
        text.contains("does not fit in memory") && !text.contains("model: ready"),
        "{below} MiB:\n{text}"
    );
    let hi = m.command("hello");
    assert!(hi.contains("no model is loaded"), "{hi}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);

    let mut m = boot("pressure-above", above);
    let text = m.text();
    assert!(text.contains("model: ready"), "{above} MiB:\n{text}");
    let out = m.command_with_timeout("/complete -n 4 Hello", Duration::from_secs(180));
    assert!(out.contains("tokens"), "{out}");
    let mem = m.command("/mem");
    let phys = line_with(&mem, "physical memory:");
    let free_kib = kib_values(phys)[1];
    // What is left is about the kernel's margin (48 MiB for tables and
    // heap), plus the few MiB above the need.
    assert!(
        (16 * 1024..(48 + 16) * 1024).contains(&free_kib),
        "{free_kib} KiB free at {above} MiB:\n{mem}"
    );
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}
