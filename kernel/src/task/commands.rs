//! The handlers of the task commands (described in
//! `klib::registry::commands::tasks`).

use super::team;
use crate::shell::registry::Handlers;
use alloc::string::String;
use klib::outln;
use klib::registry::{Invocation, Output};

pub static HANDLERS: Handlers = &[("test-team", cmd_test_team)];

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
