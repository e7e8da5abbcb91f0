//! Booting to the prompt (BIOS and UEFI) and the answers of each command.

mod common;

use common::{config, kib_values, line_with, number_after, NEEDS_IMAGES};
use klib::qemu_exit::ExitCode;
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine};
use std::time::{Duration, Instant};

/// Checks every direct command on a booted machine with `mib` MiB of RAM,
/// then shuts it down.
fn check_commands(m: &mut Machine, mode: &str, mib: u64, test_commands: bool) {
    // The banner says how it booted.
    let banner = m.text();
    assert!(
        line_with(&banner, "boot:").contains(mode),
        "banner does not say {mode}:\n{banner}"
    );

    // /help is generated from the registry: every command, one line each.
    let help = m.command("/help");
    for cmd in [
        "/help",
        "/mem",
        "/cpu",
        "/uptime",
        "/shutdown",
        "/color",
        "/selftest",
        "/echo",
    ] {
        assert!(
            help.contains(&format!("  {cmd}")),
            "/help lacks {cmd}:\n{help}"
        );
    }
    assert_eq!(
        help.contains("/test-fault"),
        test_commands,
        "/test-fault must be listed only with `test` on the command line:\n{help}"
    );

    // /mem agrees with -m, within what the firmware keeps.
    let mem = m.command("/mem");
    let phys = line_with(&mem, "physical memory:");
    let [usable, free] = kib_values(phys)[..] else {
        panic!("expected usable and free KiB in {phys:?}")
    };
    let total = mib * 1024;
    assert!(
        usable <= total && usable >= total - 64 * 1024,
        "usable {usable} KiB is not within 64 MiB below -m {mib}M:\n{mem}"
    );
    assert!(
        free < usable && free > usable - 128 * 1024,
        "free {free} KiB vs usable {usable} KiB:\n{mem}"
    );
    assert!(line_with(&mem, "kernel heap:").contains("KiB) of"), "{mem}");

    // /cpu names the CPU and shows SSE on; with `-cpu max` (TCG) AVX2 and
    // FMA must be enabled too, not merely present.
    let cpu = m.command("/cpu");
    assert!(line_with(&cpu, "cpu:").len() > 6, "{cpu}");
    let simd = line_with(&cpu, "simd enabled:");
    for f in [" sse ", " sse2 "] {
        assert!(format!("{simd} ").contains(f), "{f} not enabled:\n{cpu}");
    }
    if cpu.contains("TCG") {
        for f in [" avx ", " avx2 ", " fma "] {
            assert!(
                format!("{simd} ").contains(f),
                "{f} not enabled under TCG -cpu max:\n{cpu}"
            );
        }
        assert!(line_with(&cpu, "state:").contains("XCR0=0x7"), "{cpu}");
    }
    assert!(!cpu.contains("present but not enabled: avx"), "{cpu}");

    // /uptime is positive and grows.
    let up1 = uptime_secs(&m.command("/uptime"));
    thread_sleep(Duration::from_millis(300));
    let up2 = uptime_secs(&m.command("/uptime"));
    assert!(up1 > 0.0 && up2 > up1, "uptime {up1} then {up2}");

    // Lines without a slash get the one-line explanation; unknown commands
    // and bad arguments are refused.
    let text = m.command("hello there");
    assert!(text.contains("no model is loaded"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    let unknown = m.command("/memory");
    assert!(
        unknown.contains("unknown command /memory") && unknown.contains("/mem"),
        "{unknown}"
    );
    let bad = m.command("/color purple");
    assert!(bad.contains("usage: /color [on|off]"), "{bad}");
    assert!(bad.contains("mode must be one of on, off"), "{bad}");
    let missing = m.command("/help mem please");
    assert!(missing.contains("unexpected \"please\""), "{missing}");

    // /help NAME explains one command from its description.
    let one = m.command("/help disks");
    assert!(
        one.contains("/disks [bench]") && one.contains("tier: read"),
        "{one}"
    );
    assert!(one.contains("action  choice (bench): "), "{one}");
    // Every described command has a handler (the kernel logs the ones
    // that do not at boot).
    assert!(!m.text().contains("has no handler"), "{}", m.text());
    assert!(!m.text().contains("which is not described"), "{}", m.text());

    // /date reads the CMOS clock, which QEMU sets to the host's UTC time.
    let date = m.command("/date");
    let kernel_secs = date_secs(line_with(&date, " UTC ("));
    let host_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (kernel_secs - host_secs).abs() < 300,
        "/date is {kernel_secs}, the host says {host_secs}: {date}"
    );
    if !test_commands {
        let refused = m.command("/test-fault pf");
        assert!(refused.contains("unknown command /test-fault"), "{refused}");
    }

    // Colours: off on the test command line; /color on brings the escape
    // sequences back, /color off removes them again.
    m.command("/color on");
    let raw_before = m.raw_len();
    m.command("/echo coloured");
    assert!(
        m.raw_since(raw_before).contains("\x1b[1;32mllm> "),
        "no coloured prompt after /color on"
    );
    m.command("/color off");
    let raw_before = m.raw_len();
    m.command("/echo plain");
    assert!(
        !m.raw_since(raw_before).contains("\x1b["),
        "escape sequences after /color off"
    );

    // /shutdown powers off: QEMU exits with status 0 (ACPI S5).
    m.send(b"/shutdown\r");
    m.wait_for("powering off", COMMAND_TIMEOUT);
    assert_eq!(
        m.wait_exit(COMMAND_TIMEOUT),
        0,
        "QEMU did not exit with 0 after /shutdown"
    );
}

/// Seconds since 1970 of a `YYYY-MM-DD HH:MM:SS UTC` line.
fn date_secs(line: &str) -> i64 {
    let nums: Vec<i64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(6)
        .map(|w| w.parse().unwrap())
        .collect();
    let [y, mo, d, h, mi, s] = nums[..] else {
        panic!("no date in {line:?}")
    };
    // Days from civil (proleptic Gregorian).
    let (y, mo) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + h * 3600 + mi * 60 + s
}

fn uptime_secs(answer: &str) -> f64 {
    number_after(line_with(answer, "uptime:"), "uptime:")
}

fn thread_sleep(d: Duration) {
    std::thread::sleep(d)
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn bios_boots_to_prompt_and_answers_commands() {
    let _ = NEEDS_IMAGES;
    let mut m = Machine::boot_to_prompt("bios-commands", &config(Firmware::Bios, 1024));
    check_commands(&mut m, "BIOS", 1024, true);
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn uefi_boots_to_prompt_and_answers_commands() {
    // 2 GiB and no `test` word: test-only commands must stay hidden.
    let cfg = config(Firmware::Uefi, 2048).cmdline("color=off");
    let mut m = Machine::boot_to_prompt("uefi-commands", &cfg);
    check_commands(&mut m, "UEFI", 2048, false);
}

/// The uptime clock runs at the host clock's rate (generous tolerance for
/// TCG), and the in-kernel self-tests (heap, SIMD, timer, lazy regions)
/// pass.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn selftests_pass_and_timer_follows_host_clock() {
    let mut m = Machine::boot_to_prompt("selftests", &config(Firmware::Bios, 1024));
    let t1 = uptime_secs(&m.command("/uptime"));
    let h1 = Instant::now();
    thread_sleep(Duration::from_secs(3));
    let t2 = uptime_secs(&m.command("/uptime"));
    let host = h1.elapsed().as_secs_f64();
    let ratio = (t2 - t1) / host;
    assert!(
        (0.75..1.33).contains(&ratio),
        "guest uptime advanced {:.3} s while the host clock advanced {host:.3} s",
        t2 - t1
    );

    let out = m.command_with_timeout("/selftest", Duration::from_secs(300));
    for name in ["heap", "simd", "timer", "lazy"] {
        let line = line_with(&out, &format!("selftest {name}:"));
        assert!(line.contains("PASS"), "{line}\n{out}");
    }
    assert!(out.contains("selftest: 4 passed, 0 failed"), "{out}");
    assert!(
        line_with(&out, "selftest simd:").contains("AVX2/FMA dot product"),
        "AVX2 path not exercised:\n{out}"
    );
    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, COMMAND_TIMEOUT);
}

/// `/reboot` restarts the machine: the banner and the prompt come again.
#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn reboot_restarts_the_machine() {
    let mut m = Machine::boot_to_prompt("reboot", &config(Firmware::Bios, 512));
    m.send(b"/reboot\r");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = m.text();
        if let Some(after) = text.split("restarting").nth(1) {
            if after.contains("llm-kernel ") && after.contains("Type /help") {
                break;
            }
        }
        assert!(
            m.poll_exit().is_none(),
            "QEMU exited instead of restarting:\n{text}"
        );
        assert!(
            Instant::now() < deadline,
            "no second boot after /reboot:\n{text}"
        );
        thread_sleep(Duration::from_millis(100));
    }
}
