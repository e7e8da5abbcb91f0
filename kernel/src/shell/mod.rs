//! The console shell: reads lines, runs `/commands` through the registry
//! ([`registry`]), and gives other lines to the model.

pub mod commands;
pub mod registry;
mod turn;

pub use turn::{
    idle_turn, lend_turn, lend_turn_at_prompt, model_turn, others_wait, steps_lent_at_prompt,
    turn_wanted, Turn, TOKENS_PER_LENT_STEP,
};

use crate::console::style::{paint, Style};
use crate::{console, println};
use core::sync::atomic::{AtomicBool, Ordering};
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

/// Whether the command `name` uses the model (its handler is one of the
/// model's): such commands never run while the model answers.
pub fn needs_model(name: &str) -> bool {
    crate::model::commands::HANDLERS
        .iter()
        .any(|(n, _)| *n == name)
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
