//! The console's line editor fed arbitrary bytes (control characters,
//! broken and overlong escape sequences, invalid UTF-8, overlong lines).
//! After every byte: the cursor lies in the line, the line is within
//! `MAX_LINE`, holds no control character, and the echo of one byte is
//! bounded (a redraw of one line at most, never unbounded output).
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
    for &b in data {
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
        let line = ed.line();
        check_line(&line);
        assert!(ed.cursor() <= line.chars().count());
    }
    out.clear();
    let _ = ed.cancel(&mut out);
    assert!(ed.line().is_empty() && ed.cursor() == 0);
});
