//! The scheduler's task table (hardware-free; the kernel's side, with the
//! stacks, the context switch and the timer, is `kernel/src/task/sched.rs`).
//!
//! A task lives in a slot (at most [`MAX_TASKS`]); its id is unique for
//! the whole boot, while a slot (and the stack the kernel keeps with it)
//! is reused once its task is done and reaped.
//!
//! Choice of the next task: weighted fair sharing. Every task has a
//! weight; the CPU time it is charged advances its *virtual time* by
//! `cycles * WEIGHT_UNIT / weight`, and the runnable task with the least
//! virtual time runs next. A task of weight 16 (the console) gets 16 times
//! the CPU of a task of weight 1 when both are busy, and a task that wakes
//! from a sleep starts a little *behind* the others (see [`Scheduler::wake`])
//! so it runs at the next decision. The priorities are deliberately not
//! strict: every runnable task runs again within a bounded time, so a task
//! preempted while holding a spin lock always gets to release it. The idle
//! task runs only when nothing else is runnable.
//!
//! Killing sets a flag that the task polls ([`Scheduler::killed`]); a
//! sleeping task is woken so it sees the flag at once.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

/// The most tasks at once (the console and the idle task included).
pub const MAX_TASKS: usize = 32;
/// Virtual time per cycle for a task of weight 1.
pub const WEIGHT_UNIT: u64 = 16;

/// A slot index.
pub type Slot = usize;

/// What a task is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Runnable, waiting for the CPU.
    Ready,
    /// On the CPU now.
    Running,
    /// Not runnable until the tick count reaches `until` (or a wake-up).
    Sleeping { until: u64 },
    /// Created, not runnable until [`Scheduler::start`] (the kernel
    /// prepares its stack and context meanwhile); a kill only sets its
    /// flag, a wake-up does nothing.
    Starting,
    /// Finished; its slot is freed by [`Scheduler::reap`].
    Done,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Running => "running",
            State::Sleeping { .. } => "sleeping",
            State::Starting => "starting",
            State::Done => "done",
        }
    }
}

/// What kind of task: the fixed ones can not be killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The console (the boot flow, made a task).
    Console,
    /// Runs when nothing else can.
    Idle,
    /// A kernel service (the job timer).
    Service,
    /// Anything started with [`Scheduler::spawn`].
    Worker,
}

/// One task.
#[derive(Clone, Debug)]
pub struct Task {
    pub id: u32,
    pub name: String,
    pub role: Role,
    pub weight: u32,
    pub state: State,
    /// CPU time charged, in the caller's cycles (TSC).
    pub cycles: u64,
    /// Stack bytes (for `/ps`).
    pub stack_bytes: u64,
    /// `/kill` asked it to stop.
    pub kill: bool,
    vtime: u64,
}

/// Why a task could not be started or killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    Full,
    Unknown(u32),
    Fixed(u32, Role),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => write!(
                f,
                "the task table is full ({MAX_TASKS} tasks): /kill one first (/ps lists them)"
            ),
            Error::Unknown(id) => write!(f, "no task t{id}; /ps lists the tasks"),
            Error::Fixed(_, Role::Console) => write!(
                f,
                "the console can not be killed (Ctrl-C stops a reply or a running command)"
            ),
            Error::Fixed(id, Role::Idle) => {
                write!(f, "t{id} is the idle task: it can not be killed")
            }
            Error::Fixed(id, _) => write!(f, "t{id} is a kernel service: it can not be killed"),
        }
    }
}

/// The table (one per CPU that schedules).
pub struct Scheduler {
    slots: Vec<Option<Task>>,
    current: Slot,
    next_id: u32,
    /// Where ids come from when several tables share them (one per CPU):
    /// then an id names one task in all of them.
    ids: Option<&'static AtomicU32>,
    /// The virtual time of the last task chosen (never goes back).
    clock: u64,
    /// Virtual time a waking task is set behind `clock`.
    wake_bonus: u64,
}

impl Scheduler {
    /// An empty table; `slice_cycles` is one time slice, which sets how far
    /// behind a waking task starts.
    pub const fn new(slice_cycles: u64) -> Scheduler {
        Scheduler {
            slots: Vec::new(),
            current: 0,
            next_id: 0,
            ids: None,
            clock: 0,
            wake_bonus: slice_cycles.saturating_mul(WEIGHT_UNIT),
        }
    }

    /// An empty table whose ids come from `ids`, shared with other tables
    /// (so ids are unique across them).
    pub const fn with_ids(slice_cycles: u64, ids: &'static AtomicU32) -> Scheduler {
        let mut s = Scheduler::new(slice_cycles);
        s.ids = Some(ids);
        s
    }

    pub fn set_slice(&mut self, slice_cycles: u64) {
        self.wake_bonus = slice_cycles.saturating_mul(WEIGHT_UNIT);
    }

    fn free_slot(&mut self) -> Result<Slot, Error> {
        if let Some(i) = self.slots.iter().position(|s| s.is_none()) {
            return Ok(i);
        }
        if self.slots.len() < MAX_TASKS {
            self.slots.push(None);
            return Ok(self.slots.len() - 1);
        }
        Err(Error::Full)
    }

    fn insert(
        &mut self,
        name: &str,
        role: Role,
        weight: u32,
        state: State,
        stack: u64,
    ) -> Result<(Slot, u32), Error> {
        let slot = self.free_slot()?;
        let id = match self.ids {
            Some(ids) => ids.fetch_add(1, Ordering::Relaxed),
            None => {
                self.next_id += 1;
                self.next_id - 1
            }
        };
        self.slots[slot] = Some(Task {
            id,
            name: String::from(name),
            role,
            weight: weight.max(1),
            state,
            cycles: 0,
            stack_bytes: stack,
            kill: false,
            vtime: self.clock,
        });
        Ok((slot, id))
    }

    /// Records the code that is running now (the boot flow) as a task,
    /// the current one.
    pub fn adopt(
        &mut self,
        name: &str,
        role: Role,
        weight: u32,
        stack: u64,
    ) -> Result<Slot, Error> {
        let (slot, _) = self.insert(name, role, weight, State::Running, stack)?;
        self.current = slot;
        Ok(slot)
    }

    /// A new task, not runnable until [`start`](Self::start); returns its
    /// slot and id.
    pub fn spawn(
        &mut self,
        name: &str,
        role: Role,
        weight: u32,
        stack: u64,
    ) -> Result<(Slot, u32), Error> {
        self.insert(name, role, weight, State::Starting, stack)
    }

    /// Makes a task created by [`spawn`](Self::spawn) runnable.
    pub fn start(&mut self, slot: Slot) {
        let clock = self.clock;
        if let Some(t) = self.task_mut(slot) {
            if t.state == State::Starting {
                t.state = State::Ready;
                t.vtime = t.vtime.max(clock);
            }
        }
    }

    pub fn current(&self) -> Slot {
        self.current
    }

    pub fn task(&self, slot: Slot) -> Option<&Task> {
        self.slots.get(slot)?.as_ref()
    }

    fn task_mut(&mut self, slot: Slot) -> Option<&mut Task> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// The slot of the task with this id, if it is still in the table.
    pub fn find(&self, id: u32) -> Option<Slot> {
        self.slots
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.id == id))
    }

    /// Whether the task with this id has not finished.
    pub fn alive(&self, id: u32) -> bool {
        self.find(id)
            .and_then(|s| self.task(s))
            .is_some_and(|t| t.state != State::Done)
    }

    /// Every task, with its slot.
    pub fn tasks(&self) -> impl Iterator<Item = (Slot, &Task)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i, t)))
    }

    /// Charges `cycles` of CPU time to `slot`.
    pub fn charge(&mut self, slot: Slot, cycles: u64) {
        if let Some(t) = self.task_mut(slot) {
            t.cycles += cycles;
            if t.role != Role::Idle {
                t.vtime += cycles.saturating_mul(WEIGHT_UNIT) / t.weight as u64;
            }
        }
    }

    /// `slot` sleeps until tick `until` (or a [`wake`](Self::wake)).
    pub fn sleep(&mut self, slot: Slot, until: u64) {
        if let Some(t) = self.task_mut(slot) {
            if t.state != State::Done {
                t.state = State::Sleeping { until };
            }
        }
    }

    /// Makes a sleeping task runnable, a little behind the others so it
    /// runs at the next decision.
    pub fn wake(&mut self, slot: Slot) {
        let floor = self.clock.saturating_sub(self.wake_bonus);
        if let Some(t) = self.task_mut(slot) {
            if let State::Sleeping { .. } = t.state {
                t.state = State::Ready;
                t.vtime = t.vtime.max(floor);
            }
        }
    }

    /// Puts `slot` first in line: woken if it sleeps, and ahead of every
    /// other task at the next decision (a compute-team worker that has
    /// work). Its later share is weighted as usual.
    pub fn prefer(&mut self, slot: Slot) {
        let floor = self.clock.saturating_sub(self.wake_bonus);
        let first = self
            .tasks()
            .filter(|&(i, t)| i != slot && matches!(t.state, State::Ready | State::Running))
            .map(|(_, t)| t.vtime)
            .min()
            .unwrap_or(floor)
            .min(floor)
            .saturating_sub(1);
        if let Some(t) = self.task_mut(slot) {
            if matches!(
                t.state,
                State::Sleeping { .. } | State::Ready | State::Running
            ) {
                if t.state != State::Running {
                    t.state = State::Ready;
                }
                t.vtime = t.vtime.min(first);
            }
        }
    }

    /// How many tasks started with [`Role::Worker`] have not finished.
    pub fn workers(&self) -> usize {
        self.tasks()
            .filter(|(_, t)| t.role == Role::Worker && t.state != State::Done)
            .count()
    }

    /// Wakes every sleeper whose time has come.
    pub fn wake_due(&mut self, now_tick: u64) {
        for slot in 0..self.slots.len() {
            if let Some(Task {
                state: State::Sleeping { until },
                ..
            }) = self.slots[slot]
            {
                if until <= now_tick {
                    self.wake(slot);
                }
            }
        }
    }

    /// The current task has finished.
    pub fn exit(&mut self, slot: Slot) {
        if let Some(t) = self.task_mut(slot) {
            t.state = State::Done;
        }
    }

    /// Frees the slots of finished tasks other than the current one (whose
    /// stack is still in use); returns how many.
    pub fn reap(&mut self) -> usize {
        let mut n = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if i != self.current && s.as_ref().is_some_and(|t| t.state == State::Done) {
                *s = None;
                n += 1;
            }
        }
        n
    }

    /// Whether something other than the idle task can run (the current
    /// task counts if it is still running).
    pub fn runnable(&self) -> bool {
        self.tasks()
            .any(|(_, t)| t.role != Role::Idle && matches!(t.state, State::Ready | State::Running))
    }

    /// Whether a task other than the current one and the idle task waits
    /// for the CPU.
    pub fn others_ready(&self) -> bool {
        self.tasks()
            .any(|(i, t)| i != self.current && t.role != Role::Idle && t.state == State::Ready)
    }

    /// Chooses the task to run next (maybe the current one) and makes it
    /// current: the runnable non-idle task with the least virtual time
    /// (the first in the table on a tie), else an idle task.
    pub fn pick(&mut self) -> Slot {
        let cur = self.current;
        let mut best: Option<(Slot, u64)> = None;
        let mut idle = None;
        for (i, t) in self.tasks() {
            if !matches!(t.state, State::Ready | State::Running) {
                continue;
            }
            if t.role == Role::Idle {
                if idle.is_none() || i == cur {
                    idle = Some(i);
                }
                continue;
            }
            let better = match best {
                None => true,
                Some((_, v)) => t.vtime < v,
            };
            if better {
                best = Some((i, t.vtime));
            }
        }
        let next = match (best, idle) {
            (Some((s, v)), _) => {
                self.clock = self.clock.max(v);
                s
            }
            (None, Some(s)) => s,
            // Nothing at all can run: stay (the caller idles in place).
            (None, None) => cur,
        };
        if next != cur {
            if let Some(t) = self.task_mut(cur) {
                if t.state == State::Running {
                    t.state = State::Ready;
                }
            }
        }
        if let Some(t) = self.task_mut(next) {
            if t.state == State::Ready {
                t.state = State::Running;
            }
        }
        self.current = next;
        next
    }

    /// Asks the task with this id to stop: sets its kill flag and wakes it
    /// if it sleeps. The console and idle tasks refuse.
    pub fn kill(&mut self, id: u32) -> Result<&Task, Error> {
        let slot = self
            .find(id)
            .filter(|&s| self.task(s).is_some_and(|t| t.state != State::Done))
            .ok_or(Error::Unknown(id))?;
        let role = self.task(slot).map(|t| t.role).unwrap_or(Role::Worker);
        if role != Role::Worker {
            return Err(Error::Fixed(id, role));
        }
        if let Some(t) = self.task_mut(slot) {
            t.kill = true;
        }
        self.wake(slot);
        Ok(self.task(slot).expect("found above"))
    }

    /// Whether the task in `slot` was asked to stop.
    pub fn killed(&self, slot: Slot) -> bool {
        self.task(slot).is_some_and(|t| t.kill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    const SLICE: u64 = 1000;

    /// Runs `n` slices, charging each chosen task one slice; returns how
    /// many slices each slot got.
    fn run(s: &mut Scheduler, n: usize) -> Vec<usize> {
        let mut got = alloc::vec![0; MAX_TASKS];
        for _ in 0..n {
            let cur = s.pick();
            got[cur] += 1;
            s.charge(cur, SLICE);
        }
        got
    }

    /// Spawns and starts a task.
    fn ready(
        s: &mut Scheduler,
        name: &str,
        role: Role,
        weight: u32,
        stack: u64,
    ) -> Result<(Slot, u32), Error> {
        let (slot, id) = s.spawn(name, role, weight, stack)?;
        s.start(slot);
        Ok((slot, id))
    }

    fn table() -> (Scheduler, Slot, Slot) {
        let mut s = Scheduler::new(SLICE);
        let console = s.adopt("console", Role::Console, 16, 0).unwrap();
        let (idle, _) = ready(&mut s, "idle", Role::Idle, 1, 4096).unwrap();
        (s, console, idle)
    }

    #[test]
    fn two_equal_tasks_alternate_and_both_progress() {
        let (mut s, console, _) = table();
        s.sleep(console, u64::MAX);
        let (a, _) = ready(&mut s, "a", Role::Worker, 1, 0).unwrap();
        let (b, _) = ready(&mut s, "b", Role::Worker, 1, 0).unwrap();
        let got = run(&mut s, 100);
        assert_eq!(got[a], 50);
        assert_eq!(got[b], 50);
        assert_eq!(s.task(a).unwrap().cycles, 50 * SLICE);
        // Strict alternation: never two slices in a row for one task.
        let mut last = None;
        for _ in 0..10 {
            let cur = s.pick();
            assert_ne!(Some(cur), last);
            last = Some(cur);
            s.charge(cur, SLICE);
        }
    }

    #[test]
    fn weights_share_the_cpu_but_never_starve() {
        let (mut s, console, _) = table();
        let (a, _) = ready(&mut s, "a", Role::Worker, 1, 0).unwrap();
        let got = run(&mut s, 170);
        assert_eq!(got[console], 160);
        assert_eq!(got[a], 10);
        // The light task runs at least once in every 17 slices.
        let mut since = 0;
        for _ in 0..200 {
            let cur = s.pick();
            s.charge(cur, SLICE);
            since = if cur == a { 0 } else { since + 1 };
            assert!(since <= 17);
        }
    }

    #[test]
    fn idle_runs_only_when_nothing_else_can() {
        let (mut s, console, idle) = table();
        assert_eq!(s.pick(), console);
        s.sleep(console, 5);
        assert!(!s.runnable());
        assert_eq!(s.pick(), idle);
        s.wake_due(4);
        assert_eq!(s.pick(), idle);
        s.wake_due(5);
        assert!(s.runnable());
        assert_eq!(s.pick(), console);
        assert_eq!(s.task(console).unwrap().state, State::Running);
        assert_eq!(s.task(idle).unwrap().state, State::Ready);
    }

    #[test]
    fn a_waking_task_runs_at_the_next_decision() {
        let (mut s, console, _) = table();
        let (a, _) = ready(&mut s, "a", Role::Worker, 1, 0).unwrap();
        let (b, _) = ready(&mut s, "b", Role::Worker, 1, 0).unwrap();
        s.sleep(console, 10);
        run(&mut s, 50);
        s.wake_due(10);
        assert_eq!(s.pick(), console);
        s.sleep(console, u64::MAX);
        // A task that slept a long time does not get all the CPU back.
        s.sleep(a, 20);
        run(&mut s, 100);
        s.wake_due(20);
        let got = run(&mut s, 40);
        assert!(got[a] <= 21 && got[b] >= 19, "{got:?}");
    }

    #[test]
    fn kill_sets_the_flag_wakes_and_refuses_fixed_tasks() {
        let (mut s, console, idle) = table();
        let (a, id) = ready(&mut s, "a", Role::Worker, 1, 0).unwrap();
        s.sleep(a, u64::MAX);
        assert!(!s.killed(a));
        assert_eq!(s.kill(id).unwrap().name, "a");
        assert!(s.killed(a));
        assert_eq!(s.task(a).unwrap().state, State::Ready);
        let cid = s.task(console).unwrap().id;
        let iid = s.task(idle).unwrap().id;
        assert_eq!(s.kill(cid).unwrap_err(), Error::Fixed(cid, Role::Console));
        assert!(format!("{}", s.kill(iid).unwrap_err()).contains("idle task"));
        assert_eq!(s.kill(99).unwrap_err(), Error::Unknown(99));
        s.exit(a);
        assert_eq!(s.kill(id).unwrap_err(), Error::Unknown(id));
    }

    #[test]
    fn a_starting_task_runs_only_once_started_even_if_killed() {
        let (mut s, console, _) = table();
        s.sleep(console, u64::MAX);
        let (a, id) = s.spawn("a", Role::Worker, 1, 0).unwrap();
        assert_eq!(s.task(a).unwrap().state, State::Starting);
        assert!(!s.runnable());
        s.kill(id).unwrap();
        s.wake(a);
        s.wake_due(1000);
        assert_eq!(s.task(a).unwrap().state, State::Starting);
        assert_ne!(s.pick(), a);
        s.start(a);
        assert_eq!(s.pick(), a);
        assert!(s.killed(a));
    }

    #[test]
    fn finished_tasks_are_reaped_and_slots_reused_with_new_ids() {
        let (mut s, _, _) = table();
        let (a, id_a) = ready(&mut s, "a", Role::Worker, 1, 0).unwrap();
        assert_eq!(s.pick(), s.current());
        s.exit(a);
        assert!(!s.alive(id_a));
        // The current task's slot is not reaped.
        let cur = s.current();
        s.exit(cur);
        assert_eq!(s.reap(), 1);
        let (b, id_b) = ready(&mut s, "b", Role::Worker, 1, 0).unwrap();
        assert_eq!(b, a);
        assert_ne!(id_b, id_a);
        assert!(s.find(id_a).is_none());
    }

    #[test]
    fn a_preferred_task_runs_next_even_after_a_long_share() {
        let (mut s, console, _) = table();
        let (a, _) = ready(&mut s, "a", Role::Worker, 1, 0).unwrap();
        let (w, _) = ready(&mut s, "w", Role::Service, 16, 0).unwrap();
        s.sleep(console, u64::MAX);
        run(&mut s, 100);
        s.sleep(w, u64::MAX);
        run(&mut s, 10);
        assert_eq!(s.pick(), a);
        assert!(!s.others_ready());
        s.prefer(w);
        assert!(s.others_ready());
        assert_eq!(s.task(w).unwrap().state, State::Ready);
        assert_eq!(s.pick(), w);
        // Preferring the running task keeps it running; a finished task
        // is not revived.
        s.prefer(w);
        assert_eq!(s.pick(), w);
        s.exit(a);
        s.prefer(a);
        assert_eq!(s.task(a).unwrap().state, State::Done);
        assert_eq!(s.workers(), 0);
    }

    #[test]
    fn tables_sharing_ids_never_repeat_one() {
        static IDS: AtomicU32 = AtomicU32::new(0);
        let mut one = Scheduler::with_ids(SLICE, &IDS);
        let mut two = Scheduler::with_ids(SLICE, &IDS);
        let a = one.adopt("console", Role::Console, 16, 0).unwrap();
        let b = two.adopt("worker1", Role::Service, 16, 0).unwrap();
        let (_, c) = ready(&mut one, "x", Role::Worker, 1, 0).unwrap();
        let (_, d) = ready(&mut two, "y", Role::Worker, 1, 0).unwrap();
        let ids = [one.task(a).unwrap().id, two.task(b).unwrap().id, c, d];
        assert_eq!(ids, [0, 1, 2, 3]);
        assert!(one.find(d).is_none() && two.find(d).is_some());
        assert_eq!(two.workers(), 1);
    }

    #[test]
    fn the_table_has_a_limit() {
        let (mut s, _, _) = table();
        for i in 2..MAX_TASKS {
            ready(&mut s, &format!("t{i}"), Role::Worker, 1, 0).unwrap();
        }
        assert_eq!(
            ready(&mut s, "x", Role::Worker, 1, 0).unwrap_err(),
            Error::Full
        );
    }
}
