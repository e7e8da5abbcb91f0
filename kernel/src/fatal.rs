//! The end of the line: report a fatal error on the console and stop.
//!
//! Used by the CPU exception handlers and the panic handler. It writes to
//! the UART without taking the console lock (the failing code may hold it),
//! then stops the machine: under QEMU it exits through `isa-debug-exit` with
//! the failure status, otherwise the CPU halts for good.

use crate::arch::{halt_forever, qemu};
use crate::console::style;
use crate::drivers::serial;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use klib::qemu_exit::ExitCode;

static STOPPING: AtomicBool = AtomicBool::new(false);

/// Console output for the fatal path: no lock, `\n` as CR LF.
pub struct FatalWriter;

impl Write for FatalWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                serial::write_raw(b"\r\n");
                crate::console::screen::write_fatal("\r\n");
            }
            serial::write_raw(part.as_bytes());
            crate::console::screen::write_fatal(part);
        }
        Ok(())
    }
}

/// Prints the red headline of a fatal report. Returns `false` if a fatal
/// error is already being reported (a fault inside the report): the caller
/// then stops at once.
pub fn begin(headline: fmt::Arguments) -> bool {
    if STOPPING.swap(true, Ordering::SeqCst) {
        let _ = FatalWriter.write_str("\n!!! fault while reporting a fatal error\n");
        return false;
    }
    let (on, off) = if style::enabled() {
        ("\x1b[1;31m", "\x1b[0m")
    } else {
        ("", "")
    };
    let _ = write!(FatalWriter, "\n{on}!!! {headline}{off}\n");
    true
}

/// Ends the report and stops the machine.
pub fn stop() -> ! {
    let _ = FatalWriter.write_str("kernel stopped.\n");
    qemu::exit(ExitCode::Failure);
    halt_forever()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if begin(format_args!("KERNEL PANIC")) {
        if let Some(loc) = info.location() {
            let _ = writeln!(FatalWriter, "    at {}:{}", loc.file(), loc.line());
        }
        let _ = writeln!(FatalWriter, "    {}", info.message());
    }
    stop()
}
