//! Console lines and boot command lines as typed by anyone, and tool calls
//! with named values as a model might make them: classifying a line,
//! parsing it against the kernel's command registry (with and without the
//! test-only commands), the chat commands' argument parsers and the kernel
//! command line, and an `Output` fed the text. Errors are messages, never
//! panics; what is accepted is in range; and an accepted invocation's
//! canonical command line parses back to the same invocation.
//!
//! Input: a line; or, when it holds NUL bytes, `name\0key\0value\0...`
//! for `Registry::invocation` (a model's call).
#![no_main]

use klib::cmdline::BootOptions;
use klib::registry::{classify, Input, Invocation, Output, REGISTRY};
use libfuzzer_sys::fuzz_target;
use model_loader::conversation::args;

/// Re-parses the canonical form of `inv`: it must give the same line back.
fn round_trip(inv: &Invocation, test_commands: bool) {
    let line = inv.command_line();
    let Input::Command { name, args } = classify(&line) else {
        panic!("{line:?} is not a command line");
    };
    let again = REGISTRY
        .parse_command(name, args, test_commands)
        .unwrap_or_else(|e| panic!("{line:?} does not parse back: {e}"));
    assert_eq!(again.command_line(), line, "round trip of {line:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if line.contains('\0') {
        let mut parts = line.split('\0');
        let name = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        let named: Vec<(&str, &str)> = rest.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        for test_commands in [false, true] {
            match REGISTRY.invocation(name, &named, test_commands) {
                Ok(inv) => round_trip(&inv, test_commands),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        return;
    }
    let _ = BootOptions::parse(line);
    let mut shown = 0usize;
    let mut show = |s: &str| shown += s.len();
    let mut out = Output::new(&mut show, 256);
    let _ = core::fmt::Write::write_str(&mut out, line);
    assert!(out.kept().len() <= 256 && out.total() >= out.kept().len());
    match classify(line) {
        Input::Empty => assert!(line.trim().is_empty()),
        Input::Text(t) => assert!(!t.is_empty() && !t.starts_with('/')),
        Input::Command { name, args: a } => {
            for test_commands in [false, true] {
                match REGISTRY.parse_command(name, a, test_commands) {
                    Ok(inv) => {
                        assert_eq!(inv.name(), name);
                        round_trip(&inv, test_commands);
                    }
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
            match args::complete(a) {
                Ok((n, text)) => {
                    assert!((1..=args::MAX_COMPLETE_TOKENS).contains(&n));
                    assert!(!text.is_empty());
                }
                Err(e) => assert!(!e.is_empty()),
            }
            if let Ok(t) = args::temperature(a) {
                assert!((0.0..=args::MAX_TEMPERATURE).contains(&t));
            }
            if let Ok(p) = args::top_p(a) {
                assert!(p > 0.0 && p <= 1.0);
            }
            let _ = args::seed(a);
        }
    }
});
