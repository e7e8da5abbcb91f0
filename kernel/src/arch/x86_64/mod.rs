//! x86_64: boot entry, CPU setup (GDT/TSS, IDT), exception diagnosis,
//! interrupt controllers (PIC, local APIC, IOAPIC) and timers (PIT, APIC).

pub mod acpi;
pub mod apic;
pub mod context;
pub mod cpu;
pub mod entry;
pub mod exceptions;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod percpu;
pub mod pic;
pub mod pit;
pub mod qemu;
pub mod selftest;
pub mod simd_lanes;
pub mod smp;
pub mod stack;

use cpu::CpuInfo;
use spin::Once;

static CPU_INFO: Once<CpuInfo> = Once::new();

/// CPUID facts (read on first use).
pub fn cpu_info() -> &'static CpuInfo {
    CPU_INFO.call_once(CpuInfo::read)
}

/// Early CPU setup: GDT/TSS with IST stacks and the IDT, so that every
/// exception from here on is diagnosed.
pub fn init_cpu() {
    percpu::install(0, 0);
    gdt::init();
    idt::init();
}

/// Interrupt controllers and timers: legacy PICs masked, local APIC on,
/// IOAPICs mapped, the APIC timer calibrated and ticking, COM1 receive
/// interrupts routed; then interrupts are enabled.
pub fn init_interrupts(platform: &crate::acpi::Platform) {
    pic::remap_and_mask();
    apic::init(platform.local_apic);
    smp::init_boot_cpu();
    ioapic::init(&platform.ioapics, &platform.isa_overrides);
    crate::time::calibrate_and_start(platform.clock);
    match ioapic::route_isa(
        crate::drivers::serial::COM1_IRQ,
        idt::vector::COM1,
        apic::id(),
    ) {
        Ok(gsi) => {
            crate::drivers::serial::enable_receive_interrupt();
            log::debug!("COM1 receive interrupt on GSI {gsi}");
        }
        Err(e) => log::error!("COM1 interrupt not routed ({e}): no console input"),
    }
    x86_64::instructions::interrupts::enable();
    log::info!(
        "interrupts: local APIC ({}) id {}, {} IOAPIC(s), legacy PICs masked",
        apic::mode(),
        apic::id(),
        platform.ioapics.len()
    );
}
