//! Where the turns of a conversation begin and end in the chat template's
//! text.
//!
//! The KV cache holds the conversation as one token sequence: the system
//! prefix, then per turn the *user segment* (everything the template puts
//! between the previous turn and the reply: the user message and the
//! assistant header), the reply tokens exactly as generated, and the
//! *close* (what the template puts after an assistant message).
//!
//! Each piece is found by rendering the conversation before and after a
//! message is added and taking the difference, so no family-specific
//! knowledge is needed here; a template that rewrites earlier text when a
//! message is added (the previous rendering is not a prefix of the next)
//! is reported as [`TemplateError`] rather than silently mis-tokenized.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::chat::{ChatTemplate, Message};

/// Stands for an assistant message while finding the close: a private-use
/// character that no template trims or escapes.
const SENTINEL: &str = "\u{E000}";

/// The template does not render a conversation incrementally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub &'static str);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chat template: {}", self.0)
    }
}

/// The text before the first user turn: the template's rendering of the
/// system message alone.
pub fn system_prefix(template: &ChatTemplate, system: &str) -> String {
    template.render(&[Message::system(system)], false)
}

/// The text a user turn adds after `history` (which starts with the system
/// message and ends with a complete assistant message, or is just the
/// system message): the user message and the assistant header.
pub fn user_segment(
    template: &ChatTemplate,
    history: &[Message<'_>],
    user: &str,
) -> Result<String, TemplateError> {
    let before = template.render(history, false);
    let mut msgs = history.to_vec();
    msgs.push(Message::user(user));
    let after = template.render(&msgs, true);
    after
        .strip_prefix(before.as_str())
        .map(ToString::to_string)
        .ok_or(TemplateError(
            "adding a user message changes the earlier text",
        ))
}

/// The text that closes an assistant reply after `history` (which ends
/// with the user message being answered).
pub fn reply_close(
    template: &ChatTemplate,
    history: &[Message<'_>],
) -> Result<String, TemplateError> {
    let open = template.render(history, true);
    let mut msgs: Vec<Message<'_>> = history.to_vec();
    msgs.push(Message::assistant(SENTINEL));
    let closed = template.render(&msgs, false);
    closed
        .strip_prefix(open.as_str())
        .and_then(|rest| rest.strip_prefix(SENTINEL))
        .map(ToString::to_string)
        .ok_or(TemplateError(
            "an assistant message does not follow the generation prompt verbatim",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Family;

    fn all_families() -> Vec<ChatTemplate> {
        let mut v = alloc::vec![ChatTemplate::chatml()];
        for t in [
            "<|start_header_id|> <|end_header_id|>",
            "[INST] <<SYS>> content.strip()",
            "bos_token + '[INST] <<SYS>>",
            "<start_of_turn>",
            "<|user|> <|assistant|> <|end|>",
            "<|user|> <|endoftext|>",
        ] {
            v.push(ChatTemplate::detect(t).unwrap());
        }
        v
    }

    /// Concatenating the pieces gives the template's rendering of the
    /// whole conversation, for every family.
    #[test]
    fn pieces_concatenate_to_the_rendering() {
        let conv = [("Hi", " Hello!"), ("  two  ", "reply\n"), ("", "")];
        for t in all_families() {
            let sys = "You run on bare metal.";
            let mut text = system_prefix(&t, sys);
            let mut msgs = alloc::vec![Message::system(sys)];
            for (u, a) in conv {
                text += &user_segment(&t, &msgs, u).unwrap();
                msgs.push(Message::user(u));
                let close = reply_close(&t, &msgs).unwrap();
                // Templates that strip contents strip the reply too.
                let trims = matches!(t.family, Family::Llama3 | Family::Gemma)
                    || matches!(t.family, Family::Llama2 { strip: true, .. });
                text += if trims { a.trim() } else { a };
                text += &close;
                msgs.push(Message::assistant(a));
                assert_eq!(text, t.render(&msgs, false), "{:?}", t.family);
            }
        }
    }

    #[test]
    fn chatml_pieces() {
        let t = ChatTemplate::chatml();
        let msgs = [Message::system("S")];
        assert_eq!(system_prefix(&t, "S"), "<|im_start|>system\nS<|im_end|>\n");
        assert_eq!(
            user_segment(&t, &msgs, "Hi").unwrap(),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            reply_close(&t, &[Message::system("S"), Message::user("Hi")]).unwrap(),
            "<|im_end|>\n"
        );
    }

    #[test]
    fn gemma_carries_the_system_prompt_in_the_first_user_turn() {
        let t = ChatTemplate::detect("<start_of_turn>").unwrap();
        assert_eq!(system_prefix(&t, "S"), "");
        let seg = user_segment(&t, &[Message::system("S")], "Hi").unwrap();
        assert!(seg.contains("S\n\nHi"), "{seg:?}");
    }
}
