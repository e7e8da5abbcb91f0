//! A line editor for a serial terminal: it is fed the bytes typed, one at a
//! time, echoes and redraws with ANSI/VT100 sequences, and hands back whole
//! lines.
//!
//! Keys: printable text (UTF-8) inserts at the cursor; Backspace (0x7f or
//! 0x08) and Delete (`ESC [ 3 ~`) erase; Left/Right (`ESC [ D`/`C`),
//! Home/End (`ESC [ H`/`F`, `ESC [ 1~`/`4~`, Ctrl-A/Ctrl-E) move; Ctrl-U
//! erases to the start of the line, Ctrl-K to its end, Ctrl-W the word
//! before the cursor; Up/Down browse the history; Enter (CR, LF or CR LF)
//! ends the line; Ctrl-C (0x03) abandons it.
//!
//! Any other byte sequence — unknown escapes, stray control bytes, invalid
//! UTF-8 — is dropped without effect: garbage on the line can not wedge it.
//!
//! Redraws move the cursor relatively only (no absolute positions), so the
//! editor does not need to know the prompt or the terminal's size.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Longest line accepted, in characters; further input rings the bell.
pub const MAX_LINE: usize = 4096;
/// Lines kept in the history.
pub const HISTORY: usize = 64;
/// Longest escape sequence accepted before it is dropped as garbage.
const MAX_ESCAPE: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Enter was pressed; the line (possibly empty).
    Line(String),
    /// Ctrl-C: the line was abandoned.
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// Got ESC.
    Start,
    /// Got `ESC [`, then `len` parameter/intermediate bytes; `param` is the
    /// first numeric parameter (complete once `first_done`).
    Csi {
        param: u16,
        first_done: bool,
        len: usize,
    },
    /// An overlong sequence: dropped up to its final byte.
    Discard,
    /// Got `ESC O`.
    Ss3,
}

/// Incremental UTF-8 decoder.
#[derive(Clone, Copy, Debug, Default)]
struct Utf8 {
    code: u32,
    need: u8,
    min: u32,
}

impl Utf8 {
    /// Feeds one byte >= 0x80; returns a completed char.
    fn feed(&mut self, b: u8) -> Option<char> {
        match b {
            0x80..=0xbf if self.need > 0 => {
                self.code = (self.code << 6) | (b & 0x3f) as u32;
                self.need -= 1;
                if self.need == 0 && self.code >= self.min {
                    return char::from_u32(self.code);
                }
                None
            }
            0xc2..=0xdf => self.start(b & 0x1f, 1, 0x80),
            0xe0..=0xef => self.start(b & 0x0f, 2, 0x800),
            0xf0..=0xf4 => self.start(b & 0x07, 3, 0x10000),
            _ => {
                self.need = 0;
                None
            }
        }
    }

    fn start(&mut self, bits: u8, need: u8, min: u32) -> Option<char> {
        *self = Utf8 {
            code: bits as u32,
            need,
            min,
        };
        None
    }

    fn reset(&mut self) {
        self.need = 0;
    }
}

pub struct LineEditor {
    buf: Vec<char>,
    cursor: usize,
    history: VecDeque<String>,
    /// Index into `history` while browsing it with Up/Down.
    browsing: Option<usize>,
    /// The line being typed when browsing started.
    draft: Vec<char>,
    escape: Escape,
    utf8: Utf8,
    /// The previous byte was CR: a following LF belongs to the same Enter.
    after_cr: bool,
    /// Characters were refused because the line was full: Enter says so.
    cut: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        LineEditor {
            buf: Vec::new(),
            cursor: 0,
            history: VecDeque::new(),
            browsing: None,
            draft: Vec::new(),
            escape: Escape::None,
            utf8: Utf8 {
                code: 0,
                need: 0,
                min: 0,
            },
            after_cr: false,
            cut: false,
        }
    }

    /// The line as typed so far.
    pub fn line(&self) -> String {
        self.buf.iter().collect()
    }

    /// Cursor position, in characters from the start of the line.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Abandons the current line as Ctrl-C does (for a Ctrl-C that arrives
    /// out of band, e.g. flagged by the receive interrupt).
    pub fn cancel(&mut self, out: &mut impl Write) -> Event {
        let _ = out.write_str("^C\r\n");
        self.reset_line();
        Event::Cancelled
    }

    /// Feeds one received byte, writing the echo to `out`.
    pub fn feed(&mut self, byte: u8, out: &mut impl Write) -> Option<Event> {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        // Escape sequences. A byte that can not continue the sequence ends
        // it and is then handled as a byte of its own, so a broken sequence
        // can never swallow an Enter.
        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match byte {
                    b'[' => Escape::Csi {
                        param: 0,
                        first_done: false,
                        len: 0,
                    },
                    b'O' => Escape::Ss3,
                    _ => Escape::None,
                };
                if self.escape != Escape::None {
                    return None;
                }
            }
            Escape::Csi {
                param,
                first_done,
                len,
            } => match byte {
                0x20..=0x3f if len >= MAX_ESCAPE => {
                    self.escape = Escape::Discard;
                    return None;
                }
                b'0'..=b'9' if !first_done => {
                    let param = param
                        .saturating_mul(10)
                        .saturating_add((byte - b'0') as u16);
                    self.escape = Escape::Csi {
                        param,
                        first_done,
                        len: len + 1,
                    };
                    return None;
                }
                0x20..=0x3f => {
                    self.escape = Escape::Csi {
                        param,
                        first_done: true,
                        len: len + 1,
                    };
                    return None;
                }
                0x40..=0x7e => {
                    self.escape = Escape::None;
                    self.csi(param, byte, out);
                    return None;
                }
                _ => self.escape = Escape::None,
            },
            Escape::Discard => match byte {
                0x20..=0x3f => return None,
                0x40..=0x7e => {
                    self.escape = Escape::None;
                    return None;
                }
                _ => self.escape = Escape::None,
            },
            Escape::Ss3 => {
                self.escape = Escape::None;
                if (0x40..=0x7e).contains(&byte) {
                    self.csi(0, byte, out);
                    return None;
                }
            }
        }

        if byte >= 0x80 {
            if let Some(c) = self.utf8.feed(byte) {
                self.insert(c, out);
            }
            return None;
        }
        self.utf8.reset();

        match byte {
            b'\r' => {
                self.after_cr = true;
                Some(self.enter(out))
            }
            b'\n' if after_cr => None,
            b'\n' => Some(self.enter(out)),
            0x03 => Some(self.cancel(out)),
            0x1b => {
                self.escape = Escape::Start;
                None
            }
            0x7f | 0x08 => {
                self.backspace(out);
                None
            }
            0x01 => {
                self.move_to(0, out);
                None
            }
            0x05 => {
                self.move_to(self.buf.len(), out);
                None
            }
            0x02 => {
                self.move_to(self.cursor.saturating_sub(1), out);
                None
            }
            0x06 => {
                self.move_to((self.cursor + 1).min(self.buf.len()), out);
                None
            }
            0x0b => {
                self.buf.truncate(self.cursor);
                if self.buf.is_empty() {
                    self.cut = false;
                }
                let _ = out.write_str("\x1b[K");
                None
            }
            0x15 => {
                self.erase_before(0, out);
                None
            }
            0x17 => {
                let mut start = self.cursor;
                while start > 0 && self.buf[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.buf[start - 1] != ' ' {
                    start -= 1;
                }
                self.erase_before(start, out);
                None
            }
            0x20..=0x7e => {
                self.insert(byte as char, out);
                None
            }
            // Other control bytes (NUL, Tab, Ctrl-D, ...) do nothing.
            _ => None,
        }
    }

    fn csi(&mut self, param: u16, fin: u8, out: &mut impl Write) {
        match (fin, param) {
            (b'A', _) => self.history_up(out),
            (b'B', _) => self.history_down(out),
            (b'C', _) => self.move_to((self.cursor + 1).min(self.buf.len()), out),
            (b'D', _) => self.move_to(self.cursor.saturating_sub(1), out),
            (b'H', _) | (b'~', 1) | (b'~', 7) => self.move_to(0, out),
            (b'F', _) | (b'~', 4) | (b'~', 8) => self.move_to(self.buf.len(), out),
            (b'~', 3) => self.delete(out),
            _ => {}
        }
    }

    fn enter(&mut self, out: &mut impl Write) -> Event {
        let _ = out.write_str("\r\n");
        if self.cut {
            let _ = write!(
                out,
                "(the line was cut at {MAX_LINE} characters: the rest was not taken)\r\n"
            );
        }
        let line = self.line();
        if !line.trim().is_empty() && self.history.back() != Some(&line) {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(line.clone());
        }
        self.reset_line();
        Event::Line(line)
    }

    fn reset_line(&mut self) {
        self.cut = false;
        self.buf.clear();
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        self.escape = Escape::None;
        self.utf8.reset();
    }

    fn insert(&mut self, c: char, out: &mut impl Write) {
        if c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c) {
            return;
        }
        if self.buf.len() >= MAX_LINE {
            self.cut = true;
            let _ = out.write_char('\x07');
            return;
        }
        self.buf.insert(self.cursor, c);
        self.cursor += 1;
        self.write_from(self.cursor - 1, out);
        left(self.buf.len() - self.cursor, out);
    }

    fn backspace(&mut self, out: &mut impl Write) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        self.buf.remove(self.cursor);
        let _ = out.write_char('\x08');
        self.redraw_tail(out);
    }

    fn delete(&mut self, out: &mut impl Write) {
        if self.cursor < self.buf.len() {
            self.buf.remove(self.cursor);
            self.redraw_tail(out);
        }
    }

    /// Erases `[start, cursor)`.
    fn erase_before(&mut self, start: usize, out: &mut impl Write) {
        if start == self.cursor {
            return;
        }
        left(self.cursor - start, out);
        self.buf.drain(start..self.cursor);
        self.cursor = start;
        // Text that was not taken belongs to a line no longer there.
        if self.buf.is_empty() {
            self.cut = false;
        }
        self.redraw_tail(out);
    }

    /// Rewrites the line from the cursor to its end, clears what is left of
    /// the old text and puts the cursor back.
    fn redraw_tail(&mut self, out: &mut impl Write) {
        self.write_from(self.cursor, out);
        let _ = out.write_str("\x1b[K");
        left(self.buf.len() - self.cursor, out);
    }

    fn write_from(&self, from: usize, out: &mut impl Write) {
        for &c in &self.buf[from..] {
            let _ = out.write_char(c);
        }
    }

    fn move_to(&mut self, pos: usize, out: &mut impl Write) {
        if pos < self.cursor {
            left(self.cursor - pos, out);
        } else if pos > self.cursor {
            let _ = write!(out, "\x1b[{}C", pos - self.cursor);
        }
        self.cursor = pos;
    }

    /// Replaces the whole line (history browsing).
    fn replace(&mut self, with: Vec<char>, out: &mut impl Write) {
        left(self.cursor, out);
        self.buf = with;
        self.cursor = 0;
        self.write_from(0, out);
        self.cursor = self.buf.len();
        let _ = out.write_str("\x1b[K");
    }

    fn history_up(&mut self, out: &mut impl Write) {
        let idx = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.buf.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.browsing = Some(idx);
        let line = self.history[idx].chars().collect();
        self.replace(line, out);
    }

    fn history_down(&mut self, out: &mut impl Write) {
        let Some(i) = self.browsing else { return };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            let line = self.history[i + 1].chars().collect();
            self.replace(line, out);
        } else {
            self.browsing = None;
            let draft = core::mem::take(&mut self.draft);
            self.replace(draft, out);
        }
    }
}

fn left(n: usize, out: &mut impl Write) {
    if n > 0 {
        let _ = write!(out, "\x1b[{n}D");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A one-line terminal: interprets exactly the sequences the editor
    /// emits, so tests can check what the user sees.
    #[derive(Default)]
    struct Screen {
        line: Vec<char>,
        col: usize,
        done: Vec<String>,
    }

    impl Screen {
        fn apply(&mut self, s: &str) {
            let mut chars = s.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\r' => self.col = 0,
                    '\n' => {
                        self.done.push(self.line.iter().collect());
                        self.line.clear();
                    }
                    '\x08' => self.col = self.col.checked_sub(1).expect("backspace at col 0"),
                    '\x07' => {}
                    '\x1b' => {
                        assert_eq!(chars.next(), Some('['));
                        let mut n = String::new();
                        while let Some(d) = chars.next_if(|c| c.is_ascii_digit()) {
                            n.push(d);
                        }
                        let n: usize = n.parse().unwrap_or(1);
                        match chars.next().unwrap() {
                            'D' => self.col = self.col.checked_sub(n).expect("left past col 0"),
                            'C' => self.col += n,
                            'K' => self.line.truncate(self.col),
                            other => panic!("unexpected sequence ending {other}"),
                        }
                    }
                    c => {
                        assert!(!c.is_control(), "raw control char {c:?} echoed");
                        if self.col < self.line.len() {
                            self.line[self.col] = c;
                        } else {
                            while self.line.len() < self.col {
                                self.line.push(' ');
                            }
                            self.line.push(c);
                        }
                        self.col += 1;
                    }
                }
            }
        }
    }

    struct Harness {
        ed: LineEditor,
        screen: Screen,
        events: Vec<Event>,
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                ed: LineEditor::new(),
                screen: Screen::default(),
                events: vec![],
            }
        }

        fn type_bytes(&mut self, bytes: &[u8]) {
            for &b in bytes {
                let mut out = String::new();
                if let Some(e) = self.ed.feed(b, &mut out) {
                    self.events.push(e);
                }
                self.screen.apply(&out);
                // What the user sees always matches the buffer.
                let shown: String = self.screen.line.iter().collect();
                assert_eq!(
                    shown.trim_end(),
                    self.ed.line().trim_end(),
                    "after byte {b:#x}"
                );
                assert_eq!(
                    self.screen.col,
                    self.ed.cursor(),
                    "cursor after byte {b:#x}"
                );
            }
        }

        fn lines(&self) -> Vec<String> {
            self.events
                .iter()
                .filter_map(|e| match e {
                    Event::Line(l) => Some(l.clone()),
                    Event::Cancelled => None,
                })
                .collect()
        }
    }

    #[test]
    fn plain_lines_with_any_line_ending() {
        let mut h = Harness::new();
        h.type_bytes(b"/help\r/mem\n/cpu\r\n/uptime\n\r");
        assert_eq!(h.lines(), ["/help", "/mem", "/cpu", "/uptime", ""]);
        assert_eq!(h.screen.done, ["/help", "/mem", "/cpu", "/uptime", ""]);
    }

    #[test]
    fn backspace_and_ctrl_u() {
        let mut h = Harness::new();
        h.type_bytes(b"/mex\x7fm\r");
        h.type_bytes(b"garbage\x15/cpu\r");
        h.type_bytes(b"\x08\x7f/ab\x08\x08\x08\x08\x08/up\r");
        assert_eq!(h.lines(), ["/mem", "/cpu", "/up"]);
    }

    #[test]
    fn cursor_movement_and_mid_line_edits() {
        let mut h = Harness::new();
        // "/cu", Left, "p" -> "/cpu"
        h.type_bytes(b"/cu\x1b[Dp\r");
        // Home, Delete, End; Ctrl-A/Ctrl-E; Left past the start is harmless.
        h.type_bytes(b"x/mem\x1b[H\x1b[3~\x1b[F!\x7f\r");
        h.type_bytes(b"ime\x01/upt\x05\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x1b[C\x1b[C\x1b[C\x1b[C\r");
        // Ctrl-K cuts the tail; Ctrl-W a word; SS3 arrows work too.
        h.type_bytes(b"/color off\x1bOD\x1bOD\x1bOD\x0b\x17/help\r");
        assert_eq!(h.lines(), ["/cpu", "/mem", "/uptime", "/help"]);
    }

    #[test]
    fn history_up_down_and_draft() {
        let mut h = Harness::new();
        h.type_bytes(b"/one\r/two\r/two\r");
        h.type_bytes(b"dra\x1b[A\x1b[A\x1b[A\x1b[B\r");
        // Up twice: "/two" (deduplicated) then "/one"; Up at the oldest
        // stays; Down: "/two".
        assert_eq!(h.lines().last().unwrap(), "/two");
        h.type_bytes(b"draft\x1b[A\x1b[B\r");
        assert_eq!(h.lines().last().unwrap(), "draft");
        // A recalled line can be edited.
        h.type_bytes(b"\x1b[A\x1b[A\x7f\x7f\x7fmem\r");
        assert_eq!(h.lines().last().unwrap(), "/mem");
        // Down without browsing does nothing.
        h.type_bytes(b"\x1b[Bx\r");
        assert_eq!(h.lines().last().unwrap(), "x");
    }

    #[test]
    fn history_is_bounded() {
        let mut h = Harness::new();
        for i in 0..HISTORY + 10 {
            h.type_bytes(alloc::format!("/c{i}\r").as_bytes());
        }
        assert_eq!(h.ed.history.len(), HISTORY);
        assert_eq!(h.ed.history.front().unwrap(), "/c10");
    }

    #[test]
    fn ctrl_c_abandons_the_line() {
        let mut h = Harness::new();
        h.type_bytes(b"/shutdown\x03/mem\r");
        assert_eq!(h.events, [Event::Cancelled, Event::Line("/mem".into())]);
        assert_eq!(h.screen.done[0], "/shutdown^C");
    }

    #[test]
    fn utf8_is_decoded_and_invalid_bytes_dropped() {
        let mut h = Harness::new();
        h.type_bytes("héllo wörld €𝄞".as_bytes());
        h.type_bytes(b"\xff\xc3\x28\xe2\x82\xc0\x80!\r");
        assert_eq!(h.lines(), ["héllo wörld €𝄞(!"]);
        // Backspace removes a whole character.
        h.type_bytes("é\x7fe\r".as_bytes());
        assert_eq!(h.lines().last().unwrap(), "e");
    }

    #[test]
    fn garbage_never_wedges_the_editor() {
        let mut h = Harness::new();
        // A deterministic pseudo-random byte soup, then a clean line.
        let mut x: u32 = 0x1234_5678;
        let mut soup = Vec::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let b = (x >> 8) as u8;
            // Keep Enter and Ctrl-C out so the soup stays on one line.
            if b != b'\r' && b != b'\n' && b != 0x03 {
                soup.push(b);
            }
        }
        h.type_bytes(&soup);
        assert!(h.ed.line().chars().count() <= MAX_LINE);
        h.type_bytes(b"\x03/mem\r");
        assert_eq!(h.lines().last().unwrap(), "/mem");
    }

    #[test]
    fn unknown_and_overlong_escapes_are_dropped() {
        let mut h = Harness::new();
        h.type_bytes(b"a\x1b[99;99Zb\x1b[1;5Cc\x1b[123456789012345678901234567890Xd\x1bxe\r");
        // ESC followed by a normal byte: the byte is kept.
        assert_eq!(h.lines(), ["abcdxe"]);
    }

    #[test]
    fn line_length_is_capped() {
        let mut h = Harness::new();
        let long = vec![b'a'; MAX_LINE + 100];
        h.type_bytes(&long);
        assert_eq!(h.ed.line().len(), MAX_LINE);
        h.type_bytes(b"\r");
        assert_eq!(h.lines()[0].len(), MAX_LINE);
        // Enter says that the line was cut; the next line is not.
        assert!(
            h.screen
                .done
                .iter()
                .any(|l| l.contains("the line was cut at 4096")),
            "{:?}",
            h.screen.done.last()
        );
        let noted = h.screen.done.len();
        h.type_bytes(b"short\r");
        assert_eq!(h.lines()[1], "short");
        assert_eq!(h.screen.done.len(), noted + 1);
        // A cut line erased with Ctrl-U is gone: no note for the next one.
        h.type_bytes(&long);
        h.type_bytes(b"\x15fresh\r");
        assert_eq!(h.lines()[2], "fresh");
        assert!(!h.screen.done.last().unwrap().contains("cut"));
        assert!(!h
            .screen
            .done
            .iter()
            .rev()
            .nth(1)
            .unwrap()
            .contains("the line was cut"));
    }
}
