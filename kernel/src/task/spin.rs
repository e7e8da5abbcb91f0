//! CPU-bound test tasks (`/test-spin`, test builds only): each one loops
//! on SIMD work with an exactly known result
//! (`arch::x86_64::simd_lanes`), checks every round, and never sleeps or
//! yields, so it runs only because the timer tick preempts the others and
//! others run only because the tick preempts it. Each task's lanes start
//! from a different base, so registers carried from one task to another
//! by a faulty switch give a wrong sum. A round takes a few milliseconds:
//! the kill flag is checked after each one.

use super::sched;
use crate::arch::x86_64::simd_lanes::{self, LANES};
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

/// Additions per lane per round (exact: ROUND_ITERS * (base + 31) < 2^24).
const ROUND_ITERS: u32 = 20_000;
/// Largest lane base (a task's base is 1 + its id modulo this).
const BASES: u32 = 16;

/// Lane bases handed out so far (each task gets the next, so two spinners
/// started together differ).
static NEXT_BASE: AtomicU32 = AtomicU32::new(0);

/// Starts `n` spinning tasks (placed like any task); returns their ids.
pub fn start(n: u32) -> Result<Vec<u32>, alloc::string::String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let base = 1 + NEXT_BASE.fetch_add(1, Ordering::Relaxed) % BASES;
        let id = sched::spawn(&format!("spin (lanes from {base})"), move || spin(base))?;
        ids.push(id);
    }
    Ok(ids)
}

fn spin(base: u32) {
    let me = sched::current_id();
    let want: [f32; LANES] = core::array::from_fn(|i| (ROUND_ITERS * (base + i as u32)) as f32);
    let mut rounds = 0u64;
    while !sched::killed() {
        let got = simd_lanes::add_lanes(base as f32, ROUND_ITERS);
        rounds += 1;
        if let Some(i) = (0..LANES).find(|&i| got[i] != want[i]) {
            let msg = format!(
                "error: spin task t{me}: SIMD result wrong in round {rounds}: lane {i} is {} (expected {})\n",
                got[i], want[i]
            );
            log::error!("{}", msg.trim_end());
            crate::console::print_above(&msg);
            return;
        }
    }
    crate::console::print_above(&format!(
        "spin task t{me}: stopped after {rounds} rounds, every {} sum exact\n",
        simd_lanes::kind()
    ));
}
