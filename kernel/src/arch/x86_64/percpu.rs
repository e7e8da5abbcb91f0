//! Per-CPU data, reached through the GS base: every CPU's GS base points
//! at its own [`PerCpu`] slot in a static table, whose first word points at
//! itself, so `mov rax, gs:[0]` finds it without knowing the CPU number.
//!
//! Slot 0 is the boot CPU; application processors get slots 1.. in the
//! order they are started (see [`super::smp`]).

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use x86_64::registers::model_specific::GsBase;
use x86_64::VirtAddr;

/// The most CPUs the kernel runs (`--smp 1..8`); further ones stay halted.
pub const MAX_CPUS: usize = 8;

/// What a CPU is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Not started (no such CPU, or not yet).
    Absent = 0,
    /// INIT-SIPI-SIPI sent, not answered yet.
    Starting = 1,
    /// Did not answer within the timeout: skipped.
    NoAnswer = 2,
    /// Running the shell and the conversation (the boot CPU).
    Shell = 3,
    /// A compute-team worker waiting for work (spinning or halted).
    Idle = 4,
    /// A compute-team worker running a share of a job.
    Working = 5,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            1 => State::Starting,
            2 => State::NoAnswer,
            3 => State::Shell,
            4 => State::Idle,
            5 => State::Working,
            _ => State::Absent,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Absent => "absent",
            State::Starting => "starting",
            State::NoAnswer => "did not answer (skipped)",
            State::Shell => "shell and conversation",
            State::Idle => "compute worker, idle",
            State::Working => "compute worker, working",
        }
    }
}

/// One CPU's slot.
#[repr(C, align(64))]
pub struct PerCpu {
    /// Points at this slot (read through `gs:[0]`).
    self_ptr: AtomicU64,
    /// The local APIC id (as the CPU reads it itself once running).
    pub apic_id: AtomicU32,
    state: AtomicU8,
    /// Halted (for the tick's idle accounting).
    pub sleeping: AtomicU8,
    /// The CPU's own flow (the console on CPU 0, the compute-team worker
    /// elsewhere) will not see new team work by itself: it is halted,
    /// parked, or switched out for another task. Whoever publishes work
    /// for it sends a wake-up IPI.
    pub wake_me: AtomicU8,
    /// Local APIC timer interrupts taken.
    pub ticks: AtomicU64,
    /// Of those, how many arrived while the CPU was not halted.
    pub busy_ticks: AtomicU64,
    /// Compute-team jobs this CPU ran a share of.
    pub jobs: AtomicU64,
    /// TSC cycles this CPU spent on its shares of those jobs (application
    /// processors; the boot CPU's are `team::STATS.own_cycles`).
    pub job_cycles: AtomicU64,
}

impl PerCpu {
    const fn new() -> PerCpu {
        PerCpu {
            self_ptr: AtomicU64::new(0),
            apic_id: AtomicU32::new(0),
            state: AtomicU8::new(State::Absent as u8),
            sleeping: AtomicU8::new(0),
            wake_me: AtomicU8::new(0),
            ticks: AtomicU64::new(0),
            busy_ticks: AtomicU64::new(0),
            jobs: AtomicU64::new(0),
            job_cycles: AtomicU64::new(0),
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// This slot's index (0 = boot CPU).
    pub fn index(&self) -> usize {
        (self as *const PerCpu as usize - CPUS.as_ptr() as usize) / core::mem::size_of::<PerCpu>()
    }
}

static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];

/// Slot `i` (any CPU's).
pub fn cpu(i: usize) -> &'static PerCpu {
    &CPUS[i]
}

pub fn all() -> &'static [PerCpu; MAX_CPUS] {
    &CPUS
}

/// Points this CPU's GS base at slot `index`. Called once per CPU, first
/// thing (the boot CPU before interrupts are enabled).
pub fn install(index: usize, apic_id: u32) {
    let slot = &CPUS[index];
    slot.self_ptr
        .store(slot as *const PerCpu as u64, Ordering::Release);
    slot.apic_id.store(apic_id, Ordering::Release);
    GsBase::write(VirtAddr::new(slot as *const PerCpu as u64));
}

/// The running CPU's slot. Before [`install`] ran on this CPU (GS base 0)
/// this is the boot CPU's slot.
pub fn current() -> &'static PerCpu {
    let base = GsBase::read().as_u64();
    if base == 0 {
        return &CPUS[0];
    }
    let p: u64;
    // SAFETY: the GS base points at a PerCpu slot (install), whose first
    // word holds the slot's own address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: `p` is the address of an element of the static CPUS table.
    unsafe { &*(p as *const PerCpu) }
}

/// The running CPU's index (0 = boot CPU).
pub fn index() -> usize {
    current().index()
}
