//! Turning the machine off.

use crate::arch::{halt_forever, qemu};
use klib::qemu_exit::ExitCode;

/// Powers off through ACPI S5; under QEMU without working S5, exits through
/// `isa-debug-exit` with the success status; otherwise halts.
pub fn shutdown() -> ! {
    x86_64::instructions::interrupts::disable();
    if let Some(p) = crate::acpi::platform().power_off.as_ref() {
        crate::acpi::enter_s5(p);
        log::warn!("ACPI power-off (S5) did not take effect");
    }
    qemu::exit(ExitCode::Success);
    crate::println!("It is now safe to turn off the machine.");
    halt_forever()
}

/// Restarts the machine.
pub fn reboot() -> ! {
    crate::arch::x86_64::cpu::reset()
}
