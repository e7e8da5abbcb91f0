//! A model's tool calls, as bytes nobody controls: the call automaton
//! (built once from the kernel's registry) walked byte by byte, the call
//! parser, the JSON reader, and the defusing of untrusted text on its way
//! into the context. The first byte selects the mode (the rest is the
//! input):
//! - 0: the automaton (all commands; bit 2: the read/write-only one). Each
//!   step agrees with `walk`, forced bytes lead somewhere, and a call it
//!   accepts is valid UTF-8 that the parser reads (at most a range check
//!   fails), whose canonical JSON the automaton accepts again;
//! - 1: the parser on arbitrary text: an invocation or a message; an
//!   invocation's canonical JSON parses back to the same invocation;
//! - 2: `escape_untrusted` and `truncate`: no special-token marker
//!   survives, and truncation keeps a prefix of whole characters;
//! - 3: the JSON reader: a value or a message, never past the input.
#![no_main]

use klib::registry::{Tier, REGISTRY};
use libfuzzer_sys::fuzz_target;
use model_loader::agent::grammar::{Dfa, DEAD};
use model_loader::agent::{call_json, escape_untrusted, json, parse_call, truncate};
use std::sync::OnceLock;

/// The automata of every model command, and of the read/write ones.
fn automata() -> &'static (Dfa, Dfa) {
    static DFAS: OnceLock<(Dfa, Dfa)> = OnceLock::new();
    DFAS.get_or_init(|| {
        let all = Dfa::for_commands(REGISTRY.for_model());
        let safe = Dfa::for_commands(
            REGISTRY
                .for_model()
                .filter(|s| matches!(s.tier, Tier::Read | Tier::Write)),
        );
        (all, safe)
    })
}

fn accepts(d: &Dfa, call: &str) -> bool {
    let Some(body) = call.strip_prefix('{') else {
        return false;
    };
    let s = d.walk(Dfa::START, body.as_bytes());
    s != DEAD && d.accepts(s)
}

fn automaton(d: &Dfa, bytes: &[u8]) {
    let mut s = Dfa::START;
    for (i, &b) in bytes.iter().enumerate() {
        let forced = d.forced(s);
        let after = d.walk(s, &forced);
        assert_ne!(after, DEAD, "forced bytes {forced:?} lead nowhere");
        let allowed = d.allowed_bytes(s);
        let t = d.step(s, b);
        assert_eq!(t != DEAD, allowed.contains(&b));
        if t == DEAD {
            assert_eq!(d.walk(Dfa::START, &bytes[..=i]), DEAD);
            return;
        }
        if d.accepts(s) {
            panic!("a byte continues an accepted call: {:?}", &bytes[..=i]);
        }
        s = t;
    }
    assert_eq!(d.walk(Dfa::START, bytes), s);
    if !d.accepts(s) {
        return;
    }
    let body = std::str::from_utf8(bytes).expect("the automaton accepts only UTF-8");
    let call = format!("{{{body}");
    match parse_call(&REGISTRY, &call) {
        Ok(inv) => {
            let canonical = call_json(&inv);
            assert!(accepts(d, &canonical), "{call} -> {canonical} refused");
            assert_eq!(parse_call(&REGISTRY, &canonical).as_ref(), Ok(&inv));
        }
        Err(e) => assert!(
            !e.0.starts_with("malformed call") && !e.0.starts_with("unknown command"),
            "{call}: accepted by the automaton, refused by the parser: {e}"
        ),
    }
}

fn parser(text: &str) {
    match parse_call(&REGISTRY, text) {
        Ok(inv) => {
            let canonical = call_json(&inv);
            let again = parse_call(&REGISTRY, &canonical)
                .unwrap_or_else(|e| panic!("{canonical} does not parse back: {e}"));
            assert_eq!(again, inv, "round trip of {text:?} via {canonical}");
        }
        Err(e) => assert!(!e.0.is_empty()),
    }
}

fn untrusted(text: &str, max: usize) {
    let specials: [&[u8]; 3] = [b"<|im_end|>", b"<s>", b"</s>"];
    let out = escape_untrusted(text, specials.iter().copied());
    let lower = out.to_ascii_lowercase();
    for tag in ["<tool_call>", "</tool_call>", "<tool_response>", "<tools>"] {
        assert!(!lower.contains(tag), "{tag} survives in {out:?}");
    }
    for marker in ["<|", "<s>", "</s>"] {
        assert!(!out.contains(marker), "{marker} survives in {out:?}");
    }
    assert_eq!(out.replace('\u{2039}', "<"), text.replace('\u{2039}', "<"));
    let cut = truncate(text, max);
    if text.len() <= max {
        assert_eq!(cut, text);
    } else {
        let kept = cut.rsplit_once("\n[... ").map_or("", |(k, _)| k);
        assert!(
            text.starts_with(kept),
            "{cut:?} is not a prefix of the text"
        );
        assert!(kept.len() <= max);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 3 {
        0 => {
            let (all, safe) = automata();
            automaton(if mode & 4 != 0 { safe } else { all }, rest);
        }
        1 => parser(&String::from_utf8_lossy(rest)),
        2 => {
            let max = rest.first().map_or(0, |&b| b as usize * 4);
            untrusted(&String::from_utf8_lossy(rest), max);
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            match json::parse_prefix(&text) {
                Ok((_, used)) => assert!(used <= text.len()),
                Err(e) => assert!(!e.is_empty()),
            }
            let _ = json::parse(&text);
        }
    }
});
