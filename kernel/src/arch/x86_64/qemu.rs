//! Leaving QEMU with an exit status, through the `isa-debug-exit` device
//! (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`). QEMU exits with
//! `(value << 1) | 1`; [`klib::qemu_exit`] holds the values and how the host
//! side maps them back.
//!
//! Only attempted under a hypervisor: on a PC, port 0xf4 is left alone.

use klib::qemu_exit::ExitCode;
use x86_64::instructions::port::Port;

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Tries to leave QEMU; returns if there is no debug-exit device (or no
/// hypervisor).
pub fn exit(code: ExitCode) {
    if super::cpu_info().hypervisor.is_none() {
        return;
    }
    // SAFETY: under a hypervisor, port 0xf4 is QEMU's isa-debug-exit (when
    // configured); writing to an unclaimed port is ignored.
    unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(code.value()) };
}
