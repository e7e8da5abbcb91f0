//! The console shell: reads lines, runs `/commands` through the registry
//! ([`registry`]), and gives other lines to the model.

pub mod commands;
pub mod registry;

use crate::console::style::{paint, Style};
use crate::{console, println};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use klib::registry::{classify, Input, REGISTRY};

/// The prompt. Host tools wait for it to know the kernel is ready for input.
pub const PROMPT: &str = "llm> ";

static TEST_COMMANDS: AtomicBool = AtomicBool::new(false);

/// Enables the test-only commands (`test` on the kernel command line).
pub fn enable_test_commands() {
    TEST_COMMANDS.store(true, Ordering::Relaxed);
}

pub fn test_commands() -> bool {
    TEST_COMMANDS.load(Ordering::Relaxed)
}

pub fn run() -> ! {
    registry::check();
    loop {
        let prompt = paint(Style::BoldGreen, PROMPT);
        let prompt = alloc::format!("{prompt}");
        if let Some(line) = console::read_line_with(&prompt, true) {
            execute(&line);
        }
    }
}

/// Who has the model's turn (0: nobody).
static MODEL_TURN: AtomicU8 = AtomicU8::new(0);
/// How many takers other than background requests wait for the turn: a
/// background request does not take it while any does (see [`model_turn`]).
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Who takes the model's turn.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Turn {
    /// The console, for a message to the model or a model command.
    Console = 1,
    /// A job running a model command.
    Job = 2,
    /// One step (a prefill batch or a token) of a background request
    /// (`/bg`, `task::bg`): it comes last.
    Background = 3,
}

/// Whether the command `name` uses the model (its handler is one of the
/// model's): such commands never run while the model answers.
pub fn needs_model(name: &str) -> bool {
    crate::model::commands::HANDLERS
        .iter()
        .any(|(n, _)| *n == name)
}

/// How often (ticks) a background request waiting for the turn looks again:
/// rarely, so that it costs a console reply almost no switches.
const BACKGROUND_POLL_TICKS: u64 = 10;

/// Whether the console or a job waits for the model's turn (a background
/// step in progress then gives way: `task::bg`).
pub fn turn_wanted() -> bool {
    WAITING.load(Ordering::Acquire) > 0
}

/// Runs `f` with the model's turn: the engine has one context, so the
/// console's messages and model commands and the jobs' model commands take
/// turns, each waiting (asleep) while another holds it. A job or
/// background request that is killed while waiting gives up (`None`).
///
/// Background requests come last: one never takes the turn while another
/// taker waits, and it holds the turn for one step only, then wakes the
/// console if that waits. So the console waits at most one background step
/// for its turn, and a background request waits for every console reply.
pub fn model_turn<R>(who: Turn, f: impl FnOnce() -> R) -> Option<R> {
    let urgent = who != Turn::Background;
    if urgent {
        WAITING.fetch_add(1, Ordering::AcqRel);
    }
    loop {
        let may = urgent || WAITING.load(Ordering::Acquire) == 0;
        if may
            && MODEL_TURN
                .compare_exchange(0, who as u8, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            break;
        }
        if who != Turn::Console && crate::task::sched::killed() {
            if urgent {
                WAITING.fetch_sub(1, Ordering::AcqRel);
            }
            return None;
        }
        // A background request polls less often (a kill wakes it).
        crate::task::sched::sleep_ticks(if urgent { 1 } else { BACKGROUND_POLL_TICKS });
    }
    if urgent {
        WAITING.fetch_sub(1, Ordering::AcqRel);
    }
    let r = f();
    MODEL_TURN.store(0, Ordering::Release);
    if !urgent && WAITING.load(Ordering::Acquire) > 0 {
        crate::task::sched::wake_console();
    }
    Some(r)
}

/// Prints a command's error.
pub fn error_line(msg: impl core::fmt::Display) {
    println!("{} {msg}", paint(Style::Red, "error:"));
}

/// Runs one console line typed by the person.
pub fn execute(line: &str) {
    match classify(line) {
        Input::Empty => {}
        Input::Text(text) => {
            let entered = crate::time::uptime();
            model_turn(Turn::Console, || {
                crate::model::chat::user_line(text, entered)
            });
        }
        Input::Command { name, args } => {
            let t0 = crate::time::uptime();
            match REGISTRY.parse_command(name, args, test_commands()) {
                Ok(inv) => {
                    let (r, _) = if needs_model(inv.name()) {
                        model_turn(Turn::Console, || registry::run_on_console(&inv))
                            .expect("the console always gets its turn")
                    } else {
                        registry::run_on_console(&inv)
                    };
                    if let Err(e) = &r {
                        error_line(e);
                    }
                    let us = (crate::time::uptime() - t0).as_micros() as u64;
                    crate::agent::audit_person(line.trim(), Some(&inv), r, us);
                }
                Err(e) => {
                    crate::agent::audit_person(line.trim(), None, Err(alloc::format!("{e}")), 0);
                    error_line(e);
                }
            }
        }
    }
}
