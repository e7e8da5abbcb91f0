//! Jobs (`/after`, `/every`, `/remind`): the table is `klib::jobs`; this
//! is where due jobs run.
//!
//! A kernel service task, "jobs" (the job timer), sleeps until the next
//! job is due and starts one task per run (named "job N"), so a long job
//! never holds the prompt and jobs run while the shell is busy. A run's
//! output is collected and queued for the console (`console::print_above`),
//! which prints it above the prompt, with the line being typed redrawn,
//! once it is at its prompt: output never lands inside a reply.
//!
//! A job whose command needs the model (`/complete`, `/stats`, ...) takes
//! the model's turn (`shell::model_turn`): it waits while the console
//! is on a message or a model command, and the console waits for it. A
//! repeating job that fell behind runs once, late, and keeps its period
//! from then; a run still going when the next is due delays it.

use super::sched;
use crate::console::style::{paint, Style};
use crate::shell::registry;
use crate::time;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use klib::jobs::{Due, Jobs, Kind};
use klib::registry::{classify, Input, Output, REGISTRY};
use spin::Mutex;

pub static JOBS: Mutex<Jobs> = Mutex::new(Jobs::new());

/// How much of one run's output is shown above the prompt.
const SHOW_LIMIT: usize = 8192;

fn now_ms() -> u64 {
    time::uptime().as_millis() as u64
}

/// The job commands: a job may not create jobs.
pub fn is_job_command(name: &str) -> bool {
    matches!(name, "after" | "every" | "remind")
}

/// Adds a job due after `delay_ms`; `what` is a command line (checked
/// here, when the job is created) or a reminder's text.
pub fn add(kind: Kind, delay_ms: u64, what: &str) -> Result<u32, String> {
    if kind.runs_command() {
        match classify(what) {
            Input::Command { name, args } => {
                let inv = REGISTRY
                    .parse_command(name, args, crate::shell::test_commands())
                    .map_err(|e| format!("{e}"))?;
                if is_job_command(inv.name()) {
                    return Err(format!(
                        "a job can not create jobs: /{} is not allowed in a job",
                        inv.name()
                    ));
                }
            }
            _ => return Err(format!("{what:?} is not a command line (it starts with /)")),
        }
    }
    JOBS.lock()
        .add(kind, delay_ms, what, now_ms())
        .map_err(|e| format!("{e}"))
}

/// Job runs in progress: (job id, task id).
static RUNS: Mutex<Vec<(u32, u32)>> = Mutex::new(Vec::new());

/// How long the job timer sleeps at most (a job added meanwhile waits at
/// most this long past its time).
const TIMER_POLL_MS: u64 = 100;

/// Starts the job timer task.
pub fn start() {
    if let Err(e) = sched::spawn_service("jobs", timer) {
        log::error!("jobs: no job timer task ({e}): jobs will not run");
    }
}

fn timer() {
    loop {
        let now = now_ms();
        let due = JOBS.lock().take_due(now);
        match due {
            Some(job) => launch(job),
            None => {
                let next = JOBS.lock().next_due();
                let wait = next.map_or(TIMER_POLL_MS, |t| t.saturating_sub(now));
                sched::sleep_ms(wait.clamp(1, TIMER_POLL_MS));
            }
        }
    }
}

/// Runs `job` in a task of its own (in the timer's if none can start).
fn launch(job: Due) {
    let id = job.id;
    let name = format!("{} {}", job.kind.name(), id);
    let job = alloc::sync::Arc::new(job);
    let body = job.clone();
    let mut runs = RUNS.lock();
    match sched::spawn(&name, move || run(&body)) {
        Ok(task) => runs.push((id, task)),
        Err(e) => {
            drop(runs);
            log::warn!("job {id}: runs in the job timer ({e})");
            run(&job);
        }
    }
}

/// The tasks running job `id` now.
pub fn tasks_of(id: u32) -> Vec<u32> {
    RUNS.lock()
        .iter()
        .filter(|(j, _)| *j == id)
        .map(|(_, t)| *t)
        .collect()
}

fn run(job: &Due) {
    let mut shown = String::new();
    run_one(job, &mut shown);
    crate::console::print_above(&shown);
    let me = sched::current_id();
    RUNS.lock().retain(|(_, t)| *t != me);
}

fn run_one(job: &Due, shown: &mut String) {
    use core::fmt::Write;
    if job.kind == Kind::Remind {
        let _ = writeln!(shown, "[reminder {}] {}", job.id, job.what);
        return;
    }
    let _ = writeln!(shown, "[job {} run {}: {}]", job.id, job.run, job.what);
    let t0 = time::uptime();
    let (inv, result) = match classify(&job.what) {
        Input::Command { name, args } => {
            match REGISTRY.parse_command(name, args, crate::shell::test_commands()) {
                Ok(inv) => {
                    let mut text = String::new();
                    let mut show = |s: &str| {
                        if text.len() < SHOW_LIMIT {
                            text.push_str(s);
                        }
                    };
                    let mut out = Output::new(&mut show, registry::KEEP);
                    let r = if crate::shell::needs_model(inv.name()) {
                        crate::shell::model_turn(crate::shell::Turn::Job, || {
                            registry::run(&inv, &mut out)
                        })
                        .unwrap_or_else(|| Err(String::from("killed while waiting for the model")))
                    } else {
                        registry::run(&inv, &mut out)
                    };
                    drop(out);
                    shown.push_str(&text);
                    if !text.is_empty() && !text.ends_with('\n') {
                        shown.push('\n');
                    }
                    (Some(inv), r)
                }
                Err(e) => (None, Err(format!("{e}"))),
            }
        }
        _ => (None, Err(String::from("not a command line"))),
    };
    if let Err(e) = &result {
        let _ = writeln!(shown, "{} {e}", paint(Style::Red, "error:"));
    }
    let us = (time::uptime() - t0).as_micros() as u64;
    crate::agent::audit_person(
        &format!("(job {}) {}", job.id, job.what),
        inv.as_ref(),
        result,
        us,
    );
    JOBS.lock().finished(job.id, us);
}

/// Whether the job table's lock is held (the scheduler does not preempt
/// then: `task::sched`).
pub fn lock_held() -> bool {
    JOBS.is_locked()
}
