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
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use klib::line_editor::{Event, LineEditor};
use spin::{Mutex, MutexGuard};

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

/// When a key last came at the shell's prompt (microseconds of uptime).
static LAST_KEY_US: AtomicU64 = AtomicU64::new(0);

fn key_typed() {
    LAST_KEY_US.store(crate::time::uptime().as_micros() as u64, Ordering::Relaxed);
}

fn since_key() -> core::time::Duration {
    let at = core::time::Duration::from_micros(LAST_KEY_US.load(Ordering::Relaxed));
    crate::time::uptime().saturating_sub(at)
}

/// Whether the read-ahead step in progress reads the whole line (its last
/// word and the assistant header too), not only what the next keys cannot
/// change.
static STEP_WHOLE: AtomicBool = AtomicBool::new(false);
/// Whether a key typed during the read-ahead step in progress may have
/// changed what it reads: any key during a whole-line step, and during
/// another one any key but a character added at the end of the line.
static STEP_CHANGED: AtomicBool = AtomicBool::new(false);

/// Says what the read-ahead step about to run reads (see [`STEP_WHOLE`]).
pub fn reading_ahead(whole: bool) {
    STEP_WHOLE.store(whole, Ordering::Relaxed);
}

/// Asked before every layer of a step that reads the message ahead (see
/// [`read_line_with`]): echoes the keys typed meanwhile that only edit
/// the line (printable ASCII, backspace), and says to stop for any other
/// (Ctrl-C, an escape sequence, other text), when another taker waits for
/// the model, or when text waits to be shown above the prompt (a
/// reminder). Enter stops it only if a key may have changed what it reads
/// ([`STEP_CHANGED`]): else the step reads tokens of the very message
/// sent, and ends first.
pub fn keys_while_reading_ahead() -> bool {
    if crate::shell::others_wait() || ABOVE.try_lock().is_none_or(|a| !a.is_empty()) {
        return true;
    }
    crate::drivers::xhci::poll();
    let Some(mut editor) = EDITOR.try_lock() else {
        return key_pending();
    };
    loop {
        let (b, serial_first) = match serial::peek_byte() {
            Some(b) => (b, true),
            None => match input::peek_byte() {
                Some(b) => (b, false),
                None => break,
            },
        };
        if matches!(b, b'\r' | b'\n') {
            return STEP_CHANGED.load(Ordering::Relaxed);
        }
        if !matches!(b, 0x20..=0x7e | 0x7f | 0x08) {
            return true;
        }
        let appended = (0x20..=0x7e).contains(&b) && editor.cursor() == editor.line().len();
        if STEP_WHOLE.load(Ordering::Relaxed) || !appended {
            STEP_CHANGED.store(true, Ordering::Relaxed);
        }
        let _ = if serial_first {
            serial::read_byte()
        } else {
            input::read_byte()
        };
        key_typed();
        // Such a key neither ends nor cancels the line.
        let _ = editor.feed(b, &mut Raw);
    }
    screen::flush_if_due();
    false
}

/// A pause in typing after which the shell's prompt reads the message
/// being typed ahead (`model::chat::read_ahead`): not between the keys of
/// a line typed or pasted at once.
const READ_AHEAD_PAUSE: core::time::Duration = core::time::Duration::from_millis(50);
/// A pause after which the whole line is read, as if Enter came next.
const READ_WHOLE_PAUSE: core::time::Duration = core::time::Duration::from_millis(600);

/// [`read_line`] that also shows what other tasks queued with
/// [`print_above`] while waiting, when `above` is set: that is the shell's
/// prompt, which also reads the message being typed ahead while typing
/// pauses.
pub fn read_line_with(prompt: &str, above: bool) -> Option<String> {
    print!("{prompt}");
    let mut editor = EDITOR.lock();
    // The message being typed is read ahead only once typing pauses.
    key_typed();
    loop {
        // Interrupts off between "nothing pending" and `hlt`, so a byte
        // arriving in between still wakes us (sti; hlt is atomic). Keys
        // come from the serial line and the keyboards alike.
        crate::drivers::xhci::poll();
        x86_64::instructions::interrupts::disable();
        match serial::read_byte().or_else(input::read_byte) {
            Some(b) => {
                x86_64::instructions::interrupts::enable();
                key_typed();
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
                    continue;
                }
                if crate::shell::lend_turn_at_prompt() {
                    // The console holds the model's turn (a confirmation):
                    // a background request took a step meanwhile.
                    continue;
                }
                if above && since_key() >= READ_AHEAD_PAUSE {
                    let stepped;
                    (editor, stepped) = read_ahead_step(editor);
                    if stepped {
                        continue;
                    }
                }
                if crate::task::sched::started() {
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

/// At the shell's prompt, typing paused: one step of the model reading the
/// message being typed ahead (`model::chat::read_ahead`). The editor is
/// unlocked during the step, so that keys which edit the line are echoed
/// meanwhile ([`keys_while_reading_ahead`]). Returns the editor and
/// whether a step was taken.
fn read_ahead_step(
    editor: MutexGuard<'static, LineEditor>,
) -> (MutexGuard<'static, LineEditor>, bool) {
    let line = editor.line();
    drop(editor);
    STEP_CHANGED.store(false, Ordering::Relaxed);
    let stepped = crate::model::chat::read_ahead(&line, since_key() >= READ_WHOLE_PAUSE);
    (EDITOR.lock(), stepped)
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
