//! The interrupt descriptor table: CPU exceptions (see [`super::exceptions`]),
//! the local APIC timer, COM1, a pool of vectors that drivers can claim,
//! and catch-alls for everything else.
//!
//! Interrupt handlers run with the kernel's baseline SSE code only (the
//! `x86-interrupt` ABI saves every register it clobbers). They must not
//! call AVX code (that would clobber the interrupted code's upper YMM
//! halves) and must not allocate (the heap lock may be held).

use super::{apic, exceptions};
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Once;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame};

/// Vector numbers.
pub mod vector {
    /// The legacy PICs are remapped here (and masked).
    pub const PIC_BASE: u8 = 0x20;
    pub const APIC_TIMER: u8 = 0x30;
    pub const COM1: u8 = 0x31;
    /// Compute-team work is waiting: wakes a halted CPU and makes a parked
    /// or switched-out worker task run next.
    pub const WAKE: u8 = 0x32;
    /// A task on this CPU was started or woken by another CPU: choose the
    /// next task now rather than at the next tick.
    pub const RESCHED: u8 = 0x33;
    /// First of the vectors handed out by [`super::register_handler`].
    pub const DYNAMIC_BASE: u8 = 0x40;
    pub const DYNAMIC_COUNT: usize = 16;
    pub const APIC_SPURIOUS: u8 = 0xff;
}

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Handlers registered for the dynamic vectors (fn pointers; 0 = free).
static DYNAMIC: [AtomicUsize; vector::DYNAMIC_COUNT] =
    [const { AtomicUsize::new(0) }; vector::DYNAMIC_COUNT];

type Handler = extern "x86-interrupt" fn(InterruptStackFrame);

macro_rules! dynamic_stubs {
    ($($i:literal)*) => {
        [$({
            extern "x86-interrupt" fn stub(_: InterruptStackFrame) {
                dispatch_dynamic($i);
            }
            stub as Handler
        }),*]
    };
}

pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        exceptions::install(&mut idt);
        for v in 32..=255u8 {
            idt[v].set_handler_fn(unexpected_interrupt);
        }
        for v in vector::PIC_BASE..vector::PIC_BASE + 16 {
            idt[v].set_handler_fn(legacy_pic_spurious);
        }
        idt[vector::APIC_TIMER].set_handler_fn(apic_timer);
        idt[vector::COM1].set_handler_fn(com1);
        idt[vector::WAKE].set_handler_fn(wake);
        idt[vector::RESCHED].set_handler_fn(resched);
        let stubs: [Handler; vector::DYNAMIC_COUNT] =
            dynamic_stubs!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        for (i, stub) in stubs.into_iter().enumerate() {
            idt[vector::DYNAMIC_BASE + i as u8].set_handler_fn(stub);
        }
        idt[vector::APIC_SPURIOUS].set_handler_fn(apic_spurious);
        idt
    });
    idt.load();
}

/// Claims a free vector for `handler` (which runs in interrupt context; the
/// local APIC EOI is sent after it returns). Route an IRQ to the returned
/// vector with [`super::ioapic::route`].
#[allow(dead_code)] // for device drivers (virtio, next issue)
pub fn register_handler(handler: fn()) -> Option<u8> {
    for (i, slot) in DYNAMIC.iter().enumerate() {
        if slot
            .compare_exchange(0, handler as usize, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Some(vector::DYNAMIC_BASE + i as u8);
        }
    }
    None
}

fn dispatch_dynamic(i: usize) {
    let f = DYNAMIC[i].load(Ordering::SeqCst);
    if f != 0 {
        // SAFETY: non-zero slots only ever hold `fn()` pointers stored by
        // register_handler.
        let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(f) };
        f();
    }
    apic::eoi();
    // A device interrupt (a key, maybe): the console looks at its input.
    crate::task::sched::on_device_interrupt();
}

extern "x86-interrupt" fn apic_timer(_: InterruptStackFrame) {
    crate::time::on_timer_tick();
    apic::eoi();
    // The time slice is over: maybe switch tasks.
    crate::task::sched::on_tick();
}

extern "x86-interrupt" fn wake(_: InterruptStackFrame) {
    apic::eoi();
    // Team work for this CPU's worker: it runs next.
    crate::task::sched::on_wake();
}

extern "x86-interrupt" fn resched(_: InterruptStackFrame) {
    apic::eoi();
    crate::task::sched::on_resched();
}

extern "x86-interrupt" fn com1(_: InterruptStackFrame) {
    crate::drivers::serial::on_interrupt();
    apic::eoi();
    crate::task::sched::on_device_interrupt();
}

extern "x86-interrupt" fn apic_spurious(_: InterruptStackFrame) {
    // Spurious APIC interrupts must not be acknowledged.
}

extern "x86-interrupt" fn legacy_pic_spurious(_: InterruptStackFrame) {
    // The PICs are masked; only their spurious IRQ 7/15 can arrive. Ignore.
}

extern "x86-interrupt" fn unexpected_interrupt(frame: InterruptStackFrame) {
    log::warn!(
        "unexpected interrupt (no handler) at RIP {:#x}",
        frame.instruction_pointer.as_u64()
    );
    apic::eoi();
}
