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
    pub const ICR_LOW: u32 = 0x300;
    pub const ICR_HIGH: u32 = 0x310;
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

/// Enables an application processor's local APIC, in the mode the boot
/// CPU's runs in (the register window is the same address on every CPU).
pub fn init_ap() {
    if let Some(Access::X2Apic) = LAPIC.get() {
        let mut base_msr = Msr::new(IA32_APIC_BASE);
        // SAFETY: switching this CPU's APIC to x2APIC mode like the boot
        // CPU's (enable first, then x2APIC, as the SDM requires).
        unsafe {
            let base = base_msr.read();
            base_msr.write(base | APIC_BASE_ENABLE);
            base_msr.write(base | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
        }
    }
    write(reg::TPR, 0);
    write(reg::LVT_LINT0, LVT_MASKED);
    write(reg::LVT_ERROR, LVT_MASKED);
    write(reg::LVT_TIMER, LVT_MASKED);
    write(reg::SVR, SVR_ENABLE | vector::APIC_SPURIOUS as u32);
}

/// Interrupt-command delivery modes.
#[derive(Clone, Copy, Debug)]
pub enum Ipi {
    /// A fixed interrupt on this vector.
    Fixed(u8),
    /// INIT (level assert): resets the target into wait-for-SIPI.
    Init,
    /// Start-up at physical page `n` (real mode, CS = n << 8).
    Startup(u8),
}

const ICR_DELIVERY_PENDING: u32 = 1 << 12;

/// Sends an inter-processor interrupt to the CPU with local APIC id `dest`
/// (with interrupts off: in xAPIC mode the two ICR writes must not be
/// split by an interrupt handler that sends one too).
pub fn send_ipi(dest: u32, ipi: Ipi) {
    x86_64::instructions::interrupts::without_interrupts(|| send_ipi_now(dest, ipi))
}

fn send_ipi_now(dest: u32, ipi: Ipi) {
    const LEVEL_ASSERT: u32 = 1 << 14;
    let low = match ipi {
        Ipi::Fixed(v) => v as u32 | LEVEL_ASSERT,
        Ipi::Init => 0b101 << 8 | LEVEL_ASSERT,
        Ipi::Startup(page) => 0b110 << 8 | LEVEL_ASSERT | page as u32,
    };
    match LAPIC.get() {
        // SAFETY: x2APIC ICR is MSR 0x830, destination in the high half.
        Some(Access::X2Apic) => unsafe { Msr::new(0x830).write((dest as u64) << 32 | low as u64) },
        Some(Access::Mmio(_)) => {
            write(reg::ICR_HIGH, dest << 24);
            write(reg::ICR_LOW, low);
            let mut spins = 0u32;
            while read(reg::ICR_LOW) & ICR_DELIVERY_PENDING != 0 && spins < 1_000_000 {
                core::hint::spin_loop();
                spins += 1;
            }
        }
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
