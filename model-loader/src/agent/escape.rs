//! Untrusted text (command output, file contents) on its way into the
//! model's context: the markers of the chat and call format inside it are
//! defused so that they are never tokenized as special tokens (the prompt
//! is tokenized with special tokens parsed, so `<|im_end|>` or
//! `<tool_call>` in a file would otherwise end the turn or open a call).
//! Each marker's `<` becomes `‹` (U+2039), which reads the same to a person
//! and to the model but is no token's start.

use alloc::string::String;

/// The markers defused: the ChatML and Hermes tags and any `<|...|>` token.
const TAGS: &[&str] = &[
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<tools>",
    "</tools>",
];

/// `text` with every special-token marker defused (see the module docs),
/// plus every text in `specials` (the tokenizer's special tokens).
pub fn escape_untrusted<'s>(
    text: &str,
    specials: impl Iterator<Item = &'s [u8]> + Clone,
) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'<' {
            let rest = &b[i..];
            let hit = TAGS.iter().any(|t| starts_with_ci(rest, t.as_bytes()))
                || rest.starts_with(b"<|")
                || specials.clone().any(|s| s.len() > 1 && rest.starts_with(s));
            if hit {
                out.push_str(&text[copied..i]);
                out.push('\u{2039}');
                copied = i + 1;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

fn starts_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p)
}

/// At most `max` bytes of `text` (whole characters), with a note of how
/// much was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.into();
    }
    let note = alloc::format!("\n[... {} more bytes not shown]", text.len());
    let keep = max.saturating_sub(note.len());
    let mut end = keep.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut s = String::from(&text[..end]);
    s.push_str(&alloc::format!(
        "\n[... {} more bytes not shown]",
        text.len() - end
    ));
    s
}
