//! Jobs (`/after`, `/every`, `/remind`): the table is `klib::jobs`; this
//! is where due jobs run.
//!
//! Jobs run on the boot CPU, in the console's idle loop at the shell's
//! prompt (`console::read_line_with`): when no key is pending and a job is
//! due, its command runs through the registry with its output collected,
//! and the console prints that output above the prompt and redraws the
//! line being typed. A job that falls due while the shell is busy (a
//! model reply, a long command, a `[y/N]` question) waits until the
//! prompt is back; it is not run between the tokens of a reply, because
//! its command may need the model that the reply is using. A repeating
//! job that fell behind runs once, late, and keeps its period from then.

use crate::console::style::{paint, Style};
use crate::shell::registry;
use crate::time;
use alloc::format;
use alloc::string::String;
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

/// Whether a job is due (cheap; callable with interrupts off).
pub fn due() -> bool {
    JOBS.lock().next_due().is_some_and(|t| t <= now_ms())
}

/// Runs every job that is due now; returns what they printed, to be shown
/// above the prompt.
pub fn run_due() -> String {
    let mut shown = String::new();
    loop {
        let next = JOBS.lock().take_due(now_ms());
        let Some(job) = next else { break };
        run_one(&job, &mut shown);
    }
    shown
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
                    let r = registry::run(&inv, &mut out);
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
