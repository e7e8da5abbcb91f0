//! The console: formatted output (with `\n` sent as CR LF) to two sinks,
//! the serial line and the screen ([`screen`]), colours that can be
//! switched off, line input through the line editor, and Ctrl-C polling
//! for long-running work.

pub mod input;
pub mod keymap;
pub mod logger;
pub mod screen;
pub mod style;

use crate::drivers::serial;
use alloc::string::String;
use core::fmt::{self, Write};
use klib::line_editor::{Event, LineEditor};
use spin::Mutex;

/// Writes text to the console, turning `\n` into CR LF.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                emit("\r\n");
            }
            emit(part);
        }
        Ok(())
    }
}

/// The same bytes to both sinks.
fn emit(s: &str) {
    if s.is_empty() {
        return;
    }
    serial::write(s.as_bytes());
    screen::write(s);
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _ = Console.write_fmt(args);
}

/// Like `std::print!`, to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

/// Like `std::println!`, to the serial console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}

/// Editor echo goes out unchanged (it writes its own CR LF).
struct Raw;

impl Write for Raw {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        emit(s);
        Ok(())
    }
}

static EDITOR: Mutex<LineEditor> = Mutex::new(LineEditor::new());

/// Prints `prompt` and reads one line, with editing and history. Returns
/// `None` if the line was abandoned with Ctrl-C. Sleeps (hlt) while no
/// input is pending.
pub fn read_line(prompt: &str) -> Option<String> {
    read_line_with(prompt, false)
}

/// Text waiting to be shown above the prompt (job output, reminders),
/// written by other tasks at any time and shown by the console task
/// while it waits for keys at the prompt.
static ABOVE: Mutex<String> = Mutex::new(String::new());

/// Queues `text` to be printed above the prompt, with the line being
/// edited redrawn below it, as soon as the console is at its prompt (now,
/// if it is). Safe from any task; not from interrupt handlers.
pub fn print_above(text: &str) {
    if text.is_empty() {
        return;
    }
    ABOVE.lock().push_str(text);
    crate::task::sched::wake_console();
}

fn take_above() -> Option<String> {
    let mut above = ABOVE.lock();
    (!above.is_empty()).then(|| core::mem::take(&mut *above))
}

/// [`read_line`] that also shows what other tasks queued with
/// [`print_above`] while waiting, when `above` is set.
pub fn read_line_with(prompt: &str, above: bool) -> Option<String> {
    print!("{prompt}");
    let mut editor = EDITOR.lock();
    loop {
        // Interrupts off between "nothing pending" and `hlt`, so a byte
        // arriving in between still wakes us (sti; hlt is atomic). Keys
        // come from the serial line and the keyboards alike.
        crate::drivers::xhci::poll();
        x86_64::instructions::interrupts::disable();
        match serial::read_byte().or_else(input::read_byte) {
            Some(b) => {
                x86_64::instructions::interrupts::enable();
                match editor.feed(b, &mut Raw) {
                    Some(Event::Line(line)) => return Some(line),
                    Some(Event::Cancelled) => return None,
                    None => {}
                }
            }
            // Nothing typed: draw what is waiting before sleeping.
            None if screen::pending() => {
                x86_64::instructions::interrupts::enable();
                screen::flush();
            }
            None => {
                x86_64::instructions::interrupts::enable();
                if let Some(text) = above.then(take_above).flatten() {
                    editor.print_above(prompt, &text, &mut Raw);
                } else if crate::shell::lend_turn_at_prompt() {
                    // The console holds the model's turn (a confirmation):
                    // a background request took a step meanwhile.
                } else if crate::task::sched::started() {
                    // Until the next tick (USB keyboards are polled) or a
                    // key's interrupt wakes us; other tasks run meanwhile.
                    x86_64::instructions::interrupts::disable();
                    if key_pending() {
                        x86_64::instructions::interrupts::enable();
                    } else {
                        crate::task::sched::sleep_ticks(1);
                        x86_64::instructions::interrupts::enable();
                    }
                } else {
                    // Halted time counts as idle in the CPU's tick accounting.
                    let me = crate::arch::x86_64::percpu::current();
                    x86_64::instructions::interrupts::disable();
                    me.sleeping.store(1, core::sync::atomic::Ordering::Relaxed);
                    x86_64::instructions::interrupts::enable_and_hlt();
                    me.sleeping.store(0, core::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }
}

/// Whether a key (serial or PS/2) waits to be read.
pub fn key_pending() -> bool {
    serial::pending() || input::pending()
}

/// For long-running work (e.g. streaming tokens): whether the user pressed
/// Ctrl-C since the last call. Typed-ahead input stays queued for the next
/// [`read_line`]; the Ctrl-C itself is consumed.
///
/// In a task other than the console's, it says whether the task was asked
/// to stop (`/kill`) instead: only the console reads the keys.
pub fn interrupted() -> bool {
    if !crate::task::sched::on_console() {
        return crate::task::sched::killed();
    }
    crate::drivers::xhci::poll();
    screen::flush_if_due();
    serial::take_ctrl_c() | input::take_ctrl_c()
}

/// How long ago the last Ctrl-C arrived (serial line or keyboard), for
/// figures such as "stopped N ms after the key"; `None` if none has.
pub fn since_ctrl_c() -> Option<core::time::Duration> {
    let at = serial::last_ctrl_c_us().max(input::last_ctrl_c_us());
    (at != 0).then(|| crate::time::uptime().saturating_sub(core::time::Duration::from_micros(at)))
}
