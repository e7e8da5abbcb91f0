//! The local APIC: interrupt acknowledgement (EOI) and the APIC timer.
//!
//! Works in xAPIC mode (memory-mapped registers) and, if the firmware left
//! the CPU in x2APIC mode, through MSRs.

use super::idt::vector;
use crate::mm;
use spin::Once;
use x86_64::registers::model_specific::Msr;
use x86_64::{PhysAddr, VirtAddr};

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;

mod reg {
    pub const ID: u32 = 0x20;
    pub const TPR: u32 = 0x80;
    pub const EOI: u32 = 0xb0;
    pub const SVR: u32 = 0xf0;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
const SVR_ENABLE: u32 = 1 << 8;
/// Divide configuration value for "divide by 16".
const DIVIDE_BY_16: u32 = 0b0011;

enum Access {
    Mmio(VirtAddr),
    X2Apic,
}

static LAPIC: Once<Access> = Once::new();

fn read(r: u32) -> u32 {
    match LAPIC.get() {
        // SAFETY: an aligned 32-bit read of a register in the mapped,
        // uncached APIC page.
        Some(Access::Mmio(base)) => unsafe { ((*base + r as u64).as_ptr::<u32>()).read_volatile() },
        // SAFETY: x2APIC registers are MSRs 0x800 + offset/16.
        Some(Access::X2Apic) => unsafe { Msr::new(0x800 + (r >> 4)).read() as u32 },
        None => 0,
    }
}

fn write(r: u32, v: u32) {
    match LAPIC.get() {
        // SAFETY: an aligned 32-bit write to a register in the mapped,
        // uncached APIC page.
        Some(Access::Mmio(base)) => unsafe {
            ((*base + r as u64).as_mut_ptr::<u32>()).write_volatile(v)
        },
        // SAFETY: x2APIC registers are MSRs 0x800 + offset/16.
        Some(Access::X2Apic) => unsafe { Msr::new(0x800 + (r >> 4)).write(v as u64) },
        None => {}
    }
}

/// Enables this CPU's local APIC. `acpi_base` is the address the MADT gave
/// (else the MSR's is used).
pub fn init(acpi_base: Option<u64>) {
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU.
    let base = unsafe { base_msr.read() };
    LAPIC.call_once(|| {
        if base & APIC_BASE_X2APIC != 0 {
            Access::X2Apic
        } else {
            if base & APIC_BASE_ENABLE == 0 {
                // SAFETY: setting the global enable bit, keeping the base.
                unsafe { base_msr.write(base | APIC_BASE_ENABLE) };
            }
            let phys = acpi_base.unwrap_or(base & 0xf_ffff_f000);
            let virt = mm::paging::map_mmio(PhysAddr::new(phys), mm::PAGE_SIZE)
                .expect("could not map the local APIC");
            Access::Mmio(virt)
        }
    });
    write(reg::TPR, 0);
    // The PIC's ExtINT on LINT0 is not used: mask it.
    write(reg::LVT_LINT0, LVT_MASKED);
    write(reg::LVT_ERROR, LVT_MASKED);
    write(reg::LVT_TIMER, LVT_MASKED);
    write(reg::SVR, SVR_ENABLE | vector::APIC_SPURIOUS as u32);
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    match LAPIC.get() {
        Some(Access::X2Apic) => read(reg::ID),
        _ => read(reg::ID) >> 24,
    }
}

pub fn mode() -> &'static str {
    match LAPIC.get() {
        Some(Access::X2Apic) => "x2APIC",
        Some(Access::Mmio(_)) => "xAPIC",
        None => "off",
    }
}

/// Acknowledges the interrupt being handled.
pub fn eoi() {
    write(reg::EOI, 0);
}

/// Starts the timer counting down from its maximum, masked (to measure its
/// rate). Read progress with [`timer_elapsed`].
pub fn timer_start_free_running() {
    write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
    write(reg::LVT_TIMER, LVT_MASKED);
    write(reg::TIMER_INITIAL, u32::MAX);
}

/// Counts since [`timer_start_free_running`].
pub fn timer_elapsed() -> u32 {
    u32::MAX - read(reg::TIMER_CURRENT)
}

/// Fires `vector` every `count` timer counts (divide-by-16 clock).
pub fn timer_start_periodic(vector: u8, count: u32) {
    write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
    write(reg::LVT_TIMER, vector as u32 | LVT_TIMER_PERIODIC);
    write(reg::TIMER_INITIAL, count.max(1));
}
