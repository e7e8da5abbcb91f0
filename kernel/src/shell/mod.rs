//! The console shell: reads lines, runs `/commands` through the registry
//! ([`registry`]), and gives other lines to the model.

pub mod commands;
pub mod registry;

use crate::console::style::{paint, Style};
use crate::{console, println};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
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

/// Who takes the model's turn.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Turn {
    /// The console, for a message to the model or a model command.
    Console = 1,
    /// A job running a model command.
    Job = 2,
}

/// Whether the command `name` uses the model (its handler is one of the
/// model's): such commands never run while the model answers.
pub fn needs_model(name: &str) -> bool {
    crate::model::commands::HANDLERS
        .iter()
        .any(|(n, _)| *n == name)
}

/// Runs `f` with the model's turn: the engine has one context, so the
/// console's messages and model commands and the jobs' model commands take
/// turns, each waiting (asleep) while another holds it. A job that is
/// killed while waiting gives up (`None`).
pub fn model_turn<R>(who: Turn, f: impl FnOnce() -> R) -> Option<R> {
    while MODEL_TURN
        .compare_exchange(0, who as u8, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        if who == Turn::Job && crate::task::sched::killed() {
            return None;
        }
        crate::task::sched::sleep_ticks(1);
    }
    let r = f();
    MODEL_TURN.store(0, Ordering::Release);
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
            model_turn(Turn::Console, || crate::model::chat::user_line(text));
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
