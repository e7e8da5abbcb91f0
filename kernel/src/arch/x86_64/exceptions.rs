//! Handlers for every CPU exception. Each one prints a diagnosis — the
//! exception's name, its error code, RIP (and the rest of the interrupt
//! frame), CR2 for page faults — then stops the kernel (see
//! [`crate::fatal`]). Nothing is left to triple-fault silently: double
//! faults, NMIs and machine checks run on IST stacks of their own.
//!
//! Two exceptions can be survived: a breakpoint (logged), and a page fault
//! inside a lazily-backed region, which [`crate::mm::lazy`] serves.

use super::gdt;
use super::stack;
use crate::fatal::{self, FatalWriter};
use core::fmt::Write;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

/// Installs all exception handlers in `idt`.
pub fn install(idt: &mut InterruptDescriptorTable) {
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    // SAFETY: the IST indexes name stacks that gdt::init set up.
    unsafe {
        idt.non_maskable_interrupt
            .set_handler_fn(nmi)
            .set_stack_index(gdt::NMI_IST);
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(gdt::DOUBLE_FAULT_IST);
        idt.machine_check
            .set_handler_fn(machine_check)
            .set_stack_index(gdt::MACHINE_CHECK_IST);
    }
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded.set_handler_fn(bound_range);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment);
    idt.general_protection_fault
        .set_handler_fn(general_protection);
    idt.page_fault.set_handler_fn(page_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception.set_handler_fn(hv_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security);
}

/// Prints the diagnosis and stops.
fn die(
    name: &str,
    mnemonic: &str,
    vector: u8,
    error_code: Option<u64>,
    frame: &InterruptStackFrame,
    extra: impl FnOnce(&mut FatalWriter),
) -> ! {
    let mut extra = Some(extra);
    stack::call_aligned(&mut || {
        report(name, mnemonic, vector, error_code, frame, extra.take());
        fatal::stop()
    });
    // Not reached: `stop` does not return.
    fatal::stop()
}

fn report(
    name: &str,
    mnemonic: &str,
    vector: u8,
    error_code: Option<u64>,
    frame: &InterruptStackFrame,
    extra: Option<impl FnOnce(&mut FatalWriter)>,
) {
    if fatal::begin(format_args!(
        "CPU EXCEPTION: {name} (#{mnemonic}, vector {vector})"
    )) {
        let w = &mut FatalWriter;
        if let Some(code) = error_code {
            let _ = writeln!(w, "    error code: {code:#x}");
        }
        let _ = writeln!(
            w,
            "    RIP: {:#018x}  CS: {:#x}  RFLAGS: {:#x}",
            frame.instruction_pointer.as_u64(),
            frame.code_segment.0,
            frame.cpu_flags.bits()
        );
        let _ = writeln!(
            w,
            "    RSP: {:#018x}  SS: {:#x}",
            frame.stack_pointer.as_u64(),
            frame.stack_segment.0
        );
        if let Some(extra) = extra {
            extra(w);
        }
    }
}

macro_rules! fatal_exception {
    ($fn:ident, $name:literal, $mn:literal, $vec:literal) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame) {
            die($name, $mn, $vec, None, &frame, |_| {})
        }
    };
    ($fn:ident, $name:literal, $mn:literal, $vec:literal, error_code) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame, code: u64) {
            die($name, $mn, $vec, Some(code), &frame, |_| {})
        }
    };
}

fatal_exception!(divide_error, "divide error", "DE", 0);
fatal_exception!(nmi, "non-maskable interrupt", "NMI", 2);
fatal_exception!(overflow, "overflow", "OF", 4);
fatal_exception!(bound_range, "bound range exceeded", "BR", 5);
fatal_exception!(invalid_opcode, "invalid opcode", "UD", 6);
fatal_exception!(device_not_available, "device not available", "NM", 7);
fatal_exception!(invalid_tss, "invalid TSS", "TS", 10, error_code);
fatal_exception!(
    segment_not_present,
    "segment not present",
    "NP",
    11,
    error_code
);
fatal_exception!(stack_segment, "stack-segment fault", "SS", 12, error_code);
fatal_exception!(
    general_protection,
    "general protection fault",
    "GP",
    13,
    error_code
);
fatal_exception!(x87_floating_point, "x87 floating-point exception", "MF", 16);
fatal_exception!(alignment_check, "alignment check", "AC", 17, error_code);
fatal_exception!(
    simd_floating_point,
    "SIMD floating-point exception",
    "XM",
    19
);
fatal_exception!(virtualization, "virtualization exception", "VE", 20);
fatal_exception!(
    control_protection,
    "control protection exception",
    "CP",
    21,
    error_code
);
fatal_exception!(hv_injection, "hypervisor injection exception", "HV", 28);
fatal_exception!(
    vmm_communication,
    "VMM communication exception",
    "VC",
    29,
    error_code
);
fatal_exception!(security, "security exception", "SX", 30, error_code);

extern "x86-interrupt" fn debug(frame: InterruptStackFrame) {
    log::warn!(
        "debug exception at {:#x}",
        frame.instruction_pointer.as_u64()
    );
}

extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    log::warn!("breakpoint at {:#x}", frame.instruction_pointer.as_u64());
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    die("double fault", "DF", 8, Some(code), &frame, |w| {
        if let Some(name) = stack::guard_hit(frame.stack_pointer.as_u64()) {
            let _ = writeln!(w, "    cause: {name} overflow (RSP is at its guard page)");
        }
    })
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    die("machine check", "MC", 18, None, &frame, |_| {})
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let addr = Cr2::read_raw();
    // The lazy fill reads the disk and may print: it runs on an aligned
    // stack (this handler gets an error code, so RSP may be off by 8; a
    // `movaps` spill in `Console::write_str` took a #GP under load=lazy).
    let mut handled = false;
    stack::call_aligned(&mut || handled = crate::mm::lazy::on_page_fault(addr, code));
    if handled {
        return;
    }
    die("page fault", "PF", 14, Some(code.bits()), &frame, |w| {
        let _ = writeln!(w, "    CR2: {addr:#018x} (the address accessed)");
        let access = if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
            "instruction fetch"
        } else if code.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
            "write"
        } else {
            "read"
        };
        let page = if code.contains(PageFaultErrorCode::PROTECTION_VIOLATION) {
            "protection violation"
        } else {
            "page not present"
        };
        let mode = if code.contains(PageFaultErrorCode::USER_MODE) {
            "user"
        } else {
            "kernel"
        };
        let _ = writeln!(w, "    access: {access}, {page}, {mode} mode");
        if let Some(name) = stack::guard_hit(addr) {
            let _ = writeln!(w, "    cause: {name} overflow (guard page)");
        }
    })
}
