//! Every CPU: the application processors start under BIOS and UEFI
//! (`--smp 1`, 2 and 4), `/cpu` lists each one, the compute team survives
//! a fork-join stress with an exact sum, and the model's output does not
//! depend on how many CPUs share its matrix work.

mod common;

use common::{config, line_with};
use klib::qemu_exit::ExitCode;
use qemu_tests::images::{env_path, SMOLLM2_PACK_ENV, TEST_MODELS_ENV};
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine};
use std::time::Duration;

/// Boots without a model on `n` CPUs and checks that all of them run.
fn boot_and_check_cpus(firmware: Firmware, n: u32) -> Machine {
    let name = format!("smp-{firmware:?}-{n}");
    let cfg = config(firmware, 512).smp(n);
    let mut m = Machine::boot_to_prompt(&name, &cfg);
    let boot = m.text();
    assert!(
        line_with(&boot, "cpu:").contains(&format!("({n} CPU")),
        "{boot}"
    );
    assert!(
        line_with(&boot, "cpu:").contains(&format!(", {n} running)")),
        "{boot}"
    );
    let cpu = m.command("/cpu");
    assert!(
        line_with(&cpu, "cpus:")
            .contains(&format!("{n} running of {n} listed; compute team of {n}")),
        "{cpu}"
    );
    for i in 0..n {
        let line = line_with(&cpu, &format!("cpu {i}: APIC id"));
        let expect = if i == 0 {
            "shell and conversation"
        } else {
            "compute worker"
        };
        assert!(line.contains(expect), "{cpu}");
    }
    assert!(!cpu.contains(&format!("cpu {n}:")), "{cpu}");
    m
}

fn every_cpu_runs(firmware: Firmware) {
    for n in [1, 2, 4] {
        let mut m = boot_and_check_cpus(firmware, n);
        m.send(b"/shutdown\r");
        m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
    }
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn smp_every_cpu_runs_bios() {
    every_cpu_runs(Firmware::Bios);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn smp_every_cpu_runs_uefi() {
    every_cpu_runs(Firmware::Uefi);
}

/// 10,000 fork-join rounds on 4 CPUs: every worker adds to one sum once per
/// round, and the sum is exact. Then every AP has run team jobs.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn smp_team_fork_join_stress() {
    let mut m = boot_and_check_cpus(Firmware::Bios, 4);
    let out = m.command_with_timeout("/test-team", Duration::from_secs(300));
    let line = line_with(&out, "team: 10000 rounds on 4 workers");
    assert!(line.contains("PASS"), "{out}");
    assert!(line.contains("every worker once per round: yes"), "{out}");
    let cpu = m.command("/cpu");
    for i in 1..4 {
        assert!(
            !line_with(&cpu, &format!("cpu {i}:")).contains(", 0 team jobs"),
            "{cpu}"
        );
    }
    let bad = m.command("/test-team 0");
    assert!(bad.contains("error"), "{bad}");
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// The `{"prompt_ids":...,"gen_ids":...}` line of a `/complete --ids`.
fn ids_line(out: &str) -> String {
    line_with(out, "{\"prompt_ids\":").trim().to_string()
}

/// `/complete --ids` of each prompt with the model on `disk`, on `n` CPUs.
fn complete_ids(name: &str, disk: std::path::PathBuf, n: u32, prompts: &[&str]) -> Vec<String> {
    let cfg = config(Firmware::Bios, 1024)
        .smp(n)
        .disk_with(disk, "readonly=on", "");
    let mut m = Machine::boot_to_prompt(&format!("{name}-smp{n}"), &cfg);
    let boot = m.text();
    assert!(boot.contains(&format!("ready: {name}")), "{boot}");
    assert!(
        line_with(&boot, "cpu:").contains(&format!(", {n} running)")),
        "{boot}"
    );
    let ids = prompts
        .iter()
        .map(|p| {
            let out = m.command_with_timeout(
                &format!("/complete --ids -n 8 {p}"),
                Duration::from_secs(300),
            );
            ids_line(&out)
        })
        .collect();
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
    ids
}

/// Each output row is computed by exactly one CPU, so the tokens are the
/// same for 1 and 4 CPUs: the tiny model and SmolLM2.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn smp_complete_is_identical_on_1_and_4_cpus() {
    let tiny = env_path(TEST_MODELS_ENV).join("tiny.img");
    let prompts = ["The quick brown fox", "def fibonacci(n):"];
    let one = complete_ids("tiny", tiny.clone(), 1, &prompts);
    let four = complete_ids("tiny", tiny, 4, &prompts);
    assert_eq!(one, four, "tiny model: --smp 1 vs --smp 4");

    let smol = env_path(SMOLLM2_PACK_ENV);
    let prompts = ["The capital of France is"];
    let one = complete_ids("smollm2", smol.clone(), 1, &prompts);
    let four = complete_ids("smollm2", smol, 4, &prompts);
    assert_eq!(one, four, "SmolLM2: --smp 1 vs --smp 4");
}
