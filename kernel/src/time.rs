//! Time: a monotonic uptime from the TSC, and a periodic tick from the local
//! APIC timer. Both are calibrated at boot against a clock of known
//! frequency: the ACPI PM timer (3.579545 MHz) if the FADT has one, else
//! the PIT (1.193182 MHz).

use crate::arch::x86_64::{acpi, apic, cpu, idt::vector, percpu, pit};
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 100;
/// How long calibration measures.
const CALIBRATION: Duration = Duration::from_millis(50);

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static APIC_TIMER_HZ: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The clock used for calibration.
#[derive(Clone, Copy, Debug)]
pub enum Reference {
    /// ACPI PM timer at this I/O port, 24 or 32 bits wide.
    PmTimer {
        port: u16,
        bits32: bool,
    },
    Pit,
}

impl Reference {
    pub fn name(&self) -> &'static str {
        match self {
            Reference::PmTimer { .. } => "ACPI PM timer",
            Reference::Pit => "PIT",
        }
    }

    /// Busy-waits for `d` (well under a second) on this clock.
    fn wait(&self, d: Duration) {
        match *self {
            Reference::PmTimer { port, bits32 } => {
                const HZ: u64 = 3_579_545;
                let mask: u32 = if bits32 { u32::MAX } else { 0x00ff_ffff };
                let read = || acpi::pm_timer_read(port) & mask;
                let ticks = (HZ * d.as_micros() as u64 / 1_000_000) as u32;
                let start = read();
                while read().wrapping_sub(start) & mask < ticks {
                    core::hint::spin_loop();
                }
            }
            Reference::Pit => {
                let ticks = (pit::FREQUENCY_HZ * d.as_micros() as u64 / 1_000_000).min(0xffff);
                if !pit::wait_ticks(ticks as u16) {
                    log::warn!("the PIT did not count: timer calibration is wrong");
                }
            }
        }
    }
}

static REFERENCE: spin::Once<Reference> = spin::Once::new();

/// Marks time zero. Called first thing at boot.
pub fn init_early() {
    BOOT_TSC.store(cpu::rdtsc(), Ordering::SeqCst);
}

/// Measures the TSC and APIC timer rates against `reference`, then starts
/// the periodic tick. The local APIC must be initialised.
pub fn calibrate_and_start(reference: Reference) {
    REFERENCE.call_once(|| reference);
    apic::timer_start_free_running();
    let (a0, t0) = (apic::timer_elapsed(), cpu::rdtsc());
    reference.wait(CALIBRATION);
    let (a1, t1) = (apic::timer_elapsed(), cpu::rdtsc());
    let per_second = |n: u64| n * 1_000_000 / CALIBRATION.as_micros() as u64;
    let tsc_hz = per_second(t1.wrapping_sub(t0)).max(1);
    let apic_hz = per_second(a1.wrapping_sub(a0) as u64).max(TICK_HZ);
    TSC_HZ.store(tsc_hz, Ordering::SeqCst);
    APIC_TIMER_HZ.store(apic_hz, Ordering::SeqCst);
    apic::timer_start_periodic(vector::APIC_TIMER, (apic_hz / TICK_HZ) as u32);
    log::info!(
        "timer: TSC {} MHz, APIC timer {} kHz (calibrated against the {}), tick {} Hz",
        tsc_hz / 1_000_000,
        apic_hz / 1000,
        reference.name(),
        TICK_HZ
    );
}

/// Called by the APIC timer interrupt, on every CPU. The uptime tick
/// counts the boot CPU's only; every CPU counts its own in its per-CPU data.
pub fn on_timer_tick() {
    let me = percpu::current();
    me.ticks.fetch_add(1, Ordering::Relaxed);
    if me.sleeping.load(Ordering::Relaxed) == 0 {
        me.busy_ticks.fetch_add(1, Ordering::Relaxed);
    }
    if me.index() == 0 {
        TICKS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts this (application) CPU's local APIC timer at the tick rate the
/// boot CPU calibrated (all local APIC timers run from the same clock).
pub fn start_ap_timer() {
    let apic_hz = APIC_TIMER_HZ.load(Ordering::Relaxed).max(TICK_HZ);
    apic::timer_start_periodic(vector::APIC_TIMER, (apic_hz / TICK_HZ) as u32);
}

/// Timer interrupts since the tick started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

pub fn reference_name() -> &'static str {
    REFERENCE.get().map_or("none", |r| r.name())
}

/// Waits 50 ms on the calibration clock and returns how long the uptime
/// clock says that took, with the 50 ms.
pub fn check_against_reference() -> (Duration, Duration) {
    let reference = REFERENCE.get().copied().unwrap_or(Reference::Pit);
    let t0 = uptime();
    reference.wait(CALIBRATION);
    (uptime() - t0, CALIBRATION)
}

/// Time since boot (zero until calibrated).
pub fn uptime() -> Duration {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    if hz == 0 {
        return Duration::ZERO;
    }
    let cycles = cpu::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed)) as u128;
    Duration::from_nanos((cycles * 1_000_000_000 / hz as u128) as u64)
}

/// Sleeps for `d` (interrupts must be on): a task on the boot CPU sleeps
/// tick by tick so that other tasks run meanwhile; elsewhere (or while a
/// lock that must not be held across a switch is held) the CPU halts
/// between timer ticks.
pub fn sleep(d: Duration) {
    let end = uptime() + d;
    while uptime() < end {
        if crate::task::sched::may_switch() {
            crate::task::sched::sleep_ticks(1);
        } else {
            x86_64::instructions::hlt();
        }
    }
}

/// Spins for `d` without relying on interrupts.
pub fn busy_wait(d: Duration) {
    let end = uptime() + d;
    while uptime() < end {
        core::hint::spin_loop();
    }
}
