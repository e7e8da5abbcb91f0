//! The conversation on the serial console: the engine's
//! [`Io`](model_loader::conversation::Io) for the console, and what the
//! shell does with a line that is not a `/command`.

use crate::console::style::{self, paint, Style};
use crate::{console, print, println, time};
use alloc::format;
use alloc::string::String;
use core::time::Duration;
use model_loader::conversation::{ConvError, Io, Prepared};
use model_loader::model::ModelError;

/// Reply text to the console as it is generated; notices in yellow; a
/// prefill progress line (redrawn in place) for long prompts; Ctrl-C.
pub struct ConsoleIo {
    progress_shown: bool,
    last_progress: Duration,
    started: Duration,
    /// When the first reply text arrived (first-token latency).
    pub first_text: Option<Duration>,
    /// Whether the last text written ended a line.
    pub at_line_start: bool,
    /// Whether Ctrl-C stops the work (the progress line says so).
    pub cancellable: bool,
    /// Tokens generated since a step was last lent to a background
    /// request.
    since_lent: u32,
    /// Steps lent to a background request during this work.
    pub lent_steps: u32,
}

impl ConsoleIo {
    pub fn new() -> ConsoleIo {
        ConsoleIo {
            progress_shown: false,
            last_progress: Duration::ZERO,
            started: time::uptime(),
            first_text: None,
            at_line_start: true,
            cancellable: true,
            since_lent: 0,
            lent_steps: 0,
        }
    }

    /// Erases an open progress line.
    pub fn end_progress(&mut self) {
        if self.progress_shown {
            if style::enabled() {
                print!("\r\x1b[K");
            } else {
                print!("\r{:60}\r", "");
            }
            self.progress_shown = false;
        }
    }

    /// Ends the reply's line if it is open.
    pub fn newline(&mut self) {
        self.end_progress();
        if !self.at_line_start {
            println!();
            self.at_line_start = true;
        }
    }

    /// A dim statistics line.
    pub fn dim(&mut self, s: &str) {
        self.newline();
        println!("{}", paint(Style::Dim, format!("[{s}]")));
    }

    /// Time from the start to the first reply text.
    pub fn first_token_latency(&self) -> Option<Duration> {
        self.first_text.map(|t| t - self.started)
    }
}

impl Io for ConsoleIo {
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.end_progress();
        if self.first_text.is_none() {
            self.first_text = Some(time::uptime());
        }
        print!("{s}");
        self.at_line_start = s.ends_with('\n');
    }

    fn notice(&mut self, s: &str) {
        self.newline();
        println!("{}", paint(Style::Yellow, format!("[{s}]")));
    }

    fn progress(&mut self, done: usize, total: usize) {
        // Only prefills long enough to be noticed get a progress line.
        if total < 32 {
            return;
        }
        let now = time::uptime();
        if done >= total {
            self.end_progress();
            return;
        }
        if self.progress_shown && now - self.last_progress < Duration::from_millis(500) {
            return;
        }
        self.last_progress = now;
        if !self.at_line_start {
            println!();
            self.at_line_start = true;
        }
        print!(
            "\r{}",
            paint(
                Style::Dim,
                format!(
                    "[reading the prompt: {done}/{total} tokens, {}%{}]",
                    done * 100 / total,
                    if self.cancellable {
                        "; Ctrl-C stops"
                    } else {
                        ""
                    }
                )
            )
        );
        self.progress_shown = true;
    }

    fn interrupted(&mut self) -> bool {
        console::interrupted()
    }

    fn now_us(&mut self) -> u64 {
        time::uptime().as_micros() as u64
    }

    /// Every [`TOKENS_PER_LENT_STEP`](crate::shell::TOKENS_PER_LENT_STEP)
    /// tokens, a waiting background request gets one step.
    fn between_tokens(&mut self) {
        self.since_lent += 1;
        if self.since_lent >= crate::shell::TOKENS_PER_LENT_STEP && crate::shell::lend_turn() {
            self.since_lent = 0;
            self.lent_steps += 1;
        }
    }
}

/// For the console at its prompt, nothing typed for a moment: one step of
/// reading the message being typed (`line`) ahead
/// ([`Conversation::prepare`](model_loader::conversation::Conversation::prepare)),
/// when the model is idle: first what the next keys cannot change, then,
/// once typing has paused (`settled`), the whole line, as if Enter came
/// next. Returns whether it fed anything (or gave way to a key), so that
/// the caller looks at the keys again before sleeping.
pub fn read_ahead(line: &str, settled: bool) -> bool {
    let text = match klib::registry::classify(line) {
        // While typing, a space at the end says the last word is complete.
        klib::registry::Input::Text(_) => line.trim_start(),
        klib::registry::Input::Empty => "",
        // A command: nothing to read for the model.
        klib::registry::Input::Command { .. } => return false,
    };
    let stepped = crate::shell::idle_turn(|| {
        super::with(|m| {
            // (A text found ready costs nothing to ask about again.)
            let hook = Some(console::keys_while_reading_ahead as fn() -> bool);
            console::reading_ahead(false);
            let mut r = m.conv.prepare(text, false, hook);
            if settled && r == Ok(Prepared::Ready) {
                // Sent trimmed.
                console::reading_ahead(true);
                r = m.conv.prepare(text.trim_end(), true, hook);
            }
            r
        })
    });
    match stepped {
        Some(Ok(Ok(Prepared::Fed(_)))) => true,
        Some(Ok(Err(ConvError::Model(ModelError::Cancelled)))) => true,
        // Ready, no model, the model busy, or an error (the message
        // itself will meet it and say so).
        _ => false,
    }
}

/// Forgets Ctrl-Cs typed before the work started.
pub fn clear_interrupts() {
    while console::interrupted() {}
}

/// A console line that is not a command: one user turn. `entered`: when
/// the line was entered, so that the first-token latency includes any
/// wait for the model's turn (a background request's step).
pub fn user_line(text: &str, entered: Duration) {
    let r = super::with(|m| {
        clear_interrupts();
        let mut io = ConsoleIo::new();
        io.started = entered;
        let started = entered;
        let mut os = crate::agent::KernelOs { started };
        let handled = super::answering(m, |m| m.agent.handle(&mut m.conv, text, &mut io, &mut os));
        match handled {
            Ok(outcome) => {
                io.newline();
                if outcome.cancelled {
                    println!("{}", paint(Style::Yellow, "[cancelled]"));
                }
                let first = io
                    .first_token_latency()
                    .map(|t| format!(", first token after {:.1} s", t.as_secs_f64()))
                    .unwrap_or_default();
                let calls = match outcome.calls.len() {
                    0 => String::new(),
                    1 => String::from("1 call, "),
                    n => format!("{n} calls, "),
                };
                let last = outcome
                    .stats
                    .map(|s| format!("{}, ", s.summary()))
                    .unwrap_or_default();
                let lent = match io.lent_steps {
                    0 => String::new(),
                    n => format!("; {n} background steps in between"),
                };
                let ahead = match outcome.prepared {
                    0 => String::new(),
                    n => format!("; {n} message tokens read while you typed"),
                };
                io.dim(&format!(
                    "{calls}{last}{:.1} s in all{first}{ahead}{lent}",
                    (time::uptime() - started).as_secs_f64()
                ));
            }
            Err(ConvError::Interrupted) => {
                io.newline();
                println!(
                    "{}",
                    paint(
                        Style::Yellow,
                        "[interrupted while reading the prompt; the message was not added]"
                    )
                );
            }
            Err(e) => {
                io.newline();
                println!("{} {e}", paint(Style::Red, "error:"));
            }
        }
    });
    if let Err(why) = r {
        println!(
            "{why}. Lines without a leading / go to the language model; /help lists the commands."
        );
    }
}
