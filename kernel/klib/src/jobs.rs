//! The job table: commands run later or repeatedly, and reminders
//! (`/after`, `/every`, `/remind`). Hardware-free: times are milliseconds
//! of uptime given by the caller, and the kernel decides where due jobs
//! run (see `kernel/src/task/jobs.rs`).
//!
//! A job is taken from the table when it is due ([`Jobs::take_due`]); a
//! one-shot job (after, remind) leaves the table then, a repeating one is
//! put back with its next due time and marked running until
//! [`Jobs::finished`]. A repeating job that fell behind (its runner was
//! busy) runs once, late, and is then due a whole period later: missed
//! runs are not caught up in a burst.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The most jobs the table holds at once.
pub const MAX_JOBS: usize = 16;
/// The shortest period of a repeating job, in milliseconds.
pub const MIN_PERIOD_MS: u64 = 1000;

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Runs a command once, later.
    After,
    /// Runs a command every period.
    Every,
    /// Prints a text once, later.
    Remind,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::After => "after",
            Kind::Every => "every",
            Kind::Remind => "remind",
        }
    }

    /// Whether the job's text is a command line (not a reminder's text).
    pub fn runs_command(self) -> bool {
        self != Kind::Remind
    }
}

/// Whether a job waits for its time or is running now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Waiting,
    Running,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
        }
    }
}

/// One job in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: u32,
    pub kind: Kind,
    /// The command line, or the reminder's text.
    pub what: String,
    /// Uptime in milliseconds at which it is next due.
    pub due_ms: u64,
    /// The period of a repeating job (0 for a one-shot job).
    pub period_ms: u64,
    pub state: State,
    /// Times it has run.
    pub runs: u64,
    /// Time spent running it, in microseconds.
    pub cpu_us: u64,
}

/// A due job, taken from the table to be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub id: u32,
    pub kind: Kind,
    pub what: String,
    /// Which run this is (1 for the first).
    pub run: u64,
    /// How late it is, in milliseconds.
    pub late_ms: u64,
}

/// Why a job could not be created or killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The table holds [`MAX_JOBS`] jobs already.
    Full,
    /// A repeating job's period is below [`MIN_PERIOD_MS`].
    PeriodTooShort(u64),
    /// The text or command is empty.
    Empty,
    /// No job has this id.
    Unknown(u32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => write!(
                f,
                "the job table is full ({MAX_JOBS} jobs): /kill one first (/ps lists them)"
            ),
            Error::PeriodTooShort(ms) => write!(
                f,
                "a repeating job's period must be at least {}, not {}",
                crate::registry::value::format_duration(MIN_PERIOD_MS),
                crate::registry::value::format_duration(*ms)
            ),
            Error::Empty => write!(f, "nothing to run"),
            Error::Unknown(id) => write!(f, "no job {id}; /ps lists the jobs"),
        }
    }
}

/// The table.
pub struct Jobs {
    list: Vec<Job>,
    next_id: u32,
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new()
    }
}

impl Jobs {
    pub const fn new() -> Jobs {
        Jobs {
            list: Vec::new(),
            next_id: 1,
        }
    }

    /// Adds a job due `delay_ms` after `now_ms`; a repeating job repeats
    /// every `delay_ms`. Returns its id (ids are not reused).
    pub fn add(
        &mut self,
        kind: Kind,
        delay_ms: u64,
        what: &str,
        now_ms: u64,
    ) -> Result<u32, Error> {
        let what = what.trim();
        if what.is_empty() {
            return Err(Error::Empty);
        }
        if kind == Kind::Every && delay_ms < MIN_PERIOD_MS {
            return Err(Error::PeriodTooShort(delay_ms));
        }
        if self.list.len() >= MAX_JOBS {
            return Err(Error::Full);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.list.push(Job {
            id,
            kind,
            what: what.into(),
            due_ms: now_ms.saturating_add(delay_ms),
            period_ms: if kind == Kind::Every { delay_ms } else { 0 },
            state: State::Waiting,
            runs: 0,
            cpu_us: 0,
        });
        Ok(id)
    }

    /// Removes job `id` (it does not run again); returns it.
    pub fn kill(&mut self, id: u32) -> Result<Job, Error> {
        let i = self
            .list
            .iter()
            .position(|j| j.id == id)
            .ok_or(Error::Unknown(id))?;
        Ok(self.list.remove(i))
    }

    /// The jobs, in the order they were created.
    pub fn list(&self) -> &[Job] {
        &self.list
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// When the next waiting job is due.
    pub fn next_due(&self) -> Option<u64> {
        self.waiting().map(|j| j.due_ms).min()
    }

    fn waiting(&self) -> impl Iterator<Item = &Job> {
        self.list.iter().filter(|j| j.state == State::Waiting)
    }

    /// The waiting job due earliest at `now_ms` or before (ties: the
    /// older job first), taken to be run: a one-shot job leaves the table,
    /// a repeating one stays, running, due one period later (or one
    /// period after `now_ms` if it fell further behind).
    pub fn take_due(&mut self, now_ms: u64) -> Option<Due> {
        let i = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, j)| j.state == State::Waiting && j.due_ms <= now_ms)
            .min_by_key(|(i, j)| (j.due_ms, *i))
            .map(|(i, _)| i)?;
        let j = &mut self.list[i];
        let due = Due {
            id: j.id,
            kind: j.kind,
            what: j.what.clone(),
            run: j.runs + 1,
            late_ms: now_ms - j.due_ms,
        };
        if j.period_ms == 0 {
            self.list.remove(i);
        } else {
            j.runs += 1;
            j.state = State::Running;
            let next = j.due_ms.saturating_add(j.period_ms);
            j.due_ms = if next > now_ms {
                next
            } else {
                now_ms.saturating_add(j.period_ms)
            };
        }
        Some(due)
    }

    /// A taken job has finished its run, which took `cpu_us`: a repeating
    /// job waits for its next time again. (A job killed meanwhile, or a
    /// one-shot one, is no longer in the table: nothing to do.)
    pub fn finished(&mut self, id: u32, cpu_us: u64) {
        if let Some(j) = self.list.iter_mut().find(|j| j.id == id) {
            j.state = State::Waiting;
            j.cpu_us = j.cpu_us.saturating_add(cpu_us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn one_shot_jobs_run_once_at_their_time() {
        let mut t = Jobs::new();
        let a = t.add(Kind::After, 500, " /date ", 1000).unwrap();
        let r = t.add(Kind::Remind, 200, "tea", 1000).unwrap();
        assert_eq!((a, r), (1, 2));
        assert_eq!(t.next_due(), Some(1200));
        assert_eq!(t.take_due(1199), None);
        let due = t.take_due(1300).unwrap();
        assert_eq!(
            (due.id, due.kind, due.what.as_str()),
            (r, Kind::Remind, "tea")
        );
        assert_eq!((due.run, due.late_ms), (1, 100));
        assert_eq!(t.take_due(1300), None);
        let due = t.take_due(1500).unwrap();
        assert_eq!((due.id, due.what.as_str()), (a, "/date"));
        assert!(t.is_empty());
        assert_eq!(t.next_due(), None);
        // Ids are not reused.
        assert_eq!(t.add(Kind::After, 1, "/mem", 0), Ok(3));
    }

    #[test]
    fn repeating_jobs_repeat_without_bursts_and_stop_when_killed() {
        let mut t = Jobs::new();
        let id = t.add(Kind::Every, 1000, "/date", 0).unwrap();
        let d = t.take_due(1000).unwrap();
        assert_eq!(d.run, 1);
        // While it runs it is not due again, whatever the time.
        assert_eq!(t.list()[0].state, State::Running);
        assert_eq!(t.take_due(5000), None);
        t.finished(id, 300);
        assert_eq!(t.list()[0].state, State::Waiting);
        assert_eq!(t.list()[0].due_ms, 2000);
        // Slightly late: the schedule keeps its phase.
        let d = t.take_due(2100).unwrap();
        assert_eq!((d.run, d.late_ms), (2, 100));
        t.finished(id, 200);
        assert_eq!(t.next_due(), Some(3000));
        // Far behind (the runner was busy): one run, then a period later.
        assert_eq!(t.take_due(9500).unwrap().run, 3);
        t.finished(id, 0);
        assert_eq!(t.next_due(), Some(10_500));
        assert_eq!(t.take_due(9600), None);
        assert_eq!((t.list()[0].runs, t.list()[0].cpu_us), (3, 500));
        let k = t.kill(id).unwrap();
        assert_eq!(k.what, "/date");
        assert_eq!(t.take_due(100_000), None);
        assert_eq!(t.kill(id), Err(Error::Unknown(id)));
    }

    #[test]
    fn killed_while_running_is_not_put_back() {
        let mut t = Jobs::new();
        let id = t.add(Kind::Every, 1000, "/ps", 0).unwrap();
        t.take_due(1000).unwrap();
        t.kill(id).unwrap();
        t.finished(id, 10);
        assert!(t.is_empty());
    }

    #[test]
    fn earliest_first_then_oldest() {
        let mut t = Jobs::new();
        let a = t.add(Kind::After, 300, "/a", 0).unwrap();
        let b = t.add(Kind::After, 100, "/b", 0).unwrap();
        let c = t.add(Kind::After, 300, "/c", 0).unwrap();
        let order: Vec<u32> = core::iter::from_fn(|| t.take_due(1000).map(|d| d.id)).collect();
        assert_eq!(order, [b, a, c]);
    }

    #[test]
    fn limits_give_clear_errors() {
        let mut t = Jobs::new();
        assert_eq!(
            t.add(Kind::Every, 999, "/date", 0),
            Err(Error::PeriodTooShort(999))
        );
        assert_eq!(
            Error::PeriodTooShort(500).to_string(),
            "a repeating job's period must be at least 1s, not 500ms"
        );
        assert_eq!(t.add(Kind::Remind, 100, "  ", 0), Err(Error::Empty));
        // One-shot jobs may be due soon.
        assert!(t.add(Kind::After, 0, "/date", 0).is_ok());
        for _ in 1..MAX_JOBS {
            t.add(Kind::Remind, 10, "x", 0).unwrap();
        }
        assert_eq!(t.add(Kind::Remind, 10, "x", 0), Err(Error::Full));
        assert!(Error::Full.to_string().contains("/kill"));
        // Killing one makes room.
        t.kill(1).unwrap();
        assert!(t.add(Kind::Remind, 10, "x", 0).is_ok());
        assert_eq!(t.len(), MAX_JOBS);
    }
}
