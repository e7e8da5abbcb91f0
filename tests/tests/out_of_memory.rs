//! Running out of memory in a command. A command whose memory depends on
//! its input (here `/test-fs-bench`'s size, larger than a 64 MiB machine
//! has) allocates fallibly: it says "out of memory: needs N, M free", and
//! the next command works. An allocation that cannot fail gracefully
//! (`/test-fault oom`, as deep inside the engine) is reported as running
//! out of memory, with the heap's figures, and the kernel stops cleanly
//! (no triple fault, no generic panic). No model: none is needed.

mod common;

use common::{config, NEEDS_IMAGES};
use klib::qemu_exit::ExitCode;
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine};

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn allocation_failure_in_a_command_is_reported() {
    let _ = NEEDS_IMAGES;
    let mut m = Machine::boot_to_prompt("oom", &config(Firmware::Bios, 64));
    // 64 MiB of file data on a 64 MiB machine.
    let out = m.command("/test-fs-bench 65536");
    assert!(
        out.contains("out of memory: needs 64.0 MiB,") && out.contains(" free"),
        "{out}"
    );
    // The kernel keeps running, and has the memory back.
    let out = m.command("/echo still here");
    assert!(out.contains("still here"), "{out}");
    let out = m.command("/mem");
    assert!(out.contains("kernel heap:"), "{out}");

    // An allocation that cannot report its failure stops the kernel with
    // a diagnosis.
    m.send(b"/test-fault oom\r");
    m.wait_for("raising oom on purpose", COMMAND_TIMEOUT);
    let report = m.wait_for("kernel stopped.", COMMAND_TIMEOUT);
    m.expect_exit(ExitCode::Failure, COMMAND_TIMEOUT);
    assert!(report.contains("OUT OF MEMORY"), "{report}");
    assert!(report.contains("an allocation of"), "{report}");
    assert!(report.contains("more memory (-m)"), "{report}");
    assert!(!report.contains("KERNEL PANIC"), "{report}");
}
