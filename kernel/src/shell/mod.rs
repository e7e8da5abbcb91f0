//! The console shell: reads lines, runs `/commands` from the registry in
//! [`commands`], and answers other lines (which will go to the model once
//! one is loaded).

pub mod commands;

use crate::console::style::{paint, Style};
use crate::{console, println};
use core::sync::atomic::{AtomicBool, Ordering};
use klib::command::{classify, resolve, Input, Resolved};

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
    loop {
        let prompt = paint(Style::BoldGreen, PROMPT);
        let prompt = alloc::format!("{prompt}");
        if let Some(line) = console::read_line(&prompt) {
            execute(&line);
        }
    }
}

/// Runs one console line.
pub fn execute(line: &str) {
    match classify(line) {
        Input::Empty => {}
        Input::Text(text) => crate::model::chat::user_line(text),
        Input::Command { name, args } => {
            match resolve(&commands::COMMANDS, name, args, test_commands()) {
                Resolved::Run { command, arg } => (command.handler)(arg),
                Resolved::BadArgs { command } => {
                    println!("{} usage: {}", paint(Style::Red, "error:"), command.usage())
                }
                Resolved::Unknown { suggestion } => {
                    let hint = match suggestion {
                        Some(s) => alloc::format!(" (did you mean /{s}?)"),
                        None => alloc::string::String::new(),
                    };
                    println!(
                        "{} unknown command /{name}{hint}; type /help for the list",
                        paint(Style::Red, "error:")
                    )
                }
            }
        }
    }
}
