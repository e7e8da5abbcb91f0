//! Preemptive kernel tasks on every CPU: one task table per CPU (its run
//! queue; `klib::sched`: choice of the next task, sleep, kill flag, CPU
//! time), the switch itself in `arch::x86_64::context`.
//!
//! At boot the code running the shell becomes task "console" (weight 16)
//! on CPU 0, and each application processor's start-up flow becomes its
//! task "workerN" (weight 16), the compute-team worker; every CPU gets an
//! idle task. Other tasks (job runs, `/bg`, `/test-spin`) have weight 1 and
//! go to the CPU with the fewest of them (application processors first,
//! so CPU 0 stays with the person); a task stays on its CPU. Each CPU's
//! local APIC tick (every 10 ms) charges its running task and picks the
//! next one: the tick is the time slice. Task ids are unique across CPUs.
//!
//! A task started, killed or woken from another CPU makes its CPU choose
//! at once (the reschedule IPI, [`on_resched`]), not at its next tick.
//!
//! A worker has priority on its CPU: it is not preempted while a team run
//! is in progress, it parks (sleeps in the scheduler) rather than halting
//! when it waits for work and another task wants the CPU, and the wake-up
//! IPI of a new team run puts it first in line ([`on_wake`]), so the
//! decoder's fork-joins do not wait for a background task's time slice.
//! Time a worker spends halted in place is charged to the idle task.
//!
//! The lock rule. A task may be preempted with a spin lock held, and the
//! choice is weighted, never strict, so the holder always runs again and
//! releases it: a task that wants a held lock spins at most until then.
//! Two kinds of lock must never be held by a preempted task, and the tick
//! does not preempt while one of them is held (it tries again at the next
//! tick; see [`key_lock_held`]):
//! - locks that code takes with interrupts disabled (a task spinning with
//!   interrupts off would never let the holder run): the page-fault path's
//!   (memory regions, frames, page tables, the disk), and the schedulers'
//!   own tables, always taken with interrupts off, one at a time, and never
//!   held across a switch;
//! - the heap, the file system, the console's output (serial, screen) and
//!   the job table, so that the console, which has priority, never waits
//!   a slice for them.

use crate::arch::x86_64::percpu::{self, MAX_CPUS};
use crate::arch::x86_64::{context, cpu, smp, stack};
use crate::time;
use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use klib::sched::{Role, Scheduler, Slot, State, MAX_TASKS};
use spin::Mutex;
use x86_64::instructions::interrupts;

/// Weight of the console task (the person's conversation comes first).
pub const CONSOLE_WEIGHT: u32 = 16;
/// Weight of every other task.
pub const TASK_WEIGHT: u32 = 1;
/// Stack of each task (allocated once per slot, with a guard page).
pub const TASK_STACK: u64 = 256 * 1024;

type Body = Box<dyn FnOnce() + Send>;

struct Table {
    sched: Scheduler,
    bodies: [Option<Body>; MAX_TASKS],
    /// TSC when the current task was switched in (or last charged).
    since: u64,
    /// The CPU of this table and the slot of its idle task.
    cpu: usize,
    idle: Option<Slot>,
}

impl Table {
    /// Charges the running task with the cycles since it was switched in
    /// or last charged, and returns its id.
    fn charge_current(&mut self) -> Slot {
        let now = cpu::rdtsc();
        let cur = self.sched.current();
        // Another CPU's TSC may be a little behind this one's.
        let used = now.saturating_sub(self.since);
        // A flow task halted in place (the worker waiting for team work
        // with no other task to run) is idle: the time is the idle task's.
        let halted = percpu::cpu(self.cpu).sleeping.load(Ordering::Relaxed) != 0;
        let to = match self.idle {
            Some(idle) if halted => idle,
            _ => cur,
        };
        self.sched.charge(to, used);
        self.since = now;
        cur
    }
}

/// Where every table takes its task ids (unique across CPUs).
static IDS: AtomicU32 = AtomicU32::new(0);

/// One table per CPU: its run queue.
static TABLES: [Mutex<Table>; MAX_CPUS] = [const {
    Mutex::new(Table {
        sched: Scheduler::with_ids(0, &IDS),
        bodies: [const { None }; MAX_TASKS],
        since: 0,
        cpu: 0,
        idle: None,
    })
}; MAX_CPUS];

/// Each (CPU, slot)'s stack top (0: none yet); kept for the slot's later
/// tasks.
static STACKS: [[AtomicU64; MAX_TASKS]; MAX_CPUS] =
    [const { [const { AtomicU64::new(0) }; MAX_TASKS] }; MAX_CPUS];
/// Whether each CPU schedules tasks yet.
static STARTED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Each CPU's own flow: the slot of its console (CPU 0) or worker task.
static FLOW: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// The slot each CPU runs now (written by that CPU only, at each switch):
/// the tick and the wake-up IPI look here instead of taking the table's
/// lock.
static RUNNING: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// Context switches since boot.
pub static SWITCHES: AtomicU64 = AtomicU64::new(0);
/// Choices of CPU 0's next task made at once for input (a device
/// interrupt while the console was not running; [`on_device_interrupt`]).
pub static INPUT_CHOICES: AtomicU64 = AtomicU64::new(0);

/// The context-table index of `slot` on CPU `c`.
fn context_of(c: usize, slot: Slot) -> usize {
    c * MAX_TASKS + slot
}

/// Runs `f` on CPU `c`'s table with interrupts off (the rule for these
/// locks).
fn with_cpu<R>(c: usize, f: impl FnOnce(&mut Table) -> R) -> R {
    interrupts::without_interrupts(|| f(&mut TABLES[c].lock()))
}

/// Runs `f` on this CPU's table (a task never moves to another CPU).
fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    interrupts::without_interrupts(|| f(&mut TABLES[percpu::index()].lock()))
}

fn started_on(c: usize) -> bool {
    STARTED[c].load(Ordering::Acquire)
}

/// Whether this CPU schedules tasks.
fn started_here() -> bool {
    started_on(percpu::index())
}

/// The CPUs that schedule tasks.
fn cpus() -> impl Iterator<Item = usize> {
    (0..MAX_CPUS).filter(|&c| started_on(c))
}

/// Makes the running code (the boot flow) task "console" and creates the
/// idle task of CPU 0; from here on the tick preempts there. Call once, on
/// the boot CPU, with interrupts on. The application processors then join
/// ([`init_ap`]).
pub fn init(console_stack: u64) {
    context::init();
    adopt_flow("console", Role::Console, console_stack);
    log::info!(
        "tasks: preemptive, {} ms slices; SIMD state by {} ({} bytes)",
        1000 / time::TICK_HZ,
        context::simd_save().0,
        context::simd_save().1
    );
}

/// Makes this application processor's running code (its compute-team
/// worker) task "workerN" and creates its idle task. Call once per AP,
/// after [`init`] ran on the boot CPU.
pub fn init_ap(stack_bytes: u64) {
    let c = percpu::index();
    adopt_flow(&alloc::format!("worker{c}"), Role::Service, stack_bytes);
}

/// Records the running code as this CPU's flow task (weight 16) and
/// starts the CPU's idle task.
fn adopt_flow(name: &str, role: Role, stack_bytes: u64) {
    let c = percpu::index();
    let slot = with(|t| {
        t.sched.set_slice(time::tsc_hz() / time::TICK_HZ);
        t.since = cpu::rdtsc();
        t.cpu = c;
        t.sched
            .adopt(name, role, CONSOLE_WEIGHT, stack_bytes)
            .expect("an empty task table")
    });
    context::adopt(context_of(c, slot));
    FLOW[c].store(slot, Ordering::Relaxed);
    RUNNING[c].store(slot, Ordering::Relaxed);
    STARTED[c].store(true, Ordering::Release);
    let idle = alloc::format!("idle{c}");
    match start(c, &idle, Role::Idle, TASK_WEIGHT, Box::new(idle_loop)) {
        Ok(id) => with(|t| t.idle = t.sched.find(id)),
        Err(e) => log::error!("tasks: no idle task on CPU {c} ({e})"),
    }
}

/// Whether tasks run (on the boot CPU, at least).
pub fn started() -> bool {
    started_on(0)
}

/// Starts a task of weight 1 running `f` on the CPU with the fewest such
/// tasks (an application processor on a tie); returns its id.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<u32, String> {
    start(place(), name, Role::Worker, TASK_WEIGHT, Box::new(f))
}

/// Starts a task of weight 1 on CPU `c` (the boot CPU for work that uses
/// the whole compute team, such as a `/bg` request).
pub fn spawn_on(c: usize, name: &str, f: impl FnOnce() + Send + 'static) -> Result<u32, String> {
    start(c, name, Role::Worker, TASK_WEIGHT, Box::new(f))
}

/// Starts a kernel service (a task that `/kill` refuses) on the boot CPU.
pub fn spawn_service(name: &str, f: impl FnOnce() + Send + 'static) -> Result<u32, String> {
    start(0, name, Role::Service, TASK_WEIGHT, Box::new(f))
}

/// The CPU for a new task: the fewest unfinished weight-1 tasks, the
/// highest-numbered CPU on a tie.
fn place() -> usize {
    cpus()
        .map(|c| (with_cpu(c, |t| t.sched.workers()), c))
        .min_by_key(|&(n, c)| (n, core::cmp::Reverse(c)))
        .map_or(0, |(_, c)| c)
}

fn start(c: usize, name: &str, role: Role, weight: u32, body: Body) -> Result<u32, String> {
    if !started_on(c) {
        return Err(alloc::format!("tasks are not running on CPU {c}"));
    }
    // Take a slot, not runnable (starting: not even a kill wakes it) until
    // its stack and context are prepared.
    let (slot, id) = with_cpu(c, |t| {
        t.sched.reap();
        t.sched.spawn(name, role, weight, TASK_STACK)
    })
    .map_err(|e| alloc::format!("{e}"))?;
    let mut top = STACKS[c][slot].load(Ordering::Acquire);
    if top == 0 {
        top = stack::allocate("task stack", TASK_STACK).as_u64();
        STACKS[c][slot].store(top, Ordering::Release);
    }
    context::prepare(context_of(c, slot), x86_64::VirtAddr::new(top), task_entry);
    with_cpu(c, |t| {
        t.bodies[slot] = Some(body);
        t.sched.start(slot);
    });
    kick(c);
    Ok(id)
}

/// Makes CPU `c` choose its next task now if it is not this CPU (a task
/// there became runnable); this CPU's own tick or switch sees it anyway.
fn kick(c: usize) {
    if c != percpu::index() && started_on(c) {
        smp::resched(c);
    }
}

/// The reschedule IPI's part (interrupt context, after the EOI): a task
/// on this CPU became runnable, so choose now, by the tick's rules.
pub fn on_resched() {
    on_tick();
}

/// Where every task starts (interrupts off, as the switch left them).
extern "C" fn task_entry() -> ! {
    let body = with(|t| {
        let cur = t.sched.current();
        t.bodies[cur].take()
    });
    interrupts::enable();
    if let Some(body) = body {
        body();
    }
    exit()
}

/// Ends the running task.
pub fn exit() -> ! {
    interrupts::disable();
    {
        let mut t = TABLES[percpu::index()].lock();
        let cur = t.sched.current();
        t.sched.exit(cur);
    }
    schedule();
    unreachable!("a finished task was scheduled again")
}

/// Charges this CPU's running task, wakes its due sleepers, picks its next
/// task and switches to it. Interrupts must be off.
fn schedule() {
    let c = percpu::index();
    let (from, to) = {
        let mut t = TABLES[c].lock();
        let from = t.charge_current();
        t.sched.wake_due(time::ticks());
        (from, t.sched.pick())
    };
    RUNNING[c].store(to, Ordering::Relaxed);
    if from != to {
        // A task switched out from its halt (the idle task or a halted
        // worker, from an interrupt) no longer halts this CPU: its flag
        // must not make the next task's time count as idle (it clears it
        // itself only when it runs again, which a busy CPU may never do).
        percpu::cpu(c).sleeping.store(0, Ordering::Relaxed);
        SWITCHES.fetch_add(1, Ordering::Relaxed);
        context::switch(context_of(c, from), context_of(c, to));
    }
}

/// The timer tick's part (interrupt context, after the EOI): the time
/// slice is over, so the next task may run. An application processor's
/// worker is not preempted while a team run is in progress; when it is
/// switched out, the next run's publisher must wake it (`wake_me`).
pub fn on_tick() {
    if !started_here() || key_lock_held() {
        return;
    }
    let c = percpu::index();
    let me = percpu::current();
    let on_worker = c != 0 && RUNNING[c].load(Ordering::Relaxed) == FLOW[c].load(Ordering::Relaxed);
    if !on_worker {
        schedule();
        return;
    }
    // Announce first, then look (the publisher sets `busy`, then looks at
    // `wake_me`): one of the two sides sees the other.
    let before = me.wake_me.swap(1, Ordering::SeqCst);
    if !super::team::running() {
        schedule();
    }
    me.wake_me.store(before, Ordering::SeqCst);
}

/// The wake-up IPI's part (interrupt context, after the EOI): on an
/// application processor whose worker is parked or switched out, the
/// worker has team work, so it runs next, now.
pub fn on_wake() {
    let c = percpu::index();
    if c == 0 || !started_on(c) {
        return;
    }
    let flow = FLOW[c].load(Ordering::Relaxed);
    // The common case, the worker halted in place or spinning: nothing to
    // choose, and no lock taken.
    if RUNNING[c].load(Ordering::Relaxed) == flow {
        return;
    }
    let away = with(|t| {
        let away = t.sched.current() != flow;
        if away {
            t.sched.prefer(flow);
        }
        away
    });
    // With a key lock held, the next tick switches (the worker is first).
    if away && !key_lock_held() {
        schedule();
    }
}

/// For an application processor's worker waiting for team work (in
/// [`super::team`]), with interrupts off: if another task waits for this
/// CPU, sleeps until the wake-up IPI or the next tick and returns true
/// (interrupts still off); else returns false and the caller halts (no
/// switch: the worker's wake-up stays as fast as a halted CPU's, and a
/// task that wakes meanwhile gets the CPU at the next tick).
pub fn park() -> bool {
    let c = percpu::index();
    if c == 0 || !started_on(c) || key_lock_held() {
        return false;
    }
    {
        let mut t = TABLES[c].lock();
        if !t.sched.others_ready() {
            return false;
        }
        let cur = t.sched.current();
        t.sched.sleep(cur, time::ticks() + 1);
    }
    schedule();
    true
}

/// Whether the running code may switch to another task now: tasks run on
/// this CPU, and no lock is held that a switched-out task must not hold.
pub fn may_switch() -> bool {
    started_here() && !key_lock_held()
}

/// Whether a lock that a preempted task must not hold is held (see the
/// module docs).
fn key_lock_held() -> bool {
    crate::mm::lock_held()
        || crate::drivers::virtio::blk::lock_held()
        || crate::fs::lock_held()
        || crate::drivers::serial::lock_held()
        || crate::console::screen::lock_held()
        || super::jobs::lock_held()
}

/// Sleeps for `ticks` timer ticks (at least until the next tick), or until
/// woken ([`wake_console`], a kill). Where tasks do not run yet it halts.
pub fn sleep_ticks(ticks: u64) {
    if !started_here() {
        x86_64::instructions::hlt();
        return;
    }
    interrupts::without_interrupts(|| {
        {
            let mut t = TABLES[percpu::index()].lock();
            let cur = t.sched.current();
            t.sched.sleep(cur, time::ticks() + ticks.max(1));
        }
        schedule();
    });
}

/// Sleeps for at least `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    let tick_ms = 1000 / time::TICK_HZ;
    sleep_ticks(ms.div_ceil(tick_ms));
}

/// Wakes the console task if it sleeps waiting for input (called by the
/// keyboard and serial interrupt handlers; never waits for the lock).
pub fn wake_console() {
    if !started() {
        return;
    }
    interrupts::without_interrupts(|| {
        if let Some(mut t) = TABLES[0].try_lock() {
            t.sched.wake(FLOW[0].load(Ordering::Relaxed));
        }
    });
    // From a task on another CPU (a job's output, a reminder): at once.
    kick(0);
}

/// A device interrupt on this CPU (interrupt context, after the EOI: a
/// key, a serial byte): wakes the console, and on the console's CPU, if
/// the console is not the running task (the CPU halts in its idle task,
/// or runs another one), chooses now by the tick's rules, so the key is
/// seen at once rather than at the next tick.
pub fn on_device_interrupt() {
    wake_console();
    if percpu::index() == 0
        && may_switch()
        && RUNNING[0].load(Ordering::Relaxed) != FLOW[0].load(Ordering::Relaxed)
    {
        INPUT_CHOICES.fetch_add(1, Ordering::Relaxed);
        on_tick();
    }
}

/// Wakes task `id` if it sleeps (a background request lent the model's
/// turn, `shell::lend_turn`); its CPU chooses at once.
pub fn wake(id: u32) {
    let Some(c) = cpu_of(id) else {
        return;
    };
    with_cpu(c, |t| {
        if let Some(slot) = t.sched.find(id) {
            t.sched.wake(slot);
        }
    });
    kick(c);
}

/// Whether the running code is its CPU's own flow: the console task on the
/// boot CPU, the compute-team worker elsewhere (or tasks are not running
/// there yet).
pub fn on_console() -> bool {
    let c = percpu::index();
    !started_on(c) || RUNNING[c].load(Ordering::Relaxed) == FLOW[c].load(Ordering::Relaxed)
}

/// The running task's id.
pub fn current_id() -> u32 {
    with(|t| {
        let cur = t.sched.current();
        t.sched.task(cur).map_or(0, |k| k.id)
    })
}

/// Whether the running task was asked to stop (`/kill`). Long loops poll
/// this and end soon after.
pub fn killed() -> bool {
    started_here() && with(|t| t.sched.killed(t.sched.current()))
}

/// The CPU whose table holds task `id`.
pub fn cpu_of(id: u32) -> Option<usize> {
    cpus().find(|&c| with_cpu(c, |t| t.sched.find(id).is_some()))
}

/// Asks task `id` to stop; returns its name.
pub fn kill(id: u32) -> Result<String, String> {
    let c = cpu_of(id).ok_or_else(|| alloc::format!("{}", klib::sched::Error::Unknown(id)))?;
    let name = with_cpu(c, |t| t.sched.kill(id).map(|k| k.name.clone()))
        .map_err(|e| alloc::format!("{e}"))?;
    // A sleeping task was woken to see its flag.
    kick(c);
    Ok(name)
}

/// Whether task `id` has not finished.
pub fn alive(id: u32) -> bool {
    cpus().any(|c| with_cpu(c, |t| t.sched.alive(id)))
}

/// Waits until task `id` has finished or `timeout_ms` passed; returns
/// whether it finished.
pub fn join(id: u32, timeout_ms: u64) -> bool {
    let end = time::uptime().as_millis() as u64 + timeout_ms;
    while alive(id) {
        if time::uptime().as_millis() as u64 >= end {
            return false;
        }
        sleep_ticks(1);
    }
    true
}

/// One row of `/ps`.
pub struct Row {
    pub id: u32,
    pub cpu: usize,
    pub name: String,
    pub role: Role,
    pub state: &'static str,
    pub cpu_ms: u64,
    pub stack_bytes: u64,
}

/// Every task that has not finished, CPU by CPU, for `/ps` (the running
/// ones charged up to now). A finished task keeps its slot until the next
/// spawn on its CPU reaps it, but is not listed.
pub fn rows() -> alloc::vec::Vec<Row> {
    let per_ms = (time::tsc_hz() / 1000).max(1);
    let mut rows = alloc::vec::Vec::new();
    for c in cpus() {
        with_cpu(c, |t| {
            t.charge_current();
            rows.extend(
                t.sched
                    .tasks()
                    .filter(|(_, k)| k.state != State::Done)
                    .map(|(_, k)| Row {
                        id: k.id,
                        cpu: c,
                        name: k.name.clone(),
                        role: k.role,
                        state: k.state.name(),
                        cpu_ms: k.cycles / per_ms,
                        stack_bytes: k.stack_bytes,
                    }),
            )
        });
    }
    rows
}

/// The name of the task CPU `c` runs now, for `/cpu`.
pub fn running_on(c: usize) -> Option<String> {
    if !started_on(c) {
        return None;
    }
    with_cpu(c, |t| {
        t.sched.task(t.sched.current()).map(|k| k.name.clone())
    })
}

/// The idle task: halts until an interrupt while nothing else can run on
/// its CPU.
fn idle_loop() {
    let me = percpu::current();
    let c = me.index();
    loop {
        interrupts::disable();
        let runnable = TABLES[c].lock().sched.runnable();
        if runnable {
            schedule();
            interrupts::enable();
        } else {
            // Halted time counts as idle in the CPU's tick accounting.
            me.sleeping.store(1, Ordering::Relaxed);
            interrupts::enable_and_hlt();
            me.sleeping.store(0, Ordering::Relaxed);
            // Wake sleepers whose time came with this interrupt.
            interrupts::without_interrupts(|| {
                TABLES[c].lock().sched.wake_due(time::ticks());
            });
        }
    }
}
