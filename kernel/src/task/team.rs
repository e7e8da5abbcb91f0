//! The compute team: [`model_loader::parallel::Team`] over the CPUs.
//!
//! Worker 0 is the caller (the boot CPU, which runs the shell and the
//! model); worker `w >= 1` is pinned to an application processor, which
//! does nothing else. A job is published by bumping a generation counter;
//! workers spin on it for a short while and then halt, and the caller wakes
//! halted ones with an IPI. The caller runs its own share, then waits until
//! every worker has finished (a fork-join barrier).
//!
//! Results do not depend on the number of workers as long as the job splits
//! its work by worker index so that each piece is computed by exactly one
//! worker (the decoder's row chunks do). A run that cannot use the team
//! (called from a worker, or while another run is in progress) runs every
//! worker index on the caller, one after the other, with the same result.

use crate::arch::x86_64::percpu::{self, PerCpu, State, MAX_CPUS};
use crate::arch::x86_64::{cpu, smp};
use crate::time;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use model_loader::parallel::Team;

/// A job as the caller passes it; workers reach it through a pointer to
/// this reference, which lives on the caller's stack during the run.
type Job<'a> = &'a (dyn Fn(usize) + Sync);

/// No worker index (CPU not in the team).
const NONE: usize = usize::MAX;

struct Shared {
    job: AtomicPtr<()>,
    generation: AtomicU64,
    remaining: AtomicUsize,
    busy: AtomicBool,
    /// Team size, caller included.
    members: AtomicUsize,
    /// Worker index -> CPU index.
    cpu_of: [AtomicUsize; MAX_CPUS],
    /// CPU index -> worker index (or NONE).
    worker_of: [AtomicUsize; MAX_CPUS],
}

static SHARED: Shared = Shared {
    job: AtomicPtr::new(core::ptr::null_mut()),
    generation: AtomicU64::new(0),
    remaining: AtomicUsize::new(0),
    busy: AtomicBool::new(false),
    members: AtomicUsize::new(1),
    cpu_of: [const { AtomicUsize::new(0) }; MAX_CPUS],
    worker_of: [const { AtomicUsize::new(NONE) }; MAX_CPUS],
};

/// Where the caller's time goes, for `/team`.
pub struct Stats {
    /// Team runs (fork-joins with more than one worker).
    pub runs: AtomicU64,
    /// TSC cycles the caller spent on its own share.
    pub own_cycles: AtomicU64,
    /// TSC cycles the caller then waited for the other workers.
    pub wait_cycles: AtomicU64,
    /// Times a waiting CPU (caller or worker) halted.
    pub halts: AtomicU64,
}

pub static STATS: Stats = Stats {
    runs: AtomicU64::new(0),
    own_cycles: AtomicU64::new(0),
    wait_cycles: AtomicU64::new(0),
    halts: AtomicU64::new(0),
};

/// The kernel's compute team (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTeam;

/// How long (microseconds) a waiting CPU spins before it halts.
static SPIN_US: AtomicU64 = AtomicU64::new(50);

/// Sets how long a waiting CPU spins before halting (`/team`).
pub fn set_spin_us(us: u64) {
    SPIN_US.store(us, Ordering::Relaxed);
}

pub fn spin_us() -> u64 {
    SPIN_US.load(Ordering::Relaxed)
}

/// Makes the team the boot CPU plus the first `limit - 1` running
/// application processors (all of them if `limit` is larger). Call while no
/// run is in progress (boot, or from the shell between model calls).
pub fn set_size(limit: usize) -> usize {
    let mut n = 1;
    SHARED.cpu_of[0].store(0, Ordering::Relaxed);
    SHARED.worker_of[0].store(0, Ordering::Relaxed);
    for c in 1..MAX_CPUS {
        let usable = matches!(percpu::cpu(c).state(), State::Idle | State::Working);
        if usable && n < limit.max(1) {
            SHARED.cpu_of[n].store(c, Ordering::Relaxed);
            SHARED.worker_of[c].store(n, Ordering::Relaxed);
            n += 1;
        } else {
            SHARED.worker_of[c].store(NONE, Ordering::Relaxed);
        }
    }
    SHARED.members.store(n, Ordering::SeqCst);
    n
}

/// The team size (workers, the caller included).
pub fn size() -> usize {
    SHARED.members.load(Ordering::Relaxed)
}

/// The CPU of worker `w` (`w < size()`).
pub fn cpu_of(w: usize) -> usize {
    SHARED.cpu_of[w].load(Ordering::Relaxed)
}

impl Team for CpuTeam {
    fn workers(&self) -> usize {
        size()
    }

    fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        let n = size();
        if n <= 1 || percpu::index() != 0 || SHARED.busy.swap(true, Ordering::SeqCst) {
            // Same work, same result, on this CPU alone.
            (0..n).for_each(job);
            return;
        }
        let job_ref: Job = job;
        SHARED
            .job
            .store(&job_ref as *const Job as *mut (), Ordering::Release);
        SHARED.remaining.store(n - 1, Ordering::Release);
        SHARED.generation.fetch_add(1, Ordering::SeqCst);
        for w in 1..n {
            let c = SHARED.cpu_of[w].load(Ordering::Relaxed);
            // After `busy` and the generation (see `sched::on_tick`).
            if percpu::cpu(c).wake_me.load(Ordering::SeqCst) != 0 {
                smp::wake(c);
            }
        }
        let t0 = cpu::rdtsc();
        job(0);
        let t1 = cpu::rdtsc();
        let done = || (SHARED.remaining.load(Ordering::Acquire) == 0).then_some(());
        wait_until(percpu::cpu(0), done);
        let t2 = cpu::rdtsc();
        STATS.runs.fetch_add(1, Ordering::Relaxed);
        STATS.own_cycles.fetch_add(t1 - t0, Ordering::Relaxed);
        STATS.wait_cycles.fetch_add(t2 - t1, Ordering::Relaxed);
        SHARED.job.store(core::ptr::null_mut(), Ordering::Release);
        SHARED.busy.store(false, Ordering::Release);
    }
}

/// Whether a team run is in progress (an application processor's worker
/// is then not preempted).
pub fn running() -> bool {
    SHARED.busy.load(Ordering::SeqCst)
}

/// An application processor's life after start-up: run its share of each
/// published job. Once the boot CPU schedules tasks, this flow becomes the
/// CPU's worker task and other tasks run here while it waits.
pub fn worker_loop(me: &'static PerCpu, stack_bytes: u64) -> ! {
    let c = me.index();
    let mut seen = SHARED.generation.load(Ordering::Acquire);
    // No run is published before the boot CPU's scheduler starts (the
    // model loads later); one that were would be seen below all the same.
    while !super::sched::started() {
        x86_64::instructions::hlt();
    }
    super::sched::init_ap(stack_bytes);
    loop {
        seen = wait_for_next(me, seen);
        let w = SHARED.worker_of[c].load(Ordering::Acquire);
        let p = SHARED.job.load(Ordering::Acquire) as *const Job;
        if w == NONE || p.is_null() {
            continue;
        }
        me.set_state(State::Working);
        // SAFETY: `p` points at the caller's `Job` reference, which stays
        // alive until every member has decremented `remaining` (the caller
        // waits for that before returning from `run`), and this worker
        // decrements only after its share has returned.
        let job: Job = unsafe { *p };
        let t0 = cpu::rdtsc();
        job(w);
        me.job_cycles
            .fetch_add(cpu::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        me.jobs.fetch_add(1, Ordering::Relaxed);
        me.set_state(State::Idle);
        if SHARED.remaining.fetch_sub(1, Ordering::SeqCst) == 1
            && percpu::cpu(0).wake_me.load(Ordering::SeqCst) != 0
        {
            smp::wake(0);
        }
    }
}

/// Waits until the generation differs from `seen`; returns the new one.
fn wait_for_next(me: &PerCpu, seen: u64) -> u64 {
    wait_until(me, || {
        let g = SHARED.generation.load(Ordering::Acquire);
        (g != seen).then_some(g)
    })
}

/// Waits until `ready` gives a value: spins for [`spin_us`], then halts, or
/// on an application processor with tasks parks so they run (the other
/// side sends a wake-up IPI when it sees `me.wake_me`; the timer tick is
/// the fallback). With interrupts off it only spins. Halting matters under
/// emulation: a halted vCPU gives its host thread back.
fn wait_until<T>(me: &PerCpu, ready: impl Fn() -> Option<T>) -> T {
    let spin_cycles = time::tsc_hz() / 1_000_000 * spin_us();
    let start = cpu::rdtsc();
    let can_halt = x86_64::instructions::interrupts::are_enabled();
    while !can_halt || cpu::rdtsc().wrapping_sub(start) < spin_cycles {
        for _ in 0..32 {
            if let Some(v) = ready() {
                return v;
            }
            // No `pause` (core::hint::spin_loop): under QEMU's TCG it
            // leaves the translated code and takes QEMU's global lock on
            // every iteration, which slows the CPU doing the work.
        }
    }
    loop {
        x86_64::instructions::interrupts::disable();
        me.wake_me.store(1, Ordering::SeqCst);
        if let Some(v) = ready() {
            me.wake_me.store(0, Ordering::SeqCst);
            x86_64::instructions::interrupts::enable();
            return v;
        }
        STATS.halts.fetch_add(1, Ordering::Relaxed);
        // Parked with interrupts off: the IPI is taken once another task
        // (or the idle task) enables them, and makes this one run next.
        if !super::sched::park() {
            // `sti; hlt`: an IPI sent after the check above still wakes us.
            me.sleeping.store(1, Ordering::SeqCst);
            x86_64::instructions::interrupts::enable_and_hlt();
            me.sleeping.store(0, Ordering::SeqCst);
        }
        x86_64::instructions::interrupts::enable();
        if let Some(v) = ready() {
            me.wake_me.store(0, Ordering::SeqCst);
            return v;
        }
    }
}

/// The fork-join stress test: `rounds` runs in which every worker adds a
/// value that depends on the round and its index to one sum, and counts
/// its calls. Returns (sum, expected sum, calls per worker all equal to
/// `rounds`, workers, elapsed).
pub fn stress(rounds: u64) -> StressResult {
    let n = size();
    let sum = AtomicU64::new(0);
    let calls: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
    let round = AtomicU64::new(0);
    let start = time::uptime();
    for r in 0..rounds {
        round.store(r, Ordering::Relaxed);
        CpuTeam.run(&|w| {
            let r = round.load(Ordering::Relaxed);
            sum.fetch_add(r * 1000 + w as u64 + 1, Ordering::Relaxed);
            calls[w].fetch_add(1, Ordering::Relaxed);
        });
    }
    let elapsed = time::uptime() - start;
    let n64 = n as u64;
    // sum over r, w of (1000 r + w + 1)
    let expected =
        1000 * n64 * (rounds * rounds.saturating_sub(1) / 2) + rounds * (n64 * (n64 + 1) / 2);
    StressResult {
        workers: n,
        sum: sum.load(Ordering::Relaxed),
        expected,
        calls_ok: calls[..n]
            .iter()
            .all(|c| c.load(Ordering::Relaxed) == rounds)
            && calls[n..].iter().all(|c| c.load(Ordering::Relaxed) == 0),
        elapsed,
    }
}

pub struct StressResult {
    pub workers: usize,
    pub sum: u64,
    pub expected: u64,
    pub calls_ok: bool,
    pub elapsed: core::time::Duration,
}
