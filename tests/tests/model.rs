//! The model inside the kernel: finding it on a virtio disk or in the boot
//! ramdisk, `/complete` against the host engine (token for token) and
//! against llama.cpp (SmolLM2 golden outputs), the conversation commands,
//! Ctrl-C, and clear messages for missing, truncated, garbage and
//! too-large models.
//!
//! TCG is slow: the tests use the tiny random-weight model wherever the
//! weights do not matter, and few tokens with the real one.

mod common;

use common::{config, line_with};
use klib::qemu_exit::ExitCode;
use qemu_tests::images::{env_path, scratch_dir, SMOLLM2_PACK_ENV, TEST_MODELS_ENV, XTASK_ENV};
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::qemu::write_file;
use qemu_tests::{Firmware, Machine, QemuConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A `/complete` of a few tokens under TCG.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(180);

fn tiny_gguf() -> PathBuf {
    env_path(TEST_MODELS_ENV).join("tiny.gguf")
}

fn tiny_pack() -> PathBuf {
    env_path(TEST_MODELS_ENV).join("tiny.img")
}

/// The backend the kernel picked, from `/model`.
fn kernel_backend(m: &mut Machine) -> String {
    let model = m.command("/model");
    let line = line_with(&model, "backend:");
    line.trim_start_matches("backend:")
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no backend name in {line:?}"))
        .to_string()
}

/// The `{"prompt_ids":...,"gen_ids":...}` line of a `/complete --ids`.
fn ids_line(out: &str) -> serde_json::Value {
    let line = line_with(out, "{\"prompt_ids\":");
    serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("bad ids line {line:?}: {e}"))
}

/// `cargo xtask generate --ids` on the host.
fn host_generate(model: &Path, prompt: &str, n: usize, backend: &str) -> serde_json::Value {
    let out = Command::new(env_path(XTASK_ENV))
        .arg("generate")
        .arg("--model")
        .arg(model)
        .args([
            "--prompt",
            prompt,
            "-n",
            &n.to_string(),
            "--ids",
            "--backend",
            backend,
        ])
        .output()
        .expect("run xtask generate");
    assert!(
        out.status.success(),
        "xtask generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line_with(&text, "{\"prompt_ids\":").trim()).expect("generate's JSON")
}

/// The tiny model on a modern-only (`disable-legacy=on`) read-only disk,
/// a writable transitional scratch disk beside it: the kernel finds the
/// model by looking, `/complete` equals the host token for token with the
/// same backend, and the chat commands and Ctrl-C work.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn tiny_model_on_disk_matches_host() {
    let dir = scratch_dir("tiny-disk");
    let scratch = dir.join("scratch.raw");
    write_file(&scratch, &vec![0; 2 << 20]);
    let cfg = config(Firmware::Bios, 1024).disk(&scratch).disk_with(
        tiny_pack(),
        "readonly=on",
        "disable-legacy=on",
    );
    let mut m = Machine::boot_to_prompt("tiny-disk", &cfg);
    let boot = m.text();
    assert!(
        line_with(&boot, "found a model pack `tiny`").contains("virtio disk vdb"),
        "{boot}"
    );
    assert!(boot.contains("ready: tiny"), "{boot}");

    let disks = m.command("/disks");
    assert!(line_with(&disks, "vda").contains("not a model"), "{disks}");
    let vdb = line_with(&disks, "vdb");
    assert!(
        vdb.contains("model pack `tiny`") && vdb.contains("modern") && vdb.contains("read-only"),
        "{disks}"
    );
    // The read benchmark (its buffer is an `mm::frame::Buffer`): both
    // disks read whole.
    let bench = m.command("/disks bench");
    assert!(
        line_with(&bench, "vda: read 2.0 MiB in").contains("MB/s"),
        "{bench}"
    );
    assert!(line_with(&bench, "vdb: read").contains("MB/s"), "{bench}");
    let written = m.command("/test-disk");
    assert!(
        written.contains("vda: wrote and read back 1.0 MiB correctly"),
        "{written}"
    );

    let backend = kernel_backend(&mut m);
    let model = m.command("/model");
    assert!(model.contains("restored from the model pack"), "{model}");
    assert!(model.contains("weights eager"), "{model}");

    let prompt = "The quick brown fox";
    let out = m.command_with_timeout(&format!("/complete --ids -n 12 {prompt}"), COMPLETE_TIMEOUT);
    let kernel = ids_line(&out);
    let host = host_generate(&tiny_gguf(), prompt, 12, &backend);
    assert_eq!(
        kernel, host,
        "kernel /complete vs host generate (backend {backend}):\n{out}"
    );

    // Chat commands.
    for (cmd, expect) in [
        ("/temp 0.5", "temperature 0.5"),
        ("/top-p 0.8", "top-p 0.8"),
        ("/seed 7", "seed 7"),
        ("/temp hot", "error: /temp: t must be a number from 0 to 5"),
        (
            "/complete -n 0 x",
            "error: /complete: tokens must be a whole number from 1 to 4096",
        ),
    ] {
        let out = m.command(cmd);
        assert!(out.contains(expect), "{cmd}: {out}");
    }
    // A turn streams and ends with the statistics line.
    let reply = m.command_with_timeout("hello", COMPLETE_TIMEOUT);
    assert!(
        reply.contains("tok/s") && reply.contains("first token after"),
        "{reply}"
    );
    let stats = m.command("/stats");
    assert!(line_with(&stats, "context:").contains("1 turn"), "{stats}");
    // Ctrl-C stops a reply at once; the conversation goes on.
    m.send(b"tell me a long story\r");
    m.wait_for("tell me a long story", COMMAND_TIMEOUT);
    std::thread::sleep(Duration::from_secs(3));
    m.send(&[3]);
    let stopped = m.answer(Duration::from_secs(30));
    assert!(stopped.contains("(interrupted)"), "{stopped}");
    let stats = m.command("/stats");
    assert!(
        line_with(&stats, "replies:").contains("(1 interrupted)"),
        "{stats}"
    );
    let reset = m.command("/reset");
    assert!(reset.contains("conversation reset"), "{reset}");
    let stats = m.command("/stats");
    assert!(line_with(&stats, "context:").contains("0 turns"), "{stats}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// UEFI, the model in the boot ramdisk (the USB-boot path), lazy loading:
/// the same `/complete` as the host.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn tiny_model_in_ramdisk_uefi_lazy() {
    let dir = scratch_dir("tiny-ramdisk");
    let images = common::images().with_ramdisk(&tiny_pack(), &dir.join("images"));
    let cfg = QemuConfig {
        image: images.uefi(),
        ..config(Firmware::Uefi, 1024)
    }
    .cmdline("test color=off load=lazy");
    let mut m = Machine::boot_to_prompt("tiny-ramdisk-uefi", &cfg);
    let boot = m.text();
    assert!(
        boot.contains("found a model pack `tiny` on the boot ramdisk"),
        "{boot}"
    );
    let backend = kernel_backend(&mut m);
    let prompt = "Once upon a time";
    let out = m.command_with_timeout(&format!("/complete --ids -n 8 {prompt}"), COMPLETE_TIMEOUT);
    assert_eq!(
        ids_line(&out),
        host_generate(&tiny_gguf(), prompt, 8, &backend),
        "{out}"
    );
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// Lazy loading from a disk: weights fault in on first use (2 MiB chunks
/// with read-ahead), on both CPUs of the compute team at once, and the
/// result is the same.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn smollm2_matches_llama_cpp() {
    let golden = qemu_tests::images::workspace_root()
        .join("../shared/reference/golden/smollm2-135m-instruct-q4_1.jsonl");
    let golden =
        std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    let cfg = config(Firmware::Bios, 1024)
        .smp(2)
        .disk_with(env_path(SMOLLM2_PACK_ENV), "readonly=on", "")
        .cmdline("test color=off load=lazy");
    let mut m = Machine::boot_to_prompt("smollm2-golden", &cfg);
    let boot = m.text();
    assert!(boot.contains("ready: smollm2"), "{boot}");
    let mut checked = 0;
    for line in golden.lines() {
        let g: serde_json::Value = serde_json::from_str(line).expect("golden JSON");
        let prompt = g["prompt"].as_str().unwrap();
        if !["The capital of France is", "def fibonacci(n):"].contains(&prompt) {
            continue;
        }
        let out =
            m.command_with_timeout(&format!("/complete --ids -n 8 {prompt}"), COMPLETE_TIMEOUT);
        let k = ids_line(&out);
        assert_eq!(
            k["prompt_ids"], g["prompt_ids"],
            "tokenization of {prompt:?}"
        );
        let margins = g["margins"].as_array().unwrap();
        let ours = k["gen_ids"].as_array().unwrap();
        let theirs = g["gen_ids"].as_array().unwrap();
        // Up to the first near tie (llama.cpp rounds differently there).
        let n = margins
            .iter()
            .position(|x| x.as_f64().unwrap() < 0.1)
            .unwrap_or(margins.len())
            .min(8);
        assert!(n >= 2, "golden prompt {prompt:?} has a near tie too early");
        assert_eq!(
            ours[..n],
            theirs[..n],
            "{prompt:?}: kernel vs llama.cpp\n{out}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
    let model = m.command("/model");
    assert!(model.contains("weights lazy"), "{model}");
    let mapping = line_with(&model, "mapping:");
    assert!(!mapping.contains(" 0 page faults"), "{model}");
    // Both CPUs computed (and so touched the lazily mapped weights).
    let cpu = m.command("/cpu");
    assert!(
        cpu.contains("2 running of 2 listed; compute team of 2"),
        "{cpu}"
    );
    assert!(
        !line_with(&cpu, "cpu 1:").contains(", 0 team jobs"),
        "{cpu}"
    );
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// Boots with `disks` and checks that the boot says `expect`, that the
/// console still answers direct commands, and that a message gets an
/// explanation instead of a reply.
fn bad_model(name: &str, disks: &[PathBuf], mib: u64, expect: &[&str]) {
    let mut cfg = config(Firmware::Bios, mib);
    for d in disks {
        cfg = cfg.disk_with(d, "readonly=on", "");
    }
    let mut m = Machine::boot_to_prompt(name, &cfg);
    let boot = m.text();
    let err = line_with(&boot, "model: error:");
    for e in expect {
        assert!(boot.contains(e), "boot does not say {e:?}:\n{err}\n{boot}");
    }
    let up = m.command("/uptime");
    assert!(up.contains("uptime:"), "{up}");
    let hi = m.command("hello");
    assert!(hi.contains("no model is loaded"), "{hi}");
    let model = m.command("/model");
    assert!(model.contains("error: no model is loaded"), "{model}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn missing_model_is_explained() {
    let dir = scratch_dir("no-model");
    let blank = dir.join("blank.raw");
    write_file(&blank, &vec![0; 1 << 20]);
    bad_model(
        "no-model",
        &[blank],
        512,
        &[
            "no model found",
            "virtio disk vda (1.0 MiB): no model pack header or GGUF magic",
            "cargo xtask run --model",
        ],
    );
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn truncated_model_is_explained() {
    let dir = scratch_dir("truncated-model");
    let gguf = std::fs::read(tiny_gguf()).unwrap();
    let cut = dir.join("truncated.gguf");
    write_file(&cut, &gguf[..gguf.len() / 2 / 512 * 512]);
    bad_model(
        "truncated-model",
        &[cut],
        512,
        &["the GGUF on the virtio disk vda is damaged", "truncated"],
    );
    // A pack whose GGUF runs past the end of the disk: refused from its
    // header alone.
    let pack = std::fs::read(tiny_pack()).unwrap();
    let cut = dir.join("truncated.img");
    write_file(&cut, &pack[..3 << 20]);
    bad_model("truncated-pack", &[cut], 512, &["model pack truncated"]);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn garbage_and_oversized_models_are_explained() {
    let dir = scratch_dir("garbage-model");
    // GGUF magic and version, then noise.
    let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while bytes.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let garbage = dir.join("garbage.gguf");
    write_file(&garbage, &bytes);
    bad_model(
        "garbage-model",
        &[garbage],
        512,
        &["the GGUF on the virtio disk vda is damaged"],
    );
    // SmolLM2 (94 MiB of weights, 45 MiB of KV cache) in 192 MiB.
    bad_model(
        "oversized-model",
        &[env_path(SMOLLM2_PACK_ENV)],
        192,
        &["smollm2 does not fit in memory", "--memory"],
    );
}
