//! The command registry: every `/command` with its argument syntax, one-line
//! help and handler. `/help` and the parser are generated from this table
//! (and later the model's prompt and decoding grammar).

use crate::arch::x86_64::{apic, cpu};
use crate::console::style::{self, paint, Style};
use crate::mm::{frame, heap};
use crate::{arch, boot, model, println, selftest, time};
use klib::command::{help, ArgSpec, Command};
use klib::units::{Bytes, KIB};

/// A handler gets the argument (`None` if none was given); the registry has
/// already checked it against the syntax.
pub type Handler = fn(Option<&str>);

pub static COMMANDS: [Command<Handler>; 23] = [
    Command {
        name: "help",
        args: ArgSpec::None,
        help: "list the commands",
        test_only: false,
        handler: cmd_help,
    },
    Command {
        name: "mem",
        args: ArgSpec::None,
        help: "physical memory (total, free) and kernel heap use",
        test_only: false,
        handler: cmd_mem,
    },
    Command {
        name: "cpu",
        args: ArgSpec::None,
        help: "CPU vendor and model, and the SIMD features enabled",
        test_only: false,
        handler: cmd_cpu,
    },
    Command {
        name: "uptime",
        args: ArgSpec::None,
        help: "time since boot",
        test_only: false,
        handler: cmd_uptime,
    },
    Command {
        name: "color",
        args: ArgSpec::OneOf {
            choices: &["on", "off"],
            optional: true,
        },
        help: "switch ANSI colours on or off (plain output)",
        test_only: false,
        handler: cmd_color,
    },
    Command {
        name: "keymap",
        args: ArgSpec::OneOf {
            choices: klib::keyboard::LAYOUT_NAMES,
            optional: true,
        },
        help: "keyboard layout of PS/2 and USB keyboards (none: show the current one)",
        test_only: false,
        handler: crate::console::keymap::cmd_keymap,
    },
    Command {
        name: "usb",
        args: ArgSpec::None,
        help: "USB controllers and the devices on their ports (keyboards type into the console)",
        test_only: false,
        handler: crate::console::keymap::cmd_usb,
    },
    Command {
        name: "selftest",
        args: ArgSpec::OneOf {
            choices: selftest::NAMES,
            optional: true,
        },
        help: "run in-kernel self-tests (all by default)",
        test_only: false,
        handler: cmd_selftest,
    },
    Command {
        name: "shutdown",
        args: ArgSpec::None,
        help: "power off (ACPI S5)",
        test_only: false,
        handler: cmd_shutdown,
    },
    Command {
        name: "test-fault",
        args: ArgSpec::OneOf {
            choices: selftest::FAULTS,
            optional: false,
        },
        help: "raise a CPU fault on purpose (the kernel stops)",
        test_only: true,
        handler: cmd_test_fault,
    },
    Command {
        name: "test-stream",
        args: ArgSpec::None,
        help: "print a numbered line every 100 ms until Ctrl-C (at most 60 s)",
        test_only: true,
        handler: cmd_test_stream,
    },
    Command {
        name: "model",
        args: ArgSpec::None,
        help: "what is loaded: model, quantizations, memory used, load figures, backend",
        test_only: false,
        handler: model::commands::cmd_model,
    },
    Command {
        name: "stats",
        args: ArgSpec::None,
        help: "context use, prefill and decode speeds, sampler settings",
        test_only: false,
        handler: model::commands::cmd_stats,
    },
    Command {
        name: "reset",
        args: ArgSpec::None,
        help: "forget the conversation (the system prompt stays)",
        test_only: false,
        handler: model::commands::cmd_reset,
    },
    Command {
        name: "temp",
        args: ArgSpec::Text {
            name: "T",
            optional: false,
        },
        help: "sampling temperature (0: greedy)",
        test_only: false,
        handler: model::commands::cmd_temp,
    },
    Command {
        name: "top-p",
        args: ArgSpec::Text {
            name: "P",
            optional: false,
        },
        help: "nucleus sampling threshold, in (0, 1]",
        test_only: false,
        handler: model::commands::cmd_top_p,
    },
    Command {
        name: "seed",
        args: ArgSpec::Text {
            name: "S",
            optional: false,
        },
        help: "restart the random stream from seed S",
        test_only: false,
        handler: model::commands::cmd_seed,
    },
    Command {
        name: "complete",
        args: ArgSpec::Text {
            name: "[--ids] [-n N] TEXT",
            optional: false,
        },
        help: "raw greedy continuation of TEXT, no chat template (--ids: print token ids)",
        test_only: false,
        handler: model::commands::cmd_complete,
    },
    Command {
        name: "bench",
        args: ArgSpec::Text {
            name: "P N",
            optional: true,
        },
        help: "time a prefill of P tokens and N decode steps (default 16 8), as the host benchmark does; `profile [N]`: time per backend entry over N decode steps; `kernels`: each backend's matrix kernels on the model's matrices",
        test_only: false,
        handler: model::commands::cmd_bench,
    },
    Command {
        name: "disks",
        args: ArgSpec::OneOf {
            choices: &["bench"],
            optional: true,
        },
        help: "list the disks and what they hold (bench: measure read speed)",
        test_only: false,
        handler: model::commands::cmd_disks,
    },
    Command {
        name: "pci",
        args: ArgSpec::None,
        help: "list the PCI functions",
        test_only: false,
        handler: cmd_pci,
    },
    Command {
        name: "test-disk",
        args: ArgSpec::None,
        help: "write and read back 1 MiB on a disk without a model",
        test_only: true,
        handler: model::commands::cmd_test_disk,
    },
    Command {
        name: "echo",
        args: ArgSpec::Text {
            name: "text",
            optional: true,
        },
        help: "print the text back",
        test_only: false,
        handler: cmd_echo,
    },
];

fn cmd_help(_: Option<&str>) {
    println!("Commands:");
    crate::print!("{}", help(&COMMANDS, super::test_commands()));
    match model::with(|m| m.name.clone()) {
        Ok(name) => println!(
            "Other lines are messages to the language model ({name}); Ctrl-C stops a reply."
        ),
        Err(why) => println!("Other lines go to the language model ({why})."),
    }
    println!("Keys: Left/Right, Home/End, Backspace/Delete, Ctrl-U, Ctrl-K, Ctrl-W, Up/Down history, Ctrl-C.");
}

fn cmd_mem(_: Option<&str>) {
    let f = frame::stats();
    let h = heap::stats();
    println!(
        "physical memory: {} usable ({} KiB), {} free ({} KiB)",
        Bytes(f.usable),
        f.usable / KIB,
        Bytes(f.free),
        f.free / KIB
    );
    println!(
        "of which the bootloader used {} (kernel image, page tables, boot info)",
        Bytes(f.bootloader)
    );
    println!(
        "kernel heap: {} used of {} mapped (grown {} times; grows on demand)",
        Bytes(h.used),
        Bytes(h.mapped),
        h.grows
    );
    println!(
        "lazily-backed regions: {} page faults served",
        crate::mm::lazy::faults_served()
    );
}

fn cmd_cpu(_: Option<&str>) {
    let c = arch::cpu_info();
    println!("cpu: {} {}", c.vendor, c.brand);
    println!(
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
    println!("simd enabled: {}", on.join(" "));
    if !off.is_empty() {
        println!("simd present but not enabled: {}", off.join(" "));
    }
    println!(
        "state: XCR0={:#x} MXCSR={:#x} local APIC {} id {}",
        cpu::xcr0_bits(),
        cpu::mxcsr(),
        apic::mode(),
        apic::id()
    );
}

fn cmd_uptime(_: Option<&str>) {
    let t = time::uptime();
    println!(
        "uptime: {}.{:06} s ({} timer ticks at {} Hz; TSC {} MHz, calibrated against the {})",
        t.as_secs(),
        t.subsec_micros(),
        time::ticks(),
        time::TICK_HZ,
        time::tsc_hz() / 1_000_000,
        time::reference_name()
    );
}

fn cmd_color(arg: Option<&str>) {
    if let Some(a) = arg {
        style::set_enabled(a == "on")
    }
    println!(
        "colours {}",
        if style::enabled() {
            alloc::format!("{}", paint(Style::Cyan, "on"))
        } else {
            alloc::string::String::from("off")
        }
    );
}

fn cmd_selftest(arg: Option<&str>) {
    selftest::run(arg.unwrap_or("all"));
}

fn cmd_shutdown(_: Option<&str>) {
    println!("powering off");
    crate::power::shutdown();
}

fn cmd_test_fault(arg: Option<&str>) {
    selftest::fault(arg.unwrap_or(""));
}

/// Streams output while polling for Ctrl-C, the way token generation will.
fn cmd_test_stream(_: Option<&str>) {
    let start = time::uptime();
    let mut n = 0u64;
    while time::uptime() - start < core::time::Duration::from_secs(60) {
        if crate::console::interrupted() {
            println!("stream: interrupted by Ctrl-C after {n} lines");
            return;
        }
        println!("stream: line {n}");
        n += 1;
        time::sleep(core::time::Duration::from_millis(100));
    }
    println!("stream: no Ctrl-C within 60 s");
}

fn cmd_pci(_: Option<&str>) {
    use crate::drivers::pci;
    for d in pci::devices() {
        println!(
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
}

fn cmd_echo(arg: Option<&str>) {
    println!("{}", arg.unwrap_or(""));
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
    if let Some(r) = boot::ramdisk() {
        println!("  ramdisk: {}", Bytes(r.len() as u64));
    }
    println!(
        "  cpu:    {} ({} CPU{} in ACPI, 1 running)",
        c.brand,
        platform.cpus,
        if platform.cpus == 1 { "" } else { "s" }
    );
    let on: alloc::vec::Vec<&str> = c
        .simd_features()
        .iter()
        .filter(|f| f.enabled)
        .map(|f| f.name)
        .collect();
    println!("  simd:   {}", on.join(" "));
    println!(
        "  console: COM1 115200 8N1, colours {} (/color on|off)",
        if style::enabled() { "on" } else { "off" }
    );
    println!("Type /help for commands.");
}
