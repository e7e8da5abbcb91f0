//! The system commands' handlers (`/help`, `/mem`, `/cpu`, `/uptime`,
//! `/date`, `/pci`, `/color`, `/selftest`, `/echo`, `/shutdown`,
//! `/reboot`) and the boot banner. Their descriptions are in
//! `klib::registry::commands::system`.

use super::registry::Handlers;
use crate::arch::x86_64::{apic, cpu};
use crate::console::style::{self, paint, Style};
use crate::mm::{frame, heap};
use crate::{arch, boot, model, println, selftest, time};
use alloc::string::String;
use klib::registry::{help, Invocation, Output, REGISTRY};
use klib::units::{Bytes, KIB};
use klib::{out, outln};

type Result = core::result::Result<(), String>;

/// The system commands' handlers (described in
/// `klib::registry::commands::system`).
pub static HANDLERS: Handlers = &[
    ("help", cmd_help),
    ("mem", cmd_mem),
    ("cpu", cmd_cpu),
    ("uptime", cmd_uptime),
    ("date", cmd_date),
    ("pci", cmd_pci),
    ("color", cmd_color),
    ("selftest", cmd_selftest),
    ("echo", cmd_echo),
    ("shutdown", cmd_shutdown),
    ("reboot", cmd_reboot),
    ("test-fault", cmd_test_fault),
    ("test-stream", cmd_test_stream),
    ("keymap", crate::console::keymap::cmd_keymap),
    ("usb", crate::console::keymap::cmd_usb),
];

fn cmd_help(inv: &Invocation, out: &mut Output) -> Result {
    if let Some(name) = inv.str("command") {
        let name = name.trim_start_matches('/');
        let spec = REGISTRY
            .find(name, super::test_commands())
            .ok_or_else(|| alloc::format!("unknown command /{name}; type /help for the list"))?;
        out!(out, "{}", help::command(spec));
        return Ok(());
    }
    outln!(out, "Commands (/help NAME explains one):");
    out!(out, "{}", help::list(&REGISTRY, super::test_commands()));
    match model::with(|m| m.name.clone()) {
        Ok(name) => outln!(
            out,
            "Other lines are messages to the language model ({name}); Ctrl-C stops a reply."
        ),
        Err(why) => outln!(out, "Other lines go to the language model ({why})."),
    }
    outln!(out, "Keys: Left/Right, Home/End, Backspace/Delete, Ctrl-U, Ctrl-K, Ctrl-W, Up/Down history, Ctrl-C.");
    Ok(())
}

fn cmd_mem(_: &Invocation, out: &mut Output) -> Result {
    let f = frame::stats();
    let h = heap::stats();
    outln!(
        out,
        "physical memory: {} usable ({} KiB), {} free ({} KiB)",
        Bytes(f.usable),
        f.usable / KIB,
        Bytes(f.free),
        f.free / KIB
    );
    outln!(
        out,
        "of which the bootloader used {} (kernel image, page tables, boot info)",
        Bytes(f.bootloader)
    );
    outln!(
        out,
        "kernel heap: {} used ({} KiB) of {} mapped (grown {} times; grows on demand)",
        Bytes(h.used),
        h.used / KIB,
        Bytes(h.mapped),
        h.grows
    );
    outln!(
        out,
        "lazily-backed regions: {} page faults served",
        crate::mm::lazy::faults_served()
    );
    Ok(())
}

fn cmd_cpu(_: &Invocation, out: &mut Output) -> Result {
    let c = arch::cpu_info();
    outln!(out, "cpu: {} {}", c.vendor, c.brand);
    outln!(
        out,
        "family {} model {} stepping {}; {}",
        c.family,
        c.model,
        c.stepping,
        match &c.hypervisor {
            Some(h) => alloc::format!("hypervisor {h}"),
            None => alloc::string::String::from("no hypervisor"),
        }
    );
    let features = c.simd_features();
    let on: alloc::vec::Vec<&str> = features
        .iter()
        .filter(|f| f.enabled)
        .map(|f| f.name)
        .collect();
    let off: alloc::vec::Vec<&str> = features
        .iter()
        .filter(|f| f.present && !f.enabled)
        .map(|f| f.name)
        .collect();
    outln!(out, "simd enabled: {}", on.join(" "));
    if !off.is_empty() {
        outln!(out, "simd present but not enabled: {}", off.join(" "));
    }
    outln!(
        out,
        "state: XCR0={:#x} MXCSR={:#x} local APIC {} id {}",
        cpu::xcr0_bits(),
        cpu::mxcsr(),
        apic::mode(),
        apic::id()
    );
    cpu_lines(out);
    Ok(())
}

/// One line per CPU: its APIC id, what it does, the task it runs now, its
/// timer ticks (busy of total) and the compute-team jobs it ran.
fn cpu_lines(out: &mut Output) {
    use crate::arch::x86_64::percpu::{self, State};
    use core::sync::atomic::Ordering::Relaxed;
    let started = arch::smp::started();
    outln!(
        out,
        "cpus: {} running of {} listed; compute team of {}",
        started.running,
        started.listed,
        crate::task::team::size()
    );
    for (i, c) in percpu::all().iter().enumerate() {
        if c.state() == State::Absent {
            continue;
        }
        let task = crate::task::sched::running_on(i)
            .map(|t| alloc::format!("; task {t}"))
            .unwrap_or_default();
        outln!(
            out,
            "cpu {i}: APIC id {}, {}{task}; busy {} of {} ticks, {} team jobs",
            c.apic_id.load(Relaxed),
            c.state().name(),
            c.busy_ticks.load(Relaxed),
            c.ticks.load(Relaxed),
            c.jobs.load(Relaxed)
        );
    }
}

fn cmd_uptime(_: &Invocation, out: &mut Output) -> Result {
    let t = time::uptime();
    outln!(
        out,
        "uptime: {}.{:06} s ({} timer ticks at {} Hz; TSC {} MHz, calibrated against the {})",
        t.as_secs(),
        t.subsec_micros(),
        time::ticks(),
        time::TICK_HZ,
        time::tsc_hz() / 1_000_000,
        time::reference_name()
    );
    Ok(())
}

fn cmd_date(_: &Invocation, out: &mut Output) -> Result {
    let now = crate::drivers::rtc::now().ok_or("the real-time clock holds no valid date")?;
    outln!(out, "{} UTC ({})", now, now.weekday());
    Ok(())
}

fn cmd_color(inv: &Invocation, out: &mut Output) -> Result {
    if let Some(a) = inv.str("mode") {
        style::set_enabled(a == "on")
    }
    outln!(
        out,
        "colours {}",
        if style::enabled() {
            alloc::format!("{}", paint(Style::Cyan, "on"))
        } else {
            alloc::string::String::from("off")
        }
    );
    Ok(())
}

fn cmd_selftest(inv: &Invocation, _: &mut Output) -> Result {
    selftest::run(inv.str("test").unwrap_or("all"));
    Ok(())
}

fn cmd_shutdown(_: &Invocation, out: &mut Output) -> Result {
    outln!(out, "powering off");
    crate::power::shutdown();
}

fn cmd_reboot(_: &Invocation, out: &mut Output) -> Result {
    outln!(out, "restarting");
    crate::power::reboot();
}

fn cmd_test_fault(inv: &Invocation, _: &mut Output) -> Result {
    selftest::fault(inv.str("fault").unwrap_or(""));
    Ok(())
}

/// Streams output while polling for Ctrl-C, the way token generation will.
fn cmd_test_stream(_: &Invocation, out: &mut Output) -> Result {
    let start = time::uptime();
    let mut n = 0u64;
    while time::uptime() - start < core::time::Duration::from_secs(60) {
        if crate::console::interrupted() {
            let ms = crate::console::since_ctrl_c().map_or(0.0, |d| d.as_micros() as f64 / 1000.0);
            outln!(
                out,
                "stream: interrupted by Ctrl-C after {n} lines, {ms:.1} ms after the key arrived"
            );
            return Ok(());
        }
        outln!(out, "stream: line {n}");
        n += 1;
        time::sleep(core::time::Duration::from_millis(100));
    }
    outln!(out, "stream: no Ctrl-C within 60 s");
    Ok(())
}

fn cmd_pci(_: &Invocation, out: &mut Output) -> Result {
    use crate::drivers::pci;
    for d in pci::devices() {
        outln!(
            out,
            "{}  {:04x}:{:04x}  class {:02x}.{:02x}.{:02x}  {}{}",
            d.address,
            d.vendor,
            d.device,
            d.class,
            d.subclass,
            d.prog_if,
            pci::class_name(d.class, d.subclass),
            if d.vendor == crate::drivers::virtio::VENDOR {
                " (virtio)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn cmd_echo(inv: &Invocation, out: &mut Output) -> Result {
    outln!(out, "{}", inv.str("text").unwrap_or(""));
    Ok(())
}

/// The boot banner.
pub fn banner() {
    let facts = boot::facts();
    let platform = crate::acpi::platform();
    let c = arch::cpu_info();
    let f = frame::stats();
    println!();
    println!(
        "{} {} - bare-metal LLM runtime",
        paint(Style::Bold, "llm-kernel"),
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "  boot:   {} (bootloader 0.11); ACPI {}",
        facts.mode.name(),
        if platform.from_acpi {
            alloc::format!("OEM \"{}\"", platform.oem_id)
        } else {
            alloc::string::String::from("not available")
        }
    );
    println!(
        "  memory: {} usable, {} free",
        Bytes(f.usable),
        Bytes(f.free)
    );
    if let Some(r) = crate::mm::ramdisk::bytes() {
        println!("  ramdisk: {}", Bytes(r.len() as u64));
    }
    println!(
        "  cpu:    {} ({} CPU{} in ACPI, {} running)",
        c.brand,
        platform.cpus,
        if platform.cpus == 1 { "" } else { "s" },
        arch::smp::started().running
    );
    let on: alloc::vec::Vec<&str> = c
        .simd_features()
        .iter()
        .filter(|f| f.enabled)
        .map(|f| f.name)
        .collect();
    println!("  simd:   {}", on.join(" "));
    println!("  files:  {}", crate::fs::summary());
    println!(
        "  console: COM1 115200 8N1, colours {} (/color on|off)",
        if style::enabled() { "on" } else { "off" }
    );
    println!("Type /help for commands.");
}
