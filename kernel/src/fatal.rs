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
use klib::units::Bytes;

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

/// The first bytes of a formatted message (to recognise it without
/// allocating).
struct Head {
    buf: [u8; 32],
    len: usize,
}

impl Write for Head {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// An allocation that failed where it could not be reported (Rust's
/// allocation-error handler panics with "memory allocation of N bytes
/// failed"): said as such, with the heap's figures. Commands whose memory
/// depends on their input allocate fallibly and never get here
/// (`mm::heap::try_vec`).
fn out_of_memory(info: &core::panic::PanicInfo) -> bool {
    let mut head = Head {
        buf: [0; 32],
        len: 0,
    };
    let _ = write!(head, "{}", info.message());
    if !head.buf[..head.len].starts_with(b"memory allocation of") {
        return false;
    }
    let Some((size, figures)) = crate::mm::heap::take_failure() else {
        return false;
    };
    if begin(format_args!("OUT OF MEMORY")) {
        let _ = writeln!(
            FatalWriter,
            "    an allocation of {} failed",
            Bytes(size as u64)
        );
        if let Some((h, free)) = figures {
            let _ = writeln!(
                FatalWriter,
                "    heap: {} used of {} mapped; {} of memory not mapped yet",
                Bytes(h.used),
                Bytes(h.mapped),
                Bytes(free)
            );
        }
        let _ = writeln!(
            FatalWriter,
            "    the allocation was in a step that cannot fail gracefully;\n    \
             boot with more memory (-m) or a smaller model"
        );
    }
    true
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if !out_of_memory(info) && begin(format_args!("KERNEL PANIC")) {
        if let Some(loc) = info.location() {
            let _ = writeln!(FatalWriter, "    at {}:{}", loc.file(), loc.line());
        }
        let _ = writeln!(FatalWriter, "    {}", info.message());
    }
    stop()
}
