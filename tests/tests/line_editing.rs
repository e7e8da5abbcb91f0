//! Line editing over the serial line, robustness against garbage bytes,
//! and Ctrl-C reaching code that streams output.

mod common;

use common::{config, line_with};
use klib::qemu_exit::ExitCode;
use qemu_tests::machine::COMMAND_TIMEOUT;
use qemu_tests::{Firmware, Machine};
use std::time::Duration;

const LEFT: &str = "\x1b[D";
const RIGHT: &str = "\x1b[C";
const UP: &str = "\x1b[A";
const DOWN: &str = "\x1b[B";
const HOME: &str = "\x1b[H";
const DELETE: &str = "\x1b[3~";

/// Types `keys` then Enter; returns the answer.
fn typed(m: &mut Machine, keys: &str) -> String {
    m.send(keys.as_bytes());
    m.send(b"\r");
    m.answer(COMMAND_TIMEOUT)
}

fn echoed(m: &mut Machine, keys: &str, expected: &str) {
    let out = typed(m, keys);
    assert_eq!(out.trim_end(), expected, "after typing {keys:?}");
}

#[test]
#[ignore = "needs QEMU and the disk images: run `cargo xtask test`"]
fn line_editing_works_over_serial() {
    let mut m = Machine::boot_to_prompt("line-editing", &config(Firmware::Bios, 1024));

    // Backspace (DEL and BS).
    echoed(&mut m, "/echo abX\x7fc", "abc");
    echoed(&mut m, "/echo abX\x08c", "abc");
    // Left/Right insert in the middle; Home and Delete.
    echoed(
        &mut m,
        &format!("/echo hlo{LEFT}{LEFT}e{RIGHT}l{RIGHT}"),
        "hello",
    );
    echoed(&mut m, &format!("x/echo start{HOME}{DELETE}"), "start");
    // Ctrl-A / Ctrl-E, Ctrl-K, Ctrl-W.
    echoed(&mut m, "/echo world\x01\x05!", "world!");
    echoed(
        &mut m,
        &format!("/echo keep drop{LEFT}{LEFT}{LEFT}{LEFT}{LEFT}\x0b"),
        "keep",
    );
    echoed(&mut m, "/echo one two\x17three", "one three");
    // Ctrl-U erases the whole line typed so far.
    echoed(&mut m, "garbage typed\x15/echo fresh", "fresh");
    // History: Up recalls, Down returns to the draft, recalled lines can
    // be edited.
    echoed(&mut m, UP, "fresh");
    echoed(
        &mut m,
        &format!("{UP}{UP}\x7f\x7f\x7f\x7f\x7fagain"),
        "one again",
    );
    echoed(&mut m, &format!("/echo draft{UP}{DOWN}"), "draft");
    // UTF-8 passes through.
    echoed(&mut m, "/echo grüße €", "grüße €");
    // A long pasted line arrives in one burst: not a byte may be lost.
    let pasted: String = (0..3000u32)
        .map(|i| char::from(b'!' + (i.wrapping_mul(7919) % 94) as u8))
        .collect();
    echoed(&mut m, &format!("/echo {pasted}"), &pasted);

    // Garbage: random bytes, broken escapes, NULs and a huge line must not
    // hang or crash the console. Ctrl-U then clears whatever got in.
    let mut junk = Vec::new();
    let mut x: u32 = 0xdead_beef;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let b = (x >> 11) as u8;
        if !matches!(b, b'\r' | b'\n' | 0x03) {
            junk.push(b);
        }
    }
    junk.extend_from_slice(b"\x1b[99999999999999999999;;;\x1b\x1bO\x00\x00\xff\xfe\x1b[");
    junk.extend(std::iter::repeat_n(b'z', 6000));
    m.send(&junk);
    echoed(&mut m, "\x15/echo still alive", "still alive");

    // Ctrl-C abandons a half-typed line.
    m.send(b"/shutdown please\x03");
    m.wait_for("^C", COMMAND_TIMEOUT);
    m.wait_for(qemu_tests::PROMPT, COMMAND_TIMEOUT);
    echoed(&mut m, "/echo after ctrl-c", "after ctrl-c");

    // Ctrl-C reaches code that streams output and polls for it.
    m.send(b"/test-stream\r");
    m.wait_for("stream: line 2", COMMAND_TIMEOUT);
    m.send(b"\x03");
    let out = m.answer(COMMAND_TIMEOUT);
    let stopped = line_with(&out, "interrupted by Ctrl-C");
    assert!(stopped.starts_with("stream:"), "{out}");
    // Input typed while a command runs is kept for the next prompt.
    m.send(b"/test-stream\r");
    m.wait_for("stream: line 1", COMMAND_TIMEOUT);
    m.send(b"/echo typed ahead\r\x03");
    m.answer(COMMAND_TIMEOUT);
    let ahead = m.answer(COMMAND_TIMEOUT);
    assert_eq!(ahead.trim_end(), "typed ahead");

    m.send(b"/shutdown\r");
    m.expect_exit(ExitCode::Success, Duration::from_secs(60));
}
