//! Deliberate CPU faults are diagnosed on the console, and the kernel then
//! leaves QEMU with the failure status.

mod common;

use common::config;
use klib::qemu_exit::ExitCode;
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine};

/// Boots, raises `fault`, and returns the diagnosis text.
fn diagnose(name: &str, firmware: Firmware, fault: &str) -> String {
    let mut m = Machine::boot_to_prompt(name, &config(firmware, 512));
    m.send(format!("/test-fault {fault}\r").as_bytes());
    m.wait_for(&format!("raising {fault} on purpose"), COMMAND_TIMEOUT);
    let report = m.wait_for("kernel stopped.", COMMAND_TIMEOUT);
    m.expect_exit(ExitCode::Failure, COMMAND_TIMEOUT);
    assert!(
        !report.contains("did not stop the kernel"),
        "the fault returned:\n{report}"
    );
    report
}

fn hex_field(report: &str, field: &str) -> u64 {
    let line = common::line_with(report, field);
    let v = line[line.find(field).unwrap() + field.len()..]
        .split_whitespace()
        .next()
        .unwrap();
    u64::from_str_radix(v.trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("bad {field} in {line:?}"))
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn page_fault_is_diagnosed() {
    let r = diagnose("fault-pf", Firmware::Bios, "pf");
    assert!(
        r.contains("CPU EXCEPTION: page fault (#PF, vector 14)"),
        "{r}"
    );
    assert_eq!(hex_field(&r, "CR2:"), 0x0dea_dbee_f000, "{r}");
    assert!(
        r.contains("access: read, page not present, kernel mode"),
        "{r}"
    );
    assert_eq!(hex_field(&r, "error code:"), 0, "{r}");
    assert!(hex_field(&r, "RIP:") != 0, "{r}");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn divide_error_is_diagnosed() {
    let r = diagnose("fault-de", Firmware::Uefi, "de");
    assert!(
        r.contains("CPU EXCEPTION: divide error (#DE, vector 0)"),
        "{r}"
    );
    assert!(hex_field(&r, "RIP:") != 0, "{r}");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn stack_overflow_hits_the_guard_page() {
    // The overflow faults on the guard page; the page fault cannot be
    // delivered on the exhausted stack, so it becomes a double fault,
    // handled on its own IST stack.
    let r = diagnose("fault-stack", Firmware::Bios, "stack");
    assert!(
        r.contains("CPU EXCEPTION: double fault (#DF, vector 8)"),
        "{r}"
    );
    assert!(r.contains("cause: kernel stack overflow"), "{r}");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn invalid_opcode_is_diagnosed() {
    let r = diagnose("fault-ud", Firmware::Uefi, "ud");
    assert!(
        r.contains("CPU EXCEPTION: invalid opcode (#UD, vector 6)"),
        "{r}"
    );
    assert!(hex_field(&r, "RIP:") != 0, "{r}");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn general_protection_fault_is_diagnosed() {
    // A read through a non-canonical address.
    let r = diagnose("fault-gp", Firmware::Bios, "gp");
    assert!(
        r.contains("CPU EXCEPTION: general protection fault (#GP, vector 13)"),
        "{r}"
    );
    assert_eq!(hex_field(&r, "error code:"), 0, "{r}");
    assert!(hex_field(&r, "RIP:") != 0, "{r}");
}
