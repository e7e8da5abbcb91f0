//! The parts of the kernel that touch no hardware, kept in a `no_std` crate
//! of their own so that `cargo test` can run them on the host.
//!
//! The kernel (`kernel/`) depends on this crate by path; the host workspace
//! builds and tests it as a member.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod aml;
pub mod bitmap;
pub mod cmdline;
pub mod jobs;
pub mod keyboard;
pub mod line_editor;
pub mod qemu_exit;
pub mod registry;
pub mod ring;
pub mod rtc;
pub mod sched;
pub mod screen;
pub mod units;
