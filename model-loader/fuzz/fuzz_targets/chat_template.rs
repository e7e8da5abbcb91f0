//! Chat templates: recognising an arbitrary Jinja text, then rendering
//! messages of arbitrary content with whatever was recognised (every
//! family). The input is split at the first NUL: template, then messages
//! separated by NUL: a system prompt, then user and assistant turns in
//! turn, as the conversation engine sends them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_loader::chat::{ChatTemplate, Message};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let template = parts.next().unwrap_or("");
    let contents: Vec<&str> = parts.collect();
    let messages: Vec<Message<'_>> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| match i {
            0 => Message::system(c),
            i if i % 2 == 1 => Message::user(c),
            _ => Message::assistant(c),
        })
        .collect();
    let t = match ChatTemplate::detect(template) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            ChatTemplate::chatml()
        }
    };
    for add_generation_prompt in [false, true] {
        let out = t.render(&messages, add_generation_prompt);
        // Contents are never lost (some families trim them; Gemma puts the
        // system prompt into the first user turn, so it needs one).
        for (i, c) in contents.iter().enumerate() {
            if i > 0 || contents.len() > 1 {
                assert!(out.contains(c.trim()), "{:?} lost {c:?}", t.family);
            }
        }
    }
});
