//! The handlers of the task commands (described in
//! `klib::registry::commands::tasks`).

use super::{jobs, sched, team};
use crate::shell::registry::Handlers;
use alloc::string::String;
use core::sync::atomic::Ordering;
use klib::outln;
use klib::registry::{Invocation, Output};
use klib::sched::Role;

pub static HANDLERS: Handlers = &[
    ("ps", cmd_ps),
    ("kill", cmd_kill),
    ("after", cmd_after),
    ("every", cmd_every),
    ("remind", cmd_remind),
    ("bg", cmd_bg),
    ("team", cmd_team),
    ("test-team", cmd_test_team),
    ("test-spin", cmd_test_spin),
];

/// One line of `/ps`: id, what, state, CPU, next run, runs, CPU time, memory.
fn ps_row(out: &mut Output, [id, what, state, cpu, next, runs, time, mem]: [&str; 8]) {
    outln!(
        out,
        "{id:<8} {what:<30} {state:<8} {cpu:>3} {next:>9} {runs:>5} {time:>9} {mem:>6}"
    );
}

/// Whether a row is an application processor's compute-team worker.
fn is_worker(row: &sched::Row) -> bool {
    row.role == Role::Service && row.name.starts_with("worker")
}

/// How `/ps` and `/kill` name a task.
fn task_name(row: &sched::Row) -> String {
    match row.role {
        Role::Console => String::from("console"),
        Role::Idle => row.name.clone(),
        _ if is_worker(row) => row.name.clone(),
        _ => alloc::format!("t{}", row.id),
    }
}

/// `/ps`: the tasks of every CPU (the console, the compute-team workers,
/// the idle tasks, the job timer, job runs and other tasks), then the jobs.
fn cmd_ps(_: &Invocation, out: &mut Output) -> Result<(), String> {
    ps_row(
        out,
        [
            "ID", "WHAT", "STATE", "CPU", "NEXT", "RUNS", "CPU TIME", "MEM",
        ],
    );
    let rows = sched::rows();
    for r in &rows {
        let what = match r.role {
            Role::Console => String::from("shell and conversation"),
            Role::Idle => String::from("idle task (halted)"),
            Role::Service if r.name == "jobs" => String::from("job timer"),
            _ if is_worker(r) => String::from("compute-team worker"),
            _ if r.name == "bg" => String::from("background request (/bg)"),
            _ => r.name.clone(),
        };
        ps_row(
            out,
            [
                &task_name(r),
                &what,
                r.state,
                &alloc::format!("{}", r.cpu),
                "-",
                "-",
                &alloc::format!("{:.2} s", r.cpu_ms as f64 / 1000.0),
                &alloc::format!(
                    "{}K",
                    (r.stack_bytes + super::bg::kv_bytes_of(r.id).unwrap_or(0)) / 1024
                ),
            ],
        );
    }
    let now = crate::time::uptime().as_millis() as u64;
    let table = jobs::JOBS.lock();
    for j in table.list() {
        let what = match j.kind {
            klib::jobs::Kind::Every => alloc::format!(
                "every {} {}",
                klib::registry::value::format_duration(j.period_ms),
                j.what
            ),
            k => alloc::format!("{} {}", k.name(), j.what),
        };
        let what: String = if what.chars().count() > 30 {
            what.chars().take(29).chain(core::iter::once('…')).collect()
        } else {
            what
        };
        let next = alloc::format!("in {:.1}s", j.due_ms.saturating_sub(now) as f64 / 1000.0);
        ps_row(
            out,
            [
                &alloc::format!("{}", j.id),
                &what,
                j.state.name(),
                "-",
                &next,
                &alloc::format!("{}", j.runs),
                &alloc::format!("{:.3} s", j.cpu_us as f64 / 1e6),
                "-",
            ],
        );
    }
    let cpus = rows.iter().map(|r| r.cpu + 1).max().unwrap_or(1);
    outln!(
        out,
        "{} job{} of at most {}; {} tasks on {cpus} CPU{} (each job run is one), {} switches ({} chosen at once for input)",
        table.len(),
        if table.len() == 1 { "" } else { "s" },
        klib::jobs::MAX_JOBS,
        rows.len(),
        if cpus == 1 { "" } else { "s" },
        sched::SWITCHES.load(Ordering::Relaxed),
        sched::INPUT_CHOICES.load(Ordering::Relaxed)
    );
    Ok(())
}

/// How long `/kill` waits for a task to end.
const KILL_WAIT_MS: u64 = 2000;

/// Asks task `id` to stop and waits for it; says how long it took.
fn kill_task(id: u32, out: &mut Output) -> Result<(), String> {
    let t0 = crate::time::uptime();
    let name = sched::kill(id)?;
    if sched::join(id, KILL_WAIT_MS) {
        let ms = (crate::time::uptime() - t0).as_micros() as f64 / 1000.0;
        outln!(
            out,
            "killed task t{id} ({name}): it ended {ms:.1} ms after /kill"
        );
        Ok(())
    } else {
        Err(alloc::format!(
            "task t{id} ({name}) was asked to stop but is still running after {KILL_WAIT_MS} ms"
        ))
    }
}

fn cmd_kill(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    let id = inv.str("id").unwrap_or("");
    if let Ok(n) = id.parse::<u32>() {
        let job = jobs::JOBS
            .lock()
            .kill(n)
            .map_err(|e| alloc::format!("{e}"))?;
        outln!(
            out,
            "killed job {n} ({} {}) after {} runs",
            job.kind.name(),
            job.what,
            job.runs
        );
        for task in jobs::tasks_of(n) {
            kill_task(task, out)?;
        }
        return Ok(());
    }
    if let Some(t) = id.strip_prefix('t').and_then(|n| n.parse::<u32>().ok()) {
        return kill_task(t, out);
    }
    let cpu_of = |prefix: &str| {
        id.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    if id == "console" {
        Err(String::from(
            "the console can not be killed (Ctrl-C stops a reply or a running command)",
        ))
    } else if let Some(c) = cpu_of("idle") {
        Err(alloc::format!(
            "idle{c} is CPU {c}'s idle loop: it can not be killed"
        ))
    } else if let Some(c) = cpu_of("worker") {
        Err(alloc::format!(
            "worker{c} is CPU {c}'s compute-team worker: it can not be killed (/team N uses fewer CPUs)"
        ))
    } else {
        Err(alloc::format!("no task or job {id:?}; /ps lists them"))
    }
}

fn add_job(
    kind: klib::jobs::Kind,
    inv: &Invocation,
    arg: &str,
    out: &mut Output,
) -> Result<(), String> {
    let ms = inv.millis(inv.spec.args[0].name).unwrap_or(0);
    let what = inv.str(arg).unwrap_or("");
    let id = jobs::add(kind, ms, what)?;
    let when = klib::registry::value::format_duration(ms);
    match kind {
        klib::jobs::Kind::Every => {
            outln!(out, "job {id}: {what} every {when} (/kill {id} stops it)")
        }
        klib::jobs::Kind::After => outln!(out, "job {id}: {what} in {when}"),
        klib::jobs::Kind::Remind => outln!(out, "reminder {id} in {when}"),
    }
    Ok(())
}

fn cmd_after(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    add_job(klib::jobs::Kind::After, inv, "command", out)
}

fn cmd_every(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    add_job(klib::jobs::Kind::Every, inv, "command", out)
}

fn cmd_remind(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    add_job(klib::jobs::Kind::Remind, inv, "text", out)
}

fn cmd_bg(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    let n = inv
        .int("tokens")
        .unwrap_or(klib::registry::commands::BG_TOKENS) as usize;
    let s = super::bg::start(inv.str("text").unwrap_or(""), n)?;
    outln!(
        out,
        "bg t{}: answering in the background ({} message tokens, at most {} answer tokens, KV cache {}); the conversation goes first. /ps shows it, /kill t{} stops it",
        s.task,
        s.prompt_tokens,
        s.max_tokens,
        klib::units::Bytes(s.kv_bytes),
        s.task
    );
    Ok(())
}

fn cmd_team(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    let running = crate::arch::smp::started().running;
    if let Some(n) = inv.int("cpus") {
        if n as usize > running {
            return Err(alloc::format!(
                "only {running} CPU{} running",
                if running == 1 { " is" } else { "s are" }
            ));
        }
        // Not while a model step (a background request's, a job's) runs
        // on the team: take the model's turn.
        let who = if sched::on_console() {
            crate::shell::Turn::Console
        } else {
            crate::shell::Turn::Job
        };
        crate::shell::model_turn(who, || team::set_size(n as usize))
            .ok_or_else(|| String::from("killed while waiting for the model"))?;
    }
    if let Some(us) = inv.int("spin_us") {
        team::set_spin_us(us);
    }
    outln!(
        out,
        "compute team: {} of {running} running CPU{}; a waiting CPU spins {} us, then halts",
        team::size(),
        if running == 1 { "" } else { "s" },
        team::spin_us()
    );
    let s = &team::STATS;
    let ms = |c: u64| c / (crate::time::tsc_hz() / 1000).max(1);
    outln!(
        out,
        "since boot: {} runs; caller's own share {} ms, waiting for the others {} ms; {} halts while waiting",
        s.runs.load(Ordering::Relaxed),
        ms(s.own_cycles.load(Ordering::Relaxed)),
        ms(s.wait_cycles.load(Ordering::Relaxed)),
        s.halts.load(Ordering::Relaxed)
    );
    for w in 1..team::size() {
        let c = team::cpu_of(w);
        let cpu = crate::arch::x86_64::percpu::cpu(c);
        outln!(
            out,
            "worker {w} (CPU {c}): {} shares, {} ms on them",
            cpu.jobs.load(Ordering::Relaxed),
            ms(cpu.job_cycles.load(Ordering::Relaxed))
        );
    }
    Ok(())
}

fn cmd_test_team(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    let rounds = inv.int("rounds").unwrap_or(10_000);
    let r = team::stress(rounds);
    let ok = r.sum == r.expected && r.calls_ok;
    outln!(
        out,
        "team: {rounds} rounds on {} workers: sum {} (expected {}), every worker once per round: {}; {} ns per round; {}",
        r.workers,
        r.sum,
        r.expected,
        if r.calls_ok { "yes" } else { "NO" },
        r.elapsed.as_nanos() as u64 / rounds,
        if ok { "PASS" } else { "FAIL" }
    );
    if ok {
        Ok(())
    } else {
        Err(String::from("the compute team lost or repeated work"))
    }
}

fn cmd_test_spin(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    let n = inv.int("tasks").unwrap_or(2) as u32;
    let ids = super::spin::start(n)?;
    let names: alloc::vec::Vec<String> = ids
        .iter()
        .map(|&i| match sched::cpu_of(i) {
            Some(c) => alloc::format!("t{i} (CPU {c})"),
            None => alloc::format!("t{i} (done)"),
        })
        .collect();
    outln!(
        out,
        "spinning with {} lanes: {} (/kill tN stops one)",
        crate::arch::x86_64::simd_lanes::kind(),
        names.join(" ")
    );
    Ok(())
}
