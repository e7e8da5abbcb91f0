//! The kernel of a bare-metal LLM runtime: boots from the `bootloader`
//! crate (BIOS or UEFI), brings up memory management, interrupts and the
//! serial console, finds a language model on a virtio disk (or in the boot
//! ramdisk), maps its weights, and runs a shell whose lines are messages
//! to the model and whose `/commands` come from one registry.
//!
//! Layout: `arch/x86_64` (CPU, interrupt controllers, timers), `mm`
//! (frames, paging, heap, lazily-backed regions), `drivers` (serial,
//! fw_cfg, PCI, virtio-blk), `model` (finding, mapping and loading the
//! model; the conversation on the console), `console`, `shell`; `klib`
//! holds the hardware-free parts, tested on the host; the inference engine
//! is the `model_loader` crate, shared with the host tools.

#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]

extern crate alloc;

mod acpi;
mod agent;
mod arch;
mod boot;
mod console;
mod drivers;
mod fatal;
mod fs;
mod mm;
mod model;
mod power;
mod selftest;
mod shell;
mod task;
mod time;

use arch::x86_64::{gdt, stack};
use bootloader_api::BootInfo;
use klib::cmdline::BootOptions;
use x86_64::VirtAddr;

/// Size of the main kernel stack (plus a guard page below it).
const KERNEL_STACK: u64 = 4 * 1024 * 1024;
/// Size of each IST stack (double fault, NMI, machine check).
const IST_STACK: u64 = 64 * 1024;

/// Entered from the assembly stub in `arch::x86_64::entry`, with SSE/AVX
/// already enabled, on the bootloader's stack.
pub extern "C" fn kernel_entry(boot_info: &'static mut BootInfo) -> ! {
    time::init_early();
    arch::x86_64::entry::keep_bootloader_config();
    drivers::serial::init();
    arch::x86_64::init_cpu();
    let offset = boot_info
        .physical_memory_offset
        .into_option()
        .expect("the bootloader did not map physical memory");
    mm::init(&boot_info.memory_regions, VirtAddr::new(offset));
    boot::record(boot_info);
    let framebuffer = core::mem::replace(
        &mut boot_info.framebuffer,
        bootloader_api::info::Optional::None,
    );
    console::screen::init(framebuffer.into_option());

    // Guarded stacks for the IST and for the kernel itself.
    gdt::set_ist_stack(
        gdt::DOUBLE_FAULT_IST,
        stack::allocate("double-fault stack", IST_STACK),
    );
    gdt::set_ist_stack(gdt::NMI_IST, stack::allocate("NMI stack", IST_STACK));
    gdt::set_ist_stack(
        gdt::MACHINE_CHECK_IST,
        stack::allocate("machine-check stack", IST_STACK),
    );
    let top = stack::allocate("kernel stack", KERNEL_STACK);
    stack::switch_to(top, kernel_main)
}

extern "C" fn kernel_main() -> ! {
    let cmdline = drivers::fw_cfg::read_file("opt/llm/cmdline")
        .map(|b| alloc::string::String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let options = BootOptions::parse(&cmdline);
    console::style::set_enabled(options.color);
    console::logger::init(options.log_level);
    if !cmdline.trim().is_empty() {
        log::info!("command line: {}", cmdline.trim());
    }
    for word in &options.unknown {
        log::warn!("unknown command-line word `{word}` ignored");
    }
    if options.test_commands {
        shell::enable_test_commands();
    }

    let platform = acpi::init(boot::facts().rsdp);
    arch::x86_64::init_interrupts(platform);
    match drivers::ps2_keyboard::init() {
        Ok(()) => log::debug!("PS/2 keyboard on IRQ {}", drivers::ps2_keyboard::IRQ),
        Err(why) => log::info!("no PS/2 keyboard: {why}"),
    }

    let devices = drivers::pci::devices();
    log::debug!("PCI: {} functions", devices.len());
    drivers::virtio::blk::init(devices);
    fs::init();
    agent::audit_log::init();

    let cpus = arch::x86_64::smp::start_aps(&platform.ap_apic_ids);
    task::team::set_size(usize::MAX);
    log::info!(
        "smp: {} of {} CPU(s) running; compute team of {}",
        cpus.running,
        cpus.listed,
        task::team::size()
    );
    drivers::xhci::init(devices);
    task::sched::init(KERNEL_STACK);
    task::jobs::start();

    shell::commands::banner();
    model::boot(&options);
    shell::run()
}
