//! Preemptive kernel tasks on the boot CPU: the task table is
//! `klib::sched` (choice of the next task, sleep, kill flag, CPU time);
//! the switch itself is `arch::x86_64::context`.
//!
//! At boot the code running the shell becomes task "console" (weight 16)
//! and an idle task is created; other tasks (job runs, `/spin`) have
//! weight 1. The local APIC tick (every 10 ms) charges the running task
//! and picks the next one: the tick is the time slice. The application
//! processors are not scheduled: each runs its compute-team worker.
//!
//! The lock rule. A task may be preempted with a spin lock held, and the
//! choice is weighted, never strict, so the holder always runs again and
//! releases it: a task that wants a held lock spins at most until then.
//! Two kinds of lock must never be held by a preempted task, and the tick
//! does not preempt while one of them is held (it tries again at the next
//! tick; see [`key_lock_held`]):
//! - locks that code takes with interrupts disabled (a task spinning with
//!   interrupts off would never let the holder run): the page-fault path's
//!   (memory regions, frames, page tables, the disk), and the scheduler's
//!   own table, always taken with interrupts off and never held across a
//!   switch;
//! - the heap, the file system, the console's output (serial, screen) and
//!   the job table, so that the console, which has priority, never waits
//!   a slice for them.

use crate::arch::x86_64::{context, cpu, percpu, stack};
use crate::time;
use alloc::boxed::Box;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
}

impl Table {
    /// Charges the running task with the cycles since it was switched in
    /// or last charged, and returns its id.
    fn charge_current(&mut self) -> Slot {
        let now = cpu::rdtsc();
        let cur = self.sched.current();
        let used = now.wrapping_sub(self.since);
        self.sched.charge(cur, used);
        self.since = now;
        cur
    }
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    sched: Scheduler::new(0),
    bodies: [const { None }; MAX_TASKS],
    since: 0,
});

/// Each slot's stack top (0: none yet); kept for the slot's later tasks.
static STACKS: [AtomicU64; MAX_TASKS] = [const { AtomicU64::new(0) }; MAX_TASKS];
static STARTED: AtomicBool = AtomicBool::new(false);
static CONSOLE: AtomicUsize = AtomicUsize::new(0);
/// Context switches since boot.
pub static SWITCHES: AtomicU64 = AtomicU64::new(0);

/// Runs `f` on the table with interrupts off (the rule for this lock).
fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    interrupts::without_interrupts(|| f(&mut TABLE.lock()))
}

/// Makes the running code (the boot flow) task "console" and creates the
/// idle task; from here on the tick preempts. Call once, on the boot CPU,
/// with interrupts on.
pub fn init(console_stack: u64) {
    context::init();
    let slot = with(|t| {
        t.sched.set_slice(time::tsc_hz() / time::TICK_HZ);
        t.since = cpu::rdtsc();
        t.sched
            .adopt("console", Role::Console, CONSOLE_WEIGHT, console_stack)
            .expect("an empty task table")
    });
    context::adopt(slot);
    CONSOLE.store(slot, Ordering::Relaxed);
    STARTED.store(true, Ordering::Release);
    if let Err(e) = start("idle0", Role::Idle, TASK_WEIGHT, Box::new(idle_loop)) {
        log::error!("tasks: no idle task ({e})");
    }
    log::info!(
        "tasks: preemptive on CPU 0, {} ms slices; SIMD state by {} ({} bytes)",
        1000 / time::TICK_HZ,
        context::simd_save().0,
        context::simd_save().1
    );
}

pub fn started() -> bool {
    STARTED.load(Ordering::Acquire)
}

/// Starts a task of weight 1 running `f`; returns its id.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<u32, String> {
    start(name, Role::Worker, TASK_WEIGHT, Box::new(f))
}

/// Starts a kernel service (a task that `/kill` refuses).
pub fn spawn_service(name: &str, f: impl FnOnce() + Send + 'static) -> Result<u32, String> {
    start(name, Role::Service, TASK_WEIGHT, Box::new(f))
}

fn start(name: &str, role: Role, weight: u32, body: Body) -> Result<u32, String> {
    if !started() {
        return Err(String::from("tasks are not running yet"));
    }
    // Take a slot, not runnable (starting: not even a kill wakes it) until
    // its stack and context are prepared.
    let (slot, id) = with(|t| {
        t.sched.reap();
        t.sched.spawn(name, role, weight, TASK_STACK)
    })
    .map_err(|e| alloc::format!("{e}"))?;
    let mut top = STACKS[slot].load(Ordering::Acquire);
    if top == 0 {
        top = stack::allocate("task stack", TASK_STACK).as_u64();
        STACKS[slot].store(top, Ordering::Release);
    }
    context::prepare(slot, x86_64::VirtAddr::new(top), task_entry);
    with(|t| {
        t.bodies[slot] = Some(body);
        t.sched.start(slot);
    });
    Ok(id)
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
        let mut t = TABLE.lock();
        let cur = t.sched.current();
        t.sched.exit(cur);
    }
    schedule();
    unreachable!("a finished task was scheduled again")
}

/// Charges the running task, wakes due sleepers, picks the next task and
/// switches to it. Interrupts must be off.
fn schedule() {
    let (from, to) = {
        let mut t = TABLE.lock();
        let from = t.charge_current();
        t.sched.wake_due(time::ticks());
        (from, t.sched.pick())
    };
    if from != to {
        SWITCHES.fetch_add(1, Ordering::Relaxed);
        context::switch(from, to);
    }
}

/// The timer tick's part (boot CPU, interrupt context, after the EOI):
/// the time slice is over, so the next task may run.
pub fn on_tick() {
    if !started() || percpu::index() != 0 || key_lock_held() {
        return;
    }
    schedule();
}

/// Whether the running code may switch to another task now: tasks run,
/// this is the boot CPU, and no lock is held that a switched-out task must
/// not hold.
pub fn may_switch() -> bool {
    started() && percpu::index() == 0 && !key_lock_held()
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
/// woken ([`wake_console`], a kill). Before the scheduler starts it halts.
pub fn sleep_ticks(ticks: u64) {
    if !started() {
        x86_64::instructions::hlt();
        return;
    }
    interrupts::without_interrupts(|| {
        {
            let mut t = TABLE.lock();
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
        if let Some(mut t) = TABLE.try_lock() {
            let c = CONSOLE.load(Ordering::Relaxed);
            t.sched.wake(c);
        }
    });
}

/// Whether the running code is the console task (or tasks are not
/// running yet).
pub fn on_console() -> bool {
    !started() || percpu::index() != 0 || current_slot() == CONSOLE.load(Ordering::Relaxed)
}

fn current_slot() -> Slot {
    with(|t| t.sched.current())
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
    started() && percpu::index() == 0 && with(|t| t.sched.killed(t.sched.current()))
}

/// Asks task `id` to stop; returns its name.
pub fn kill(id: u32) -> Result<String, String> {
    with(|t| t.sched.kill(id).map(|k| k.name.clone())).map_err(|e| alloc::format!("{e}"))
}

/// Whether task `id` has not finished.
pub fn alive(id: u32) -> bool {
    with(|t| t.sched.alive(id))
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
    pub name: String,
    pub role: Role,
    pub state: &'static str,
    pub cpu_ms: u64,
    pub stack_bytes: u64,
}

/// Every task that has not finished, for `/ps` (the running one charged
/// up to now). A finished task keeps its slot until the next spawn reaps
/// it, but is not listed.
pub fn rows() -> alloc::vec::Vec<Row> {
    interrupts::without_interrupts(|| {
        let mut t = TABLE.lock();
        t.charge_current();
        let per_ms = (time::tsc_hz() / 1000).max(1);
        t.sched
            .tasks()
            .filter(|(_, k)| k.state != State::Done)
            .map(|(_, k)| Row {
                id: k.id,
                name: k.name.clone(),
                role: k.role,
                state: k.state.name(),
                cpu_ms: k.cycles / per_ms,
                stack_bytes: k.stack_bytes,
            })
            .collect()
    })
}

/// The idle task: halts until an interrupt while nothing else can run.
fn idle_loop() {
    let me = percpu::current();
    loop {
        interrupts::disable();
        let runnable = TABLE.lock().sched.runnable();
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
                TABLE.lock().sched.wake_due(time::ticks());
            });
        }
    }
}
