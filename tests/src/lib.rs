//! Running the kernel under QEMU, for `cargo xtask run` and for the
//! integration tests in `tests/`.
//!
//! - [`qemu`]: the QEMU command line ([`QemuConfig`]: firmware, memory,
//!   CPUs, kernel command line, extra virtio disks) and the choice of
//!   accelerator (TCG unless KVM is measured to be fast).
//! - [`images`]: where the disk images are (built by `cargo xtask image`;
//!   `cargo xtask test` passes their directory in `LLM_IMAGES`).
//! - [`machine`]: a booted machine under test: write to its serial port,
//!   wait for output with a deadline, check how it exited; failures come
//!   with the serial log.
//! - [`qmp`]: QEMU's machine protocol (screendumps, key presses).

pub mod ansi;
pub mod images;
pub mod machine;
pub mod qemu;
pub mod qmp;

pub use images::Images;
/// The kernel's host-testable library (exit codes, units), for xtask.
pub use klib;
pub use machine::Machine;
pub use qemu::{Accel, Firmware, QemuConfig};

/// The kernel's prompt; it is printed when the kernel is ready for a line.
pub const PROMPT: &str = "llm> ";
