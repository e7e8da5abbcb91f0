//! The handlers of the task commands (described in
//! `klib::registry::commands::tasks`).

use super::team;
use crate::shell::registry::Handlers;
use alloc::string::String;
use core::sync::atomic::Ordering;
use klib::outln;
use klib::registry::{Invocation, Output};

pub static HANDLERS: Handlers = &[("team", cmd_team), ("test-team", cmd_test_team)];

fn cmd_team(inv: &Invocation, out: &mut Output) -> Result<(), String> {
    let running = crate::arch::smp::started().running;
    if let Some(n) = inv.int("cpus") {
        if n as usize > running {
            return Err(alloc::format!(
                "only {running} CPU{} running",
                if running == 1 { " is" } else { "s are" }
            ));
        }
        team::set_size(n as usize);
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
