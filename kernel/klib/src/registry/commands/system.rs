//! The machine itself: help, memory, CPUs, time, PCI, power, diagnostics.

use crate::registry::spec::{Arg, Audience, Kind, Spec, Tier};

/// Self-tests `/selftest` can run.
pub const SELFTESTS: &[&str] = &["all", "heap", "simd", "timer", "lazy"];
/// Faults `/test-fault` can raise.
/// (`oom`: an infallible allocation larger than memory, as deep inside the
/// engine, which cannot report it.)
pub const FAULTS: &[&str] = &["pf", "de", "ud", "gp", "stack", "panic", "oom"];

pub static SYSTEM: &[Spec] = &[
    Spec {
        name: "help",
        args: &[Arg::opt(
            "command",
            Kind::Word,
            "a command to explain in detail",
        )],
        help: "list the commands, or explain one",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "mem",
        args: &[],
        help: "physical memory (total, free) and kernel heap use",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &["memory"],
    },
    Spec {
        name: "cpu",
        args: &[],
        help: "the processor: vendor, model, SIMD features",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &["processor"],
    },
    Spec {
        name: "uptime",
        args: &[],
        help: "how long the machine has been running since it booted",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "date",
        args: &[],
        help: "the current date and time of day (wall clock, UTC, from the real-time clock)",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &["time", "clock"],
    },
    Spec {
        name: "pci",
        args: &[],
        help: "list the PCI devices (the hardware attached)",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "color",
        args: &[Arg::opt(
            "mode",
            Kind::Choice(&["on", "off"]),
            "on: ANSI colours; off: plain text",
        )],
        help: "switch ANSI colours on or off (plain output)",
        tier: Tier::Write,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "keymap",
        args: &[Arg::opt(
            "layout",
            Kind::Choice(crate::keyboard::LAYOUT_NAMES),
            "the layout to switch to (none: show the current one)",
        )],
        help: "keyboard layout of the PS/2 and USB keyboards",
        tier: Tier::Write,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "usb",
        args: &[],
        help: "USB controllers and the devices on their ports",
        tier: Tier::Read,
        audience: Audience::Everyone,
        aliases: &[],
    },
    Spec {
        name: "selftest",
        args: &[Arg::opt(
            "test",
            Kind::Choice(SELFTESTS),
            "which self-test (all by default)",
        )],
        help: "run in-kernel self-tests",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "echo",
        args: &[Arg::opt("text", Kind::Text, "what to print")],
        help: "print the text back",
        tier: Tier::Read,
        audience: Audience::Person,
        aliases: &[],
    },
    Spec {
        name: "shutdown",
        args: &[],
        help: "power the machine off (ACPI S5)",
        tier: Tier::Power,
        audience: Audience::Everyone,
        aliases: &["poweroff"],
    },
    Spec {
        name: "reboot",
        args: &[],
        help: "restart the machine",
        tier: Tier::Power,
        audience: Audience::Everyone,
        aliases: &["restart"],
    },
    Spec {
        name: "test-fault",
        args: &[Arg::req(
            "fault",
            Kind::Choice(FAULTS),
            "the fault to raise (CPU exceptions, a panic, an allocation failure)",
        )],
        help: "raise a fault on purpose (the kernel stops)",
        tier: Tier::Power,
        audience: Audience::Test,
        aliases: &[],
    },
    Spec {
        name: "test-stream",
        args: &[],
        help: "print a numbered line every 100 ms until Ctrl-C (at most 60 s)",
        tier: Tier::Read,
        audience: Audience::Test,
        aliases: &[],
    },
];
