//! Where a command's output goes. A handler writes into an [`Output`]
//! given by the executor: every piece is shown to the person at once (the
//! `show` callback: the console in the kernel), and a bounded copy without
//! colour codes is kept for the model's tool-response turn and for the
//! audit log's record of the output size.

use alloc::string::String;
use core::fmt;

/// The output of one command.
pub struct Output<'a> {
    show: &'a mut dyn FnMut(&str),
    kept: String,
    limit: usize,
    total: usize,
    /// Inside an ANSI escape sequence (which may be split across writes).
    in_escape: Escape,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    No,
    /// After ESC.
    Start,
    /// After ESC `[`: parameters until a final byte.
    Csi,
}

impl<'a> Output<'a> {
    /// Shows text with `show` and keeps at most `limit` bytes of it.
    pub fn new(show: &'a mut dyn FnMut(&str), limit: usize) -> Output<'a> {
        Output {
            show,
            kept: String::new(),
            limit,
            total: 0,
            in_escape: Escape::No,
        }
    }

    /// The kept copy: the first `limit` bytes of the text (whole
    /// characters), colour codes removed.
    pub fn kept(&self) -> &str {
        &self.kept
    }

    /// Bytes of text written (colour codes not counted).
    pub fn total(&self) -> usize {
        self.total
    }

    /// Whether more was written than kept.
    pub fn truncated(&self) -> bool {
        self.total > self.kept.len()
    }

    fn keep(&mut self, c: char) {
        self.in_escape = match (self.in_escape, c) {
            (Escape::No, '\u{1b}') => Escape::Start,
            (Escape::Start, '[') => Escape::Csi,
            (Escape::Start, _) => Escape::No,
            (Escape::Csi, '\u{40}'..='\u{7e}') => Escape::No,
            (Escape::Csi, _) => Escape::Csi,
            (Escape::No, c) => {
                self.total += c.len_utf8();
                if self.kept.len() + c.len_utf8() <= self.limit
                    && self.kept.len() == self.total - c.len_utf8()
                {
                    self.kept.push(c);
                }
                Escape::No
            }
        };
    }
}

impl fmt::Write for Output<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        (self.show)(s);
        for c in s.chars() {
            self.keep(c);
        }
        Ok(())
    }
}

/// `outln!(out, ...)`: a line into an [`Output`] (or any `fmt::Write`).
#[macro_export]
macro_rules! outln {
    ($out:expr) => {{ let _ = core::fmt::Write::write_str($out, "\n"); }};
    ($out:expr, $($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt($out, format_args!("{}\n", format_args!($($arg)*)));
    }};
}

/// `out!(out, ...)`: text into an [`Output`] (or any `fmt::Write`).
#[macro_export]
macro_rules! out {
    ($out:expr, $($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt($out, format_args!($($arg)*));
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn shows_everything_keeps_a_clean_bounded_copy() {
        let mut shown = String::new();
        let mut show = |s: &str| shown.push_str(s);
        let mut out = Output::new(&mut show, 10);
        crate::out!(&mut out, "\u{1b}[1;3");
        crate::out!(&mut out, "2mok\u{1b}[0m ");
        crate::outln!(&mut out, "é{}", 12345678);
        assert_eq!(out.kept(), "ok é12345");
        assert_eq!(out.total(), 14);
        assert!(out.truncated());
        drop(out);
        assert_eq!(shown, "\u{1b}[1;32mok\u{1b}[0m é12345678\n");
    }
}
