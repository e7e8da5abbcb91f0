//! The console's line editor fed arbitrary bytes (control characters,
//! broken and overlong escape sequences, invalid UTF-8, overlong lines).
//! After every byte the echo of that byte is bounded (a redraw of one line
//! at most, never unbounded output) and the cursor within `MAX_LINE`; every
//! 16 bytes, at every event and at the end, the whole line is checked: the
//! cursor lies in it, it is within `MAX_LINE` and holds no control
//! character. (Checking the whole line after every byte made long inputs
//! quadratic: a copy of a line of up to 4096 characters per byte.)
#![no_main]

use klib::line_editor::{Event, LineEditor, MAX_LINE};
use libfuzzer_sys::fuzz_target;

/// Echo of one byte at most: one line redrawn (4 bytes per character at
/// most, twice: erase and rewrite) plus a few escape sequences.
const MAX_ECHO: usize = 2 * 4 * MAX_LINE + 64;

fn check_line(line: &str) {
    assert!(
        line.chars().count() <= MAX_LINE,
        "line of {} chars",
        line.chars().count()
    );
    assert!(
        !line
            .chars()
            .any(|c| c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c)),
        "control character in {line:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut ed = LineEditor::new();
    let mut out = String::new();
    for (i, &b) in data.iter().enumerate() {
        out.clear();
        match ed.feed(b, &mut out) {
            Some(Event::Line(line)) => check_line(&line),
            Some(Event::Cancelled) | None => {}
        }
        assert!(
            out.len() <= MAX_ECHO,
            "echo of {} bytes for one byte",
            out.len()
        );
        assert!(ed.cursor() <= MAX_LINE);
        if i % 16 == 15 || i + 1 == data.len() {
            let line = ed.line();
            check_line(&line);
            assert!(ed.cursor() <= line.chars().count());
        }
    }
    out.clear();
    let _ = ed.cancel(&mut out);
    assert!(ed.line().is_empty() && ed.cursor() == 0);
});
