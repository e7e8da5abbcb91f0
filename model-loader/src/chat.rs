//! Chat prompts from `tokenizer.chat_template`, without a Jinja interpreter:
//! the template family is recognised from the template text (as llama.cpp's
//! `llm_chat_detect_template`) and rendered the way the template renders
//! plain system/user/assistant messages (no tools).
//!
//! ChatML templates often insert a default system prompt when the
//! conversation has none (Qwen2.5: "You are Qwen, created by Alibaba Cloud.
//! You are a helpful assistant.", SmolLM2: "You are a helpful AI assistant
//! named SmolLM, trained by Hugging Face"); it is read from the template.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::gguf::{Gguf, GgufError};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub role: Role,
    pub content: &'a str,
}

impl<'a> Message<'a> {
    pub fn system(content: &'a str) -> Self {
        Message {
            role: Role::System,
            content,
        }
    }
    pub fn user(content: &'a str) -> Self {
        Message {
            role: Role::User,
            content,
        }
    }
    pub fn assistant(content: &'a str) -> Self {
        Message {
            role: Role::Assistant,
            content,
        }
    }
}

/// A family of chat formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `<|im_start|>role\n...<|im_end|>\n` (Qwen, SmolLM, ...).
    ChatMl,
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>`.
    Llama3,
    /// `[INST] ... [/INST]`, with `<<SYS>>` system blocks when the template
    /// has them; `bos_inside`: later turns start with `<s>`; `strip`: the
    /// template strips message contents.
    Llama2 {
        system: bool,
        bos_inside: bool,
        strip: bool,
    },
    /// `<start_of_turn>user\n...<end_of_turn>\n` (no system role: it is
    /// prepended to the first user message).
    Gemma,
    /// `<|user|>\n...<|end|>\n`.
    Phi3,
    /// `<|user|>\n...<|endoftext|>\n`.
    Zephyr,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::ChatMl => "chatml",
            Family::Llama3 => "llama3",
            Family::Llama2 { .. } => "llama2",
            Family::Gemma => "gemma",
            Family::Phi3 => "phi3",
            Family::Zephyr => "zephyr",
        }
    }
}

/// Why no chat template is available.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatError {
    /// The file has no `tokenizer.chat_template`.
    NoTemplate,
    /// The template is of a family we do not know; `excerpt` is its start.
    UnknownFamily {
        excerpt: String,
    },
    Gguf(GgufError),
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatError::NoTemplate => write!(f, "the model has no tokenizer.chat_template"),
            ChatError::UnknownFamily { excerpt } => write!(
                f,
                "unknown chat template family (known: chatml, llama3, llama2, gemma, phi3, zephyr); the template starts with {excerpt:?}"
            ),
            ChatError::Gguf(e) => write!(f, "{e}"),
        }
    }
}

impl From<GgufError> for ChatError {
    fn from(e: GgufError) -> Self {
        ChatError::Gguf(e)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ChatError {}

/// A recognised chat template.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatTemplate {
    pub family: Family,
    /// The system prompt the template inserts when the conversation has none.
    pub default_system: Option<String>,
}

impl ChatTemplate {
    /// The template of a GGUF file.
    pub fn from_gguf(g: &Gguf<'_>) -> Result<ChatTemplate, ChatError> {
        let t = g
            .get_str("tokenizer.chat_template")?
            .ok_or(ChatError::NoTemplate)?;
        ChatTemplate::detect(t)
    }

    /// Plain ChatML without a default system prompt: the usual fallback.
    pub fn chatml() -> ChatTemplate {
        ChatTemplate {
            family: Family::ChatMl,
            default_system: None,
        }
    }

    /// Recognises the family of a Jinja chat template.
    pub fn detect(t: &str) -> Result<ChatTemplate, ChatError> {
        let has = |s: &str| t.contains(s);
        let family = if has("<|im_start|>") {
            if has("<|im_sep|>") || has("<end_of_utterance>") {
                return Err(unknown(t));
            }
            Family::ChatMl
        } else if has("<|start_header_id|>") && has("<|end_header_id|>") {
            Family::Llama3
        } else if has("[INST]") {
            if has("[SYSTEM_PROMPT]")
                || has("[AVAILABLE_TOOLS]")
                || has("' [INST] ' + system_message")
            {
                // Mistral's variants differ in spaces: not worth guessing.
                return Err(unknown(t));
            }
            Family::Llama2 {
                system: has("<<SYS>>"),
                bos_inside: has("bos_token + '[INST]"),
                strip: has("content.strip()"),
            }
        } else if has("<|assistant|>") && has("<|end|>") {
            Family::Phi3
        } else if has("<|user|>") && has("<|endoftext|>") {
            Family::Zephyr
        } else if has("<start_of_turn>") {
            Family::Gemma
        } else {
            return Err(unknown(t));
        };
        let default_system = match family {
            Family::ChatMl => chatml_default_system(t),
            _ => None,
        };
        Ok(ChatTemplate {
            family,
            default_system,
        })
    }

    /// The prompt for `messages`; with `add_generation_prompt`, ends with
    /// the header of an assistant turn.
    pub fn render(&self, messages: &[Message<'_>], add_generation_prompt: bool) -> String {
        let mut s = String::new();
        let mut with_default;
        let messages = match (&self.default_system, messages.first()) {
            (Some(d), Some(first)) if first.role != Role::System => {
                with_default = Vec::with_capacity(messages.len() + 1);
                with_default.push(Message::system(d));
                with_default.extend_from_slice(messages);
                &with_default[..]
            }
            _ => messages,
        };
        match self.family {
            Family::ChatMl => {
                for m in messages {
                    s += "<|im_start|>";
                    s += m.role.as_str();
                    s += "\n";
                    s += m.content;
                    s += "<|im_end|>\n";
                }
                if add_generation_prompt {
                    s += "<|im_start|>assistant\n";
                }
            }
            Family::Llama3 => {
                for m in messages {
                    s += "<|start_header_id|>";
                    s += m.role.as_str();
                    s += "<|end_header_id|>\n\n";
                    s += m.content.trim();
                    s += "<|eot_id|>";
                }
                if add_generation_prompt {
                    s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
                }
            }
            Family::Llama2 {
                system,
                bos_inside,
                strip,
            } => {
                let mut inside = true;
                s += "[INST] ";
                for m in messages {
                    let c = if strip { m.content.trim() } else { m.content };
                    if !inside {
                        inside = true;
                        s += if bos_inside { "<s>[INST] " } else { "[INST] " };
                    }
                    match m.role {
                        Role::System if system => {
                            s += "<<SYS>>\n";
                            s += c;
                            s += "\n<</SYS>>\n\n";
                        }
                        Role::System => {
                            s += c;
                            s += "\n";
                        }
                        Role::User => {
                            s += c;
                            s += " [/INST]";
                        }
                        Role::Assistant => {
                            s += c;
                            s += "</s>";
                            inside = false;
                        }
                    }
                }
            }
            Family::Gemma => {
                let mut system = String::new();
                for m in messages {
                    if m.role == Role::System {
                        system += m.content.trim();
                        continue;
                    }
                    let role = if m.role == Role::Assistant {
                        "model"
                    } else {
                        "user"
                    };
                    s += "<start_of_turn>";
                    s += role;
                    s += "\n";
                    if !system.is_empty() && role != "model" {
                        s += &system;
                        s += "\n\n";
                        system.clear();
                    }
                    s += m.content.trim();
                    s += "<end_of_turn>\n";
                }
                if add_generation_prompt {
                    s += "<start_of_turn>model\n";
                }
            }
            Family::Phi3 | Family::Zephyr => {
                let end = if self.family == Family::Phi3 {
                    "<|end|>\n"
                } else {
                    "<|endoftext|>\n"
                };
                for m in messages {
                    s += "<|";
                    s += m.role.as_str();
                    s += "|>\n";
                    s += m.content;
                    s += end;
                }
                if add_generation_prompt {
                    s += "<|assistant|>\n";
                }
            }
        }
        s
    }
}

fn unknown(t: &str) -> ChatError {
    let mut end = t.len().min(80);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    ChatError::UnknownFamily {
        excerpt: t[..end].to_string(),
    }
}

/// The literal default system prompt of a ChatML template: a string
/// literal `<|im_start|>system\n...<|im_end|>` whose middle is plain text
/// (not an expression like `' + messages[0]['content'] + '`).
fn chatml_default_system(t: &str) -> Option<String> {
    const START: &str = "<|im_start|>system";
    let mut rest = t;
    while let Some(i) = rest.find(START) {
        rest = &rest[i + START.len()..];
        let body = if let Some(b) = rest.strip_prefix("\\n") {
            b
        } else if let Some(b) = rest.strip_prefix('\n') {
            b
        } else {
            continue;
        };
        let Some(end) = body.find("<|im_end|>") else {
            continue;
        };
        let text = &body[..end];
        if text.is_empty() || text.contains(['\'', '"', '+', '{', '}']) {
            continue;
        }
        return Some(unescape(text));
    }
    None
}

/// Jinja string-literal escapes.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN2_VOCAB_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    #[test]
    fn chatml_with_default_system() {
        let t = ChatTemplate::detect(QWEN2_VOCAB_TEMPLATE).unwrap();
        assert_eq!(t.family, Family::ChatMl);
        assert_eq!(
            t.default_system.as_deref(),
            Some("You are a helpful assistant")
        );
        assert_eq!(
            t.render(&[Message::user("Hi")], true),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&[Message::system("S"), Message::user("Hi"), Message::assistant("Yo")], false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n"
        );
        assert_eq!(t.render(&[], false), "");
    }

    #[test]
    fn other_families() {
        let l3 = ChatTemplate::detect("{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}")
            .unwrap();
        assert_eq!(
            l3.render(&[Message::user(" Hi ")], true),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        let gemma = ChatTemplate::detect("{{ '<start_of_turn>' + role }}").unwrap();
        assert_eq!(
            gemma.render(&[Message::system("S"), Message::user("Hi")], true),
            "<start_of_turn>user\nS\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
        let l2 = ChatTemplate::detect("[INST] <<SYS>> content.strip()").unwrap();
        assert_eq!(
            l2.render(
                &[
                    Message::system("S"),
                    Message::user("Hi"),
                    Message::assistant("A"),
                    Message::user("B")
                ],
                true
            ),
            "[INST] <<SYS>>\nS\n<</SYS>>\n\nHi [/INST]A</s>[INST] B [/INST]"
        );
        let phi3 = ChatTemplate::detect("<|user|> <|assistant|> <|end|>").unwrap();
        assert_eq!(
            phi3.render(&[Message::user("Hi")], true),
            "<|user|>\nHi<|end|>\n<|assistant|>\n"
        );
    }

    #[test]
    fn unknown_family_is_an_error() {
        let e = ChatTemplate::detect("{{ messages }} ### Human:").unwrap_err();
        assert!(matches!(e, ChatError::UnknownFamily { .. }));
        assert!(alloc::format!("{e}").contains("### Human:"));
    }

    #[test]
    fn expressions_are_not_default_prompts() {
        let t = "{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}";
        assert_eq!(ChatTemplate::detect(t).unwrap().default_system, None);
    }
}
